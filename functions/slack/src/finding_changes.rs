//! The finding changes the Slack actions make (expected, snooze, accept drift, assign), each
//! audited.

use chrono::{DateTime, Utc};
use dd0c_shared::domain::{Finding, FindingKind};
use dd0c_shared::finding_actions::{self, append_audit, audit_entry, FindingAction};
use dd0c_shared::finding_store::load_finding;
use dd0c_shared::store::{keys, Condition, Table, Update};
use serde_json::json;

pub(crate) enum ActionFailure {
    Unknown,
    NotFound,
    Failed(String),
}

pub(crate) fn failed(e: impl std::fmt::Display) -> ActionFailure {
    ActionFailure::Failed(e.to_string())
}

pub(crate) async fn load(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<Finding, ActionFailure> {
    load_finding(table, tenant, id)
        .await
        .map_err(failed)?
        .ok_or(ActionFailure::NotFound)
}

pub(crate) async fn apply(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    action: &FindingAction,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    match finding_actions::apply(table, tenant, id, action, who, now).await {
        Ok(_) => Ok(()),
        Err(finding_actions::ActionError::NotFound(_)) => Err(ActionFailure::NotFound),
        Err(e) => Err(failed(e)),
    }
}

pub(crate) async fn accept_drift(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    let finding = load(table, tenant, id).await?;
    if finding.kind != FindingKind::Drift {
        return Err(ActionFailure::Unknown);
    }
    let (g2pk, g2sk) = keys::finding_gsi2(tenant, "accepted", &finding.event_time, id);
    table
        .update(
            &keys::finding(tenant, id),
            Update::new()
                .set("status", "accepted")
                .set("GSI2PK", g2pk)
                .set("GSI2SK", g2sk)
                .set("accepted_by", who.user.as_str())
                .set("accepted_at", keys::time_key(&now))
                .set("status_changed_at", keys::time_key(&now))
                .set("status_changed_by", who.user.as_str())
                .when(Condition::ItemExists),
        )
        .await
        .map_err(failed)?;
    append_audit(
        table,
        &audit_entry(
            tenant,
            who,
            now,
            "finding.accept_drift",
            id,
            json!({"from": format!("{:?}", finding.status).to_lowercase()}),
        ),
    )
    .await
    .map_err(failed)
}

pub(crate) async fn set_owner(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    owner: &str,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    let before = table
        .get(&keys::finding(tenant, id))
        .await
        .map_err(failed)?
        .ok_or(ActionFailure::NotFound)?;
    let previous = before
        .get("owner")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    table
        .update(
            &keys::finding(tenant, id),
            Update::new()
                .set("owner", owner)
                .set("assigned_at", keys::time_key(&now))
                .when(Condition::ItemExists),
        )
        .await
        .map_err(failed)?;
    append_audit(
        table,
        &audit_entry(
            tenant,
            who,
            now,
            "finding.assign",
            id,
            json!({"owner": owner, "previous": previous}),
        ),
    )
    .await
    .map_err(failed)
}
