//! The finding changes the Slack actions make (expected, snooze, accept drift, assign): each
//! goes through `dd0c_shared::finding_actions`, which checks the transition against the
//! finding entity and writes the finding with its audit entry.

use chrono::{DateTime, Utc};
use dd0c_shared::entity::finding::{self, NotAllowed, StoredFinding};
use dd0c_shared::finding_actions::{self, ChangeError, FindingAction};
use dd0c_shared::http::HttpResponse;
use dd0c_shared::store::Table;

pub(crate) enum ActionFailure {
    Unknown,
    NotFound,
    /// The finding's status does not allow the change (a repeated click, a stale alert).
    NotAllowed(String),
    Failed(String),
}

impl ActionFailure {
    /// The answer to Slack when an action on a finding or an incident (`what`, `id`) failed.
    pub(crate) fn into_problem(self, action_id: &str, what: &str, id: &str) -> HttpResponse {
        match self {
            ActionFailure::Unknown => HttpResponse::problem(
                400,
                "Bad request",
                &format!("unknown action {action_id:?}"),
                Some("payload.actions[0].action_id"),
            ),
            ActionFailure::NotFound => HttpResponse::problem(
                404,
                "Not found",
                &format!("no {what} {id}"),
                Some("payload.actions[0].value"),
            ),
            ActionFailure::NotAllowed(why) => {
                HttpResponse::problem(409, "Conflict", &why, Some("payload.actions[0].action_id"))
            }
            ActionFailure::Failed(e) => {
                tracing::error!(what, id, error = %e, "action failed");
                HttpResponse::problem(
                    503,
                    "Unavailable",
                    "the action could not be applied; try again",
                    None,
                )
            }
        }
    }
}

fn failed(e: impl std::fmt::Display) -> ActionFailure {
    ActionFailure::Failed(e.to_string())
}

impl From<ChangeError> for ActionFailure {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotFound(_) => ActionFailure::NotFound,
            // Refused for the finding's kind (accepting a cost anomaly as drift): not an
            // action this finding has.
            ChangeError::NotAllowed(e) if refused_by_kind(&e) => ActionFailure::Unknown,
            ChangeError::NotAllowed(e) => ActionFailure::NotAllowed(e.to_string()),
            e @ (ChangeError::SnoozeInPast | ChangeError::Store(_)) => failed(e),
        }
    }
}

/// `NotAllowed::what` names the kind when the kind is what forbids the change.
fn refused_by_kind(e: &NotAllowed) -> bool {
    e.what != e.from.as_str()
}

/// The finding with where its alert is.
pub(crate) async fn load(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<StoredFinding, ActionFailure> {
    finding::load_stored(table, tenant, id)
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
    finding_actions::apply_checked(table, tenant, id, action, who, now).await?;
    Ok(())
}

pub(crate) async fn accept_drift(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    finding_actions::accept_drift(table, tenant, id, who, now).await?;
    Ok(())
}

pub(crate) async fn set_owner(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    owner: &str,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    finding_actions::assign(table, tenant, id, owner, who, now).await?;
    Ok(())
}
