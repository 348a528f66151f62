//! Items and attribute values, and their mapping to and from serde types.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// A DynamoDB attribute value (the kinds the product uses).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    S(String),
    /// Numbers are kept as f64: counters, sums and prices all fit.
    N(f64),
    Bool(bool),
    Null,
    L(Vec<AttrValue>),
    M(BTreeMap<String, AttrValue>),
    /// A string set (`SS`): the target of `ADD` for "seen" sets. Never empty.
    Ss(BTreeSet<String>),
    /// Bytes (`B`): what an entity packs ([`super::packed`]).
    B(Vec<u8>),
}

pub type Item = BTreeMap<String, AttrValue>;

/// DynamoDB's limit on one item: 400 KB, attribute names included.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// An item's size as DynamoDB counts it against [`MAX_ITEM_BYTES`] and for capacity units:
/// the UTF-8 length of every attribute name plus the size of its value.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value.size())
        .sum()
}

impl AttrValue {
    /// DynamoDB's size of a value: strings by their UTF-8 bytes, binary by its bytes; numbers one byte per two
    /// significant digits plus one; booleans and nulls one byte; lists and maps three bytes
    /// plus one per element plus their elements (map keys included); sets their elements.
    pub fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => number_size(*n),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::L(values) => 3 + values.iter().map(|v| 1 + v.size()).sum::<usize>(),
            AttrValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + v.size())
                    .sum::<usize>()
            }
            AttrValue::Ss(set) => set.iter().map(String::len).sum(),
            AttrValue::B(bytes) => bytes.len(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::S(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::N(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_set(&self) -> Option<&BTreeSet<String>> {
        match self {
            AttrValue::Ss(s) => Some(s),
            _ => None,
        }
    }
    pub fn string_set<I, S>(values: I) -> AttrValue
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AttrValue::Ss(values.into_iter().map(Into::into).collect())
    }

    /// Orders two values of the same scalar kind, as DynamoDB's `<` does.
    pub fn partial_cmp_scalar(&self, other: &AttrValue) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.cmp(b)),
            (AttrValue::N(a), AttrValue::N(b)) => a.partial_cmp(b),
            _ => None,
        }
    }

    pub(super) fn from_json(value: Value) -> AttrValue {
        match value {
            Value::Null => AttrValue::Null,
            Value::Bool(b) => AttrValue::Bool(b),
            Value::Number(n) => AttrValue::N(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => AttrValue::S(s),
            Value::Array(a) => AttrValue::L(a.into_iter().map(AttrValue::from_json).collect()),
            Value::Object(o) => AttrValue::M(
                o.into_iter()
                    .map(|(k, v)| (k, AttrValue::from_json(v)))
                    .collect(),
            ),
        }
    }

    pub(super) fn into_json(self) -> Value {
        match self {
            AttrValue::S(s) => Value::String(s),
            AttrValue::N(n) => number_to_json(n),
            AttrValue::Bool(b) => Value::Bool(b),
            AttrValue::Null => Value::Null,
            AttrValue::L(l) => Value::Array(l.into_iter().map(AttrValue::into_json).collect()),
            AttrValue::M(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (k, v.into_json())).collect())
            }
            AttrValue::Ss(s) => Value::Array(s.into_iter().map(Value::String).collect()),
            // As DynamoDB's JSON shows bytes.
            AttrValue::B(bytes) => Value::String(BASE64.encode(bytes)),
        }
    }
}

