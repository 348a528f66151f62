//! The embedded table: an in-process store with DynamoDB's key, condition, update, index,
//! transaction and TTL-on-read semantics. Used by the CLI and fast tests; the conformance
//! suite holds it to the DynamoDB adapter's behaviour.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    item_size, AttrValue, Condition, Index, Item, Key, Page, Query, SortKeyCondition, StoreError,
    Table, TransactWrite, Update, MAX_ITEM_BYTES, PK, SK, TTL_ATTRIBUTE,
};
use crate::clock::SharedClock;

pub struct MemoryTable {
    items: Mutex<BTreeMap<Key, Item>>,
    clock: SharedClock,
}

impl MemoryTable {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            items: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    pub fn shared(clock: SharedClock) -> Arc<Self> {
        Arc::new(Self::new(clock))
    }

    /// Number of stored items, expired ones included (they are only hidden on read).
    pub fn len(&self) -> usize {
        self.items.lock().expect("table lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every item to a JSON file (the `--data DIR` of `dd0c serve`).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let items = self.items.lock().expect("table lock");
        let json: Vec<serde_json::Value> = items.values().map(item_to_typed_json).collect();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&json)?)?;
        std::fs::rename(tmp, path)
    }

    /// Loads items saved by [`MemoryTable::save`]; a missing file is an empty table.
    pub fn load(path: &Path, clock: SharedClock) -> std::io::Result<Self> {
        let table = Self::new(clock);
        if !path.exists() {
            return Ok(table);
        }
        let json: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(path)?)?;
        let mut items = table.items.lock().expect("table lock");
        for value in json {
            let item = typed_json_to_item(&value).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad item in table file")
            })?;
            let key = key_of(&item)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            items.insert(key, item);
        }
        drop(items);
        Ok(table)
    }

    fn now_epoch(&self) -> f64 {
        self.clock.now().timestamp() as f64
    }
}

fn is_expired(item: &Item, now: f64) -> bool {
    matches!(item.get(TTL_ATTRIBUTE), Some(AttrValue::N(ttl)) if *ttl < now)
}

fn key_of(item: &Item) -> Result<Key, StoreError> {
    let pk = item.get(PK).and_then(AttrValue::as_str);
    let sk = item.get(SK).and_then(AttrValue::as_str);
    match (pk, sk) {
        (Some(pk), Some(sk)) if !pk.is_empty() && !sk.is_empty() => Ok(Key::new(pk, sk)),
        _ => Err(StoreError::Invalid(
            "item needs non-empty string attributes PK and SK".into(),
        )),
    }
}

/// Refuses an item DynamoDB would refuse for its size, naming the key and the size.
fn check_size(key: &Key, item: &Item) -> Result<(), StoreError> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::Invalid(format!(
            "item {key:?} is {size} bytes; DynamoDB allows at most {MAX_ITEM_BYTES}"
        )));
    }
    Ok(())
}

/// Evaluates a condition against the current item (`None`: absent or expired).
pub(crate) fn condition_holds(condition: &Condition, item: Option<&Item>) -> bool {
    let attr = |name: &str| item.and_then(|i| i.get(name));
    match condition {
        Condition::ItemNotExists => item.is_none(),
        Condition::ItemExists => item.is_some(),
        Condition::AttributeExists(a) => attr(a).is_some(),
        Condition::AttributeNotExists(a) => attr(a).is_none(),
        Condition::Equals(a, v) => attr(a) == Some(v),
        // DynamoDB: `a <> v` is true when `a` is absent.
        Condition::NotEquals(a, v) => attr(a) != Some(v),
        Condition::LessThan(a, v) => attr(a)
            .and_then(|x| x.partial_cmp_scalar(v))
            .is_some_and(|o| o.is_lt()),
        Condition::GreaterThan(a, v) => attr(a)
            .and_then(|x| x.partial_cmp_scalar(v))
            .is_some_and(|o| o.is_gt()),
        Condition::And(cs) => cs.iter().all(|c| condition_holds(c, item)),
        Condition::Or(cs) => cs.iter().any(|c| condition_holds(c, item)),
    }
}

