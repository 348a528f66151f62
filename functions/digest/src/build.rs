//! Assembling a tenant's digest of the 24 hours before a time (read-only).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use dd0c_shared::domain::{CostEvent, Finding, FindingKind, FindingStatus};
use dd0c_shared::drift_store;
use dd0c_shared::store::{
    from_item, keys, query_all, AttrValue, Index, Query, SortKeyCondition, StoreError, Table,
};
use dd0c_shared::tenancy::AccountLink;
use serde::Serialize;

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
    /// (account, zombies, USD per month) from the latest zombie scans.
    pub zombies: Vec<(String, usize, f64)>,
}

fn window_query(partition: String, since: DateTime<Utc>, until: DateTime<Utc>) -> Query {
    // Sort keys are `{time}#{id}`; `~` sorts after every id character.
    Query::partition(partition)
        .on(Index::Gsi1)
        .sort(SortKeyCondition::Between(
            keys::time_key(&since),
            format!("{}~", keys::time_key(&until)),
        ))
}

pub(crate) async fn tenant_accounts(
    table: &dyn Table,
    tenant: &str,
) -> Result<Vec<AccountLink>, StoreError> {
    let query = Query::partition(keys::tenant_pk(tenant) + "#ACCOUNTS").on(Index::Gsi1);
    Ok(query_all(table, query)
        .await?
        .into_iter()
        .filter_map(|item| from_item(item).ok())
        .collect())
}

fn status_closed(status: FindingStatus) -> bool {
    !matches!(status, FindingStatus::Open | FindingStatus::Snoozed)
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
    let costs = query_all(
        table,
        window_query(keys::tenant_pk(tenant) + "#COSTS", since, now),
    )
    .await?;
    let mut actors: BTreeMap<String, f64> = BTreeMap::new();
    for item in costs {
        // Items written by other versions may not decode; the digest skips them.
        let Ok(event) = from_item::<CostEvent>(item) else {
            continue;
        };
        digest.cost_events += 1;
        let added = event.added_hourly_cost().unwrap_or(0.0).max(0.0);
        digest.new_hourly_spend += added;
        *actors.entry(event.actor.name.clone()).or_default() += added;
    }
    let mut top: Vec<(String, f64)> = actors.into_iter().filter(|(_, c)| *c > 0.0).collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(5);
    digest.top_actors = top;

    let findings = query_all(
        table,
        window_query(keys::tenant_pk(tenant) + "#FINDINGS", since, now),
    )
    .await?;
    for item in findings {
        let Ok(finding) = from_item::<Finding>(item) else {
            continue;
        };
        if finding.kind == FindingKind::CostAnomaly {
            if status_closed(finding.status) {
                digest.anomalies_resolved += 1;
            } else {
                digest.anomalies_open += 1;
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
    for stack in drift_store::list_stacks(table, tenant).await? {
        digest.stacks.push(StackLine {
            stack: stack.name.clone(),
            drift_score: stack.drift_score,
            open_drift: stack.open_drift.clone(),
        });
    }
    for link in tenant_accounts(table, tenant).await? {
        if let Some(scan) = table
            .get(&keys::zombie_scan(tenant, &link.account_id))
            .await?
        {
            let count = match scan.get("zombies") {
                Some(AttrValue::L(list)) => list.len(),
                _ => 0,
            };
            let waste = scan
                .get("monthly_waste_usd")
                .and_then(AttrValue::as_f64)
                .unwrap_or(0.0);
            if count > 0 {
                digest.zombies.push((link.account_id.clone(), count, waste));
            }
        }
    }
    Ok(digest)
}