/// Whole numbers come back as JSON integers so that integer fields deserialize.
fn number_to_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::S(s.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::S(s)
    }
}
impl From<f64> for AttrValue {
    fn from(n: f64) -> Self {
        AttrValue::N(n)
    }
}
impl From<i64> for AttrValue {
    fn from(n: i64) -> Self {
        AttrValue::N(n as f64)
    }
}
impl From<u64> for AttrValue {
    fn from(n: u64) -> Self {
        AttrValue::N(n as f64)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("value is not a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Serde(#[from] serde_json::Error),
    #[error("packed attributes: {0}")]
    Packed(String),
}

/// Significant digits of the number as it is sent to DynamoDB (leading and trailing zeros
/// trimmed), one byte per two, plus one.
fn number_size(n: f64) -> usize {
    // Whole numbers (counts, epoch seconds) without formatting them: their significant
    // digits are their digits less the trailing zeros.
    if n.fract() == 0.0 && n.abs() < 1e15 {
        let mut whole = n.abs() as u64;
        if whole == 0 {
            return 2;
        }
        while whole.is_multiple_of(10) {
            whole /= 10;
        }
        let significant = whole.ilog10() as usize + 1;
        return significant.div_ceil(2) + 1;
    }
    number_size_of_text(n)
}

fn number_size_of_text(n: f64) -> usize {
    let text = n.to_string();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1);
    significant.div_ceil(2) + 1
}

/// Serializes a value into an item. Unit `None`s are dropped rather than stored as NULL
/// so that sparse index attributes stay absent.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, ItemError> {
    match serde_json::to_value(value)? {
        Value::Object(map) => Ok(map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, AttrValue::from_json(v)))
            .collect()),
        _ => Err(ItemError::NotAnObject),
    }
}

/// Deserializes an item; attributes the type does not know are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, ItemError> {
    let map: serde_json::Map<String, Value> =
        item.into_iter().map(|(k, v)| (k, v.into_json())).collect();
    Ok(serde_json::from_value(Value::Object(map))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Sample {
        name: String,
        count: u32,
        price: f64,
        tags: Vec<String>,
        note: Option<String>,
    }

    #[test]
    fn round_trips_and_drops_nulls() {
        let s = Sample {
            name: "a".into(),
            count: 3,
            price: 0.5,
            tags: vec!["x".into()],
            note: None,
        };
        let item = to_item(&s).unwrap();
        assert!(!item.contains_key("note"));
        assert_eq!(item["count"], AttrValue::N(3.0));
        let back: Sample = from_item(item).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn string_sets_read_back_as_lists() {
        let mut item = Item::new();
        item.insert("name".into(), "a".into());
        item.insert("count".into(), AttrValue::N(1.0));
        item.insert("price".into(), AttrValue::N(1.25));
        item.insert("tags".into(), AttrValue::string_set(["b", "a"]));
        item.insert("unknown_field".into(), AttrValue::Bool(true));
        let s: Sample = from_item(item).unwrap();
        assert_eq!(s.tags, vec!["a", "b"]);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        assert_eq!(AttrValue::S("héllo".into()).size(), 6);
        // 1234.5: five significant digits → three bytes, plus one.
        assert_eq!(AttrValue::N(1234.5).size(), 4);
        assert_eq!(AttrValue::N(1000.0).size(), 2);
        assert_eq!(AttrValue::N(0.0).size(), 2);
        assert_eq!(AttrValue::Bool(true).size(), 1);
        assert_eq!(AttrValue::Null.size(), 1);
        assert_eq!(AttrValue::L(vec![]).size(), 3);
        assert_eq!(
            AttrValue::L(vec!["ab".into(), AttrValue::Null]).size(),
            3 + 3 + 2
        );
        let map = AttrValue::M(BTreeMap::from([(
            "k".to_owned(),
            AttrValue::S("vv".into()),
        )]));
        assert_eq!(map.size(), 3 + 1 + 1 + 2);
        assert_eq!(AttrValue::string_set(["a", "bcd"]).size(), 4);
        let item = Item::from([("PK".to_owned(), AttrValue::S("T#1".into()))]);
        assert_eq!(item_size(&item), 5);
    }

    #[test]
    fn whole_numbers_are_sized_as_their_text_is() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1e14,
            999_999_999_999_999.0,
            1e15,
            1e20,
        ];
        for digits in 0..15 {
            let base = 10f64.powi(digits);
            values.extend([
                base,
                base * 7.0,
                base + 1.0,
                -(base * 3.0 + 30.0),
                base * 12.5,
            ]);
        }
        values.extend((0..5000).map(|i| (i * 7919 % 100_003) as f64));
        values.extend([1_775_000_000.0, 1_767_225_600.0, 0.5, 3.84, -2.25]);
        for n in values {
            assert_eq!(number_size(n), number_size_of_text(n), "{n}");
        }
    }
}
