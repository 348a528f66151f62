//! Pagination tokens (`dd0c_api::pagination`) round-trip: any last evaluated key the store
//! hands back encodes to a URL-safe token that decodes to the same key for its own partition,
//! and is refused for any other.

use dd0c_api::pagination::{decode, encode};
use dd0c_fuzz_targets::query_for;
use dd0c_shared::store::{AttrValue, Item};
use proptest::prelude::*;

/// A last evaluated key: `PK`, `SK` and, on an index, its two attributes; any text.
fn last_key() -> impl Strategy<Value = (Item, &'static str)> {
    let text = || "\\PC{1,40}";
    (
        text(),
        text(),
        prop_oneof![Just(None), Just(Some("GSI1")), Just(Some("GSI2"))],
        text(),
        text(),
    )
        .prop_map(|(pk, sk, index, ipk, isk)| {
            let mut item = Item::new();
            item.insert("PK".into(), AttrValue::S(pk));
            item.insert("SK".into(), AttrValue::S(sk));
            let attr = match index {
                None => "PK",
                Some(index) => {
                    item.insert(format!("{index}PK"), AttrValue::S(ipk));
                    item.insert(format!("{index}SK"), AttrValue::S(isk));
                    if index == "GSI1" {
                        "GSI1PK"
                    } else {
                        "GSI2PK"
                    }
                }
            };
            (item, attr)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_token_round_trips_for_its_partition_only((item, attr) in last_key(), other in "\\PC{0,40}") {
        let partition = item[attr].as_str().expect("a string").to_owned();
        let token = encode(&Some(item.clone())).expect("a key encodes");
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{}", token);
        let back = decode(Some(&token), &query_for(attr, &partition)).map_err(|e| TestCaseError::fail(e.detail))?;
        prop_assert_eq!(back, Some(item));
        dd0c_fuzz_targets::pagination_token(token.as_bytes());
        if other != partition {
            prop_assert!(decode(Some(&token), &query_for(attr, &other)).is_err());
        }
    }
}

#[test]
fn no_token_is_no_key() {
    assert_eq!(encode(&None), None);
    assert!(matches!(
        decode(None, &query_for("PK", "TENANT#t1")),
        Ok(None)
    ));
}
