"""The outside parties of the local cloud on their own: the Slack, Stripe and Cognito hosted
UI fakes, with their signatures cross-checked against independent implementations
(slack_sdk, the stripe package, PyJWT) and the upstream vectors in tests/fixtures."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import jwt
import pytest
import requests

from localcloud.fakes import slack, stripe as stripe_fake
from localcloud.fakes.hosted_ui import HostedUi, s256
from localcloud.fakes.slack import SlackFake
from localcloud.fakes.stripe import StripeFake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


# ---------------------------------------------------------------------------------- Slack

@pytest.fixture
def slack_fake():
    fake = SlackFake()
    fake.start()
    yield fake
    fake.stop()


def web_api(fake: SlackFake, method: str, body: dict, token: str | None) -> dict:
    """Calls a Web API method the way SlackWebApi does (reqwest `.json()`: no charset)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = requests.post(f"{fake.api_url}/{method}", data=json.dumps(body), headers=headers, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_start_returns_the_web_api_base(slack_fake):
    assert slack_fake.base_url().endswith("/api")
    token = slack_fake.issue_token()
    # Both `<root>/api/<method>` (Slack's layout) and `<root>/<method>` answer.
    r = requests.post(f"{slack_fake.root}/auth.test", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert r.json()["ok"] is True and r.json()["user_id"] == slack_fake.bot_user_id


def test_the_bot_posts_only_where_it_is_a_member(slack_fake):
    token = slack_fake.issue_token()
    message = {"channel": "C0ALERTS01", "text": "hi", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}
    assert web_api(slack_fake, "chat.postMessage", message, token)["error"] == "not_in_channel"
    # A private channel the bot cannot see does not exist, as far as the bot is told.
    assert web_api(slack_fake, "chat.postMessage", {**message, "channel": "G0SECRET01"}, token)["error"] == "channel_not_found"
    assert web_api(slack_fake, "chat.postMessage", {**message, "channel": "C0NOSUCH01"}, token)["error"] == "channel_not_found"
    assert slack_fake.messages() == []

    slack_fake.join("C0ALERTS01")
    answer = web_api(slack_fake, "chat.postMessage", message, token)
    assert answer["ok"] is True and answer["channel"] == "C0ALERTS01"
    assert answer["ts"] and answer["message"]["blocks"] == message["blocks"]
    assert answer["warning"] == "missing_charset"  # Slack's warning for JSON without a charset
    by_name = web_api(slack_fake, "chat.postMessage", {**message, "channel": "#alerts", "thread_ts": answer["ts"]}, token)
    assert by_name["channel"] == "C0ALERTS01" and by_name["ts"] != answer["ts"]
    posted = slack_fake.messages("C0ALERTS01")
    assert [m["ts"] for m in posted] == [answer["ts"], by_name["ts"]]
    assert posted[1]["thread_ts"] == answer["ts"] and posted[0]["blocks"] == message["blocks"]

    slack_fake.kick("C0ALERTS01")
    assert web_api(slack_fake, "chat.postMessage", message, token)["error"] == "not_in_channel"


def test_tokens_are_checked(slack_fake):
    slack_fake.join("C0ALERTS01")
    message = {"channel": "C0ALERTS01", "text": "hi"}
    assert web_api(slack_fake, "chat.postMessage", message, None)["error"] == "not_authed"
    assert web_api(slack_fake, "chat.postMessage", message, "xoxb-made-up")["error"] == "invalid_auth"
    token = slack_fake.issue_token()
    assert web_api(slack_fake, "chat.postMessage", message, token)["ok"] is True
    slack_fake.revoke(token)
    assert web_api(slack_fake, "chat.postMessage", message, token)["error"] == "token_revoked"
    reader = slack_fake.issue_token(scopes=["commands"])
    assert web_api(slack_fake, "chat.postMessage", message, reader)["error"] == "missing_scope"
    assert web_api(slack_fake, "chat.postMessage", {"channel": "C0ALERTS01"}, slack_fake.issue_token())["error"] == "no_text"
    assert web_api(slack_fake, "chat.postMessage", {**message, "blocks": [{"text": "no type"}]},
                   slack_fake.issue_token())["error"] == "invalid_blocks"


def test_update_replaces_the_message_and_is_recorded(slack_fake):
    token = slack_fake.issue_token()
    slack_fake.join("C0ALERTS01")
    ts = web_api(slack_fake, "chat.postMessage", {"channel": "C0ALERTS01", "text": "open"}, token)["ts"]
    new_blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "Snoozed"}]}]
    answer = web_api(slack_fake, "chat.update", {"channel": "C0ALERTS01", "ts": ts, "text": "snoozed", "blocks": new_blocks}, token)
    assert answer["ok"] is True and answer["ts"] == ts and answer["text"] == "snoozed"
    [message] = slack_fake.messages("C0ALERTS01")
    assert message["text"] == "snoozed" and message["blocks"] == new_blocks and message["edited"]
    assert slack_fake.updates == [{"channel": "C0ALERTS01", "ts": ts, "text": "snoozed", "blocks": new_blocks}]
    assert web_api(slack_fake, "chat.update", {"channel": "C0ALERTS01", "ts": "1.000001", "text": "x"}, token)["error"] == "message_not_found"


def test_views_open_takes_a_live_trigger_once(slack_fake):
    token = slack_fake.issue_token()
    view = {"type": "modal", "callback_id": "assign", "private_metadata": '{"finding_id":"f1"}',
            "title": {"type": "plain_text", "text": "Assign an owner"}, "blocks": []}
    assert web_api(slack_fake, "views.open", {"trigger_id": "1.2.made-up", "view": view}, token)["error"] == "invalid_trigger_id"
    trigger = slack_fake.new_trigger_id()
    opened = web_api(slack_fake, "views.open", {"trigger_id": trigger, "view": view}, token)
    assert opened["ok"] is True and opened["view"]["id"].startswith("V")
    assert opened["view"]["callback_id"] == "assign" and opened["view"]["state"] == {"values": {}}
    assert slack_fake.views[0]["view"]["private_metadata"] == '{"finding_id":"f1"}'
    assert web_api(slack_fake, "views.open", {"trigger_id": trigger, "view": view}, token)["error"] == "invalid_trigger_id"

    # The submission helper turns the opened view into what Slack POSTs to dd0c.
    body = slack.view_submission_body(opened["view"], {"owner": {"assign_to": {"type": "users_select", "selected_user": "U0BOB00001"}}})
    payload = json.loads(query_of("http://x/?" + body)["payload"])
    assert payload["type"] == "view_submission" and payload["view"]["callback_id"] == "assign"
    assert payload["view"]["state"]["values"]["owner"]["assign_to"]["selected_user"] == "U0BOB00001"
    assert json.loads(payload["view"]["private_metadata"]) == {"finding_id": "f1"}


