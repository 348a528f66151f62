//! Incidents (`T` / `INCIDENT#<id>`), indexed by first time (GSI1 `T#INCIDENTS`), and the
//! pointer from a group to its open incident (`T` / `INCIDENT_GROUP#<group>`, expiring a day
//! after the group's last finding). An incident is rewritten whole under the condition that
//! its version is the one read (decision 0530).

use chrono::{DateTime, Duration, Utc};

use crate::domain::incident::{Incident, WINDOW_MINUTES};
use crate::domain::Severity;
use crate::store::{
    put_if_absent, AttrValue, Condition, Index, Item, Key, Query, StoreError, Table, Update,
    TTL_ATTRIBUTE,
};

use super::{bare, decode, encode, finding, indexed, keyed, tenant, time_key};

pub const ENTITY: &str = "incident";
const GROUP_ENTITY: &str = "incident_group";
const PREFIX: &str = "INCIDENT#";
const GROUP_PREFIX: &str = "INCIDENT_GROUP#";
const VERSION: &str = "version";

pub fn key(tenant_id: &str, id: &str) -> Key {
    Key::new(tenant::pk(tenant_id), format!("{PREFIX}{id}"))
}

/// The incident id of an incident key.
pub fn id_of(key: &Key) -> Option<&str> {
    key.sk.strip_prefix(PREFIX)
}

fn by_time_partition(tenant_id: &str) -> String {
    tenant::sub(tenant_id, "INCIDENTS")
}

pub fn gsi1(incident: &Incident) -> (String, String) {
    (
        by_time_partition(&incident.tenant_id),
        format!("{}#{}", time_key(&incident.first_time), incident.id),
    )
}

/// An incident's item, with its key, index entry and entity name, and its expiry when all its
/// findings are info findings (rewritten with each write, as the incident is).
pub fn item(incident: &Incident) -> Result<Item, StoreError> {
    let mut item = keyed(
        encode(incident)?,
        key(&incident.tenant_id, &incident.id),
        ENTITY,
    );
    if let Some(expires) = expiry(incident) {
        item.insert(
            TTL_ATTRIBUTE.into(),
            AttrValue::N(expires.timestamp() as f64),
        );
    }
    Ok(indexed(item, Index::Gsi1, gsi1(incident)))
}

/// When an incident expires: never, unless its findings are all info findings, which expire
/// [`finding::INFO_FINDING_DAYS`] after they were recorded (decision 1260). Then a day after
/// the last of them, counted from its event time (a finding is recorded within minutes of its
/// event), and not before a day past the end of its snooze, so that the digest can reopen it.
fn expiry(incident: &Incident) -> Option<DateTime<Utc>> {
    if incident.severity != Severity::Info {
        return None;
    }
    let kept = incident.last_time + Duration::days(finding::INFO_FINDING_DAYS + 1);
    Some(
        incident
            .snooze_until
            .map_or(kept, |until| kept.max(until + Duration::days(1))),
    )
}

/// A tenant's incidents by the time they began.
pub fn by_time(tenant_id: &str) -> Query {
    Query::partition(by_time_partition(tenant_id)).on(Index::Gsi1)
}

pub fn from_item(item: Item) -> Result<Incident, StoreError> {
    let key = super::key_of(&item);
    decode(key, item)
}

pub async fn load(
    table: &dyn Table,
    tenant_id: &str,
    id: &str,
) -> Result<Option<Incident>, StoreError> {
    let key = key(tenant_id, id);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item).map(Some),
        None => Ok(None),
    }
}

/// Writes a new incident (version 0) unless one with its id exists.
pub async fn create(table: &dyn Table, incident: &Incident) -> Result<bool, StoreError> {
    put_if_absent(table, item(incident)?).await
}

/// Writes `incident` as the next version of the one read at `incident.version`. A condition
/// failure means someone else wrote it since: read again.
pub async fn save(table: &dyn Table, incident: &Incident) -> Result<Incident, StoreError> {
    let mut next = incident.clone();
    next.version += 1;
    table
        .put(
            item(&next)?,
            Some(Condition::Equals(
                VERSION.into(),
                AttrValue::N(incident.version as f64),
            )),
        )
        .await?;
    Ok(next)
}

fn group_key(tenant_id: &str, group: &str) -> Key {
    Key::new(tenant::pk(tenant_id), format!("{GROUP_PREFIX}{group}"))
}

/// The open incident of a group and when its last finding was, if the pointer has not expired.
pub async fn open_of(
    table: &dyn Table,
    tenant_id: &str,
    group: &str,
) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
    let Some(item) = table.get(&group_key(tenant_id, group)).await? else {
        return Ok(None);
    };
    let id = item.get("incident_id").and_then(AttrValue::as_str);
    let last = item
        .get("last_time")
        .and_then(AttrValue::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    Ok(id
        .zip(last)
        .map(|(id, last)| (id.to_owned(), last.with_timezone(&Utc))))
}

