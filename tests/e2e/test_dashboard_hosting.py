"""The dashboard as CloudFront serves it from the deployment (localcloud/web.py): what the
BucketDeployment writes, the markers resolved, the SPA fallback, and the distribution's
DomainName being the URL every part of the stack names."""
from __future__ import annotations

import json
from typing import Any

import requests

from localcloud.web import MARKER


def get(cloud: Any, path: str, method: str = "GET", **kw: Any) -> requests.Response:
    return requests.request(method, cloud.dashboard_url + path, verify=cloud.web.cert_file, timeout=10,
                            allow_redirects=False, **kw)


def deployment(cloud: Any) -> dict[str, Any]:
    t = cloud.template
    d = cloud.web.distribution()
    for lid, _ in t.of_type("Custom::CDKBucketDeployment"):
        props = t.props(lid)
        if props.get("DestinationBucketName") == d.bucket:
            return props
    raise AssertionError("no BucketDeployment targets the distribution's bucket")


def test_dashboard_url_is_the_distribution_everywhere(cloud: Any) -> None:
    url = cloud.dashboard_url
    assert url.startswith("https://127.0.0.1:")
    assert cloud.outputs["DashboardUrl"] == url
    assert url in cloud.api.cors["AllowOrigins"], cloud.api.cors
    assert url + "/" in cloud.hosted_ui.callback_urls, cloud.hosted_ui.callback_urls
    users = [name for name in cloud.functions if "DASHBOARD_URL" in cloud.function(name).template_env]
    assert users, "no function gets DASHBOARD_URL"
    for name in users:
        assert cloud.function(name).template_env["DASHBOARD_URL"] == url, name
    assert cloud.outputs["CognitoDomain"] == cloud.hosted_ui_url.rstrip("/")


def test_every_deployed_file_is_served_with_markers_resolved(cloud: Any) -> None:
    props = deployment(cloud)
    objects = cloud.web.buckets[cloud.web.distribution().bucket]
    assert "index.html" in objects and "config.json" in objects, sorted(objects)
    for key, obj in objects.items():
        assert not MARKER.search(obj.body), f"{key} still has a deploy-time marker"
        r = get(cloud, "/" + key)
        assert r.status_code == 200 and r.content == obj.body, key
    # config.json: every key the CDK app wrote, every marker's value resolved to a local server.
    config = get(cloud, "/config.json").json()
    markers = {k: v for m in props.get("SourceMarkers") or [] for k, v in m.items()}
    assert markers, "the deployment has no markers: config.json has no deploy-time values?"
    assert config["cognitoClientId"] == cloud.client_id
    assert config["cognitoUserPoolId"] == cloud.user_pool_id
    assert config["apiUrl"].rstrip("/") == cloud.api_url
    assert config["cognitoDomain"].rstrip("/") == cloud.hosted_ui_url.rstrip("/")
    assert json.dumps(config).count("amazonaws.com") == 0, config


def test_cloudfront_behaviour(cloud: Any) -> None:
    root = get(cloud, "/")
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
    assert root.content == get(cloud, "/index.html").content
    # The SPA's paths (and any missing key: S3 answers 403 behind origin access control) render index.html.
    for path in ("/callback", "/accounts/123", "/nope.js"):
        r = get(cloud, path)
        assert r.status_code == 200 and r.content == root.content, path
    assert root.headers["x-content-type-options"] == "nosniff"
    assert root.headers["x-frame-options"] == "SAMEORIGIN"
    assert root.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert get(cloud, "/", headers={"If-None-Match": root.headers["etag"]}).status_code == 304
    assert get(cloud, "/", method="POST", data=b"x").status_code == 403
    assert get(cloud, "/app.js").headers["content-type"] in ("text/javascript", "application/javascript")