def oauth_access(fake: SlackFake, code: str, redirect_uri: str, secret: str | None = None) -> dict:
    # dd0c's SlackOAuth: a form body, client credentials in it.
    r = requests.post(f"{fake.api_url}/oauth.v2.access", data={
        "client_id": fake.client_id, "client_secret": secret or fake.client_secret,
        "code": code, "redirect_uri": redirect_uri}, timeout=5)
    return r.json()


def test_oauth_install_exchanges_a_single_use_code(slack_fake):
    redirect = "https://api.dd0c.test/v1/slack/oauth_redirect"
    location = slack_fake.authorize(slack_fake.client_id, "chat:write,commands", redirect, "state-123")
    assert location.startswith(redirect + "?")
    q = query_of(location)
    assert q["state"] == "state-123"
    assert oauth_access(slack_fake, q["code"], redirect, secret="wrong")["error"] == "bad_client_secret"
    basic = requests.post(f"{slack_fake.api_url}/oauth.v2.access", data={"code": "nope", "redirect_uri": redirect},
                          auth=(slack_fake.client_id, slack_fake.client_secret), timeout=5)
    assert basic.json()["error"] == "invalid_code", "client credentials in Basic auth are accepted"
    answer = oauth_access(slack_fake, q["code"], redirect)
    assert answer["ok"] is True and answer["token_type"] == "bot"
    assert answer["access_token"].startswith("xoxb-") and answer["scope"] == "chat:write,commands"
    assert answer["team"] == {"name": slack_fake.team_name, "id": slack_fake.team_id}
    assert answer["bot_user_id"] == slack_fake.bot_user_id and answer["app_id"] == slack_fake.app_id
    assert answer["authed_user"] == {"id": slack_fake.installer_user_id}
    assert "incoming_webhook" not in answer
    assert slack_fake.members == set(), "chat:write alone joins the bot to no channel"
    assert oauth_access(slack_fake, q["code"], redirect)["error"] == "invalid_code"

    # The token works, within the membership rules.
    assert web_api(slack_fake, "chat.postMessage", {"channel": "C0ALERTS01", "text": "x"}, answer["access_token"])["error"] == "not_in_channel"

    other = query_of(slack_fake.authorize(slack_fake.client_id, "chat:write", redirect, "s2"))
    assert oauth_access(slack_fake, other["code"], "https://evil.test/cb")["error"] == "bad_redirect_uri"
    with pytest.raises(ValueError):
        slack_fake.authorize("someone-else", "chat:write", redirect, "s3")


def test_incoming_webhook_install_picks_a_channel(slack_fake):
    redirect = "http://127.0.0.1:8787/v1/slack/oauth_redirect"
    q = query_of(slack_fake.authorize(slack_fake.client_id, ["chat:write", "incoming-webhook"], redirect, "s",
                                      channel_id="C0GENERAL1"))
    answer = oauth_access(slack_fake, q["code"], redirect)
    hook = answer["incoming_webhook"]
    assert hook["channel"] == "#general" and hook["channel_id"] == "C0GENERAL1"
    assert hook["url"].startswith(slack_fake.root + "/services/" + slack_fake.team_id + "/B")
    assert hook["configuration_url"]
    assert "C0GENERAL1" in slack_fake.members  # the app is added to the picked channel

    r = requests.post(hook["url"], json={"text": "from the webhook", "blocks": []}, timeout=5)
    assert (r.status_code, r.text) == (200, "ok")
    assert slack_fake.webhook_posts[0]["channel"] == "C0GENERAL1"
    assert slack_fake.messages("C0GENERAL1")[0]["text"] == "from the webhook"
    r = requests.post(slack_fake.root + "/services/T0/B0/nope", json={"text": "x"}, timeout=5)
    assert (r.status_code, r.text) == (404, "no_service")


def test_dd0c_install_scopes_and_the_fallback_paths(slack_fake):
    # dd0c's SCOPES (shared/src/slack/install.rs): the chosen channel takes bot posts and has
    # a webhook; a channel the bot is not in answers not_in_channel (dd0c then falls back to
    # the webhook); an archived channel answers is_archived and its webhook 410.
    redirect = "http://127.0.0.1:8787/v1/slack/oauth_redirect"
    q = query_of(slack_fake.authorize(slack_fake.client_id, "chat:write,commands,incoming-webhook", redirect, "s",
                                      channel_id="C0ALERTS01"))
    answer = oauth_access(slack_fake, q["code"], redirect)
    token, hook = answer["access_token"], answer["incoming_webhook"]
    assert answer["scope"] == "chat:write,commands,incoming-webhook"
    assert web_api(slack_fake, "chat.postMessage", {"channel": "C0ALERTS01", "text": "a"}, token)["ok"] is True
    assert web_api(slack_fake, "chat.postMessage", {"channel": "C0GENERAL1", "text": "b"}, token)["error"] == "not_in_channel"
    assert requests.post(hook["url"], json={"text": "fallback"}, timeout=5).text == "ok"
    slack_fake.archive("C0ALERTS01")
    assert web_api(slack_fake, "chat.postMessage", {"channel": "C0ALERTS01", "text": "c"}, token)["error"] == "is_archived"
    r = requests.post(hook["url"], json={"text": "x"}, timeout=5)
    assert (r.status_code, r.text) == (410, "channel_is_archived")
    assert [m["text"] for m in slack_fake.messages("C0ALERTS01")] == ["a", "fallback"]


def test_webhook_install_can_leave_the_bot_outside():
    with SlackFake(webhook_install_joins_channel=False) as fake:
        q = query_of(fake.authorize(fake.client_id, "incoming-webhook,chat:write", "http://x/cb", "s"))
        answer = oauth_access(fake, q["code"], "http://x/cb")
        assert answer["incoming_webhook"]["channel_id"] == "C0ALERTS01"
        assert fake.members == set()


def test_the_authorize_page_redirects_like_an_approving_installer(slack_fake):
    params = {"client_id": slack_fake.client_id, "scope": "chat:write,commands", "state": "abc",
              "redirect_uri": "http://127.0.0.1:9/v1/slack/oauth_redirect"}
    r = requests.get(slack_fake.authorize_url, params=params, allow_redirects=False, timeout=5)
    assert r.status_code == 302
    q = query_of(r.headers["Location"])
    assert q["state"] == "abc" and oauth_access(slack_fake, q["code"], params["redirect_uri"])["ok"] is True


