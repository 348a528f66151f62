"""Lambda Runtime API (2018-06-01) and the Parameters and Secrets extension, one threaded HTTP
server per function, in front of the real function binary (target/debug/<name>).

One execution environment per function: invocations of one function are serialised (Lambda
would start more environments; the local cloud does not need the concurrency).
"""
from __future__ import annotations

import json
import logging
import queue
import secrets as pysecrets
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("localcloud.lambda")

RUNTIME_PREFIX = "/2018-06-01/runtime"
# Time a cold start may take on top of the function's timeout (a debug binary's init).
INIT_ALLOWANCE_S = 20.0


class FunctionError(Exception):
    """The function answered an error, timed out, or its runtime failed (init or exit)."""

    def __init__(self, function: str, error_type: str, message: str, payload: Any = None) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.message = message
        # What Lambda returns as the response payload of a failed invocation.
        self.payload = payload if payload is not None else {"errorType": error_type, "errorMessage": message}


class InitError(FunctionError):
    pass


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    arn: str
    done: threading.Event = field(default_factory=threading.Event)
    result: bytes | None = None
    error: FunctionError | None = None
    picked_up: bool = False


@dataclass
class InvocationRecord:
    """Every invocation the local cloud made, for journeys to assert on."""

    function: str
    source: str
    request_id: str
    payload: Any
    ok: bool | None = None
    response: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{pysecrets.token_hex(12)};Parent={pysecrets.token_hex(8)};Sampled=0"


