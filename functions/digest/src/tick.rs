//! The hourly tick from EventBridge Scheduler: every tenant's housekeeping, and each due
//! tenant's digest posted at most once per local date (claim, post, confirm).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};
use dd0c_shared::bus::Bus;
use dd0c_shared::chat::ChatError;
use dd0c_shared::clock::Clock;
use dd0c_shared::entity::{digest_sent, time_key};
use dd0c_shared::governance::Policy;
use dd0c_shared::slack::settings::{self, ChatDirectory, SlackSettings};
use dd0c_shared::store::{AttrValue, Condition, Item, StoreError, Table, Update, TTL_ATTRIBUTE};
use dd0c_shared::tenancy;
use serde::{Deserialize, Serialize};

use crate::build::build_digest;
use crate::error::DigestError;
use crate::housekeeping::{housekeeping, Housekeeping};
use crate::render::digest_message;
use crate::zombie_watch::queue_due_scans;

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

/// A tenant the tick could not fully serve.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TenantFailure {
    pub tenant_id: String,
    /// `housekeeping`, `zombie_scans`, `settings` or `digest`.
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
    /// Accounts whose daily zombie scan this tick asked for.
    pub zombie_scans_queued: Vec<String>,
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
    let mut item = Item::new();
    item.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    item.insert("local_date".into(), AttrValue::S(local_date.to_owned()));
    item.insert("status".into(), AttrValue::S("sending".into()));
    item.insert("claim".into(), AttrValue::S(claim.to_owned()));
    item.insert(
        "scheduled_time".into(),
        AttrValue::S(time_key(&scheduled_time)),
    );
    item.insert("claimed_at".into(), AttrValue::S(time_key(&now)));
    item.insert(
        TTL_ATTRIBUTE.into(),
        AttrValue::from((now + Duration::days(DIGEST_MARKER_TTL_DAYS)).timestamp()),
    );
    dd0c_shared::store::put_if_absent(table, digest_sent::item(tenant, local_date, item)).await
}

/// Drops a claim whose post failed, so that a retry of the tick posts the digest.
async fn release_claim(table: &dyn Table, tenant: &str, local_date: &str, claim: &str) {
    let condition = Condition::And(vec![
        Condition::Equals("claim".into(), AttrValue::S(claim.to_owned())),
        Condition::Equals("status".into(), AttrValue::S("sending".into())),
    ]);
    if let Err(e) = table
        .delete(&digest_sent::key(tenant, local_date), Some(condition))
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
        time_key(&scheduled_time),
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
        .set("posted_at", time_key(&now))
        .when(Condition::Equals("claim".into(), AttrValue::S(claim)));
    if let Err(e) = table
        .update(&digest_sent::key(tenant, local_date), confirm)
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
    bus: &dyn Bus,
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
    // Zombie scans are asked for on any tick; one not asked for now is due at the next.
    match queue_due_scans(table, bus, tenant, scheduled_time).await {
        Ok(queued) => report.zombie_scans_queued.extend(queued),
        Err(e) => report.fail(tenant, "zombie_scans", &e),
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

/// One hourly tick: every tenant's housekeeping and due zombie scans, and the digest of each
/// tenant whose digest hour it is in its time zone (once per local date). A tenant's failure
/// is logged and reported, and the other tenants go on; only failing to list the tenants
/// fails the tick.
pub async fn run_tick(
    table: &dyn Table,
    chats: &dyn ChatDirectory,
    bus: &dyn Bus,
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
            bus,
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
        scheduled_time = %time_key(&scheduled_time),
        tenants = report.tenants,
        posted = report.posted.len(),
        already_sent = report.already_sent.len(),
        no_chat = report.no_chat.len(),
        revoked = report.revoked.len(),
        zombie_scans_queued = report.zombie_scans_queued.len(),
        failures = report.failures.len(),
        "digest tick"
    );
    Ok(report)
}
