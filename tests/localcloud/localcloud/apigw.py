"""API Gateway HTTP API (v2): routes, JWT authorizers, CORS and Lambda proxy integrations with
payload format 2.0, from the template's AWS::ApiGatewayV2::* resources.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import secrets as pysecrets
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .runtime import FunctionError

if TYPE_CHECKING:
    from .cloud import LocalCloud

log = logging.getLogger("localcloud.apigw")

INTEGRATION_TIMEOUT_S = 30
TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|.*\+json|.*\+xml))(\s*;.*)?$", re.I
)


@dataclass
class Route:
    logical_id: str
    key: str
    method: str  # ANY for any
    path: str  # /v1/{proxy+}; "" for $default
    auth_type: str
    authorizer: dict[str, Any] | None
    scopes: list[str]
    function: str | None  # the integration's function name
    integration: dict[str, Any] | None

    def match(self, method: str, path: str) -> tuple[bool, dict[str, str], tuple[int, ...]]:
        if self.key == "$default":
            return True, {}, (-1,)
        if self.method != "ANY" and self.method != method:
            return False, {}, ()
        rsegs = [s for s in self.path.split("/") if s]
        psegs = [s for s in path.split("/") if s]
        params: dict[str, str] = {}
        literal = 0
        greedy = False
        for i, rs in enumerate(rsegs):
            m = re.fullmatch(r"\{([^}+]+)(\+)?\}", rs)
            if m and m.group(2):
                if i >= len(psegs):
                    return False, {}, ()
                params[m.group(1)] = unquote("/".join(psegs[i:]))
                greedy = True
                break
            if i >= len(psegs):
                return False, {}, ()
            if m:
                params[m.group(1)] = unquote(psegs[i])
            elif rs != psegs[i]:
                return False, {}, ()
            else:
                literal += 1
        if not greedy and len(psegs) != len(rsegs):
            return False, {}, ()
        return True, params, (0 if greedy else 1, literal, len(rsegs), 0 if self.method == "ANY" else 1)


class HttpApi:
    def __init__(self, cloud: "LocalCloud", api_logical_id: str) -> None:
        self.cloud = cloud
        t = cloud.template
        p = cloud.provisioner
        self.logical_id = api_logical_id
        self.props = p.record(api_logical_id)
        self.api_id = t.ref(api_logical_id)
        self.cors = self.props.get("CorsConfiguration")
        self.stage = "$default"
        for sid in p.ids("AWS::ApiGatewayV2::Stage"):
            sp = p.record(sid)
            if sp.get("ApiId") == self.api_id:
                self.stage = sp.get("StageName", "$default")
        authorizers = {}
        for aid in p.ids("AWS::ApiGatewayV2::Authorizer"):
            ap = p.record(aid)
            if ap.get("ApiId") == self.api_id:
                authorizers[t.ref(aid)] = {**ap, "logical_id": aid}
        integrations = {}
        for iid in p.ids("AWS::ApiGatewayV2::Integration"):
            ip = p.record(iid)
            if ip.get("ApiId") == self.api_id:
                integrations[t.ref(iid)] = {**ip, "logical_id": iid}
        self.routes: list[Route] = []
        for rid in p.ids("AWS::ApiGatewayV2::Route"):
            rp = p.record(rid)
            if rp.get("ApiId") != self.api_id:
                continue
            key = rp["RouteKey"]
            method, _, path = key.partition(" ") if key != "$default" else ("ANY", "", "")
            target = str(rp.get("Target") or "")
            integ = integrations.get(target.split("/", 1)[1]) if target.startswith("integrations/") else None
            fn = None
            if integ is not None:
                m = re.search(r"function:([^:/]+)", str(integ.get("IntegrationUri", "")))
                fn = m.group(1) if m else None
            auth_type = rp.get("AuthorizationType", "NONE")
            self.routes.append(Route(
                rid, key, method.upper(), path, auth_type,
                authorizers.get(rp.get("AuthorizerId")) if auth_type != "NONE" else None,
                list(rp.get("AuthorizationScopes") or []), fn, integ,
            ))
        self._jwks: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, name="apigw", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- routing -----------------------------------------------------------------------------
    def route_for(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        best: tuple[tuple[int, ...], Route, dict[str, str]] | None = None
        for r in self.routes:
            ok, params, score = r.match(method, path)
            if ok and (best is None or score > best[0]):
                best = (score, r, params)
        return (best[1], best[2]) if best else (None, {})

    # ---- JWT authorizer ----------------------------------------------------------------------
    def _jwks_url(self, issuer: str) -> str:
        m = re.fullmatch(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/([^/]+)/?", issuer)
        if m:  # moto serves the pool's JWKS under its own endpoint
            return f"{self.cloud.moto_url}/{m.group(1)}/.well-known/jwks.json"
        return issuer.rstrip("/") + "/.well-known/jwks.json"

    def _keys(self, issuer: str, refresh: bool = False) -> dict[str, Any]:
        if refresh or issuer not in self._jwks:
            with urllib.request.urlopen(self._jwks_url(issuer), timeout=5) as r:  # noqa: S310
                self._jwks[issuer] = json.loads(r.read())
        return self._jwks[issuer]

    def authorize(self, route: Route, headers: dict[str, str]) -> tuple[dict[str, Any] | None, str | None]:
        """(requestContext.authorizer, None) or (None, reason)."""
        a = route.authorizer
        if a is None:
            if route.auth_type not in ("NONE", ""):
                return None, f"authorization type {route.auth_type} not emulated"
            return {}, None
        if a.get("AuthorizerType") != "JWT":
            return None, f"authorizer type {a.get('AuthorizerType')} not emulated"
        import jwt  # PyJWT

        sources = a.get("IdentitySource") or ["$request.header.Authorization"]
        token = None
        for s in sources:
            m = re.fullmatch(r"\$request\.header\.(.+)", s)
            if m:
                token = headers.get(m.group(1).lower())
        if not token:
            return None, "no identity source"
        token = token.strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        cfg = a.get("JwtConfiguration") or {}
        issuer = cfg.get("Issuer", "")
        audience = list(cfg.get("Audience") or [])
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            keys = self._keys(issuer)
            jwk = next((k for k in keys.get("keys", []) if k.get("kid") == kid), None)
            if jwk is None:
                keys = self._keys(issuer, refresh=True)
                jwk = next((k for k in keys.get("keys", []) if k.get("kid") == kid), None)
            if jwk is None:
                return None, f"no JWKS key {kid!r}"
            if header.get("alg") != "RS256":
                return None, f"alg {header.get('alg')} not allowed"
            key = jwt.PyJWK(jwk, algorithm="RS256").key
            claims = jwt.decode(token, key=key, algorithms=["RS256"], issuer=issuer,
                                options={"verify_aud": False, "require": ["exp", "iss"]}, leeway=0)
        except Exception as e:  # noqa: BLE001
            return None, f"invalid token: {e}"
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else ([aud] if aud else [])
        if claims.get("client_id"):
            auds.append(claims["client_id"])
        if audience and not set(auds) & set(audience):
            return None, f"audience {auds} not in {audience}"
        scopes = claims.get("scope", "").split() if isinstance(claims.get("scope"), str) else None
        if route.scopes and not set(route.scopes) & set(scopes or []):
            return None, "insufficient scopes"
        return {"jwt": {"claims": {k: _claim_str(v) for k, v in claims.items()}, "scopes": scopes}}, None

    # ---- CORS --------------------------------------------------------------------------------
    def _origin_allowed(self, origin: str | None) -> bool:
        if not self.cors or not origin:
            return False
        allowed = self.cors.get("AllowOrigins") or []
        return "*" in allowed or origin in allowed

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        if not self._origin_allowed(origin):
            return {}
        c = self.cors or {}
        h = {"Access-Control-Allow-Origin": "*" if "*" in (c.get("AllowOrigins") or []) and not c.get("AllowCredentials") else str(origin)}
        if c.get("AllowCredentials"):
            h["Access-Control-Allow-Credentials"] = "true"
        if c.get("ExposeHeaders"):
            h["Access-Control-Expose-Headers"] = ",".join(c["ExposeHeaders"])
        h["Vary"] = "Origin"
        return h

    def preflight(self, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        origin = headers.get("origin")
        c = self.cors or {}
        if not self._origin_allowed(origin):
            return 204, {}, b""
        h = self.cors_headers(origin)
        methods = c.get("AllowMethods") or []
        req_method = headers.get("access-control-request-method", "")
        if methods and "*" not in methods and req_method.upper() not in [m.upper() for m in methods]:
            return 204, {}, b""
        h["Access-Control-Allow-Methods"] = ",".join(methods) if "*" not in methods else (req_method or "*")
        allow_headers = c.get("AllowHeaders") or []
        if allow_headers:
            h["Access-Control-Allow-Headers"] = (headers.get("access-control-request-headers", "*")
                                                 if "*" in allow_headers else ",".join(allow_headers))
        if c.get("MaxAge") is not None:
            h["Access-Control-Max-Age"] = str(c["MaxAge"])
        return 204, h, b""

    # ---- the request -------------------------------------------------------------------------
    def handle(self, method: str, raw_target: str, headers_list: list[tuple[str, str]], body: bytes,
               source_ip: str, host: str) -> tuple[int, list[tuple[str, str]], bytes]:
        request_id = base64.b64encode(pysecrets.token_bytes(10)).decode()[:14] + "="
        headers: dict[str, str] = {}
        for k, v in headers_list:
            lk = k.lower()
            headers[lk] = f"{headers[lk]},{v}" if lk in headers else v
        split = urlsplit(raw_target)
        raw_path = split.path or "/"
        path = raw_path
        if self.stage != "$default":
            prefix = f"/{self.stage}"
            if not (path == prefix or path.startswith(prefix + "/")):
                return self._json(404, {"message": "Not Found"}, request_id)
            path = path[len(prefix):] or "/"
        origin = headers.get("origin")
        route, params = self.route_for(method, path)
        is_preflight = method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers
        record = {"method": method, "path": raw_path, "route": route.key if route else None, "status": None,
                  "invoked": False, "request_id": request_id}
        self.requests.append(record)
        if is_preflight and self.cors and route is None:
            status, h, b = self.preflight(headers)
            record["status"] = status
            return status, list(h.items()) + [("apigw-requestid", request_id)], b
        if route is None:
            record["status"] = 404
            return self._json(404, {"message": "Not Found"}, request_id, origin)
        authz, why = self.authorize(route, headers)
        if authz is None:
            log.info("%s %s -> %s: 401 (%s)", method, raw_path, route.key, why)
            record["status"] = 401
            record["auth_error"] = why
            return self._json(401, {"message": "Unauthorized"}, request_id, origin)
        if route.function is None or self.cloud.function_or_none(route.function) is None:
            log.error("%s: no Lambda integration the local cloud can run (%s)", route.key, route.integration)
            record["status"] = 500
            return self._json(500, {"message": "Internal Server Error"}, request_id, origin)
        fn = self.cloud.function(route.function)
        source_arn = f"arn:aws:execute-api:{self.cloud.template.region}:{self.cloud.template.account}:{self.api_id}/{self.stage}/{method}{route.path}"
        if not self.cloud.permits(fn.name, "apigateway.amazonaws.com", source_arn):
            log.error("%s: no AWS::Lambda::Permission lets apigateway.amazonaws.com invoke %s from %s", route.key, fn.name, source_arn)
            record["status"] = 500
            return self._json(500, {"message": "Internal Server Error"}, request_id, origin)
        event = self.event(route, method, raw_path, split.query, headers, body, params, authz, source_ip, host, request_id)
        record["invoked"] = True
        try:
            resp = self.cloud.invoke(fn.name, event, source=f"apigw:{route.key}")
        except FunctionError as e:
            log.error("%s %s -> %s: function error: %s", method, raw_path, fn.name, e.message[:500])
            record["status"] = 500
            return self._json(500, {"message": "Internal Server Error"}, request_id, origin)
        status, out_headers, out_body = self.response(resp)
        if status is None:
            record["status"] = 500
            return self._json(500, {"message": "Internal Server Error"}, request_id, origin)
        if self.cors:
            out_headers = [(k, v) for k, v in out_headers if not k.lower().startswith("access-control-")]
            out_headers += list(self.cors_headers(origin).items())
        out_headers.append(("apigw-requestid", request_id))
        record["status"] = status
        return status, out_headers, out_body

    def _json(self, status: int, obj: Any, request_id: str, origin: str | None = None,
              extra: list[tuple[str, str]] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        h = [("content-type", "application/json"), ("apigw-requestid", request_id)]
        h += list(self.cors_headers(origin).items()) if self.cors else []
        h += extra or []
        return status, h, json.dumps(obj).encode()

    def event(self, route: Route, method: str, raw_path: str, query: str, headers: dict[str, str], body: bytes,
              params: dict[str, str], authz: dict[str, Any], source_ip: str, host: str, request_id: str) -> dict[str, Any]:
        now = dt.datetime.now(dt.timezone.utc)
        hdrs = {k: v for k, v in headers.items() if k != "cookie"}
        hdrs.setdefault("host", host)
        hdrs["x-forwarded-for"] = source_ip
        hdrs["x-forwarded-port"] = host.rsplit(":", 1)[-1] if ":" in host else "443"
        hdrs["x-forwarded-proto"] = "http"
        hdrs["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{pysecrets.token_hex(12)}"
        ev: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": raw_path,
            "rawQueryString": query,
        }
        if "cookie" in headers:
            ev["cookies"] = [c.strip() for c in re.split(r";|,", headers["cookie"]) if c.strip()]
        ev["headers"] = hdrs
        if query:
            qs: dict[str, str] = {}
            for k, v in parse_qsl(query, keep_blank_values=True):
                qs[k] = f"{qs[k]},{v}" if k in qs else v
            ev["queryStringParameters"] = qs
        ctx: dict[str, Any] = {
            "accountId": self.cloud.template.account,
            "apiId": self.api_id,
        }
        if authz:
            ctx["authorizer"] = authz
        ctx.update({
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": self.stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        })
        ev["requestContext"] = ctx
        if params:
            ev["pathParameters"] = params
        if body:
            ctype = headers.get("content-type", "")
            if ctype and TEXT_TYPES.match(ctype):
                try:
                    ev["body"] = body.decode("utf-8")
                    ev["isBase64Encoded"] = False
                except UnicodeDecodeError:
                    ev["body"] = base64.b64encode(body).decode()
                    ev["isBase64Encoded"] = True
            else:
                ev["body"] = base64.b64encode(body).decode()
                ev["isBase64Encoded"] = True
        else:
            ev["isBase64Encoded"] = False
        return ev

    @staticmethod
    def response(resp: Any) -> tuple[int | None, list[tuple[str, str]], bytes]:
        """Payload format 2.0 response mapping."""
        if isinstance(resp, dict) and "statusCode" in resp:
            try:
                status = int(resp["statusCode"])
            except (TypeError, ValueError):
                return None, [], b""
            headers: list[tuple[str, str]] = []
            for k, v in (resp.get("headers") or {}).items():
                headers.append((k, str(v)))
            for k, vs in (resp.get("multiValueHeaders") or {}).items():
                for v in vs:
                    headers.append((k, str(v)))
            for c in resp.get("cookies") or []:
                headers.append(("set-cookie", c))
            body = resp.get("body")
            if body is None:
                data = b""
            elif resp.get("isBase64Encoded"):
                try:
                    data = base64.b64decode(body)
                except ValueError:
                    return None, [], b""
            else:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
            return status, headers, data
        # Any other valid JSON: 200 with the JSON as the body.
        return 200, [("content-type", "application/json")], json.dumps(resp).encode()


def _claim_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(_claim_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return json.dumps(v)
    return str(v)


def _handler_for(api: HttpApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("apigw: " + format, *args)

        def _body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _any(self) -> None:
            body = self._body()
            try:
                status, headers, data = api.handle(
                    self.command, self.path, list(self.headers.items()), body,
                    self.client_address[0], self.headers.get("Host", f"127.0.0.1:{api.port}"),
                )
            except Exception:  # noqa: BLE001
                log.exception("apigw: %s %s", self.command, self.path)
                status, headers, data = 500, [("content-type", "application/json")], b'{"message":"Internal Server Error"}'
            self.send_response(status)
            for k, v in headers:
                if k.lower() in ("content-length", "transfer-encoding", "connection"):
                    continue
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _any

    return Handler