class LambdaFunction:
    def __init__(
        self,
        *,
        name: str,
        logical_id: str,
        binary: Path,
        arn: str,
        template_env: dict[str, str],
        extra_env: dict[str, str],
        timeout_s: int,
        memory_mb: int,
        log_path: Path,
        get_secret: Callable[[str], dict[str, Any]],
    ) -> None:
        self.name = name
        self.logical_id = logical_id
        self.binary = binary
        # What runs in the execution environment: the binary, or a test's stand-in (swap()).
        self.command: list[str] = [str(binary)]
        self.arn = arn
        self.template_env = dict(template_env)
        self.extra_env = dict(extra_env)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.log_path = log_path
        self.get_secret = get_secret
        self.session_token = "localcloud-" + pysecrets.token_hex(16)
        self._queue: "queue.Queue[Invocation]" = queue.Queue()
        self._inflight: dict[str, Invocation] = {}
        self._busy = threading.Lock()
        self._state = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._generation = 0
        self._init_error: dict[str, Any] | None = None
        self._secret_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._closing = False
        self.cold_starts = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"rapi-{name}", daemon=True).start()

    # ---- environment -------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        env = {k: str(v) for k, v in self.template_env.items()}
        env.update(self.extra_env)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.port}",
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(self.port),
                "AWS_SESSION_TOKEN": self.session_token,
                "AWS_LAMBDA_FUNCTION_NAME": self.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "_HANDLER": self.extra_env.get("_HANDLER", "bootstrap"),
            }
        )
        return env

    # ---- process -----------------------------------------------------------------------------
    def _start(self) -> None:
        if not Path(self.command[0]).exists():
            raise InitError(self.name, "Runtime.InvalidEntrypoint", f"no executable {self.command[0]} (cargo build --bins)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        logf.write(f"\n==== localcloud: cold start {time.strftime('%H:%M:%S')} ====\n".encode())
        logf.flush()
        self._init_error = None
        self._secret_cache.clear()
        self._generation += 1
        gen = self._generation
        self._proc = subprocess.Popen(
            list(self.command),
            env=self.environment(),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(self.log_path.parent),
        )
        logf.close()
        self.cold_starts += 1
        proc = self._proc
        threading.Thread(target=self._watch, args=(proc, gen), name=f"watch-{self.name}", daemon=True).start()

    def _watch(self, proc: subprocess.Popen[bytes], gen: int) -> None:
        code = proc.wait()
        with self._state:
            if gen != self._generation:
                return
            self._proc = None
            if self._closing:
                return
            pending = list(self._inflight.values())
            self._inflight.clear()
            while True:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
        if not pending:
            log.warning("%s: runtime exited (status %s) between invocations; see %s", self.name, code, self.log_path)
            return
        if self._init_error is not None:
            err: FunctionError = InitError(
                self.name,
                self._init_error.get("errorType", "Runtime.Unknown"),
                f"{self._init_error.get('errorMessage', '')} (init error; log: {self.log_path})",
                self._init_error,
            )
        else:
            err = InitError(
                self.name,
                "Runtime.ExitError",
                f"RequestId: {pending[0].request_id} Error: Runtime exited with error: exit status {code}\n"
                f"--- last lines of {self.log_path} ---\n{self.log_tail()}",
            )
        for inv in pending:
            inv.error = err
            inv.done.set()

    def log_tail(self, lines: int = 25) -> str:
        try:
            data = self.log_path.read_bytes()[-8000:].decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    def _running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        with self._state:
            proc = self._proc
            self._generation += 1
            self._proc = None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def crash(self) -> bool:
        """SIGKILL the function's process, as a crash or an out-of-memory kill would: invocations
        in flight fail with Runtime.ExitError and the next one cold-starts. False if none ran."""
        with self._state:
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return False
        proc.kill()
        return True

    def restart(self) -> None:
        """A fresh cold start on the next invocation (e.g. after a secret changed)."""
        with self._busy:
            self.stop()

    def close(self) -> None:
        self._closing = True
        self.stop()
        self.server.shutdown()
        self.server.server_close()

    # ---- invoke ------------------------------------------------------------------------------
    def invoke_raw(self, payload: bytes) -> tuple[str, bytes]:
        """Synchronous invocation: (request id, response bytes) or FunctionError."""
        with self._busy:
            cold = False
            with self._state:
                if not self._running():
                    self._start()
                    cold = True
            rid = str(uuid.uuid4())
            budget = self.timeout_s + (INIT_ALLOWANCE_S if cold else 0)
            inv = Invocation(rid, payload, int((time.time() + self.timeout_s + (INIT_ALLOWANCE_S if cold else 0)) * 1000), self.arn)
            self._queue.put(inv)
            if not inv.done.wait(budget):
                log.error("%s: invocation %s timed out after %ss: killing the environment", self.name, rid, self.timeout_s)
                self.stop()
                with self._state:
                    self._inflight.pop(rid, None)
                raise FunctionError(self.name, "Sandbox.Timedout", f"RequestId: {rid} Error: Task timed out after {self.timeout_s:.2f} seconds")
            if inv.error is not None:
                raise inv.error
            return rid, inv.result or b""

    # ---- secrets extension -------------------------------------------------------------------
    def secret(self, secret_id: str) -> dict[str, Any]:
        ttl = float(self.template_env.get("SECRETS_MANAGER_TTL", "300") or 300)
        enabled = self.template_env.get("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "true") == "true"
        now = time.time()
        hit = self._secret_cache.get(secret_id)
        if enabled and hit and now - hit[0] < ttl:
            return hit[1]
        value = self.get_secret(secret_id)
        if enabled:
            self._secret_cache[secret_id] = (now, value)
        return value


def _handler_for(fn: LambdaFunction) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # one line per poll of /next is noise; invocations are in cloud.invocations

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            if url.path == f"{RUNTIME_PREFIX}/invocation/next":
                self._next()
            elif url.path == "/secretsmanager/get":
                self._secret(url.query)
            else:
                self._send(404, {"errorType": "NotFound", "errorMessage": self.path})

        def _next(self) -> None:
            my_gen = fn._generation
            while True:
                if fn._closing or my_gen != fn._generation:
                    # The environment is being replaced: this runtime never gets another event.
                    time.sleep(0.2)
                    if fn._closing or my_gen != fn._generation:
                        self.close_connection = True
                        return
                try:
                    inv = fn._queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                if my_gen != fn._generation:
                    fn._queue.put(inv)  # a stale runtime: leave the event to the new one
                    continue
                break
            with fn._state:
                fn._inflight[inv.request_id] = inv
                inv.picked_up = True
            self._send(
                200,
                inv.payload,
                {
                    "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
                    "Lambda-Runtime-Trace-Id": _trace_id(),
                },
            )

        def _secret(self, query: str) -> None:
            token = self.headers.get("X-Aws-Parameters-Secrets-Token")
            if token != fn.session_token:
                self._send(400, b"missing or invalid X-Aws-Parameters-Secrets-Token header")
                return
            ids = parse_qs(query).get("secretId")
            if not ids:
                self._send(400, b"missing secretId")
                return
            try:
                self._send(200, fn.secret(ids[0]))
            except KeyError as e:
                self._send(400, f"ResourceNotFoundException: Secrets Manager can't find the specified secret. ({e})".encode())
            except Exception as e:  # noqa: BLE001
                self._send(500, str(e).encode())

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            path = urlparse(self.path).path
            if path == f"{RUNTIME_PREFIX}/init/error":
                try:
                    fn._init_error = json.loads(body or b"{}")
                except ValueError:
                    fn._init_error = {"errorType": self.headers.get("Lambda-Runtime-Function-Error-Type", "Runtime.Unknown"),
                                      "errorMessage": body.decode("utf-8", "replace")}
                log.error("%s: init error: %s", fn.name, fn._init_error)
                self._send(202, {"status": "OK"})
                # Lambda ends the environment after an init error.
                threading.Thread(target=_kill_later, args=(fn,), daemon=True).start()
                return
            prefix = f"{RUNTIME_PREFIX}/invocation/"
            if path.startswith(prefix):
                rid, _, kind = path[len(prefix):].partition("/")
                with fn._state:
                    inv = fn._inflight.pop(rid, None)
                if inv is None:
                    self._send(400, {"errorType": "InvalidRequestID", "errorMessage": f"unknown request id {rid}"})
                    return
                if kind == "response":
                    inv.result = body
                else:
                    try:
                        err = json.loads(body or b"{}")
                    except ValueError:
                        err = {"errorType": "Unhandled", "errorMessage": body.decode("utf-8", "replace")}
                    etype = err.get("errorType") or self.headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled")
                    inv.error = FunctionError(fn.name, etype, str(err.get("errorMessage", "")), err)
                inv.done.set()
                self._send(202, {"status": "OK"})
                return
            self._send(404, {"errorType": "NotFound", "errorMessage": self.path})

    return Handler


def _kill_later(fn: LambdaFunction) -> None:
    time.sleep(0.5)
    proc = fn._proc
    if proc is not None and proc.poll() is None:
        proc.terminate()


def binary_for(function_name: str, prefix: str, target_dir: Path) -> Path | None:
    if not function_name.startswith(prefix):
        return None
    p = target_dir / function_name[len(prefix):]
    return p if p.exists() else None


__all__ = ["LambdaFunction", "FunctionError", "InitError", "InvocationRecord", "binary_for"]
