//! The webhook through its handler with the Stripe fixtures (verbatim bytes and headers where
//! possible; re-signed copies where an event must differ).

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use dd0c_shared::clock::{Clock, ManualClock, SharedClock};
use dd0c_shared::entity::{account_link, stripe, tenant as tenant_entity};
use dd0c_shared::http::{HttpHandler, HttpRequest};
use dd0c_shared::signatures::sign_stripe;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{AccountLink, AccountStatus, Plan, TenantProfile};
use dd0c_shared::testing::active_account;
use dd0c_stripe::StripeWebhook;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/stripe");
const SECRET: &str = "whsec_test_secret";
const T: i64 = 1492774577;
const CUSTOMER: &str = "cus_QXg1o8vcGmoR32";

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn header_of(event: &str) -> String {
    let v: Value = serde_json::from_slice(&read("derived_signatures.json")).unwrap();
    v[event]["header"].as_str().unwrap().to_owned()
}

struct World {
    hook: StripeWebhook,
    table: Arc<MemoryTable>,
    clock: ManualClock,
}

fn world(secrets: &[&str]) -> World {
    let clock = ManualClock::new(Utc.timestamp_opt(T, 0).unwrap());
    let shared: SharedClock = Arc::new(clock.clone());
    let table = Arc::new(MemoryTable::new(shared.clone()));
    let hook = StripeWebhook::new(
        table.clone(),
        shared,
        secrets.iter().map(|s| s.to_string()).collect(),
    );
    World { hook, table, clock }
}

fn request(body: &[u8], header: &str) -> HttpRequest {
    HttpRequest::new("POST", "/v1/stripe/webhook")
        .with_header("Stripe-Signature", header)
        .with_body(body.to_vec())
}

impl World {
    async fn post(&self, body: &[u8], header: &str) -> (u16, Value) {
        let r = self.hook.handle(request(body, header)).await;
        (
            r.status,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }
    /// A fixture event with another id/type/created/object fields, signed now.
    async fn post_event(
        &self,
        base: &str,
        id: &str,
        kind: &str,
        created: i64,
        patch: Value,
    ) -> (u16, Value) {
        let mut v: Value = serde_json::from_slice(&read(base)).unwrap();
        v["id"] = json!(id);
        v["type"] = json!(kind);
        v["created"] = json!(created);
        if let Value::Object(fields) = patch {
            for (k, val) in fields {
                v["data"]["object"][k] = val;
            }
        }
        let body = v.to_string().into_bytes();
        let header = sign_stripe(&body, SECRET, self.clock.now().timestamp());
        self.post(&body, &header).await
    }
    async fn profile(&self, tenant: &str) -> TenantProfile {
        tenant_entity::load_profile(self.table.as_ref(), tenant)
            .await
            .unwrap()
    }
    async fn link(&self, tenant: &str, account: &str, minutes: i64) {
        let link = AccountLink {
            account_id: account.into(),
            tenant_id: tenant.into(),
            connected_at: Utc.timestamp_opt(T, 0).unwrap() + Duration::minutes(minutes),
            ..active_account()
        };
        self.table
            .put(account_link::item(&link).unwrap(), None)
            .await
            .unwrap();
    }
    async fn statuses(&self, tenant: &str) -> Vec<(String, AccountStatus)> {
        let mut l: Vec<_> = account_link::tenant_accounts(self.table.as_ref(), tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.account_id, l.status))
            .collect();
        l.sort_by(|a, b| a.0.cmp(&b.0));
        l
    }
}

