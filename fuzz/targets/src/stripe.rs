//! The Stripe webhook through its handler (`StripeWebhook` on a memory table where tenant
//! `t1` has a Stripe customer and three connected accounts, so plan changes pause and resume
//! them). The input is the event body; the target signs it as Stripe does, so the event
//! parsing behind the signature is reached.
//!
//! What must hold: a signed body is never refused for its signature; the answer is 200 or a
//! 400 naming the body; the same event delivered twice is applied once (the second answer is
//! `duplicate`); the body with any one byte changed is refused for its signature.

use std::sync::Arc;

use dd0c_shared::clock::ManualClock;
use dd0c_shared::entity;
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::signatures::sign_stripe;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};
use dd0c_stripe::{StripeWebhook, PATH};

use crate::support::{block_on, json_body, now, one_byte_changed};

const SECRET: &str = "whsec_fuzz";
pub const CUSTOMER: &str = "cus_fuzz";

pub fn stripe_webhook(data: &[u8]) {
    block_on(async {
        let hook = hook().await;
        let first = hook.handle(signed(data)).await;
        check(&first);
        if first.status == 200 {
            let again = hook.handle(signed(data)).await;
            check(&again);
            assert_eq!(again.status, 200);
            assert_eq!(
                json_body(&again.body)["status"],
                "duplicate",
                "an event delivered twice was applied twice"
            );
        }
        let at = data.len() / 3 + data.last().map_or(0, |b| usize::from(*b));
        if let Some(changed) = one_byte_changed(data, at, data.first().copied().unwrap_or(1)) {
            let request = signed(data).with_body(changed);
            let refused = hook.handle(request).await;
            assert_eq!(refused.status, 400, "a changed body was accepted");
            assert_eq!(json_body(&refused.body)["field"], "stripe-signature");
        }
    });
}

async fn hook() -> StripeWebhook {
    let clock = Arc::new(ManualClock::new(now()));
    let table = Arc::new(MemoryTable::new(clock.clone()));
    table
        .update(
            &entity::stripe::customer_key(CUSTOMER),
            entity::stripe::customer_link("t1"),
        )
        .await
        .expect("the memory table takes the customer");
    for (i, status) in [
        AccountStatus::Active,
        AccountStatus::Active,
        AccountStatus::Paused,
    ]
    .into_iter()
    .enumerate()
    {
        let link = AccountLink {
            account_id: format!("11112222333{i}"),
            tenant_id: "t1".into(),
            status,
            role_arn: None,
            external_id: None,
            remediation_role_arn: None,
            connected_at: now() - chrono::Duration::days(3 - i as i64),
            status_changed_at: None,
        };
        tenancy::link_account_if_absent(table.as_ref(), &link)
            .await
            .expect("the memory table takes a link");
    }
    StripeWebhook::new(table, clock, vec![SECRET.to_owned()])
}

fn signed(body: &[u8]) -> HttpRequest {
    HttpRequest::new("POST", PATH)
        .with_header(
            "stripe-signature",
            &sign_stripe(body, SECRET, now().timestamp()),
        )
        .with_body(body.to_vec())
}

fn check(response: &HttpResponse) {
    let body = json_body(&response.body);
    match response.status {
        200 => assert_eq!(body["received"], true, "{body}"),
        400 => assert_eq!(body["field"], "body", "a signed event was refused: {body}"),
        other => panic!("status {other}: {body}"),
    }
}
