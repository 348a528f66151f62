//! Assembling a tenant's digest of the 24 hours before a time (read-only).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use dd0c_shared::domain::FindingKind;
use dd0c_shared::entity::event::{self, RecordSpend};
use dd0c_shared::entity::{account_link, finding, stack};
use dd0c_shared::pricing::oldest_price;
use dd0c_shared::store::{query_all, StoreError, Table};
use serde::Serialize;

use crate::zombie_watch::{zombie_lines, ZombieLine};

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StackLine {
    pub stack: String,
    pub drift_score: f64,
    pub open_drift: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Digest {
    pub tenant_id: String,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// USD per hour of everything started in the window.
    pub new_hourly_spend: f64,
    pub cost_events: usize,
    pub anomalies_open: usize,
    pub anomalies_resolved: usize,
    /// Findings governance held (not sent) in the window: (id, one-line summary, reason).
    pub held: Vec<(String, String, String)>,
    pub stacks: Vec<StackLine>,
    /// Actor → USD per hour started in the window, highest first.
    pub top_actors: Vec<(String, f64)>,
    /// (account, zombies, USD per month) of the accounts whose latest zombie scan found any.
    pub zombies: Vec<(String, usize, f64)>,
    /// Every account's latest zombie scan: when it ran (or never), stale or not, what it found.
    pub zombie_watch: Vec<ZombieLine>,
    /// USD per month at stake over the tenant's accounts (their latest scans).
    pub zombie_monthly_usd: f64,
    /// The date of the oldest price behind the spend totals (`YYYY`, `YYYY-MM` or
    /// `YYYY-MM-DD`); `None` when no priced event says.
    pub prices_as_of: Option<String>,
}

/// Builds the digest of the 24 hours before `now` (read-only).
pub async fn build_digest(
    table: &dyn Table,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Digest, StoreError> {
    let since = now - Duration::hours(24);
    let mut digest = Digest {
        tenant_id: tenant.to_owned(),
        since: Some(since),
        until: Some(now),
        ..Digest::default()
    };
    let mut actors: BTreeMap<String, f64> = BTreeMap::new();
    for link in account_link::tenant_accounts(table, tenant).await? {
        let marks = query_all(
            table,
            event::cloudtrail_between(tenant, &link.account_id, &since, &now),
        )
        .await?;
        for spend in marks.iter().filter_map(RecordSpend::from_mark) {
            digest.cost_events += spend.cost_events as usize;
            digest.new_hourly_spend += spend.added_hourly;
            digest.prices_as_of = oldest_price(digest.prices_as_of.take(), spend.prices_as_of);
            *actors.entry(spend.actor).or_default() += spend.added_hourly;
        }
    }
    let mut top: Vec<(String, f64)> = actors.into_iter().filter(|(_, c)| *c > 0.0).collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(5);
    digest.top_actors = top;

    let findings = query_all(table, finding::by_time_within(tenant, &since, &now)).await?;
    for item in findings {
        // One unreadable finding must not cost the tenant its digest.
        let finding = match finding::stored(None, item) {
            Ok(stored) => stored.finding,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "a finding of the digest's day does not decode");
                continue;
            }
        };
        if finding.kind == FindingKind::CostAnomaly {
            if finding.status.is_active() {
                digest.anomalies_open += 1;
            } else {
                digest.anomalies_resolved += 1;
            }
        }
        if !finding.notified {
            if let Some(reason) = &finding.suppressed_reason {
                digest.held.push((
                    finding.id.clone(),
                    dd0c_shared::slack::blocks::summary(&finding),
                    reason.clone(),
                ));
            }
        }
    }
    for stack in stack::list_stacks(table, tenant).await? {
        digest.stacks.push(StackLine {
            stack: stack.name.clone(),
            drift_score: stack.drift_score,
            open_drift: stack.open_drift.clone(),
        });
    }
    digest.zombie_watch = zombie_lines(table, tenant, now).await?;
    digest.zombie_monthly_usd = digest.zombie_watch.iter().map(|l| l.monthly_usd).sum();
    digest.zombies = digest
        .zombie_watch
        .iter()
        .filter(|l| l.zombies > 0)
        .map(|l| (l.account.clone(), l.zombies, l.monthly_usd))
        .collect();
    Ok(digest)
}
