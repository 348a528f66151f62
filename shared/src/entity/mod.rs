//! The entities of the single table, one module each. A module alone knows its entity's keys
//! (`PK`/`SK`), index values (`GSI1*`/`GSI2*`), query partitions and sort-key prefixes (as
//! ready [`Query`]s: nobody gets a partition by passing an empty id), how its value becomes an
//! item (with the key, index and `entity` attributes) and back, and which changes of its state
//! are allowed. `docs/data-model.md` names, for every access pattern, the function here that
//! implements it; only these modules and the store adapters spell `PK`, `SK` or `GSI…`.
//!
//! `T` = `TENANT#<tenant>` ([`tenant::pk`]), `A` = `T#ACCOUNT#<account>` ([`account::pk`]).

pub mod account;
pub mod account_link;
pub mod api_key;
pub mod audit;
pub mod backfill;
pub mod baseline;
pub mod breaker;
pub mod digest_sent;
pub mod drift_event;
pub mod drift_report;
pub mod event;
pub mod finding;
pub mod flag;
pub mod governance;
pub mod incident;
pub mod membership;
pub mod notice;
pub mod remediation;
pub mod resource;
pub mod resource_spec;
pub mod slack_installation;
pub mod slack_oauth_state;
pub mod slack_settings;
pub mod stack;
pub mod stack_timeline;
pub mod stripe;
pub mod tenant;
pub mod zombie_scan;

#[cfg(test)]
mod stored_shapes;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de::DeserializeOwned, Serialize};

use crate::store::{
    from_item, to_item, AttrValue, Index, Item, Key, SortKeyCondition, StoreError, Update, PK, SK,
};

/// The attribute naming an item's entity (`finding`, `stack`, …).
pub const ENTITY: &str = "entity";

/// A time as keys spell it: RFC 3339 UTC to the second, which sorts chronologically.
pub fn time_key(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Sort keys `<time>#<id>` from `since` (inclusive) to `until` (exclusive), either open.
pub fn time_range(
    since: Option<&DateTime<Utc>>,
    until: Option<&DateTime<Utc>>,
) -> SortKeyCondition {
    match (since, until) {
        (Some(s), Some(u)) => SortKeyCondition::Between(time_key(s), time_key(u)),
        (Some(s), None) => SortKeyCondition::GreaterOrEqual(time_key(s)),
        (None, Some(u)) => SortKeyCondition::LessThan(time_key(u)),
        (None, None) => SortKeyCondition::Any,
    }
}

/// Sort keys `<prefix><time>#<id>` with `since <= time <= until`, the whole last second
/// included (`~` sorts after every id character).
pub fn time_window(prefix: &str, since: &DateTime<Utc>, until: &DateTime<Utc>) -> SortKeyCondition {
    SortKeyCondition::Between(
        format!("{prefix}{}", time_key(since)),
        format!("{prefix}{}~", time_key(until)),
    )
}

/// An item's primary key, if it has one.
pub fn key_of(item: &Item) -> Option<Key> {
    match (item.get(PK), item.get(SK)) {
        (Some(AttrValue::S(pk)), Some(AttrValue::S(sk))) => Some(Key::new(pk, sk)),
        _ => None,
    }
}

/// The item without its key, index and entity attributes: the value's own attributes.
pub fn strip_keys(item: Item) -> Item {
    item.into_iter()
        .filter(|(k, _)| !is_key_attribute(k))
        .collect()
}

fn is_key_attribute(name: &str) -> bool {
    name == PK
        || name == SK
        || name == ENTITY
        || Index::ALL
            .iter()
            .any(|i| name == i.partition_attribute() || name == i.sort_attribute())
}

/// The key attributes of an item (the table's and `index`'s): a `start_after` of a query on
/// that index, or a page's `next`.
pub fn page_key(item: &Item, index: Option<Index>) -> Item {
    let mut names = vec![PK, SK];
    if let Some(i) = index {
        names.extend([i.partition_attribute(), i.sort_attribute()]);
    }
    names
        .into_iter()
        .filter_map(|k| item.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect()
}

/// The attribute a paginated query's partition is read from (`PK`, `GSI1PK`, `GSI2PK`).
pub fn partition_attribute(index: Option<Index>) -> &'static str {
    index.map_or(PK, Index::partition_attribute)
}

/// A value's attributes, with its key and entity name.
pub(crate) fn keyed(mut item: Item, key: Key, entity: &str) -> Item {
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert(ENTITY.into(), AttrValue::S(entity.into()));
    item
}

/// An item with only a key (no entity name: the few items written so since the start).
pub(crate) fn bare(key: Key) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item
}

/// Adds an index entry (`GSIxPK`, `GSIxSK`) to an item.
pub(crate) fn indexed(mut item: Item, index: Index, (pk, sk): (String, String)) -> Item {
    item.insert(index.partition_attribute().into(), AttrValue::S(pk));
    item.insert(index.sort_attribute().into(), AttrValue::S(sk));
    item
}

/// Moves an item's index entry (`SET GSIxPK, GSIxSK`).
pub(crate) fn reindex(update: Update, index: Index, (pk, sk): (String, String)) -> Update {
    update
        .set(index.partition_attribute(), pk)
        .set(index.sort_attribute(), sk)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    to_item(value).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })
}

pub(crate) fn decode<T: DeserializeOwned>(key: Option<Key>, item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Decode { key, source: e })
}

/// The part of `s` after `prefix`, if `s` starts with it.
pub(crate) fn after<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.strip_prefix(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ranges() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T09:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time_key(&t), "2026-11-22T09:00:00Z");
        assert_eq!(
            time_window("CHANGE#", &t, &t),
            SortKeyCondition::Between(
                "CHANGE#2026-11-22T09:00:00Z".into(),
                "CHANGE#2026-11-22T09:00:00Z~".into()
            )
        );
        assert_eq!(
            time_range(None, Some(&t)),
            SortKeyCondition::LessThan("2026-11-22T09:00:00Z".into())
        );
        assert_eq!(time_range(None, None), SortKeyCondition::Any);
    }

    #[test]
    fn key_attributes_come_and_go() {
        let item = indexed(
            keyed(Item::new(), Key::new("P", "S"), "thing"),
            Index::Gsi2,
            ("G".into(), "H".into()),
        );
        assert_eq!(key_of(&item), Some(Key::new("P", "S")));
        assert_eq!(item["GSI2PK"], AttrValue::S("G".into()));
        assert_eq!(item[ENTITY], AttrValue::S("thing".into()));
        assert!(strip_keys(item.clone()).is_empty());
        assert_eq!(page_key(&item, None).len(), 2);
        assert_eq!(page_key(&item, Some(Index::Gsi2)).len(), 4);
        assert_eq!(partition_attribute(Some(Index::Gsi1)), "GSI1PK");
        assert_eq!(partition_attribute(None), "PK");
    }
}
