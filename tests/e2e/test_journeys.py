"""User and operator journeys through the stack as `cdk deploy` builds it: the synthesized
template run by the local cloud (real function binaries, API Gateway with its authorizers,
EventBridge rules, SQS mappings, moto). Every assertion is about what a user or operator would
see: an API answer, a Slack message, a queue an alarm watches. One journey per test; each makes
its own tenant, accounts and channel, so any one runs alone (`scripts/test-e2e.sh -k journey_3`).
Journey 1 (sign-up through the dashboard in Chromium) is in test_journey_1_sign_up.py."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from journeys import (User, alerts_about, assumed_role, cloud_table, connect_account, envelope, forward,
                      install_slack, iso, now_utc, run_instances, table_items)
from localcloud.fakes import slack as slack_fake
from localcloud.fakes import stripe as stripe_fake


def fresh_account() -> str:
    return "5" + "".join(secrets.choice("0123456789") for _ in range(11))


@pytest.fixture(scope="module")
def live(cloud):
    """The operator has put the Slack and Stripe credentials into the stack's secrets."""
    values = cloud.use_fake_secrets()
    cloud.signing_secret = next(v["signing_secret"] for v in values.values() if "signing_secret" in v)
    return cloud


class Customer:
    """A signed-up tenant with one connected account and Slack installed in a channel of its own."""

    def __init__(self, cloud: Any, name: str, install: bool = True) -> None:
        self.cloud = cloud
        self.user = User(cloud, f"{name}-{uuid.uuid4().hex[:6]}@example.com")
        self.tenant = self.user.tenant()
        self.account = fresh_account()
        connect_account(self.user, self.account)
        self.channel = cloud.slack.add_channel(f"{name}-alerts-{uuid.uuid4().hex[:4]}")
        # A workspace of its own: dd0c refuses to move a workspace from one tenant to another.
        self.team_id = "T" + uuid.uuid4().hex[:10].upper()
        if install:
            install_slack(self.user, self.channel, self.team_id)

    def alert_for(self, needle: str, timeout: float = 60) -> dict[str, Any]:
        return self.cloud.slack.wait_for(lambda: next(iter(alerts_about(self.cloud, self.channel, needle)), None),
                                         timeout=timeout)

    def findings(self, kind: str = "anomalies") -> list[dict[str, Any]]:
        return self.user.ok("GET", f"/v1/{kind}")["items"]


def button_value(message: dict[str, Any], action_id: str) -> str:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element["value"]
    raise AssertionError(f"no {action_id} button in {json.dumps(message)[:2000]}")


def digest_schedule(cloud: Any) -> str:
    """The schedule whose target is the digest function (named as the template names it)."""
    return next(name for name, s in cloud.schedules.items()
                if "digest" in json.dumps(s.get("Target", {})) and not name.startswith("Pipeline"))


def slack_post(cloud: Any, path: str, body: str) -> requests.Response:
    raw, headers = slack_fake.signed_request(cloud.signing_secret, body)
    return requests.post(cloud.api_url + path, data=raw, headers=headers, timeout=30)


# --------------------------------------------------------------------------------------------
def test_every_signed_in_route_is_closed_at_the_gateway(cloud):
    """The deployed gateway keeps the contract of shared/http-routes.json: a route reserved to
    signed-in users answers API Gateway's own 401 to a request without a token, and its function
    never runs. (Remove one route's authorizer in the CDK app and this fails.)"""
    table = json.loads((Path(__file__).resolve().parents[2] / "shared" / "http-routes.json").read_text())
    closed = [r for r in table["routes"] if r["auth"] == "cognito"]
    assert closed
    for route in closed:
        path = route["path"].replace("{", "x").replace("}", "")
        before = len(cloud.invocations_of(route["function"]))
        r = requests.request(route["method"], cloud.api_url + path, timeout=30)
        assert (r.status_code, r.json()) == (401, {"message": "Unauthorized"}), f"{route['method']} {route['path']}: {r.status_code} {r.text}"
        assert len(cloud.invocations_of(route["function"])) == before, f"{route['method']} {route['path']} reached its function"


def test_journey_2_a_connected_account_is_accepted_with_no_operator_step(live):
    cloud = live
    customer = Customer(cloud, "j2", install=False)
    accounts = customer.user.ok("GET", "/v1/accounts")["items"]
    assert [(a["account_id"], a["status"]) for a in accounts] == [(customer.account, "active")], accounts

    # The customer's forwarding rule (quick-create template) puts its CloudTrail events on the
    # bus: nothing in the deployment lists this account, and the bus accepts it.
    launch = run_instances(customer.account, "t3.micro", 1)
    forward(cloud, launch)
    stranger = fresh_account()
    stranger_launch = run_instances(stranger, "t3.micro", 1)
    forward(cloud, stranger_launch)
    cloud.wait_idle(60)

    # The ingest function drains the inbox stream in batches: both events reached it, and only the
    # connected account's went on to the normalizer.
    drained = " ".join(base64.b64decode(rec["kinesis"]["data"]).decode() for r in cloud.invocations_of("ingest")
                       if r.ok and isinstance(r.payload, dict) for rec in r.payload.get("Records", []) if "kinesis" in rec)
    normalized = " ".join(json.dumps(r.payload) for r in cloud.invocations_of("normalizer"))
    for ev in (launch, stranger_launch):
        assert ev["detail"]["eventID"] in drained, f"{ev['account']}'s event never reached the ingest function"
    assert launch["detail"]["eventID"] in normalized
    assert stranger_launch["detail"]["eventID"] not in normalized, \
        "an unconnected account's event must be dropped at the door"
    # The event is stored for the tenant (the normalizer ran on it).
    event_id = launch["detail"]["eventID"]
    # A filtered scan reads 1 MB a page: every page, the table grows with the suite.
    rows = cloud.wait_for(lambda: [item for page in cloud.dynamodb.get_paginator("scan").paginate(
        TableName=cloud.function_env("api")["TABLE_NAME"],
        FilterExpression="contains(SK, :e)", ExpressionAttributeValues={":e": {"S": event_id}})
        for item in page["Items"]],
        timeout=30, what="the event stored")
    assert any(customer.tenant in r["PK"]["S"] for r in rows), rows


