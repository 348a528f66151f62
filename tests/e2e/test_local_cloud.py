"""The local cloud's own behaviour: what API Gateway, EventBridge, Lambda and SQS do with the
synthesized template, checked where dd0c's seams are (authorizers, CORS, the bus policy, async
failures, partial batches). Tests marked "seam" assert what production needs and fail until the
CDK app or the functions provide it; their failure message says what is missing.
"""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localcloud import FunctionError, InitError, LocalCloud
from localcloud.cloud import REPO, stub_command
from localcloud.pytest_plugin import E2E_DIR, template_path

CUSTOMER = "111122223333"


# ---- helpers ---------------------------------------------------------------------------------
def http(cloud: LocalCloud, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(cloud.api_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def calls(cloud: LocalCloud, fn: str) -> int:
    return len(cloud.invocations_of(fn))


def jwt_route(cloud: LocalCloud) -> Any:
    """A GET route of the template behind the JWT authorizer (no path parameter if possible)."""
    routes = [r for r in cloud.api.routes if r.authorizer is not None and r.method in ("GET", "ANY")]
    assert routes, "the API has a GET route behind the JWT authorizer"
    return sorted(routes, key=lambda r: ("{" in r.path, r.method == "ANY", len(r.path)))[0]


def concrete(path: str) -> str:
    """A request path for a route path: {param} -> a value, {proxy+} -> two segments."""
    import re

    return re.sub(r"\{[^}]+\}", lambda m: "a/b" if m.group(0).endswith("+}") else "p1", path)


def dashboard_origin(cloud: LocalCloud) -> str:
    return cloud.outputs["DashboardUrl"].rstrip("/")


def cloudtrail_event(account: str, event_id: str | None = None) -> dict[str, Any]:
    """A real-shaped RunInstances event of `account` (demo/data), with a fresh eventID."""
    line = (REPO / "demo" / "data" / "crypto-mining-burst.jsonl").read_text().splitlines()[0]
    text = line.replace("111122223333", account)
    ev = json.loads(text)
    ev["id"] = str(uuid.uuid4())
    ev["detail"]["eventID"] = event_id or str(uuid.uuid4())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ev["time"] = ev["detail"]["eventTime"] = now
    return ev


def connect_account(cloud: LocalCloud, account: str, tenant: str = "t-e2e-localcloud") -> None:
    """The account link POST /v1/accounts leaves once the role is verified (shared/src/tenancy.rs);
    written directly: these tests are about the cloud, the onboarding journey is elsewhere."""
    cloud.table.put_item(Item={
        "PK": f"ACCOUNT#{account}", "SK": "LINK", "entity": "account_link", "account_id": account,
        "tenant_id": tenant, "status": "active",
        # Now, as the onboarding writes it: how long an account has been connected is read
        # (its learning period), and a fixed date would age with the day the suite runs.
        "connected_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


def all_rows(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Every item of the table: a scan answers 1 MB a page, and the suite's journeys fill more."""
    rows: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = cloud.table.scan(**kwargs)
        rows.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def assert_flows_through_ingest_and_normalizer(cloud: LocalCloud, ev: dict[str, Any], sender: str) -> None:
    err = cloud.forward_event(ev, account=sender)
    assert err is None, f"the bus refused a forwarded CloudTrail event of {sender}: {err}"
    # The rule puts the event on the inbox stream; the ingest function drains it in batches.
    rec = cloud.wait_for(lambda: next((r for r in cloud.invocations_of("ingest")
                                       if r.ok is not None and ev["id"] in inbox_event_ids(r.payload)), None),
                         60, what="the ingest invocation")
    assert rec.ok, rec.error
    record = next(r for r in rec.payload["Records"] if inbox_event(r)["id"] == ev["id"])
    assert record["eventSourceARN"].endswith(":stream/dd0c-staging-inbox"), record["eventSourceARN"]
    assert record["kinesis"]["partitionKey"] == sender
    assert rec.response in (None, {}, {"batchItemFailures": []}), \
        f"ingest answered {rec.response}\n{cloud.logs('ingest', 15)}"
    cloud.wait_idle(90)
    norm = [r for r in cloud.invocations_of("normalizer") if ev["detail"]["eventID"] in json.dumps(r.payload)]
    assert norm, f"nothing reached the normalizer\n{cloud.logs('normalizer', 15)}"
    msg = norm[0].payload["Records"][0]
    assert msg["eventSourceARN"].endswith(":dd0c-staging-ingest.fifo")
    assert msg["attributes"]["MessageGroupId"] == sender
    assert msg["attributes"]["MessageDeduplicationId"] == ev["detail"]["eventID"]
    assert norm[0].ok and norm[0].response in (None, {}, {"batchItemFailures": []}), norm[0].response
    items = all_rows(cloud)
    # A packed attribute comes back as boto3's Binary, whose str() is bytes (decision 1250).
    assert any(ev["detail"]["eventID"] in json.dumps(i, default=repr) for i in items), \
        f"no row carries the event\n{cloud.logs('normalizer', 15)}"


def inbox_event(record: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event a Kinesis record of the inbox stream carries."""
    return json.loads(base64.b64decode(record["kinesis"]["data"]))


def inbox_event_ids(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return []
    return [inbox_event(r)["id"] for r in payload.get("Records", []) if "kinesis" in r]


def patched_template(tmp_path: Path, patch: Any) -> Path:
    """A copy of the cloud assembly (assets linked) whose template `patch` edited."""
    src = template_path()
    out = tmp_path / "cdk.out"
    out.mkdir()
    for p in src.parent.iterdir():
        if p.name != src.name:
            (out / p.name).symlink_to(p)
    doc = json.loads(src.read_text())
    patch(doc)
    dst = out / src.name
    dst.write_text(json.dumps(doc))
    return dst


def logical_id(cloud: LocalCloud, rtype: str, pred: Any) -> str:
    for lid, r in cloud.template.resources.items():
        if r["Type"] == rtype and pred(cloud.provisioner.props.get(lid) or cloud.template.props(lid)):
            return lid
    raise KeyError(rtype)


# ---- topology ----------------------------------------------------------------------------------
def test_every_template_route_rule_mapping_and_function_is_live(cloud: LocalCloud) -> None:
    t = cloud.template
    route_keys = {cloud.provisioner.record(l)["RouteKey"] for l, _ in t.of_type("AWS::ApiGatewayV2::Route")}
    assert route_keys and route_keys == {r.key for r in cloud.api.routes}
    assert all(r.function for r in cloud.api.routes), "every route integrates a runnable function"
    assert {l for l, _ in t.of_type("AWS::Events::Rule")} == {r.logical_id for r in cloud.events.rules}
    assert len(cloud.pollers) == len(t.of_type("AWS::Lambda::EventSourceMapping"))
    for name in ("ingest", "normalizer", "scorer", "classifier", "notifier", "digest", "slack", "stripe", "api"):
        env = cloud.function_env(name)
        assert env["TABLE_NAME"] == cloud.table_name
        assert env["AWS_ENDPOINT_URL"] == cloud.moto_url
        for k, v in env.items():
            if k.startswith(("QUEUE_URL_", "DLQ_URL_")):
                assert v in cloud.queues.values(), f"{name}: {k}={v} is a queue moto has"
            if k.endswith("_SECRET_ARN"):
                assert v in cloud.secrets.values()


# ---- API Gateway ---------------------------------------------------------------------------------
def test_unknown_route_is_404_from_the_gateway(cloud: LocalCloud) -> None:
    status, _, body = http(cloud, "GET", "/nothing-here")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}


def test_public_route_reaches_its_function_with_a_v2_event(cloud: LocalCloud) -> None:
    before = calls(cloud, "api")
    status, _, body = http(cloud, "GET", "/v1/openapi.json?x=1&x=2", headers={"User-Agent": "e2e", "Cookie": "a=1; b=2"})
    assert calls(cloud, "api") == before + 1
    ev = cloud.invocations_of("api")[-1].payload
    assert ev["version"] == "2.0" and ev["routeKey"] == "GET /v1/openapi.json"
    assert ev["rawQueryString"] == "x=1&x=2" and ev["queryStringParameters"] == {"x": "1,2"}
    assert ev["cookies"] == ["a=1", "b=2"] and "cookie" not in ev["headers"]
    assert ev["requestContext"]["http"]["userAgent"] == "e2e" and "authorizer" not in ev["requestContext"]
    assert status == 200, f"api answered {status}: {body[:500]!r}\n{cloud.logs('api')}"


def test_authorizer_rejects_a_missing_token_without_invoking(cloud: LocalCloud) -> None:
    route = jwt_route(cloud)
    before = calls(cloud, route.function)
    status, _, body = http(cloud, "GET", concrete(route.path))
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert calls(cloud, route.function) == before


def test_authorizer_rejects_a_forged_token_without_invoking(cloud: LocalCloud) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode(
        {"sub": "mallory", "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{cloud.user_pool_id}",
         "aud": cloud.client_id, "token_use": "id", "iat": now, "exp": now + 600, "email": "mallory@example.com"},
        key, algorithm="RS256", headers={"kid": "dummy"},  # moto's key id: only the signature differs
    )
    route = jwt_route(cloud)
    before = calls(cloud, route.function)
    for token in (forged, f"Bearer {forged}", "not-a-jwt"):
        status, _, body = http(cloud, "GET", concrete(route.path), headers={"Authorization": token})
        assert (status, json.loads(body)) == (401, {"message": "Unauthorized"}), token[:20]
    assert calls(cloud, route.function) == before


def test_authorizer_accepts_a_pool_token_and_passes_its_claims(cloud: LocalCloud) -> None:
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    token = cloud.id_token(email)
    route = jwt_route(cloud)
    before = calls(cloud, route.function)
    http(cloud, "GET", concrete(route.path), headers={"Authorization": f"Bearer {token}"})
    assert calls(cloud, route.function) == before + 1
    ev = cloud.invocations_of(route.function)[-1].payload
    claims = ev["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["aud"] == cloud.client_id and claims["iss"].endswith(cloud.user_pool_id)
    assert isinstance(claims["exp"], str), "API Gateway passes every claim as a string"
    assert ev["routeKey"] == route.key and ev["rawPath"] == concrete(route.path)


def test_form_bodies_reach_functions_base64_encoded(cloud: LocalCloud) -> None:
    before = calls(cloud, "slack")
    http(cloud, "POST", "/v1/slack/commands", body=b"command=%2Fdd0c&text=help",
         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert calls(cloud, "slack") == before + 1
    ev = cloud.invocations_of("slack")[-1].payload
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == b"command=%2Fdd0c&text=help"


def test_gateway_answers_a_preflight_outside_every_route(cloud: LocalCloud) -> None:
    origin = dashboard_origin(cloud)
    status, h, _ = http(cloud, "OPTIONS", "/health", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert status == 204 and h.get("access-control-allow-origin") == origin
    assert "authorization" in h.get("access-control-allow-headers", "")
    status, h, _ = http(cloud, "OPTIONS", "/health", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in h


def test_seam_dashboard_preflight_to_the_api_succeeds(cloud: LocalCloud) -> None:
    """The browser's preflight carries no Authorization header. API Gateway routes OPTIONS to a
    matching route (an ANY route matches) and runs its JWT authorizer: 401, and the dashboard's
    API calls fail CORS. Holds with routes of explicit methods, or an OPTIONS route without an
    authorizer."""
    origin = dashboard_origin(cloud)
    status, h, body = http(cloud, "OPTIONS", concrete(jwt_route(cloud).path),
                           headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                    "Access-Control-Request-Headers": "authorization"})
    assert 200 <= status < 300, f"preflight answered {status} {body!r}: the ANY route's authorizer ran on OPTIONS"
    assert h.get("access-control-allow-origin") == origin


def test_cors_headers_on_responses_for_the_dashboard_origin(cloud: LocalCloud) -> None:
    origin = dashboard_origin(cloud)
    _, h, _ = http(cloud, "GET", "/v1/openapi.json", headers={"Origin": origin})
    assert h.get("access-control-allow-origin") == origin
    _, h, _ = http(cloud, "GET", "/v1/openapi.json", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in h


# ---- EventBridge ---------------------------------------------------------------------------------
def test_put_events_cannot_forge_an_aws_source(cloud: LocalCloud) -> None:
    r = cloud.put_events([{"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail", "Detail": {"x": 1}}], account=CUSTOMER)
    assert r["FailedEntryCount"] == 1 and r["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"


def test_internal_routes_ignore_other_accounts_events(cloud: LocalCloud) -> None:
    """A stranger's dd0c.pipeline event must never reach an internal queue (no rule on the bus
    delivers to one: only our functions send there), whatever the bus policy lets in."""
    n = len(cloud.events.deliveries)
    cloud.events.forward({"source": "dd0c.pipeline", "detail-type": "dd0c.Finding", "detail": {"x": 1}, "account": CUSTOMER})
    cloud.events.accept(cloud.bus_name, {"version": "0", "id": str(uuid.uuid4()), "source": "dd0c.pipeline",
                                         "detail-type": "dd0c.Finding", "account": CUSTOMER, "time": "2026-01-01T00:00:00Z",
                                         "region": "us-east-1", "resources": [], "detail": {"x": 1}})
    assert [d for d in cloud.events.deliveries[n:] if "alerts" in d.target] == []


def test_bus_policy_refuses_accounts_it_does_not_list(tmp_path: Path) -> None:
    """target/e2e/cdk.out-narrow: synthesized with -c customerAccountIds=222222222222."""
    narrow = E2E_DIR / "cdk.out-narrow" / "dd0c-staging.template.json"
    assert narrow.exists(), "run scripts/test-e2e.sh (it synthesizes the narrow variant)"
    with LocalCloud(narrow, log_dir=tmp_path, fakes=False).start() as c:
        assert any(b["statements"] for b in c.events.buses.values()), "the narrow stack has a bus policy"
        entry = {"Source": "custom.agent", "DetailType": "AWS API Call via CloudTrail", "Detail": {"a": 1}}
        refused = c.put_events([entry], account="333333333333")
        assert refused["Entries"][0].get("ErrorCode") == "AccessDeniedException"
        # The listed account's own PutEvents carry no aws.* source: the policy's conditions refuse them too.
        for e in (entry, {**entry, "DetailType": "dd0c.Finding"}):
            r = c.put_events([e], account="222222222222")
            assert r["Entries"][0].get("ErrorCode") in ("AccessDeniedException", None), r
        # A forwarded CloudTrail event of a listed account is let in; of another, refused.
        assert c.forward_event(cloudtrail_event("222222222222"), account="222222222222") is None
        assert c.forward_event(cloudtrail_event("333333333333"), account="333333333333") is not None


def test_an_event_on_the_bus_flows_through_ingest_and_normalizer(cloud: LocalCloud) -> None:
    """Bus -> ingest rule -> inbox -> ingest (batches) -> ingest.fifo -> normalizer -> rows, for an
    account of dd0c's own (no bus policy involved)."""
    own = cloud.template.account
    connect_account(cloud, own)
    assert_flows_through_ingest_and_normalizer(cloud, cloudtrail_event(own), own)


def test_seam_customer_event_flows_through_ingest_and_normalizer(cloud: LocalCloud) -> None:
    """A connected customer's CloudTrail event, forwarded by the customer template's rule from
    the customer's account: the bus policy must let it in (decision 0810)."""
    connect_account(cloud, CUSTOMER)
    assert_flows_through_ingest_and_normalizer(cloud, cloudtrail_event(CUSTOMER), CUSTOMER)


# ---- Lambda: async invocations and failures ------------------------------------------------------
def test_async_failures_are_retried_then_sent_to_the_on_failure_destination(tmp_path: Path) -> None:
    """Lambda's async path, on a template given an EventInvokeConfig for ingest."""
    def patch(doc: dict[str, Any]) -> None:
        res = doc["Resources"]
        fn = next(k for k, r in res.items() if r["Type"] == "AWS::Lambda::Function"
                  and r["Properties"].get("FunctionName", "").endswith("-ingest"))
        dlq = next(k for k, r in res.items() if r["Type"] == "AWS::SQS::Queue"
                   and r["Properties"].get("QueueName", "").endswith("-delivery-dlq"))
        # The stack's rule delivers to the inbox queue: aim it at the function, as an
        # asynchronous invocation, to exercise Lambda's async path.
        rule = next(k for k, r in res.items() if r["Type"] == "AWS::Events::Rule"
                    and "AWS API Call via CloudTrail" in json.dumps(r["Properties"].get("EventPattern")))
        res[rule]["Properties"]["Targets"] = [{"Id": "fn", "Arn": {"Fn::GetAtt": [fn, "Arn"]}}]
        res["LocalIngestPermission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "FunctionName": {"Fn::GetAtt": [fn, "Arn"]},
            "Principal": "events.amazonaws.com", "SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}}
        res["LocalIngestInvokeConfig"] = {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
            "FunctionName": {"Ref": fn}, "Qualifier": "$LATEST", "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [dlq, "Arn"]}}}}}

    with LocalCloud(patched_template(tmp_path, patch), log_dir=tmp_path, fakes=False,
                    async_retry_delays_s=(0.2, 0.2)).start() as c:
        with c.swap_function("ingest", stub_command("fail")):
            ev = cloudtrail_event(c.template.account)
            assert c.forward_event(ev, account=c.template.account) is None
            msgs = c.wait_for(lambda: c.receive_all("delivery-dlq"), 30, what="the destination record")
        record = json.loads(msgs[0]["Body"])
        assert record["requestContext"]["condition"] == "RetriesExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 3
        assert record["requestPayload"]["id"] == ev["id"]
        assert record["responseContext"]["functionError"] == "Unhandled"
        assert record["responsePayload"]["errorType"] == "StubFailure"
        assert len([r for r in c.invocations_of("ingest") if r.ok is False]) == 3


def test_seam_ingest_failures_are_not_dropped(cloud: LocalCloud) -> None:
    """An event the ingest function keeps failing on is retried from its record; when Lambda
    gives the batch up, its description (shard and sequence numbers) reaches the inbox's DLQ and
    the record can still be read from the stream: nothing is dropped."""
    ev = cloudtrail_event(cloud.template.account)
    with cloud.swap_function("ingest", stub_command("fail")):
        assert cloud.forward_event(ev, account=cloud.template.account) is None
        msgs = cloud.wait_for(lambda: [m for m in cloud.receive_all("inbox-dlq") if "KinesisBatchInfo" in m["Body"]],
                              120, what="the given-up batch in the inbox DLQ")
    info = json.loads(msgs[-1]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted", info
    batch = info["KinesisBatchInfo"]
    assert batch["streamArn"].endswith("/dd0c-staging-inbox")
    it = cloud.kinesis.get_shard_iterator(StreamName="dd0c-staging-inbox", ShardId=batch["shardId"],
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          StartingSequenceNumber=batch["startSequenceNumber"])["ShardIterator"]
    kept = cloud.kinesis.get_records(ShardIterator=it, Limit=batch["batchSize"])["Records"]
    assert ev["id"] in [json.loads(r["Data"])["id"] for r in kept]
    attempts = [r for r in cloud.invocations_of("ingest") if ev["id"] in inbox_event_ids(r.payload) and r.ok is False]
    assert len(attempts) >= 3, attempts


def test_seam_an_event_the_ingest_function_cannot_read_is_dead_lettered_with_its_reason(cloud: LocalCloud) -> None:
    """A CloudTrail-typed event whose detail is no record: the real ingest function sends it to
    the inbox's DLQ with the reason, at once, and the rest of the inbox goes on."""
    good = cloudtrail_event(cloud.template.account)
    connect_account(cloud, cloud.template.account)
    bad = cloudtrail_event(cloud.template.account)
    bad["detail"] = ["not", "a", "record"]
    assert cloud.forward_event(bad, account=cloud.template.account) is None
    assert cloud.forward_event(good, account=cloud.template.account) is None
    msgs = cloud.wait_for(lambda: [m for m in cloud.receive_all("inbox-dlq") if json.loads(m["Body"]).get("id") == bad["id"]],
                          60, what="the unreadable event in the inbox DLQ")
    reason = msgs[0]["MessageAttributes"]["dd0c-error"]["StringValue"]
    assert reason.startswith("malformed message"), reason
    cloud.wait_idle(60)
    normalized = " ".join(json.dumps(r.payload) for r in cloud.invocations_of("normalizer"))
    assert good["detail"]["eventID"] in normalized


def test_a_crash_at_init_is_reported_with_the_log(cloud: LocalCloud) -> None:
    with cloud.swap_function("stripe", stub_command("exit")):
        with pytest.raises(InitError) as e:
            cloud.invoke("stripe", {"ping": 1})
    assert "Runtime.ExitError" in str(e.value) and "exit status 3" in str(e.value)
    assert "stub: crashing at init" in str(e.value)
    with cloud.swap_function("stripe", stub_command("init-error")):
        with pytest.raises(InitError) as e:
            cloud.invoke("stripe", {"ping": 1})
    assert e.value.error_type == "Runtime.StubInit" and "configuration missing" in e.value.message


def test_a_function_is_held_to_the_memory_the_template_gives_it(cloud: LocalCloud) -> None:
    """As on Lambda, an environment whose process used more than the function's memory is
    stopped and its invocation fails; within it, the function answers."""
    with cloud.swap_function("stripe", stub_command("allocate", "64")) as swapped:
        assert cloud.invoke("stripe", {}) == {"held_mb": 64}
        assert swapped.peak_rss_mb >= 64
        limit = swapped.memory_mb
    with cloud.swap_function("stripe", stub_command("allocate", str(limit + 16))):
        with pytest.raises(FunctionError) as e:
            cloud.invoke("stripe", {})
    assert e.value.error_type == "Runtime.OutOfMemory" and f"memory {limit} MB" in str(e.value), e.value


def test_a_function_error_is_a_500_at_the_gateway(cloud: LocalCloud) -> None:
    with cloud.swap_function("stripe", stub_command("fail")):
        status, _, body = http(cloud, "POST", "/v1/stripe/webhook", body=b"{}", headers={"Content-Type": "application/json"})
        with pytest.raises(FunctionError):
            cloud.invoke("stripe", {})
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


def test_secrets_extension_serves_moto_secrets_with_the_session_token(cloud: LocalCloud) -> None:
    arn = cloud.secret_arn("dd0c-staging/stripe")
    original = cloud.get_secret(arn)
    with cloud.swap_function("stripe", stub_command("secret", arn)) as fn:
        out = cloud.invoke("stripe", {})
        assert out["ARN"] == arn and json.loads(out["SecretString"]) == original
        cloud.put_secret("dd0c-staging/stripe", {"webhook_secret": "whsec_x", "api_key": "sk_test_x", "price_id": "price_x"})
        assert json.loads(cloud.invoke("stripe", {})["SecretString"]) == original, "cached (SECRETS_MANAGER_TTL)"
        cloud.restart("stripe")
        assert json.loads(cloud.invoke("stripe", {})["SecretString"])["api_key"] == "sk_test_x"
        url = f"http://127.0.0.1:{fn.port}/secretsmanager/get?secretId={arn}"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=5)
        assert e.value.code == 400
    cloud.put_secret("dd0c-staging/stripe", original, restart=True)


# ---- SQS event source mappings -------------------------------------------------------------------
def test_partial_batch_failure_leaves_only_the_failed_record(cloud: LocalCloud) -> None:
    q = "score"
    cloud.wait_idle(60)  # nothing of an earlier test left in the queue
    poller = cloud.poller(q)
    with cloud.swap_function("scorer", stub_command("fail-marked")):
        poller.pause()
        try:
            time.sleep(1.5)  # a receive in flight ends
            url = cloud.queue_url(q)
            cloud.sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps({"n": i, "mark": "FAIL" if i == 1 else "ok", "u": uuid.uuid4().hex}),
                 "MessageGroupId": f"g{i}", "MessageDeduplicationId": uuid.uuid4().hex} for i in range(3)])
            before = len(cloud.invocations_of("scorer"))
        finally:
            poller.resume()
        first = cloud.wait_for(lambda: [r for r in cloud.invocations_of("scorer")[before:] if r.ok is not None],
                               30, what="the batch")[0]
        assert len(first.payload["Records"]) == 3
        assert first.response == {"batchItemFailures": [{"itemIdentifier": first.payload["Records"][1]["messageId"]}]}
        rec = first.payload["Records"][0]
        assert rec["eventSource"] == "aws:sqs" and rec["eventSourceARN"].endswith(":dd0c-staging-score.fifo")
        assert set(rec["attributes"]) >= {"ApproximateReceiveCount", "SentTimestamp", "MessageGroupId", "SequenceNumber"}
        d = cloud.queue_depth(q)
        assert d["ApproximateNumberOfMessages"] + d["ApproximateNumberOfMessagesNotVisible"] == 1
        # The failed record is received again (visibility timeout / time compression) until the
        # redrive policy moves it to the DLQ after maxReceiveCount receives.
        dlq = cloud.wait_for(lambda: cloud.receive_all("score-dlq"), 60, what="the redrive to score-dlq")
    assert [json.loads(m["Body"])["n"] for m in dlq] == [1]
    assert cloud.alarms_for_queue("score-dlq"), "a DLQ has an alarm"
    assert any(cloud.alarm_state(a["logical_id"]) == "ALARM" for a in cloud.alarms_for_queue("score-dlq")
               if cloud.alarm_metric(a["logical_id"]) is not None)
    cloud.purge("score-dlq")


# ---- Kinesis event source mapping (the inbox stream) ----------------------------------------------
def test_a_stream_batch_is_retried_from_its_first_failed_record_then_given_up_to_the_dlq(cloud: LocalCloud) -> None:
    cloud.wait_idle(60)
    poller = cloud.poller("inbox")
    stream_arn = poller.stream_arn
    with cloud.swap_function("ingest", stub_command("fail-marked")):
        poller.pause()
        try:
            time.sleep(0.5)  # a read in flight ends
            run = uuid.uuid4().hex
            for i in range(3):
                cloud.put_to_stream_arn(stream_arn, json.dumps({"n": i, "mark": "FAIL" if i == 1 else "ok", "run": run}), f"acct-{i}")
            before = len(cloud.invocations_of("ingest"))
        finally:
            poller.resume()
        first = cloud.wait_for(lambda: [r for r in cloud.invocations_of("ingest")[before:] if r.ok is not None],
                               30, what="the first batch")[0].payload["Records"]
        failed_seq = first[1]["kinesis"]["sequenceNumber"]
        # Matched on the batch's first record: another test's batch given up may name a
        # sequence number of which this one is a substring.
        def given_up() -> list[dict[str, Any]]:
            out = []
            for m in cloud.receive_all("inbox-dlq"):
                try:
                    body = json.loads(m["Body"])
                except ValueError:
                    continue
                if isinstance(body, dict) and body.get("KinesisBatchInfo", {}).get("startSequenceNumber") == failed_seq:
                    out.append(body)
            return out
        dlq = cloud.wait_for(given_up, 90, what="the batch given up")
        cloud.wait_idle(60)
    batches = [[json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in inv.payload["Records"]]
               for inv in cloud.invocations_of("ingest")[before:] if isinstance(inv.payload, dict)]
    # The whole batch first; then from the failed record on (what followed it comes again),
    # as often as the mapping retries.
    assert batches[0] == [0, 1, 2], batches
    retries = json.loads((REPO / "shared" / "routing.json").read_text())["ingest_rule"]["inbox"]["retry_attempts"]
    assert batches[1:] == [[1, 2]] * retries, batches
    info = dlq[0]["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == failed_seq
    assert info["batchSize"] == 2 and info["streamArn"] == stream_arn
    assert dlq[0]["requestContext"]["approximateInvokeCount"] == retries + 1
    cloud.purge("inbox-dlq")


# ---- Scheduler -----------------------------------------------------------------------------------
def test_tick_invokes_the_schedule_target_with_the_scheduled_time(cloud: LocalCloud) -> None:
    import datetime as dt

    sched = next(iter(cloud.schedules.values()))
    when = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
    with cloud.swap_function(sched["Target"]["Arn"], stub_command("echo")):
        out = cloud.tick(sched["logical_id"], when)
    assert out["ok"], out
    assert "2026-11-30T09:00:00Z" in json.dumps(out["response"]["event"])
    assert "<aws.scheduler" not in json.dumps(out["response"]["event"])


def test_route_precedence_is_api_gateways() -> None:
    from localcloud.apigw import Route

    def route(key: str) -> Route:
        method, _, path = key.partition(" ")
        return Route(key, key, method, path, "NONE", None, [], "f", None)

    routes = [route(k) for k in ("ANY /v1/{proxy+}", "GET /v1/items/{id}", "GET /v1/items/special", "ANY /v1/items/{id}", "$default")]

    def best(method: str, path: str) -> str:
        scored = [(r.match(method, path), r) for r in routes]
        return max(((m[2], r.key) for m, r in scored if m[0]))[1]

    assert best("GET", "/v1/items/special") == "GET /v1/items/special"
    assert best("GET", "/v1/items/7") == "GET /v1/items/{id}"
    assert best("DELETE", "/v1/items/7") == "ANY /v1/items/{id}"
    assert best("GET", "/v1/items/7/x") == "ANY /v1/{proxy+}"
    assert best("GET", "/v1") == "$default", "a greedy variable needs at least one segment"
    assert best("OPTIONS", "/v1/x") == "ANY /v1/{proxy+}", "ANY matches a preflight"
