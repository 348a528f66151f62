//! What people (and dd0c's own jobs) do to a finding, from the dashboard
//! (`PATCH /v1/anomalies/{id}`), a Slack button, the digest (end of a snooze) or the classifier
//! (drift resolved): one implementation, each change leaving an append-only audit entry. Which
//! status changes are allowed, and how they are written, is the finding entity's
//! ([`crate::entity::finding::Transition`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::drift::DriftStatus;
use crate::domain::{Finding, FindingKind, FindingStatus};
use crate::entity::finding::{self, NotAllowed, Transition};
use crate::entity::{audit, drift_event, stack, time_key};
use crate::feedback;
use crate::store::{Item, StoreError, Table};

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

    /// The status change the action makes.
    pub fn transition(&self) -> Transition {
        match self {
            FindingAction::MarkExpected => Transition::MarkExpected,
            FindingAction::Snooze { until } => Transition::Snooze { until: *until },
            FindingAction::Resolve => Transition::Resolve,
            FindingAction::Reopen => Transition::Reopen,
        }
    }

    /// The statuses the action may start from.
    pub fn allowed_from(&self) -> &'static [FindingStatus] {
        self.transition().allowed_from()
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

/// Why a checked change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no finding {0}")]
    NotFound(String),
    #[error(transparent)]
    NotAllowed(#[from] NotAllowed),
    #[error("snooze_until must be in the future")]
    SnoozeInPast,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChangeError> for ActionError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotFound(id) => ActionError::NotFound(id),
            ChangeError::SnoozeInPast => ActionError::SnoozeInPast,
            ChangeError::Store(e) => ActionError::Store(e),
            // Only checked changes refuse; `apply` does not check.
            ChangeError::NotAllowed(e) => ActionError::Store(StoreError::Invalid(e.to_string())),
        }
    }
}

