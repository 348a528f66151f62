#!/usr/bin/env python3
"""The operator's switch for a detector, for every tenant (docs/decisions/0510-flags-and-circuit-breaker.md).

    DD0C_TABLE=<table> scripts/global-flag.py set DETECTOR --owner WHO --reason WHY --expires 2027-01-15T00:00:00Z
    DD0C_TABLE=<table> scripts/global-flag.py delete DETECTOR --reason WHY
    DD0C_TABLE=<table> scripts/global-flag.py log

`set` writes the global flag (`FLAGS` / `FLAG#<detector>`: the functions apply it within 30 s
and every tenant sees it in `GET /v1/flags`) and, in the same DynamoDB transaction, an entry of
the operators' audit trail (`FLAGS#AUDIT` / `<time>#<entry id>`, the shape of a tenant's audit
entries): who (`--by`, else $USER), what, the flag before and after. `delete` removes it, audited
the same way. `log` prints the trail, oldest first. Credentials and region are boto3's usual
(AWS_PROFILE, AWS_REGION; AWS_ENDPOINT_URL for a local cloud). Needs boto3 (`pip install boto3`).
Exit status: 0 done, 2 bad usage or refused (the reason on stderr), 1 AWS failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import re
import sys
import uuid
from typing import Any

GLOBAL_PARTITION = "FLAGS"
AUDIT_PARTITION = "FLAGS#AUDIT"
# What a detector id looks like (`GET /v1/flags` lists the ones that exist).
DETECTOR = re.compile(r"^(cost|drift)\.[a-z0-9][a-z0-9_-]{0,63}$")
MAX_DAYS = 366


class Refused(Exception):
    pass


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expiry(raw: str, now: dt.datetime) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as e:
        raise Refused(f"--expires must be an RFC 3339 time, e.g. 2027-01-15T00:00:00Z ({e})") from None
    if t.tzinfo is None:
        raise Refused("--expires must name its time zone (e.g. Z)")
    if t <= now:
        raise Refused("--expires must be in the future")
    if t > now + dt.timedelta(days=MAX_DAYS):
        raise Refused(f"--expires must be at most {MAX_DAYS} days ahead")
    return t


def flag_item(detector: str, owner: str, reason: str, expires: dt.datetime, by: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "PK": {"S": GLOBAL_PARTITION}, "SK": {"S": f"FLAG#{detector}"}, "entity": {"S": "flag"},
        "detector": {"S": detector}, "scope": {"S": "global"}, "owner": {"S": owner},
        "reason": {"S": reason}, "expires_at": {"S": iso(expires)}, "set_by": {"S": by},
        "set_at": {"S": iso(now)},
    }


def plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """An item's attributes as JSON values (the flag before or after, in the audit detail)."""
    if item is None:
        return None
    return {k: next(iter(v.values())) for k, v in item.items() if k not in ("PK", "SK", "entity")}


def to_attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: to_attr(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [to_attr(v) for v in value]}
    return {"S": str(value)}


def audit_item(action: str, detector: str, by: str, now: dt.datetime, detail: dict[str, Any]) -> dict[str, Any]:
    entry_id = str(uuid.uuid4())
    return {
        "PK": {"S": AUDIT_PARTITION}, "SK": {"S": f"{iso(now)}#{entry_id}"}, "entity": {"S": "audit"},
        "entry_id": {"S": entry_id}, "tenant_id": {"S": "*"}, "at": {"S": iso(now)}, "user": {"S": by},
        "via": {"S": "operator"}, "action": {"S": action}, "target": {"S": detector},
        "detail": to_attr(detail),
    }


def main(argv: list[str], client: Any = None, now: dt.datetime | None = None) -> int:
    parser = argparse.ArgumentParser(prog="global-flag.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("set", help="turn DETECTOR off for every tenant until --expires")
    s.add_argument("detector")
    s.add_argument("--owner", required=True, help="who answers for the flag")
    s.add_argument("--reason", required=True)
    s.add_argument("--expires", required=True, help="RFC 3339, at most 366 days ahead")
    s.add_argument("--by", help="who sets it (default: $USER)")
    d = sub.add_parser("delete", help="turn DETECTOR back on")
    d.add_argument("detector")
    d.add_argument("--reason", required=True)
    d.add_argument("--by")
    sub.add_parser("log", help="the operators' audit trail of global flags, oldest first")
    args = parser.parse_args(argv)
    table = os.environ.get("DD0C_TABLE", "")
    if not table:
        print("global-flag.py: set DD0C_TABLE to the dd0c table's name", file=sys.stderr)
        return 2
    now = now or dt.datetime.now(dt.timezone.utc)
    if client is None:
        import boto3  # only here: `--help` works without it

        client = boto3.client("dynamodb")
    try:
        if args.command == "log":
            pages = client.get_paginator("query").paginate(
                TableName=table, KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": AUDIT_PARTITION}})
            for page in pages:
                for item in page["Items"]:
                    print(json.dumps(plain(item), sort_keys=True))
            return 0
        if not DETECTOR.match(args.detector):
            raise Refused(f"{args.detector!r} is not a detector id (cost.<signal> or drift.<rule>; GET /v1/flags lists them)")
        by = args.by or getpass.getuser()
        if not args.reason.strip():
            raise Refused("--reason must not be empty")
        key = {"PK": {"S": GLOBAL_PARTITION}, "SK": {"S": f"FLAG#{args.detector}"}}
        before = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if args.command == "set":
            if not args.owner.strip():
                raise Refused("--owner must not be empty")
            expires = parse_expiry(args.expires, now)
            item = flag_item(args.detector, args.owner.strip(), args.reason.strip(), expires, by, now)
            writes = [{"Put": {"TableName": table, "Item": item}}]
            detail = {"previous": plain(before), "flag": plain(item), "reason": args.reason.strip()}
            action = "flag.global_set"
        else:
            if before is None:
                raise Refused(f"no global flag on {args.detector}")
            writes = [{"Delete": {"TableName": table, "Key": key,
                                  "ConditionExpression": "attribute_exists(PK)"}}]
            detail = {"previous": plain(before), "reason": args.reason.strip()}
            action = "flag.global_delete"
        writes.append({"Put": {"TableName": table, "Item": audit_item(action, args.detector, by, now, detail),
                               "ConditionExpression": "attribute_not_exists(PK)"}})
        # The flag and its audit entry together, or neither.
        client.transact_write_items(TransactItems=writes)
    except Refused as e:
        print(f"global-flag.py: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - an AWS error is reported, not a traceback
        print(f"global-flag.py: AWS refused: {e}", file=sys.stderr)
        return 1
    print(f"{action} {args.detector} by {by}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
