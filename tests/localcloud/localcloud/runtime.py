"""Lambda Runtime API (2018-06-01) and the Parameters and Secrets extension in front of the real
function binary (target/debug/<name>), one threaded HTTP server per execution environment.

A function runs a pool of execution environments, as Lambda does: each its own process and
its own Runtime API endpoint, one invocation at a time; a new one is started (cold start) when
every existing one is busy and the pool is below the function's concurrency (the template's
ReservedConcurrentExecutions, else LOCALCLOUD_MAX_CONCURRENCY, default 4).
"""
from __future__ import annotations

import json
import logging
import os
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


DEFAULT_MAX_CONCURRENCY = 4


def default_max_concurrency() -> int:
    """The local cap on a function's execution environments when the template reserves none:
    LOCALCLOUD_MAX_CONCURRENCY, else DEFAULT_MAX_CONCURRENCY."""
    raw = os.environ.get("LOCALCLOUD_MAX_CONCURRENCY", "").strip()
    return max(1, int(raw)) if raw else DEFAULT_MAX_CONCURRENCY


class QuietThreadingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that says nothing when a client vanished mid-request: function
    processes are killed (crash(), timeouts, the chaos journey) with connections open to the
    Runtime API, the bus and the fakes."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident memory (`VmHWM`) in MB; None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Environment:
    """One execution environment of a function: its own process and its own Runtime API endpoint
    (a threaded HTTP server on its own port, which is the environment's AWS_LAMBDA_RUNTIME_API and
    its secrets extension), handling one invocation at a time, as in Lambda."""

    def __init__(self, fn: "LambdaFunction", index: int) -> None:
        self.fn = fn
        self.index = index
        self.queue: "queue.Queue[Invocation]" = queue.Queue()
        self.inflight: dict[str, Invocation] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        # Bumped at every start and stop: a runtime of an earlier process gets no more events.
        self.generation = 0
        # The function's restart count when this process started (restart() retires older ones).
        self.config_generation = -1
        self.init_error: dict[str, Any] | None = None
        self.secret_cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self.busy = False
        # The current process's spawn time and, once it first asks for an event, its init: the
        # seconds from spawn to its first `next` request (what `cold_start()` measures).
        self.spawned_at: float | None = None
        self.init_s: float | None = None
        self.first_next = threading.Event()
        self.server = QuietThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                         name=f"rapi-{fn.name}-{index}", daemon=True).start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LambdaFunction:
    """A function and its pool of execution environments.

    An invocation takes an idle environment whose process runs (warm), else cold-starts one: an
    idle environment without a process, or a new one while fewer than `concurrency` environments
    exist. At `concurrency` busy environments, further invocations wait for one to be released
    (Lambda would throttle; the local cloud queues). `concurrency` is the template's
    ReservedConcurrentExecutions when set, else the local cap (`max_concurrency`,
    LOCALCLOUD_MAX_CONCURRENCY, default 4)."""

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
        reserved_concurrency: int | None = None,
        max_concurrency: int | None = None,
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
        self.reserved_concurrency = int(reserved_concurrency) if reserved_concurrency not in (None, "") else None
        self.max_concurrency = int(max_concurrency) if max_concurrency else default_max_concurrency()
        # Guards the pool and every environment's state; waiters are woken when one is released.
        self._state = threading.Condition()
        self._envs: list[Environment] = []
        self._restarts = 0
        self._closing = False
        self.cold_starts = 0
        # The most environments busy at once (what the limit is checked against in tests).
        self.peak_concurrency = 0
        # The most resident memory any of its processes used, in MB (read as invocations end).
        self.peak_rss_mb = 0.0
        # The first endpoint exists before the first invocation (`port`, environment()).
        self._envs.append(Environment(self, 0))

    @property
    def concurrency(self) -> int:
        """The most execution environments this function runs at once."""
        if self.reserved_concurrency is not None and self.reserved_concurrency > 0:
            return self.reserved_concurrency
        return max(1, self.max_concurrency)

    @property
    def environments(self) -> list[Environment]:
        with self._state:
            return list(self._envs)

    @property
    def port(self) -> int:
        """The first environment's Runtime API / secrets extension port."""
        return self._envs[0].port

    def busy_environments(self) -> int:
        with self._state:
            return sum(1 for e in self._envs if e.busy)

    # ---- environment -------------------------------------------------------------------------
    def environment(self, env: Environment | None = None) -> dict[str, str]:
        port = (env or self._envs[0]).port
        env_vars = {k: str(v) for k, v in self.template_env.items()}
        env_vars.update(self.extra_env)
        env_vars.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
                "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(port),
                "AWS_SESSION_TOKEN": self.session_token,
                "AWS_LAMBDA_FUNCTION_NAME": self.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "_HANDLER": self.extra_env.get("_HANDLER", "bootstrap"),
            }
        )
        return env_vars

    # ---- the pool ----------------------------------------------------------------------------
    def _acquire(self) -> tuple[Environment, bool]:
        """An environment for one invocation, marked busy: (environment, warm)."""
        with self._state:
            while True:
                if self._closing:
                    raise FunctionError(self.name, "Runtime.Closed", "the local cloud is closing")
                busy = sum(1 for e in self._envs if e.busy)
                if busy < self.concurrency:
                    idle = [e for e in self._envs if not e.busy]
                    warm = next((e for e in idle if e.running() and e.config_generation == self._restarts), None)
                    env = warm or next(iter(idle), None)
                    if env is None:
                        env = Environment(self, len(self._envs))
                        self._envs.append(env)
                    env.busy = True
                    self.peak_concurrency = max(self.peak_concurrency, busy + 1)
                    return env, warm is not None
                self._state.wait(0.5)

    def _release(self, env: Environment) -> None:
        if env.config_generation != self._restarts and env.proc is not None:
            self._stop_env(env)  # restart() happened during the invocation: retire the process
        with self._state:
            env.busy = False
            self._state.notify_all()

    # ---- process -----------------------------------------------------------------------------
    def _start(self, env: Environment, first: Invocation | None) -> None:
        """Start the environment's process with `first` waiting for it (so a process that dies
        at once fails it through the watcher); with none, cold_start() watches the process."""
        if not Path(self.command[0]).exists():
            raise InitError(self.name, "Runtime.InvalidEntrypoint", f"no executable {self.command[0]} (cargo build --bins)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, "ab")
        logf.write(f"\n==== localcloud: cold start {time.strftime('%H:%M:%S')} (environment {env.index}) ====\n".encode())
        logf.flush()
        with self._state:
            env.init_error = None
            env.secret_cache.clear()
            env.generation += 1
            gen = env.generation
            env.config_generation = self._restarts
            if first is not None:
                env.queue.put(first)
            env.init_s = None
            env.first_next.clear()
            env.spawned_at = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(self.command),
                env=self.environment(env),
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(self.log_path.parent),
            )
        finally:
            logf.close()
        with self._state:
            env.proc = proc
            self.cold_starts += 1
        threading.Thread(target=self._watch, args=(env, proc, gen), name=f"watch-{self.name}-{env.index}", daemon=True).start()

    def _watch(self, env: Environment, proc: subprocess.Popen[bytes], gen: int) -> None:
        code = proc.wait()
        with self._state:
            if gen != env.generation:
                return
            env.proc = None
            if self._closing:
                return
            pending = self._take_pending(env)
            init_error = env.init_error
        if not pending:
            log.warning("%s: runtime (environment %d) exited (status %s) between invocations; see %s",
                        self.name, env.index, code, self.log_path)
            return
        if init_error is not None:
            err: FunctionError = InitError(
                self.name,
                init_error.get("errorType", "Runtime.Unknown"),
                f"{init_error.get('errorMessage', '')} (init error; log: {self.log_path})",
                init_error,
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

    @staticmethod
    def _take_pending(env: Environment) -> list[Invocation]:
        pending = list(env.inflight.values())
        env.inflight.clear()
        while True:
            try:
                pending.append(env.queue.get_nowait())
            except queue.Empty:
                return pending

    def _stop_env(self, env: Environment) -> None:
        """End the environment's process; an invocation still pending in it fails."""
        with self._state:
            proc = env.proc
            env.generation += 1
            env.proc = None
            pending = self._take_pending(env)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for inv in pending:
            inv.error = InitError(self.name, "Runtime.ExitError",
                                  f"RequestId: {inv.request_id} Error: the execution environment was stopped")
            inv.done.set()

    def log_tail(self, lines: int = 25) -> str:
        try:
            data = self.log_path.read_bytes()[-8000:].decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(data.splitlines()[-lines:])

    def _running(self) -> bool:
        with self._state:
            return any(e.running() for e in self._envs)

    def stop(self) -> None:
        """End every environment's process (invocations in flight fail)."""
        for env in self.environments:
            self._stop_env(env)

    def crash(self) -> bool:
        """SIGKILL one environment's process, as a crash or an out-of-memory kill would: a busy
        one if any, else an idle one. Its invocation in flight fails with Runtime.ExitError and
        the environment cold-starts when next used. False if no process ran."""
        with self._state:
            running = [e for e in self._envs if e.running()]
            victim = next((e for e in running if e.busy), None) or next(iter(running), None)
            proc = victim.proc if victim is not None else None
        if proc is None or proc.poll() is not None:
            return False
        proc.kill()
        return True

    def restart(self) -> None:
        """A fresh cold start for every invocation from now on (e.g. after a secret changed):
        idle environments end now, busy ones when their invocation ends."""
        with self._state:
            self._restarts += 1
            idle = [e for e in self._envs if not e.busy and e.proc is not None]
            for e in idle:
                e.busy = True
        try:
            for e in idle:
                self._stop_env(e)
        finally:
            with self._state:
                for e in idle:
                    e.busy = False
                self._state.notify_all()

    def close(self) -> None:
        with self._state:
            self._closing = True
            self._state.notify_all()
        self.stop()
        for env in self.environments:
            env.close()

    def cold_start(self, timeout_s: float = 10.0) -> float:
        """A cold start with no invocation for it: a fresh process in an idle environment, ended
        once it first asks for an event. Returns its init, the seconds from spawning the process
        to its first `next` request. InitError when it reports an init error, exits or does not
        ask within timeout_s."""
        env, _ = self._acquire()
        try:
            self._stop_env(env)
            self._start(env, None)
            deadline = time.monotonic() + timeout_s
            # The handler thread stamps init_s as the request arrives; this loop only waits.
            while not env.first_next.wait(0.005):
                proc = env.proc
                exited = proc is None or proc.poll() is not None
                if env.init_error is not None or exited or time.monotonic() > deadline:
                    if env.init_error is not None:
                        etype = str(env.init_error.get("errorType", "Runtime.Unknown"))
                        why = str(env.init_error.get("errorMessage", ""))
                    elif exited:
                        etype, why = "Runtime.ExitError", "exited before its first next request"
                    else:
                        etype, why = "Runtime.InitTimeout", f"no next request within {timeout_s:.0f} s"
                    raise InitError(self.name, etype, f"{why}\n--- last lines of {self.log_path} ---\n{self.log_tail()}")
            assert env.init_s is not None
            return env.init_s
        finally:
            self._stop_env(env)
            self._release(env)

    # ---- invoke ------------------------------------------------------------------------------
    def invoke_raw(self, payload: bytes) -> tuple[str, bytes]:
        """Synchronous invocation: (request id, response bytes) or FunctionError."""
        env, warm = self._acquire()
        try:
            rid = str(uuid.uuid4())
            timeout_s = self.timeout_s
            budget = timeout_s
            inv = Invocation(rid, payload, int((time.time() + budget) * 1000), self.arn)
            if warm:
                with self._state:
                    # The watcher clears `proc` under this lock: a process that died since
                    # _acquire either fails this invocation (its watcher takes the queue) or is
                    # seen here, and the environment cold-starts.
                    warm = env.proc is not None
                    if warm:
                        env.queue.put(inv)
            if not warm:
                budget = timeout_s + INIT_ALLOWANCE_S
                inv.deadline_ms = int((time.time() + budget) * 1000)
                self._stop_env(env)  # the process of an environment retired by restart(), if any
                self._start(env, inv)
            if not inv.done.wait(budget):
                log.error("%s: invocation %s timed out after %ss: killing its environment (%d)",
                          self.name, rid, timeout_s, env.index)
                with self._state:
                    env.inflight.pop(rid, None)
                self._stop_env(env)
                raise FunctionError(self.name, "Sandbox.Timedout", f"RequestId: {rid} Error: Task timed out after {timeout_s:.2f} seconds")
            self._check_memory(env, rid)
            if inv.error is not None:
                raise inv.error
            return rid, inv.result or b""
        finally:
            self._release(env)

    def _check_memory(self, env: Environment, rid: str) -> None:
        """Lambda stops an environment whose process uses more than the function's memory and
        fails its invocation: the same here, with the process's peak resident memory (VmHWM)
        read when the invocation ends. Every function is held to the memory the template gives it."""
        proc = env.proc
        peak = peak_rss_mb(proc.pid) if proc is not None else None
        if peak is None:
            return
        with self._state:
            self.peak_rss_mb = max(self.peak_rss_mb, peak)
        if peak > self.memory_mb:
            log.error("%s: environment %d used %.0f MB of its %d MB: stopping it", self.name, env.index, peak, self.memory_mb)
            self._stop_env(env)
            raise FunctionError(self.name, "Runtime.OutOfMemory",
                                f"RequestId: {rid} Error: Runtime exited with error: signal: killed "
                                f"(peak {peak:.0f} MB, memory {self.memory_mb} MB)")

    # ---- secrets extension -------------------------------------------------------------------
    def secret(self, secret_id: str, env: Environment | None = None) -> dict[str, Any]:
        cache = (env or self._envs[0]).secret_cache
        ttl = float(self.template_env.get("SECRETS_MANAGER_TTL", "300") or 300)
        enabled = self.template_env.get("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "true") == "true"
        now = time.time()
        hit = cache.get(secret_id)
        if enabled and hit and now - hit[0] < ttl:
            return hit[1]
        value = self.get_secret(secret_id)
        if enabled:
            cache[secret_id] = (now, value)
        return value


def _handler_for(env: Environment) -> type[BaseHTTPRequestHandler]:
    fn = env.fn

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: with Nagle's algorithm the body of a second
        # response on a kept-alive connection waited for the client's delayed ACK (~40 ms; the
        # api function's second secret at cold start, an event handed to a warm runtime).
        disable_nagle_algorithm = True

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
            if env.spawned_at is not None and not env.first_next.is_set():
                env.init_s = time.monotonic() - env.spawned_at
                env.first_next.set()
            my_gen = env.generation
            while True:
                if fn._closing or my_gen != env.generation:
                    # The environment is being replaced: this runtime never gets another event.
                    time.sleep(0.2)
                    if fn._closing or my_gen != env.generation:
                        self.close_connection = True
                        return
                try:
                    inv = env.queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                with fn._state:
                    if my_gen != env.generation:
                        env.queue.put(inv)  # a stale runtime: leave the event to the new one
                        continue
                    env.inflight[inv.request_id] = inv
                    inv.picked_up = True
                break
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
                self._send(200, fn.secret(ids[0], env))
            except KeyError as e:
                self._send(400, f"ResourceNotFoundException: Secrets Manager can't find the specified secret. ({e})".encode())
            except Exception as e:  # noqa: BLE001
                self._send(500, str(e).encode())

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            path = urlparse(self.path).path
            if path == f"{RUNTIME_PREFIX}/init/error":
                try:
                    env.init_error = json.loads(body or b"{}")
                except ValueError:
                    env.init_error = {"errorType": self.headers.get("Lambda-Runtime-Function-Error-Type", "Runtime.Unknown"),
                                      "errorMessage": body.decode("utf-8", "replace")}
                log.error("%s: init error: %s", fn.name, env.init_error)
                self._send(202, {"status": "OK"})
                # Lambda ends the environment after an init error.
                threading.Thread(target=_kill_later, args=(env, env.proc), daemon=True).start()
                return
            prefix = f"{RUNTIME_PREFIX}/invocation/"
            if path.startswith(prefix):
                rid, _, kind = path[len(prefix):].partition("/")
                with fn._state:
                    inv = env.inflight.pop(rid, None)
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


def _kill_later(env: Environment, proc: subprocess.Popen[bytes] | None) -> None:
    """Ends `proc`, the process that reported an init error, half a second later: only if it is
    still the environment's process, never one started since (a test's next cold start)."""
    time.sleep(0.5)
    if proc is not None and env.proc is proc and proc.poll() is None:
        proc.terminate()


def binary_for(function_name: str, prefix: str, target_dir: Path) -> Path | None:
    if not function_name.startswith(prefix):
        return None
    p = target_dir / function_name[len(prefix):]
    return p if p.exists() else None


__all__ = ["LambdaFunction", "Environment", "QuietThreadingHTTPServer", "default_max_concurrency", "FunctionError", "InitError", "InvocationRecord", "binary_for"]