/// Appends an audit entry (never overwritten: a random id under the time).
pub async fn append_audit(table: &dyn Table, entry: &AuditEntry) -> Result<(), StoreError> {
    audit::append(table, entry).await
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

fn decode(key_tenant: &str, id: &str, item: Item) -> Result<Finding, StoreError> {
    finding::stored(Some(finding::key(key_tenant, id)), item).map(|s| s.finding)
}

/// How many times a transition is decided again when the finding changed between its read and
/// its write.
const ATTEMPTS: usize = 3;

/// Reads the finding, decides the transition on what it read (checked or not), and writes it
/// under the condition that the status is still the one read. Returns the finding before and
/// the item after.
async fn transition(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    transition: &Transition,
    checked: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(Finding, Item), ChangeError> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let Some(current) = finding::load(table, tenant, finding_id).await? else {
            return Err(ChangeError::NotFound(finding_id.to_owned()));
        };
        if checked {
            finding::check(&current, transition)?;
        }
        let (key, update) = finding::transition_update(&current, transition, &actor.user, &now);
        match table.update(&key, update).await {
            Ok(item) => return Ok((current, item)),
            Err(e) if e.is_condition_failed() => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ChangeError::Store(last.expect("at least one attempt")))
}

async fn act(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    action: &FindingAction,
    checked: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Finding, ChangeError> {
    if let FindingAction::Snooze { until } = action {
        if *until <= now {
            return Err(ChangeError::SnoozeInPast);
        }
    }
    let (current, updated) = transition(
        table,
        tenant,
        finding_id,
        &action.transition(),
        checked,
        actor,
        now,
    )
    .await?;
    let taught = match action {
        FindingAction::MarkExpected => teach_baseline(table, &current).await?,
        _ => None,
    };
    let from = current.status.as_str();
    let detail = match action {
        FindingAction::MarkExpected => serde_json::json!({
            "from": from,
            "baseline": taught,
        }),
        FindingAction::Snooze { until } => serde_json::json!({
            "from": from,
            "snooze_until": time_key(until),
        }),
        _ => serde_json::json!({ "from": from }),
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
    let changed = decode(tenant, finding_id, updated)?;
    follow_drift(table, &changed, now).await?;
    Ok(changed)
}

/// Applies an action to a tenant's finding and audits it, whatever the finding's status: for
/// the system's own changes, which follow the facts rather than a person's request (the digest
/// reopening a snoozed finding when its snooze ends, the classifier resolving drift that was
/// fixed). People's changes go through [`apply_checked`]. The finding key contains the
/// tenant, so another tenant's finding is simply not found.
pub async fn apply(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    action: &FindingAction,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Finding, ActionError> {
    Ok(act(table, tenant, finding_id, action, false, actor, now).await?)
}

/// Applies an action only if the finding's status allows it
/// ([`crate::entity::finding::Transition::allowed_from`]), and audits it.
pub async fn apply_checked(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    action: &FindingAction,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Finding, ChangeError> {
    act(table, tenant, finding_id, action, true, actor, now).await
}

/// Accepts a drift finding's change as the new desired state (Slack's "Accept drift"), and
/// audits it.
pub async fn accept_drift(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Finding, ChangeError> {
    let (current, updated) = transition(
        table,
        tenant,
        finding_id,
        &Transition::AcceptDrift,
        true,
        actor,
        now,
    )
    .await?;
    append_audit(
        table,
        &audit_entry(
            tenant,
            actor,
            now,
            "finding.accept_drift",
            finding_id,
            serde_json::json!({ "from": current.status.as_str() }),
        ),
    )
    .await?;
    let changed = decode(tenant, finding_id, updated)?;
    follow_drift(table, &changed, now).await?;
    Ok(changed)
}

/// A drift finding's status is its drift event's: accepting, snoozing, reopening or resolving
/// it changes what is open in its stack, whose drift score is recomputed.
async fn follow_drift(
    table: &dyn Table,
    f: &Finding,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if f.kind != FindingKind::Drift {
        return Ok(());
    }
    let status = match f.status {
        FindingStatus::Open => DriftStatus::Open,
        FindingStatus::Snoozed => DriftStatus::Snoozed,
        FindingStatus::Accepted | FindingStatus::Expected => DriftStatus::Accepted,
        FindingStatus::Resolved => DriftStatus::Resolved,
    };
    let Some(resource_id) = f.resource_ids.first() else {
        return Ok(());
    };
    let drifts =
        drift_event::drift_for_resource(table, &f.tenant_id, &f.resource_type, resource_id).await?;
    let Some(drift) = drifts.into_iter().find(|d| d.event.id == f.id) else {
        return Ok(());
    };
    if drift.status != status {
        drift_event::set_drift_status(table, &drift.event, status, &now).await?;
    }
    if let Some(stack_id) = &drift.event.stack {
        stack::refresh_stack_score(table, &f.tenant_id, stack_id, now).await?;
    }
    Ok(())
}

/// Gives a finding an owner (Slack's "Assign"), and audits it with the previous owner.
pub async fn assign(
    table: &dyn Table,
    tenant: &str,
    finding_id: &str,
    owner: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Finding, ChangeError> {
    let Some(before) = finding::load_stored(table, tenant, finding_id).await? else {
        return Err(ChangeError::NotFound(finding_id.to_owned()));
    };
    let (key, update) = finding::assignment(tenant, finding_id, owner, &now);
    let updated = match table.update(&key, update).await {
        Ok(item) => item,
        Err(e) if e.is_condition_failed() => {
            return Err(ChangeError::NotFound(finding_id.to_owned()))
        }
        Err(e) => return Err(e.into()),
    };
    append_audit(
        table,
        &audit_entry(
            tenant,
            actor,
            now,
            "finding.assign",
            finding_id,
            serde_json::json!({ "owner": owner, "previous": before.owner }),
        ),
    )
    .await?;
    Ok(decode(tenant, finding_id, updated)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::domain::Severity;
    use crate::entity::finding::Recorded;
    use crate::store::memory::MemoryTable;
    use crate::store::{query_all, AttrValue};
    use std::sync::Arc;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn drift(id: &str) -> Finding {
        Finding {
            event_id: "e1".into(),
            region: "eu-west-1".into(),
            event_time: t("2026-01-15T09:00:00Z"),
            event_name: "PutBucketPolicy".into(),
            severity: Severity::High,
            resource_type: "s3:bucket".into(),
            resource_ids: vec!["b".into()],
            created_at: t("2026-01-15T09:00:01Z"),
            ..crate::testing::drift_finding(id)
        }
    }

    fn who() -> Actor {
        Actor {
            user: "slack:U42".into(),
            via: "slack".into(),
        }
    }

    /// Accepting or snoozing a drift finding closes its drift in the stack, whose score goes
    /// back up; reopening it brings the penalty back.
    #[tokio::test]
    async fn accepting_or_snoozing_drift_changes_its_stacks_score() {
        use crate::domain::drift::{DriftEvent, DriftEventKind};
        let table = MemoryTable::new(Arc::new(SystemClock));
        let now = Utc::now();
        let f = drift("drift-e1");
        let event = DriftEvent {
            id: f.id.clone(),
            kind: DriftEventKind::Detected,
            tenant_id: "t1".into(),
            account_id: f.account_id.clone(),
            region: f.region.clone(),
            resource_type: "s3:bucket".into(),
            resource_id: "b".into(),
            resource_address: None,
            stack: Some("net".into()),
            managed_by: None,
            changes: vec![],
            change: None,
            report_id: None,
            detected_at: f.created_at,
            resolves: vec![],
            resolution: None,
        };
        drift_event::record_drift_event(&table, &event)
            .await
            .unwrap();
        drift_event::set_drift_severity(&table, &event, Severity::High)
            .await
            .unwrap();
        crate::entity::finding::record(&table, &f).await.unwrap();
        let score = |s: Option<crate::domain::drift::Stack>| s.unwrap().drift_score;
        let open = stack::refresh_stack_score(&table, "t1", "net", now)
            .await
            .unwrap();
        assert!(open.drift_score < 100.0, "{}", open.drift_score);
        accept_drift(&table, "t1", &f.id, &who(), now)
            .await
            .unwrap();
        assert_eq!(
            score(stack::load_stack(&table, "t1", "net").await.unwrap()),
            100.0
        );
        let drifts = drift_event::drift_for_stack(&table, "t1", "net")
            .await
            .unwrap();
        assert_eq!(drifts[0].status, DriftStatus::Accepted);
        apply(&table, "t1", &f.id, &FindingAction::Reopen, &who(), now)
            .await
            .unwrap();
        assert_eq!(
            score(stack::load_stack(&table, "t1", "net").await.unwrap()),
            open.drift_score
        );
        apply_checked(
            &table,
            "t1",
            &f.id,
            &FindingAction::Snooze {
                until: now + chrono::Duration::hours(1),
            },
            &who(),
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            score(stack::load_stack(&table, "t1", "net").await.unwrap()),
            100.0
        );
    }

    #[tokio::test]
    async fn checked_changes_follow_the_transitions_and_are_audited() {
        let table = MemoryTable::new(Arc::new(SystemClock));
        let now = Utc::now();
        let f = drift("drift-e1");
        assert_eq!(
            crate::entity::finding::record(&table, &f).await.unwrap(),
            Recorded::ToPublish
        );
        let accepted = accept_drift(&table, "t1", &f.id, &who(), now)
            .await
            .unwrap();
        assert_eq!(accepted.status, FindingStatus::Accepted);
        let item = table
            .get(&crate::entity::finding::key("t1", &f.id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(item["accepted_by"].as_str(), Some("slack:U42"));
        // It moved to the accepted partition of the status index.
        let accepted_list = query_all(&table, finding::in_status("t1", FindingStatus::Accepted))
            .await
            .unwrap();
        assert_eq!(accepted_list.len(), 1);
        // Accepted: no second acceptance, no snooze; resolving is fine.
        let e = accept_drift(&table, "t1", &f.id, &who(), now)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "accept_drift is not allowed on a accepted finding"
        );
        let e = apply_checked(
            &table,
            "t1",
            &f.id,
            &FindingAction::Snooze {
                until: now + chrono::Duration::hours(1),
            },
            &who(),
            now,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ChangeError::NotAllowed(_)), "{e}");
        let resolved = apply_checked(&table, "t1", &f.id, &FindingAction::Resolve, &who(), now)
            .await
            .unwrap();
        assert_eq!(resolved.status, FindingStatus::Resolved);
        // The unchecked path (system jobs) still resolves again.
        apply(&table, "t1", &f.id, &FindingAction::Resolve, &who(), now)
            .await
            .unwrap();
        let assigned = assign(&table, "t1", &f.id, "U7", &who(), now)
            .await
            .unwrap();
        assert_eq!(assigned.id, f.id);
        assert!(matches!(
            assign(&table, "t1", "drift-none", "U7", &who(), now).await,
            Err(ChangeError::NotFound(_))
        ));
        let trail = query_all(&table, crate::entity::audit::trail("t1"))
            .await
            .unwrap();
        // One time: the entries sort by their random ids.
        let mut actions: Vec<&str> = trail
            .iter()
            .map(|i| i["action"].as_str().unwrap())
            .collect();
        actions.sort_unstable();
        assert_eq!(
            actions,
            [
                "finding.accept_drift",
                "finding.assign",
                "finding.resolve",
                "finding.resolve"
            ]
        );
        let accept = trail
            .iter()
            .find(|i| i["action"].as_str() == Some("finding.accept_drift"))
            .unwrap();
        assert_eq!(accept["detail"], {
            let mut m = std::collections::BTreeMap::new();
            m.insert("from".to_owned(), AttrValue::S("open".into()));
            AttrValue::M(m)
        });
    }
}
