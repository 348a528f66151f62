"""Slack, as dd0c meets it: the Web API methods dd0c calls, OAuth v2 install, incoming
webhooks and response URLs, plus helpers that build and sign what Slack sends to dd0c.

What dd0c calls (shared/src/slack/web.rs, functions/slack/src/oauth.rs, deferred.rs):
`chat.postMessage`, `chat.update`, `views.open` (JSON bodies, `Authorization: Bearer xoxb-…`),
`oauth.v2.access` (form body with client_id/client_secret/code/redirect_uri), POSTs to an
incoming webhook URL and to a slash command's `response_url`. `chat.postEphemeral` is not
called by dd0c today; it is served for completeness.

Modelled the way Slack behaves:
- Web API errors are HTTP 200 with `{"ok": false, "error": ...}`; a missing token is
  `not_authed`, an unknown one `invalid_auth`, a revoked one `token_revoked`.
- A bot token with `chat:write` posts only where the bot is a member: a public channel it
  has not joined answers `not_in_channel`; a private one it cannot see answers
  `channel_not_found` (Slack does not reveal private channels). `join()` is `/invite @dd0c`.
  (`chat:write.public` would lift this for public channels; dd0c does not ask for it.)
- Install: `chat:write` and `commands` join the bot to no channel. With the
  `incoming-webhook` scope (dd0c asks for `chat:write,commands,incoming-webhook`), Slack
  shows the installer a channel picker and returns the chosen channel's webhook in
  `oauth.v2.access` (`incoming_webhook.channel`, `.channel_id`, `.url`, `.configuration_url`).
  Slack's documentation says only that the scope "triggers a user-facing channel picker";
  whether the bot user then counts as a member of that channel for chat.postMessage is not
  documented. The app is added to the channel in Slack's UI ("added an integration to this
  channel"), so by default the fake makes the bot a member; `webhook_install_joins_channel=
  False` models the stricter reading, where only the webhook can post there until someone
  runs `/invite`. Tests that depend on either should say which one they assume.
- OAuth codes are single use and expire after 10 minutes; `oauth.v2.access` checks the
  client secret and that redirect_uri is the one the authorization used.
- A response URL accepts 5 posts within 30 minutes; then 404 `used_url` / `expired_url`.
- JSON bodies without `charset` get Slack's `missing_charset` warning, as the real API does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from typing import Any, Iterable

from ._http import FakeServer, Request, Response

CODE_TTL_SECONDS = 600
RESPONSE_URL_TTL_SECONDS = 1800
RESPONSE_URL_MAX_USES = 5
MAX_BLOCKS = 50
MAX_TEXT = 40000
MAX_VIEW_BLOCKS = 100

_ids = itertools.count(1)


def _id(prefix: str, width: int = 10) -> str:
    """Slack-looking ids: a type letter and upper-case alphanumerics."""
    return prefix + secrets.token_hex(8).upper()[: width - len(prefix)]


def sign(signing_secret: str, timestamp: int | str, body: str | bytes) -> dict[str, str]:
    """The two headers Slack adds to every request it sends an app:
    `v0=hex(hmac_sha256(secret, "v0:{ts}:{body}"))`."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(timestamp)}


def signed_request(signing_secret: str, body: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) ready to POST to dd0c: form content type and a fresh signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(signing_secret, ts, body)}
    return body.encode(), headers


def slash_command_body(
    text: str = "",
    *,
    command: str = "/dd0c",
    team_id: str = "T0DD0C0001",
    team_domain: str = "dd0c-test",
    channel_id: str = "C0ALERTS01",
    channel_name: str = "alerts",
    user_id: str = "U0ALICE001",
    user_name: str = "alice",
    api_app_id: str = "A0DD0C0001",
    response_url: str | None = None,
    trigger_id: str | None = None,
) -> str:
    """A slash command's form body, fields in the order Slack sends them. `token` is the
    deprecated verification token Slack still sends; dd0c must rely on the signature."""
    fields = [
        ("token", "deprecated-verification-token"),
        ("team_id", team_id),
        ("team_domain", team_domain),
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url or f"https://hooks.slack.com/commands/{team_id}/{next(_ids)}/{secrets.token_hex(12)}"),
        ("trigger_id", trigger_id or _trigger_id()),
    ]
    return urllib.parse.urlencode(fields)


