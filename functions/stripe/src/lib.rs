//! The Stripe webhook (`POST /v1/stripe/webhook`): verified signature, then the tenant's
//! plan follows the subscription. Idempotent on the event id; an event older than the state
//! already applied never overwrites it (conditional write on the event's `created`), and an
//! event about a subscription other than the tenant's current one changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use dd0c_shared::auth::jwt::valid_tenant_id;
use dd0c_shared::clock::SharedClock;
use dd0c_shared::entity::{account_link, stripe, tenant as tenant_entity};
use dd0c_shared::finding_actions::{append_audit, audit_entry, Actor};
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::signatures::{verify_stripe, STRIPE_TOLERANCE_SECONDS};
use dd0c_shared::store::{AttrValue, Condition, Item, StoreError, Table, Update, TTL_ATTRIBUTE};
use dd0c_shared::tenancy::{AccountStatus, Plan, TenantProfile};

pub const PATH: &str = "/v1/stripe/webhook";
pub const SECRET_ENV: &str = "STRIPE_WEBHOOK_SECRET";
/// Demo default for the embedded mode (`dd0c serve`).
pub const DEMO_SECRET: &str = "whsec_dd0c_local_demo";
/// Processed event ids are kept this long (Stripe retries for up to 3 days).
const EVENT_MARKER_DAYS: i64 = 30;

pub struct StripeWebhook {
    table: Arc<dyn Table>,
    clock: SharedClock,
    /// Several during a rotation: any may match.
    secrets: Vec<String>,
}

/// What a delivered event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied {
        tenant: String,
        plan: Plan,
    },
    Duplicate,
    /// Older than the billing state already applied.
    Stale,
    Ignored(String),
}

impl StripeWebhook {
    pub fn new(table: Arc<dyn Table>, clock: SharedClock, secrets: Vec<String>) -> Self {
        Self {
            table,
            clock,
            secrets,
        }
    }

    /// The embedded mode: `STRIPE_WEBHOOK_SECRET` (comma-separated for a rotation) or the demo default.
    pub fn local(table: Arc<dyn Table>, clock: SharedClock) -> Self {
        Self::new(
            table,
            clock,
            secrets_from_env().unwrap_or_else(|| vec![DEMO_SECRET.to_owned()]),
        )
    }

    async fn process(&self, request: &HttpRequest) -> Result<Outcome, HttpResponse> {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        verify_stripe(
            request.header("stripe-signature"),
            &request.body,
            &secrets,
            self.clock.now().timestamp(),
            STRIPE_TOLERANCE_SECONDS,
        )
        .map_err(|e| {
            HttpResponse::problem(
                400,
                "Invalid signature",
                &e.to_string(),
                Some("stripe-signature"),
            )
        })?;
        let event: Value = serde_json::from_slice(&request.body).map_err(|e| {
            HttpResponse::problem(
                400,
                "Bad request",
                &format!("the body is not JSON: {e}"),
                Some("body"),
            )
        })?;
        // `created` orders the events of a subscription: it must be a time (a number past any
        // date would not survive the table's numbers exactly).
        let created = event["created"]
            .as_i64()
            .filter(|t| *t >= 0 && DateTime::<Utc>::from_timestamp(*t, 0).is_some());
        let (Some(id), Some(kind), Some(created)) =
            (event["id"].as_str(), event["type"].as_str(), created)
        else {
            return Err(HttpResponse::problem(
                400,
                "Bad request",
                "the event needs id, type and created (a Unix time)",
                Some("body"),
            ));
        };
        let store_error = |e: StoreError| {
            tracing::error!(error = %e, "store failed");
            // 5xx: Stripe retries later.
            HttpResponse::problem(503, "Service unavailable", "the store is unavailable", None)
        };
        if self
            .table
            .get(&stripe::event_key(id))
            .await
            .map_err(store_error)?
            .is_some()
        {
            return Ok(Outcome::Duplicate);
        }
        let outcome = self
            .apply(kind, created, &event["data"]["object"])
            .await
            .map_err(store_error)?;
        let mut marker = Item::new();
        marker.insert("type".into(), AttrValue::S(kind.to_owned()));
        marker.insert("outcome".into(), AttrValue::S(format!("{outcome:?}")));
        let expires = self.clock.now() + Duration::days(EVENT_MARKER_DAYS);
        marker.insert(
            TTL_ATTRIBUTE.into(),
            AttrValue::N(expires.timestamp() as f64),
        );
        dd0c_shared::store::put_if_absent(self.table.as_ref(), stripe::event_item(id, marker))
            .await
            .map_err(store_error)?;
        tracing::info!(event_id = id, event_type = kind, ?outcome, "stripe event");
        Ok(outcome)
    }

    async fn tenant_of(&self, object: &Value) -> Result<Option<String>, StoreError> {
        let direct = object["client_reference_id"]
            .as_str()
            .or_else(|| object["metadata"]["tenant_id"].as_str())
            .filter(|t| valid_tenant_id(t));
        if let Some(t) = direct {
            return Ok(Some(t.to_owned()));
        }
        let Some(customer) = object["customer"].as_str() else {
            return Ok(None);
        };
        Ok(self
            .table
            .get(&stripe::customer_key(customer))
            .await?
            .and_then(|i| {
                i.get("tenant_id")
                    .and_then(AttrValue::as_str)
                    .map(str::to_owned)
            }))
    }

