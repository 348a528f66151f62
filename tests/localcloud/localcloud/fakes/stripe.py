"""Stripe, as dd0c meets it: the two API calls of `HttpStripe` (functions/api/src/billing.rs)
and the webhook events functions/stripe reads, signed as Stripe signs them.

HttpStripe POSTs form bodies (`line_items[0][price]=...`, Stripe's bracket notation) to
`<STRIPE_API_URL>/v1/checkout/sessions` and `/v1/billing_portal/sessions` with
`Authorization: Bearer <secret key>` and reads `url` (or `error.message` on a 4xx).
The fake checks the key (Bearer or Basic `key:`, as Stripe accepts both), the required
fields, that prices and customers exist, and answers Stripe-shaped objects. It also plays
the customer: `complete_checkout()` (or the "Pay" button of the fake checkout page) creates
the customer and subscription and emits `checkout.session.completed`, and
`update_subscription()` / `cancel_subscription()` emit the subscription events. With
`webhook_url` set, events are delivered there signed, as a Stripe webhook endpoint would be.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ._http import FakeServer, Request, Response

API_VERSION = "2025-09-30.clover"


def _id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_urlsafe(18).replace('-', 'a').replace('_', 'b')}"


def signature_header(body: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature: t=<ts>,v1=hex(hmac_sha256(secret, "<ts>.<body>"))`."""
    t = int(time.time()) if timestamp is None else timestamp
    raw = body.encode() if isinstance(body, str) else body
    v1 = hmac.new(secret.encode(), str(t).encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


def signed_webhook(event: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a webhook delivery. Stripe sends the event pretty-printed; the
    signature covers the exact bytes, so send `body` as is."""
    body = json.dumps(event, indent=2).encode()
    return body, {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": signature_header(body, secret, timestamp),
    }


def event(kind: str, obj: dict[str, Any], *, created: int | None = None, event_id: str | None = None,
          previous_attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Stripe event envelope around `obj`."""
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": event_id or _id("evt").replace("_test", ""),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def subscription_object(subscription_id: str, customer: str, *, quantity: int = 1, status: str = "active",
                        price_id: str = "price_dd0c_pro", tenant_id: str | None = None,
                        created: int | None = None) -> dict[str, Any]:
    """The subscription as events carry it: dd0c reads `id`, `customer`, `status`,
    `items.data[].quantity` and `metadata.tenant_id` (set by Checkout's subscription_data)."""
    now = int(time.time()) if created is None else created
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "metadata": {"tenant_id": tenant_id} if tenant_id else {},
        "items": {
            "object": "list",
            "data": [{
                "id": _id("si").replace("_test", ""),
                "object": "subscription_item",
                "price": {"id": price_id, "object": "price", "recurring": {"interval": "month", "usage_type": "licensed"},
                          "type": "recurring", "billing_scheme": "per_unit"},
                "quantity": quantity,
                "subscription": subscription_id,
            }],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "cancel_at_period_end": False,
        "canceled_at": now if status == "canceled" else None,
        "ended_at": now if status == "canceled" else None,
        "created": now,
        "start_date": now,
        "collection_method": "charge_automatically",
        "currency": "usd",
        "livemode": False,
    }


def checkout_session_completed(tenant_id: str, *, customer: str | None = None, subscription: str | None = None,
                               mode: str = "subscription", created: int | None = None,
                               event_id: str | None = None, session: dict[str, Any] | None = None) -> dict[str, Any]:
    """`checkout.session.completed` for a subscription Checkout dd0c started: the tenant in
    `client_reference_id` and `metadata.tenant_id`, the new customer and subscription ids."""
    obj = dict(session or {})
    obj.update({
        "id": obj.get("id") or _id("cs"),
        "object": "checkout.session",
        "mode": mode,
        "status": "complete",
        "payment_status": "paid",
        "client_reference_id": tenant_id,
        "metadata": {**obj.get("metadata", {}), "tenant_id": tenant_id},
        "customer": customer or obj.get("customer") or _id("cus").replace("_test", ""),
        "subscription": (subscription or _id("sub").replace("_test", "")) if mode == "subscription" else None,
        "livemode": False,
    })
    return event("checkout.session.completed", obj, created=created, event_id=event_id)


def subscription_updated(subscription_id: str, customer: str, *, quantity: int = 1, status: str = "active",
                         tenant_id: str | None = None, previous_attributes: dict[str, Any] | None = None,
                         created: int | None = None, event_id: str | None = None) -> dict[str, Any]:
    obj = subscription_object(subscription_id, customer, quantity=quantity, status=status, tenant_id=tenant_id)
    return event("customer.subscription.updated", obj, created=created, event_id=event_id,
                 previous_attributes=previous_attributes or {})


def subscription_deleted(subscription_id: str, customer: str, *, tenant_id: str | None = None,
                         created: int | None = None, event_id: str | None = None) -> dict[str, Any]:
    obj = subscription_object(subscription_id, customer, status="canceled", tenant_id=tenant_id)
    return event("customer.subscription.deleted", obj, created=created, event_id=event_id)


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding: `a[b][0][c]=v` → {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last or node[index] is None:
                    node[index] = nxt
                node = node[index]
            else:
                if last or part not in node:
                    node[part] = nxt
                node = node[part]
    return root


class StripeFake(FakeServer):
    """`.start()` returns the API base (what STRIPE_API_URL takes: HttpStripe appends `/v1/...`)."""

    def __init__(self, *, secret_key: str = "sk_test_dd0c_local", prices: tuple[str, ...] = ("price_dd0c_pro",),
                 webhook_url: str | None = None, webhook_secret: str | None = None) -> None:
        super().__init__()
        self.secret_key = secret_key
        self.prices: set[str] = set(prices)
        self.customers: dict[str, dict[str, Any]] = {}
        self.checkout_sessions: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []  # {"event", "status", "body"} per webhook POST
        self.webhook_url, self.webhook_secret = webhook_url, webhook_secret

    # -- test controls ------------------------------------------------------------------------
    def add_customer(self, customer_id: str | None = None, email: str | None = None) -> str:
        cid = customer_id or _id("cus").replace("_test", "")
        with self.lock:
            self.customers[cid] = {"id": cid, "object": "customer", "email": email, "livemode": False}
        return cid

    def set_webhook(self, url: str, secret: str) -> None:
        self.webhook_url, self.webhook_secret = url, secret

    def complete_checkout(self, session_id: str) -> dict[str, Any]:
        """The customer paid: the session completes, a customer (unless given) and a
        subscription exist, and `checkout.session.completed` is emitted (returned)."""
        with self.lock:
            session = self.checkout_sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}")
            customer = session["customer"] or self.add_customer(email=session.get("customer_email"))
            session.update(status="complete", payment_status="paid", customer=customer)
            if session["mode"] == "subscription":
                item = session["_line_items"][0]
                sub_id = _id("sub").replace("_test", "")
                sub_meta = session["_subscription_metadata"]
                self.subscriptions[sub_id] = subscription_object(
                    sub_id, customer, quantity=int(item.get("quantity") or 1), price_id=item["price"],
                    tenant_id=sub_meta.get("tenant_id"))
                session["subscription"] = sub_id
            completed = event("checkout.session.completed", self._public(session))
            # Stripe also announces the new subscription (with its quantity) in its own event,
            # delivered independently: dd0c learns the paid account count from it.
            created = (event("customer.subscription.created", json.loads(json.dumps(self.subscriptions[sub_id])))
                       if session["mode"] == "subscription" else None)
        self._emit(completed)
        if created is not None:
            self._emit(created)
        return completed

    def update_subscription(self, subscription_id: str, *, quantity: int | None = None,
                            status: str | None = None) -> dict[str, Any]:
        with self.lock:
            sub = self.subscriptions[subscription_id]
            item = sub["items"]["data"][0]
            previous: dict[str, Any] = {}
            if quantity is not None and quantity != item["quantity"]:
                previous["items"] = json.loads(json.dumps(sub["items"]))
                item["quantity"] = quantity
            if status is not None and status != sub["status"]:
                previous["status"] = sub["status"]
                sub["status"] = status
            updated = event("customer.subscription.updated", json.loads(json.dumps(sub)),
                            previous_attributes=previous)
        self._emit(updated)
        return updated

    def cancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        with self.lock:
            sub = self.subscriptions[subscription_id]
            now = int(time.time())
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            deleted = event("customer.subscription.deleted", json.loads(json.dumps(sub)))
        self._emit(deleted)
        return deleted

    # -- routing ------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path.startswith("/v1/"):
            error = self._authenticate(request)
            if error:
                return error
            if request.method == "POST" and path == "/v1/checkout/sessions":
                return self._create_checkout(parse_form(request.body.decode()))
            if request.method == "POST" and path == "/v1/billing_portal/sessions":
                return self._create_portal(parse_form(request.body.decode()))
            m = re.fullmatch(r"/v1/checkout/sessions/([^/]+)", path)
            if request.method == "GET" and m and m.group(1) in self.checkout_sessions:
                return Response.json(self._public(self.checkout_sessions[m.group(1)]))
            return self._error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {path}).")
        m = re.fullmatch(r"/c/pay/([^/]+)", path)
        if m and m.group(1) in self.checkout_sessions:
            return self._checkout_page(request, m.group(1))
        m = re.fullmatch(r"/p/session/([^/]+)", path)
        if m and m.group(1) in self.portal_sessions:
            session = self.portal_sessions[m.group(1)]
            return Response.text(
                f"<!doctype html><title>Billing portal</title><h1>Billing portal (fake)</h1>"
                f"<p>Customer {html.escape(session['customer'])}</p>"
                f"<a id=\"return\" href=\"{html.escape(session['return_url'] or '/')}\">Return</a>",
                content_type="text/html; charset=utf-8")
        return Response.text("Not found", 404)

    # -- API ----------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, kind: str, message: str, param: str | None = None, code: str | None = None) -> Response:
        error: dict[str, Any] = {"type": kind, "message": message}
        if param:
            error["param"] = param
        if code:
            error["code"] = code
        return Response.json({"error": error}, status, {"Request-Id": "req_" + secrets.token_hex(7)})

    def _authenticate(self, request: Request) -> Response | None:
        basic = request.basic()
        key = request.bearer() or (basic[0] if basic else None)
        if not key:
            return self._error(401, "invalid_request_error",
                               "You did not provide an API key. You need to provide your API key in the "
                               "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        if not hmac.compare_digest(key.encode(), self.secret_key.encode()):
            return self._error(401, "invalid_request_error",
                               f"Invalid API Key provided: {key[:8]}{'*' * 4}{key[-4:]}", code="api_key_invalid")
        return None

    def _create_checkout(self, form: dict[str, Any]) -> Response:
        mode = form.get("mode")
        if mode not in ("payment", "setup", "subscription"):
            return self._error(400, "invalid_request_error", "Missing required param: mode." if not mode
                               else "Invalid mode: must be one of payment, setup, or subscription", "mode")
        if not form.get("success_url"):
            return self._error(400, "invalid_request_error", "Missing required param: success_url.", "success_url")
        items = form.get("line_items") or []
        if mode != "setup" and not items:
            return self._error(400, "invalid_request_error", "Missing required param: line_items.", "line_items")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not item.get("price"):
                return self._error(400, "invalid_request_error", f"Missing required param: line_items[{i}][price].",
                                   f"line_items[{i}][price]")
            with self.lock:
                known = item["price"] in self.prices
            if not known:
                return self._error(400, "invalid_request_error", f"No such price: '{item['price']}'",
                                   f"line_items[{i}][price]", "resource_missing")
            quantity = item.get("quantity", "1")
            if not str(quantity).isdigit() or int(quantity) < 1:
                return self._error(400, "invalid_request_error", "Invalid positive integer",
                                   f"line_items[{i}][quantity]")
        customer = form.get("customer")
        with self.lock:
            if customer and customer not in self.customers:
                return self._error(400, "invalid_request_error", f"No such customer: '{customer}'", "customer",
                                   "resource_missing")
            now = int(time.time())
            session_id = _id("cs")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": mode,
                "status": "open",
                "payment_status": "unpaid",
                "url": f"{self.root}/c/pay/{session_id}",
                "success_url": form["success_url"],
                "cancel_url": form.get("cancel_url"),
                "client_reference_id": form.get("client_reference_id"),
                "customer": customer,
                "customer_email": form.get("customer_email"),
                "metadata": form.get("metadata") or {},
                "subscription": None,
                "created": now,
                "expires_at": now + 24 * 3600,
                "livemode": False,
                "currency": "usd",
                "_line_items": items,
                "_subscription_metadata": (form.get("subscription_data") or {}).get("metadata") or {},
                "_form": form,
            }
            self.checkout_sessions[session_id] = session
            return Response.json(self._public(session))

    def _create_portal(self, form: dict[str, Any]) -> Response:
        customer = form.get("customer")
        if not customer:
            return self._error(400, "invalid_request_error", "Missing required param: customer.", "customer")
        with self.lock:
            if customer not in self.customers:
                return self._error(400, "invalid_request_error", f"No such customer: '{customer}'", "customer",
                                   "resource_missing")
            session_id = "bps_" + secrets.token_urlsafe(18)
            session = {
                "id": session_id,
                "object": "billing_portal.session",
                "configuration": "bpc_" + secrets.token_hex(8),
                "created": int(time.time()),
                "customer": customer,
                "flow": None,
                "livemode": False,
                "locale": None,
                "on_behalf_of": None,
                "return_url": form.get("return_url"),
                "url": f"{self.root}/p/session/{session_id}",
            }
            self.portal_sessions[session_id] = session
            return Response.json(session)

    @staticmethod
    def _public(session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    # -- the customer's side ------------------------------------------------------------------
    def _checkout_page(self, request: Request, session_id: str) -> Response:
        session = self.checkout_sessions[session_id]
        if request.method == "POST":
            if session["status"] == "open":
                self.complete_checkout(session_id)
            return Response.redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
        item = (session["_line_items"] or [{}])[0]
        return Response.text(
            "<!doctype html><title>Checkout</title><h1>Checkout (fake Stripe)</h1>"
            f"<p>{html.escape(str(item.get('price')))} × {html.escape(str(item.get('quantity', 1)))}</p>"
            f"<form method=\"post\"><button id=\"pay\" type=\"submit\">Pay</button></form>"
            f"<a id=\"cancel\" href=\"{html.escape(session['cancel_url'] or '/')}\">Cancel</a>",
            content_type="text/html; charset=utf-8")

    def _emit(self, evt: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(evt)
            url, secret = self.webhook_url, self.webhook_secret
        if url and secret:
            # Stripe delivers asynchronously; a slow endpoint must not block the caller.
            threading.Thread(target=self._deliver, args=(evt, url, secret), daemon=True).start()

    def _deliver(self, evt: dict[str, Any], url: str, secret: str) -> None:
        body, headers = signed_webhook(evt, secret)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                status, text = r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode(errors="replace")
        except OSError as e:
            status, text = 0, str(e)
        with self.lock:
            self.deliveries.append({"event": evt["id"], "type": evt["type"], "status": status, "body": text})
