//! A drift event (`T#RESOURCE#<type>#<id>` / `DRIFT#<time>#<driftID>`, in its resource's
//! history partition), with what the classifier decided (`status`, `severity`), indexed by
//! stack and time (GSI1 `T#STACK#<stack>#DRIFT`: the stack drift score). Stored open; the
//! normalizer resolves it, people accept or snooze it through its finding. Closed, it expires
//! as its finding does.

use chrono::{DateTime, Duration, Utc};

use crate::domain::drift::{DriftEvent, DriftStatus};
use crate::domain::Severity;
use crate::store::{
    put_if_absent, query_all, AttrValue, Index, Item, Key, Query, StoreError, Table, Update,
    TTL_ATTRIBUTE,
};

use super::finding;
use super::resource::{self, from_json_attr, json_of};
use super::{indexed, keyed, tenant, time_key};

pub const ENTITY: &str = "drift_event";

pub fn key(
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
    time: &DateTime<Utc>,
    drift_id: &str,
) -> Key {
    Key::new(
        resource::pk(tenant, resource_type, resource_id),
        format!("DRIFT#{}#{drift_id}", time_key(time)),
    )
}

/// The drift id of a drift-event key.
pub fn drift_id_of(key: &Key) -> Option<&str> {
    key.sk
        .strip_prefix("DRIFT#")?
        .split_once('#')
        .map(|(_, id)| id)
}

fn key_of_event(event: &DriftEvent) -> Key {
    key(
        &event.tenant_id,
        &event.resource_type,
        &event.resource_id,
        &event.detected_at,
        &event.id,
    )
}

fn stack_partition(tenant: &str, stack: &str) -> String {
    tenant::sub(tenant, &format!("STACK#{stack}#DRIFT"))
}

/// GSI1 of a drift event: a stack's drift by time (the stack score).
pub fn stack_gsi1(
    tenant: &str,
    stack: &str,
    time: &DateTime<Utc>,
    drift_id: &str,
) -> (String, String) {
    (
        stack_partition(tenant, stack),
        format!("{}#{drift_id}", time_key(time)),
    )
}

/// A drift event as stored, with what the classifier decided about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDrift {
    pub event: DriftEvent,
    pub status: DriftStatus,
    pub severity: Option<Severity>,
}

fn status_of(item: &Item) -> DriftStatus {
    match item.get("status").and_then(AttrValue::as_str) {
        Some("resolved") => DriftStatus::Resolved,
        Some("accepted") => DriftStatus::Accepted,
        Some("snoozed") => DriftStatus::Snoozed,
        _ => DriftStatus::Open,
    }
}

pub(crate) fn stored(item: &Item) -> Result<StoredDrift, StoreError> {
    Ok(StoredDrift {
        event: from_json_attr(item)?,
        status: status_of(item),
        severity: item
            .get("severity")
            .and_then(AttrValue::as_str)
            .and_then(Severity::parse),
    })
}

/// A new (open) drift event's item.
pub fn item(event: &DriftEvent) -> Result<Item, StoreError> {
    let mut item = keyed(Item::new(), key_of_event(event), ENTITY);
    item.insert("drift_id".into(), AttrValue::S(event.id.clone()));
    item.insert(
        "status".into(),
        AttrValue::S(DriftStatus::Open.as_str().into()),
    );
    item.insert("json".into(), AttrValue::S(json_of(event)?));
    Ok(match &event.stack {
        Some(stack) => indexed(
            item,
            Index::Gsi1,
            stack_gsi1(&event.tenant_id, stack, &event.detected_at, &event.id),
        ),
        None => item,
    })
}

/// Stores an open drift once; returns whether it was new.
pub async fn record_drift_event(table: &dyn Table, event: &DriftEvent) -> Result<bool, StoreError> {
    put_if_absent(table, item(event)?).await
}

pub async fn set_drift_severity(
    table: &dyn Table,
    event: &DriftEvent,
    severity: Severity,
) -> Result<(), StoreError> {
    table
        .update(
            &key_of_event(event),
            Update::new().set("severity", severity.as_str()),
        )
        .await
        .map(|_| ())
}

