//! What people do to a finding, from the dashboard (`PATCH /v1/anomalies/{id}`) or a Slack
//! button: one implementation, each change leaving an append-only audit entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Finding, FindingKind, FindingStatus};
use crate::feedback;
use crate::store::{
    from_item, keys, to_item, AttrValue, Condition, StoreError, Table, Update, PK, SK,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FindingAction {
    /// "This was expected": no more alerts like it for this finding.
    MarkExpected,
    /// Quiet until the given time (the digest job reopens it then).
    Snooze {
        until: DateTime<Utc>,
    },
    Resolve,
    /// Back to open (undo).
    Reopen,
}

impl FindingAction {
    pub fn name(&self) -> &'static str {
        match self {
            FindingAction::MarkExpected => "mark_expected",
            FindingAction::Snooze { .. } => "snooze",
            FindingAction::Resolve => "resolve",
            FindingAction::Reopen => "reopen",
        }
    }

    fn status(&self) -> FindingStatus {
        match self {
            FindingAction::MarkExpected => FindingStatus::Expected,
            FindingAction::Snooze { .. } => FindingStatus::Snoozed,
            FindingAction::Resolve => FindingStatus::Resolved,
            FindingAction::Reopen => FindingStatus::Open,
        }
    }
}

/// Who did it and from where (`dashboard`, `slack`, `api_key`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub entry_id: String,
    pub tenant_id: String,
    pub at: DateTime<Utc>,
    pub user: String,
    pub via: String,
    /// e.g. `finding.snooze`, `account.disconnect`, `billing.plan`.
    pub action: String,
    pub target: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no finding {0}")]
    NotFound(String),
    #[error("snooze_until must be in the future")]
    SnoozeInPast,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn status_str(status: FindingStatus) -> &'static str {
    match status {
        FindingStatus::Open => "open",
        FindingStatus::Expected => "expected",
        FindingStatus::Snoozed => "snoozed",
        FindingStatus::Resolved => "resolved",
        FindingStatus::Accepted => "accepted",
    }
}

/// Appends an audit entry (never overwritten: a random id under the time).
pub async fn append_audit(table: &dyn Table, entry: &AuditEntry) -> Result<(), StoreError> {
    let mut item = to_item(entry).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })?;
    let key = keys::audit(&entry.tenant_id, &entry.at, &entry.entry_id);
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("audit".into()));
    table.put(item, Some(Condition::ItemNotExists)).await
}

pub fn audit_entry(
    tenant: &str,
    actor: &Actor,
    now: DateTime<Utc>,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        entry_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.to_owned(),
        at: now,
        user: actor.user.clone(),
        via: actor.via.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    }
}

/// "Mark expected" on a cost finding teaches its baseline: the actor and instance type join the
/// expected sets, so the next launch like it scores lower. Drift findings have no baseline.
/// Returns what was taught, for the audit trail.
async fn teach_baseline(
    table: &dyn Table,
    finding: &Finding,
) -> Result<Option<serde_json::Value>, StoreError> {
    if finding.kind != FindingKind::CostAnomaly {
        return Ok(None);
    }
    let detail = |name: &str| finding.details.get(name).and_then(|v| v.as_str());
    let Some(service) = detail("service") else {
        return Ok(None);
    };
    let actor = finding.actor.baseline_key();
    let sku = detail("sku");
    feedback::mark_expected(
        table,
        &finding.tenant_id,
        &finding.account_id,
        service,
        &finding.resource_type,
        &actor,
        sku,
    )
    .await?;
    Ok(Some(serde_json::json!({
        "service": service,
        "resource_type": finding.resource_type,
        "expected_actor": actor,
        "expected_type": sku,
    })))
}

/// Applies an action to a tenant's finding and audits it. The finding key contains the
/// tenant, so another tenant's finding is simply not found.
pub async fn apply(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    action: &FindingAction,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Finding, ActionError> {
    if let FindingAction::Snooze { until } = action {
        if *until <= now {
            return Err(ActionError::SnoozeInPast);
        }
    }
    let key = keys::finding(tenant, finding_id);
    let Some(item) = table.get(&key).await? else {
        return Err(ActionError::NotFound(finding_id.to_owned()));
    };
    let current: Finding = from_item(item).map_err(|e| StoreError::Decode {
        key: Some(key.clone()),
        source: e,
    })?;
    let status = action.status();
    let (g2pk, g2sk) =
        keys::finding_gsi2(tenant, status_str(status), &current.event_time, finding_id);
    let mut update = Update::new()
        .set("status", status_str(status))
        .set("GSI2PK", g2pk)
        .set("GSI2SK", g2sk)
        .set("status_changed_at", keys::time_key(&now))
        .set("status_changed_by", actor.user.as_str())
        .when(Condition::ItemExists);
    update = match action {
        FindingAction::Snooze { until } => update.set("snooze_until", keys::time_key(until)),
        _ => update.remove("snooze_until"),
    };
    let updated = match table.update(&key, update).await {
        Ok(item) => item,
        Err(e) if e.is_condition_failed() => {
            return Err(ActionError::NotFound(finding_id.to_owned()))
        }
        Err(e) => return Err(e.into()),
    };
    let taught = match action {
        FindingAction::MarkExpected => teach_baseline(table, &current).await?,
        _ => None,
    };
    let detail = match action {
        FindingAction::MarkExpected => serde_json::json!({
            "from": status_str(current.status),
            "baseline": taught,
        }),
        FindingAction::Snooze { until } => serde_json::json!({
            "from": status_str(current.status),
            "snooze_until": keys::time_key(until),
        }),
        _ => serde_json::json!({ "from": status_str(current.status) }),
    };
    append_audit(
        table,
        &audit_entry(
            tenant,
            actor,
            now,
            &format!("finding.{}", action.name()),
            finding_id,
            detail,
        ),
    )
    .await?;
    from_item(updated).map_err(|e| {
        ActionError::Store(StoreError::Decode {
            key: Some(key),
            source: e,
        })
    })
}
