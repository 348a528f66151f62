"""What the three fakes share: a threaded HTTP server on 127.0.0.1 with a random port,
request recording and a polling wait. Each fake subclasses `FakeServer` and implements
`handle(request) -> Response`."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable

from ..runtime import QuietThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        # Last value wins, like the servers these fakes stand in for.
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def bearer(self) -> str | None:
        auth = self.header("authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def basic(self) -> tuple[str, str] | None:
        """(user, password) of `Authorization: Basic`; a malformed header counts as absent."""
        auth = self.header("authorization") or ""
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> "Response":
        return Response(status, json.dumps(value).encode(),
                        {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    @staticmethod
    def text(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None) -> "Response":
        return Response(status, text.encode(), {"Content-Type": content_type, **(headers or {})})

    @staticmethod
    def redirect(location: str, headers: dict[str, str] | None = None) -> "Response":
        return Response(302, b"", {"Location": location, **(headers or {})})


class FakeServer:
    """Start with `.start()` (returns the base URL), stop with `.stop()`; also a context manager."""

    def __init__(self) -> None:
        self._server: QuietThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.root = ""

    # -- subclass API -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    def base_url(self) -> str:
        """What `.start()` returns; the fakes override it when their base is not the root."""
        return self.root

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parsed.path,
                    query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with fake.lock:
                    fake.requests.append(request)
                try:
                    response = fake.handle(request)
                except Exception as e:  # a bug in a fake must show, not hang the caller
                    response = Response.text(f"fake error: {e!r}", 500)
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = QuietThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=type(self).__name__)
        self._thread.start()
        return self.base_url()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- tests --------------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Polls `predicate` until it returns something truthy, and returns that; raises
        TimeoutError after `timeout` seconds (the caller names what it waited for)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{type(self).__name__}: condition not met within {timeout}s")
            time.sleep(interval)
