"""CloudTrail's event history, as dd0c's backfill meets it: `LookupEvents` (JSON 1.1,
`X-Amz-Target: CloudTrail_20131101.LookupEvents`), which
moto does not implement (moto 5.2.5 answers 500).

Each customer account has its own history (`add_history(account, records)`). A request is
signed with the credentials of the role dd0c assumed on moto; which account they belong to,
moto cannot say when it runs with `MOTO_ACCOUNT_ID` (its `GetCallerIdentity` then answers the
default account for an assumed role's key). So the fake is also the functions' STS endpoint: it
passes every STS call to moto unchanged and remembers, from each `AssumeRole` answer, which
account the new access key is in. The region is the signature's credential scope. As AWS: newest first,
`ReadOnly` = `false` leaves read-only events out, `StartTime`/`EndTime` bound the event time,
`MaxResults` (≤ 50) events a page with a `NextToken`; a region outside `enabled_regions`
answers `UnrecognizedClientException` (the assumed role's token is not valid there), and
`throttle_next(n)` answers the next n requests `ThrottlingException`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.request
from typing import Any

from ._http import FakeServer, Request, Response

# The AWS CLI sends the long form, the Rust SDK the short one.
TARGETS = ("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", "CloudTrail_20131101.LookupEvents")


def _time(value: Any) -> dt.datetime:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class CloudTrailFake(FakeServer):
    def __init__(self, moto_url: str, enabled_regions: tuple[str, ...] = ("us-east-1", "us-west-2", "eu-west-1"),
                 page_size: int = 50) -> None:
        super().__init__()
        self.moto_url = moto_url
        self.enabled_regions = set(enabled_regions)
        self.page_size = page_size
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.lookups: list[dict[str, Any]] = []  # account, region, body of each LookupEvents
        self._throttle = 0
        self._accounts: dict[str, str] = {}

    def add_history(self, account: str, records: list[dict[str, Any]]) -> None:
        with self.lock:
            self.history.setdefault(account, []).extend(records)

    def throttle_next(self, n: int) -> None:
        with self.lock:
            self._throttle = n

    def lookups_of(self, account: str) -> list[dict[str, Any]]:
        with self.lock:
            return [lk for lk in self.lookups if lk["account"] == account]

    def _sts(self, request: Request) -> Response:
        """STS, passed to moto as it came; an AssumeRole answer teaches key → account."""
        headers = {k: v for k, v in request.headers.items() if k not in ("host", "content-length")}
        forward = urllib.request.Request(self.moto_url + request.path, data=request.body, headers=headers,
                                         method=request.method)
        try:
            with urllib.request.urlopen(forward, timeout=30) as r:
                status, body, content_type = r.status, r.read(), r.headers.get("Content-Type", "text/xml")
        except urllib.error.HTTPError as e:
            status, body, content_type = e.code, e.read(), e.headers.get("Content-Type", "text/xml")
        text = body.decode("utf-8", "replace")
        key = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", text)
        arn = re.search(r"<Arn>arn:aws[\w-]*:sts::(\d{12}):assumed-role/", text)
        if key and arn:
            with self.lock:
                self._accounts[key.group(1)] = arn.group(1)
        return Response(status, body, {"Content-Type": content_type})

    @staticmethod
    def _error(code: str, message: str) -> Response:
        return Response.json({"__type": code, "message": message}, 400,
                             {"Content-Type": "application/x-amz-json-1.1"})

    def handle(self, request: Request) -> Response:
        if request.header("x-amz-target") is None:
            return self._sts(request)
        if request.header("x-amz-target") not in TARGETS:
            return self._error("UnknownOperationException", f"not faked: {request.header('x-amz-target')}")
        scope = (request.header("authorization") or "").split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        if len(scope) < 3:
            return self._error("MissingAuthenticationTokenException", "unsigned request")
        access_key, region = scope[0], scope[2]
        body = request.json() or {}
        with self.lock:
            account = self._accounts.get(access_key)
        if account is None:
            return self._error("UnrecognizedClientException", "The security token included in the request is invalid.")
        with self.lock:
            self.lookups.append({"account": account, "region": region, "body": body})
            if self._throttle > 0:
                self._throttle -= 1
                return self._error("ThrottlingException", "Rate exceeded")
        if region not in self.enabled_regions:
            return self._error("UnrecognizedClientException", "The security token included in the request is invalid.")
        attrs = {a.get("AttributeKey"): a.get("AttributeValue") for a in body.get("LookupAttributes") or []}
        start = _time(body["StartTime"]) if "StartTime" in body else None
        end = _time(body["EndTime"]) if "EndTime" in body else None
        with self.lock:
            records = list(self.history.get(account, []))
        chosen = []
        for r in records:
            t = _time(r["eventTime"])
            if r.get("awsRegion") != region or (start and t < start) or (end and t > end):
                continue
            if attrs.get("ReadOnly") is not None and str(r.get("readOnly", False)).lower() != attrs["ReadOnly"]:
                continue
            chosen.append((t, r))
        chosen.sort(key=lambda tr: tr[0], reverse=True)
        size = min(int(body.get("MaxResults") or 50), self.page_size)
        offset = int(str(body.get("NextToken", "page-0")).removeprefix("page-") or 0)
        page = chosen[offset:offset + size]
        out: dict[str, Any] = {"Events": [{
            "EventId": r["eventID"], "EventName": r["eventName"], "ReadOnly": str(r.get("readOnly", False)).lower(),
            "EventTime": t.timestamp(), "EventSource": r.get("eventSource"),
            "CloudTrailEvent": json.dumps(r),
        } for t, r in page]}
        if offset + size < len(chosen):
            out["NextToken"] = f"page-{offset + size}"
        return Response.json(out, headers={"Content-Type": "application/x-amz-json-1.1"})
