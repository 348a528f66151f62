//! The daily digest (EventBridge Scheduler, 09:00 UTC): per tenant, what started costing in
//! the last 24 hours, anomalies open vs resolved, what governance held, drift per stack, top
//! actors, zombie watch. The same run does the tenant's housekeeping: expired snoozes are
//! reopened, accounts past their new-account strict period are promoted to audit, accounts
//! disconnecting for more than 72 hours are purged.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink};
use dd0c_shared::clock::Clock;
use dd0c_shared::domain::{CostEvent, Finding, FindingKind, FindingStatus};
use dd0c_shared::drift_store;
use dd0c_shared::finding_actions::{self, FindingAction};
use dd0c_shared::governance::{self, store as policy_store, Policy};
use dd0c_shared::slack::blocks::{money, truncate, MAX_BLOCKS, MAX_TEXT};
use dd0c_shared::slack::settings;
use dd0c_shared::store::{
    from_item, keys, query_all, AttrValue, Index, Query, SortKeyCondition, StoreError, Table,
};
use dd0c_shared::tenancy::{AccountLink, AccountStatus};
use serde::Serialize;
use serde_json::{json, Value};

/// Accounts marked disconnecting are purged after this long.
pub const PURGE_AFTER_HOURS: i64 = 72;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chat(#[from] ChatError),
}

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

/// What the housekeeping did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Housekeeping {
    pub unsnoozed: Vec<String>,
    pub promoted: Vec<String>,
    pub purged: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DigestRun {
    pub digest: Digest,
    pub housekeeping: Housekeeping,
    pub posted: bool,
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

async fn tenant_accounts(table: &dyn Table, tenant: &str) -> Result<Vec<AccountLink>, StoreError> {
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

/// The digest as Block Kit (within Slack's limits).
pub fn digest_blocks(d: &Digest) -> Value {
    let section = |text: String| json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, MAX_TEXT)}});
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": "dd0c daily digest", "emoji": true}}),
    ];
    blocks.push(section(format!(
        "*New spend started (24h)*: {}/hr · {}/month from {} cost event(s)\n*Cost anomalies*: {} open · {} resolved",
        money(d.new_hourly_spend),
        money(d.new_hourly_spend * 730.0),
        d.cost_events,
        d.anomalies_open,
        d.anomalies_resolved
    )));
    if !d.top_actors.is_empty() {
        let lines: Vec<String> = d
            .top_actors
            .iter()
            .map(|(a, c)| format!("• {a}: {}/hr", money(*c)))
            .collect();
        blocks.push(section(format!("*Top actors*\n{}", lines.join("\n"))));
    }
    if !d.held.is_empty() {
        let lines: Vec<String> = d
            .held
            .iter()
            .take(15)
            .map(|(_, s, r)| format!("• {s} — _{r}_"))
            .collect();
        let more = d.held.len().saturating_sub(15);
        let tail = if more > 0 {
            format!("\n…and {more} more in the dashboard")
        } else {
            String::new()
        };
        blocks.push(section(format!(
            "*Held ({})*\n{}{tail}",
            d.held.len(),
            lines.join("\n")
        )));
    }
    if !d.stacks.is_empty() {
        let lines: Vec<String> = d
            .stacks
            .iter()
            .map(|s| {
                let open: Vec<String> = s
                    .open_drift
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect();
                let open = if open.is_empty() {
                    "clean".to_owned()
                } else {
                    open.join(", ")
                };
                format!("• {}: score {:.0}/100 ({open})", s.stack, s.drift_score)
            })
            .collect();
        blocks.push(section(format!("*Drift by stack*\n{}", lines.join("\n"))));
    }
    if !d.zombies.is_empty() {
        let lines: Vec<String> = d
            .zombies
            .iter()
            .map(|(a, n, usd)| format!("• {a}: {n} idle resource(s), {}/month", money(*usd)))
            .collect();
        blocks.push(section(format!("*Zombie watch*\n{}", lines.join("\n"))));
    }
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// Reopens snoozed findings whose `snooze_until` passed.
async fn unsnooze(
    table: &dyn Table,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let query =
        Query::partition(format!("{}#FINDINGS#snoozed", keys::tenant_pk(tenant))).on(Index::Gsi2);
    let mut reopened = Vec::new();
    for item in query_all(table, query).await? {
        let until = item
            .get("snooze_until")
            .and_then(AttrValue::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
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

/// Deletes everything kept about an account, then its link.
async fn purge_account(table: &dyn Table, link: &AccountLink) -> Result<(), StoreError> {
    let pk = keys::account_pk(&link.tenant_id, &link.account_id);
    for item in query_all(table, Query::partition(pk.clone())).await? {
        if let Some(AttrValue::S(sk)) = item.get("SK") {
            table
                .delete(&dd0c_shared::store::Key::new(pk.clone(), sk.clone()), None)
                .await?;
        }
    }
    table
        .delete(&keys::account_link(&link.account_id), None)
        .await
}

async fn housekeeping(
    table: &dyn Table,
    policy: &Policy,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Housekeeping, StoreError> {
    let mut done = Housekeeping {
        unsnoozed: unsnooze(table, tenant, now).await?,
        ..Housekeeping::default()
    };
    for link in tenant_accounts(table, tenant).await? {
        if link.status == AccountStatus::Disconnecting {
            let since = link.status_changed_at.unwrap_or(link.connected_at);
            if now - since > Duration::hours(PURGE_AFTER_HOURS) {
                purge_account(table, &link).await?;
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

/// One tenant's daily run: housekeeping, then the digest posted to the tenant's channel
/// (`default_channel` when the tenant set none). Panic mode still lets the digest out: it is
/// the one place people see what was held.
pub async fn run_digest(
    table: &dyn Table,
    chat: &dyn ChatSink,
    clock: &dyn Clock,
    tenant: &str,
    policy: &Policy,
    default_channel: &str,
) -> Result<DigestRun, DigestError> {
    let now = clock.now();
    let housekeeping = housekeeping(table, policy, tenant, now).await?;
    let digest = build_digest(table, tenant, now).await?;
    let s = settings::load_settings(table, tenant).await?;
    let channel = s
        .default_channel
        .unwrap_or_else(|| default_channel.to_owned());
    let text = format!(
        "dd0c daily digest: {}/hr of new spend, {} open anomalies, {} held",
        money(digest.new_hourly_spend),
        digest.anomalies_open,
        digest.held.len()
    );
    let posted = match chat
        .post(ChatMessage {
            channel,
            text,
            blocks: digest_blocks(&digest),
            thread_ts: None,
        })
        .await
    {
        Ok(_) => true,
        Err(ChatError::Revoked(why)) => {
            settings::mark_broken(table, tenant, &why, now).await?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        tenant,
        posted,
        unsnoozed = housekeeping.unsnoozed.len(),
        promoted = housekeeping.promoted.len(),
        purged = housekeeping.purged.len(),
        "digest run"
    );
    Ok(DigestRun {
        digest,
        housekeeping,
        posted,
    })
}
