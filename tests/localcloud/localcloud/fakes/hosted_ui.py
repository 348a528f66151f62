"""The Cognito hosted UI and OAuth 2.0 endpoints (the user pool domain, `cognitoDomain` in
the dashboard's config.json) over moto's user pool, which has no hosted UI of its own.

Served, as the real domain serves them for an app client that allows only the
authorization code grant (infra-cdk/lib/constructs/auth.ts):

- `GET /oauth2/authorize`: validates client_id, redirect_uri (one of the callback URLs),
  response_type (`code`; `token` is refused with the error redirect
  `<redirect_uri>?error=unauthorized_client`, as Cognito does for a client without the
  implicit grant), scope and PKCE (`code_challenge`, method S256: required here, optional in
  Cognito, because the dashboard is a public client and must use it). Then the sign-in page.
- `GET/POST /login`: the sign-in form (`username`, `password`); moto's `initiate_auth`
  (USER_PASSWORD_AUTH) checks the password; success redirects to
  `<redirect_uri>?code=...&state=...`.
- `GET/POST /signup`: moto `sign_up` then `admin_confirm_sign_up`. The real pool e-mails a
  confirmation code and the user types it in before signing in; locally that step is
  skipped (moto sends no mail). Then signs in and redirects with a code.
- `POST /oauth2/token`: `authorization_code` (code, redirect_uri, client_id, code_verifier;
  BASE64URL(SHA256(code_verifier)) must equal the code_challenge; codes are single use and
  live 5 minutes; every failure is 400 `{"error": "invalid_grant"}`) and `refresh_token`.
  Tokens are moto's authentication result. CORS for the dashboard's origin (the callback
  URLs' origins), because the dashboard calls it with fetch from the browser.
- `GET /logout`: `logout_uri` must be one of the logout URLs; ends the hosted UI session.

Like Cognito, a successful sign-in leaves a session cookie on the domain, so a second
authorize within the session returns a code without the form (tokens renewed through
moto's REFRESH_TOKEN_AUTH).

Not modelled: federated providers (Google/GitHub buttons), MFA, password reset, `nonce`,
the managed login branding; moto's ID token has no `email` claim (see DESIGN.md §7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
import urllib.parse
import uuid
from typing import Any, Iterable

from ._http import FakeServer, Request, Response

CODE_TTL_SECONDS = 300
SESSION_TTL_SECONDS = 3600
DEFAULT_SCOPES = ("openid", "email", "profile", "phone", "aws.cognito.signin.user.admin")
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
_AUTHORIZE_KEYS = ("response_type", "client_id", "redirect_uri", "state", "scope", "code_challenge",
                   "code_challenge_method")


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + sep + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


class HostedUi(FakeServer):
    """`.start()` returns the domain's base URL (config.json's `cognitoDomain`)."""

    def __init__(self, cognito_client: Any, user_pool_id: str, client_id: str, callback_urls: Iterable[str],
                 logout_urls: Iterable[str], *, cors_origins: Iterable[str] | None = None) -> None:
        super().__init__()
        self.cognito = cognito_client
        self.user_pool_id, self.client_id = user_pool_id, client_id
        self.callback_urls, self.logout_urls = list(callback_urls), list(logout_urls)
        self.cors_origins = set(cors_origins or {_origin(u) for u in self.callback_urls})
        described = self._describe_client()
        self.client_secret: str | None = described.get("ClientSecret")
        self.allowed_scopes = set(described.get("AllowedOAuthScopes") or DEFAULT_SCOPES)
        self.codes: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.signups: list[str] = []
        self.issued: list[dict[str, Any]] = []  # {"code", "username", "redirect_uri"} per code

    def _describe_client(self) -> dict[str, Any]:
        try:
            return self.cognito.describe_user_pool_client(
                UserPoolId=self.user_pool_id, ClientId=self.client_id)["UserPoolClient"]
        except Exception:  # noqa: BLE001 - a client moto does not describe gets the defaults
            return {}

    # -- routing ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/") or "/")
        if route == ("GET", "/oauth2/authorize"):
            return self._authorize(request)
        if route in (("GET", "/login"), ("POST", "/login")):
            return self._login(request)
        if route in (("GET", "/signup"), ("POST", "/signup")):
            return self._signup(request)
        if request.path.rstrip("/") == "/oauth2/token":
            return self._token(request)
        if route == ("GET", "/logout"):
            return self._logout(request)
        if route == ("GET", "/error"):
            return self._page("Error", f"<p id=\"error\">An error was encountered with the requested page: "
                                       f"{html.escape(request.query.get('error', 'unknown'))}</p>", 400)
        return Response.text("Not found", 404)

    # -- authorize ----------------------------------------------------------------------------
    def _check_authorize(self, q: dict[str, str]) -> Response | None:
        """None when the request may proceed to sign-in, else the response Cognito gives."""
        if q.get("client_id") != self.client_id:
            return Response.redirect("/error?" + urllib.parse.urlencode({"error": "invalid_request",
                                                                          "error_description": "invalid client_id"}))
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.callback_urls:
            # The redirect URI is not trusted, so the error stays on the domain.
            return Response.redirect("/error?" + urllib.parse.urlencode({"error": "redirect_mismatch",
                                                                          "client_id": self.client_id}))

        def back(error: str, description: str | None = None) -> Response:
            return Response.redirect(_with_query(redirect_uri, {"error": error, "error_description": description,
                                                                "state": q.get("state")}))

        response_type = q.get("response_type")
        if response_type == "token":
            return back("unauthorized_client")
        if response_type != "code":
            return back("unsupported_response_type")
        scopes = (q.get("scope") or "").split()
        if any(s not in self.allowed_scopes for s in scopes):
            return back("invalid_scope")
        if not q.get("code_challenge"):
            return back("invalid_request", "code_challenge is required")
        if q.get("code_challenge_method") != "S256":
            return back("invalid_request", "code_challenge_method must be S256")
        if not _CHALLENGE.fullmatch(q["code_challenge"]):
            return back("invalid_request", "code_challenge is not a base64url SHA-256")
        return None

    def _authorize(self, request: Request) -> Response:
        refused = self._check_authorize(request.query)
        if refused:
            return refused
        session = self._session(request)
        if session:
            tokens = self._refresh(session["username"], session["refresh_token"])
            if tokens:
                return self._issue_code(request.query, session["username"], tokens)
        return Response.redirect("/login?" + self._authorize_query(request.query))

    @staticmethod
    def _authorize_query(q: dict[str, str]) -> str:
        return urllib.parse.urlencode({k: q[k] for k in _AUTHORIZE_KEYS if k in q})

    def _issue_code(self, q: dict[str, str], username: str, tokens: dict[str, Any],
                    headers: dict[str, str] | None = None) -> Response:
        code = str(uuid.uuid4())
        with self.lock:
            self.codes[code] = {
                "client_id": q["client_id"], "redirect_uri": q["redirect_uri"],
                "code_challenge": q["code_challenge"], "scope": q.get("scope", ""),
                "username": username, "tokens": tokens, "created": time.time(),
            }
            self.issued.append({"code": code, "username": username, "redirect_uri": q["redirect_uri"]})
        return Response.redirect(_with_query(q["redirect_uri"], {"code": code, "state": q.get("state")}), headers)

    # -- sign-in and sign-up ------------------------------------------------------------------
    def _login(self, request: Request) -> Response:
        refused = self._check_authorize(request.query)
        if refused:
            return refused
        if request.method == "GET":
            return self._form("login", request.query)
        form = request.form()
        username, password = form.get("username", "").strip(), form.get("password", "")
        tokens, error = self._password_auth(username, password)
        if error:
            return self._form("login", request.query, error, username)
        return self._signed_in(request.query, username, tokens)

    def _signup(self, request: Request) -> Response:
        refused = self._check_authorize(request.query)
        if refused:
            return refused
        if request.method == "GET":
            return self._form("signup", request.query)
        form = request.form()
        username, password = form.get("username", "").strip(), form.get("password", "")
        attributes = [{"Name": "email", "Value": username}] if "@" in username else []
        try:
            kwargs: dict[str, Any] = {"ClientId": self.client_id, "Username": username, "Password": password,
                                      "UserAttributes": attributes}
            if self.client_secret:
                kwargs["SecretHash"] = self._secret_hash(username)
            self.cognito.sign_up(**kwargs)
            # Stands in for the e-mailed confirmation code the real pool asks for.
            self.cognito.admin_confirm_sign_up(UserPoolId=self.user_pool_id, Username=username)
            if attributes:
                self.cognito.admin_update_user_attributes(
                    UserPoolId=self.user_pool_id, Username=username,
                    UserAttributes=[{"Name": "email_verified", "Value": "true"}])
        except Exception as e:  # noqa: BLE001 - shown on the form, as Cognito shows it
            message = _aws_message(e)
            if getattr(e, "response", {}).get("Error", {}).get("Code") == "UsernameExistsException":
                message = "An account with the given email already exists."
            return self._form("signup", request.query, message, username)
        with self.lock:
            self.signups.append(username)
        tokens, error = self._password_auth(username, password)
        if error:
            return self._form("signup", request.query, error, username)
        return self._signed_in(request.query, username, tokens)

    def _signed_in(self, q: dict[str, str], username: str, tokens: dict[str, Any]) -> Response:
        sid = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[sid] = {"username": username, "refresh_token": tokens.get("RefreshToken"),
                                  "expires": time.time() + SESSION_TTL_SECONDS}
        cookie = f"cognito={sid}; Path=/; HttpOnly; SameSite=Lax; Max-Age={SESSION_TTL_SECONDS}"
        return self._issue_code(q, username, tokens, {"Set-Cookie": cookie})

    def _session(self, request: Request) -> dict[str, Any] | None:
        cookies = dict(c.strip().split("=", 1) for c in (request.header("cookie") or "").split(";") if "=" in c)
        with self.lock:
            session = self.sessions.get(cookies.get("cognito", ""))
            if session and session["expires"] > time.time() and session["refresh_token"]:
                return session
        return None

    def _secret_hash(self, username: str) -> str:
        digest = hmac.new((self.client_secret or "").encode(), (username + self.client_id).encode(),
                          hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def _password_auth(self, username: str, password: str) -> tuple[dict[str, Any], str | None]:
        params = {"USERNAME": username, "PASSWORD": password}
        if self.client_secret:
            params["SECRET_HASH"] = self._secret_hash(username)
        try:
            result = self.cognito.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                                AuthParameters=params)
        except Exception as e:  # noqa: BLE001
            code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NotAuthorizedException", "UserNotFoundException"):
                return {}, "Incorrect username or password."
            return {}, _aws_message(e)
        if "AuthenticationResult" not in result:
            return {}, f"The local hosted UI does not handle the {result.get('ChallengeName')} challenge."
        return result["AuthenticationResult"], None

    def _refresh(self, username: str, refresh_token: str) -> dict[str, Any] | None:
        params = {"REFRESH_TOKEN": refresh_token}
        if self.client_secret:
            params["SECRET_HASH"] = self._secret_hash(username)
        try:
            result = self.cognito.initiate_auth(ClientId=self.client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                                AuthParameters=params)
        except Exception:  # noqa: BLE001 - an unusable session means signing in again
            return None
        tokens = dict(result.get("AuthenticationResult") or {})
        if not tokens.get("IdToken"):
            return None
        tokens.setdefault("RefreshToken", refresh_token)
        return tokens

    # -- token endpoint -----------------------------------------------------------------------
    def _cors(self, request: Request) -> dict[str, str]:
        origin = request.header("origin")
        if origin and origin in self.cors_origins:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}

    def _token(self, request: Request) -> Response:
        cors = self._cors(request)
        if request.method == "OPTIONS":
            return Response(204, b"", {**cors, "Access-Control-Allow-Methods": "POST, OPTIONS",
                                       "Access-Control-Allow-Headers": "Content-Type, Authorization",
                                       "Access-Control-Max-Age": "600"})
        headers = {**cors, "Cache-Control": "no-store", "Pragma": "no-cache"}

        def fail(error: str, status: int = 400) -> Response:
            return Response.json({"error": error}, status, headers)

        if request.method != "POST":
            return Response.text("Method not allowed", 405, headers={**headers, "Allow": "POST"})
        if not (request.header("content-type") or "").lower().startswith("application/x-www-form-urlencoded"):
            return fail("invalid_request")
        form = request.form()
        client_id = form.get("client_id")
        basic = request.basic()
        if basic:
            client_id, secret = basic
            if self.client_secret and not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
                return fail("invalid_client")
        elif self.client_secret:
            return fail("invalid_client")
        if client_id != self.client_id:
            return fail("invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            tokens = self._refresh(form.get("username", ""), form.get("refresh_token", ""))
            if not tokens:
                return fail("invalid_grant")
            return Response.json({"id_token": tokens["IdToken"], "access_token": tokens["AccessToken"],
                                  "expires_in": tokens.get("ExpiresIn", 3600), "token_type": "Bearer"},
                                 headers=headers)
        if grant_type != "authorization_code":
            return fail("unsupported_grant_type")
        with self.lock:
            # Presented once, gone: a failed exchange burns the code too.
            grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or time.time() - grant["created"] > CODE_TTL_SECONDS:
            return fail("invalid_grant")
        verifier = form.get("code_verifier", "")
        if grant["client_id"] != client_id or grant["redirect_uri"] != form.get("redirect_uri") \
                or not _VERIFIER.fullmatch(verifier) \
                or not hmac.compare_digest(s256(verifier), grant["code_challenge"]):
            return fail("invalid_grant")
        tokens = grant["tokens"]
        return Response.json({
            "id_token": tokens["IdToken"],
            "access_token": tokens["AccessToken"],
            "refresh_token": tokens.get("RefreshToken"),
            "expires_in": tokens.get("ExpiresIn", 3600),
            "token_type": "Bearer",
        }, headers=headers)

    # -- logout -------------------------------------------------------------------------------
    def _logout(self, request: Request) -> Response:
        q = request.query
        if q.get("client_id") != self.client_id:
            return Response.redirect("/error?error=invalid_request")
        clear = {"Set-Cookie": "cognito=; Path=/; HttpOnly; Max-Age=0"}
        session = self._session(request)
        if session:
            with self.lock:
                self.sessions = {k: v for k, v in self.sessions.items() if v is not session}
        if q.get("logout_uri"):
            if q["logout_uri"] not in self.logout_urls:
                return Response.redirect("/error?" + urllib.parse.urlencode({"error": "redirect_mismatch"}))
            return Response.redirect(q["logout_uri"], clear)
        # The other documented form: sign out, then show the sign-in page again.
        refused = self._check_authorize(q)
        if refused:
            return refused
        return Response.redirect("/login?" + self._authorize_query(q), clear)

    # -- pages --------------------------------------------------------------------------------
    @staticmethod
    def _page(title: str, body: str, status: int = 200) -> Response:
        return Response.text(
            f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>",
            status, "text/html; charset=utf-8",
            {"Cache-Control": "no-store", "X-Frame-Options": "DENY"})

    def _form(self, kind: str, q: dict[str, str], error: str | None = None, username: str = "") -> Response:
        query = html.escape(self._authorize_query(q))
        signup = kind == "signup"
        other = (f"<p>Already have an account? <a id=\"signin-link\" href=\"/login?{query}\">Sign in</a></p>"
                 if signup else
                 f"<p>Need an account? <a id=\"signup-link\" href=\"/signup?{query}\">Sign up</a></p>")
        body = (
            (f"<p id=\"error\" role=\"alert\">{html.escape(error)}</p>" if error else "")
            + f"<form method=\"post\" action=\"/{kind}?{query}\">"
            f"<label for=\"username\">{'Email' if signup else 'Username'}</label>"
            f"<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" required "
            f"value=\"{html.escape(username)}\">"
            f"<label for=\"password\">Password</label>"
            f"<input id=\"password\" name=\"password\" type=\"password\" "
            f"autocomplete=\"{'new-password' if signup else 'current-password'}\" required>"
            f"<button id=\"{kind}\" type=\"submit\">{'Sign up' if signup else 'Sign in'}</button>"
            "</form>" + other
        )
        return self._page("Sign up" if signup else "Sign in", body, 400 if error else 200)


def _aws_message(e: Exception) -> str:
    error = getattr(e, "response", {}).get("Error", {})
    return error.get("Message") or str(e)
