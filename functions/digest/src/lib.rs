//! The daily digest: per tenant, what started costing in the last 24 hours, anomalies open vs
//! resolved, what governance held, drift per stack, top actors, zombie watch; and the tenant's
//! housekeeping: expired snoozes are reopened, accounts past their new-account strict period
//! are promoted to audit, accounts disconnecting for more than 72 hours are purged.
//!
//! EventBridge Scheduler invokes the function every hour at minute 0 UTC with a tick
//! ([`run_tick`]): every tenant's housekeeping runs on every tick, and a tenant's digest goes
//! out on the tick whose hour, in the tenant's digest time zone, is the tenant's digest hour
//! (09:00 UTC by default), at most once per local date
//! (docs/decisions/0700-hourly-digest-tick.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink};
use dd0c_shared::clock::Clock;
use dd0c_shared::domain::{CostEvent, Finding, FindingKind, FindingStatus};
use dd0c_shared::drift_store;
use dd0c_shared::finding_actions::{self, FindingAction};
use dd0c_shared::governance::{self, store as policy_store, Policy};
use dd0c_shared::slack::blocks::{escape_mrkdwn, money, truncate, MAX_BLOCKS, MAX_TEXT};
use dd0c_shared::slack::settings::{self, ChatDirectory, SlackSettings};
use dd0c_shared::store::{
    from_item, keys, query_all, AttrValue, Condition, Index, Item, Query, SortKeyCondition,
    StoreError, Table, Update, PK, SK, TTL_ATTRIBUTE,
};
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Accounts marked disconnecting are purged after this long.
pub const PURGE_AFTER_HOURS: i64 = 72;

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// The invocation payload is neither a scheduler tick nor a one-tenant run.
    #[error("unexpected invocation: {0}")]
    Payload(String),
    /// Some due digests could not be posted (already logged per tenant); the scheduler's retry
    /// of the same tick posts them, and skips those already sent.
    #[error("digest tick incomplete: {0}")]
    Incomplete(String),
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

impl Housekeeping {
    pub fn is_empty(&self) -> bool {
        self.unsnoozed.is_empty() && self.promoted.is_empty() && self.purged.is_empty()
    }
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
            .map(|(a, c)| format!("• {}: {}/hr", escape_mrkdwn(a), money(*c)))
            .collect();
        blocks.push(section(format!("*Top actors*\n{}", lines.join("\n"))));
    }
    if !d.held.is_empty() {
        let lines: Vec<String> = d
            .held
            .iter()
            .take(15)
            // `s` is a `blocks::summary`, escaped already.
            .map(|(_, s, r)| format!("• {s} — _{}_", escape_mrkdwn(r)))
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
                    .map(|(k, v)| format!("{v} {}", escape_mrkdwn(k)))
                    .collect();
                let open = if open.is_empty() {
                    "clean".to_owned()
                } else {
                    open.join(", ")
                };
                format!(
                    "• {}: score {:.0}/100 ({open})",
                    escape_mrkdwn(&s.stack),
                    s.drift_score
                )
            })
            .collect();
        blocks.push(section(format!("*Drift by stack*\n{}", lines.join("\n"))));
    }
    if !d.zombies.is_empty() {
        let lines: Vec<String> = d
            .zombies
            .iter()
            .map(|(a, n, usd)| {
                format!(
                    "• {}: {n} idle resource(s), {}/month",
                    escape_mrkdwn(a),
                    money(*usd)
                )
            })
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

/// The digest as the chat message to the tenant's channel (`default_channel` when unset).
fn digest_message(digest: &Digest, s: &SlackSettings, default_channel: &str) -> ChatMessage {
    let channel = s
        .default_channel
        .clone()
        .unwrap_or_else(|| default_channel.to_owned());
    let text = format!(
        "dd0c daily digest: {}/hr of new spend, {} open anomalies, {} held",
        money(digest.new_hourly_spend),
        digest.anomalies_open,
        digest.held.len()
    );
    ChatMessage {
        channel,
        text,
        blocks: digest_blocks(digest),
        thread_ts: None,
    }
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
    let posted = match chat
        .post(digest_message(&digest, &s, default_channel))
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

// ---------------------------------------------------------------------------------------------
// The hourly tick
// ---------------------------------------------------------------------------------------------

/// How long a digest's "sent" marker is kept: longer than any retry of a tick.
pub const DIGEST_MARKER_TTL_DAYS: i64 = 8;

/// The EventBridge Scheduler target input:
/// `{"source":"dd0c.scheduler","kind":"tick","scheduled_time":"<RFC 3339>"}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Tick {
    #[serde(default)]
    pub source: Option<String>,
    pub kind: String,
    /// The schedule's own time (the same on a retry); absent: the time of the run.
    #[serde(default)]
    pub scheduled_time: Option<DateTime<Utc>>,
}

/// What the function accepts: the scheduler's tick, or `{"tenant_id": "..."}` to run one
/// tenant's digest and housekeeping now (by hand; no once-a-day marker).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Invocation {
    Tenant { tenant_id: String },
    Tick(Tick),
}

