"""The operator turns a detector off for every tenant (issue 14, item 2: flag changes are
audited): `scripts/global-flag.py` against the deployed table (moto, as the local cloud runs the
stack) writes the global flag and the operators' audit entry together; every tenant sees the
flag in `GET /v1/flags`; turning it back on is audited too. The items the script writes have the
shapes the Rust entities store (shared/tests/fixtures/stored-shapes.json, which the Rust side
keeps in step): the two sides of one contract."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from journeys import User, cloud_table

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "global-flag.py"
SHAPES = json.loads((REPO / "shared" / "tests" / "fixtures" / "stored-shapes.json").read_text())


def run(cloud, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DD0C_TABLE": cloud_table(cloud), "AWS_ENDPOINT_URL": cloud.moto_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": cloud.template.region, "AWS_DEFAULT_REGION": cloud.template.region}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def top_level_shape(item: dict) -> dict[str, str]:
    return {k: next(iter(v)) for k, v in item.items()}


def snapshot_top_level(entity: str) -> dict[str, str]:
    return {k: v for k, v in SHAPES[entity].items() if "." not in k and "[]" not in k}


def audit_trail(cloud) -> list[dict]:
    return cloud.dynamodb.query(TableName=cloud_table(cloud), KeyConditionExpression="PK = :pk",
                                ExpressionAttributeValues={":pk": {"S": "FLAGS#AUDIT"}})["Items"]


def test_the_operators_global_flag_is_audited_and_every_tenant_sees_it(cloud):
    detector = "drift.kms-key-disabled"
    expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = len(audit_trail(cloud))

    refused = run(cloud, "set", "not-a-detector", "--owner", "oncall", "--reason", "x", "--expires", expires)
    assert refused.returncode == 2 and "not a detector id" in refused.stderr, refused
    too_far = run(cloud, "set", detector, "--owner", "oncall", "--reason", "x", "--expires", "2099-01-01T00:00:00Z")
    assert too_far.returncode == 2 and "at most 366 days" in too_far.stderr, too_far
    assert len(audit_trail(cloud)) == before, "a refused change writes nothing"

    done = run(cloud, "set", detector, "--owner", "oncall@dd0c", "--reason", "false positives", "--expires", expires,
               "--by", "alice")
    assert done.returncode == 0, done.stderr
    flag = cloud.dynamodb.get_item(TableName=cloud_table(cloud),
                                   Key={"PK": {"S": "FLAGS"}, "SK": {"S": f"FLAG#{detector}"}})["Item"]
    assert top_level_shape(flag) == snapshot_top_level("flag"), flag
    trail = audit_trail(cloud)
    assert len(trail) == before + 1, trail
    entry = trail[-1]
    assert {k: v for k, v in top_level_shape(entry).items()} == snapshot_top_level("audit entry"), entry
    assert (entry["action"]["S"], entry["target"]["S"], entry["user"]["S"], entry["via"]["S"]) == (
        "flag.global_set", detector, "alice", "operator")
    assert entry["detail"]["M"]["flag"]["M"]["owner"]["S"] == "oncall@dd0c"

    # Every tenant sees it, with its owner and expiry.
    user = User(cloud, f"flags-{uuid.uuid4().hex[:6]}@example.com")
    flags = user.ok("GET", "/v1/flags")["flags"]
    mine = [f for f in flags if f["detector"] == detector]
    assert mine and mine[0]["scope"] == "global" and mine[0]["owner"] == "oncall@dd0c", flags

    back = run(cloud, "delete", detector, "--reason", "fixed upstream", "--by", "bob")
    assert back.returncode == 0, back.stderr
    assert not any(f["detector"] == detector for f in user.ok("GET", "/v1/flags")["flags"])
    trail = audit_trail(cloud)
    assert len(trail) == before + 2, trail
    # Entries of one second sort by their random id: found by action, not by place.
    deleted = [e for e in trail if e["action"]["S"] == "flag.global_delete" and e["user"]["S"] == "bob"]
    assert len(deleted) == 1, trail
    assert deleted[0]["detail"]["M"]["previous"]["M"]["owner"]["S"] == "oncall@dd0c"
    again = run(cloud, "delete", detector, "--reason", "twice")
    assert again.returncode == 2 and "no global flag" in again.stderr, again
    log = run(cloud, "log")
    assert log.returncode == 0 and '"flag.global_delete"' in log.stdout, log