/// Points a group at its open incident. The pointer is only read within the window, so it
/// expires a day after the later of the last finding and `now` (a replay's findings are old).
pub async fn record_open(
    table: &dyn Table,
    incident: &Incident,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut item = bare(group_key(&incident.tenant_id, &incident.group));
    fill_group(&mut item, incident, now);
    table.put(item, None).await
}

fn fill_group(item: &mut Item, incident: &Incident, now: DateTime<Utc>) {
    let expires =
        (incident.last_time.max(now) + Duration::minutes(WINDOW_MINUTES) + Duration::days(1))
            .timestamp() as f64;
    item.insert(super::ENTITY.into(), AttrValue::S(GROUP_ENTITY.into()));
    item.insert("incident_id".into(), AttrValue::S(incident.id.clone()));
    item.insert(
        "last_time".into(),
        AttrValue::S(incident.last_time.to_rfc3339()),
    );
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(expires));
}

/// A group pointer's item (the stored-shapes test's specimen).
#[cfg(test)]
pub(crate) fn group_specimen(incident: &Incident) -> Item {
    let mut item = bare(group_key(&incident.tenant_id, &incident.group));
    fill_group(&mut item, incident, incident.last_time);
    item
}

/// Sets where the incident's Slack thread is, if no thread is recorded yet.
pub fn thread_update(channel: &str, ts: &str, root_finding: &str) -> Update {
    Update::new()
        .set("slack_channel", channel)
        .set("slack_ts", ts)
        .set("root_finding", root_finding)
        .add(VERSION, 1.0)
        .when(Condition::AttributeNotExists("slack_ts".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::clock::ManualClock;
    use crate::store::memory::MemoryTable;
    use crate::testing;

    fn table() -> MemoryTable {
        MemoryTable::new(Arc::new(ManualClock::new(testing::noon())))
    }

    #[tokio::test]
    async fn versions_guard_concurrent_writes() {
        let table = table();
        let incident = Incident::open(&testing::cost_finding("a"));
        assert!(create(&table, &incident).await.unwrap());
        assert!(!create(&table, &incident).await.unwrap());
        let read = load(&table, testing::TENANT, &incident.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, incident);
        let saved = save(&table, &read).await.unwrap();
        assert_eq!(saved.version, 1);
        let stale = save(&table, &read).await.unwrap_err();
        assert!(stale.is_condition_failed(), "{stale:?}");
    }

    /// An incident of info findings expires a day after the last of them would, a day past a
    /// longer snooze at the earliest; a warning joining it keeps it. In the table it is gone
    /// once expired (decision 1260).
    #[tokio::test]
    async fn an_incident_of_info_findings_expires_after_them() {
        use crate::domain::{Finding, Severity};
        let ttl = |i: &Incident| item(i).unwrap().get(TTL_ATTRIBUTE).cloned();
        let at = |i: DateTime<Utc>| Some(AttrValue::N(i.timestamp() as f64));
        let info = |id: &str, minutes: i64| Finding {
            severity: Severity::Info,
            event_time: testing::noon() + Duration::minutes(minutes),
            ..testing::cost_finding(id)
        };
        let mut incident = Incident::open(&info("a", 0));
        incident.add(&info("b", 10));
        let kept = testing::noon() + Duration::minutes(10) + Duration::days(91);
        assert_eq!(ttl(&incident), at(kept));
        incident.snooze_until = Some(kept + Duration::days(5));
        assert_eq!(
            ttl(&incident),
            at(kept + Duration::days(6)),
            "snoozed past it"
        );
        incident.snooze_until = None;
        let mut warned = incident.clone();
        warned.add(&testing::cost_finding("c"));
        assert_eq!(warned.severity, Severity::Warning);
        assert_eq!(ttl(&warned), None, "a warning keeps it");

        let clock = ManualClock::new(testing::noon());
        let table = MemoryTable::new(Arc::new(clock.clone()));
        create(&table, &incident).await.unwrap();
        clock.advance_to(kept - Duration::seconds(1));
        assert!(load(&table, testing::TENANT, &incident.id)
            .await
            .unwrap()
            .is_some());
        clock.advance_to(kept + Duration::seconds(1));
        assert!(load(&table, testing::TENANT, &incident.id)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn a_group_points_at_its_open_incident() {
        let table = table();
        let incident = Incident::open(&testing::cost_finding("a"));
        assert_eq!(
            open_of(&table, testing::TENANT, &incident.group)
                .await
                .unwrap(),
            None
        );
        record_open(&table, &incident, testing::noon())
            .await
            .unwrap();
        assert_eq!(
            open_of(&table, testing::TENANT, &incident.group)
                .await
                .unwrap(),
            Some((incident.id.clone(), incident.last_time))
        );
    }
}