/// A tenant the tick could not fully serve.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TenantFailure {
    pub tenant_id: String,
    /// `housekeeping`, `settings` or `digest`.
    pub stage: &'static str,
    pub error: String,
}

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TickReport {
    pub scheduled_time: Option<DateTime<Utc>>,
    /// Tenants visited.
    pub tenants: usize,
    /// Tenants whose digest this tick posted.
    pub posted: Vec<String>,
    /// Due tenants whose digest for that local date was already sent (a retried or duplicated
    /// tick), or claimed by a run that never confirmed it.
    pub already_sent: Vec<String>,
    /// Due tenants without a working Slack installation (nothing posted, nothing marked).
    pub no_chat: Vec<String>,
    /// Due tenants whose token turned out revoked (installation marked broken).
    pub revoked: Vec<String>,
    /// Housekeeping done, per tenant (tenants with nothing to do are left out).
    pub housekeeping: BTreeMap<String, Housekeeping>,
    pub failures: Vec<TenantFailure>,
}

impl TickReport {
    fn fail(&mut self, tenant: &str, stage: &'static str, error: &dyn std::fmt::Display) {
        tracing::error!(tenant, stage, error = %error, "digest tick: tenant failed");
        self.failures.push(TenantFailure {
            tenant_id: tenant.to_owned(),
            stage,
            error: error.to_string(),
        });
    }

    /// Whether a due digest could not be posted: retrying the same tick would post it.
    pub fn digest_failed(&self) -> bool {
        self.failures
            .iter()
            .any(|f| matches!(f.stage, "settings" | "digest"))
    }
}

/// Whether `scheduled_time` is the tenant's digest hour; if so, the local date it is for.
pub fn digest_due(s: &SlackSettings, scheduled_time: DateTime<Utc>) -> Option<String> {
    let (zone, hour) = s.digest_time();
    let local = scheduled_time.with_timezone(&zone);
    (local.hour() == u32::from(hour)).then(|| local.date_naive().format("%Y-%m-%d").to_string())
}

enum Outcome {
    Posted,
    AlreadySent,
    NoChat,
    Revoked,
}

/// Claims the tenant's digest for `local_date`: only the first claim of a date succeeds.
async fn claim_digest(
    table: &dyn Table,
    tenant: &str,
    local_date: &str,
    claim: &str,
    scheduled_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let key = keys::digest_sent(tenant, local_date);
    let mut item = Item::new();
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("digest_sent".into()));
    item.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    item.insert("local_date".into(), AttrValue::S(local_date.to_owned()));
    item.insert("status".into(), AttrValue::S("sending".into()));
    item.insert("claim".into(), AttrValue::S(claim.to_owned()));
    item.insert(
        "scheduled_time".into(),
        AttrValue::S(keys::time_key(&scheduled_time)),
    );
    item.insert("claimed_at".into(), AttrValue::S(keys::time_key(&now)));
    item.insert(
        TTL_ATTRIBUTE.into(),
        AttrValue::from((now + Duration::days(DIGEST_MARKER_TTL_DAYS)).timestamp()),
    );
    dd0c_shared::store::put_if_absent(table, item).await
}

/// Drops a claim whose post failed, so that a retry of the tick posts the digest.
async fn release_claim(table: &dyn Table, tenant: &str, local_date: &str, claim: &str) {
    let condition = Condition::And(vec![
        Condition::Equals("claim".into(), AttrValue::S(claim.to_owned())),
        Condition::Equals("status".into(), AttrValue::S("sending".into())),
    ]);
    if let Err(e) = table
        .delete(&keys::digest_sent(tenant, local_date), Some(condition))
        .await
    {
        // The claim stays: that date's digest is skipped rather than risk a double post.
        tracing::error!(tenant, local_date, error = %e, "could not release a digest claim");
    }
}

