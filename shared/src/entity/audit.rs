//! The append-only audit trail of a tenant (`T#AUDIT` / `<time>#<entry>`): finding actions,
//! account changes, billing. Never overwritten: a random id under the time.

use chrono::{DateTime, Utc};

use crate::finding_actions::AuditEntry;
use crate::store::{Condition, Item, Key, Query, StoreError, Table};

use super::{encode, keyed, tenant, time_key};

pub const ENTITY: &str = "audit";

fn partition(tenant: &str) -> String {
    tenant::sub(tenant, "AUDIT")
}

pub fn key(tenant: &str, time: &DateTime<Utc>, entry_id: &str) -> Key {
    Key::new(partition(tenant), format!("{}#{entry_id}", time_key(time)))
}

/// The entry id of an audit key.
pub fn entry_id_of(key: &Key) -> Option<&str> {
    key.sk.split_once('#').map(|(_, id)| id)
}

pub fn item(entry: &AuditEntry) -> Result<Item, StoreError> {
    Ok(keyed(
        encode(entry)?,
        key(&entry.tenant_id, &entry.at, &entry.entry_id),
        ENTITY,
    ))
}

pub async fn append(table: &dyn Table, entry: &AuditEntry) -> Result<(), StoreError> {
    table
        .put(item(entry)?, Some(Condition::ItemNotExists))
        .await
}

/// A tenant's audit trail, oldest first (pattern 25).
pub fn trail(tenant: &str) -> Query {
    Query::partition(partition(tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_keys_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let k = key("t", &t, "e-1");
        assert_eq!(k, Key::new("TENANT#t#AUDIT", "2026-01-01T00:00:00Z#e-1"));
        assert_eq!(entry_id_of(&k), Some("e-1"));
        assert_eq!(trail("t").partition, k.pk);
    }
}
