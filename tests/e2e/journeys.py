"""What the journeys do as people and outside parties would: a signed-in dashboard user calling
the API through the local API Gateway, a customer account forwarding CloudTrail events to the
dd0c bus, Slack installing the app and signing clicks, an agent posting drift reports."""
from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
import uuid
from typing import Any

import requests

DEFAULT_PASSWORD = "Passw0rd!Passw0rd"


class User:
    """A dashboard user: a Cognito ID token of the pool, sent as the dashboard sends it."""

    def __init__(self, cloud: Any, email: str) -> None:
        self.cloud = cloud
        self.email = email
        self.token = cloud.id_token(email, DEFAULT_PASSWORD)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"authorization": f"Bearer {token or self.token}", "accept": "application/json"}
        r = requests.request(method, self.cloud.api_url + path, json=body, headers=headers, timeout=30)
        try:
            payload = r.json()
        except ValueError:
            payload = r.text
        return r.status_code, payload

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.call(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status}: {payload}\n--- api log\n{self.cloud.logs('api', 20)}"
        return payload

    def tenant(self) -> str:
        return self.ok("GET", "/v1/me")["tenant_id"]


def connect_account(user: User, account: str) -> dict[str, Any]:
    """The quick-create link's parameters: the ExternalId dd0c handed out and the read-only
    role the customer's stack created; the API verifies the role and activates the account."""
    setup = user.ok("POST", "/v1/accounts/setup")
    assert setup["external_id"], setup
    status, body = user.call("POST", "/v1/accounts", {
        "aws_account_id": account,
        "role_arn": f"arn:aws:iam::{account}:role/dd0c-readonly",
    })
    assert status in (200, 201), f"connect {account} -> {status}: {body}\n--- api log\n{user.cloud.logs('api', 30)}"
    return body


def install_slack(user: User, channel_id: str, team_id: str | None = None) -> str:
    """The installer of workspace `team_id` (default: the fake's) opens the link the dashboard
    asks for, picks `channel_id` on Slack's consent page, and Slack sends the browser back to
    dd0c's OAuth redirect. Returns the page dd0c shows."""
    cloud = user.cloud
    url = user.ok("GET", "/v1/settings/slack/install-url")["url"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    back = cloud.slack.authorize(q["client_id"][0], q["scope"][0], q["redirect_uri"][0], q["state"][0],
                                 channel_id=channel_id, team_id=team_id)
    r = requests.get(back, timeout=30)
    assert r.status_code == 200, f"oauth redirect -> {r.status_code}: {r.text}\n{cloud.logs('slack', 20)}"
    return r.text


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def assumed_role(account: str, role: str, session: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE{role.upper()[:8]}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{role}",
                                             "userName": role}},
    }


def run_instances(account: str, instance_type: str, count: int, region: str = "us-east-1",
                  identity: dict[str, Any] | None = None, when: dt.datetime | None = None) -> dict[str, Any]:
    """A CloudTrail `RunInstances` record as EventBridge delivers it (the customer's rule)."""
    when = when or now_utc()
    identity = identity or assumed_role(account, "ci-deploy", "gha-run")
    ids = [f"i-{uuid.uuid4().hex[:17]}" for _ in range(count)]
    record = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": iso(when),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.66",
        "userAgent": "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.15 lang/python#3.11.6",
        "requestParameters": {
            "instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": count, "maxCount": count}]},
            "instanceType": instance_type,
        },
        "responseElements": {
            "reservationId": "r-" + uuid.uuid4().hex[:17],
            "ownerId": account,
            "instancesSet": {"items": [
                {"instanceId": i, "instanceType": instance_type, "instanceState": {"code": 0, "name": "pending"},
                 "placement": {"availabilityZone": region + "a", "tenancy": "default"}}
                for i in ids
            ]},
        },
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    return envelope(account, record, "aws.ec2")


def envelope(account: str, record: dict[str, Any], source: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": source,
        "account": account,
        "time": record.get("eventTime") or iso(now_utc()),
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }


def forward(cloud: Any, event: dict[str, Any]) -> float:
    """The customer's forwarding rule puts the event on the dd0c bus; returns when it did."""
    t0 = time.time()
    error = cloud.forward_event(event, account=event["account"])
    assert error is None, f"the bus refused the event: {error}"
    return t0


def alerts_about(cloud: Any, channel: str, needle: str) -> list[dict[str, Any]]:
    return [m for m in cloud.slack.messages(channel=channel) if needle in json.dumps(m)]


def table_items(cloud: Any, pk: str) -> list[dict[str, Any]]:
    out = cloud.dynamodb.query(TableName=cloud_table(cloud), KeyConditionExpression="PK = :pk",
                               ExpressionAttributeValues={":pk": {"S": pk}})
    return out["Items"]


def cloud_table(cloud: Any) -> str:
    return cloud.function_env("api")["TABLE_NAME"]
