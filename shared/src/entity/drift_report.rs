//! One part of a multi-part drift report (`T#DRIFTREPORT#<report>` / `PART#<nnnnn>`), kept
//! (with a TTL) until all parts arrived.

use crate::store::{query_all, AttrValue, Item, Key, Query, StoreError, Table, TTL_ATTRIBUTE};

use super::{keyed, tenant};

pub const ENTITY: &str = "drift_report_part";

fn partition(tenant: &str, report_id: &str) -> String {
    tenant::sub(tenant, &format!("DRIFTREPORT#{report_id}"))
}

pub fn part_key(tenant: &str, report_id: &str, part: u32) -> Key {
    Key::new(partition(tenant, report_id), format!("PART#{part:05}"))
}

/// The part number of a part key.
pub fn part_of(key: &Key) -> Option<u32> {
    key.sk.strip_prefix("PART#")?.parse().ok()
}

/// The stored parts of a report, in order.
pub fn parts_query(tenant: &str, report_id: &str) -> Query {
    Query::partition(partition(tenant, report_id)).begins_with("PART#")
}

pub fn part_item(tenant: &str, report_id: &str, part: u32, of: u32, body: &str, ttl: i64) -> Item {
    let mut item = keyed(Item::new(), part_key(tenant, report_id, part), ENTITY);
    item.insert("part".into(), AttrValue::N(f64::from(part)));
    item.insert("parts".into(), AttrValue::N(f64::from(of)));
    item.insert("json".into(), AttrValue::S(body.to_owned()));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    item
}

/// Stores one part of a multi-part drift report until the report is complete.
pub async fn put_report_part(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
    part: u32,
    of: u32,
    body: &str,
    ttl: i64,
) -> Result<(), StoreError> {
    let item = part_item(tenant, report_id, part, of, body, ttl);
    table.put(item, None).await
}

/// The stored parts of a report, in order: (part number, JSON text).
pub async fn report_parts(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
) -> Result<Vec<(u32, String)>, StoreError> {
    let items = query_all(table, parts_query(tenant, report_id)).await?;
    Ok(items
        .iter()
        .filter_map(|i| {
            let part = i.get("part").and_then(AttrValue::as_f64)? as u32;
            let text = i.get("json").and_then(AttrValue::as_str)?.to_owned();
            Some((part, text))
        })
        .collect())
}

pub async fn delete_report_parts(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
    parts: u32,
) -> Result<(), StoreError> {
    for part in 1..=parts {
        table
            .delete(&part_key(tenant, report_id, part), None)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_keys_round_trip() {
        let k = part_key("t", "r1", 7);
        assert_eq!(k, Key::new("TENANT#t#DRIFTREPORT#r1", "PART#00007"));
        assert_eq!(part_of(&k), Some(7));
        assert_eq!(parts_query("t", "r1").partition, k.pk);
    }
}