def test_response_urls_take_five_posts(slack_fake):
    url = slack_fake.new_response_url()
    for i in range(5):
        assert requests.post(url, json={"text": f"answer {i}"}, timeout=5).text == "ok"
    r = requests.post(url, json={"text": "one too many"}, timeout=5)
    assert (r.status_code, r.text) == (404, "used_url")
    assert [x["body"]["text"] for x in slack_fake.responses] == [f"answer {i}" for i in range(5)]


def test_wait_for_sees_a_later_post(slack_fake):
    token = slack_fake.issue_token()
    slack_fake.join("C0ALERTS01")
    threading.Timer(0.2, web_api, (slack_fake, "chat.postMessage", {"channel": "C0ALERTS01", "text": "late"}, token)).start()
    found = slack_fake.wait_for(lambda: slack_fake.messages("C0ALERTS01"), timeout=5)
    assert found[0]["text"] == "late"
    with pytest.raises(TimeoutError):
        slack_fake.wait_for(lambda: slack_fake.messages("C0GENERAL1"), timeout=0.2)


def test_signatures_match_slack_sdk():
    from slack_sdk.signature import SignatureVerifier

    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    body = slack.slash_command_body("digest", response_url="https://hooks.slack.com/commands/T1/2/3")
    ts = int(time.time())
    headers = slack.sign(secret, ts, body)
    verifier = SignatureVerifier(secret)
    assert headers["X-Slack-Signature"] == verifier.generate_signature(timestamp=str(ts), body=body)
    assert verifier.is_valid(body=body, timestamp=headers["X-Slack-Request-Timestamp"], signature=headers["X-Slack-Signature"])
    assert not verifier.is_valid(body=body + "x", timestamp=str(ts), signature=headers["X-Slack-Signature"])
    raw, sent = slack.signed_request(secret, body, ts)
    assert raw == body.encode() and sent["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent["X-Slack-Signature"] == headers["X-Slack-Signature"]


def test_slack_documented_signature_example():
    # The worked example of Slack's "Verifying requests from Slack" page.
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    headers = slack.sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, body)
    assert headers["X-Slack-Signature"] == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slash_command_and_block_actions_bodies_parse_as_dd0c_reads_them():
    form = query_of("http://x/?" + slack.slash_command_body("anomalies all", team_id="T9", response_url="https://hooks.slack.com/commands/T9/1/2"))
    assert form["command"] == "/dd0c" and form["text"] == "anomalies all" and form["team_id"] == "T9"
    assert form["response_url"] == "https://hooks.slack.com/commands/T9/1/2" and form["user_id"] and form["trigger_id"]

    body = slack.block_actions_body("snooze_24h", "f-123", channel_id="C0ALERTS01", message_ts="111.222", team_id="T9")
    assert body.startswith("payload=")
    payload = json.loads(query_of("http://x/?" + body)["payload"])
    assert payload["type"] == "block_actions" and payload["team"]["id"] == "T9"
    assert {k: payload["actions"][0][k] for k in ("action_id", "value", "type")} == \
        {"action_id": "snooze_24h", "value": "f-123", "type": "button"}
    assert payload["container"] == {"type": "message", "message_ts": "111.222", "channel_id": "C0ALERTS01", "is_ephemeral": False}
    assert payload["user"]["id"] and payload["trigger_id"]

    select = json.loads(query_of("http://x/?" + slack.block_actions_body(
        "assign_to", action_type="users_select", block_id="assign:f-9", selected_user="U0BOB00001"))["payload"])
    action = select["actions"][0]
    assert action["selected_user"] == "U0BOB00001" and action["block_id"] == "assign:f-9" and "value" not in action


# ---------------------------------------------------------------------------------- Stripe

@pytest.fixture
def stripe_server():
    fake = StripeFake(secret_key="sk_test_abc")
    fake.start()
    yield fake
    fake.stop()


def checkout_form(tenant: str, price: str = "price_dd0c_pro", quantity: int = 3) -> str:
    # Byte for byte what HttpStripe sends (functions/api/src/billing.rs: checkout_form).
    return urllib.parse.urlencode([
        ("mode", "subscription"), ("line_items[0][price]", price), ("line_items[0][quantity]", str(quantity)),
        ("client_reference_id", tenant), ("metadata[tenant_id]", tenant),
        ("subscription_data[metadata][tenant_id]", tenant),
        ("success_url", "https://app.dd0c.test/#/accounts?checkout=done"),
        ("cancel_url", "https://app.dd0c.test/#/accounts"),
    ])


def stripe_post(fake: StripeFake, path: str, body: str, key: str | None = "sk_test_abc") -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(fake.base_url() + path, data=body, headers=headers, timeout=5)


