"""Journey 1: sign up from the dashboard, land on your own tenant, see only your own data.

The real dashboard, served from the deployment's assets as CloudFront serves it
(`cloud.dashboard_url`, localcloud/web.py), in headless Chromium (tests/e2e/browser/
journey_1_sign_up.js, playwright-core from tests/dashboard): the hosted UI's sign-up, the
authorization code + PKCE exchange, the browser's CORS preflights against the local API
Gateway, the API creating the tenant from the Cognito subject at first sign-in
(docs/decisions/0610-tenant-from-subject.md). Screenshots: target/e2e/screenshots/.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest
import requests

from localcloud.cloud import REPO

from journeys import DEFAULT_PASSWORD

SCRIPT = Path(__file__).resolve().parent / "browser" / "journey_1_sign_up.js"
NODE_MODULES = REPO / "tests" / "dashboard" / "node_modules"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = REPO / "target" / "e2e" / "screenshots" / "journey_1"
TENANT = re.compile(r"^t-[0-9a-f]{32}$")


def _browser_available() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if not (NODE_MODULES / "playwright-core").is_dir():
        return f"{NODE_MODULES}/playwright-core is missing: (cd tests/dashboard && npm ci)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: apt-get install chromium (scripts/test-dashboard.sh)"
    return None


def _diagnostics(cloud: Any, out: str = "", err: str = "") -> str:
    parts = []
    if out:
        parts.append("--- browser script stdout\n" + out[-6000:])
    if err:
        parts.append("--- browser script stderr\n" + err[-12000:])
    parts.append("--- api gateway: last requests\n" + "\n".join(
        json.dumps(r) for r in (cloud.api.requests[-25:] if cloud.api else [])))
    parts.append("--- hosted UI: last requests\n" + "\n".join(
        f"{r.method} {r.path}" for r in (cloud.hosted_ui.requests[-15:] if cloud.hosted_ui else [])))
    parts.append("--- cloudfront: last requests\n" + "\n".join(
        f"{m} {p} -> {s}" for m, p, s in cloud.web.distribution().requests[-15:]))
    try:
        parts.append("--- api log (last 40 lines)\n" + cloud.logs("api", 40))
    except Exception as e:  # noqa: BLE001
        parts.append(f"--- api log unavailable: {e}")
    return "\n".join(parts)


def _warn_if_stale(cloud: Any) -> None:
    """The served files are the cloud assembly's copy of dashboard/: say so when it is older."""
    src = REPO / "dashboard" / "dist" if (REPO / "dashboard" / "dist" / "index.html").exists() else REPO / "dashboard"
    d = cloud.web.distribution()
    stale = [k for k, obj in cloud.web.buckets.get(d.bucket, {}).items()
             if (src / k).is_file() and (src / k).read_bytes() != obj.body]
    if stale:
        warnings.warn(f"{stale} differ from {src}: the synthesized assets are stale, run scripts/test-e2e.sh "
                      "(it synthesizes again) to test the dashboard as it is now")


