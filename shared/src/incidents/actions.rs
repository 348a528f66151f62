//! Acting on an incident as a whole (mark expected, snooze, resolve, reopen): the action is
//! applied to each of its findings that is in the incident's status (the others were acted on
//! alone, and stay as they are) — each audited as a finding change — then to the incident,
//! with one audit entry naming how many changed.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::incident::Incident;
use crate::domain::{Finding, FindingStatus};
use crate::entity::{finding, incident};
use crate::finding_actions::{
    append_audit, apply_checked, audit_entry, Actor, ChangeError, FindingAction,
};
use crate::store::{StoreError, Table};

/// Rewrites of the incident lost to a concurrent writer before giving up.
const SAVE_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum IncidentActionError {
    #[error("no incident {0}")]
    NotFound(String),
    #[error("{action} is not allowed on a {from} incident")]
    NotAllowed {
        action: &'static str,
        from: &'static str,
    },
    #[error("snooze_until must be in the future")]
    SnoozeInPast,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentOutcome {
    pub incident: Incident,
    /// The findings the action changed, as they are now.
    pub changed: Vec<Finding>,
    /// Findings left as they were: acted on alone (in another status than the incident's),
    /// or gone.
    pub unchanged: usize,
}

pub async fn act_on_incident(
    table: &dyn Table,
    tenant: &str,
    incident_id: &str,
    action: &FindingAction,
    who: &Actor,
    now: DateTime<Utc>,
) -> Result<IncidentOutcome, IncidentActionError> {
    let transition = action.transition();
    if let FindingAction::Snooze { until } = action {
        if *until <= now {
            return Err(IncidentActionError::SnoozeInPast);
        }
    }
    let current = incident::load(table, tenant, incident_id)
        .await?
        .ok_or_else(|| IncidentActionError::NotFound(incident_id.to_owned()))?;
    if !transition.allowed_from().contains(&current.status) {
        return Err(IncidentActionError::NotAllowed {
            action: action.name(),
            from: current.status.as_str(),
        });
    }
    let mut changed = Vec::new();
    let mut unchanged = 0;
    for id in &current.finding_ids {
        // Members follow the incident; one acted on alone since is left as it is.
        match finding::load(table, tenant, id).await? {
            Some(f) if f.status == current.status => {}
            _ => {
                unchanged += 1;
                continue;
            }
        }
        match apply_checked(table, tenant, id, action, who, now).await {
            Ok(f) => changed.push(f),
            Err(ChangeError::NotAllowed(_) | ChangeError::NotFound(_)) => unchanged += 1,
            Err(ChangeError::SnoozeInPast) => return Err(IncidentActionError::SnoozeInPast),
            Err(ChangeError::Store(e)) => return Err(e.into()),
        }
    }
    let snooze_until = match action {
        FindingAction::Snooze { until } => Some(*until),
        _ => None,
    };
    let mut saved = None;
    for _ in 0..SAVE_ATTEMPTS {
        let Some(mut latest) = incident::load(table, tenant, incident_id).await? else {
            return Err(IncidentActionError::NotFound(incident_id.to_owned()));
        };
        latest.status = transition.to();
        latest.snooze_until = snooze_until;
        match incident::save(table, &latest).await {
            Ok(s) => {
                saved = Some(s);
                break;
            }
            Err(e) if e.is_condition_failed() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let incident = saved.ok_or_else(|| {
        StoreError::Invalid(format!(
            "incident {incident_id} was rewritten concurrently {SAVE_ATTEMPTS} times; try again"
        ))
    })?;
    append_audit(
        table,
        &audit_entry(
            tenant,
            who,
            now,
            &format!("incident.{}", action.name()),
            incident_id,
            json!({
                "findings_changed": changed.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
                "findings_unchanged": unchanged,
                "snooze_until": snooze_until,
            }),
        ),
    )
    .await?;
    Ok(IncidentOutcome {
        incident,
        changed,
        unchanged,
    })
}

/// The status an incident shows: its own, except that an incident of one finding shows that
/// finding's (acted on alone, it is the incident).
pub fn shown_status(incident: &Incident, single: Option<&Finding>) -> FindingStatus {
    match (incident.count, single) {
        (1, Some(f)) => f.status,
        _ => incident.status,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::entity::audit;
    use crate::incidents::assign;
    use crate::store::memory::MemoryTable;
    use crate::store::AttrValue;
    use crate::testing;

    async fn burst(table: &MemoryTable, ids: &[&str]) -> Incident {
        let mut last = None;
        for (i, id) in ids.iter().enumerate() {
            let mut f = testing::cost_finding(id);
            f.event_time = testing::noon() + Duration::minutes(i as i64);
            finding::record(table, &f).await.unwrap();
            last = Some(assign(table, &f, testing::noon()).await.unwrap().incident);
        }
        last.unwrap()
    }

    fn who() -> Actor {
        Actor {
            user: "U123".into(),
            via: "slack".into(),
        }
    }

    #[tokio::test]
    async fn acting_on_an_incident_acts_on_each_finding_once_and_audits_it() {
        let table = MemoryTable::new(Arc::new(ManualClock::new(testing::noon())));
        let incident = burst(&table, &["a", "b", "c"]).await;
        // One was acted on alone before: it is left as it is.
        apply_checked(
            &table,
            testing::TENANT,
            "b",
            &FindingAction::MarkExpected,
            &who(),
            testing::noon(),
        )
        .await
        .unwrap();
        let until = testing::noon() + Duration::hours(24);
        let outcome = act_on_incident(
            &table,
            testing::TENANT,
            &incident.id,
            &FindingAction::Snooze { until },
            &who(),
            testing::noon(),
        )
        .await
        .unwrap();
        let changed: Vec<_> = outcome.changed.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(changed, ["a", "c"]);
        assert_eq!(outcome.unchanged, 1);
        assert_eq!(outcome.incident.status, FindingStatus::Snoozed);
        assert_eq!(outcome.incident.snooze_until, Some(until));
        for (id, status) in [
            ("a", FindingStatus::Snoozed),
            ("b", FindingStatus::Expected),
            ("c", FindingStatus::Snoozed),
        ] {
            let f = finding::load(&table, testing::TENANT, id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(f.status, status, "{id}");
        }
        let entries = crate::store::query_all(&table, audit::trail(testing::TENANT))
            .await
            .unwrap();
        let entry = entries
            .iter()
            .find(|e| e.get("action").and_then(AttrValue::as_str) == Some("incident.snooze"))
            .expect("the incident's audit entry");
        let entry: crate::finding_actions::AuditEntry =
            crate::store::from_item(entry.clone()).unwrap();
        assert_eq!(entry.target, incident.id);
        assert_eq!(entry.detail["findings_changed"], json!(["a", "c"]));
        // A double click is refused, like a finding's.
        let again = act_on_incident(
            &table,
            testing::TENANT,
            &incident.id,
            &FindingAction::Resolve,
            &who(),
            testing::noon(),
        )
        .await;
        assert!(again.is_ok(), "resolve is allowed from snoozed");
        let refused = act_on_incident(
            &table,
            testing::TENANT,
            &incident.id,
            &FindingAction::Resolve,
            &who(),
            testing::noon(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(refused, IncidentActionError::NotAllowed { .. }),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn unknown_incidents_and_past_snoozes_are_refused() {
        let table = MemoryTable::new(Arc::new(ManualClock::new(testing::noon())));
        let missing = act_on_incident(
            &table,
            testing::TENANT,
            "inc-nope",
            &FindingAction::MarkExpected,
            &who(),
            testing::noon(),
        )
        .await
        .unwrap_err();
        assert!(matches!(missing, IncidentActionError::NotFound(_)));
        let incident = burst(&table, &["a"]).await;
        let past = act_on_incident(
            &table,
            testing::TENANT,
            &incident.id,
            &FindingAction::Snooze {
                until: testing::noon() - Duration::minutes(1),
            },
            &who(),
            testing::noon(),
        )
        .await
        .unwrap_err();
        assert!(matches!(past, IncidentActionError::SnoozeInPast));
    }

    #[test]
    fn a_single_finding_incident_shows_its_finding_status() {
        let mut f = testing::cost_finding("a");
        let incident = Incident::open(&f);
        f.status = FindingStatus::Expected;
        assert_eq!(shown_status(&incident, Some(&f)), FindingStatus::Expected);
        let mut two = incident.clone();
        two.count = 2;
        assert_eq!(shown_status(&two, Some(&f)), FindingStatus::Open);
    }
}