def test_stripe_checks_the_secret_key(stripe_server):
    r = stripe_post(stripe_server, "/v1/checkout/sessions", checkout_form("t1"), key=None)
    assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
    r = stripe_post(stripe_server, "/v1/checkout/sessions", checkout_form("t1"), key="sk_test_wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == "api_key_invalid"
    basic = requests.post(stripe_server.base_url() + "/v1/checkout/sessions", data=checkout_form("t1"),
                          auth=("sk_test_abc", ""), timeout=5)
    assert basic.status_code == 200
    garbled = requests.post(stripe_server.base_url() + "/v1/checkout/sessions", data=checkout_form("t1"),
                            headers={"Authorization": "Basic !!!"}, timeout=5)
    assert garbled.status_code == 401


def test_checkout_then_payment_then_portal(stripe_server):
    r = stripe_post(stripe_server, "/v1/checkout/sessions", checkout_form("t1"))
    assert r.status_code == 200, r.text
    session = r.json()
    assert session["object"] == "checkout.session" and session["id"].startswith("cs_test_")
    assert session["url"].startswith(stripe_server.root + "/c/pay/")
    assert session["client_reference_id"] == "t1" and session["metadata"] == {"tenant_id": "t1"}
    assert session["status"] == "open" and session["mode"] == "subscription"
    form = stripe_server.checkout_sessions[session["id"]]["_form"]
    assert form["line_items"] == [{"price": "price_dd0c_pro", "quantity": "3"}]

    # The customer pays on the checkout page: redirected to success_url, event emitted.
    page = requests.get(session["url"], timeout=5)
    assert page.status_code == 200 and 'id="pay"' in page.text
    paid = requests.post(session["url"], allow_redirects=False, timeout=5)
    assert paid.status_code == 302 and paid.headers["Location"] == "https://app.dd0c.test/#/accounts?checkout=done"
    # As Stripe does: the checkout completes, and the new subscription is announced on its own.
    completed, created = stripe_server.events
    obj = completed["data"]["object"]
    assert completed["type"] == "checkout.session.completed"
    assert created["type"] == "customer.subscription.created"
    assert created["data"]["object"]["id"] == obj["subscription"]
    assert created["data"]["object"]["items"]["data"][0]["quantity"] >= 1
    assert obj["mode"] == "subscription" and obj["client_reference_id"] == "t1"
    assert obj["customer"].startswith("cus_") and obj["subscription"].startswith("sub_")
    sub = stripe_server.subscriptions[obj["subscription"]]
    assert sub["items"]["data"][0]["quantity"] == 3 and sub["metadata"] == {"tenant_id": "t1"}

    updated = stripe_server.update_subscription(obj["subscription"], quantity=5)
    assert updated["type"] == "customer.subscription.updated"
    assert updated["data"]["object"]["items"]["data"][0]["quantity"] == 5
    assert updated["data"]["previous_attributes"]["items"]["data"][0]["quantity"] == 3
    deleted = stripe_server.cancel_subscription(obj["subscription"])
    assert deleted["type"] == "customer.subscription.deleted" and deleted["data"]["object"]["status"] == "canceled"

    portal = stripe_post(stripe_server, "/v1/billing_portal/sessions",
                         urllib.parse.urlencode({"customer": obj["customer"], "return_url": "https://app.dd0c.test/#/accounts"}))
    assert portal.status_code == 200, portal.text
    assert portal.json()["object"] == "billing_portal.session"
    assert requests.get(portal.json()["url"], timeout=5).status_code == 200


def test_stripe_refuses_what_stripe_refuses(stripe_server):
    r = stripe_post(stripe_server, "/v1/checkout/sessions", checkout_form("t1", price="price_unknown"))
    assert r.status_code == 400 and r.json()["error"]["code"] == "resource_missing"
    assert r.json()["error"]["param"] == "line_items[0][price]"
    r = stripe_post(stripe_server, "/v1/checkout/sessions", "success_url=https://x")
    assert r.status_code == 400 and r.json()["error"]["param"] == "mode"
    r = stripe_post(stripe_server, "/v1/checkout/sessions", checkout_form("t1") + "&customer=cus_nobody")
    assert r.status_code == 400 and "No such customer" in r.json()["error"]["message"]
    r = stripe_post(stripe_server, "/v1/billing_portal/sessions", "customer=cus_nobody&return_url=https://x")
    assert r.status_code == 400 and r.json()["error"]["code"] == "resource_missing"
    known = stripe_server.add_customer("cus_known")
    assert stripe_post(stripe_server, "/v1/billing_portal/sessions", f"customer={known}").status_code == 200


def test_stripe_signatures_match_the_stripe_package():
    import stripe

    evt = stripe_fake.checkout_session_completed("t1", customer="cus_1", subscription="sub_1")
    body, headers = stripe_fake.signed_webhook(evt, "whsec_abc", timestamp=1_700_000_000)
    assert headers["Stripe-Signature"] == stripe.WebhookSignature.generate_signature_header(
        body.decode(), "whsec_abc", timestamp=1_700_000_000)
    fresh_body, fresh = stripe_fake.signed_webhook(evt, "whsec_abc")
    verified = stripe.Webhook.construct_event(fresh_body.decode(), fresh["Stripe-Signature"], "whsec_abc")
    assert verified["type"] == "checkout.session.completed"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(fresh_body.decode(), fresh["Stripe-Signature"], "whsec_other")


def test_stripe_signatures_match_the_upstream_vectors():
    vector = json.loads((FIXTURES / "stripe" / "stripe_signing_vector.json").read_text())
    payload = (FIXTURES / "stripe" / vector["payload_file"]).read_bytes()
    header = stripe_fake.signature_header(payload, vector["secret"], vector["timestamp"])
    assert header == f"t={vector['timestamp']},v1={vector['expected_v1']}"
    derived = json.loads((FIXTURES / "stripe" / "derived_signatures.json").read_text())
    for entry in derived.values():
        body = (FIXTURES / "stripe" / entry["file"]).read_bytes()
        assert stripe_fake.signature_header(body, entry["secret"], entry["t"]) == entry["header"]


def test_event_builders_carry_what_the_webhook_reads():
    done = stripe_fake.checkout_session_completed("t1")
    obj = done["data"]["object"]
    assert done["id"].startswith("evt_") and isinstance(done["created"], int)
    assert obj["mode"] == "subscription" and obj["client_reference_id"] == "t1" and obj["metadata"]["tenant_id"] == "t1"
    assert obj["customer"].startswith("cus_") and obj["subscription"].startswith("sub_")
    assert stripe_fake.checkout_session_completed("t1", mode="payment")["data"]["object"]["subscription"] is None

    up = stripe_fake.subscription_updated("sub_1", "cus_1", quantity=4, status="past_due", created=5)
    assert up["type"] == "customer.subscription.updated" and up["created"] == 5
    assert up["data"]["object"]["items"]["data"][0]["quantity"] == 4 and up["data"]["object"]["status"] == "past_due"
    gone = stripe_fake.subscription_deleted("sub_1", "cus_1", tenant_id="t1")
    assert gone["data"]["object"]["metadata"] == {"tenant_id": "t1"}


def test_stripe_delivers_signed_events_to_a_webhook_endpoint(stripe_server):
    import stripe

    received: list[tuple[bytes, str]] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.rfile.read(int(self.headers["Content-Length"])), self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    try:
        stripe_server.set_webhook(f"http://127.0.0.1:{endpoint.server_address[1]}/v1/stripe/webhook", "whsec_x")
        session = stripe_post(stripe_server, "/v1/checkout/sessions", checkout_form("t2")).json()
        stripe_server.complete_checkout(session["id"])
        deliveries = stripe_server.wait_for(lambda: len(stripe_server.deliveries) == 2 and stripe_server.deliveries,
                                            timeout=5)
        assert sorted(d["type"] for d in deliveries) == ["checkout.session.completed", "customer.subscription.created"]
        assert all(d["status"] == 200 for d in deliveries)
        body, signature = next(r for r in received if b"checkout.session.completed" in r[0])
        assert stripe.Webhook.construct_event(body.decode(), signature, "whsec_x")["data"]["object"]["client_reference_id"] == "t2"
    finally:
        endpoint.shutdown()
        endpoint.server_close()


def test_parse_form_follows_stripes_bracket_notation():
    assert stripe_fake.parse_form("a[b][0][c]=1&a[b][1][c]=2&a[d]=x&e=") == {"a": {"b": [{"c": "1"}, {"c": "2"}], "d": "x"}, "e": ""}


# ---------------------------------------------------------------------------------- hosted UI

DASHBOARD = "http://127.0.0.1:8788"
PASSWORD = "Correct-Horse-9-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(endpoint + "/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if proc.poll() is not None:
                    pytest.fail("moto_server exited")
                time.sleep(0.05)
        else:
            pytest.fail("moto_server did not start")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def cognito(moto_endpoint):
    return boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=moto_endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def ui(cognito):
    # The shape of infra-cdk/lib/constructs/auth.ts: e-mail sign-in, code grant only.
    pool = cognito.create_user_pool(PoolName="dd0c-users", UsernameAttributes=["email"],
                                    AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="dd0c-dashboard", GenerateSecret=False,
        AllowedOAuthFlows=["code"], AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "email", "profile"],
        CallbackURLs=[DASHBOARD + "/", DASHBOARD + "/callback"], LogoutURLs=[DASHBOARD + "/"],
        SupportedIdentityProviders=["COGNITO"])["UserPoolClient"]["ClientId"]
    hosted = HostedUi(cognito, pool, client, [DASHBOARD + "/", DASHBOARD + "/callback"], [DASHBOARD + "/"])
    hosted.start()
    yield hosted
    hosted.stop()


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    return verifier, s256(verifier)


