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

/// Piece `piece` (≥ 1) of a part too large for one item; piece 0 is [`part_key`].
pub fn piece_key(tenant: &str, report_id: &str, part: u32, piece: u32) -> Key {
    Key::new(
        partition(tenant, report_id),
        format!("PART#{part:05}#{piece:04}"),
    )
}

/// The part number of a part or piece key.
pub fn part_of(key: &Key) -> Option<u32> {
    let rest = key.sk.strip_prefix("PART#")?;
    rest.split('#').next()?.parse().ok()
}

/// The stored parts of a report, in order.
pub fn parts_query(tenant: &str, report_id: &str) -> Query {
    Query::partition(partition(tenant, report_id)).begins_with("PART#")
}

/// The most JSON text one item holds: DynamoDB's 400 KB limit less room for the key and the
/// other attributes.
pub const PIECE_BYTES: usize = 350 * 1024;

/// A part's JSON text cut into pieces of at most [`PIECE_BYTES`], on character boundaries.
fn pieces(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = body;
    while rest.len() > PIECE_BYTES {
        let mut cut = PIECE_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

fn piece_item(key: Key, part: u32, of: u32, piece: u32, text: &str, ttl: i64) -> Item {
    let mut item = keyed(Item::new(), key, ENTITY);
    item.insert("part".into(), AttrValue::N(f64::from(part)));
    item.insert("parts".into(), AttrValue::N(f64::from(of)));
    item.insert("piece".into(), AttrValue::N(f64::from(piece)));
    item.insert("json".into(), AttrValue::S(text.to_owned()));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    item
}

/// The items that store one part: its first piece at [`part_key`] with the number of pieces,
/// the rest at [`piece_key`].
pub fn part_items(
    tenant: &str,
    report_id: &str,
    part: u32,
    of: u32,
    body: &str,
    ttl: i64,
) -> Vec<Item> {
    let pieces = pieces(body);
    let count = pieces.len() as u32;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let piece = i as u32;
            let key = if piece == 0 {
                part_key(tenant, report_id, part)
            } else {
                piece_key(tenant, report_id, part, piece)
            };
            let mut item = piece_item(key, part, of, piece, text, ttl);
            if piece == 0 {
                item.insert("pieces".into(), AttrValue::N(f64::from(count)));
            }
            item
        })
        .collect()
}

/// Stores one part of a multi-part drift report until the report is complete. The first
/// piece is written last, so a part is seen (and counted) only once all its pieces are there.
pub async fn put_report_part(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
    part: u32,
    of: u32,
    body: &str,
    ttl: i64,
) -> Result<(), StoreError> {
    for item in part_items(tenant, report_id, part, of, body, ttl)
        .into_iter()
        .rev()
    {
        table.put(item, None).await?;
    }
    Ok(())
}

/// What is stored of a report: its complete parts in order (part number, JSON text) and
/// every item's key, to delete them once the report is through.
#[derive(Debug, Default)]
pub struct StoredParts {
    pub parts: Vec<(u32, String)>,
    pub keys: Vec<Key>,
}

/// The stored parts of a report. A part whose first piece is missing, or with fewer pieces
/// than its first names, is not complete and not counted.
pub async fn report_parts(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
) -> Result<StoredParts, StoreError> {
    let items = query_all(table, parts_query(tenant, report_id)).await?;
    let mut by_part: std::collections::BTreeMap<u32, Vec<(u32, &str)>> = Default::default();
    let mut expected: std::collections::BTreeMap<u32, u32> = Default::default();
    let mut keys = Vec::with_capacity(items.len());
    for item in &items {
        if let Some(key) = super::key_of(item) {
            keys.push(key);
        }
        let number = |name: &str| item.get(name).and_then(AttrValue::as_f64).map(|n| n as u32);
        let (Some(part), Some(text)) =
            (number("part"), item.get("json").and_then(AttrValue::as_str))
        else {
            continue;
        };
        let piece = number("piece").unwrap_or(0);
        if piece == 0 {
            expected.insert(part, number("pieces").unwrap_or(1));
        }
        by_part.entry(part).or_default().push((piece, text));
    }
    let parts = by_part
        .into_iter()
        .filter_map(|(part, mut pieces)| {
            let count = *expected.get(&part)?;
            pieces.sort_by_key(|(piece, _)| *piece);
            pieces.dedup_by_key(|(piece, _)| *piece);
            (pieces.len() as u32 == count)
                .then(|| (part, pieces.into_iter().map(|(_, text)| text).collect()))
        })
        .collect();
    Ok(StoredParts { parts, keys })
}

/// Deletes what [`report_parts`] found of a report.
pub async fn delete_report_parts(table: &dyn Table, keys: &[Key]) -> Result<(), StoreError> {
    for key in keys {
        table.delete(key, None).await?;
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
        assert_eq!(part_of(&piece_key("t", "r1", 7, 2)), Some(7));
        assert_eq!(parts_query("t", "r1").partition, k.pk);
    }

    #[test]
    fn a_large_part_is_cut_into_items_that_fit_on_character_boundaries() {
        // Two-byte characters after one one-byte one: every piece boundary falls mid-character.
        let body = format!("a{}", "é".repeat(PIECE_BYTES));
        let items = part_items("t", "r1", 3, 4, &body, 0);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["pieces"], AttrValue::N(3.0));
        let joined: String = items.iter().map(|i| i["json"].as_str().unwrap()).collect();
        assert_eq!(joined, body);
        for item in &items {
            assert!(crate::store::item_size(item) <= crate::store::MAX_ITEM_BYTES);
        }
        assert_eq!(part_items("t", "r1", 1, 1, "{}", 0).len(), 1);
    }

    #[tokio::test]
    async fn a_part_counts_only_once_every_piece_is_stored() {
        use crate::clock::ManualClock;
        use crate::store::memory::MemoryTable;
        let table = MemoryTable::new(std::sync::Arc::new(ManualClock::new(chrono::Utc::now())));
        let body = "x".repeat(PIECE_BYTES + 10);
        let items = part_items("t", "r1", 1, 2, &body, i64::MAX);
        // Only the second piece arrived: the part is not there yet.
        table.put(items[1].clone(), None).await.unwrap();
        assert!(report_parts(&table, "t", "r1")
            .await
            .unwrap()
            .parts
            .is_empty());
        put_report_part(&table, "t", "r1", 1, 2, &body, i64::MAX)
            .await
            .unwrap();
        let stored = report_parts(&table, "t", "r1").await.unwrap();
        assert_eq!(stored.parts, vec![(1, body)]);
        assert_eq!(stored.keys.len(), 2);
        delete_report_parts(&table, &stored.keys).await.unwrap();
        assert!(report_parts(&table, "t", "r1")
            .await
            .unwrap()
            .keys
            .is_empty());
    }
}
