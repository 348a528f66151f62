//! A tenant's housekeeping: expired snoozes are reopened, accounts past their new-account
//! strict period are promoted to audit, accounts disconnecting for more than
//! [`PURGE_AFTER_HOURS`] are purged.

use chrono::{DateTime, Duration, Utc};
use dd0c_shared::domain::FindingStatus;
use dd0c_shared::entity::{account_link, finding};
use dd0c_shared::finding_actions::{self, FindingAction};
use dd0c_shared::governance::{self, store as policy_store, Policy};
use dd0c_shared::store::{query_all, AttrValue, StoreError, Table};
use dd0c_shared::tenancy::AccountStatus;
use serde::Serialize;

/// Accounts marked disconnecting are purged after this long.
pub const PURGE_AFTER_HOURS: i64 = 72;

/// What the housekeeping did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Housekeeping {
    pub unsnoozed: Vec<String>,
    pub promoted: Vec<String>,
    pub purged: Vec<String>,
}

impl Housekeeping {
    pub fn is_empty(&self) -> bool {
        self.unsnoozed.is_empty() && self.promoted.is_empty() && self.purged.is_empty()
    }
}

/// Reopens snoozed findings whose `snooze_until` passed.
async fn unsnooze(
    table: &dyn Table,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let query = finding::in_status(tenant, FindingStatus::Snoozed);
    let mut reopened = Vec::new();
    for item in query_all(table, query).await? {
        let until = finding::snooze_until(&item);
        let Some(id) = item.get("id").and_then(AttrValue::as_str) else {
            continue;
        };
        if until.is_some_and(|u| u <= now) {
            let actor = finding_actions::Actor {
                user: "dd0c".into(),
                via: "digest".into(),
            };
            match finding_actions::apply(table, tenant, id, &FindingAction::Reopen, &actor, now)
                .await
            {
                Ok(_) => reopened.push(id.to_owned()),
                Err(e) => {
                    tracing::warn!(tenant, finding = id, error = %e, "could not reopen a snoozed finding")
                }
            }
        }
    }
    Ok(reopened)
}

pub(crate) async fn housekeeping(
    table: &dyn Table,
    policy: &Policy,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Housekeeping, StoreError> {
    let mut done = Housekeeping {
        unsnoozed: unsnooze(table, tenant, now).await?,
        ..Housekeeping::default()
    };
    for link in account_link::tenant_accounts(table, tenant).await? {
        if link.status == AccountStatus::Disconnecting {
            let since = link.status_changed_at.unwrap_or(link.connected_at);
            if now - since > Duration::hours(PURGE_AFTER_HOURS) {
                account_link::purge(table, &link).await?;
                tracing::info!(tenant, account = %link.account_id, "purged a disconnected account");
                done.purged.push(link.account_id.clone());
            }
            continue;
        }
        let p = policy_store::policy_for_account(table, policy, tenant, &link.account_id).await?;
        let ctx = policy_store::account_context(table, tenant, &link.account_id).await?;
        if ctx.promoted_at.is_none() && !governance::in_new_account_period(&p, &ctx, now) {
            policy_store::promote_account(table, tenant, &link.account_id, now).await?;
            tracing::info!(tenant, account = %link.account_id, "account promoted from strict to audit");
            done.promoted.push(link.account_id.clone());
        }
    }
    Ok(done)
}
