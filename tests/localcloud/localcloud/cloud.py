"""LocalCloud: the synthesized stack, run locally from its CloudFormation template.

    cloud = LocalCloud(template_path).start()
    ...
    cloud.close()

See docs/decisions/0800-local-cloud.md.
"""
from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fnmatch
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import boto3
from botocore.config import Config

from .apigw import HttpApi
from .esm import KinesisPoller, SqsPoller
from .eventbridge import EventBridge
from .provision import Provisioner
from .runtime import FunctionError, InvocationRecord, LambdaFunction, binary_for
from .template import Template
from .web import Web

log = logging.getLogger("localcloud")

REPO = Path(__file__).resolve().parents[3]
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self, executable: str | None = None, log_path: Path | None = None, account: str = "111111111111") -> None:
        # moto_server.py: moto with SQS FIFO receives filled group by group, as SQS fills them.
        # Not MOTO_SERVER: the Makefile exports that (plain moto) for the Rust conformance tests.
        exe = executable or os.environ.get("LOCALCLOUD_MOTO_SERVER")
        cmd = [exe] if exe else [sys.executable, str(Path(__file__).with_name("moto_server.py"))]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        env = {**os.environ, "MOTO_PORT": str(self.port), "MOTO_ACCOUNT_ID": account}
        self.proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(self.port)], stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        if log_path:
            out.close()  # type: ignore[union-attr]
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.proc.returncode} (log: {log_path})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("moto_server did not start within 30 s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class LocalCloud:
    def __init__(
        self,
        template_path: str | Path,
        *,
        target_dir: str | Path | None = None,
        log_dir: str | Path | None = None,
        time_compression: float = 60.0,
        async_retry_delays_s: tuple[float, ...] | None = None,
        parameters: dict[str, str] | None = None,
        function_prefix: str | None = None,
        fakes: bool = True,
        max_concurrency: int | None = None,
    ) -> None:
        self.template_path = Path(template_path)
        doc = json.loads(self.template_path.read_text())
        stack_name = self.template_path.name.removesuffix(".template.json")
        self.template = Template(doc, stack_name, parameters)
        self.stack_name = stack_name
        self.function_prefix = function_prefix if function_prefix is not None else stack_name + "-"
        self.target_dir = Path(target_dir) if target_dir else REPO / "target" / "debug"
        # LOCALCLOUD_LOG_DIR: a run of its own (two runs at once would share the default's files).
        self.log_dir = Path(log_dir or os.environ.get("LOCALCLOUD_LOG_DIR") or REPO / "target" / "e2e" / "logs")
        self.time_compression = float(time_compression)
        # Lambda's async retries wait about 1 and 2 minutes; compressed like visibility timeouts.
        self.async_retry_delays_s = async_retry_delays_s or (60 / self.time_compression, 120 / self.time_compression)
        self.use_fakes = fakes
        # Execution environments per function when the template reserves no concurrency
        # (None: LOCALCLOUD_MAX_CONCURRENCY, default 4; runtime.default_max_concurrency).
        self.max_concurrency = max_concurrency
        self.functions: dict[str, LambdaFunction] = {}
        self.invocations: list[InvocationRecord] = []
        self.dropped_async: list[dict[str, Any]] = []
        self.pollers: list[SqsPoller | KinesisPoller] = []
        self.schedules: dict[str, dict[str, Any]] = {}
        self.alarms: dict[str, dict[str, Any]] = {}
        self.skipped_functions: dict[str, str] = {}
        self.slack: Any = None
        self.stripe: Any = None
        self.cloudtrail: Any = None
        self.otel: Any = None
        self.hosted_ui: Any = None
        self._async: dict[str, "queue.Queue[tuple[bytes, str, str]]"] = {}
        self._async_busy: dict[str, int] = {}
        self._async_workers: dict[str, int] = {}
        self._async_lock = threading.Lock()
        self._closed = False
        self._started = False
        self.moto: MotoServer | None = None
        self.events: EventBridge | None = None
        self.api: HttpApi | None = None
        self.apis: dict[str, HttpApi] = {}
        self.web: Web | None = None
        self.dashboard_url: str | None = None

    # =========================================================================================
    # lifecycle
    # =========================================================================================
    def start(self) -> "LocalCloud":
        t0 = time.time()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.close)
        _exit_on_sigterm()
        self.moto = MotoServer(log_path=self.log_dir / "moto.log", account=self.template.account)
        self.moto_url = self.moto.url
        self.session = boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                             region_name=self.template.region)
        # Many threads share these clients (pollers' loops, async workers, the gateway).
        cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                     max_pool_connections=64)
        self._clients: dict[str, Any] = {}
        for svc in ("sqs", "dynamodb", "kms", "secretsmanager", "cognito-idp", "sns", "sts", "kinesis"):
            self._clients[svc] = self.session.client(svc, endpoint_url=self.moto_url, config=cfg)
        self.sqs = self._clients["sqs"]
        self.dynamodb = self._clients["dynamodb"]
        self.secretsmanager = self._clients["secretsmanager"]
        self.kms = self._clients["kms"]
        self.kinesis = self._clients["kinesis"]
        self.cognito_client = self._clients["cognito-idp"]
        self.provisioner = Provisioner(self.template, self._clients)
        # CloudFront's ports are taken before anything resolves a distribution's DomainName (web.py).
        self.web = Web(self)
        self.provisioner.run()
        self.outputs = self.template.outputs()
        self._index()
        self.events = EventBridge(self)
        self.events_url = self.events.url
        self._start_fakes()
        self._make_functions()
        for aid in self.provisioner.ids("AWS::ApiGatewayV2::Api"):
            if self.provisioner.record(aid).get("ProtocolType", "HTTP") == "HTTP":
                self.apis[aid] = HttpApi(self, aid)
        self.api = next(iter(self.apis.values()), None)
        self.api_url = self.api.url if self.api else None
        self.dashboard_url = self.web.start().url
        for lid in self.provisioner.ids("AWS::Lambda::EventSourceMapping"):
            props = self.provisioner.record(lid)
            if ":kinesis:" in str(props.get("EventSourceArn", "")) and self.function_or_none(props["FunctionName"]):
                self.pollers.append(KinesisPoller(self, lid, props))
                continue
            if ":sqs:" not in str(props.get("EventSourceArn", "")):
                log.debug("event source mapping %s: %s not emulated", lid, props.get("EventSourceArn"))
                continue
            if self.function_or_none(props["FunctionName"]) is None:
                log.warning("event source mapping %s: function %s not runnable: not polled", lid, props["FunctionName"])
                continue
            self.pollers.append(SqsPoller(self, lid, props))
        for p in self.pollers:
            p.start()
        self._started = True
        if self.template.unresolved_types:
            log.debug("plausible values only for: %s", sorted(self.template.unresolved_types))
        log.info("local cloud up in %.1fs: moto %s, api %s, events %s, %d functions, %d pollers",
                 time.time() - t0, self.moto_url, self.api_url, self.events_url, len(self.functions), len(self.pollers))
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for p in self.pollers:
            p.stop()
        with self._async_lock:
            for name, q in self._async.items():
                for _ in range(self._async_workers.get(name, 1)):
                    q.put((b"", "", "__stop__", 0))
        for fn in self.functions.values():
            log.info("%s: peak resident memory %.0f MB of its %d MB", fn.name, fn.peak_rss_mb, fn.memory_mb)
            try:
                fn.close()
            except Exception:  # noqa: BLE001
                log.exception("closing %s", fn.name)
        for p in self.pollers:
            p.join(3)
        for api in self.apis.values():
            api.close()
        if self.events:
            self.events.close()
        if self.web:
            self.web.close()
        for fake in (self.slack, self.stripe, self.hosted_ui, self.cloudtrail):
            stop = getattr(fake, "stop", None)
            if stop:
                try:
                    stop()
                except Exception:  # noqa: BLE001
                    log.exception("closing a fake")
        if self.moto:
            self.moto.close()

    def __enter__(self) -> "LocalCloud":
        return self.start() if not self._started else self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # =========================================================================================
    # indexes over the template
    # =========================================================================================
    def _index(self) -> None:
        t, p = self.template, self.provisioner
        self.queues: dict[str, str] = {}  # name -> url
        self.queue_arns: dict[str, str] = {}  # arn -> name
        self.queue_logical: dict[str, str] = {}  # logical id -> name
        for lid in p.ids("AWS::SQS::Queue"):
            name = t.get_att(lid, "QueueName")
            self.queues[name] = t.ref(lid)
            self.queue_arns[t.get_att(lid, "Arn")] = name
            self.queue_logical[lid] = name
        tables = p.ids("AWS::DynamoDB::Table")
        self.table_name = t.ref(tables[0]) if tables else None
        self.table = boto3.resource("dynamodb", endpoint_url=self.moto_url, region_name=t.region,
                                    aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY).Table(self.table_name) if tables else None
        pools = p.ids("AWS::Cognito::UserPool")
        self.user_pool_id = t.ref(pools[0]) if pools else None
        clients = p.ids("AWS::Cognito::UserPoolClient")
        self.client_id = t.ref(clients[0]) if clients else None
        domains = p.ids("AWS::Cognito::UserPoolDomain")
        self.cognito_domain = p.record(domains[0]).get("Domain") if domains else None
        buses = p.ids("AWS::Events::EventBus")
        self.bus_name = t.get_att(buses[0], "Name") if buses else "default"
        self.secrets: dict[str, str] = {}  # logical id and name -> ARN
        for lid in p.ids("AWS::SecretsManager::Secret"):
            arn = t.ref(lid)
            self.secrets[lid] = arn
            name = p.record(lid).get("Name")
            if name:
                self.secrets[name] = arn
        self.permissions: list[dict[str, Any]] = []
        for lid in p.ids("AWS::Lambda::Permission"):
            pr = p.record(lid)
            self.permissions.append({
                "function": _function_name(str(pr.get("FunctionName", ""))),
                "principal": pr.get("Principal"),
                "source_arn": pr.get("SourceArn"),
                "action": pr.get("Action"),
            })
        self.invoke_configs: dict[str, dict[str, Any]] = {}
        for lid in p.ids("AWS::Lambda::EventInvokeConfig"):
            pr = p.record(lid)
            self.invoke_configs[_function_name(str(pr.get("FunctionName", "")))] = pr
        for lid in p.ids("AWS::Scheduler::Schedule"):
            pr = p.record(lid)
            rec = {**pr, "logical_id": lid, "name": pr.get("Name") or t.ref(lid), "arn": t.get_att(lid, "Arn")}
            self.schedules[lid] = rec
            self.schedules[rec["name"]] = rec
        for lid in p.ids("AWS::CloudWatch::Alarm"):
            pr = p.record(lid)
            self.alarms[lid] = {**pr, "logical_id": lid, "name": pr.get("AlarmName") or t.ref(lid)}

    # =========================================================================================
    # fakes (Slack, Stripe, Cognito hosted UI): started when the fakes package exists
    # =========================================================================================
    def _start_fakes(self) -> None:
        self.fake_env: dict[str, str] = {}
        self.slack_url = self.stripe_url = self.hosted_ui_url = None
        if not self.use_fakes:
            return
        try:
            from .fakes import cloudtrail as _ct, hosted_ui as _hu, slack as _sl, stripe as _st
        except ImportError as e:
            log.info("localcloud.fakes not importable (%s): SLACK_API_URL / STRIPE_API_URL not set", e)
            return
        if hasattr(_sl, "SlackFake"):
            self.slack = _sl.SlackFake()
            self.slack_url = self.slack.start()
            self.fake_env["SLACK_API_URL"] = self.slack_url
        if hasattr(_st, "StripeFake"):
            self.stripe = _st.StripeFake()
            self.stripe_url = self.stripe.start()
            self.fake_env["STRIPE_API_URL"] = self.stripe_url
        # The ADOT collector layer's part: every function's spans, every event traced.
        from .fakes import otel_collector as _otel
        self.otel = _otel.OtelCollectorFake()
        self.fake_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otel.start()
        self.fake_env["DD0C_TRACE_SAMPLE_PERCENT"] = "100"
        # moto has no CloudTrail LookupEvents: the backfill reads the fake's event history (the
        # fake also passes STS to moto, to learn which account an assumed role's key is in).
        self.cloudtrail = _ct.CloudTrailFake(self.moto_url, page_size=2)
        self.fake_env["AWS_ENDPOINT_URL_CLOUDTRAIL"] = self.fake_env["AWS_ENDPOINT_URL_STS"] = self.cloudtrail.start()
        clients = self.provisioner.ids("AWS::Cognito::UserPoolClient")
        if hasattr(_hu, "HostedUi") and clients:
            cp = self.provisioner.record(clients[0])
            self.hosted_ui = _hu.HostedUi(self.cognito_client, self.user_pool_id, self.client_id,
                                          cp.get("CallbackURLs") or [], cp.get("LogoutURLs") or [])
            self.hosted_ui_url = self.hosted_ui.start()

    # =========================================================================================
    # functions
    # =========================================================================================
    def _make_functions(self) -> None:
        t, p = self.template, self.provisioner
        for lid in p.ids("AWS::Lambda::Function"):
            props = p.record(lid)
            name = props.get("FunctionName") or t.ref(lid)
            binary = binary_for(name, self.function_prefix, self.target_dir)
            if binary is None:
                why = (f"no binary {self.target_dir / name[len(self.function_prefix):]}" if name.startswith(self.function_prefix)
                       else f"not a {self.function_prefix}* function ({props.get('Runtime')} {props.get('Handler')})")
                self.skipped_functions[name] = why
                log.debug("function %s (%s) not run: %s", name, lid, why)
                continue
            env = (props.get("Environment") or {}).get("Variables") or {}
            extra = {
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_REGION": t.region,
                "AWS_DEFAULT_REGION": t.region,
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ENDPOINT_URL_EVENTBRIDGE": self.events_url,
                "_HANDLER": str(props.get("Handler", "bootstrap")),
                **self.fake_env,
            }
            fn = LambdaFunction(
                name=name,
                logical_id=lid,
                binary=binary,
                arn=t.get_att(lid, "Arn"),
                template_env={k: str(v) for k, v in env.items()},
                extra_env=extra,
                timeout_s=int(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                log_path=self.log_dir / f"{name[len(self.function_prefix):]}.log",
                get_secret=self._secret_value,
                reserved_concurrency=props.get("ReservedConcurrentExecutions"),
                max_concurrency=self.max_concurrency,
            )
            self.functions[name] = fn

    def function_or_none(self, ref: str) -> LambdaFunction | None:
        """By short name (ingest), full name, ARN or logical id."""
        if ref in self.functions:
            return self.functions[ref]
        if self.function_prefix + ref in self.functions:
            return self.functions[self.function_prefix + ref]
        name = _function_name(ref)
        if name in self.functions:
            return self.functions[name]
        for fn in self.functions.values():
            if fn.logical_id == ref:
                return fn
        return None

    def function(self, ref: str) -> LambdaFunction:
        fn = self.function_or_none(ref)
        if fn is None:
            skipped = self.skipped_functions.get(ref) or self.skipped_functions.get(self.function_prefix + ref)
            raise KeyError(f"no runnable function {ref!r}" + (f": {skipped}" if skipped else f" (have {sorted(self.functions)})"))
        return fn

    def function_by_arn(self, arn: str) -> LambdaFunction | None:
        return self.function_or_none(arn)

    def function_env(self, name: str) -> dict[str, str]:
        """The environment the function's process gets (template + local cloud additions)."""
        return self.function(name).environment()

    def permits(self, function: str, principal: str, source_arn: str) -> bool:
        for p in self.permissions:
            if p["function"] != function or p["principal"] != principal:
                continue
            if p["action"] not in ("lambda:InvokeFunction", "lambda:*"):
                continue
            if not p["source_arn"] or fnmatch.fnmatchcase(source_arn, str(p["source_arn"])):
                return True
        return False

    def invoke(self, function: str, payload: Any, async_: bool = False, source: str = "test") -> Any:
        """Synchronous: the function's response (parsed JSON when it is JSON) or FunctionError.
        Asynchronous (async_=True): queued like Lambda's Event invocation; returns the request id."""
        fn = self.function(function)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if async_:
            return self.invoke_async(fn.name, data, source=source)
        try:
            decoded = json.loads(data)
        except ValueError:
            decoded = data.decode("utf-8", "replace")
        rec = InvocationRecord(fn.name, source, "", decoded)
        self.invocations.append(rec)
        try:
            rid, out = fn.invoke_raw(data)
        except FunctionError as e:
            rec.ok, rec.error = False, f"{e.error_type}: {e.message}"
            raise
        rec.request_id, rec.ok = rid, True
        try:
            rec.response = json.loads(out) if out else None
        except ValueError:
            rec.response = out.decode("utf-8", "replace")
        return rec.response

    def invocations_of(self, function: str) -> list[InvocationRecord]:
        name = self.function(function).name
        return [r for r in self.invocations if r.function == name]

    def restart(self, function: str) -> None:
        """A fresh cold start of the function on its next invocation."""
        self.function(function).restart()

    @contextlib.contextmanager
    def swap_function(self, function: str, command: list[str]) -> Iterator[LambdaFunction]:
        """Run `command` instead of the function's binary (same environment, same Runtime API),
        e.g. a stand-in that fails on purpose; the binary is back (cold) afterwards."""
        fn = self.function(function)
        self.wait_async_idle(30)  # earlier events are not handed to the stand-in
        old = fn.command
        # Command first, then restart: an environment started in between is retired too.
        fn.command = list(command)
        fn.restart()
        try:
            yield fn
        finally:
            fn.command = old
            fn.restart()

    # ---- asynchronous invocation (Lambda's internal queue, retries, destinations) -----------
    def invoke_async(self, function: str, payload: bytes, source: str = "test") -> str:
        """Lambda's Event invocation: queued, run by up to the function's concurrency workers at
        once; a failed attempt goes back to the queue after the (compressed) retry delay."""
        fn = self.function(function)
        rid = str(uuid.uuid4())
        with self._async_lock:
            q = self._async.get(fn.name)
            if q is None:
                q = self._async[fn.name] = queue.Queue()
                workers = fn.concurrency
                self._async_workers[fn.name] = workers
                for i in range(workers):
                    threading.Thread(target=self._async_worker, args=(fn.name, q), name=f"async-{fn.name}-{i}", daemon=True).start()
            self._async_busy[fn.name] = self._async_busy.get(fn.name, 0) + 1
        q.put((payload, source, rid, 0))
        return rid

    def _async_worker(self, name: str, q: "queue.Queue[tuple[bytes, str, str, int]]") -> None:
        while True:
            payload, source, rid, attempts = q.get()
            if rid == "__stop__" or self._closed:
                return
            finished = True
            try:
                finished = self._async_attempt(name, q, payload, source, rid, attempts)
            except Exception:  # noqa: BLE001
                log.exception("async invocation of %s", name)
            finally:
                if finished:
                    with self._async_lock:
                        self._async_busy[name] -= 1

    def _async_attempt(self, name: str, q: "queue.Queue[tuple[bytes, str, str, int]]", payload: bytes, source: str,
                       rid: str, attempts: int) -> bool:
        """One attempt of an async invocation. True when the invocation is finished (success or
        retries exhausted: destinations done); False when a retry was scheduled."""
        cfg = self.invoke_configs.get(name, {})
        retries = int(cfg.get("MaximumRetryAttempts", 2))
        attempts += 1
        try:
            response = self.invoke(name, payload, source=f"{source} (async, attempt {attempts})")
        except FunctionError as e:
            log.warning("async %s attempt %d failed: %s", name, attempts, e.message[:300])
            if attempts <= retries:
                delay = self.async_retry_delays_s[min(attempts - 1, len(self.async_retry_delays_s) - 1)]
                # Back to Lambda's internal queue after the delay; the worker takes other events.
                t = threading.Timer(delay, q.put, args=((payload, source, rid, attempts),))
                t.daemon = True
                t.start()
                return False
            self._async_done(name, payload, source, rid, attempts, e, None)
            return True
        self._async_done(name, payload, source, rid, attempts, None, response)
        return True

    def _async_done(self, name: str, payload: bytes, source: str, rid: str, attempts: int,
                    error: FunctionError | None, response: Any) -> None:
        cfg = self.invoke_configs.get(name, {})
        fn = self.function(name)
        dest = (cfg.get("DestinationConfig") or {})
        try:
            event = json.loads(payload)
        except ValueError:
            event = payload.decode("utf-8", "replace")
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if error is None:
            on_success = (dest.get("OnSuccess") or {}).get("Destination")
            if on_success:
                record = {"version": "1.0", "timestamp": now,
                          "requestContext": {"requestId": rid, "functionArn": f"{fn.arn}:$LATEST", "condition": "Success",
                                             "approximateInvokeCount": attempts},
                          "requestPayload": event,
                          "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
                          "responsePayload": response}
                self._send_destination(on_success, record, success=True)
            return
        record = {
            "version": "1.0",
            "timestamp": now,
            "requestContext": {"requestId": rid, "functionArn": f"{fn.arn}:$LATEST", "condition": "RetriesExhausted",
                               "approximateInvokeCount": attempts},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": error.payload,
        }
        delivered = False
        on_failure = (dest.get("OnFailure") or {}).get("Destination")
        if on_failure:
            try:
                self._send_destination(on_failure, record, success=False)
                delivered = True
            except Exception as e:  # noqa: BLE001
                log.error("on-failure destination %s of %s refused the record: %s", on_failure, name, e)
        fn_props = self.provisioner.record(fn.logical_id)
        dlq = (fn_props.get("DeadLetterConfig") or {}).get("TargetArn")
        if dlq and ":sqs:" in dlq:
            self.send_to_queue_arn(dlq, payload.decode("utf-8", "replace"), attributes={
                "RequestID": rid, "ErrorCode": "200", "ErrorMessage": error.message[:1000]})
            delivered = True
        if not delivered:
            log.error("!!! async invocation of %s (%s) failed %d times and %s has no on-failure destination "
                      "nor DLQ: the event is DROPPED: %s", name, source, attempts, name, error.message[:300])
            self.dropped_async.append({"function": name, "source": source, "request_id": rid, "event": event,
                                       "error": error.payload, "attempts": attempts})

    def _send_destination(self, arn: str, record: dict[str, Any], success: bool) -> None:
        service = arn.split(":")[2] if arn.count(":") >= 5 else ""
        body = json.dumps(record)
        if service == "sqs":
            if arn.endswith(".fifo"):
                # Lambda destinations are standard queues only (AWS refuses a FIFO one).
                raise ValueError(f"{arn}: a FIFO queue cannot be a Lambda destination")
            self.send_to_queue_arn(arn, body)
        elif service == "lambda":
            self.invoke_async(arn, body.encode(), source="destination")
        elif service == "events":
            assert self.events is not None
            self.events.forward({
                "source": "lambda",
                "detail-type": "Lambda Function Invocation Result - " + ("Success" if success else "Failure"),
                "account": self.template.account,
                "resources": [record["requestContext"]["functionArn"]],
                "detail": record,
            }, arn)
        else:
            log.error("destination %s not emulated: record dropped: %s", arn, body[:300])

    def wait_async_idle(self, timeout: float = 30) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._async_lock:
                if not any(self._async_busy.values()):
                    return True
            time.sleep(0.1)
        return False

    # =========================================================================================
    # queues
    # =========================================================================================
    def queue_url(self, name: str) -> str:
        """By queue name (dd0c-staging-ingest.fifo), name without the prefix/suffix (ingest),
        logical id, ARN or URL."""
        if name in self.queues.values():
            return name
        for cand in (name, f"{self.function_prefix}{name}", f"{self.function_prefix}{name}.fifo", f"{name}.fifo"):
            if cand in self.queues:
                return self.queues[cand]
        if name in self.queue_logical:
            return self.queues[self.queue_logical[name]]
        if name in self.queue_arns:
            return self.queues[self.queue_arns[name]]
        raise KeyError(f"no queue {name!r} (have {sorted(self.queues)})")

    def queue_name(self, name: str) -> str:
        url = self.queue_url(name)
        return next(n for n, u in self.queues.items() if u == url)

    def send_to_queue_arn(self, arn: str, body: str, group_id: str | None = None,
                          attributes: dict[str, str] | None = None) -> None:
        name = self.queue_arns.get(arn) or arn.split(":")[-1]
        url = self.queue_url(name)
        args: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if group_id:
            args["MessageGroupId"] = group_id
        elif name.endswith(".fifo"):
            args["MessageGroupId"] = "localcloud"
            args["MessageDeduplicationId"] = str(uuid.uuid4())
        if attributes:
            args["MessageAttributes"] = {k: {"DataType": "String", "StringValue": str(v) or "-"} for k, v in attributes.items()}
        self.sqs.send_message(**args)

    def receive_all(self, queue_name: str, max_messages: int = 100) -> list[dict[str, Any]]:
        """Peek: every visible message (receive, then make it visible again). A receive counts
        towards the redrive policy's maxReceiveCount and competes with the queue's poller: peek
        at DLQs and unpolled queues, or pause the poller (cloud.poller(q).pause()). In a FIFO
        queue, a group shows at most one receive's worth of messages."""
        url = self.queue_url(queue_name)
        out: list[dict[str, Any]] = []
        handles: list[str] = []
        while len(out) < max_messages:
            msgs = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30,
                                            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            if not msgs:
                break
            out.extend(msgs)
            handles.extend(m["ReceiptHandle"] for m in msgs)
        for h in handles:
            try:
                self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=0)
            except Exception as e:  # noqa: BLE001
                log.debug("change_message_visibility: %s", e)
        return out

    def queue_depth(self, queue_name: str) -> dict[str, int]:
        a = self.sqs.get_queue_attributes(QueueUrl=self.queue_url(queue_name), AttributeNames=["All"])["Attributes"]
        return {k: int(a.get(k, 0)) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                               "ApproximateNumberOfMessagesDelayed")}

    def purge(self, queue_name: str) -> None:
        self.sqs.purge_queue(QueueUrl=self.queue_url(queue_name))

    def poller(self, queue_name: str) -> SqsPoller | KinesisPoller:
        for p in self.pollers:
            if isinstance(p, KinesisPoller) and p.stream_name.endswith(queue_name):
                return p
        name = self.queue_name(queue_name)
        for p in self.pollers:
            if p.queue_name == name:
                return p
        raise KeyError(f"no event source mapping polls {name}")

    def put_to_stream_arn(self, arn: str, data: str, partition_key: str) -> None:
        """A record on a Kinesis stream (an EventBridge rule target), counted so that wait_idle
        waits until the stream's poller has handled it."""
        name = arn.split("/")[-1]
        self.kinesis.put_record(StreamName=name, Data=data.encode(), PartitionKey=partition_key)
        for p in self.pollers:
            if isinstance(p, KinesisPoller) and p.stream_name == name:
                p.record_put()

    # =========================================================================================
    # EventBridge
    # =========================================================================================
    def put_events(self, entries: list[dict[str, Any]], account: str | None = None) -> dict[str, Any]:
        """PutEvents over HTTP, signed with the given account id as access key (the sender)."""
        acct = account or self.template.account
        client = boto3.client("events", endpoint_url=self.events_url, region_name=self.template.region,
                              aws_access_key_id=acct if account else ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                              config=Config(retries={"max_attempts": 1}))
        norm = []
        for e in entries:
            e = dict(e)
            if isinstance(e.get("Detail"), (dict, list)):
                e["Detail"] = json.dumps(e["Detail"])
            e.setdefault("EventBusName", self.bus_name)
            norm.append(e)
        return client.put_events(Entries=norm)

    def forward_event(self, event: dict[str, Any], account: str, bus: str | None = None) -> str | None:
        """An event forwarded by a rule of `account` (e.g. the customer template's CloudTrail rule):
        keeps its source (aws.*) and id; subject to the bus policy. Returns the error or None."""
        assert self.events is not None
        return self.events.forward({**event, "account": account}, bus)

    # =========================================================================================
    # Scheduler
    # =========================================================================================
    def tick(self, schedule: str, when: dt.datetime | None = None, wait: bool = True, timeout: float = 120) -> dict[str, Any]:
        """Run the schedule's target once, as EventBridge Scheduler does at `when`.

        Lambda targets are invoked asynchronously (InvocationType=Event) as Scheduler does: the
        function's errors follow Lambda's async retries and destinations. The schedule's
        DeadLetterConfig receives the event when the target cannot be invoked at all.
        With wait=True, returns after the invocation (and its retries) finished:
        {"ok": bool, "response"|"error": ..., "input": ...}."""
        s = self.schedules.get(schedule) or next((v for k, v in self.schedules.items() if k.endswith(schedule)), None)
        if s is None:
            raise KeyError(f"no schedule {schedule!r} (have {sorted(self.schedules)})")
        when = when or dt.datetime.now(dt.timezone.utc)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        target = s["Target"]
        attempt = 1
        ctx = {
            "<aws.scheduler.scheduled-time>": when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "<aws.scheduler.execution-id>": str(uuid.uuid4()),
            "<aws.scheduler.attempt-number>": str(attempt),
            "<aws.scheduler.schedule-arn>": s["arn"],
        }
        body = target.get("Input", "{}")
        if not isinstance(body, str):
            body = json.dumps(body)
        for k, v in ctx.items():
            body = body.replace(k, v)
        arn = str(target["Arn"])
        fn = self.function_or_none(arn) if ":lambda:" in arn else None
        if fn is None:
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            msg = f"target {arn} cannot be invoked locally"
            log.error("schedule %s: %s%s", s["name"], msg, f" -> DLQ {dlq}" if dlq else "")
            if dlq:
                self.send_to_queue_arn(dlq, body, attributes={"X-Amz-Scheduler-Attempt": "1", "X-Amz-Scheduler-Schedule-Arn": s["arn"],
                                                               "X-Amz-Scheduler-Error-Code": "ResourceNotFoundException",
                                                               "X-Amz-Scheduler-Error-Message": msg})
            return {"ok": False, "error": msg, "input": json.loads(body)}
        n_before = len(self.invocations)
        self.invoke_async(fn.name, body.encode(), source=f"scheduler:{s['name']}")
        if not wait:
            return {"ok": None, "input": json.loads(body)}
        self.wait_async_idle(timeout)
        mine = [r for r in self.invocations[n_before:] if r.function == fn.name and r.source.startswith(f"scheduler:{s['name']}")]
        last = mine[-1] if mine else None
        if last is None:
            return {"ok": False, "error": "not invoked", "input": json.loads(body)}
        return {"ok": bool(last.ok), "response": last.response, "error": last.error, "attempts": len(mine), "input": json.loads(body)}

    # =========================================================================================
    # Alarms
    # =========================================================================================
    def alarm(self, alarm: str) -> dict[str, Any]:
        a = self.alarms.get(alarm) or next((v for v in self.alarms.values() if v["name"] == alarm), None)
        if a is None:
            raise KeyError(f"no alarm {alarm!r}")
        return a

    def alarm_metric(self, alarm: str) -> float | None:
        """The alarm metric's current value, where the local cloud can derive it (else None)."""
        a = self.alarm(alarm)
        ns, metric = a.get("Namespace"), a.get("MetricName")
        dims = {d["Name"]: d["Value"] for d in a.get("Dimensions") or []}
        if ns == "AWS/SQS" and "QueueName" in dims:
            attr = {"ApproximateNumberOfMessagesVisible": "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible": "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed": "ApproximateNumberOfMessagesDelayed"}.get(str(metric))
            if attr:
                return float(self.queue_depth(dims["QueueName"])[attr])
        return None

    def alarm_state(self, alarm: str) -> str | None:
        """ALARM / OK from alarm_metric and the threshold; None when the metric is not derivable."""
        a = self.alarm(alarm)
        v = self.alarm_metric(alarm)
        if v is None:
            return None
        th = float(a.get("Threshold", 0))
        op = a.get("ComparisonOperator", "GreaterThanOrEqualToThreshold")
        breach = {"GreaterThanOrEqualToThreshold": v >= th, "GreaterThanThreshold": v > th,
                  "LessThanThreshold": v < th, "LessThanOrEqualToThreshold": v <= th}.get(op, False)
        return "ALARM" if breach else "OK"

    def alarms_for_queue(self, queue_name: str) -> list[dict[str, Any]]:
        name = self.queue_name(queue_name)
        out = []
        for a in self.alarms.values():
            dims = {d["Name"]: d["Value"] for d in a.get("Dimensions") or []}
            for m in a.get("Metrics") or []:
                for d in ((m.get("MetricStat") or {}).get("Metric") or {}).get("Dimensions") or []:
                    dims.setdefault(d["Name"], d["Value"])
            if dims.get("QueueName") == name:
                out.append(a)
        return out

    # =========================================================================================
    # secrets, Cognito
    # =========================================================================================
    def _secret_value(self, secret_id: str) -> dict[str, Any]:
        try:
            r = self.secretsmanager.get_secret_value(SecretId=secret_id)
        except self.secretsmanager.exceptions.ResourceNotFoundException as e:
            raise KeyError(secret_id) from e
        return {
            "ARN": r["ARN"],
            "Name": r["Name"],
            "VersionId": r.get("VersionId"),
            "SecretString": r.get("SecretString"),
            "VersionStages": r.get("VersionStages", ["AWSCURRENT"]),
            "CreatedDate": r["CreatedDate"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if r.get("CreatedDate") else None,
            "ResultMetadata": {},
        }

    def secret_arn(self, logical_or_name: str) -> str:
        if logical_or_name in self.secrets:
            return self.secrets[logical_or_name]
        for k, v in self.secrets.items():
            if k.startswith(logical_or_name) or v == logical_or_name:
                return v
        raise KeyError(f"no secret {logical_or_name!r} (have {sorted(self.secrets)})")

    def put_secret(self, logical_or_name: str, value: dict[str, Any] | str, restart: bool = False) -> None:
        """Overwrite a secret's value (JSON object or string). The functions' secrets extension
        caches values for SECRETS_MANAGER_TTL: pass restart=True (or call restart()) for the
        functions to see it at once."""
        arn = self.secret_arn(logical_or_name)
        self.secretsmanager.put_secret_value(SecretId=arn, SecretString=value if isinstance(value, str) else json.dumps(value))
        if restart:
            for fn in self.functions.values():
                if arn in fn.template_env.values():
                    fn.restart()

    def use_fake_secrets(self, restart: bool = True) -> dict[str, dict[str, str]]:
        """Replace the REPLACE_ME placeholders of every secret the template creates with values
        that work against the fakes (Slack app credentials of `cloud.slack`, Stripe key and price
        of `cloud.stripe`, generated signing / webhook secrets), point the Stripe fake's webhook
        at the route served by the Stripe function, and cold-start the functions. Returns
        {secret name: values}."""
        import secrets as pysecrets

        out: dict[str, dict[str, str]] = {}
        for lid in self.provisioner.ids("AWS::SecretsManager::Secret"):
            name = self.provisioner.record(lid).get("Name") or lid
            current = self.get_secret(lid)
            if not isinstance(current, dict):
                continue
            values = dict(current)
            for key, v in current.items():
                if v != "REPLACE_ME":
                    continue
                if key == "client_id" and self.slack is not None:
                    values[key] = self.slack.client_id
                elif key == "client_secret" and self.slack is not None:
                    values[key] = self.slack.client_secret
                elif key == "api_key" and self.stripe is not None:
                    values[key] = self.stripe.secret_key
                elif key == "price_id" and self.stripe is not None:
                    values[key] = sorted(self.stripe.prices)[0]
                elif key == "webhook_secret":
                    values[key] = "whsec_" + pysecrets.token_hex(16)
                else:
                    values[key] = "local-" + pysecrets.token_hex(16)
            self.secretsmanager.put_secret_value(SecretId=self.secret_arn(lid), SecretString=json.dumps(values))
            out[name] = values
        if self.stripe is not None and self.api is not None:
            stripe_fn = self.function_prefix + "stripe"
            route = next((r for r in self.api.routes if r.function == stripe_fn and r.method == "POST"), None)
            secret = next((v.get("webhook_secret") for v in out.values() if "webhook_secret" in v), None)
            if route and secret:
                self.stripe.set_webhook(self.api_url + route.path, secret)
        if restart:
            for fn in self.functions.values():
                fn.restart()
        return out

    def get_secret(self, logical_or_name: str) -> Any:
        s = self.secretsmanager.get_secret_value(SecretId=self.secret_arn(logical_or_name))["SecretString"]
        try:
            return json.loads(s)
        except ValueError:
            return s

    def sign_up(self, email: str, password: str = "Passw0rd!Passw0rd", confirm: bool = True) -> None:
        """A user in the pool (self sign-up, then admin confirmation: moto sends no email)."""
        self.cognito_client.sign_up(ClientId=self.client_id, Username=email, Password=password,
                                    UserAttributes=[{"Name": "email", "Value": email}])
        if confirm:
            self.cognito_client.admin_confirm_sign_up(UserPoolId=self.user_pool_id, Username=email)

    def id_token(self, email: str, password: str = "Passw0rd!Passw0rd", create: bool = True) -> str:
        """A Cognito ID token of the pool for `email` (moto's USER_PASSWORD_AUTH: a test shortcut,
        the dashboard client itself allows SRP and the hosted UI only)."""
        if create:
            try:
                self.sign_up(email, password)
            except self.cognito_client.exceptions.UsernameExistsException:
                pass
        r = self.cognito_client.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                              AuthParameters={"USERNAME": email, "PASSWORD": password})
        return r["AuthenticationResult"]["IdToken"]

    # =========================================================================================
    # waiting
    # =========================================================================================
    def wait_for(self, predicate: Any, timeout: float = 30, interval: float = 0.2, what: str = "condition") -> Any:
        """Poll until predicate() is truthy; returns its value or raises TimeoutError."""
        deadline = time.time() + timeout
        last: Any = None
        while time.time() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def wait_idle(self, timeout: float = 60) -> None:
        """Until no poller loop holds a batch, every queue a poller reads is empty (nothing
        visible or in flight) and no async invocation is pending (nor waiting for a retry)."""
        def idle() -> bool:
            if any(p.busy() for p in self.pollers):
                return False
            if not self.wait_async_idle(0.01):
                return False
            for p in self.pollers:
                if isinstance(p, KinesisPoller):
                    if p.pending():
                        return False
                    continue
                d = self.queue_depth(p.queue_name)
                if d["ApproximateNumberOfMessages"] or d["ApproximateNumberOfMessagesNotVisible"]:
                    return False
            return True
        self.wait_for(idle, timeout, 0.3, "the pipeline to go idle")

    def logs(self, function: str, lines: int = 50) -> str:
        return self.function(function).log_tail(lines)


def _exit_on_sigterm() -> None:
    """SIGTERM ends the test process through SystemExit, so atexit closes the cloud."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        def handler(signum: int, frame: Any) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, handler)


def _function_name(ref: str) -> str:
    """Function name from a name, a function ARN (optionally qualified) or a partial ARN."""
    if ":function:" in ref:
        return ref.split(":function:", 1)[1].split(":")[0]
    return ref


__all__ = ["LocalCloud", "FunctionError", "MotoServer", "stub_command"]


def stub_command(mode: str, *args: str) -> list[str]:
    """The command of the stand-in function (stub_function.py) for swap_function()."""
    import sys

    return [sys.executable, str(Path(__file__).with_name("stub_function.py")), mode, *args]
