//! The backfill of an account's CloudTrail history, one job per region (`A` /
//! `BACKFILL#<region>`): the window it reads, the next LookupEvents page, what it has cost so
//! far and how far back the history it found goes. Written by the backfill after every page
//! (conditional on the page it started from, so two deliveries of one step never both
//! advance), read by the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bus::BusEvent;
use crate::store::{query_all, AttrValue, Condition, Key, StoreError, Table};

use super::{account, decode, encode, keyed, strip_keys};

pub const ENTITY: &str = "backfill";
const PREFIX: &str = "BACKFILL#";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillStatus {
    /// Pages left to read.
    Running,
    /// Every page of the window was read.
    Done,
    /// Stopped at the page cap: the oldest part of the window was not read.
    Capped,
    /// The account has not enabled the region: nothing to read.
    RegionNotEnabled,
    /// The role cannot call LookupEvents (or the account was disconnected): `error` says which.
    Failed,
}

impl BackfillStatus {
    pub fn is_finished(self) -> bool {
        self != BackfillStatus::Running
    }
}

/// One region's backfill of one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillProgress {
    pub tenant_id: String,
    pub account_id: String,
    pub region: String,
    pub status: BackfillStatus,
    /// The window read: events with `start <= eventTime <= end`.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Pages read so far; the next step reads page `pages + 1`.
    pub pages: u64,
    /// The next page's LookupEvents token (`None` before the first page and after the last).
    #[serde(default)]
    pub next_token: Option<String>,
    /// LookupEvents requests made, throttled ones included (the cost of the backfill).
    pub requests: u64,
    /// Requests AWS throttled.
    pub throttled: u64,
    /// Write events read, and the cost events among them folded into the baselines.
    pub events: u64,
    pub cost_events: u64,
    /// Records that could not be read as CloudTrail records (skipped, counted).
    #[serde(default)]
    pub malformed: u64,
    /// The oldest event read so far.
    #[serde(default)]
    pub oldest_event: Option<DateTime<Utc>>,
    /// When the last request was made (the rate limit counts from it).
    #[serde(default)]
    pub last_request_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error: Option<String>,
}

impl BackfillProgress {
    /// A job that has read nothing yet.
    pub fn new(
        tenant: &str,
        account: &str,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id: tenant.to_owned(),
            account_id: account.to_owned(),
            region: region.to_owned(),
            status: BackfillStatus::Running,
            start,
            end,
            pages: 0,
            next_token: None,
            requests: 0,
            throttled: 0,
            events: 0,
            cost_events: 0,
            malformed: 0,
            oldest_event: None,
            last_request_at: None,
            started_at: now,
            updated_at: now,
            finished_at: None,
            error: None,
        }
    }

    pub fn finish(&mut self, status: BackfillStatus, now: DateTime<Utc>) {
        self.status = status;
        self.next_token = None;
        self.finished_at = Some(now);
    }
}

pub fn key(tenant: &str, account: &str, region: &str) -> Key {
    Key::new(account::pk(tenant, account), format!("{PREFIX}{region}"))
}

fn item(p: &BackfillProgress) -> Result<crate::store::Item, StoreError> {
    Ok(keyed(
        encode(p)?,
        key(&p.tenant_id, &p.account_id, &p.region),
        ENTITY,
    ))
}

/// Creates the job unless it exists (a redelivered start message keeps the progress made).
/// Returns whether it was created.
pub async fn create_if_absent(table: &dyn Table, p: &BackfillProgress) -> Result<bool, StoreError> {
    match table.put(item(p)?, Some(Condition::ItemNotExists)).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes the job's new state if it is still at page `pages_before` (another delivery of the
/// same step has not advanced it). Returns whether it was written.
pub async fn advance(
    table: &dyn Table,
    p: &BackfillProgress,
    pages_before: u64,
) -> Result<bool, StoreError> {
    let condition = Condition::Equals("pages".into(), AttrValue::N(pages_before as f64));
    match table.put(item(p)?, Some(condition)).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

pub async fn load(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    region: &str,
) -> Result<Option<BackfillProgress>, StoreError> {
    let key = key(tenant, account, region);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), strip_keys(item)).map(Some),
        None => Ok(None),
    }
}

/// Every region's job of an account (at most one per region: one page of a query).
pub async fn of_account(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Vec<BackfillProgress>, StoreError> {
    query_all(table, account::items_starting(tenant, account, PREFIX))
        .await?
        .into_iter()
        .map(|item| decode(None, strip_keys(item)))
        .collect()
}

/// The bus event that drives the backfill (`shared/routing.json`: the `backfill` queue, one
/// message group per account, so an account's pages are read one at a time).
pub const STEP_DETAIL_TYPE: &str = "dd0c.BackfillStep";

/// One step of an account's backfill: without `region`, start a job in every region; with
/// it, read page `page` (1-based) of that region's job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillStep {
    pub tenant_id: String,
    pub account_id: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub page: u64,
}

impl BackfillStep {
    /// The bus event carrying this step.
    pub fn event(&self) -> BusEvent {
        BusEvent {
            detail_type: STEP_DETAIL_TYPE.into(),
            detail: serde_json::json!({
                "tenant_id": self.tenant_id,
                "account_id": self.account_id,
                "region": self.region,
                "page": self.page,
            }),
            tenant: self.tenant_id.clone(),
            account: self.account_id.clone(),
            region: self.region.clone().unwrap_or_default(),
        }
    }

    /// The step that starts an account's backfill in every region (sent on connect).
    pub fn start(tenant: &str, account: &str) -> Self {
        Self {
            tenant_id: tenant.to_owned(),
            account_id: account.to_owned(),
            region: None,
            page: 0,
        }
    }
}