def _trigger_id() -> str:
    return f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _interaction_common(team_id: str, team_domain: str, user_id: str, user_name: str,
                        api_app_id: str, trigger_id: str | None) -> dict[str, Any]:
    return {
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }


def block_actions_body(
    action_id: str,
    value: str | None = None,
    *,
    block_id: str | None = None,
    action_type: str = "button",
    text: str | None = None,
    selected_user: str | None = None,
    channel_id: str = "C0ALERTS01",
    channel_name: str = "alerts",
    message_ts: str = "1700000000.000100",
    message: dict[str, Any] | None = None,
    team_id: str = "T0DD0C0001",
    team_domain: str = "dd0c-test",
    user_id: str = "U0ALICE001",
    user_name: str = "alice",
    api_app_id: str = "A0DD0C0001",
    trigger_id: str | None = None,
    response_url: str | None = None,
) -> str:
    """A `block_actions` interaction (a button click or a select in a message) as the form
    body Slack POSTs: `payload=<JSON>`. dd0c reads actions[0].action_id, .value (the finding
    id) or .block_id (`assign:<id>`), .selected_user, container.channel_id/message_ts,
    team.id, user.id and trigger_id. Pass `message` (e.g. one the fake recorded) to embed
    the clicked message as Slack does."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or secrets.token_urlsafe(4),
        "type": action_type,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": text or action_id, "emoji": True}
        if value is not None:
            action["value"] = value
    elif action_type == "users_select":
        action["selected_user"] = selected_user
        if value is not None:  # not what Slack sends for a select; allowed for edge tests
            action["value"] = value
    elif value is not None:
        action["value"] = value
    payload = {
        "type": "block_actions",
        **_interaction_common(team_id, team_domain, user_id, user_name, api_app_id, trigger_id),
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "channel": {"id": channel_id, "name": channel_name},
        "message": message or {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        "state": {"values": {}},
        "response_url": response_url or f"https://hooks.slack.com/actions/{team_id}/{next(_ids)}/{secrets.token_hex(12)}",
        "actions": [action],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    *,
    team_id: str = "T0DD0C0001",
    team_domain: str = "dd0c-test",
    user_id: str = "U0ALICE001",
    user_name: str = "alice",
    api_app_id: str = "A0DD0C0001",
) -> str:
    """The submission of a modal: `view` is the view as opened (e.g. `fake.views[-1]["view"]`
    from views.open), `values` its state, e.g. `{"owner": {"assign_to": {"type":
    "users_select", "selected_user": "U0BOB"}}}`."""
    submitted = {
        "id": view.get("id") or _id("V"),
        "team_id": team_id,
        "type": view.get("type", "modal"),
        "blocks": view.get("blocks", []),
        "private_metadata": view.get("private_metadata", ""),
        "callback_id": view.get("callback_id", ""),
        "state": {"values": values},
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "title": view.get("title"),
        "clear_on_close": False,
        "notify_on_close": False,
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": None,
        "root_view_id": view.get("id"),
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": view.get("bot_id"),
    }
    payload = {
        "type": "view_submission",
        **_interaction_common(team_id, team_domain, user_id, user_name, api_app_id, None),
        "view": submitted,
        "response_urls": [],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


class SlackFake(FakeServer):
    """One workspace with one app installed (or installable). `.start()` returns the Web API
    base (`<root>/api`, what SLACK_API_URL takes; methods are also served at the root)."""

    def __init__(
        self,
        *,
        team_id: str = "T0DD0C0001",
        team_name: str = "dd0c test",
        team_domain: str = "dd0c-test",
        app_id: str = "A0DD0C0001",
        bot_user_id: str = "U0DD0CBOT1",
        bot_id: str = "B0DD0CBOT1",
        client_id: str = "1000000001.2000000002",
        client_secret: str = "fake-slack-client-secret",
        installer_user_id: str = "U0ALICE001",
        channels: dict[str, str] | None = None,
        private_channels: dict[str, str] | None = None,
        webhook_install_joins_channel: bool = True,
    ) -> None:
        super().__init__()
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.app_id, self.bot_user_id, self.bot_id = app_id, bot_user_id, bot_id
        self.client_id, self.client_secret = client_id, client_secret
        self.installer_user_id = installer_user_id
        self.webhook_install_joins_channel = webhook_install_joins_channel
        # id -> name; the fake's workspace has these channels, the bot is in none of them.
        self.channels: dict[str, str] = dict(channels or {"C0ALERTS01": "alerts", "C0GENERAL1": "general"})
        self.private: set[str] = set()
        for cid, name in (private_channels or {"G0SECRET01": "secret-ops"}).items():
            self.channels[cid] = name
            self.private.add(cid)
        self.members: set[str] = set()
        self.archived: set[str] = set()
        self.tokens: dict[str, dict[str, Any]] = {}  # token -> {"scopes", "revoked"}
        self.codes: dict[str, dict[str, Any]] = {}
        self.hooks: dict[str, str] = {}  # "/services/T/B/X" -> channel id
        self.response_urls: dict[str, dict[str, Any]] = {}
        self.trigger_ids: set[str] = set()
        self.installs: list[dict[str, Any]] = []
        # Recorded traffic, beyond `requests` (every HTTP request, any path).
        self.posted: list[dict[str, Any]] = []  # messages in posting order, current content
        self.updates: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.webhook_posts: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._ts = itertools.count(1)
        self._ts_lock = threading.Lock()

    def base_url(self) -> str:
        return self.root + "/api"

    @property
    def api_url(self) -> str:
        return self.root + "/api"

    @property
    def authorize_url(self) -> str:
        """Where dd0c's install link points, on the fake (`https://slack.com/oauth/v2/authorize`)."""
        return self.root + "/oauth/v2/authorize"

    # -- test controls ------------------------------------------------------------------------
    def join(self, channel_id: str) -> None:
        """The bot becomes a member (someone ran `/invite @dd0c` there)."""
        self._channel(channel_id)
        with self.lock:
            self.members.add(channel_id)

    def kick(self, channel_id: str) -> None:
        with self.lock:
            self.members.discard(channel_id)

    def archive(self, channel_id: str) -> None:
        """The channel is archived: posts answer `is_archived`, its webhooks 410."""
        self._channel(channel_id)
        with self.lock:
            self.archived.add(channel_id)

    def add_channel(self, name: str, *, private: bool = False, channel_id: str | None = None) -> str:
        cid = channel_id or _id("G" if private else "C")
        with self.lock:
            self.channels[cid] = name.lstrip("#")
            if private:
                self.private.add(cid)
        return cid

    def issue_token(self, scopes: Iterable[str] = ("chat:write", "commands")) -> str:
        """A bot token as if the app had been installed (e.g. for SLACK_BOT_TOKEN)."""
        token = f"xoxb-{self.team_id[1:]}-{secrets.randbelow(10**12)}-{secrets.token_urlsafe(18)}"
        with self.lock:
            self.tokens[token] = {"scopes": list(scopes), "revoked": False}
        return token

    def revoke(self, token: str) -> None:
        """The workspace uninstalled the app: the token answers `token_revoked` from now on."""
        with self.lock:
            self.tokens[token]["revoked"] = True

    def new_trigger_id(self) -> str:
        """A trigger id views.open accepts once (pass it to block_actions_body)."""
        trigger = _trigger_id()
        with self.lock:
            self.trigger_ids.add(trigger)
        return trigger

    def new_response_url(self) -> str:
        """A slash command's response URL served by the fake (pass to slash_command_body)."""
        path = f"/commands/{self.team_id}/{next(_ids)}/{secrets.token_hex(12)}"
        with self.lock:
            self.response_urls[path] = {"created": time.time(), "uses": 0}
        return self.root + path

    def authorize(
        self,
        client_id: str,
        scopes: str | Iterable[str],
        redirect_uri: str,
        state: str,
        channel_id: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
    ) -> str:
        """The installer approves the app on Slack's authorize page: returns the URL Slack
        redirects the browser to, `<redirect_uri>?code=...&state=...`. With the
        `incoming-webhook` scope, `channel_id` is the channel picked (default: the first
        public channel). `team_id` is the workspace installing (default: the fake's own); dd0c
        binds a workspace to one tenant, so tenants sharing the fake install as their own teams."""
        if client_id != self.client_id:
            raise ValueError(f"unknown client_id {client_id!r} (the fake's app is {self.client_id!r})")
        scope_list = [s for s in (scopes.split(",") if isinstance(scopes, str) else scopes) if s]
        if "incoming-webhook" in scope_list:
            channel_id = channel_id or next(c for c in self.channels if c not in self.private)
            self._channel(channel_id)
        code = f"{self.team_id[1:]}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        with self.lock:
            self.codes[code] = {
                "client_id": client_id, "scopes": scope_list, "redirect_uri": redirect_uri,
                "channel_id": channel_id, "user_id": user_id or self.installer_user_id,
                "team_id": team_id or self.team_id, "created": time.time(), "used": False,
            }
        sep = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
        return redirect_uri + sep + urllib.parse.urlencode({"code": code, "state": state})

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages in the channels (current content after updates), oldest first: each
        `{"channel", "ts", "text", "blocks", "thread_ts", "user", "bot_id", "edited"}`."""
        with self.lock:
            return [dict(m) for m in self.posted if channel is None or m["channel"] == self._resolve(channel)]

    # -- routing ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        if request.method == "POST" and path.startswith("/services/"):
            return self._webhook(request)
        if request.method == "POST" and path.startswith("/commands/"):
            return self._response_url(request)
        if request.method == "GET" and path == "/oauth/v2/authorize":
            return self._authorize_page(request)
        method = path[len("/api/"):] if path.startswith("/api/") else path.lstrip("/")
        handler = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "views.open": self._views_open,
            "oauth.v2.access": self._oauth_access,
            "auth.test": self._auth_test,
        }.get(method)
        if handler is None:
            return Response.json({"ok": False, "error": "unknown_method"}, 404)
        return handler(request)

    # -- helpers ------------------------------------------------------------------------------
    def _channel(self, channel_id: str) -> str:
        if channel_id not in self.channels:
            raise ValueError(f"no channel {channel_id!r} in the fake workspace ({sorted(self.channels)})")
        return channel_id

    def _resolve(self, channel: str) -> str:
        """chat.postMessage takes an id or a name (`#alerts`, `alerts`)."""
        if channel in self.channels:
            return channel
        name = channel.lstrip("#")
        return next((cid for cid, n in self.channels.items() if n == name), channel)

    @staticmethod
    def _args(request: Request) -> tuple[dict[str, Any], list[str]]:
        """Web API methods take JSON or a form; Slack warns about JSON without a charset."""
        ctype = (request.header("content-type") or "").lower()
        warnings: list[str] = []
        if ctype.startswith("application/json"):
            if "charset" not in ctype:
                warnings.append("missing_charset")
            try:
                args = request.json() or {}
            except ValueError:
                return {"__invalid_json__": True}, warnings
            return args, warnings
        args: dict[str, Any] = request.form()
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    pass
        return args, warnings

    def _auth(self, request: Request, scope: str | None = None) -> str | dict[str, Any]:
        """The caller's token, or the Slack error dict."""
        token = request.bearer()
        if not token:
            return {"ok": False, "error": "not_authed"}
        grant = self.tokens.get(token)
        if grant is None:
            return {"ok": False, "error": "invalid_auth"}
        if grant["revoked"]:
            return {"ok": False, "error": "token_revoked"}
        if scope and scope not in grant["scopes"]:
            return {"ok": False, "error": "missing_scope", "needed": scope, "provided": ",".join(grant["scopes"])}
        return token

    def _can_post(self, channel: str) -> str | None:
        if channel not in self.channels or (channel in self.private and channel not in self.members):
            return "channel_not_found"
        if channel in self.archived:
            return "is_archived"
        if channel not in self.members:
            return "not_in_channel"
        return None

    def _next_ts(self) -> str:
        with self._ts_lock:
            return f"{int(time.time())}.{next(self._ts):06d}"

    @staticmethod
    def _answer(body: dict[str, Any], warnings: list[str]) -> Response:
        if warnings:
            body = {**body, "warning": ",".join(warnings), "response_metadata": {"warnings": warnings}}
        return Response.json(body)

    def _check_content(self, args: dict[str, Any]) -> str | None:
        if args.get("__invalid_json__"):
            return "invalid_json"
        blocks, text = args.get("blocks"), args.get("text")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS
                                   or any(not isinstance(b, dict) or "type" not in b for b in blocks)):
            return "invalid_blocks"
        if not blocks and not text:
            return "no_text"
        if text and len(text) > MAX_TEXT:
            return "msg_too_long"
        return None

    def _message(self, channel: str, ts: str, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "channel": channel, "ts": ts, "type": "message", "text": args.get("text") or "",
            "blocks": args.get("blocks") or [], "thread_ts": args.get("thread_ts"),
            "user": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id,
            "team": self.team_id, "edited": None,
        }

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        """A stored message as the Web API shows it (no channel key, no null fields)."""
        return {k: v for k, v in message.items() if k != "channel" and v is not None}

    # -- Web API methods ----------------------------------------------------------------------
    def _post_message(self, request: Request) -> Response:
        args, warnings = self._args(request)
        with self.lock:
            token = self._auth(request, "chat:write")
            if isinstance(token, dict):
                return self._answer(token, warnings)
            if not args.get("channel"):
                return self._answer({"ok": False, "error": "channel_not_found"}, warnings)
            channel = self._resolve(str(args["channel"]))
            error = self._can_post(channel) or self._check_content(args)
            if error:
                return self._answer({"ok": False, "error": error}, warnings)
            message = self._message(channel, self._next_ts(), args)
            self.posted.append(message)
            return self._answer({"ok": True, "channel": channel, "ts": message["ts"],
                                 "message": self._public(message)}, warnings)

    def _update(self, request: Request) -> Response:
        args, warnings = self._args(request)
        with self.lock:
            token = self._auth(request, "chat:write")
            if isinstance(token, dict):
                return self._answer(token, warnings)
            channel = self._resolve(str(args.get("channel") or ""))
            error = self._can_post(channel)
            if error:
                return self._answer({"ok": False, "error": error}, warnings)
            message = next((m for m in self.posted if m["channel"] == channel and m["ts"] == args.get("ts")), None)
            if message is None:
                return self._answer({"ok": False, "error": "message_not_found"}, warnings)
            if message["bot_id"] != self.bot_id:
                return self._answer({"ok": False, "error": "cant_update_message"}, warnings)
            error = self._check_content(args)
            if error:
                return self._answer({"ok": False, "error": error}, warnings)
            if "text" in args:
                message["text"] = args.get("text") or ""
            if "blocks" in args:
                message["blocks"] = args.get("blocks") or []
            message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
            self.updates.append({"channel": channel, "ts": message["ts"], "text": args.get("text"),
                                 "blocks": args.get("blocks")})
            return self._answer({"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
                                 "message": self._public(message)}, warnings)

    def _post_ephemeral(self, request: Request) -> Response:
        args, warnings = self._args(request)
        with self.lock:
            token = self._auth(request, "chat:write")
            if isinstance(token, dict):
                return self._answer(token, warnings)
            channel = self._resolve(str(args.get("channel") or ""))
            error = self._can_post(channel) or self._check_content(args)
            if not error and not args.get("user"):
                error = "user_not_in_channel"
            if error:
                return self._answer({"ok": False, "error": error}, warnings)
            ts = self._next_ts()
            self.ephemerals.append({"channel": channel, "user": args["user"], "ts": ts,
                                    "text": args.get("text") or "", "blocks": args.get("blocks") or []})
            return self._answer({"ok": True, "message_ts": ts}, warnings)

    def _views_open(self, request: Request) -> Response:
        args, warnings = self._args(request)
        with self.lock:
            token = self._auth(request)
            if isinstance(token, dict):
                return self._answer(token, warnings)
            trigger, view = args.get("trigger_id"), args.get("view")
            if not trigger or not isinstance(view, dict):
                return self._answer({"ok": False, "error": "invalid_arguments"}, warnings)
            if trigger not in self.trigger_ids:
                # Unknown or already exchanged (Slack: a trigger opens one view within 3 s).
                return self._answer({"ok": False, "error": "invalid_trigger_id"}, warnings)
            if view.get("type") not in ("modal", "home") or not view.get("title") or \
                    len(view.get("blocks") or []) > MAX_VIEW_BLOCKS:
                return self._answer({"ok": False, "error": "invalid_arguments"}, warnings)
            self.trigger_ids.discard(trigger)
            opened = {
                "id": _id("V"), "team_id": self.team_id, "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}", "clear_on_close": False,
                "notify_on_close": False, "root_view_id": None, "previous_view_id": None,
                "app_id": self.app_id, "external_id": "", "bot_id": self.bot_id,
                "private_metadata": "", "callback_id": "", **view,
            }
            opened["root_view_id"] = opened["id"]
            self.views.append({"trigger_id": trigger, "view": opened})
            return self._answer({"ok": True, "view": opened}, warnings)

    def _auth_test(self, request: Request) -> Response:
        with self.lock:
            token = self._auth(request)
            if isinstance(token, dict):
                return Response.json(token)
        return Response.json({"ok": True, "url": f"https://{self.team_domain}.slack.com/", "team": self.team_name,
                              "user": "dd0c", "team_id": self.team_id, "user_id": self.bot_user_id,
                              "bot_id": self.bot_id, "is_enterprise_install": False})

    # -- OAuth --------------------------------------------------------------------------------
    def _authorize_page(self, request: Request) -> Response:
        """Slack's authorize page with the installer clicking "Allow" at once."""
        q = request.query
        if q.get("client_id") != self.client_id:
            return Response.text("invalid_client_id", 400)
        try:
            location = self.authorize(q["client_id"], q.get("scope", ""), q.get("redirect_uri", ""),
                                      q.get("state", ""), channel_id=q.get("channel"))
        except (ValueError, KeyError) as e:
            return Response.text(str(e), 400)
        return Response.redirect(location)

    def _oauth_access(self, request: Request) -> Response:
        form = request.form()
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.basic()
        if basic:  # Slack also takes the client credentials this way
            client_id, client_secret = basic
        with self.lock:
            if client_id != self.client_id:
                return Response.json({"ok": False, "error": "invalid_client_id"})
            if not hmac.compare_digest((client_secret or "").encode(), self.client_secret.encode()):
                return Response.json({"ok": False, "error": "bad_client_secret"})
            grant = self.codes.get(form.get("code", ""))
            if grant is None or grant["used"] or time.time() - grant["created"] > CODE_TTL_SECONDS:
                return Response.json({"ok": False, "error": "invalid_code"})
            grant["used"] = True
            if form.get("redirect_uri", grant["redirect_uri"]) != grant["redirect_uri"]:
                return Response.json({"ok": False, "error": "bad_redirect_uri"})
            token = self.issue_token(grant["scopes"])
            answer: dict[str, Any] = {
                "ok": True,
                "access_token": token,
                "token_type": "bot",
                "scope": ",".join(grant["scopes"]),
                "bot_user_id": self.bot_user_id,
                "app_id": self.app_id,
                "team": {"name": self.team_name, "id": grant["team_id"]},
                "enterprise": None,
                "authed_user": {"id": grant["user_id"]},
                "is_enterprise_install": False,
            }
            channel = grant["channel_id"]
            if "incoming-webhook" in grant["scopes"]:
                hook = f"/services/{self.team_id}/{_id('B')}/{secrets.token_urlsafe(18)}"
                self.hooks[hook] = channel
                if self.webhook_install_joins_channel:
                    self.members.add(channel)
                answer["incoming_webhook"] = {
                    "channel": "#" + self.channels[channel],
                    "channel_id": channel,
                    "configuration_url": f"https://{self.team_domain}.slack.com/services/{hook.split('/')[3]}",
                    "url": self.root + hook,
                }
            self.installs.append({"token": token, **{k: v for k, v in grant.items() if k != "used"}})
            return Response.json(answer)

    # -- incoming webhooks and response URLs --------------------------------------------------
    def _webhook(self, request: Request) -> Response:
        with self.lock:
            channel = self.hooks.get(request.path)
            if channel is None:
                return Response.text("no_service", 404)
            if channel in self.archived:
                return Response.text("channel_is_archived", 410)
            try:
                body = request.json()
            except ValueError:
                return Response.text("invalid_payload", 400)
            if not isinstance(body, dict) or (not body.get("text") and not body.get("blocks")):
                return Response.text("no_text", 400)
            if body.get("blocks") is not None and self._check_content(body) == "invalid_blocks":
                return Response.text("invalid_blocks", 400)
            ts = self._next_ts()
            self.webhook_posts.append({"url": self.root + request.path, "channel": channel, "ts": ts,
                                       "text": body.get("text") or "", "blocks": body.get("blocks") or []})
            self.posted.append(self._message(channel, ts, body))
            return Response.text("ok")

    def _response_url(self, request: Request) -> Response:
        with self.lock:
            grant = self.response_urls.get(request.path)
            if grant is None:
                return Response.text("no_service", 404)
            if time.time() - grant["created"] > RESPONSE_URL_TTL_SECONDS:
                return Response.text("expired_url", 404)
            if grant["uses"] >= RESPONSE_URL_MAX_USES:
                return Response.text("used_url", 404)
            try:
                body = request.json()
            except ValueError:
                return Response.text("invalid_payload", 400)
            grant["uses"] += 1
            self.responses.append({"url": self.root + request.path, "body": body})
            return Response.text("ok")