pub(crate) fn validate_update(update: &Update) -> Result<(), StoreError> {
    let mut seen = HashSet::new();
    let names = update
        .set
        .iter()
        .map(|(n, _)| n)
        .chain(update.set_if_absent.iter().map(|(n, _)| n))
        .chain(update.add.iter().map(|(n, _)| n))
        .chain(update.remove.iter());
    for name in names {
        if name == PK || name == SK {
            return Err(StoreError::Invalid(format!(
                "key attribute {name} cannot be updated"
            )));
        }
        if !seen.insert(name.as_str()) {
            return Err(StoreError::Invalid(format!(
                "attribute {name} appears in more than one clause of the update"
            )));
        }
    }
    for (name, value) in &update.add {
        match value {
            AttrValue::N(_) => {}
            AttrValue::Ss(s) if !s.is_empty() => {}
            _ => {
                return Err(StoreError::Invalid(format!(
                    "ADD {name} needs a number or a non-empty string set"
                )))
            }
        }
    }
    Ok(())
}

fn apply_update(key: &Key, current: Option<Item>, update: &Update) -> Result<Item, StoreError> {
    let mut item = current.unwrap_or_else(|| {
        let mut i = Item::new();
        i.insert(PK.into(), AttrValue::S(key.pk.clone()));
        i.insert(SK.into(), AttrValue::S(key.sk.clone()));
        i
    });
    for (name, value) in &update.set {
        item.insert(name.clone(), value.clone());
    }
    for (name, value) in &update.set_if_absent {
        item.entry(name.clone()).or_insert_with(|| value.clone());
    }
    for (name, value) in &update.add {
        let merged = match (item.get(name), value) {
            (None, v) => v.clone(),
            (Some(AttrValue::N(a)), AttrValue::N(b)) => AttrValue::N(a + b),
            (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => {
                AttrValue::Ss(a.union(b).cloned().collect::<BTreeSet<_>>())
            }
            _ => {
                return Err(StoreError::Invalid(format!(
                    "ADD {name}: operand type does not match the stored attribute"
                )))
            }
        };
        item.insert(name.clone(), merged);
    }
    for name in &update.remove {
        item.remove(name);
    }
    Ok(item)
}

fn sort_matches(sort: &SortKeyCondition, value: &str) -> bool {
    match sort {
        SortKeyCondition::Any => true,
        SortKeyCondition::Equals(v) => value == v,
        SortKeyCondition::BeginsWith(p) => value.starts_with(p.as_str()),
        SortKeyCondition::Between(a, b) => value >= a.as_str() && value <= b.as_str(),
        SortKeyCondition::LessThan(v) => value < v.as_str(),
        SortKeyCondition::LessOrEqual(v) => value <= v.as_str(),
        SortKeyCondition::GreaterThan(v) => value > v.as_str(),
        SortKeyCondition::GreaterOrEqual(v) => value >= v.as_str(),
    }
}

impl MemoryTable {
    fn live(&self, items: &BTreeMap<Key, Item>, key: &Key) -> Option<Item> {
        let now = self.now_epoch();
        items.get(key).filter(|i| !is_expired(i, now)).cloned()
    }
}

#[async_trait]
impl Table for MemoryTable {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = key_of(&item)?;
        check_size(&key, &item)?;
        let mut items = self.items.lock().expect("table lock");
        if let Some(c) = &condition {
            if !condition_holds(c, self.live(&items, &key).as_ref()) {
                return Err(StoreError::ConditionFailed(key));
            }
        }
        items.insert(key, item);
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let items = self.items.lock().expect("table lock");
        Ok(self.live(&items, key))
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        validate_update(&update)?;
        let mut items = self.items.lock().expect("table lock");
        let current = self.live(&items, key);
        if let Some(c) = &update.condition {
            if !condition_holds(c, current.as_ref()) {
                return Err(StoreError::ConditionFailed(key.clone()));
            }
        }
        let item = apply_update(key, current, &update)?;
        check_size(key, &item)?;
        items.insert(key.clone(), item.clone());
        Ok(item)
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut items = self.items.lock().expect("table lock");
        if let Some(c) = &condition {
            if !condition_holds(c, self.live(&items, key).as_ref()) {
                return Err(StoreError::ConditionFailed(key.clone()));
            }
        }
        items.remove(key);
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.limit == Some(0) {
            return Err(StoreError::Invalid("limit must be at least 1".into()));
        }
        let (pk_attr, sk_attr) = match query.index {
            None => (PK, SK),
            Some(index) => (index.partition_attribute(), index.sort_attribute()),
        };
        let items = self.items.lock().expect("table lock");
        // (sort key, primary key) orders index entries that share a sort key, as DynamoDB does.
        // Base-table queries read only their partition (keys are ordered by PK, then SK);
        // index queries scan, as the embedded table keeps no index structures.
        let candidates: Box<dyn Iterator<Item = (&Key, &Item)>> = match query.index {
            None => Box::new(
                items
                    .range(Key::new(query.partition.clone(), "")..)
                    .take_while(|(k, _)| k.pk == query.partition),
            ),
            Some(_) => Box::new(items.iter()),
        };
        let mut matched: Vec<(String, Key, &Item)> = candidates
            .filter_map(|(key, item)| {
                let pk = item.get(pk_attr)?.as_str()?;
                let sk = item.get(sk_attr)?.as_str()?;
                (pk == query.partition && sort_matches(&query.sort, sk))
                    .then(|| (sk.to_owned(), key.clone(), item))
            })
            .collect();
        matched.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        if !query.forward {
            matched.reverse();
        }
        if let Some(start) = &query.start_after {
            let start_sk = start.get(sk_attr).and_then(AttrValue::as_str);
            let start_key = key_of(start)?;
            let start_sk = start_sk
                .ok_or_else(|| StoreError::Invalid("start key lacks the sort attribute".into()))?
                .to_owned();
            let position = (start_sk, start_key);
            matched.retain(|(sk, key, _)| {
                let here = (sk, key);
                let there = (&position.0, &position.1);
                if query.forward {
                    here > there
                } else {
                    here < there
                }
            });
        }
        let limit = query.limit.unwrap_or(usize::MAX);
        let now = self.now_epoch();
        let evaluated: Vec<&Item> = matched.iter().take(limit).map(|(_, _, i)| *i).collect();
        // DynamoDB returns a last evaluated key whenever the limit stopped the read.
        let next = (matched.len() >= limit && limit != usize::MAX)
            .then(|| evaluated.last().map(|i| key_attributes(i, query.index)))
            .flatten();
        let items = evaluated
            .into_iter()
            .filter(|i| !is_expired(i, now))
            .cloned()
            .collect();
        Ok(Page { items, next })
    }

    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 100 {
            return Err(StoreError::Invalid(
                "a transaction holds between 1 and 100 writes".into(),
            ));
        }
        let mut keys = HashSet::new();
        for w in &writes {
            let key = match w {
                TransactWrite::Put { item, .. } => key_of(item)?,
                TransactWrite::Update { key, update } => {
                    validate_update(update)?;
                    key.clone()
                }
                TransactWrite::Delete { key, .. } | TransactWrite::ConditionCheck { key, .. } => {
                    key.clone()
                }
            };
            if !keys.insert(key.clone()) {
                return Err(StoreError::Invalid(format!(
                    "transaction touches {key:?} more than once"
                )));
            }
        }
        let mut items = self.items.lock().expect("table lock");
        let mut reasons = Vec::with_capacity(writes.len());
        for w in &writes {
            let (key, condition) = match w {
                TransactWrite::Put { item, condition } => (key_of(item)?, condition.as_ref()),
                TransactWrite::Update { key, update } => (key.clone(), update.condition.as_ref()),
                TransactWrite::Delete { key, condition } => (key.clone(), condition.as_ref()),
                TransactWrite::ConditionCheck { key, condition } => (key.clone(), Some(condition)),
            };
            let ok = condition.is_none_or(|c| condition_holds(c, self.live(&items, &key).as_ref()));
            reasons.push((!ok).then(|| "ConditionalCheckFailed".to_owned()));
        }
        if reasons.iter().any(Option::is_some) {
            return Err(StoreError::TransactionCanceled { reasons });
        }
        // Every resulting item is built and checked before any is written: all or nothing.
        let mut results: Vec<(Key, Option<Item>)> = Vec::with_capacity(writes.len());
        for w in writes {
            match w {
                TransactWrite::Put { item, .. } => {
                    let key = key_of(&item)?;
                    check_size(&key, &item)?;
                    results.push((key, Some(item)));
                }
                TransactWrite::Update { key, update } => {
                    let current = self.live(&items, &key);
                    let item = apply_update(&key, current, &update)?;
                    check_size(&key, &item)?;
                    results.push((key, Some(item)));
                }
                TransactWrite::Delete { key, .. } => results.push((key, None)),
                TransactWrite::ConditionCheck { .. } => {}
            }
        }
        for (key, item) in results {
            match item {
                Some(item) => items.insert(key, item),
                None => items.remove(&key),
            };
        }
        Ok(())
    }
}