/// Sets a drift's status at `now`. A closed drift expires with its finding
/// ([`finding::CLOSED_FINDING_DAYS`] later): only open drift is read back to be resolved, and
/// the stack's drift score reads 30 days (decision 1080).
pub async fn set_drift_status(
    table: &dyn Table,
    event: &DriftEvent,
    status: DriftStatus,
    now: &DateTime<Utc>,
) -> Result<(), StoreError> {
    table
        .update(&key_of_event(event), status_update(status, now))
        .await
        .map(|_| ())
}

fn status_update(status: DriftStatus, now: &DateTime<Utc>) -> Update {
    let update = Update::new().set("status", status.as_str());
    if status.is_closed() {
        let expires = *now + Duration::days(finding::CLOSED_FINDING_DAYS);
        update.set(TTL_ATTRIBUTE, AttrValue::N(expires.timestamp() as f64))
    } else {
        update.remove(TTL_ATTRIBUTE)
    }
}

/// A resource's drift events, oldest first.
pub fn for_resource_query(tenant: &str, resource_type: &str, resource_id: &str) -> Query {
    resource::history(tenant, resource_type, resource_id).begins_with("DRIFT#")
}

/// Every drift of a resource (any status), oldest first.
pub async fn drift_for_resource(
    table: &dyn Table,
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Vec<StoredDrift>, StoreError> {
    query_all(
        table,
        for_resource_query(tenant, resource_type, resource_id),
    )
    .await?
    .iter()
    .map(stored)
    .collect()
}

/// A stack's drift events by time (pattern 17).
pub fn for_stack_query(tenant: &str, stack: &str) -> Query {
    Query::partition(stack_partition(tenant, stack)).on(Index::Gsi1)
}

/// Every drift of a stack (any status), oldest first.
pub async fn drift_for_stack(
    table: &dyn Table,
    tenant: &str,
    stack: &str,
) -> Result<Vec<StoredDrift>, StoreError> {
    query_all(table, for_stack_query(tenant, stack))
        .await?
        .iter()
        .map(stored)
        .collect()
}

/// The latest `limit` drift of a stack (any status), newest first.
pub async fn recent_drift_for_stack(
    table: &dyn Table,
    tenant: &str,
    stack: &str,
    limit: usize,
) -> Result<Vec<StoredDrift>, StoreError> {
    table
        .query(for_stack_query(tenant, stack).backward().limit(limit))
        .await?
        .items
        .iter()
        .map(stored)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_drift_expires_with_its_finding_and_an_active_one_is_kept() {
        let now = DateTime::parse_from_rfc3339("2026-01-15T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let expires = AttrValue::N((now + Duration::days(90)).timestamp() as f64);
        for status in [DriftStatus::Resolved, DriftStatus::Accepted] {
            let u = status_update(status, &now);
            assert!(u.set.contains(&(TTL_ATTRIBUTE.to_owned(), expires.clone())));
            assert!(u
                .set
                .contains(&("status".to_owned(), status.as_str().into())));
        }
        for status in [DriftStatus::Open, DriftStatus::Snoozed] {
            let u = status_update(status, &now);
            assert!(u.set.iter().all(|(k, _)| k != TTL_ATTRIBUTE));
            assert!(u.remove.contains(&TTL_ATTRIBUTE.to_owned()));
        }
    }

    #[test]
    fn drift_keys_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-01-15T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let k = key("t1", "s3:bucket", "b", &t, "drift-1");
        assert_eq!(k.pk, "TENANT#t1#RESOURCE#s3:bucket#b");
        assert_eq!(k.sk, "DRIFT#2026-01-15T09:00:00Z#drift-1");
        assert_eq!(drift_id_of(&k), Some("drift-1"));
        assert_eq!(
            stack_gsi1("t1", "web", &t, "d"),
            (
                "TENANT#t1#STACK#web#DRIFT".into(),
                "2026-01-15T09:00:00Z#d".into()
            )
        );
        let q = for_stack_query("t1", "web");
        assert_eq!(
            (q.index, q.partition.as_str()),
            (Some(Index::Gsi1), "TENANT#t1#STACK#web#DRIFT")
        );
    }
}
