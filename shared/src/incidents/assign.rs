//! Puts each finding in an incident, once. The notifier calls this for every finding it
//! receives (sent or held): one tenant's findings come to it in order (the alerts queue's
//! message group is the tenant), and every write here is conditional, so a redelivery or a
//! concurrent delivery counts a finding once.

use chrono::{DateTime, Utc};

use crate::domain::incident::{self as domain, Incident};
use crate::domain::Finding;
use crate::entity::{finding as finding_entity, incident};
use crate::store::{StoreError, Table};

/// Rewrites of one incident lost to a concurrent writer before giving up (the message goes
/// back to the queue).
const SAVE_ATTEMPTS: usize = 5;

/// The incident a finding is in, and whether this call put it there.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    pub incident: Incident,
    pub joined: bool,
}

/// The incident the finding joins: the one it already names, else its group's open incident
/// within the window, else a new one.
async fn choose(table: &dyn Table, finding: &Finding) -> Result<String, StoreError> {
    if let Some(id) = finding_entity::incident_of(table, &finding.tenant_id, &finding.id).await? {
        return Ok(id);
    }
    let group = domain::group_key(finding);
    let chosen = match incident::open_of(table, &finding.tenant_id, &group).await? {
        Some((id, last)) if domain::within_window(&last, &finding.event_time) => id,
        _ => Incident::id_for(finding),
    };
    // The finding names its incident first: a delivery that crashes after this joins the
    // same incident when it comes back.
    Ok(finding_entity::claim_incident(table, finding, &chosen)
        .await?
        .unwrap_or(chosen))
}

pub async fn assign(
    table: &dyn Table,
    finding: &Finding,
    now: DateTime<Utc>,
) -> Result<Assigned, StoreError> {
    let id = choose(table, finding).await?;
    for _ in 0..SAVE_ATTEMPTS {
        let Some(mut current) = incident::load(table, &finding.tenant_id, &id).await? else {
            let mut opened = Incident::open(finding);
            opened.id = id.clone();
            if incident::create(table, &opened).await? {
                incident::record_open(table, &opened, now).await?;
                return Ok(Assigned {
                    incident: opened,
                    joined: true,
                });
            }
            continue;
        };
        if !current.add(finding) {
            return Ok(Assigned {
                incident: current,
                joined: false,
            });
        }
        match incident::save(table, &current).await {
            Ok(saved) => {
                incident::record_open(table, &saved, now).await?;
                return Ok(Assigned {
                    incident: saved,
                    joined: true,
                });
            }
            Err(e) if e.is_condition_failed() => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Invalid(format!(
        "incident {id} was rewritten concurrently {SAVE_ATTEMPTS} times; try again"
    )))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::incident::WINDOW_MINUTES;
    use crate::store::memory::MemoryTable;
    use crate::testing;

    fn table() -> MemoryTable {
        MemoryTable::new(Arc::new(ManualClock::new(testing::noon())))
    }

    fn launch(id: &str, minutes: i64) -> Finding {
        let mut f = testing::cost_finding(id);
        f.event_time = testing::noon() + Duration::minutes(minutes);
        f.estimated_hourly_cost = Some(100.0);
        f
    }

    async fn assigned(table: &MemoryTable, f: &Finding) -> Assigned {
        assign(table, f, testing::noon()).await.unwrap()
    }

    #[tokio::test]
    async fn a_burst_is_one_incident_and_a_pause_starts_another() {
        let table = table();
        let first = assigned(&table, &launch("a", 0)).await;
        assert!(first.joined);
        assert_eq!(first.incident.id, "inc-a");
        let second = assigned(&table, &launch("b", 2)).await;
        let third = assigned(&table, &launch("c", 2 + WINDOW_MINUTES)).await;
        assert_eq!(second.incident.id, "inc-a");
        assert_eq!(
            third.incident.id, "inc-a",
            "the window runs from the last finding"
        );
        assert_eq!(third.incident.count, 3);
        assert!((third.incident.hourly_cost - 300.0).abs() < 1e-9);
        let later = assigned(&table, &launch("d", 3 + 2 * WINDOW_MINUTES)).await;
        assert_eq!(later.incident.id, "inc-d");
        assert_eq!(later.incident.count, 1);
        let stored = incident::load(&table, testing::TENANT, "inc-a")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.finding_ids, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_redelivered_finding_counts_once() {
        let table = table();
        assigned(&table, &launch("a", 0)).await;
        assigned(&table, &launch("b", 1)).await;
        let again = assigned(&table, &launch("b", 1)).await;
        assert!(!again.joined);
        assert_eq!(again.incident.count, 2);
        assert_eq!(
            finding_entity::incident_of(&table, testing::TENANT, "b")
                .await
                .unwrap()
                .as_deref(),
            Some("inc-a")
        );
    }

    #[tokio::test]
    async fn a_finding_that_named_its_incident_before_a_crash_joins_it() {
        let table = table();
        assigned(&table, &launch("a", 0)).await;
        // A delivery that claimed "b" for inc-a and crashed before the incident was written;
        // meanwhile the group's pointer moved on (a finding far later opened another one).
        finding_entity::claim_incident(&table, &launch("b", 1), "inc-a")
            .await
            .unwrap();
        assigned(&table, &launch("z", 5 * WINDOW_MINUTES)).await;
        let redelivered = assigned(&table, &launch("b", 1)).await;
        assert!(redelivered.joined);
        assert_eq!(redelivered.incident.id, "inc-a");
        assert_eq!(redelivered.incident.count, 2);
    }

    #[tokio::test]
    async fn other_principals_open_their_own() {
        let table = table();
        assigned(&table, &launch("a", 0)).await;
        let mut other = launch("b", 1);
        other.actor.arn = "arn:aws:iam::111122223333:user/bob".into();
        assert_eq!(assigned(&table, &other).await.incident.id, "inc-b");
    }
}