fn key_attributes(item: &Item, index: Option<Index>) -> Item {
    let mut names = vec![PK, SK];
    if let Some(i) = index {
        names.push(i.partition_attribute());
        names.push(i.sort_attribute());
    }
    names
        .into_iter()
        .filter_map(|n| item.get(n).map(|v| (n.to_owned(), v.clone())))
        .collect()
}

/// DynamoDB's typed JSON (`{"S": "..."}`), used for the on-disk table file and cursors.
pub fn item_to_typed_json(item: &Item) -> serde_json::Value {
    serde_json::Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), value_to_typed_json(v)))
            .collect(),
    )
}

fn value_to_typed_json(v: &AttrValue) -> serde_json::Value {
    use serde_json::json;
    match v {
        AttrValue::S(s) => json!({ "S": s }),
        AttrValue::N(n) => json!({ "N": n.to_string() }),
        AttrValue::Bool(b) => json!({ "BOOL": b }),
        AttrValue::Null => json!({ "NULL": true }),
        AttrValue::L(l) => json!({ "L": l.iter().map(value_to_typed_json).collect::<Vec<_>>() }),
        AttrValue::M(m) => json!({ "M": item_to_typed_json(m) }),
        AttrValue::Ss(s) => json!({ "SS": s }),
    }
}

pub fn typed_json_to_item(value: &serde_json::Value) -> Option<Item> {
    value
        .as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), typed_json_to_value(v)?)))
        .collect()
}

fn typed_json_to_value(v: &serde_json::Value) -> Option<AttrValue> {
    let (tag, inner) = v.as_object()?.iter().next()?;
    Some(match tag.as_str() {
        "S" => AttrValue::S(inner.as_str()?.to_owned()),
        "N" => AttrValue::N(inner.as_str()?.parse().ok()?),
        "BOOL" => AttrValue::Bool(inner.as_bool()?),
        "NULL" => AttrValue::Null,
        "L" => AttrValue::L(
            inner
                .as_array()?
                .iter()
                .map(typed_json_to_value)
                .collect::<Option<_>>()?,
        ),
        "M" => AttrValue::M(typed_json_to_item(inner)?),
        "SS" => AttrValue::Ss(
            inner
                .as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}