def test_journey_3_a_costly_launch_reaches_the_channel_chosen_at_install(live):
    cloud = live
    customer = Customer(cloud, "j3")
    installed = customer.user.ok("GET", "/v1/settings/slack")
    assert installed["default_channel"] == customer.channel, installed
    assert installed["installation"]["channel_id"] == customer.channel, installed

    leaked = assumed_role(customer.account, "ci-runner", "leaked-key")
    launch = run_instances(customer.account, "p3.16xlarge", 8, region="ap-south-1", identity=leaked)
    t0 = forward(cloud, launch)
    alert = customer.alert_for("p3.16xlarge")
    latency = time.time() - t0
    print(f"\njourney 3: PutEvents -> Slack post in {latency:.2f} s")
    text = json.dumps(alert)
    assert alert["channel"] == customer.channel
    assert "ap-south-1" in text, text[:2000]
    assert any(b.get("type") == "actions" for b in alert["blocks"]), "an alert has buttons"
    findings = customer.findings()
    assert findings and findings[0]["severity"] == "critical", findings
    assert findings[0]["notified"] is True

    # Routed to a channel the bot was never invited to: the alert is not lost, it comes to the
    # install channel with what to fix, and the dashboard's Slack settings say so.
    ops = cloud.slack.add_channel(f"ops-{uuid.uuid4().hex[:4]}")
    customer.user.ok("PATCH", "/v1/settings/slack", {"default_channel": ops})
    forward(cloud, run_instances(customer.account, "p3.16xlarge", 4, region="ap-south-1", identity=leaked))
    rerouted = cloud.slack.wait_for(lambda: next((m for m in cloud.slack.messages(customer.channel)
                                                  if "could not post to" in json.dumps(m)), None), timeout=60)
    assert ops in json.dumps(rerouted) and "/invite @dd0c" in json.dumps(rerouted), rerouted
    assert not cloud.slack.messages(ops)
    problem = customer.user.ok("GET", "/v1/settings/slack")["installation"]["channel_problem"]
    assert problem and "not_in_channel" in problem and ops in problem, problem


def test_journey_4_a_signed_click_updates_the_alert_and_teaches_the_baseline(live):
    cloud = live
    customer = Customer(cloud, "j4")
    actor = assumed_role(customer.account, "batch", "nightly")
    forward(cloud, run_instances(customer.account, "p3.8xlarge", 4, identity=actor))
    alert = customer.alert_for("p3.8xlarge")
    finding_id = button_value(alert, "mark_expected")
    first = customer.user.ok("GET", f"/v1/anomalies/{urllib.parse.quote(finding_id, safe='')}")

    body = slack_fake.block_actions_body("mark_expected", finding_id, channel_id=customer.channel,
                                         message_ts=alert["ts"], message=alert, team_id=customer.team_id)
    r = slack_post(cloud, "/v1/slack/actions", body)
    assert r.status_code == 200, r.text
    updated = cloud.slack.wait_for(
        lambda: next((m for m in cloud.slack.messages(customer.channel)
                      if m["ts"] == alert["ts"] and "Marked expected" in json.dumps(m)), None), timeout=30)
    assert "Marked expected by <@U0ALICE001>" in json.dumps(updated["blocks"]), updated
    after = customer.user.ok("GET", f"/v1/anomalies/{urllib.parse.quote(finding_id, safe='')}")
    assert after["status"] == "expected", after

    # The same launch by the same actor again: the baseline now expects it.
    forward(cloud, run_instances(customer.account, "p3.8xlarge", 4, identity=actor))
    cloud.wait_idle(60)
    later = [f for f in customer.findings() if f["id"] != finding_id]
    assert all(f["score"] < first["score"] for f in later), (first["score"], later)

    command = slack_fake.slash_command_body("status", channel_id=customer.channel, team_id=customer.team_id)
    r = slack_post(cloud, "/v1/slack/commands", command)
    assert r.status_code == 200, r.text
    answer = json.dumps(r.json())
    assert "dd0c status" in answer and "Slack installation: active" in answer, answer


