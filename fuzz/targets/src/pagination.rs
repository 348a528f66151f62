//! The API's `next` token (`dd0c_api::pagination::decode`, base64url of the last evaluated
//! key) and `limit`. A token comes in a query string: any text. What must hold: a token is
//! accepted only for the partition it names, with `PK` and `SK` and nothing but key
//! attributes; an accepted token re-encodes to one that decodes to the same key; a refusal is
//! a 400 naming `next`; an accepted limit is 1..=100.

use dd0c_api::pagination::{decode, encode, limit, MAX_LIMIT};
use dd0c_shared::store::{AttrValue, Index, Item, Query};

const KEY_ATTRIBUTES: [&str; 6] = ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"];

/// The partitions the API lists from (tenant `t1`).
const PARTITIONS: [(&str, &str); 3] = [
    ("PK", "TENANT#t1"),
    ("GSI1PK", "TENANT#t1#FINDINGS"),
    ("GSI2PK", "TENANT#t1#FINDINGS#open"),
];

pub fn pagination_token(data: &[u8]) {
    let raw = String::from_utf8_lossy(data).into_owned();
    for (attr, partition) in PARTITIONS {
        match decode(Some(&raw), &query_for(attr, partition)) {
            Ok(Some(item)) => {
                assert_eq!(
                    item.get(attr).and_then(AttrValue::as_str),
                    Some(partition),
                    "a token of another partition was accepted"
                );
                assert!(item.contains_key("PK") && item.contains_key("SK"));
                assert!(item
                    .iter()
                    .all(|(k, v)| KEY_ATTRIBUTES.contains(&k.as_str()) && v.as_str().is_some()));
                round_trips(&item, attr, partition);
            }
            Ok(None) => panic!("a token decoded to nothing"),
            Err(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.field.as_deref(), Some("next"));
            }
        }
    }
    match limit(Some(&raw)) {
        Ok(n) => assert!((1..=MAX_LIMIT).contains(&n)),
        Err(e) => assert_eq!((e.status, e.field.as_deref()), (400, Some("limit"))),
    }
}

/// The list query whose partition attribute `attr` is `partition`.
pub fn query_for(attr: &str, partition: &str) -> Query {
    let query = Query::partition(partition);
    match attr {
        "GSI1PK" => query.on(Index::Gsi1),
        "GSI2PK" => query.on(Index::Gsi2),
        _ => query,
    }
}

/// Encoding a key the API handed out and decoding it gives the key back.
pub fn round_trips(item: &Item, attr: &str, partition: &str) {
    let token = encode(&Some(item.clone())).expect("a key encodes");
    let back = decode(Some(&token), &query_for(attr, partition))
        .unwrap_or_else(|e| panic!("a token the API made is refused: {}", e.detail));
    assert_eq!(back.as_ref(), Some(item), "the key changed in a round trip");
}