def authorize_params(ui: HostedUi, challenge: str, **over) -> dict[str, str]:
    params = {"response_type": "code", "client_id": ui.client_id, "redirect_uri": DASHBOARD + "/",
              "scope": "openid email profile", "state": "st-" + secrets.token_hex(4),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}


def sign_up(ui: HostedUi, session: requests.Session, email: str, challenge: str) -> requests.Response:
    params = authorize_params(ui, challenge)
    login = session.get(ui.root + "/oauth2/authorize", params=params, allow_redirects=False, timeout=5)
    assert login.status_code == 302 and login.headers["Location"].startswith("/login?")
    page = session.get(ui.root + login.headers["Location"], timeout=5)
    assert 'id="username"' in page.text and 'id="password"' in page.text and 'id="signup-link"' in page.text
    return session.post(ui.root + "/signup?" + urllib.parse.urlencode(params),
                        data={"username": email, "password": PASSWORD}, allow_redirects=False, timeout=5)


def exchange(ui: HostedUi, code: str, verifier: str, redirect_uri: str = DASHBOARD + "/",
             origin: str = DASHBOARD) -> requests.Response:
    return requests.post(ui.root + "/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": ui.client_id, "code_verifier": verifier}, headers={"Origin": origin}, timeout=5)


def test_sign_up_then_code_exchange_with_pkce(ui, moto_endpoint):
    verifier, challenge = pkce()
    r = sign_up(ui, requests.Session(), "alice@example.com", challenge)
    assert r.status_code == 302, r.text
    back = query_of(r.headers["Location"])
    assert r.headers["Location"].startswith(DASHBOARD + "/?") and back["state"].startswith("st-")
    assert ui.signups == ["alice@example.com"]

    tokens = exchange(ui, back["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) == {"id_token", "access_token", "refresh_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert tokens.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert tokens.headers["Cache-Control"] == "no-store"

    # The ID token is moto's, verifiable with the pool's JWKS as the API verifies it.
    jwks = jwt.PyJWKClient(f"{moto_endpoint}/{ui.user_pool_id}/.well-known/jwks.json")
    claims = jwt.decode(body["id_token"], jwks.get_signing_key_from_jwt(body["id_token"]).key,
                        algorithms=["RS256"], audience=ui.client_id)
    assert claims["token_use"] == "id"
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{ui.user_pool_id}"

    again = exchange(ui, back["code"], verifier)
    assert (again.status_code, again.json()) == (400, {"error": "invalid_grant"})


def test_a_wrong_verifier_is_refused_and_burns_the_code(ui):
    verifier, challenge = pkce()
    back = query_of(sign_up(ui, requests.Session(), "bob@example.com", challenge).headers["Location"])
    other, _ = pkce()
    wrong = exchange(ui, back["code"], other)
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})
    assert exchange(ui, back["code"], verifier).json() == {"error": "invalid_grant"}


def test_the_code_is_bound_to_its_redirect_uri_and_client(ui):
    verifier, challenge = pkce()
    session = requests.Session()
    back = query_of(sign_up(ui, session, "carol@example.com", challenge).headers["Location"])
    assert exchange(ui, back["code"], verifier, redirect_uri=DASHBOARD + "/callback").json() == {"error": "invalid_grant"}
    r = requests.post(ui.root + "/oauth2/token", data={"grant_type": "authorization_code", "code": "x",
                                                        "client_id": "someone-else", "code_verifier": verifier,
                                                        "redirect_uri": DASHBOARD + "/"}, timeout=5)
    assert r.json() == {"error": "invalid_client"}
    r = requests.post(ui.root + "/oauth2/token", data={"grant_type": "password", "client_id": ui.client_id}, timeout=5)
    assert r.json() == {"error": "unsupported_grant_type"}


def test_the_implicit_grant_is_refused(ui):
    _, challenge = pkce()
    r = requests.get(ui.root + "/oauth2/authorize", params=authorize_params(ui, challenge, response_type="token", state="s1"),
                     allow_redirects=False, timeout=5)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(DASHBOARD + "/?")
    assert query_of(r.headers["Location"]) == {"error": "unauthorized_client", "state": "s1"}


@pytest.mark.parametrize("over, error", [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"scope": "openid aws.cognito.signin.user.admin"}, "invalid_scope"),
    ({"response_type": "id_token"}, "unsupported_response_type"),
])
def test_authorize_refuses_bad_requests_back_to_the_client(ui, over, error):
    _, challenge = pkce()
    r = requests.get(ui.root + "/oauth2/authorize", params=authorize_params(ui, challenge, **over),
                     allow_redirects=False, timeout=5)
    assert r.status_code == 302 and query_of(r.headers["Location"])["error"] == error


def test_an_unregistered_redirect_uri_never_gets_a_redirect(ui):
    _, challenge = pkce()
    r = requests.get(ui.root + "/oauth2/authorize", params=authorize_params(ui, challenge, redirect_uri="https://evil.test/"),
                     allow_redirects=False, timeout=5)
    assert r.status_code == 302 and r.headers["Location"].startswith("/error?error=redirect_mismatch")
    assert requests.get(ui.root + r.headers["Location"], timeout=5).status_code == 400
    r = requests.get(ui.root + "/oauth2/authorize", params=authorize_params(ui, challenge, client_id="nope"),
                     allow_redirects=False, timeout=5)
    assert r.headers["Location"].startswith("/error?")


