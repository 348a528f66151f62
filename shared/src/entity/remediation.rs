//! A remediation asked for from an alert (`T#REMEDIATION` / `<finding>#<kind>`): one item per
//! finding and kind of remediation, claimed with a conditional write before AWS is called, so
//! a double click or a redelivered request changes the account at most once
//! (docs/decisions/0520-remediation.md).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::remediation::{RemediationKind, RemediationRequest};
use crate::store::{AttrValue, Condition, Item, Key, StoreError, Table};

use super::{decode, encode, keyed, strip_keys, tenant, time_key};

pub const ENTITY: &str = "remediation";

/// Where a remediation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationStatus {
    /// Claimed: AWS is being called.
    Pending,
    Done,
    /// Nothing had to change (already stopped, rule already gone).
    AlreadyDone,
    /// Audit mode: recorded what would have changed, changed nothing.
    Audited,
    /// AWS denied it (the role, a protected resource).
    Denied,
    /// AWS failed or the resource was gone; may be asked again.
    Failed,
}

impl RemediationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationStatus::Pending => "pending",
            RemediationStatus::Done => "done",
            RemediationStatus::AlreadyDone => "already_done",
            RemediationStatus::Audited => "audited",
            RemediationStatus::Denied => "denied",
            RemediationStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationRecord {
    pub tenant_id: String,
    pub finding_id: String,
    pub kind: RemediationKind,
    pub account_id: String,
    pub request: RemediationRequest,
    /// `slack:U123`.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub status: RemediationStatus,
    /// Why it was denied or failed, in AWS's words.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

fn partition(tenant: &str) -> String {
    tenant::sub(tenant, "REMEDIATION")
}

pub fn key(tenant: &str, finding_id: &str, kind: RemediationKind) -> Key {
    Key::new(partition(tenant), format!("{finding_id}#{}", kind.as_str()))
}

pub fn item(record: &RemediationRecord) -> Result<Item, StoreError> {
    Ok(keyed(
        encode(record)?,
        key(&record.tenant_id, &record.finding_id, record.kind),
        ENTITY,
    ))
}

/// A pending claim older than this is taken over (the process that claimed it died before
/// recording the result; every remediation is idempotent in AWS, so asking again is safe).
pub const STALE_CLAIM_MINUTES: i64 = 5;

/// Claims the remediation for `record` (status `pending`): only when nobody has, when the last
/// attempt failed, or when a claim went stale. `false` when another request holds it or
/// finished it.
pub async fn claim(
    table: &dyn Table,
    record: &RemediationRecord,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let stale = time_key(&(now - Duration::minutes(STALE_CLAIM_MINUTES)));
    let condition = Condition::Or(vec![
        Condition::ItemNotExists,
        Condition::Equals(
            "status".into(),
            AttrValue::S(RemediationStatus::Failed.as_str().into()),
        ),
        Condition::And(vec![
            Condition::Equals(
                "status".into(),
                AttrValue::S(RemediationStatus::Pending.as_str().into()),
            ),
            Condition::LessThan("requested_at".into(), AttrValue::S(stale)),
        ]),
    ]);
    match table.put(item(record)?, Some(condition)).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Records the result of a claimed remediation.
pub async fn finish(table: &dyn Table, record: &RemediationRecord) -> Result<(), StoreError> {
    table.put(item(record)?, None).await
}

pub async fn load(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    kind: RemediationKind,
) -> Result<Option<RemediationRecord>, StoreError> {
    let key = key(tenant, finding_id, kind);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), strip_keys(item)).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remediation_keys() {
        assert_eq!(
            key("t", "cost-e1", RemediationKind::StopInstances),
            Key::new("TENANT#t#REMEDIATION", "cost-e1#stop_instances")
        );
    }
}