def test_journey_5_an_agents_drift_report_is_classified_and_alerted(live):
    cloud = live
    customer = Customer(cloud, "j5")
    key = customer.user.ok("POST", "/v1/api-keys", {"name": "terraform-agent"})
    report = {
        "report_id": f"rep-{uuid.uuid4().hex[:8]}", "stack_id": "web-prod", "tool": "terraform",
        "account_id": customer.account,
        "drifts": [{"resource_address": "aws_security_group.web", "resource_type": "aws_security_group",
                    "resource_id": "sg-0e2e0001", "attribute": "ingress",
                    "old": [], "new": [{"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]}],
    }
    r = requests.post(cloud.api_url + "/v1/drift-reports", json=report,
                      headers={"authorization": f"Bearer {key['api_key']}"}, timeout=30)
    assert r.status_code in (200, 202), f"{r.status_code}: {r.text}\n{cloud.logs('ingest', 30)}"
    alert = customer.alert_for("sg-0e2e0001", timeout=90)
    assert "0.0.0.0/0" in json.dumps(alert) or "22" in json.dumps(alert), alert
    drift = cloud.wait_for(lambda: customer.user.ok("GET", "/v1/drift-events")["items"], timeout=30)
    assert any("sg-0e2e0001" in json.dumps(d) for d in drift), drift
    # Without a key the route is refused by the function (no gateway authorizer on it).
    r = requests.post(cloud.api_url + "/v1/drift-reports", json=report, timeout=30)
    assert r.status_code == 401, r.text


def test_journey_6_checkout_then_the_signed_webhook_lifts_the_account_limit(live):
    cloud = live
    customer = Customer(cloud, "j6", install=False)
    second = fresh_account()
    status, body = customer.user.call("POST", "/v1/accounts/setup")
    status, body = customer.user.call("POST", "/v1/accounts", {
        "aws_account_id": second, "role_arn": f"arn:aws:iam::{second}:role/dd0c-readonly"})
    assert status == 403 and "upgrade" in json.dumps(body), f"the free plan allows one account: {status} {body}"

    # Billing not configured yet: the API still serves, billing says what to set.
    stripe_values = cloud.get_secret("StripeSecret")
    cloud.put_secret("StripeSecret", {k: "REPLACE_ME" for k in stripe_values}, restart=True)
    status, body = customer.user.call("POST", "/v1/billing/checkout", {"accounts": 2})
    assert status == 501 and "api_key" in json.dumps(body), (status, body)
    assert customer.user.call("GET", "/v1/me")[0] == 200

    cloud.put_secret("StripeSecret", stripe_values, restart=True)
    session = customer.user.ok("POST", "/v1/billing/checkout", {"accounts": 2})
    assert session["url"].startswith(cloud.stripe.base_url()), session
    checkout = list(cloud.stripe.checkout_sessions.values())[-1]
    assert checkout["client_reference_id"] == customer.tenant, checkout
    cloud.stripe.complete_checkout(checkout["id"])  # Stripe delivers the signed webhook
    cloud.wait_for(lambda: customer.user.ok("GET", "/v1/me")["usage"]["accounts_limit"] == 2, timeout=30,
                   what="the paid account count")
    assert customer.user.ok("GET", "/v1/me")["plan"] == "pro"
    connect_account(customer.user, second)
    assert len(customer.user.ok("GET", "/v1/accounts")["items"]) == 2


def test_journey_7_the_hourly_tick_posts_the_digest_at_the_tenants_local_hour(live):
    cloud = live
    customer = Customer(cloud, "j7")
    customer.user.ok("PATCH", "/v1/settings/slack", {"digest_time_zone": "Asia/Kolkata", "digest_hour": 9})
    day = now_utc().date()
    # Local hour 9 in Kolkata (UTC+05:30) runs from 03:30 to 04:30 UTC: the scheduler's tick at
    # 03:00 UTC (local 08:30) is too early, the one at 04:00 UTC (local 09:30) posts the digest.
    before = dt.datetime(day.year, day.month, day.day, 3, 0, tzinfo=dt.timezone.utc)
    at = dt.datetime(day.year, day.month, day.day, 4, 0, tzinfo=dt.timezone.utc)
    # Spend started in the digest's 24 hours: 2 × m5.2xlarge ($0.384/hr each), read back from
    # the record's processed mark in the account's partition (decision 1200).
    forward(cloud, run_instances(customer.account, "m5.2xlarge", 2, when=at - dt.timedelta(hours=1)))
    cloud.wait_idle(60)
    assert cloud.tick(digest_schedule(cloud), before)["ok"]
    assert not [m for m in cloud.slack.messages(customer.channel) if "digest" in json.dumps(m).lower()]
    result = cloud.tick(digest_schedule(cloud), at)
    assert result["ok"], result
    digest = cloud.slack.wait_for(lambda: next((m for m in cloud.slack.messages(customer.channel)
                                                if "digest" in json.dumps(m).lower()), None), timeout=30)
    assert digest["channel"] == customer.channel
    assert "New spend started (24h)*: $0.77/hr" in json.dumps(digest) and "from 1 cost event(s)" in json.dumps(digest), digest
    # A retried tick never posts twice.
    cloud.tick(digest_schedule(cloud), at)
    assert len([m for m in cloud.slack.messages(customer.channel) if "digest" in json.dumps(m).lower()]) == 1


def test_journey_8_a_poison_message_ends_in_the_dlq_with_its_reason_and_alarms(live):
    cloud = live
    customer = Customer(cloud, "j8", install=False)
    poison = envelope(customer.account, {
        "eventVersion": "1.08", "eventID": str(uuid.uuid4()), "eventName": "RunInstances",
        "eventSource": "ec2.amazonaws.com", "eventTime": "not a time", "awsRegion": "us-east-1",
        "recipientAccountId": customer.account, "userIdentity": {"type": "Root"},
    }, "aws.ec2")
    forward(cloud, poison)
    alarms = [a for a in cloud.alarms.values() if "ingest" in a["name"] and "dlq" in a["name"].lower()]
    assert alarms, sorted(a["name"] for a in cloud.alarms.values())
    alarm = alarms[0]
    dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []}
    dlq = dims["QueueName"]
    messages = cloud.wait_for(lambda: cloud.receive_all(dlq), timeout=60, what="the poison message in the DLQ")
    text = json.dumps(messages)
    assert poison["detail"]["eventID"] in text, text[:2000]
    reasons = [m.get("MessageAttributes", {}).get("dd0c-error", {}).get("StringValue", "") for m in messages]
    assert any(r.startswith("malformed") and "eventTime" in r for r in reasons), reasons
    assert cloud.alarm_metric(alarm["name"]) >= 1
    assert cloud.alarm_state(alarm["name"]) == "ALARM"


def test_journey_9_a_new_accounts_critical_anomaly_is_posted_at_once_and_noise_held(live):
    cloud = live
    customer = Customer(cloud, "j9")
    noise = run_instances(customer.account, "m5.2xlarge", 1)  # $0.38/hr: below the fast path
    forward(cloud, noise)
    critical = run_instances(customer.account, "p4d.24xlarge", 4, region="eu-west-1")
    forward(cloud, critical)
    alert = customer.alert_for("p4d.24xlarge")
    assert alert["channel"] == customer.channel
    cloud.wait_idle(60)
    by_event = {f["event_id"]: f for f in customer.findings()}
    assert by_event[critical["detail"]["eventID"]]["notified"] is True
    held = by_event.get(noise["detail"]["eventID"])
    if held is not None:
        assert held["notified"] is False and "new account" in (held.get("suppressed_reason") or ""), held
    assert not alerts_about(cloud, customer.channel, "m5.2xlarge")


def test_journey_10_a_connected_accounts_history_is_its_baseline_from_the_first_hour(live):
    """Issue 12, item 5: connecting an account reads its last 90 days of write events
    (CloudTrail LookupEvents, the local cloud's fake: moto has none) in every enabled region,
    page by page through the backfill queue, into the baselines without a word to Slack; the
    API shows the progress and its cost; and a routine launch in the first hour is judged
    against that history, not as a new account's."""
    cloud = live
    user = User(cloud, f"j10-{uuid.uuid4().hex[:6]}@example.com")
    account = fresh_account()
    channel = cloud.slack.add_channel(f"j10-alerts-{uuid.uuid4().hex[:4]}")
    install_slack(user, channel, "T" + uuid.uuid4().hex[:10].upper())
    now = now_utc()
    history = []
    for day in range(1, 21):  # CI's nightly batch: 8 × m5.4xlarge ($6.14/hr) for 20 days
        for hour in (1, 13):
            history.append(run_instances(account, "m5.4xlarge", 8, when=now - dt.timedelta(days=day, hours=hour))["detail"])
    old_gpu = run_instances(account, "p3.16xlarge", 2, region="eu-west-1", when=now - dt.timedelta(days=30))["detail"]
    history.append(old_gpu)  # $48/hr: live, a critical alert; as history, silence
    read_only = dict(run_instances(account, "m5.large", 1, when=now - dt.timedelta(days=2))["detail"],
                     eventName="DescribeInstances", readOnly=True, eventID=str(uuid.uuid4()))
    history.append(read_only)
    too_old = run_instances(account, "m5.4xlarge", 8, when=now - dt.timedelta(days=95))["detail"]
    history.append(too_old)
    cloud.cloudtrail.add_history(account, history)

    connected = connect_account(user, account)
    assert connected["backfill_started"] is True, connected

    def finished() -> dict[str, Any] | None:
        view = user.ok("GET", f"/v1/accounts/{account}/backfill")
        return view if view["status"] == "done" else None

    view = cloud.wait_for(finished, timeout=240)
    assert view["events"] == 41, view  # 40 nightly launches + the GPU launch; not the read nor the too old
    assert view["cost_events"] == 41, view
    regions = {r["region"]: r for r in view["regions"]}
    assert regions["us-east-1"]["status"] == "done" and regions["us-east-1"]["pages"] == 20, regions["us-east-1"]
    assert regions["eu-west-1"]["events"] == 1, regions["eu-west-1"]
    assert regions["ap-south-1"]["status"] == "region_not_enabled", regions["ap-south-1"]
    # us-east-1: 20 pages of 2; us-west-2 and eu-west-1: one page; the 30 regions the account
    # has not enabled: one request each, no page.
    assert view["pages"] == 22, view
    assert view["requests"] >= 22 + len(regions) - 3, view
    assert view["history_since"].startswith(iso(now - dt.timedelta(days=30))[:10]), view
    # Every request asked for write events only, in the 90 days before the connection.
    lookups = cloud.cloudtrail.lookups_of(account)
    assert lookups and all(lk["body"]["LookupAttributes"] == [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}]
                           for lk in lookups), lookups[:3]
    cloud.wait_idle(60)
    assert not alerts_about(cloud, channel, "p3.16xlarge"), "the backfill must not notify"
    assert not alerts_about(cloud, channel, "m5.4xlarge"), "the backfill must not notify"
    assert user.ok("GET", "/v1/anomalies")["items"] == []

    # The first hour: tonight's run is routine for this account, not a new account's $6/hr launch.
    live_launch = run_instances(account, "m5.4xlarge", 8)
    forward(cloud, live_launch)
    cloud.wait_idle(60)
    findings = [f for f in user.ok("GET", "/v1/anomalies")["items"]
                if f["event_id"] == live_launch["detail"]["eventID"]]
    for f in findings:
        assert not any("new account" in r for r in f["reasons"]), f
        assert f["severity"] == "info", f
    assert not alerts_about(cloud, channel, "m5.4xlarge"), cloud.slack.messages(channel=channel)


def console_ssh_opened(account: str, group_id: str) -> dict[str, Any]:
    """Someone opens SSH to the world on a security group from the AWS console."""
    record = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/jane", "userName": "jane",
                         "accountId": account, "principalId": "AIDAEXAMPLEJANE"},
        "eventTime": iso(now_utc()),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "AWS Internal",
        "sessionCredentialFromConsole": "true",
        "requestParameters": {"groupId": group_id, "ipPermissions": {"items": [{
            "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        "responseElements": {"_return": True},
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }
    return envelope(account, record, "aws.ec2")


def test_journey_11_an_existing_cloudformation_stack_is_known_before_any_change_to_it(live):
    """Issue 16, item 1: a stack CloudFormation built before the account connected (in moto,
    under the customer's account) is read through the read-only role on connect; the console
    change to its security group is drift on its first event, alerted in the channel with the
    stack named."""
    cloud = live
    user = User(cloud, f"j11-{uuid.uuid4().hex[:6]}@example.com")
    account = fresh_account()
    channel = cloud.slack.add_channel(f"j11-alerts-{uuid.uuid4().hex[:4]}")
    install_slack(user, channel, "T" + uuid.uuid4().hex[:10].upper())

    # Months ago, in the customer's account: a stack with a security group and a bucket.
    creds = cloud.session.client("sts", endpoint_url=cloud.moto_url, region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="admin")["Credentials"]
    cfn = cloud.session.client("cloudformation", endpoint_url=cloud.moto_url, region_name="us-east-1",
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
    stack_name = f"j11-web-{uuid.uuid4().hex[:6]}"
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps({"Resources": {
        "WebSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "web"}},
        "Assets": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"{stack_name}-assets"}},
    }}))
    resources = cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
    group_id = next(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::EC2::SecurityGroup")

    connect_account(user, account)

    def discovered() -> dict[str, Any] | None:
        return next((s for s in user.ok("GET", "/v1/stacks?limit=100")["items"] if s["name"] == stack_name), None)

    stack = cloud.wait_for(discovered, timeout=240, what=f"the stack {stack_name} read from the account")
    assert (stack["iac_tool"], stack["account_id"], stack["region"]) == ("cloudformation", account, "us-east-1"), stack
    cloud.wait_idle(60)
    assert not alerts_about(cloud, channel, group_id), "reading the stacks must not notify"

    forward(cloud, console_ssh_opened(account, group_id))
    alert = cloud.slack.wait_for(lambda: next(iter(alerts_about(cloud, channel, group_id)), None), timeout=90)
    text = json.dumps(alert)
    assert stack_name in text, text[:2000]
    assert "0.0.0.0/0" in text or "22" in text, text[:2000]
    drift = user.ok("GET", "/v1/drift-events")["items"]
    ours = [d for d in drift if group_id in json.dumps(d)]
    assert ours and all(d["details"].get("stack") == stack_name for d in ours), ours


REPO = Path(__file__).resolve().parents[2]


def test_journey_12_a_terraform_state_import_makes_the_first_console_change_drift(live):
    """Issue 16, item 1: `dd0c stacks import` reads a Terraform state and sends only types,
    addresses and ids with an API key; the first console change to an imported security group
    is drift, alerted with its Terraform address; no attribute value reaches dd0c."""
    cloud = live
    customer = Customer(cloud, "j12")
    key = customer.user.ok("POST", "/v1/api-keys", {"name": "state-import"})
    state = REPO / "cli/tests/fixtures/terraform/aws-modules.tfstate"
    assert "S3cret" in state.read_text(), "the fixture holds secrets the import must not send"
    before = len(cloud.invocations_of("api"))
    run = subprocess.run([str(REPO / "target/debug/dd0c"), "stacks", "import", str(state), "--stack", "j12-net",
                          "--api", cloud.api_url],
                         env={**os.environ, "DD0C_API_KEY": key["api_key"]}, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"{run.returncode}\n{run.stdout}\n{run.stderr}\n{cloud.logs('api', 30)}"
    sent = [r for r in cloud.invocations_of("api")[before:] if "/resources" in json.dumps(r.payload)]
    assert sent, "the import reached the API"
    assert not any("S3cret" in json.dumps(r.payload) for r in sent), "an attribute value was sent"

    group = "sg-0a1b2c3d4e5f60001"
    forward(cloud, console_ssh_opened(customer.account, group))
    alert = customer.alert_for(group, timeout=90)
    assert "aws_security_group.web" in json.dumps(alert) or "j12-net" in json.dumps(alert), alert
    drift = customer.user.ok("GET", "/v1/drift-events")["items"]
    assert any(group in json.dumps(d) and d["details"].get("stack") == "j12-net" for d in drift), drift


def test_journey_14_the_daily_zombie_scan_reads_every_region_and_the_digest_shows_what_is_at_stake(live):
    """Issue 16, item 6: the hourly tick asks for the daily zombie scan of each connected
    account whose latest scan of every region is a day old; the API function, consuming the
    `zombies` queue, assumes the read-only role with the link's ExternalId and reads every
    region of the partition; the account's health shows the scan, and the digest posted at the
    tenant's hour shows when it ran, what it found in which regions and the monthly cost at
    stake. (moto runs every customer account in one: the role's credentials see the volumes
    this journey creates.)"""
    cloud = live
    customer = Customer(cloud, "j14")
    volumes = {}
    for region, zone, size in (("us-east-1", "us-east-1a", 100), ("eu-west-1", "eu-west-1b", 50)):
        ec2 = cloud.session.client("ec2", region_name=region, endpoint_url=cloud.moto_url)
        volumes[region] = ec2.create_volume(AvailabilityZone=zone, Size=size, VolumeType="gp3")["VolumeId"]
    # An hour no other journey's tenant has: the ticks below post no one else's digest.
    customer.user.ok("PATCH", "/v1/settings/slack", {"digest_time_zone": "UTC", "digest_hour": 6})
    day = now_utc().date()
    # 05:00 UTC: not the tenant's digest hour; the scan is asked for.
    early = dt.datetime(day.year, day.month, day.day, 5, 0, tzinfo=dt.timezone.utc)
    t0 = time.time()
    result = cloud.tick(digest_schedule(cloud), early)
    assert result["ok"], result
    assert customer.account in result["response"]["zombie_scans_queued"], result["response"]

    def scanned() -> dict[str, Any] | None:
        scan = customer.user.ok("GET", f"/v1/accounts/{customer.account}/health").get("last_zombie_scan")
        return scan if scan and scan["region"] == "all" else None

    scan = cloud.wait_for(scanned, timeout=120, what="the daily zombie scan stored")
    print(f"daily zombie scan: {time.time() - t0:.1f}s from the tick to the stored scan")
    found = {z["resource_id"]: z for z in scan["zombies"]}
    for region, volume in volumes.items():
        assert volume in found, (volume, scan)
        assert (found[volume]["kind"], found[volume]["region"]) == ("unattached_volume", region), found[volume]
        assert found[volume]["monthly_usd"] > 0, found[volume]
    assert {"us-east-1", "eu-west-1"} <= set(scan["regions_scanned"]), scan
    # Every region of the partition is accounted for: read, not enabled, or failed with a reason.
    failed = {f["region"]: f["error"] for f in scan["regions_failed"]}
    accounted = set(scan["regions_scanned"]) | set(scan["regions_not_enabled"]) | set(failed)
    assert len(accounted) == 33, (len(accounted), scan)
    assert all(failed.values()), failed
    at_stake = scan["monthly_waste_usd"]
    assert at_stake == pytest.approx(sum(z["monthly_usd"] or 0 for z in scan["zombies"]))

    # 06:00 UTC: the digest. The scan is fresh, so none is asked for again.
    result = cloud.tick(digest_schedule(cloud), early + dt.timedelta(hours=1))
    assert result["ok"], result
    assert customer.account not in result["response"]["zombie_scans_queued"], result["response"]
    digest = cloud.slack.wait_for(lambda: next((m for m in cloud.slack.messages(customer.channel)
                                                if "Zombie watch" in json.dumps(m)), None), timeout=30)
    text = json.dumps(digest)
    line = next(b["text"]["text"] for b in digest["blocks"] if "Zombie watch" in json.dumps(b))
    money = f"${at_stake:.0f}" if at_stake >= 100 else f"${at_stake:.2f}"  # as Slack blocks spell it
    assert f"{len(scan['zombies'])} idle resource(s), {money}/month at stake" in line, line
    mine = next(x for x in line.split("\n") if x.startswith(f"• {customer.account}:"))
    assert "us-east-1" in mine and "eu-west-1" in mine, mine
    assert f"{money}/month" in mine, mine
    assert f"scanned {scan['scanned_at'][:10]}" in mine, mine
    assert "stale" not in mine and "never scanned" not in mine, text


def test_journey_13_a_burst_of_one_detectors_alerts_trips_its_breaker_while_another_still_alerts(live):
    """Issue 14, item 2: an agent reports eight IAM roles' policies changed and one KMS key
    disabled (two high-severity drift rules). The IAM rule's detector normally sends nothing, so
    the hour may carry 6 of its alerts (3x the floor of 2 an hour): 6 are posted, the other 2
    are held for the digest with the breaker named, one message in the channel says so, and
    the KMS rule's alert goes out regardless."""
    cloud = live
    customer = Customer(cloud, "j13")
    # The account has left its new-account quiet period (what the digest records once the
    # account's baseline is mature), so high-severity drift is immediate.
    cloud.dynamodb.put_item(TableName=cloud_table(cloud), Item={
        "PK": {"S": f"TENANT#{customer.tenant}#ACCOUNT#{customer.account}"}, "SK": {"S": "GOVERNANCE"},
        "entity": {"S": "account_governance"}, "promoted_at": {"S": iso(now_utc())},
    })
    key = customer.user.ok("POST", "/v1/api-keys", {"name": "terraform-agent"})
    roles = [f"j13-role-{i}-{uuid.uuid4().hex[:4]}" for i in range(8)]
    drifts = [{"resource_address": f"aws_iam_role.r{i}", "resource_type": "aws_iam_role", "resource_id": role,
               "attribute": "managed_policy", "old": [],
               "new": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}
              for i, role in enumerate(roles)]
    key_id = f"j13-key-{uuid.uuid4().hex[:8]}"
    drifts.append({"resource_address": "aws_kms_key.data", "resource_type": "aws_kms_key", "resource_id": key_id,
                   "attribute": "is_enabled", "old": True, "new": False})
    report = {"report_id": f"rep-{uuid.uuid4().hex[:8]}", "stack_id": "j13-iam", "tool": "terraform",
              "account_id": customer.account, "drifts": drifts}
    r = requests.post(cloud.api_url + "/v1/drift-reports", json=report,
                      headers={"authorization": f"Bearer {key['api_key']}"}, timeout=30)
    assert r.status_code in (200, 202), f"{r.status_code}: {r.text}"

    def all_decided() -> list[dict[str, Any]] | None:
        items = customer.user.ok("GET", "/v1/drift-events?limit=100")["items"]
        decided = [d for d in items if d["notified"] or d.get("suppressed_reason")]
        return decided if len(decided) == 9 else None

    findings = cloud.wait_for(all_decided, timeout=180, what="nine drift findings decided")
    cloud.wait_idle(60)
    iam = [f for f in findings if any(role in json.dumps(f) for role in roles)]
    assert len(iam) == 8, findings
    assert all(f["details"]["detector"] == "drift.iam-policy-changed" for f in iam), iam
    sent = [f for f in iam if f["notified"]]
    held = [f for f in iam if not f["notified"]]
    assert (len(sent), len(held)) == (6, 2), [(f["notified"], f.get("suppressed_reason")) for f in iam]
    assert all(f["suppressed_reason"].startswith("circuit breaker: drift.iam-policy-changed") for f in held), held

    notices = [m for m in cloud.slack.messages(customer.channel) if "Circuit breaker" in json.dumps(m)]
    assert len(notices) == 1, notices
    assert "drift.iam-policy-changed" in json.dumps(notices[0]) and "held for the digest" in json.dumps(notices[0])

    kms = next(f for f in findings if key_id in json.dumps(f))
    assert kms["details"]["detector"] == "drift.kms-key-disabled" and kms["notified"] is True, kms
    assert alerts_about(cloud, customer.channel, key_id), "the other detector still alerts"


def test_journey_15_a_burst_is_one_incident_one_thread_and_one_click_acts_on_all_of_it(live):
    """Issue 14, item 5: three launches of eight p3.16xlarge by one leaked key in a minute are
    one incident: the first alert is the thread's root, the others reply in its thread, the
    root is edited to carry the incident's count and total at stake, the dashboard's API lists
    one incident, and one signed click on "Mark all 3 expected" marks every finding expected,
    audited, and says so on the root."""
    cloud = live
    customer = Customer(cloud, "j15")
    leaked = assumed_role(customer.account, "ci-runner", "leaked-key")
    for _ in range(3):
        forward(cloud, run_instances(customer.account, "p3.16xlarge", 8, region="ap-south-1", identity=leaked))

    def all_decided() -> list[dict[str, Any]] | None:
        items = customer.findings()
        decided = [f for f in items if f["notified"] or f.get("suppressed_reason")]
        return decided if len(decided) == 3 else None

    findings = cloud.wait_for(all_decided, timeout=180, what="three findings decided")
    cloud.wait_idle(60)
    assert all(f["notified"] for f in findings), [(f["severity"], f.get("suppressed_reason")) for f in findings]
    alerts = cloud.slack.messages(customer.channel)
    roots = [m for m in alerts if not m["thread_ts"]]
    replies = [m for m in alerts if m["thread_ts"]]
    assert len(roots) == 1 and len(replies) == 2, [(m["ts"], m["thread_ts"], m["text"][:80]) for m in alerts]
    root = roots[0]
    assert all(r["thread_ts"] == root["ts"] for r in replies), replies
    header = json.dumps(root["blocks"])
    assert "Incident: 3 cost anomalies" in header and "/hr at stake" in header and "24 resources" in header, header[:3000]

    incidents = customer.user.ok("GET", "/v1/incidents")["items"]
    assert len(incidents) == 1, incidents
    incident = incidents[0]
    assert (incident["count"], incident["grouping"], incident["status"]) == (3, "burst", "open"), incident
    assert button_value(root, "incident_mark_expected") == incident["id"]

    body = slack_fake.block_actions_body("incident_mark_expected", incident["id"], channel_id=customer.channel,
                                         message_ts=root["ts"], message=root, team_id=customer.team_id)
    r = slack_post(cloud, "/v1/slack/actions", body)
    assert r.status_code == 200, r.text
    acted = cloud.slack.wait_for(
        lambda: next((m for m in cloud.slack.messages(customer.channel)
                      if m["ts"] == root["ts"] and "All 3 findings marked expected" in json.dumps(m)), None), timeout=30)
    assert "incident_mark_expected" not in json.dumps(acted["blocks"]), "the header's buttons are gone"
    shown = customer.user.ok("GET", f"/v1/incidents/{incident['id']}")
    assert shown["status"] == "expected", shown
    assert [f["status"] for f in shown["findings"]] == ["expected"] * 3, shown["findings"]
    audit = [i for i in cloud.dynamodb.query(
        TableName=cloud_table(cloud), KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TENANT#{customer.tenant}#AUDIT"}})["Items"]]
    actions = sorted(i["action"]["S"] for i in audit)
    assert actions.count("finding.mark_expected") == 3 and "incident.mark_expected" in actions, actions
    # A second click is refused and changes nothing.
    again = slack_post(cloud, "/v1/slack/actions", body)
    assert again.status_code == 409, again.text


def test_journey_16_one_cloudtrail_event_is_one_trace_across_every_function(live):
    """Issue 14, item 4: a launch forwarded by a customer's rule is one trace, ingest to Slack,
    across four function processes and three SQS hops: each function's span is the child of the
    one that sent it the message, exported over OTLP to the collector (the ADOT layer's part,
    played by the local cloud), with the tenant named and no raw ARN."""
    cloud = live
    customer = Customer(cloud, "j16")
    leaked = assumed_role(customer.account, "ci-runner", "leaked-key")
    launch = run_instances(customer.account, "p3.16xlarge", 8, region="ap-south-1", identity=leaked)
    forward(cloud, launch)
    customer.alert_for("p3.16xlarge")
    event_id = launch["detail"]["eventID"]
    import hashlib
    trace_id = hashlib.sha256(f"dd0c-trace\n{event_id}".encode()).hexdigest()[:32]
    hops = [("dd0c-ingest", "ingest"), ("dd0c-normalizer", "ingest process"), ("dd0c-scorer", "score process"),
            ("dd0c-notifier", "alerts process"), ("dd0c-notifier", "slack.chat.postMessage")]

    def whole_trace() -> list[dict[str, Any]] | None:
        spans = cloud.otel.trace(trace_id)
        names = {(s["service"], s["name"]) for s in spans}
        return spans if all(h in names for h in hops) else None

    spans = cloud.wait_for(whole_trace, timeout=60, what=f"the trace of {event_id} in the collector")
    by_hop = {(s["service"], s["name"]): s for s in spans}
    root = by_hop[hops[0]]
    assert "parentSpanId" not in root, root
    for parent, child in zip(hops, hops[1:]):
        assert by_hop[child]["parentSpanId"] == by_hop[parent]["spanId"], (child, by_hop[child], by_hop[parent])
    attributes = {a["key"]: a["value"]["stringValue"] for a in by_hop[("dd0c-notifier", "alerts process")]["attributes"]}
    assert attributes.get("dd0c.tenant_id") == customer.tenant, attributes
    assert "arn:aws" not in json.dumps(spans), "a raw ARN is on a span"


def test_journey_17_a_permitted_click_stops_the_launched_instances_once_and_audits_it(live):
    """Issue 14, item 1: the customer's stack has the optional remediation role and the account
    is connected with it; a costly launch's alert offers "Stop instances" with a confirmation
    naming the instances and the region. A click by someone the tenant did not list changes
    nothing; the listed person's click stops the instances in the account (moto, through the
    slack function's assumed remediation role), the alert shows the result in place of the
    button, a second click changes nothing more, and the audit trail has the actor, the
    target, the request and the result."""
    cloud = live
    customer = Customer(cloud, "j15")
    account = customer.account
    # The stack's RemediationRoleArn output, pasted at connect (the same account connected again).
    status, connected = customer.user.call("POST", "/v1/accounts", {
        "aws_account_id": account,
        "role_arn": f"arn:aws:iam::{account}:role/dd0c-readonly",
        "remediation_role_arn": f"arn:aws:iam::{account}:role/dd0c-remediation",
    })
    assert status in (200, 201), connected
    assert connected["account"]["remediation_role_arn"].endswith(":role/dd0c-remediation"), connected
    # Real instances in the customer's account (moto), launched by its CI.
    creds = cloud.session.client("sts", endpoint_url=cloud.moto_url).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/ci-deploy", RoleSessionName="gha-run")["Credentials"]
    ec2 = cloud.session.client("ec2", endpoint_url=cloud.moto_url, region_name="us-east-1",
                               aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                               aws_session_token=creds["SessionToken"])
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12c6146b", InstanceType="p3.8xlarge",
                                                        MinCount=2, MaxCount=2)["Instances"]]
    launch = run_instances(account, "p3.8xlarge", 2)
    for item, instance_id in zip(launch["detail"]["responseElements"]["instancesSet"]["items"], ids):
        item["instanceId"] = instance_id
    forward(cloud, launch)
    alert = customer.alert_for(ids[0])
    stop = next(e for b in alert["blocks"] for e in b.get("elements") or []
                if e.get("action_id") == "remediate_stop_instances")
    confirm = stop["confirm"]["text"]["text"]
    assert f"stop 2 instances {ids[0]}, {ids[1]} in us-east-1 (account {account})" in confirm, confirm
    finding_id = stop["value"]

    def states() -> list[str]:
        return [i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                for i in r["Instances"]]

    def click(user_id: str) -> None:
        body = slack_fake.block_actions_body("remediate_stop_instances", finding_id, channel_id=customer.channel,
                                             message_ts=alert["ts"], message=alert, team_id=customer.team_id,
                                             user_id=user_id)
        r = slack_post(cloud, "/v1/slack/actions", body)
        assert r.status_code == 200, r.text

    def updated_with(needle: str) -> dict[str, Any]:
        return cloud.slack.wait_for(lambda: next((m for m in cloud.slack.messages(customer.channel)
                                                  if m["ts"] == alert["ts"] and needle in json.dumps(m)), None),
                                    timeout=30)

    # Nobody is listed yet: the click is refused and the instances keep running.
    click("U0MALLORY1")
    refused = updated_with("cannot stop instances")
    assert "remediate_stop_instances" in json.dumps(refused), "the button stays for someone who may"
    assert states() == ["running", "running"]

    customer.user.ok("PATCH", "/v1/settings/slack", {"remediators": ["U0ALICE001"]})
    click("U0ALICE001")
    done = updated_with("Stopped")
    text = json.dumps(done["blocks"])
    assert f"Stopped {ids[0]}, {ids[1]} in us-east-1 (asked by <@U0ALICE001>)" in text, text
    assert "remediate_stop_instances" not in text, "the result replaces the button"
    assert set(states()) <= {"stopping", "stopped"}, states()

    # A double click (or Slack's retry) finds the result and calls AWS no more.
    click("U0ALICE001")
    updated_with("already handled")
    audit = [i for i in table_items(cloud, f"TENANT#{customer.tenant}#AUDIT")
             if i["action"]["S"] == "remediation.stop_instances"]
    results = sorted(i["detail"]["M"]["result"]["S"] for i in audit)
    assert results == ["done", "refused"], audit
    entry = next(i for i in audit if i["detail"]["M"]["result"]["S"] == "done")
    assert (entry["user"]["S"], entry["target"]["S"]) == ("slack:U0ALICE001", finding_id), entry
    request = entry["detail"]["M"]["request"]["M"]
    assert [v["S"] for v in request["instance_ids"]["L"]] == ids, request


def test_journey_18_a_console_opened_ssh_rule_is_revoked_from_its_drift_alert(live):
    """Issue 14, item 1: in an account connected with its remediation role, a console change
    that opens SSH to the world on a CloudFormation-owned security group is drift; its alert
    offers "Revoke this rule" naming the rule, the group and the region, and the tenant's
    remediator's click revokes exactly that rule in the account (moto)."""
    cloud = live
    user = User(cloud, f"j16-{uuid.uuid4().hex[:6]}@example.com")
    account = fresh_account()
    channel = cloud.slack.add_channel(f"j16-alerts-{uuid.uuid4().hex[:4]}")
    team_id = "T" + uuid.uuid4().hex[:10].upper()
    install_slack(user, channel, team_id)
    creds = cloud.session.client("sts", endpoint_url=cloud.moto_url, region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="admin")["Credentials"]
    cfn, ec2 = (cloud.session.client(svc, endpoint_url=cloud.moto_url, region_name="us-east-1",
                                     aws_access_key_id=creds["AccessKeyId"],
                                     aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["SessionToken"])
                for svc in ("cloudformation", "ec2"))
    stack_name = f"j16-web-{uuid.uuid4().hex[:6]}"
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps({"Resources": {
        "WebSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "web"}}}}))
    group_id = next(r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
                    if r["ResourceType"] == "AWS::EC2::SecurityGroup")
    user.ok("POST", "/v1/accounts/setup?remediation=true")
    status, body = user.call("POST", "/v1/accounts", {
        "aws_account_id": account, "role_arn": f"arn:aws:iam::{account}:role/dd0c-readonly",
        "remediation_role_arn": f"arn:aws:iam::{account}:role/dd0c-remediation"})
    assert status == 201, body
    user.ok("PATCH", "/v1/settings/slack", {"remediators": ["U0ALICE001"]})
    cloud.wait_for(lambda: next((s for s in user.ok("GET", "/v1/stacks?limit=100")["items"]
                                 if s["name"] == stack_name), None), timeout=240, what="the stack read")
    cloud.wait_idle(60)

    # Jane opens SSH to the world from the console.
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    forward(cloud, console_ssh_opened(account, group_id))
    alert = cloud.slack.wait_for(lambda: next(iter(alerts_about(cloud, channel, "remediate_revoke_ingress")), None),
                                 timeout=90)
    revoke = next(e for b in alert["blocks"] for e in b.get("elements") or []
                  if e.get("action_id") == "remediate_revoke_ingress")
    confirm = revoke["confirm"]["text"]["text"]
    assert f"revoke the ingress rule tcp 22 from 0.0.0.0/0 of security group {group_id} in us-east-1" in confirm, confirm

    body = slack_fake.block_actions_body("remediate_revoke_ingress", revoke["value"], channel_id=channel,
                                         message_ts=alert["ts"], message=alert, team_id=team_id)
    r = slack_post(cloud, "/v1/slack/actions", body)
    assert r.status_code == 200, r.text
    done = cloud.slack.wait_for(lambda: next((m for m in cloud.slack.messages(channel)
                                              if m["ts"] == alert["ts"] and "Revoked" in json.dumps(m)), None),
                                timeout=30)
    assert f"Revoked tcp 22 from 0.0.0.0/0 on {group_id} in us-east-1" in json.dumps(done["blocks"]), done
    rules = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissions"]
    assert rules == [], rules


def test_journey_19_a_database_made_public_is_made_private_from_its_drift_alert(live):
    """Issue 14, item 1: a console ModifyDBInstance that makes a CloudFormation-owned database
    publicly accessible is critical drift; its alert offers "Make private" naming the database
    and region, and the remediator's click makes it private in the account (moto), nothing else
    of it changed."""
    cloud = live
    user = User(cloud, f"j17-{uuid.uuid4().hex[:6]}@example.com")
    account = fresh_account()
    channel = cloud.slack.add_channel(f"j17-alerts-{uuid.uuid4().hex[:4]}")
    team_id = "T" + uuid.uuid4().hex[:10].upper()
    install_slack(user, channel, team_id)
    creds = cloud.session.client("sts", endpoint_url=cloud.moto_url, region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="admin")["Credentials"]
    cfn, rds = (cloud.session.client(svc, endpoint_url=cloud.moto_url, region_name="us-east-1",
                                     aws_access_key_id=creds["AccessKeyId"],
                                     aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["SessionToken"])
                for svc in ("cloudformation", "rds"))
    db = f"j17-orders-{uuid.uuid4().hex[:6]}"
    stack_name = f"j17-data-{uuid.uuid4().hex[:6]}"
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps({"Resources": {"Orders": {
        "Type": "AWS::RDS::DBInstance", "Properties": {
            "DBInstanceIdentifier": db, "DBInstanceClass": "db.m5.large", "Engine": "postgres",
            "AllocatedStorage": "100", "MasterUsername": "admin", "MasterUserPassword": "password123",
            "PubliclyAccessible": False}}}}))
    user.ok("POST", "/v1/accounts/setup?remediation=true")
    status, body = user.call("POST", "/v1/accounts", {
        "aws_account_id": account, "role_arn": f"arn:aws:iam::{account}:role/dd0c-readonly",
        "remediation_role_arn": f"arn:aws:iam::{account}:role/dd0c-remediation"})
    assert status == 201, body
    user.ok("PATCH", "/v1/settings/slack", {"remediators": ["U0ALICE001"]})
    cloud.wait_for(lambda: next((s for s in user.ok("GET", "/v1/stacks?limit=100")["items"]
                                 if s["name"] == stack_name), None), timeout=240, what="the stack read")
    cloud.wait_idle(60)

    rds.modify_db_instance(DBInstanceIdentifier=db, PubliclyAccessible=True, ApplyImmediately=True)
    record = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/jane", "userName": "jane",
                         "accountId": account, "principalId": "AIDAEXAMPLEJANE"},
        "eventTime": iso(now_utc()), "eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance",
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "AWS Internal",
        "sessionCredentialFromConsole": "true",
        "requestParameters": {"dBInstanceIdentifier": db, "publiclyAccessible": True, "applyImmediately": True},
        "responseElements": {"dBInstanceIdentifier": db},
        "eventID": str(uuid.uuid4()), "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": account,
    }
    forward(cloud, envelope(account, record, "aws.rds"))
    alert = cloud.slack.wait_for(lambda: next(iter(alerts_about(cloud, channel, "remediate_make_db_private")), None),
                                 timeout=90)
    button = next(e for b in alert["blocks"] for e in b.get("elements") or []
                  if e.get("action_id") == "remediate_make_db_private")
    confirm = button["confirm"]["text"]["text"]
    assert f"make database instance {db} in us-east-1 not publicly accessible" in confirm, confirm

    body = slack_fake.block_actions_body("remediate_make_db_private", button["value"], channel_id=channel,
                                         message_ts=alert["ts"], message=alert, team_id=team_id)
    r = slack_post(cloud, "/v1/slack/actions", body)
    assert r.status_code == 200, r.text
    done = cloud.slack.wait_for(lambda: next((m for m in cloud.slack.messages(channel)
                                              if m["ts"] == alert["ts"] and "Made private" in json.dumps(m)), None),
                                timeout=30)
    assert f"Made private {db} in us-east-1" in json.dumps(done["blocks"]), done
    instance = rds.describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]
    assert instance["PubliclyAccessible"] is False, instance
    assert (instance["DBInstanceClass"], instance["AllocatedStorage"]) == ("db.m5.large", 100), instance