def test_sign_in_checks_the_password_then_keeps_a_session(ui):
    verifier, challenge = pkce()
    sign_up(ui, requests.Session(), "dave@example.com", challenge)
    browser = requests.Session()
    params = authorize_params(ui, challenge)
    bad = browser.post(ui.root + "/login?" + urllib.parse.urlencode(params),
                       data={"username": "dave@example.com", "password": "wrong"}, allow_redirects=False, timeout=5)
    assert bad.status_code == 400 and "Incorrect username or password." in bad.text
    good = browser.post(ui.root + "/login?" + urllib.parse.urlencode(params),
                        data={"username": "dave@example.com", "password": PASSWORD}, allow_redirects=False, timeout=5)
    assert good.status_code == 302
    assert exchange(ui, query_of(good.headers["Location"])["code"], verifier).status_code == 200

    # Within the hosted UI session, authorize answers with a code at once.
    verifier2, challenge2 = pkce()
    again = browser.get(ui.root + "/oauth2/authorize", params=authorize_params(ui, challenge2), allow_redirects=False, timeout=5)
    assert again.status_code == 302 and again.headers["Location"].startswith(DASHBOARD + "/?code=")
    assert exchange(ui, query_of(again.headers["Location"])["code"], verifier2).status_code == 200

    out = browser.get(ui.root + "/logout", params={"client_id": ui.client_id, "logout_uri": DASHBOARD + "/"},
                      allow_redirects=False, timeout=5)
    assert out.status_code == 302 and out.headers["Location"] == DASHBOARD + "/"
    after = browser.get(ui.root + "/oauth2/authorize", params=authorize_params(ui, challenge2), allow_redirects=False, timeout=5)
    assert after.headers["Location"].startswith("/login?")
    evil = browser.get(ui.root + "/logout", params={"client_id": ui.client_id, "logout_uri": "https://evil.test/"},
                       allow_redirects=False, timeout=5)
    assert evil.headers["Location"].startswith("/error?")


def test_sign_up_errors_stay_on_the_form(ui):
    _, challenge = pkce()
    assert sign_up(ui, requests.Session(), "erin@example.com", challenge).status_code == 302
    twice = sign_up(ui, requests.Session(), "erin@example.com", challenge)
    assert twice.status_code == 400 and "already exists" in twice.text


