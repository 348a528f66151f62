//! Events as received, in the account partition `A`: CloudTrail records (`EVENT#…`, the
//! normalizer's idempotency) and cost events (`COST#…`, indexed by tenant and time for the
//! digest). Keyed on the record's own time and eventID, so a redelivery (same eventID, another
//! envelope) hits the same key.

use chrono::{DateTime, Utc};

use crate::domain::CostEvent;
use crate::store::{AttrValue, Index, Item, Key, Query, StoreError, TTL_ATTRIBUTE};

use super::{account, encode, indexed, tenant, time_key, time_window};

/// The entity name of a cost event item (CloudTrail record items carry none).
pub const COST_ENTITY: &str = "cost_event";

pub fn cloudtrail_key(tenant: &str, account: &str, time: &DateTime<Utc>, event_id: &str) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("EVENT#{}#{event_id}", time_key(time)),
    )
}

/// The event id of a CloudTrail record key.
pub fn event_id_of(key: &Key) -> Option<&str> {
    let rest = key.sk.strip_prefix("EVENT#")?;
    rest.split_once('#').map(|(_, id)| id)
}

/// An account's CloudTrail records with `from <= time <= to` (pattern 5).
pub fn cloudtrail_between(
    tenant: &str,
    account: &str,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Query {
    Query::partition(account::pk(tenant, account)).sort(time_window("EVENT#", from, to))
}

/// Every CloudTrail record of an account, oldest first.
pub fn cloudtrail_all(tenant: &str, account: &str) -> Query {
    account::items_starting(tenant, account, "EVENT#")
}

pub fn cost_key(tenant: &str, account: &str, time: &DateTime<Utc>, event_id: &str) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("COST#{}#{event_id}", time_key(time)),
    )
}

fn tenant_costs_partition(tenant: &str) -> String {
    tenant::sub(tenant, "COSTS")
}

/// GSI1 of a cost event: a tenant's cost events by time, across accounts (the digest).
pub fn cost_gsi1(tenant: &str, time: &DateTime<Utc>, event_id: &str) -> (String, String) {
    (
        tenant_costs_partition(tenant),
        format!("{}#{event_id}", time_key(time)),
    )
}

/// A cost event's item (no `entity` attribute: the format predates it), expiring at `ttl`.
pub fn cost_item(event: &CostEvent, ttl: i64) -> Result<Item, StoreError> {
    let key = cost_key(
        &event.tenant_id,
        &event.account_id,
        &event.event_time,
        &event.event_id,
    );
    let mut item = encode(event)?;
    item.extend(super::bare(key));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    Ok(indexed(
        item,
        Index::Gsi1,
        cost_gsi1(&event.tenant_id, &event.event_time, &event.event_id),
    ))
}

/// A tenant's cost events with `since <= time <= until` (pattern 7).
pub fn tenant_costs_between(tenant: &str, since: &DateTime<Utc>, until: &DateTime<Utc>) -> Query {
    Query::partition(tenant_costs_partition(tenant))
        .on(Index::Gsi1)
        .sort(time_window("", since, until))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let k = cloudtrail_key("t1", "1", &t, "e-1");
        assert_eq!(
            k,
            Key::new("TENANT#t1#ACCOUNT#1", "EVENT#2026-11-22T09:00:00Z#e-1")
        );
        assert_eq!(event_id_of(&k), Some("e-1"));
        assert_eq!(
            cost_key("t1", "1", &t, "e-1").sk,
            "COST#2026-11-22T09:00:00Z#e-1"
        );
        assert_eq!(
            cost_gsi1("t1", &t, "e-1"),
            ("TENANT#t1#COSTS".into(), "2026-11-22T09:00:00Z#e-1".into())
        );
        let q = tenant_costs_between("t1", &t, &t);
        assert_eq!(q.partition, "TENANT#t1#COSTS");
        assert_eq!(q.index, Some(Index::Gsi1));
    }
}
