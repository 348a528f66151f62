"""CloudFront distributions in front of S3 buckets filled by CDK `BucketDeployment`s, served
from the template and the cloud assembly next to it (docs/decisions/0800-local-cloud.md).

What is served is what the deployment would have put in the bucket: for each
`Custom::CDKBucketDeployment` whose `DestinationBucketName` is a distribution's S3 origin, the
sources named by `SourceBucketNames`/`SourceObjectKeys` are found in the cloud assembly through
`<stack>.assets.json` (an `asset.<hash>` folder or file), unpacked in order (a later source
overwrites an earlier one, as the handler's working directory does), and the deploy-time tokens
`<<marker:0xbaba:N>>` are replaced by the resolved `SourceMarkers` values, encoded as the handler
encodes them (`SourceMarkersConfig`: `jsonEscape`, `markerEncodings`). `Exclude`/`Include`,
`DestinationBucketKeyPrefix`, `Prune`, `Extract` and `SystemMetadata` are honoured. Nothing
about the dashboard is written here: a file or a config key the CDK app adds is served as is.

Each distribution gets one HTTPS server on 127.0.0.1 (a self-signed certificate generated at
start, for 127.0.0.1 and localhost) whose port is taken **before provisioning**, and the
distribution's `DomainName` attribute is `127.0.0.1:<port>`: every `https://${Distribution.DomainName}`
of the template (the API's CORS origin, the Cognito client's callback and logout URLs, the
functions' DASHBOARD_URL, the DashboardUrl output) is that server.

The values a deployment writes are public AWS endpoints built around a marker
(`https://<api id>.execute-api.<region>.amazonaws.com/`, `https://<domain>.auth.<region>.amazoncognito.com`).
Locally those names resolve to the emulators, as DNS would resolve them: in the deployed objects
and in the stack outputs, such an endpoint is rewritten to the local server that plays it (the
HTTP API's `cloud.api_url`, the hosted UI fake's `cloud.hosted_ui_url`).

CloudFront behaviour: GET/HEAD (others 403), `DefaultRootObject` for `/`, `OriginPath`, the
S3 origin with origin access control (a missing key is S3's 403 AccessDenied, since the
distribution may not list the bucket), `CustomErrorResponses` (the SPA's 403/404 -> 200
`/index.html`), the managed response-headers policies' headers, `ETag` / `If-None-Match`.
Not emulated: caching, compression, additional cache behaviours (logged), Lambda@Edge and
CloudFront Functions, geo restrictions, WAF, logging.
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import ipaddress
import json
import logging
import mimetypes
import os
import re
import ssl
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cloud import LocalCloud

log = logging.getLogger("localcloud.web")

MARKER = re.compile(rb"<<marker:0xbaba:\d+>>")
# Managed response headers policies (AWS docs, "Using the managed response headers policies").
_SECURITY = {
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "X-XSS-Protection": "1; mode=block",
}
# (CORS policies: the simple-request headers only; preflights are not modelled.)
_CORS = {"Access-Control-Allow-Origin": "*"}
MANAGED_RESPONSE_HEADERS: dict[str, dict[str, str]] = {
    "67f7725c-6f97-4210-82d7-5512b31e9d03": _SECURITY,  # Managed-SecurityHeadersPolicy
    "60669652-455b-4ae9-85a4-c4c02393f86c": _CORS,  # Managed-SimpleCORS
    "5cc3b908-e619-4b99-88e5-2cf7f45965bd": _CORS,  # Managed-CORS-With-Preflight
    "e61eb60c-9c35-4d20-a928-2b84e02af89c": {**_SECURITY, **_CORS},  # Managed-CORS-and-SecurityHeadersPolicy
    "eaab4381-ed33-4a86-88ca-d9558dc6cd63": {**_SECURITY, **_CORS},  # Managed-CORS-with-preflight-and-SecurityHeadersPolicy
}
_SYSTEM_METADATA = {"cache-control": "Cache-Control", "content-type": "Content-Type",
                    "content-disposition": "Content-Disposition", "content-encoding": "Content-Encoding",
                    "content-language": "Content-Language", "expires": "Expires"}


@dataclass
class S3Object:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    last_modified: str = ""

    def __post_init__(self) -> None:
        self.etag = '"' + hashlib.md5(self.body).hexdigest() + '"'  # noqa: S324 - S3's ETag
        self.last_modified = formatdate(usegmt=True)


class Distribution:
    def __init__(self, web: "Web", logical_id: str) -> None:
        self.web = web
        self.logical_id = logical_id
        self.server = _TlsServer(web.ssl_context, _handler_for(self))
        self.port = self.server.server_address[1]
        self.domain = f"127.0.0.1:{self.port}"
        self.url = f"https://{self.domain}"
        self.config: dict[str, Any] = {}
        self.bucket: str | None = None
        self.origin_path = ""
        self.response_headers: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self._thread: threading.Thread | None = None

    def configure(self) -> None:
        t = self.web.cloud.template
        self.config = t.props(self.logical_id).get("DistributionConfig") or {}
        behavior = self.config.get("DefaultCacheBehavior") or {}
        origins = {o.get("Id"): o for o in self.config.get("Origins") or []}
        origin = origins.get(behavior.get("TargetOriginId")) or next(iter(origins.values()), {})
        self.bucket = self.web.bucket_of_origin(str(origin.get("DomainName", "")))
        self.origin_path = str(origin.get("OriginPath") or "").strip("/")
        if self.bucket is None:
            log.warning("distribution %s: origin %s is not an S3 bucket of the template: every request is 502",
                        self.logical_id, origin.get("DomainName"))
        policy = str(behavior.get("ResponseHeadersPolicyId") or "")
        self.response_headers = dict(MANAGED_RESPONSE_HEADERS.get(policy) or self.web.custom_response_headers(policy))
        if self.config.get("CacheBehaviors"):
            log.warning("distribution %s: CacheBehaviors not emulated (default behaviour only): %s", self.logical_id,
                        [b.get("PathPattern") for b in self.config["CacheBehaviors"]])

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"cloudfront-{self.port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
        self.server.server_close()

    # ---- a viewer request ----------------------------------------------------------------------
    def respond(self, method: str, raw_path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        behavior = self.config.get("DefaultCacheBehavior") or {}
        allowed = [m.upper() for m in behavior.get("AllowedMethods") or ["GET", "HEAD"]]
        if method not in allowed:
            return self._error(403, "This distribution is not configured to allow the HTTP request method that was used for this request.")
        path = urllib.parse.unquote(urllib.parse.urlsplit(raw_path).path)
        if path == "/" and self.config.get("DefaultRootObject"):
            path = "/" + str(self.config["DefaultRootObject"]).lstrip("/")
        if self.bucket is None:
            return self._error(502, "The origin is not emulated.")
        key = "/".join(p for p in (self.origin_path, path.lstrip("/")) if p)
        obj = self.web.buckets.get(self.bucket, {}).get(key)
        status = 200
        if obj is None:
            # S3 behind origin access control without s3:ListBucket answers 403 for a missing key.
            status = 403
            custom = next((e for e in self.config.get("CustomErrorResponses") or []
                           if int(e.get("ErrorCode", 0)) == status and e.get("ResponsePagePath")), None)
            if custom is None:
                return self._error(403, "Access Denied", xml=True)
            page_key = "/".join(p for p in (self.origin_path, str(custom["ResponsePagePath"]).lstrip("/")) if p)
            obj = self.web.buckets.get(self.bucket, {}).get(page_key)
            if obj is None:
                return self._error(403, "Access Denied", xml=True)
            status = int(custom.get("ResponseCode") or status)
        out = {**obj.headers, "ETag": obj.etag, "Last-Modified": obj.last_modified,
               "X-Cache": "Miss from cloudfront", "Via": "1.1 localcloud (CloudFront)",
               **self.response_headers}
        if status == 200 and obj.etag in [x.strip() for x in (headers.get("if-none-match") or "").split(",")]:
            return 304, {k: v for k, v in out.items() if k not in ("Content-Type",)}, b""
        return status, out, obj.body

    def _error(self, status: int, message: str, xml: bool = False) -> tuple[int, dict[str, str], bytes]:
        if xml:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                    f"<Message>{message}</Message></Error>").encode()
            return status, {"Content-Type": "application/xml", "X-Cache": "Error from cloudfront",
                            **self.response_headers}, body
        return status, {"Content-Type": "text/html", "X-Cache": "Error from cloudfront"}, \
            f"<html><body><h1>{status} ERROR</h1><p>{message}</p></body></html>".encode()


class Web:
    """`Web(cloud)` before provisioning (takes the ports, sets each distribution's DomainName),
    `.start()` once the API and the fakes run (deploys the buckets' objects, serves)."""

    def __init__(self, cloud: "LocalCloud") -> None:
        self.cloud = cloud
        self.dir = cloud.log_dir.parent / "web"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert_file, self.key_file = self._certificate()
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(self.cert_file, self.key_file)
        self.distributions: dict[str, Distribution] = {}
        self.buckets: dict[str, dict[str, S3Object]] = {}
        self.endpoints: dict[str, str] = {}
        t = cloud.template
        for lid, _ in t.of_type("AWS::CloudFront::Distribution"):
            d = Distribution(self, lid)
            self.distributions[lid] = d
            t.attrs.setdefault(lid, {})["DomainName"] = d.domain
        first = next(iter(self.distributions.values()), None)
        self.url = first.url if first else None

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Web":
        self.endpoints = self._endpoints()
        self._deploy()
        for d in self.distributions.values():
            d.configure()
            d.start()
        outputs = getattr(self.cloud, "outputs", None)
        if isinstance(outputs, dict):
            for k, v in list(outputs.items()):
                if isinstance(v, str):
                    outputs[k] = self.localize(v)
        if self.distributions:
            log.info("cloudfront: %s; buckets: %s", {lid: d.url for lid, d in self.distributions.items()},
                     {b: sorted(objs) for b, objs in self.buckets.items()})
        return self

    def close(self) -> None:
        for d in self.distributions.values():
            try:
                d.close()
            except Exception:  # noqa: BLE001
                log.exception("closing distribution %s", d.logical_id)
        for f in (self.cert_file, self.key_file):
            Path(f).unlink(missing_ok=True)

    def distribution(self, ref: str | None = None) -> Distribution:
        if ref is None:
            return next(iter(self.distributions.values()))
        return self.distributions[ref]

    # ---- public endpoints -> the local servers that play them ------------------------------------
    def _endpoints(self) -> dict[str, str]:
        c, t = self.cloud, self.cloud.template
        out: dict[str, str] = {}
        for api in (getattr(c, "apis", None) or {}).values():
            out[f"https://{api.api_id}.execute-api.{t.region}.{t.pseudo('AWS::URLSuffix')}"] = api.url
        hosted = getattr(c, "hosted_ui_url", None)
        if hosted:
            for lid in c.provisioner.ids("AWS::Cognito::UserPoolDomain"):
                rec = c.provisioner.record(lid)
                if rec.get("UserPoolId") not in (None, c.user_pool_id):
                    continue
                domain = str(rec.get("Domain", ""))
                if rec.get("CustomDomainConfig"):
                    out[f"https://{domain}"] = hosted.rstrip("/")
                else:
                    out[f"https://{domain}.auth.{t.region}.amazoncognito.com"] = hosted.rstrip("/")
        return out

    def localize(self, text: str) -> str:
        """`text` with every public endpoint the local cloud plays replaced by its local URL."""
        for public, local in self.endpoints.items():
            text = re.sub(re.escape(public) + r"(?![A-Za-z0-9.\-])", lambda _m: local, text)
        return text

    def _localize_bytes(self, body: bytes) -> bytes:
        for public, local in self.endpoints.items():
            body = re.sub(re.escape(public.encode()) + rb"(?![A-Za-z0-9.\-])", lambda _m: local.encode(), body)
        return body

    # ---- S3 origins ----------------------------------------------------------------------------
    def bucket_of_origin(self, domain: str) -> str | None:
        t = self.cloud.template
        for lid, _ in t.of_type("AWS::S3::Bucket"):
            names = {t.get_att(lid, a) for a in ("DomainName", "RegionalDomainName")}
            if domain in names:
                return str(t.ref(lid))
        return None

    def custom_response_headers(self, policy: str) -> dict[str, str]:
        """A policy defined in the template (AWS::CloudFront::ResponseHeadersPolicy): its custom
        headers and security headers."""
        t = self.cloud.template
        for lid, _ in t.of_type("AWS::CloudFront::ResponseHeadersPolicy"):
            if str(t.ref(lid)) != policy:
                continue
            cfg = t.props(lid).get("ResponseHeadersPolicyConfig") or {}
            out = {h["Header"]: str(h["Value"]) for h in (cfg.get("CustomHeadersConfig") or {}).get("Items") or []}
            sec = cfg.get("SecurityHeadersConfig") or {}
            if "ContentTypeOptions" in sec:
                out["X-Content-Type-Options"] = "nosniff"
            if sec.get("FrameOptions"):
                out["X-Frame-Options"] = sec["FrameOptions"]["FrameOption"]
            if sec.get("ReferrerPolicy"):
                out["Referrer-Policy"] = sec["ReferrerPolicy"]["ReferrerPolicy"]
            if sec.get("ContentSecurityPolicy"):
                out["Content-Security-Policy"] = sec["ContentSecurityPolicy"]["ContentSecurityPolicy"]
            sts = sec.get("StrictTransportSecurity")
            if sts:
                out["Strict-Transport-Security"] = f"max-age={sts['AccessControlMaxAgeSec']}" + \
                    ("; includeSubDomains" if sts.get("IncludeSubdomains") else "") + ("; preload" if sts.get("Preload") else "")
            return out
        if policy:
            log.warning("response headers policy %s not known: no headers added", policy)
        return {}

    # ---- BucketDeployment --------------------------------------------------------------------
    def _assets(self) -> dict[str, tuple[Path, str]]:
        """objectKey -> (path in the cloud assembly, packaging)."""
        c = self.cloud
        outdir = c.template_path.parent
        out: dict[str, tuple[Path, str]] = {}
        manifest = outdir / f"{c.stack_name}.assets.json"
        if manifest.exists():
            for _h, a in json.loads(manifest.read_text()).get("files", {}).items():
                src = a.get("source") or {}
                if not src.get("path"):
                    continue
                for dest in (a.get("destinations") or {}).values():
                    out[dest["objectKey"]] = (outdir / src["path"], src.get("packaging", "file"))
        return out

    def _deploy(self) -> None:
        t = self.cloud.template
        assets = self._assets()
        outdir = self.cloud.template_path.parent
        for lid in t.creation_order():
            if t.resources[lid].get("Type") != "Custom::CDKBucketDeployment":
                continue
            p = t.props(lid)
            bucket = str(p.get("DestinationBucketName"))
            prefix = str(p.get("DestinationBucketKeyPrefix") or "")
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            extract = str(p.get("Extract", "true")).lower() != "false"
            keys = p.get("SourceObjectKeys") or []
            markers = p.get("SourceMarkers") or [{} for _ in keys]
            markers_config = p.get("SourceMarkersConfig") or [{} for _ in keys]
            contents: dict[str, bytes] = {}
            for i, key in enumerate(keys):
                path, packaging = assets.get(key) or _guess_asset(outdir, key)
                if path is None:
                    raise RuntimeError(f"localcloud: {lid}: source {key} is not in the cloud assembly {outdir}")
                files = _read_asset(path, packaging) if extract else {os.path.basename(key): _zip_bytes(path, packaging)}
                m = markers[i] if i < len(markers) else {}
                mc = markers_config[i] if i < len(markers_config) else {}
                if extract and m:
                    tokens = {k.encode(): _encode_marker_value(k, v, mc).encode() for k, v in m.items()}
                    for name, body in files.items():
                        if MARKER.search(body):
                            for tok, val in tokens.items():
                                body = body.replace(tok, val)
                            files[name] = self._localize_bytes(body)
                contents.update(files)
            filters = [("exclude", f) for f in p.get("Exclude") or []] + [("include", f) for f in p.get("Include") or []]
            system = {str(k).lower(): str(v) for k, v in (p.get("SystemMetadata") or {}).items()}
            user = {str(k): str(v) for k, v in (p.get("UserMetadata") or {}).items()}
            objects = self.buckets.setdefault(bucket, {})
            if str(p.get("Prune", "true")).lower() != "false":
                for k in [k for k in objects if k.startswith(prefix)]:
                    del objects[k]
            for name, body in sorted(contents.items()):
                if not _included(name, filters):
                    continue
                headers: dict[str, str] = {}
                ctype = mimetypes.guess_type(name)[0]
                headers["Content-Type"] = ctype or "binary/octet-stream"
                for k, v in system.items():
                    if k in _SYSTEM_METADATA:
                        headers[_SYSTEM_METADATA[k]] = v
                for k, v in user.items():
                    headers[f"x-amz-meta-{k.lower()}"] = v
                objects[prefix + name] = S3Object(body, headers)

    # ---- TLS ----------------------------------------------------------------------------------
    def _certificate(self) -> tuple[str, str]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localcloud CloudFront")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                            x509.DNSName("localhost")]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        cert_file, key_file = self.dir / f"cert-{os.getpid()}.pem", self.dir / f"key-{os.getpid()}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        os.chmod(key_file, 0o600)
        return str(cert_file), str(key_file)


def _guess_asset(outdir: Path, key: str) -> tuple[Path | None, str]:
    h = key.removesuffix(".zip")
    for cand, packaging in ((outdir / f"asset.{h}", "zip"), (outdir / f"asset.{h}.zip", "file"), (outdir / f"asset.{key}", "file")):
        if cand.exists():
            return cand, packaging
    return None, ""


def _read_asset(path: Path, packaging: str) -> dict[str, bytes]:
    """The files of a source zip: a staged folder (packaging zip) or a zip file."""
    if path.is_dir():
        out = {}
        for f in sorted(path.rglob("*")):
            if f.is_file():
                out[f.relative_to(path).as_posix()] = f.read_bytes()
        return out
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def _zip_bytes(path: Path, packaging: str) -> bytes:
    if path.is_file():
        return path.read_bytes()
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, body in _read_asset(path, packaging).items():
            z.writestr(name, body)
    return buf.getvalue()


def _encode_marker_value(name: str, value: Any, config: dict[str, Any]) -> str:
    """As the BucketDeployment handler encodes a marker's value (aws-s3-deployment's index.py)."""
    json_escape = str(config.get("jsonEscape", "false")).lower() == "true"
    encoding = (config.get("markerEncodings") or {}).get(name, "UNQUOTED_JSON_VALUE" if json_escape else "LITERAL")
    if encoding == "LITERAL":
        return str(value)
    if encoding == "UNQUOTED_JSON_VALUE":
        s = json.dumps(value)
        return s[1:-1] if s.startswith('"') and s.endswith('"') else s
    if encoding == "JSON_VALUE":
        return json.dumps(value)
    if encoding == "YAML_STRING":
        v = str(value)
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", v) and v.lower() not in {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}:
            return v
        return json.dumps(v)
    raise ValueError(f"unknown marker encoding {encoding}")


def _included(name: str, filters: list[tuple[str, str]]) -> bool:
    """aws s3 sync --exclude/--include: the last matching filter decides."""
    ok = True
    for kind, pattern in filters:
        if fnmatch.fnmatchcase(name, pattern):
            ok = kind == "include"
    return ok


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, handler: Any) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.context = context

    def get_request(self) -> Any:
        sock, addr = self.socket.accept()
        # The handshake happens in the request's thread (see _handler_for.setup).
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("cloudfront: connection from %s ended with an error", client_address, exc_info=True)


def _handler_for(dist: Distribution) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60

        def version_string(self) -> str:
            return "CloudFront"

        def setup(self) -> None:
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
            super().setup()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = dist.respond(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            dist.requests.append((self.command, self.path, status))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("cloudfront %s: " + format, dist.port, *args)

    return Handler