def test_the_token_endpoint_answers_cors_for_the_dashboard_only(ui):
    pre = requests.options(ui.root + "/oauth2/token", headers={
        "Origin": DASHBOARD, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=5)
    assert pre.status_code == 204 and pre.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    other = requests.options(ui.root + "/oauth2/token", headers={"Origin": "https://evil.test"}, timeout=5)
    assert "Access-Control-Allow-Origin" not in other.headers


def test_s256_matches_rfc_7636_appendix_b():
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


# ---------------------------------------------------------------------------------- the dashboard

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = REPO / "tests" / "dashboard" / "node_modules" / "playwright-core"

SIGN_IN_SCRIPT = r"""
const { chromium } = require('playwright-core');
const [dashboard, hosted, password] = process.argv.slice(2);
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  const out = {};
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(dashboard + '/#/accounts');
    await page.waitForURL(hosted + '/login?**');
    out.authorize = page.url();
    await page.click('#signup-link');
    await page.fill('#username', 'frank@example.com');
    await page.fill('#password', password);
    await page.click('#signup');
    await page.waitForURL(dashboard + '/#/accounts');
    await page.waitForFunction(() => document.getElementById('whoami').textContent.includes('tenant'));
    out.url = page.url();
    out.whoami = await page.textContent('#whoami');
    out.idToken = await page.evaluate(() => sessionStorage.getItem('dd0c.id_token'));
    out.pending = await page.evaluate(() => sessionStorage.getItem('dd0c.pkce'));
    // A redirect this tab did not start is refused.
    await page.goto(dashboard + '/?code=stolen&state=forged#/');
    await page.waitForSelector('#main [role="alert"]');
    out.forged = await page.textContent('#main');
    out.forgedUrl = page.url();
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def test_the_dashboard_signs_in_with_the_code_flow_and_pkce(cognito, tmp_path):
    # scripts/test-e2e.sh installs both; a missing browser is a failure, never a skip.
    assert Path(CHROMIUM).exists() and PLAYWRIGHT.exists(), \
        "needs Chromium and tests/dashboard's playwright-core (scripts/test-e2e.sh installs both)"
    from localcloud.fakes._http import FakeServer, Response

    seen: list[str] = []

    class Site(FakeServer):
        """dashboard/ as the bucket serves it, config.json as the CDK app writes it, and an
        API that answers /v1/me to the bearer of an ID token."""
        config: dict = {}

        def handle(self, request):
            name = "index.html" if request.path == "/" else request.path.lstrip("/")
            if name == "config.json":
                return Response.json(self.config)
            if request.path.startswith("/v1/"):
                seen.append(request.header("authorization") or "")
                if request.path == "/v1/me":
                    return Response.json({"user": "frank@example.com", "tenant_id": "t-frank"})
                return Response.json({"items": [], "next_cursor": None})
            path = REPO / "dashboard" / name
            if name not in ("index.html", "app.js", "style.css", "favicon.svg"):
                return Response.text("not found", 404)
            kind = {"html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
            return Response(200, path.read_bytes(), {"Content-Type": kind + "; charset=utf-8"})

    site = Site()
    origin = site.start()
    pool = cognito.create_user_pool(PoolName="dash", UsernameAttributes=["email"])["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="dashboard", AllowedOAuthFlows=["code"], AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "email", "profile"], CallbackURLs=[origin + "/"])["UserPoolClient"]["ClientId"]
    ui = HostedUi(cognito, pool, client, [origin + "/"], [origin + "/"])
    domain = ui.start()
    Site.config = {"apiUrl": origin, "region": "us-east-1", "cognitoUserPoolId": pool,
                   "cognitoClientId": client, "cognitoDomain": domain}
    script = tmp_path / "sign_in.js"
    script.write_text(SIGN_IN_SCRIPT)
    try:
        run = subprocess.run(["node", str(script), origin, domain, PASSWORD], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "CHROMIUM": CHROMIUM, "NODE_PATH": str(PLAYWRIGHT.parent)})
    finally:
        ui.stop()
        site.stop()
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    sent = query_of(out["authorize"])
    assert sent["response_type"] == "code" and sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["redirect_uri"] == origin + "/" and sent["client_id"] == client
    assert out["url"] == origin + "/#/accounts", "the code is gone from the URL and the route restored"
    assert out["pending"] is None
    assert "tenant t-frank" in out["whoami"]
    assert f"Bearer {out['idToken']}" in seen
    assert jwt.decode(out["idToken"], options={"verify_signature": False})["aud"] == client
    assert "does not match" in out["forged"] and "code=" not in out["forgedUrl"]


# ---------------------------------------------------------------------------------- concurrency
# The local cloud's execution-environment pools and concurrent SQS pollers
# (localcloud/runtime.py, localcloud/esm.py), on the stand-in function (stub_function.py "sleep"
# answers when it started and ended, in which process and behind which Runtime API endpoint).

from localcloud.cloud import LocalCloud, stub_command  # noqa: E402
from localcloud.runtime import FunctionError as LambdaFunctionError, LambdaFunction  # noqa: E402


def stub_lambda(tmp_path: Path, mode: str, *args: str, timeout_s: int = 10, limit: int = 4) -> LambdaFunction:
    fn = LambdaFunction(name="dd0c-t-stub", logical_id="Stub", binary=Path(sys.executable),
                        arn="arn:aws:lambda:us-east-1:111111111111:function:dd0c-t-stub", template_env={},
                        extra_env={}, timeout_s=timeout_s, memory_mb=128, log_path=tmp_path / "stub.log",
                        get_secret=lambda secret_id: {})
    fn.max_concurrency = limit
    fn.command = stub_command(mode, *args)
    return fn


def invoke_all(fn: LambdaFunction, payloads: list[dict], stagger_s: float = 0.0) -> list:
    """Each payload from its own thread, at once: the answers (decoded) or the FunctionErrors."""
    out: list = [None] * len(payloads)

    def one(i: int) -> None:
        try:
            out[i] = json.loads(fn.invoke_raw(json.dumps(payloads[i]).encode())[1])
        except LambdaFunctionError as e:
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
        time.sleep(stagger_s)
    for t in threads:
        t.join(60)
    return out


def most_at_once(answers: list[dict]) -> int:
    """The most invocations whose [start, end] intervals (taken by the stub) overlap."""
    edges = sorted([(a["start"], 1) for a in answers] + [(a["end"], -1) for a in answers], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, d in edges:
        now += d
        peak = max(peak, now)
    return peak


def test_invocations_of_one_function_run_in_concurrent_environments(tmp_path):
    fn = stub_lambda(tmp_path, "sleep")
    try:
        first, second = invoke_all(fn, [{"sleep": 1.0}, {"sleep": 1.0}])
        assert first["start"] < second["end"] and second["start"] < first["end"], "the two invocations overlapped"
        assert first["pid"] != second["pid"] and first["api"] != second["api"], \
            "each environment is its own process behind its own Runtime API endpoint"
        # Idle environments are reused (warm): no cold start for the next two.
        third, fourth = invoke_all(fn, [{"sleep": 0.5}, {"sleep": 0.5}])
        assert {third["pid"], fourth["pid"]} == {first["pid"], second["pid"]} and fn.cold_starts == 2
    finally:
        fn.close()


def test_the_pool_never_exceeds_the_functions_concurrency(tmp_path):
    fn = stub_lambda(tmp_path, "sleep", limit=2)
    try:
        answers = invoke_all(fn, [{"sleep": 0.6}] * 6)
        assert most_at_once(answers) == 2, "two at a time: the local cap"
        assert len({a["pid"] for a in answers}) == 2 and fn.cold_starts == 2
        # The template's ReservedConcurrentExecutions wins over the local cap.
        fn.max_concurrency, fn.reserved_concurrency = 4, 1
        answers = invoke_all(fn, [{"sleep": 0.3}] * 3)
        assert most_at_once(answers) == 1
    finally:
        fn.close()


def test_a_timeout_kills_only_the_environment_that_timed_out(tmp_path):
    fn = stub_lambda(tmp_path, "sleep", timeout_s=3)
    try:
        warm = invoke_all(fn, [{"sleep": 0.5}, {"sleep": 0.5}])  # two warm environments
        # slow: from 0 s, killed at its 3 s timeout; quick: from 1.5 s to 3.5 s, in flight at the kill.
        slow, quick = invoke_all(fn, [{"sleep": 30}, {"sleep": 2.0}], stagger_s=1.5)
        assert isinstance(slow, LambdaFunctionError) and slow.error_type == "Sandbox.Timedout"
        assert isinstance(quick, dict), f"the other environment's invocation completed: {quick}"
        assert quick["pid"] in {w["pid"] for w in warm}, "it ran warm, in an environment the timeout left alone"
        assert fn.cold_starts == 2
        # The timed-out environment cold-starts when needed again; the other is still warm.
        again = invoke_all(fn, [{"sleep": 0.1}])[0]
        assert again["pid"] == quick["pid"] and fn.cold_starts == 2
    finally:
        fn.close()


def test_crash_kills_one_busy_environment(tmp_path):
    fn = stub_lambda(tmp_path, "sleep")
    try:
        invoke_all(fn, [{"sleep": 0.3}, {"sleep": 0.3}])
        out: list = []
        t = threading.Thread(target=lambda: out.extend(invoke_all(fn, [{"sleep": 3}, {"sleep": 3}])))
        t.start()
        time.sleep(1.0)
        assert fn.crash() is True
        t.join(30)
        failed = [a for a in out if isinstance(a, LambdaFunctionError)]
        assert len(failed) == 1 and failed[0].error_type == "Runtime.ExitError" and isinstance(
            next(a for a in out if not isinstance(a, LambdaFunctionError)), dict)
    finally:
        fn.close()


def test_moto_holds_back_a_fifo_group_while_one_of_its_messages_is_in_flight(moto_endpoint):
    """The concurrent SQS pollers rely on it: SQS never hands out a group with a message in
    flight, so two batches never hold the same group and each group keeps its order."""
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    url = sqs.create_queue(QueueName="groups-" + secrets.token_hex(4) + ".fifo",
                           Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    for body, group in (("a1", "A"), ("a2", "A"), ("b1", "B"), ("b2", "B")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)

    def receive(n: int) -> list[dict]:
        return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=n, WaitTimeSeconds=0,
                                   VisibilityTimeout=30).get("Messages", [])

    first = receive(1)
    assert [m["Body"] for m in first] == ["a1"]
    second = receive(10)
    assert [m["Body"] for m in second] == ["b1", "b2"], "group A is held while a1 is in flight"
    assert receive(10) == [], "both groups are held"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive(10)] == ["a2"], "a1 deleted: group A is handed out again, in order"
    # A message made visible again (a failed record) is redelivered before the rest of its group.
    sqs.send_message(QueueUrl=url, MessageBody="b3", MessageGroupId="B")
    for m in second:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    assert [m["Body"] for m in receive(10)] == ["b1", "b2", "b3"]


TINY_TEMPLATE = {
    "Resources": {
        "Work": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": "dd0c-t-work.fifo", "FifoQueue": True, "ContentBasedDeduplication": True,
            "VisibilityTimeout": 60}},
        "Stub": {"Type": "AWS::Lambda::Function", "Properties": {
            "FunctionName": "dd0c-t-stub", "Handler": "bootstrap", "Runtime": "provided.al2023", "Timeout": 30,
            "Role": "arn:aws:iam::111111111111:role/stub"}},
        "Mapping": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["Work", "Arn"]}, "FunctionName": {"Ref": "Stub"}, "BatchSize": 2,
            "ScalingConfig": {"MaximumConcurrency": 2}}},
    },
}


@pytest.fixture(scope="module")
def tiny_cloud(tmp_path_factory):
    """A LocalCloud over a template of one FIFO queue, one function and its mapping; the
    function runs the stub."""
    root = tmp_path_factory.mktemp("tiny-cloud")
    (root / "target").mkdir()
    (root / "target" / "stub").symlink_to(sys.executable)
    template = root / "dd0c-t.template.json"
    template.write_text(json.dumps(TINY_TEMPLATE))
    cloud = LocalCloud(template, target_dir=root / "target", log_dir=root / "logs", fakes=False).start()
    cloud.function("stub").command = stub_command("sleep")
    cloud.function("stub").max_concurrency = 4
    try:
        yield cloud
    finally:
        cloud.close()


def test_async_invocations_run_concurrently(tiny_cloud):
    cloud = tiny_cloud
    cloud.poller("work").pause()
    try:
        n = len(cloud.invocations)
        for _ in range(3):
            cloud.invoke("stub", {"sleep": 2.0}, async_=True)
        assert cloud.wait_async_idle(30)
        answers = [r.response for r in cloud.invocations[n:]]
        assert len(answers) == 3 and all(r.ok for r in cloud.invocations[n:])
        assert most_at_once(answers) == 3, "Lambda runs Event invocations concurrently"
    finally:
        cloud.poller("work").resume()


def test_a_fifo_mapping_processes_groups_concurrently_each_in_order(tiny_cloud):
    cloud = tiny_cloud
    url = cloud.queue_url("work")
    n = len(cloud.invocations)
    sent = {"A": [f"a{i}" for i in range(6)], "B": [f"b{i}" for i in range(6)]}
    poller = cloud.poller("work")
    poller.pause()
    for group, bodies in sent.items():
        for body in bodies:
            cloud.sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    poller.resume()
    cloud.wait_idle(60)
    batches = sorted((r.response for r in cloud.invocations[n:] if r.source.startswith("sqs:")), key=lambda a: a["start"])
    for group, bodies in sent.items():
        got = [body for b in batches for body, g in zip(b["bodies"], b["groups"]) if g == group]
        assert got == bodies, f"group {group} in order"
    overlapping = [(x, y) for i, x in enumerate(batches) for y in batches[i + 1:] if y["start"] < x["end"]]
    assert overlapping, "two batches were processed concurrently"
    assert all(not set(x["groups"]) & set(y["groups"]) for x, y in overlapping), \
        "batches processed at the same time never share a message group"
    assert poller.peak_holding <= 2, "ScalingConfig.MaximumConcurrency"


def test_a_fifo_receive_fills_its_batch_from_one_group_first(tiny_cloud):
    """Sends interleaved across groups: SQS fills a receive from one group before the next
    (localcloud/moto_server.py makes moto do so), so the mapping's two loops each hold a group
    instead of one batch holding a message of both."""
    cloud = tiny_cloud
    url = cloud.queue_url("work")
    n = len(cloud.invocations)
    poller = cloud.poller("work")
    poller.pause()
    for i in range(4):
        for group in ("C", "D"):
            cloud.sqs.send_message(QueueUrl=url, MessageBody=f"{group.lower()}{i}", MessageGroupId=group)
    poller.resume()
    cloud.wait_idle(60)
    batches = sorted((r.response for r in cloud.invocations[n:] if r.source.startswith("sqs:")), key=lambda a: a["start"])
    for b in batches:  # a batch goes on to another group only when its group has nothing more
        for body, following in zip(b["bodies"], b["bodies"][1:]):
            assert body[0] == following[0] or body[1:] == "3", [b["bodies"] for b in batches]
    for group in ("C", "D"):
        assert [x for b in batches for x in b["bodies"] if x[0] == group.lower()] == [f"{group.lower()}{i}" for i in range(4)]
    assert any(y["start"] < x["end"] for i, x in enumerate(batches) for y in batches[i + 1:]), "C and D concurrently"


# ---- DynamoDB transactions in the local cloud's moto (localcloud/moto_server.py) ---------------
def test_a_failed_transaction_puts_back_only_its_own_items_while_others_write():
    """moto rolled a failed TransactWriteItems back by restoring a copy of the whole table taken
    when it started: every other client's writes in between were undone (and the copy raced
    them: a 500). The launcher rolls back only the transaction's own items, under a lock."""
    from localcloud.cloud import MotoServer

    server = MotoServer()
    try:
        ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=server.url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}, {"AttributeName": "SK", "AttributeType": "S"}])
        ddb.put_item(TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": "kept"}, "v": {"N": "1"}})
        # A table of some size: moto's copy of it took long enough for other writes to land.
        for start in range(0, 2000, 25):
            ddb.batch_write_item(RequestItems={"t": [
                {"PutRequest": {"Item": {"PK": {"S": f"bulk{j % 50}"}, "SK": {"S": str(j)}, "pad": {"S": "x" * 200}}}}
                for j in range(start, start + 25)]})

        def failing_transaction(n: int) -> None:
            try:
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": "t", "Item": {"PK": {"S": "p"}, "SK": {"S": f"tx-{n}"}}}},
                    {"Update": {"TableName": "t", "Key": {"PK": {"S": "p"}, "SK": {"S": "kept"}},
                                "UpdateExpression": "SET v = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
                    {"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "p"}, "SK": {"S": "missing"}},
                                        "ConditionExpression": "attribute_exists(PK)"}},
                ])
            except ddb.exceptions.TransactionCanceledException:
                return
            raise AssertionError("the transaction should have been cancelled")

        def writer(n: int) -> None:
            for i in range(40):
                ddb.put_item(TableName="t", Item={"PK": {"S": "p"}, "SK": {"S": f"w{n}-{i}"}})

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        threads += [threading.Thread(target=lambda: [failing_transaction(i) for i in range(20)]) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        items = ddb.query(TableName="t", KeyConditionExpression="PK = :p",
                          ExpressionAttributeValues={":p": {"S": "p"}})["Items"]
        keys = {i["SK"]["S"] for i in items}
        assert {f"w{n}-{i}" for n in range(3) for i in range(40)} <= keys, "a rollback undid another client's write"
        assert not any(k.startswith("tx-") for k in keys), "a cancelled transaction left an item"
        assert next(i for i in items if i["SK"]["S"] == "kept")["v"] == {"N": "1"}
    finally:
        server.close()