    async fn apply(&self, kind: &str, created: i64, object: &Value) -> Result<Outcome, StoreError> {
        let (plan, quantity) = match kind {
            "checkout.session.completed" => {
                if object["mode"].as_str() != Some("subscription") {
                    return Ok(Outcome::Ignored("not a subscription checkout".into()));
                }
                (Plan::Pro, None)
            }
            "customer.subscription.created" | "customer.subscription.updated" => {
                let quantity: i64 = object["items"]["data"]
                    .as_array()
                    // Outside numbers: a sum that overflows saturates instead of panicking.
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| i["quantity"].as_i64())
                            .fold(0i64, i64::saturating_add)
                    })
                    .unwrap_or(0);
                match object["status"].as_str().unwrap_or_default() {
                    // past_due keeps the plan while Stripe retries the payment.
                    "active" | "trialing" | "past_due" => {
                        (Plan::Pro, u32::try_from(quantity.max(1)).ok())
                    }
                    _ => (Plan::Free, None),
                }
            }
            "customer.subscription.deleted" => (Plan::Free, None),
            other => return Ok(Outcome::Ignored(format!("{other} is not handled"))),
        };
        let Some(tenant) = self.tenant_of(object).await? else {
            return Ok(Outcome::Ignored("no dd0c tenant on the event".into()));
        };
        let customer = object["customer"].as_str();
        let subscription = if kind == "checkout.session.completed" {
            object["subscription"].as_str()
        } else {
            object["id"].as_str()
        };
        let not_older = Condition::Or(vec![
            Condition::AttributeNotExists("billing_event_created".into()),
            Condition::LessThan("billing_event_created".into(), AttrValue::N(created as f64)),
            Condition::Equals("billing_event_created".into(), AttrValue::N(created as f64)),
        ]);
        // Only the tenant's current subscription moves the plan; a new one that is paying may
        // take its place (decision 0600, "Which subscription counts"). Checked in the write's
        // condition, so an event racing a replacement cannot slip in between read and write.
        let may_replace = plan == Plan::Pro
            && matches!(
                kind,
                "checkout.session.completed" | "customer.subscription.created"
            );
        let condition = match (subscription, may_replace) {
            (_, true) => not_older,
            (Some(s), false) => Condition::And(vec![
                not_older,
                Condition::Or(vec![
                    Condition::AttributeNotExists("stripe_subscription_id".into()),
                    Condition::Equals("stripe_subscription_id".into(), AttrValue::S(s.to_owned())),
                ]),
            ]),
            (None, false) => return Ok(Outcome::Ignored(format!("{kind} names no subscription"))),
        };
        let mut update = Update::new()
            .set("tenant_id", tenant.as_str())
            .set("plan", if plan == Plan::Pro { "pro" } else { "free" })
            .set("billing_event_created", created)
            .when(condition);
        if let Some(c) = customer {
            update = update.set("stripe_customer_id", c);
        }
        if let Some(s) = subscription {
            update = update.set("stripe_subscription_id", s);
        }
        update = match quantity {
            Some(q) => update.set("account_quantity", i64::from(q)),
            None if plan == Plan::Free => update.remove("account_quantity"),
            None => update,
        };
        let item = match self
            .table
            .update(
                &tenant_entity::profile_key(&tenant),
                tenant_entity::profile_update(update),
            )
            .await
        {
            Ok(item) => item,
            Err(e) if e.is_condition_failed() => {
                return self.why_not_applied(&tenant, subscription, created).await
            }
            Err(e) => return Err(e),
        };
        if let Some(c) = customer {
            self.table
                .update(&stripe::customer_key(c), stripe::customer_link(&tenant))
                .await?;
        }
        let profile: TenantProfile =
            dd0c_shared::store::from_item(item).map_err(|e| StoreError::Decode {
                key: None,
                source: e,
            })?;
        self.enforce_limit(&tenant, profile.account_limit()).await?;
        let now = self.clock.now();
        let actor = Actor {
            user: "stripe".into(),
            via: "stripe_webhook".into(),
        };
        append_audit(
            self.table.as_ref(),
            &audit_entry(
                &tenant,
                &actor,
                now,
                "billing.plan",
                &tenant,
                json!({ "event": kind, "plan": format!("{plan:?}"), "quantity": quantity }),
            ),
        )
        .await?;
        Ok(Outcome::Applied { tenant, plan })
    }

    /// Which part of the billing condition refused an event: the reason is recorded on the
    /// event's marker (nothing is written to the tenant, so this read races nothing).
    async fn why_not_applied(
        &self,
        tenant: &str,
        subscription: Option<&str>,
        created: i64,
    ) -> Result<Outcome, StoreError> {
        let profile = tenant_entity::load_profile(self.table.as_ref(), tenant).await?;
        let older = profile
            .billing_event_created
            .is_some_and(|applied| applied > created);
        match (profile.stripe_subscription_id.as_deref(), subscription) {
            (Some(current), Some(event)) if current != event && !older => Ok(Outcome::Ignored(
                format!("subscription {event} is not the tenant's current subscription {current}"),
            )),
            _ => Ok(Outcome::Stale),
        }
    }

    /// Pauses the newest accounts beyond the limit (never deletes them) and resumes paused
    /// ones, oldest first, while there is room.
    async fn enforce_limit(&self, tenant: &str, limit: u32) -> Result<(), StoreError> {
        let mut links = account_link::tenant_accounts(self.table.as_ref(), tenant).await?;
        links.sort_by_key(|l| l.connected_at);
        let now: DateTime<Utc> = self.clock.now();
        let mut active = links
            .iter()
            .filter(|l| matches!(l.status, AccountStatus::Active | AccountStatus::Pending))
            .count() as u32;
        for link in links.iter().rev() {
            if active <= limit {
                break;
            }
            if link.status == AccountStatus::Active {
                self.set_status(
                    tenant,
                    &link.account_id,
                    AccountStatus::Paused,
                    AccountStatus::Active,
                    now,
                )
                .await?;
                active -= 1;
            }
        }
        for link in &links {
            if active >= limit {
                break;
            }
            if link.status == AccountStatus::Paused {
                self.set_status(
                    tenant,
                    &link.account_id,
                    AccountStatus::Active,
                    AccountStatus::Paused,
                    now,
                )
                .await?;
                active += 1;
            }
        }
        Ok(())
    }

    async fn set_status(
        &self,
        tenant: &str,
        account: &str,
        to: AccountStatus,
        from: AccountStatus,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let update = account_link::status_change(tenant, to, Some(from), &now);
        match self.table.update(&account_link::key(account), update).await {
            Ok(_) => Ok(()),
            // Changed meanwhile (e.g. disconnected): leave it.
            Err(e) if e.is_condition_failed() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `STRIPE_WEBHOOK_SECRET`, comma-separated during a rotation.
pub fn secrets_from_env() -> Option<Vec<String>> {
    split_secrets(&std::env::var(SECRET_ENV).ok()?)
}

/// The Lambda's variable naming the Stripe secret (JSON: `webhook_secret`, `api_key`,
/// `price_id`), per `shared/function-env.json`.
pub const SECRET_ARN_ENV: &str = "STRIPE_SECRET_ARN";

/// The webhook signing secrets in the Stripe secret's `webhook_secret` (comma-separated
/// during a rotation).
pub fn webhook_secrets(
    secret: &dd0c_shared::secrets::SecretJson,
) -> Result<Vec<String>, dd0c_shared::secrets::SecretError> {
    let raw = secret.get("webhook_secret")?;
    split_secrets(&raw).ok_or(dd0c_shared::secrets::SecretError::MissingKey {
        secret: SECRET_ARN_ENV.into(),
        key: "webhook_secret".into(),
    })
}

fn split_secrets(raw: &str) -> Option<Vec<String>> {
    let secrets: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!secrets.is_empty()).then_some(secrets)
}

#[async_trait]
impl HttpHandler for StripeWebhook {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        if request.path.trim_end_matches('/') != PATH {
            return HttpResponse::problem(
                404,
                "Not found",
                &format!("no route {}", request.path),
                None,
            );
        }
        if request.method != "POST" {
            return HttpResponse::problem(405, "Method not allowed", "use POST", None)
                .with_header("allow", "POST");
        }
        match self.process(&request).await {
            Ok(outcome) => {
                let status = match &outcome {
                    Outcome::Applied { .. } => "applied",
                    Outcome::Duplicate => "duplicate",
                    Outcome::Stale => "stale",
                    Outcome::Ignored(_) => "ignored",
                };
                let reason = match outcome {
                    Outcome::Ignored(r) => Some(r),
                    _ => None,
                };
                HttpResponse::json(
                    200,
                    &json!({ "received": true, "status": status, "reason": reason }),
                )
            }
            Err(response) => response,
        }
    }
}

#[cfg(test)]
mod function_env_tests {
    use super::*;
    use dd0c_shared::secrets::SecretJson;

    #[test]
    fn the_contracted_variable_and_secret_keys_are_what_the_function_reads() {
        let names = dd0c_shared::secrets::contracted_env("stripe");
        assert!(names.iter().any(|n| n == SECRET_ARN_ENV), "{names:?}");
        let secret = SecretJson::parse(
            "arn:stripe",
            r#"{"webhook_secret":"whsec_new, whsec_old","api_key":"sk_x","price_id":"price_x"}"#,
        )
        .unwrap();
        assert_eq!(
            webhook_secrets(&secret).unwrap(),
            ["whsec_new", "whsec_old"]
        );
        let placeholder =
            SecretJson::parse("arn:stripe", r#"{"webhook_secret":"REPLACE_ME"}"#).unwrap();
        assert!(webhook_secrets(&placeholder).is_err());
    }
}