/// Posts the tenant's digest for `local_date` unless it was already sent: claim (conditional
/// put), post, confirm. A failed post releases the claim.
#[allow(clippy::too_many_arguments)]
async fn send_daily(
    table: &dyn Table,
    chats: &dyn ChatDirectory,
    tenant: &str,
    s: &SlackSettings,
    default_channel: &str,
    local_date: &str,
    scheduled_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Outcome, DigestError> {
    let Some(chat) = chats.chat_for(tenant).await? else {
        return Ok(Outcome::NoChat);
    };
    let claim = format!(
        "{}/{}",
        keys::time_key(&scheduled_time),
        now.to_rfc3339_opts(SecondsFormat::Nanos, true)
    );
    if !claim_digest(table, tenant, local_date, &claim, scheduled_time, now).await? {
        return Ok(Outcome::AlreadySent);
    }
    // The window ends at the schedule's time, so consecutive days tile exactly and a retry
    // reports the same 24 hours.
    let digest = match build_digest(table, tenant, scheduled_time).await {
        Ok(d) => d,
        Err(e) => {
            release_claim(table, tenant, local_date, &claim).await;
            return Err(e.into());
        }
    };
    match chat.post(digest_message(&digest, s, default_channel)).await {
        Ok(_) => {}
        Err(ChatError::Revoked(why)) => {
            release_claim(table, tenant, local_date, &claim).await;
            settings::mark_broken(table, tenant, &why, now).await?;
            return Ok(Outcome::Revoked);
        }
        Err(e) => {
            release_claim(table, tenant, local_date, &claim).await;
            return Err(e.into());
        }
    }
    let confirm = Update::new()
        .set("status", "sent")
        .set("posted_at", keys::time_key(&now))
        .when(Condition::Equals("claim".into(), AttrValue::S(claim)));
    if let Err(e) = table
        .update(&keys::digest_sent(tenant, local_date), confirm)
        .await
    {
        // Posted; the unconfirmed claim still blocks a second post.
        tracing::warn!(tenant, local_date, error = %e, "digest posted but not confirmed");
    }
    Ok(Outcome::Posted)
}

#[allow(clippy::too_many_arguments)]
async fn tick_tenant(
    table: &dyn Table,
    chats: &dyn ChatDirectory,
    now: DateTime<Utc>,
    policy: &Policy,
    default_channel: &str,
    scheduled_time: DateTime<Utc>,
    tenant: &str,
    report: &mut TickReport,
) {
    // Housekeeping every tick; its failure does not hold the digest back.
    match housekeeping(table, policy, tenant, now).await {
        Ok(done) if !done.is_empty() => {
            report.housekeeping.insert(tenant.to_owned(), done);
        }
        Ok(_) => {}
        Err(e) => report.fail(tenant, "housekeeping", &e),
    }
    let s = match settings::load_settings(table, tenant).await {
        Ok(s) => s,
        Err(e) => return report.fail(tenant, "settings", &e),
    };
    let Some(local_date) = digest_due(&s, scheduled_time) else {
        return;
    };
    let outcome = send_daily(
        table,
        chats,
        tenant,
        &s,
        default_channel,
        &local_date,
        scheduled_time,
        now,
    )
    .await;
    let list = match outcome {
        Ok(Outcome::Posted) => &mut report.posted,
        Ok(Outcome::AlreadySent) => &mut report.already_sent,
        Ok(Outcome::NoChat) => &mut report.no_chat,
        Ok(Outcome::Revoked) => &mut report.revoked,
        Err(e) => return report.fail(tenant, "digest", &e),
    };
    list.push(tenant.to_owned());
}

/// One hourly tick: every tenant's housekeeping, and the digest of each tenant whose digest
/// hour it is in its time zone (once per local date). A tenant's failure is logged and
/// reported, and the other tenants go on; only failing to list the tenants fails the tick.
pub async fn run_tick(
    table: &dyn Table,
    chats: &dyn ChatDirectory,
    clock: &dyn Clock,
    policy: &Policy,
    default_channel: &str,
    scheduled_time: DateTime<Utc>,
) -> Result<TickReport, DigestError> {
    let tenants = tenancy::list_tenants(table).await?;
    let mut report = TickReport {
        scheduled_time: Some(scheduled_time),
        tenants: tenants.len(),
        ..TickReport::default()
    };
    for tenant in &tenants {
        tick_tenant(
            table,
            chats,
            clock.now(),
            policy,
            default_channel,
            scheduled_time,
            tenant,
            &mut report,
        )
        .await;
    }
    tracing::info!(
        scheduled_time = %keys::time_key(&scheduled_time),
        tenants = report.tenants,
        posted = report.posted.len(),
        already_sent = report.already_sent.len(),
        no_chat = report.no_chat.len(),
        revoked = report.revoked.len(),
        failures = report.failures.len(),
        "digest tick"
    );
    Ok(report)
}

/// Serves one invocation of the function: the tick (an error when a due digest failed, so
/// that the scheduler retries the tick), or one tenant's run by hand.
pub async fn handle(
    table: &dyn Table,
    chats: &dyn ChatDirectory,
    clock: &dyn Clock,
    policy: &Policy,
    default_channel: &str,
    invocation: Invocation,
) -> Result<Value, DigestError> {
    match invocation {
        Invocation::Tick(tick) => {
            if tick.kind != "tick" {
                return Err(DigestError::Payload(format!("kind {:?}", tick.kind)));
            }
            let at = tick.scheduled_time.unwrap_or_else(|| clock.now());
            let report = run_tick(table, chats, clock, policy, default_channel, at).await?;
            if report.digest_failed() {
                let failed: Vec<String> = report
                    .failures
                    .iter()
                    .map(|f| format!("{} ({}): {}", f.tenant_id, f.stage, f.error))
                    .collect();
                return Err(DigestError::Incomplete(failed.join("; ")));
            }
            Ok(serde_json::to_value(&report).unwrap_or_default())
        }
        Invocation::Tenant { tenant_id } => {
            let Some(chat) = chats.chat_for(&tenant_id).await? else {
                tracing::warn!(
                    tenant = tenant_id,
                    "no working Slack installation: digest not posted"
                );
                return Ok(json!({"tenant_id": tenant_id, "posted": false}));
            };
            let run = run_digest(
                table,
                chat.as_ref(),
                clock,
                &tenant_id,
                policy,
                default_channel,
            )
            .await?;
            Ok(serde_json::to_value(&run).unwrap_or_default())
        }
    }
}