#[tokio::test]
async fn verbatim_fixtures_apply_and_replays_are_recognised() {
    let w = world(&[SECRET]);
    let checkout = read("event_checkout.session.completed.json");
    // No tenant can be found for the fixture's customer yet: acknowledged, ignored.
    let (s, body) = w
        .post(&checkout, &header_of("checkout.session.completed"))
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("ignored")),
        "{body}"
    );

    let w = world(&[SECRET]);
    w.table
        .update(
            &stripe::customer_key(CUSTOMER),
            stripe::customer_link("tenant-a"),
        )
        .await
        .unwrap();
    let (s, body) = w
        .post(&checkout, &header_of("checkout.session.completed"))
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
    let p = w.profile("tenant-a").await;
    assert_eq!(p.plan, Plan::Pro);
    assert_eq!(p.stripe_customer_id.as_deref(), Some(CUSTOMER));
    assert_eq!(
        p.stripe_subscription_id.as_deref(),
        Some("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw")
    );

    // Same delivery again, and the deletion fixture (which carries the same event id): replays.
    let (s, body) = w
        .post(&checkout, &header_of("checkout.session.completed"))
        .await;
    assert_eq!((s, body["status"].as_str()), (200, Some("duplicate")));
    let (s, body) = w
        .post(
            &read("event_customer.subscription.deleted.json"),
            &header_of("customer.subscription.deleted"),
        )
        .await;
    assert_eq!((s, body["status"].as_str()), (200, Some("duplicate")));
    assert_eq!(w.profile("tenant-a").await.plan, Plan::Pro);

    // The deletion as its own event: back to free.
    let (s, body) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_deleted",
            "customer.subscription.deleted",
            T,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
    assert_eq!(w.profile("tenant-a").await.plan, Plan::Free);
}

#[tokio::test]
async fn signatures_tampered_stale_rotated_missing() {
    let checkout = read("event_checkout.session.completed.json");
    let header = header_of("checkout.session.completed");
    let w = world(&[SECRET]);
    let mut tampered = checkout.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    assert_eq!(w.post(&tampered, &header).await.0, 400);
    let (s, body) = w.post(&checkout, "t=1492774577,v1=00").await;
    assert_eq!((s, body["field"].as_str()), (400, Some("stripe-signature")));
    assert_eq!(
        w.hook
            .handle(HttpRequest::new("POST", "/v1/stripe/webhook").with_body(checkout.clone()))
            .await
            .status,
        400
    );

    w.clock.set(Utc.timestamp_opt(T + 301, 0).unwrap());
    assert_eq!(w.post(&checkout, &header).await.0, 400, "stale");
    w.clock.set(Utc.timestamp_opt(T + 299, 0).unwrap());
    assert_eq!(
        w.post(&checkout, &header).await.0,
        200,
        "inside the tolerance"
    );

    // A rotation: the new secret first, the old one still accepted; a wrong one alone is not.
    let rotated = world(&["whsec_new", SECRET]);
    assert_eq!(rotated.post(&checkout, &header).await.0, 200);
    let wrong = world(&["whsec_new"]);
    assert_eq!(wrong.post(&checkout, &header).await.0, 400);

    let r = w
        .hook
        .handle(HttpRequest::new("GET", "/v1/stripe/webhook"))
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn out_of_order_events_never_regress_and_downgrades_pause_accounts() {
    let w = world(&[SECRET]);
    for (i, account) in ["111111111111", "222222222222", "333333333333"]
        .iter()
        .enumerate()
    {
        w.link("tenant-a", account, i as i64).await;
    }
    let tenant_meta = json!({ "metadata": { "tenant_id": "tenant-a" } });
    let mut updated = tenant_meta.clone();
    updated["status"] = json!("active");
    updated["items"] = json!({ "data": [{ "quantity": 3 }] });

    let (s, b) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_up",
            "customer.subscription.updated",
            T - 10,
            updated.clone(),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("applied")), "{b}");
    let p = w.profile("tenant-a").await;
    assert_eq!((p.plan, p.account_quantity), (Plan::Pro, Some(3)));

    // An older deletion arriving late changes nothing.
    let (s, b) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_old_delete",
            "customer.subscription.deleted",
            T - 20,
            tenant_meta.clone(),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("stale")), "{b}");
    assert_eq!(w.profile("tenant-a").await.plan, Plan::Pro);
    assert!(w
        .statuses("tenant-a")
        .await
        .iter()
        .all(|(_, s)| *s == AccountStatus::Active));

    // A newer deletion: free, the newest accounts paused (never deleted).
    let (s, b) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_delete",
            "customer.subscription.deleted",
            T,
            tenant_meta.clone(),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("applied")), "{b}");
    assert_eq!(w.profile("tenant-a").await.plan, Plan::Free);
    assert_eq!(
        w.statuses("tenant-a").await,
        vec![
            ("111111111111".to_owned(), AccountStatus::Active),
            ("222222222222".to_owned(), AccountStatus::Paused),
            ("333333333333".to_owned(), AccountStatus::Paused),
        ]
    );

    // Resubscribing for 2 accounts resumes the oldest paused one.
    let mut two = updated.clone();
    two["items"] = json!({ "data": [{ "quantity": 2 }] });
    let (s, _) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_resub",
            "customer.subscription.updated",
            T + 5,
            two,
        )
        .await;
    assert_eq!(s, 200);
    let st = w.statuses("tenant-a").await;
    assert_eq!(
        st.iter()
            .filter(|(_, s)| *s == AccountStatus::Active)
            .count(),
        2,
        "{st:?}"
    );
    assert_eq!(st[2].1, AccountStatus::Paused);

    // Unhandled types are acknowledged.
    let (s, b) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_inv",
            "invoice.paid",
            T + 6,
            json!({}),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")));
}