def _call(cloud: Any, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    r = requests.request(method, cloud.api_url + path, json=body, timeout=30,
                         headers={"authorization": f"Bearer {token}", "accept": "application/json"})
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def test_journey_1_sign_up_in_the_browser(cloud: Any) -> None:
    missing = _browser_available()
    if missing:
        pytest.fail(f"journey 1 needs a browser: {missing}", pytrace=False)
    assert cloud.dashboard_url and cloud.dashboard_url.startswith("https://127.0.0.1:"), cloud.dashboard_url
    assert cloud.hosted_ui_url, "the hosted UI fake is not running"

    # What the deployment wrote, as the browser fetches it: every value resolves to a local server.
    config = requests.get(cloud.dashboard_url + "/config.json", verify=cloud.web.cert_file, timeout=10).json()
    assert config["apiUrl"].rstrip("/") == cloud.api_url, config
    assert config["cognitoDomain"].rstrip("/") == cloud.hosted_ui_url.rstrip("/"), config
    assert config["cognitoClientId"] == cloud.client_id, config
    assert config["cognitoUserPoolId"] == cloud.user_pool_id, config

    _warn_if_stale(cloud)

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    run = uuid.uuid4().hex[:8]
    # A fresh customer account per run: the session's cloud is shared with other journeys.
    account = "7" + str(uuid.uuid4().int)[:11]
    users = [f"journey1-a-{run}@example.com", f"journey1-b-{run}@example.com"]
    preflights_before = sum(1 for r in cloud.api.requests if r["method"] == "OPTIONS")
    env = {
        **os.environ,
        "NODE_PATH": str(NODE_MODULES),
        "CHROMIUM": CHROMIUM,
        "DASHBOARD_URL": cloud.dashboard_url,
        "COGNITO_URL": cloud.hosted_ui_url,
        "API_URL": cloud.api_url,
        "SHOTS": str(SHOTS),
        "USER1": users[0],
        "USER2": users[1],
        "PASSWORD": DEFAULT_PASSWORD,
        "ACCOUNT": account,
    }
    try:
        p = subprocess.run(["node", str(SCRIPT)], env=env, cwd=str(REPO), capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        pytest.fail("the browser journey did not finish within 240 s\n" +
                    _diagnostics(cloud, str(e.stdout or ""), str(e.stderr or "")), pytrace=False)
    print(p.stdout)
    if p.returncode != 0:
        pytest.fail(f"the browser journey failed (exit {p.returncode}); screenshots in {SHOTS}\n"
                    + _diagnostics(cloud, p.stdout, p.stderr), pytrace=False)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, "no RESULT line\n" + _diagnostics(cloud, p.stdout, p.stderr)
    result = json.loads(line[len("RESULT "):])

    # Both signed up through the hosted UI, each on their own new tenant.
    assert set(users) <= set(cloud.hosted_ui.signups), cloud.hosted_ui.signups
    u1, u2 = result["users"]
    for u in (u1, u2):
        assert TENANT.match(u["tenant"]), u["whoami"]
    assert u1["tenant"] != u2["tenant"]
    # The browser's cross-origin calls were preflighted, and the gateway answered them (no route, CORS).
    preflights = [r for r in cloud.api.requests[:] if r["method"] == "OPTIONS"]
    assert len(preflights) > preflights_before, "the browser sent no CORS preflight to the API"
    assert all(r["status"] == 204 for r in preflights[preflights_before:]), preflights[preflights_before:]

    # The same isolation, asked directly with each user's token.
    status, me1 = _call(cloud, u1["token"], "GET", "/v1/me")
    assert status == 200 and me1["tenant_id"] == u1["tenant"], (status, me1)
    status, me2 = _call(cloud, u2["token"], "GET", "/v1/me")
    assert status == 200 and me2["tenant_id"] == u2["tenant"], (status, me2)
    for path in ("/v1/api-keys?limit=100", "/v1/stacks?limit=100", "/v1/accounts?limit=100"):
        status, body = _call(cloud, u2["token"], "GET", path)
        assert status == 200 and body["items"] == [], (path, status, body)
        status, body = _call(cloud, u1["token"], "GET", path)
        assert status == 200 and len(body["items"]) == 1, (path, status, body)
    status, body = _call(cloud, u2["token"], "PATCH", f"/v1/stacks/{result['stack_id']}", {"enabled": False})
    assert status == 404, (status, body)
    status, body = _call(cloud, u2["token"], "DELETE", f"/v1/api-keys/{result['key_id']}")
    assert status == 404, (status, body)
    # Another tenant's account answers as one nobody connected (docs/decisions/0600, issue 17).
    status, body = _call(cloud, u2["token"], "DELETE", f"/v1/accounts/{account}")
    assert status == 404, (status, body)
    status, body = _call(cloud, u1["token"], "GET", "/v1/accounts?limit=100")
    assert [(a["account_id"], a["status"]) for a in body["items"]] == [(account, "active")], body
    status, body = _call(cloud, u1["token"], "GET", "/v1/stacks?limit=100")
    assert body["items"][0]["stack_id"] == result["stack_id"] and body["items"][0]["enabled"] is True, body
    shots = sorted(x.name for x in SHOTS.glob("*.png"))
    assert len(shots) >= 10, shots
