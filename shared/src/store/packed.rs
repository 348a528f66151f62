//! Attributes packed into one binary attribute: their JSON, deflated. For the large parts of an
//! item that are only ever read whole, with the item, and never named by a query, a condition
//! or an update: DynamoDB bills a write by the item's size in 1 KB units and its storage by the
//! byte, and JSON prose and ARNs deflate to under half (decision 1250).

use std::io::{Read, Write};

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::item::{AttrValue, Item, ItemError};

/// Moves `names` (those present) out of `item` into the binary attribute `into`. Nothing
/// present, nothing packed.
pub fn pack(item: &mut Item, names: &[&str], into: &str) -> Result<(), ItemError> {
    let fields: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .filter_map(|name| item.remove_entry(*name))
        .map(|(name, value)| (name, value.into_json()))
        .collect();
    if fields.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_vec(&fields)?;
    let mut encoder =
        DeflateEncoder::new(Vec::with_capacity(json.len() / 2), Compression::default());
    encoder
        .write_all(&json)
        .and_then(|()| encoder.finish())
        .map(|bytes| {
            item.insert(into.to_owned(), AttrValue::B(bytes));
        })
        .map_err(|e| ItemError::Packed(e.to_string()))
}

/// Puts the attributes packed in `from` back into `item` (an item without `from` is left as
/// it is: it was written before packing, or had nothing to pack).
pub fn unpack(item: &mut Item, from: &str) -> Result<(), ItemError> {
    let Some(packed) = item.remove(from) else {
        return Ok(());
    };
    let AttrValue::B(bytes) = packed else {
        return Err(ItemError::Packed(format!("{from} is not binary")));
    };
    let mut json = Vec::with_capacity(bytes.len() * 3);
    DeflateDecoder::new(bytes.as_slice())
        .read_to_end(&mut json)
        .map_err(|e| ItemError::Packed(format!("{from} does not inflate: {e}")))?;
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&json)?;
    for (name, value) in fields {
        item.insert(name, AttrValue::from_json(value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{item_size, to_item};

    fn sample() -> Item {
        let reason = "$3.84/hr is above the $0.50/hr threshold for a new account";
        to_item(&serde_json::json!({
            "id": "f-1",
            "reasons": [reason, reason, reason],
            "details": {"decision": {"score": 30.5, "floor": 30, "signals": [{"name": "new_sku"}]},
                        "sku": null, "count": 5},
            "actor": {"arn": "arn:aws:sts::100004111107:assumed-role/batch-runner/nightly"},
        }))
        .unwrap()
    }

    #[test]
    fn packed_attributes_come_back_as_they_were() {
        let mut item = sample();
        pack(
            &mut item,
            &["details", "reasons", "actor", "absent"],
            "packed",
        )
        .unwrap();
        assert_eq!(
            item.keys().collect::<Vec<_>>(),
            ["id", "packed"],
            "the packed attributes leave the item"
        );
        assert!(matches!(item["packed"], AttrValue::B(_)));
        unpack(&mut item, "packed").unwrap();
        assert_eq!(item, sample());
    }

    #[test]
    fn packing_makes_repetitive_prose_smaller() {
        let mut item = sample();
        let before = item_size(&item);
        pack(&mut item, &["details", "reasons", "actor"], "packed").unwrap();
        assert!(
            item_size(&item) * 3 < before * 2,
            "{} bytes packed, {before} plain",
            item_size(&item)
        );
    }

    #[test]
    fn an_item_without_the_attribute_is_left_alone_and_nothing_packs_to_nothing() {
        let mut item = sample();
        unpack(&mut item, "packed").unwrap();
        assert_eq!(item, sample());
        pack(&mut item, &["absent"], "packed").unwrap();
        assert_eq!(item, sample());
    }

    #[test]
    fn corrupt_bytes_are_an_error_naming_the_attribute() {
        let mut item = sample();
        item.insert("packed".into(), AttrValue::B(vec![0xff, 0x00, 0x13]));
        let e = unpack(&mut item, "packed").unwrap_err().to_string();
        assert!(e.contains("packed"), "{e}");
        item.insert("packed".into(), AttrValue::S("text".into()));
        let e = unpack(&mut item, "packed").unwrap_err().to_string();
        assert!(e.contains("packed is not binary"), "{e}");
    }
}