#[tokio::test]
async fn events_of_a_subscription_that_is_not_the_current_one_change_nothing() {
    let w = world(&[SECRET]);
    let base = "event_customer.subscription.deleted.json";
    let subscription = |id: &str, status: &str, quantity: i64| {
        json!({
            "id": id,
            "metadata": { "tenant_id": "tenant-a" },
            "status": status,
            "items": { "data": [{ "quantity": quantity }] },
        })
    };
    let created = "customer.subscription.created";
    let (s, b) = w
        .post_event(
            base,
            "evt_a",
            created,
            T - 30,
            subscription("sub_a", "active", 3),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("applied")), "{b}");

    // A second subscription is started and dropped again: the paying one stays in charge.
    let (s, b) = w
        .post_event(
            base,
            "evt_b_new",
            created,
            T - 20,
            subscription("sub_b", "incomplete", 1),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")), "{b}");
    let (s, b) = w
        .post_event(
            base,
            "evt_b_up",
            "customer.subscription.updated",
            T - 15,
            subscription("sub_b", "active", 9),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")), "{b}");
    assert!(
        b["reason"].as_str().unwrap_or_default().contains("sub_b"),
        "{b}"
    );
    let (s, b) = w
        .post_event(
            base,
            "evt_b_gone",
            "customer.subscription.deleted",
            T - 10,
            subscription("sub_b", "canceled", 1),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")), "{b}");
    let p = w.profile("tenant-a").await;
    assert_eq!(
        (
            p.plan,
            p.account_quantity,
            p.stripe_subscription_id.as_deref()
        ),
        (Plan::Pro, Some(3), Some("sub_a"))
    );

    // A new active subscription replaces the current one; the old one's deletion is then
    // about a subscription that is no longer current.
    let (s, b) = w
        .post_event(
            base,
            "evt_c",
            created,
            T - 5,
            subscription("sub_c", "active", 5),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("applied")), "{b}");
    let (s, b) = w
        .post_event(
            base,
            "evt_a_gone",
            "customer.subscription.deleted",
            T,
            subscription("sub_a", "canceled", 3),
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("ignored")), "{b}");
    let p = w.profile("tenant-a").await;
    assert_eq!(
        (
            p.plan,
            p.account_quantity,
            p.stripe_subscription_id.as_deref()
        ),
        (Plan::Pro, Some(5), Some("sub_c"))
    );
}

/// Found by the fuzz corpus run: a `created` past any date was taken, stored as a number the
/// table cannot hold exactly, and the tenant's profile no longer read back (503 forever, so
/// Stripe retried it for days).
#[tokio::test]
async fn an_event_created_at_no_possible_time_is_refused_naming_the_body() {
    let w = world(&[SECRET]);
    let subscription = json!({
        "id": "sub_a", "metadata": { "tenant_id": "tenant-a" }, "status": "active",
        "items": { "data": [{ "quantity": 2 }] },
    });
    for created in [17_000_001_700_000_001_i64, -1] {
        let (s, b) = w
            .post_event(
                "event_customer.subscription.deleted.json",
                "evt_far",
                "customer.subscription.created",
                created,
                subscription.clone(),
            )
            .await;
        assert_eq!(
            (s, b["field"].as_str()),
            (400, Some("body")),
            "{created}: {b}"
        );
    }
    let (s, b) = w
        .post_event(
            "event_customer.subscription.deleted.json",
            "evt_now",
            "customer.subscription.created",
            T,
            subscription,
        )
        .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("applied")), "{b}");
    assert_eq!(w.profile("tenant-a").await.billing_event_created, Some(T));
}
