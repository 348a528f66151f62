//! Cursor pagination: `limit` (1–100) and an opaque `next` token, the base64url of the last
//! evaluated key. A token is only accepted for the partition it was issued for, so a
//! tampered token can never reach another tenant's items.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dd0c_shared::entity;
use dd0c_shared::store::{AttrValue, Index, Item, Query, PK, SK};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 100;

/// Whether a token may name the attribute: the table's key and the indexes' keys only.
fn is_key_attribute(name: &str) -> bool {
    name == PK
        || name == SK
        || Index::ALL
            .iter()
            .any(|i| name == i.partition_attribute() || name == i.sort_attribute())
}

pub fn limit(raw: Option<&String>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "limit",
            format!("limit must be an integer from 1 to {MAX_LIMIT}, not {raw:?}"),
        )),
    }
}

pub fn encode(next: &Option<Item>) -> Option<String> {
    let item = next.as_ref()?;
    let map: serde_json::Map<String, serde_json::Value> = item
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), serde_json::Value::String(v.as_str()?.to_owned()))))
        .collect();
    Some(URL_SAFE_NO_PAD.encode(serde_json::Value::Object(map).to_string()))
}

/// Decodes a token for `query`: its partition attribute (`PK`, or the index's) must name the
/// query's partition.
pub fn decode(raw: Option<&String>, query: &Query) -> Result<Option<Item>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "next",
            "the next token is not valid for this list (pass it back unchanged)",
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let object = value.as_object().ok_or_else(invalid)?;
    let mut item = Item::new();
    for (k, v) in object {
        if !is_key_attribute(k) {
            return Err(invalid());
        }
        item.insert(
            k.clone(),
            AttrValue::S(v.as_str().ok_or_else(invalid)?.to_owned()),
        );
    }
    let partition_attr = entity::partition_attribute(query.index);
    if item.get(partition_attr).and_then(AttrValue::as_str) != Some(query.partition.as_str())
        || !item.contains_key(PK)
        || !item.contains_key(SK)
    {
        return Err(invalid());
    }
    Ok(Some(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_partitions() {
        let mut item = Item::new();
        item.insert("PK".into(), "TENANT#a".into());
        item.insert("SK".into(), "FINDING#1".into());
        item.insert("GSI1PK".into(), "TENANT#a#FINDINGS".into());
        let token = encode(&Some(item.clone())).unwrap();
        let on_gsi1 = |p: &str| Query::partition(p).on(Index::Gsi1);
        assert_eq!(
            decode(Some(&token), &on_gsi1("TENANT#a#FINDINGS")).unwrap(),
            Some(item)
        );
        assert!(decode(Some(&token), &on_gsi1("TENANT#b#FINDINGS")).is_err());
        // The table's partition is not the index's.
        assert!(decode(Some(&token), &Query::partition("TENANT#a#FINDINGS")).is_err());
        assert!(decode(Some(&"!!".to_string()), &Query::partition("x")).is_err());
        let forged = URL_SAFE_NO_PAD.encode(r#"{"PK":"TENANT#a","SK":"x","evil":"1"}"#);
        assert!(decode(Some(&forged), &Query::partition("TENANT#a")).is_err());
        let fine = URL_SAFE_NO_PAD.encode(r#"{"PK":"TENANT#a","SK":"x","GSI2SK":"y"}"#);
        assert!(decode(Some(&fine), &Query::partition("TENANT#a")).is_ok());
    }

    #[test]
    fn limits_are_validated() {
        assert_eq!(limit(None).unwrap(), 25);
        assert_eq!(limit(Some(&"100".into())).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert!(limit(Some(&bad.to_string())).is_err(), "{bad}");
        }
    }
}
