"""EventBridge: PutEvents over HTTP (AWS JSON 1.1), the bus resource policy for cross-account
senders, rule matching (moto's EventPattern matcher) and delivery to SQS and Lambda targets.
"""
from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .runtime import QuietThreadingHTTPServer

if TYPE_CHECKING:
    from .cloud import LocalCloud

log = logging.getLogger("localcloud.events")

MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024

try:  # moto's matcher: prefix, suffix, anything-but, exists, numeric, wildcard, $or...
    from moto.events.models import EventPattern as _MotoPattern

    def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
        return _MotoPattern(None, pattern).matches_event(event)

except ImportError:  # pragma: no cover - a minimal matcher
    def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
        return _match(pattern, event)


def _match(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(_match(p, value.get(k, _MISSING)) for k, p in pattern.items())
    values = value if isinstance(value, list) else [value]
    for f in pattern:
        if isinstance(f, dict):
            (op, arg), = f.items()
            if op == "exists" and (value is not _MISSING) == bool(arg):
                return True
            if value is _MISSING:
                continue
            for v in values:
                if op == "prefix" and isinstance(v, str) and v.startswith(arg):
                    return True
                if op == "suffix" and isinstance(v, str) and v.endswith(arg):
                    return True
                if op == "anything-but":
                    excluded = arg if isinstance(arg, list) else [arg]
                    if v not in excluded:
                        return True
                if op == "numeric" and isinstance(v, (int, float)):
                    ok = True
                    for i in range(0, len(arg), 2):
                        o, n = arg[i], arg[i + 1]
                        ok &= {"<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n, "=": v == n}[o]
                    if ok:
                        return True
        elif value is not _MISSING and f in values:
            return True
    return False


_MISSING = object()


@dataclass
class Rule:
    logical_id: str
    name: str
    arn: str
    bus: str
    pattern: dict[str, Any] | None
    state: str
    targets: list[dict[str, Any]]


@dataclass
class Delivery:
    """One event delivered (or not) to one target, for journeys and debugging."""

    rule: str
    target: str
    event_id: str
    ok: bool
    error: str | None = None
    time: float = field(default_factory=lambda: dt.datetime.now().timestamp())


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_path(obj: Any, path: str) -> Any:
    """The subset of JSONPath EventBridge uses: $.a.b[0]."""
    if path in ("$", ""):
        return obj
    cur = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path.lstrip("$").lstrip(".")):
        if part.startswith("["):
            idx = int(part[1:-1])
            cur = cur[idx] if isinstance(cur, list) and idx < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


class EventBridge:
    def __init__(self, cloud: "LocalCloud") -> None:
        self.cloud = cloud
        t = cloud.template
        self.account = t.account
        self.region = t.region
        # bus name -> {"arn", "policy": [statements]}
        self.buses: dict[str, dict[str, Any]] = {
            "default": {"arn": f"arn:aws:events:{t.region}:{t.account}:event-bus/default", "statements": []}
        }
        p = cloud.provisioner
        for lid in p.ids("AWS::Events::EventBus"):
            props = p.record(lid)
            name = t.get_att(lid, "Name")
            stmts: list[dict[str, Any]] = []
            pol = props.get("Policy")
            if pol:
                pol = json.loads(pol) if isinstance(pol, str) else pol
                stmts.extend(pol.get("Statement", []))
            self.buses[name] = {"arn": t.get_att(lid, "Arn"), "statements": stmts, "logical_id": lid}
        for lid in p.ids("AWS::Events::EventBusPolicy"):
            props = p.record(lid)
            bus = str(props.get("EventBusName") or "default").split("/")[-1]
            if "Statement" in props:
                st = props["Statement"]
                stmts = st if isinstance(st, list) else [st]
            else:  # the legacy form: Principal + Action (+ Condition)
                stmts = [{
                    "Sid": props.get("StatementId"),
                    "Effect": "Allow",
                    "Principal": {"AWS": props.get("Principal")},
                    "Action": props.get("Action"),
                    "Resource": self.buses.get(bus, {}).get("arn", "*"),
                    **({"Condition": _legacy_condition(props["Condition"])} if props.get("Condition") else {}),
                }]
            self.buses.setdefault(bus, {"arn": f"arn:aws:events:{t.region}:{t.account}:event-bus/{bus}", "statements": []})
            self.buses[bus]["statements"].extend(stmts)
        self.rules: list[Rule] = []
        for lid in p.ids("AWS::Events::Rule"):
            props = p.record(lid)
            bus = str(props.get("EventBusName") or "default")
            bus = bus.split("/")[-1] if bus.startswith("arn:") else bus
            pat = props.get("EventPattern")
            if isinstance(pat, str):
                pat = json.loads(pat)
            ref = t.ref(lid)
            name = props.get("Name") or (ref.split("|")[-1] if isinstance(ref, str) else lid)
            if props.get("ScheduleExpression") and not pat:
                log.debug("rule %s is a schedule rule (%s): not run", lid, props["ScheduleExpression"])
                continue
            self.rules.append(Rule(lid, name, t.get_att(lid, "Arn"), bus, pat, props.get("State", "ENABLED"), props.get("Targets", [])))
        self.events: list[dict[str, Any]] = []  # every event accepted on a bus
        self.rejected: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self.server = QuietThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="eventbridge", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- PutEvents ---------------------------------------------------------------------------
    def put_events(self, entries: list[dict[str, Any]], sender_account: str) -> dict[str, Any]:
        out = []
        failed = 0
        for e in entries:
            res = self._put_one(e, sender_account)
            if "ErrorCode" in res:
                failed += 1
            out.append(res)
        return {"FailedEntryCount": failed, "Entries": out}

    def _bus_of(self, name_or_arn: str | None) -> tuple[str | None, str]:
        n = name_or_arn or "default"
        if n.startswith("arn:"):
            parts = n.split(":")
            acct = parts[4] if len(parts) > 4 else ""
            name = n.split("/", 1)[-1]
            if acct != self.account:
                return None, name
            return (name if name in self.buses else None), name
        return (n if n in self.buses else None), n

    def _put_one(self, e: dict[str, Any], sender: str) -> dict[str, Any]:
        source, dtype, detail = e.get("Source"), e.get("DetailType"), e.get("Detail")
        if not source or not dtype or detail is None:
            missing = ", ".join(k for k, v in (("Source", source), ("DetailType", dtype), ("Detail", detail)) if not v)
            return self._reject(e, sender, "InvalidArgument", f"Parameter(s) {missing} is not valid.")
        try:
            detail_obj = json.loads(detail) if isinstance(detail, str) else detail
        except ValueError:
            detail_obj = None
        if not isinstance(detail_obj, dict):
            return self._reject(e, sender, "MalformedDetail", "Detail is malformed.")
        if str(source).startswith("aws."):
            # Only AWS services publish aws.* events (a rule forwarding them keeps the source).
            return self._reject(e, sender, "NotAuthorizedForSourceException", "Not authorized for the source.")
        bus, name = self._bus_of(e.get("EventBusName"))
        if bus is None:
            return self._reject(e, sender, "ResourceNotFoundException", f"Event bus {name} does not exist.")
        t = e.get("Time")
        when = dt.datetime.now(dt.timezone.utc)
        if isinstance(t, (int, float)):
            when = dt.datetime.fromtimestamp(t, dt.timezone.utc)
        elif isinstance(t, str) and t:
            try:
                when = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
            except ValueError:
                pass
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": dtype,
            "source": source,
            "account": sender,
            "time": _iso(when),
            "region": self.region,
            "resources": list(e.get("Resources") or []),
            "detail": detail_obj,
        }
        denied = self._policy_denies(bus, event, sender)
        if denied:
            return self._reject(e, sender, "AccessDeniedException", denied)
        self.accept(bus, event)
        return {"EventId": event["id"]}

    def _reject(self, e: dict[str, Any], sender: str, code: str, msg: str) -> dict[str, Any]:
        log.warning("PutEvents from %s refused: %s: %s (%s/%s)", sender, code, msg, e.get("Source"), e.get("DetailType"))
        with self._lock:
            self.rejected.append({"entry": e, "account": sender, "ErrorCode": code, "ErrorMessage": msg})
        return {"ErrorCode": code, "ErrorMessage": msg}

    def forward(self, event: dict[str, Any], bus: str | None = None) -> str | None:
        """An event another account's rule forwards to this bus (an event-bus target): it keeps
        its source, id and account; the bus policy decides. Returns the error or None."""
        b, name = self._bus_of(bus or self.cloud.bus_name)
        if b is None:
            return f"ResourceNotFoundException: Event bus {name} does not exist."
        ev = copy.deepcopy(event)
        ev.setdefault("version", "0")
        ev.setdefault("id", str(uuid.uuid4()))
        ev.setdefault("time", _iso(dt.datetime.now(dt.timezone.utc)))
        ev.setdefault("region", self.region)
        ev.setdefault("resources", [])
        ev.setdefault("account", self.account)
        denied = self._policy_denies(b, ev, ev["account"])
        if denied:
            log.warning("forwarded event from %s refused: %s", ev["account"], denied)
            with self._lock:
                self.rejected.append({"event": ev, "account": ev["account"], "ErrorCode": "AccessDeniedException", "ErrorMessage": denied})
            return "AccessDeniedException: " + denied
        self.accept(b, ev)
        return None

    # ---- the bus policy ----------------------------------------------------------------------
    def _policy_denies(self, bus: str, event: dict[str, Any], sender: str) -> str | None:
        if sender == self.account:
            return None  # the bus's own account: IAM decides (the functions' roles are not checked)
        info = self.buses[bus]
        arn = info["arn"]
        for st in info["statements"]:
            if self._statement_allows(st, event, sender, arn):
                return None
        return (f"User: arn:aws:iam::{sender}:root is not authorized to perform: events:PutEvents on resource: "
                f"{arn} because no resource-based policy allows the events:PutEvents action")

    def _statement_allows(self, st: dict[str, Any], event: dict[str, Any], sender: str, bus_arn: str) -> bool:
        if st.get("Effect") != "Allow":
            return False
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("events:PutEvents", a) for a in actions):
            return False
        res = st.get("Resource", "*")
        res = [res] if isinstance(res, str) else res
        if not any(fnmatch.fnmatchcase(bus_arn, r) for r in res):
            return False
        principal = st.get("Principal")
        if principal != "*":
            aws = principal.get("AWS", []) if isinstance(principal, dict) else []
            aws = [aws] if isinstance(aws, str) else aws
            ok = False
            for a in aws:
                a = str(a)
                if a == "*" or a == sender or a == f"arn:aws:iam::{sender}:root":
                    ok = True
            if not ok:
                return False
        for op, conds in (st.get("Condition") or {}).items():
            for key, want in conds.items():
                wants = [want] if isinstance(want, str) else list(want)
                k = key.lower()
                if op not in ("StringEquals", "StringLike"):
                    log.warning("bus policy condition %s on %s: not evaluated locally: deny", op, key)
                    return False
                if k == "events:detail-type":
                    have = event["detail-type"]
                elif k == "events:source":
                    have = event["source"]
                elif k == "aws:principalaccount":
                    have = sender
                else:
                    # aws:PrincipalOrgID and the rest cannot be checked here.
                    log.warning("bus policy condition %s cannot be checked locally: deny", key)
                    return False
                match = (lambda w: fnmatch.fnmatchcase(have, w)) if op == "StringLike" else (lambda w: have == w)
                if not any(match(w) for w in wants):
                    return False
        return True

    # ---- rules and targets -------------------------------------------------------------------
    def accept(self, bus: str, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append({"bus": bus, "event": event})
        matched = False
        for rule in self.rules:
            if rule.bus != bus or rule.state != "ENABLED":
                continue
            if rule.pattern is None or not pattern_matches(rule.pattern, event):
                continue
            matched = True
            for target in rule.targets:
                self._deliver(rule, target, event)
        if not matched:
            log.info("event %s %s/%s from %s matched no rule on %s", event["id"], event["source"], event["detail-type"], event["account"], bus)

    def _transform(self, rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> str:
        if "Input" in target:
            return target["Input"] if isinstance(target["Input"], str) else json.dumps(target["Input"])
        if "InputPath" in target:
            return json.dumps(_json_path(event, target["InputPath"]))
        it = target.get("InputTransformer")
        if it:
            paths = it.get("InputPathsMap") or {}
            if isinstance(paths, str):
                paths = json.loads(paths)
            values = {k: _json_path(event, v) for k, v in paths.items()}
            values.update({
                "aws.events.rule-arn": rule.arn,
                "aws.events.rule-name": rule.name,
                "aws.events.event.ingestion-time": event["time"],
                "aws.events.event": json.dumps(event),
                "aws.events.event.json": json.dumps(event),
            })
            tpl = it["InputTemplate"]

            def repl(m: re.Match[str]) -> str:
                k = m.group(1)
                if k not in values:
                    return m.group(0)
                v = values[k]
                if v is None:
                    return "null"
                return v if isinstance(v, str) else json.dumps(v)

            return re.sub(r"<([A-Za-z0-9_.\-]+)>", repl, tpl)
        return json.dumps(event)

    def _deliver(self, rule: Rule, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = str(target.get("Arn", ""))
        body = self._transform(rule, target, event)
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        try:
            if service == "sqs":
                self.cloud.send_to_queue_arn(arn, body, group_id=(target.get("SqsParameters") or {}).get("MessageGroupId"))
            elif service == "kinesis":
                path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
                # Without a path EventBridge uses the event's id as the partition key.
                key = _json_path(event, path) if path else None
                self.cloud.put_to_stream_arn(arn, body, str(key) if key not in (None, "") else event["id"])
            elif service == "lambda":
                fn = self.cloud.function_by_arn(arn)
                if fn is None:
                    raise DeliveryError("ResourceNotFoundException", f"Function not found: {arn}")
                if not self.cloud.permits(fn.name, "events.amazonaws.com", rule.arn):
                    raise DeliveryError("AccessDeniedException",
                                        f"no AWS::Lambda::Permission lets events.amazonaws.com invoke {fn.name} from {rule.arn}")
                self.cloud.invoke_async(fn.name, body.encode(), source=f"events:{rule.name}")
            elif service == "events":
                self.forward_to_bus(arn, body)
            else:
                raise DeliveryError("UnsupportedTarget", f"target {arn} is not emulated")
            self.deliveries.append(Delivery(rule.logical_id, arn, event["id"], True))
        except Exception as e:  # noqa: BLE001
            code = e.code if isinstance(e, DeliveryError) else type(e).__name__
            msg = str(e)
            self.deliveries.append(Delivery(rule.logical_id, arn, event["id"], False, f"{code}: {msg}"))
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            log.error("rule %s: delivery of %s to %s failed: %s: %s%s", rule.name, event["id"], arn, code, msg,
                      f" -> DLQ {dlq}" if dlq else " (no DLQ: event dropped)")
            if dlq:
                self.cloud.send_to_queue_arn(dlq, body, attributes={
                    "RULE_ARN": rule.arn, "TARGET_ARN": arn, "ERROR_CODE": code, "ERROR_MESSAGE": msg[:1000],
                })

    def forward_to_bus(self, arn: str, body: str) -> None:
        ev = json.loads(body)
        err = self.forward(ev, arn)
        if err:
            raise DeliveryError("AccessDeniedException", err)


def _json_path(event: dict[str, Any], path: str) -> Any:
    """A simple JSONPath (`$.a.b`) into the event, as a Kinesis target's PartitionKeyPath."""
    value: Any = event
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class DeliveryError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code


def _legacy_condition(c: dict[str, Any]) -> dict[str, Any]:
    # EventBusPolicy's legacy Condition {Type, Key, Value} -> IAM form.
    return {c.get("Type", "StringEquals"): {c.get("Key", ""): c.get("Value", "")}}


_CRED = re.compile(r"Credential=([^/,\s]+)/")


def _handler_for(eb: EventBridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # events are in cloud.events.events / .rejected

        def _send(self, status: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            target = self.headers.get("X-Amz-Target", "")
            m = _CRED.search(self.headers.get("Authorization", ""))
            akid = m.group(1) if m else ""
            sender = akid if re.fullmatch(r"\d{12}", akid) else eb.account
            if target != "AWSEvents.PutEvents":
                self._send(400, {"__type": "UnknownOperationException", "message": f"{target} is not emulated by the local cloud"})
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, {"__type": "SerializationException", "message": "body is not JSON"})
                return
            entries = body.get("Entries") or []
            if not entries or len(entries) > MAX_ENTRIES:
                self._send(400, {"__type": "ValidationException",
                                 "message": f"1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to {MAX_ENTRIES}"})
                return
            if len(raw) > MAX_REQUEST_BYTES:
                self._send(400, {"__type": "ValidationException", "message": "Total size of the entries in the request is over the limit."})
                return
            self._send(200, eb.put_events(entries, sender))

    return Handler
