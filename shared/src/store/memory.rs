//! The embedded table: an in-process store with DynamoDB's key, condition, update, index,
//! transaction and TTL semantics. Used by the CLI and fast tests; the conformance suite holds
//! it to the DynamoDB adapter's behaviour.
//!
//! TTL: an item whose TTL has passed on the table's clock is hidden from reads and deleted
//! later, in a sweep once every so many writes, as DynamoDB's TTL deletes expired items some
//! time after they expire. Items are held in a compact encoding (attribute names interned, the
//! key not repeated), decoded on read: a read hands back a copy either way, and a long replay
//! holds hundreds of thousands of items (docs/decisions/1010-streaming-replay.md).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use super::{
    item_size, AttrValue, Condition, Index, Item, Key, Page, Query, SortKeyCondition, StoreError,
    Table, TransactWrite, Update, MAX_ITEM_BYTES, PK, SK,
};
use crate::clock::SharedClock;

pub struct MemoryTable {
    inner: Mutex<Inner>,
    clock: SharedClock,
}

/// Expired items are deleted once this many writes, or a sixteenth of the table's items if
/// more, have been made since the last sweep: amortised, a sweep costs sixteen item visits
/// (a TTL read each) per write, and expired items hold a few percent of the table at most.
const SWEEP_MIN_WRITES: usize = 4096;

/// Items by partition key, then sort key: a partition's key is held once, however many items
/// it has (an account's events, a resource's changes).
type Partitions = BTreeMap<String, BTreeMap<Box<str>, Stored>>;

/// Items held whole at most. An item updated a second time (a baseline, an activity count)
/// is held whole from then on, and changed in place by later updates instead of decoded and
/// encoded anew each time; past this many, the one held whole longest is encoded again.
const PLAIN_ITEMS: usize = 1024;

#[derive(Default)]
struct Inner {
    partitions: Partitions,
    len: usize,
    names: compact::Names,
    writes_since_sweep: usize,
    /// The keys of the items held whole, oldest first (some may no longer be).
    plain: VecDeque<Key>,
}

impl Inner {
    fn get(&self, key: &Key) -> Option<&Stored> {
        self.partitions.get(key.pk.as_str())?.get(key.sk.as_str())
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut Stored> {
        self.partitions
            .get_mut(key.pk.as_str())?
            .get_mut(key.sk.as_str())
    }

    fn store(&mut self, key: Key, item: &Item) {
        let stored = compact::encode(item, &mut self.names);
        self.insert(key, stored);
    }

    /// Stores what an update made of an item: held whole when an update wrote it before.
    fn store_updated(&mut self, key: Key, item: Item) {
        if self.get(&key).is_some_and(Stored::was_updated) {
            self.insert(key.clone(), Stored::plain(item));
            self.plain.push_back(key);
            if self.plain.len() > PLAIN_ITEMS {
                let oldest = self.plain.pop_front().expect("more than the limit");
                let names = &mut self.names;
                if let Some(stored) = self
                    .partitions
                    .get_mut(oldest.pk.as_str())
                    .and_then(|p| p.get_mut(oldest.sk.as_str()))
                {
                    if let Some(compacted) = stored.compacted(names) {
                        *stored = compacted;
                    }
                }
            }
        } else {
            let mut stored = compact::encode(&item, &mut self.names);
            stored.mark_updated();
            self.insert(key, stored);
        }
    }

    fn insert(&mut self, key: Key, stored: Stored) {
        if !self.partitions.contains_key(key.pk.as_str()) {
            self.partitions.insert(key.pk.clone(), BTreeMap::new());
        }
        let partition = self
            .partitions
            .get_mut(key.pk.as_str())
            .expect("inserted above");
        if partition.insert(key.sk.into_boxed_str(), stored).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, key: &Key) {
        let Some(partition) = self.partitions.get_mut(key.pk.as_str()) else {
            return;
        };
        if partition.remove(key.sk.as_str()).is_some() {
            self.len -= 1;
        }
        if partition.is_empty() {
            self.partitions.remove(key.pk.as_str());
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str, &Stored)> {
        self.partitions
            .iter()
            .flat_map(|(pk, p)| p.iter().map(move |(sk, s)| (pk.as_str(), &**sk, s)))
    }

    fn decode(&self, pk: &str, sk: &str, stored: &Stored) -> Item {
        compact::decode(pk, sk, stored, &self.names)
    }

    /// Deletes every item expired at `now`.
    fn sweep(&mut self, now: f64) {
        let mut removed = 0;
        self.partitions.retain(|_, partition| {
            let before = partition.len();
            partition.retain(|_, stored| !stored.is_expired(now));
            removed += before - partition.len();
            !partition.is_empty()
        });
        self.len -= removed;
        self.writes_since_sweep = 0;
    }

    /// Counts a write, and deletes the expired items when enough writes were made.
    fn wrote(&mut self, now: f64) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_MIN_WRITES.max(self.len / 16) {
            self.sweep(now);
        }
    }
}

use compact::Stored;

impl MemoryTable {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    pub fn shared(clock: SharedClock) -> Arc<Self> {
        Arc::new(Self::new(clock))
    }

    /// Number of stored items, expired ones not deleted yet included (they are hidden on read).
    pub fn len(&self) -> usize {
        self.inner.lock().expect("table lock").len
    }

    /// Deletes every expired item now (as DynamoDB's TTL eventually does).
    pub fn delete_expired(&self) {
        let now = self.now_epoch();
        self.inner.lock().expect("table lock").sweep(now);
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes every item to a JSON file (the `--data DIR` of `dd0c serve`).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let inner = self.inner.lock().expect("table lock");
        let json: Vec<serde_json::Value> = inner
            .iter()
            .map(|(pk, sk, stored)| item_to_typed_json(&inner.decode(pk, sk, stored)))
            .collect();
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
        let mut inner = table.inner.lock().expect("table lock");
        for value in json {
            let item = typed_json_to_item(&value).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "bad item in table file")
            })?;
            let key = key_of(&item)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            inner.store(key, &item);
        }
        drop(inner);
        Ok(table)
    }

    fn now_epoch(&self) -> f64 {
        self.clock.now().timestamp() as f64
    }
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
    // An update names a handful of attributes: a look along them beats hashing each.
    let mut seen: Vec<&str> = Vec::with_capacity(16);
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
        if seen.contains(&name.as_str()) {
            return Err(StoreError::Invalid(format!(
                "attribute {name} appears in more than one clause of the update"
            )));
        }
        seen.push(name);
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

/// What an update in place changed, to undo it when the update fails half way.
enum Undo {
    /// The attribute's value before (`None`: absent).
    Was(String, Option<AttrValue>),
    /// Strings the update added to a set.
    Added(String, Vec<String>),
}

/// [`apply_update`] on an item held whole, changed in place, and its size kept: the same
/// result, or the same error with the item as it was.
fn update_in_place(
    key: &Key,
    item: &mut Item,
    size: &mut usize,
    update: &Update,
) -> Result<(), StoreError> {
    let mut undo = Vec::new();
    let result = apply_in_place(item, update, &mut undo).and_then(|()| {
        let after = size_after(*size, item, &undo);
        debug_assert_eq!(after, item_size(item));
        if after > MAX_ITEM_BYTES {
            return Err(StoreError::Invalid(format!(
                "item {key:?} is {after} bytes; DynamoDB allows at most {MAX_ITEM_BYTES}"
            )));
        }
        *size = after;
        Ok(())
    });
    if result.is_err() {
        for step in undo.into_iter().rev() {
            match step {
                Undo::Was(name, Some(value)) => {
                    item.insert(name, value);
                }
                Undo::Was(name, None) => {
                    item.remove(&name);
                }
                Undo::Added(name, strings) => {
                    if let Some(AttrValue::Ss(set)) = item.get_mut(&name) {
                        for s in &strings {
                            set.remove(s);
                        }
                    }
                }
            }
        }
    }
    result
}

/// An item's size after the changes `undo` records, from its size before.
fn size_after(before: usize, item: &Item, undo: &[Undo]) -> usize {
    let sized = |name: &str, value: Option<&AttrValue>| value.map_or(0, |v| name.len() + v.size());
    undo.iter().fold(before, |size, step| match step {
        Undo::Was(name, was) => size - sized(name, was.as_ref()) + sized(name, item.get(name)),
        Undo::Added(_, strings) => size + strings.iter().map(String::len).sum::<usize>(),
    })
}

fn apply_in_place(
    item: &mut Item,
    update: &Update,
    undo: &mut Vec<Undo>,
) -> Result<(), StoreError> {
    for (name, value) in &update.set {
        let before = item.insert(name.clone(), value.clone());
        undo.push(Undo::Was(name.clone(), before));
    }
    for (name, value) in &update.set_if_absent {
        if !item.contains_key(name) {
            item.insert(name.clone(), value.clone());
            undo.push(Undo::Was(name.clone(), None));
        }
    }
    for (name, value) in &update.add {
        match (item.get_mut(name), value) {
            (None, v) => {
                item.insert(name.clone(), v.clone());
                undo.push(Undo::Was(name.clone(), None));
            }
            (Some(AttrValue::N(a)), AttrValue::N(b)) => {
                undo.push(Undo::Was(name.clone(), Some(AttrValue::N(*a))));
                *a += b;
            }
            (Some(AttrValue::Ss(a)), AttrValue::Ss(b)) => {
                let mut added = Vec::new();
                for s in b {
                    if !a.contains(s) {
                        a.insert(s.clone());
                        added.push(s.clone());
                    }
                }
                undo.push(Undo::Added(name.clone(), added));
            }
            _ => {
                return Err(StoreError::Invalid(format!(
                    "ADD {name}: operand type does not match the stored attribute"
                )))
            }
        }
    }
    for name in &update.remove {
        if let Some(before) = item.remove(name) {
            undo.push(Undo::Was(name.clone(), Some(before)));
        }
    }
    Ok(())
}

/// The sort keys a condition can match, as a range of the partition's ordered keys (what
/// it matches within them is still checked by [`sort_matches`]).
fn sort_range(sort: &SortKeyCondition) -> (Bound<&str>, Bound<&str>) {
    match sort {
        SortKeyCondition::Any => (Bound::Unbounded, Bound::Unbounded),
        SortKeyCondition::Equals(v) => (Bound::Included(v), Bound::Included(v)),
        // Keys that begin with a prefix sort from the prefix on, one after another.
        SortKeyCondition::BeginsWith(p) => (Bound::Included(p), Bound::Unbounded),
        SortKeyCondition::Between(a, b) if a <= b => (Bound::Included(a), Bound::Included(b)),
        SortKeyCondition::Between(..) => (Bound::Unbounded, Bound::Unbounded),
        SortKeyCondition::LessThan(v) => (Bound::Unbounded, Bound::Excluded(v)),
        SortKeyCondition::LessOrEqual(v) => (Bound::Unbounded, Bound::Included(v)),
        SortKeyCondition::GreaterThan(v) => (Bound::Excluded(v), Bound::Unbounded),
        SortKeyCondition::GreaterOrEqual(v) => (Bound::Included(v), Bound::Unbounded),
    }
}

impl MemoryTable {
    /// An update; the item afterwards when `read_back`.
    fn apply(
        &self,
        key: &Key,
        update: Update,
        read_back: bool,
    ) -> Result<Option<Item>, StoreError> {
        validate_update(&update)?;
        let now = self.now_epoch();
        let mut inner = self.inner.lock().expect("table lock");
        if let Some(stored) = inner.get_mut(key).filter(|s| !s.is_expired(now)) {
            if let Some((item, size)) = stored.plain_mut() {
                if let Some(c) = &update.condition {
                    if !condition_holds(c, Some(item)) {
                        return Err(StoreError::ConditionFailed(key.clone()));
                    }
                }
                update_in_place(key, item, size, &update)?;
                let result = read_back.then(|| item.clone());
                stored.refresh_ttl();
                inner.wrote(now);
                return Ok(result);
            }
        }
        let current = self.live(&inner, key);
        if let Some(c) = &update.condition {
            if !condition_holds(c, current.as_ref()) {
                return Err(StoreError::ConditionFailed(key.clone()));
            }
        }
        let item = apply_update(key, current, &update)?;
        check_size(key, &item)?;
        let result = read_back.then(|| item.clone());
        inner.store_updated(key.clone(), item);
        inner.wrote(now);
        Ok(result)
    }

    fn live(&self, inner: &Inner, key: &Key) -> Option<Item> {
        let now = self.now_epoch();
        inner
            .get(key)
            .filter(|s| !s.is_expired(now))
            .map(|s| inner.decode(&key.pk, &key.sk, s))
    }
}

#[async_trait]
impl Table for MemoryTable {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = key_of(&item)?;
        check_size(&key, &item)?;
        let mut inner = self.inner.lock().expect("table lock");
        if let Some(c) = &condition {
            if !condition_holds(c, self.live(&inner, &key).as_ref()) {
                return Err(StoreError::ConditionFailed(key));
            }
        }
        inner.store(key, &item);
        inner.wrote(self.now_epoch());
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let inner = self.inner.lock().expect("table lock");
        Ok(self.live(&inner, key))
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.apply(key, update, true)
            .map(|item| item.expect("an update asked for its item returns it"))
    }

    async fn update_only(&self, key: &Key, update: Update) -> Result<(), StoreError> {
        self.apply(key, update, false).map(drop)
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("table lock");
        if let Some(c) = &condition {
            if !condition_holds(c, self.live(&inner, key).as_ref()) {
                return Err(StoreError::ConditionFailed(key.clone()));
            }
        }
        inner.remove(key);
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
        let inner = self.inner.lock().expect("table lock");
        // (sort key, primary key) orders index entries that share a sort key, as DynamoDB does.
        // Base-table queries read only their partition (keys are ordered by PK, then SK);
        // index queries scan, as the embedded table keeps no index structures.
        let mut matched: Vec<(String, Key, &Stored)> = match query.index {
            None => inner
                .partitions
                .get(query.partition.as_str())
                .into_iter()
                .flat_map(|partition| partition.range::<str, _>(sort_range(&query.sort)))
                .filter(|(sk, _)| sort_matches(&query.sort, sk))
                .map(|(sk, s)| {
                    let key = Key::new(query.partition.clone(), sk.to_string());
                    (key.sk.clone(), key, s)
                })
                .collect(),
            Some(_) => inner
                .iter()
                .filter_map(|(pk, sk, stored)| {
                    let index_pk = stored.str_attribute(pk_attr, &inner.names)?;
                    if index_pk != query.partition {
                        return None;
                    }
                    let index_sk = stored.str_attribute(sk_attr, &inner.names)?;
                    sort_matches(&query.sort, index_sk)
                        .then(|| (index_sk.to_owned(), Key::new(pk, sk), stored))
                })
                .collect(),
        };
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
        let evaluated = &matched[..matched.len().min(limit)];
        // DynamoDB returns a last evaluated key whenever the limit stopped the read.
        let next = (matched.len() >= limit && limit != usize::MAX)
            .then(|| {
                evaluated.last().map(|(_, key, s)| {
                    key_attributes(&inner.decode(&key.pk, &key.sk, s), query.index)
                })
            })
            .flatten();
        let items = evaluated
            .iter()
            .filter(|(_, _, s)| !s.is_expired(now))
            .map(|(_, key, s)| inner.decode(&key.pk, &key.sk, s))
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
        let mut inner = self.inner.lock().expect("table lock");
        let mut reasons = Vec::with_capacity(writes.len());
        for w in &writes {
            let (key, condition) = match w {
                TransactWrite::Put { item, condition } => (key_of(item)?, condition.as_ref()),
                TransactWrite::Update { key, update } => (key.clone(), update.condition.as_ref()),
                TransactWrite::Delete { key, condition } => (key.clone(), condition.as_ref()),
                TransactWrite::ConditionCheck { key, condition } => (key.clone(), Some(condition)),
            };
            let ok = condition.is_none_or(|c| condition_holds(c, self.live(&inner, &key).as_ref()));
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
                    let current = self.live(&inner, &key);
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
                Some(item) => inner.store(key, &item),
                None => inner.remove(&key),
            };
        }
        inner.wrote(self.now_epoch());
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
        AttrValue::B(bytes) => json!({ "B": BASE64.encode(bytes) }),
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
        "B" => AttrValue::B(BASE64.decode(inner.as_str()?).ok()?),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::{SortKeyCondition, TTL_ATTRIBUTE};
    use chrono::{Duration, TimeZone, Utc};

    fn item(sk: usize, ttl: i64) -> Item {
        [
            (PK, AttrValue::S("P".into())),
            (SK, AttrValue::S(format!("S#{sk:08}"))),
            ("body", AttrValue::S("x".repeat(100))),
            (TTL_ATTRIBUTE, AttrValue::N(ttl as f64)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    #[tokio::test]
    async fn expired_items_are_deleted_so_the_table_holds_what_lives() {
        let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let table = MemoryTable::new(Arc::new(clock.clone()));
        // An item a minute for 70 days, each living a day: 100,800 writes, 1,441 alive (the
        // one written a day ago expires at this second, and an item expires once past it).
        let writes = 70 * 24 * 60;
        for i in 0..writes {
            clock.advance(Duration::minutes(1));
            let ttl = clock.now().timestamp() + 24 * 3600;
            table.put(item(i, ttl), None).await.unwrap();
        }
        assert!(
            table.len() <= 1441 + SWEEP_MIN_WRITES,
            "{} items held after {writes} writes",
            table.len()
        );
        // Expired, not yet deleted: hidden from reads all the same.
        let query = Query::partition("P");
        let live = table.query(query.clone()).await.unwrap().items;
        assert_eq!(live.len(), 1441);
        table.delete_expired();
        assert_eq!(table.len(), 1441);
        assert_eq!(table.query(query).await.unwrap().items, live);
        assert_eq!(
            table
                .get(&Key::new("P", format!("S#{:08}", writes - 1)))
                .await
                .unwrap(),
            Some(item(writes - 1, clock.now().timestamp() + 24 * 3600))
        );
    }

    /// The updates a baseline goes through, and some that fail: each is applied to the table
    /// and to a model item by [`apply_update`], the compact path's rule.
    fn updates(n: usize) -> Vec<Update> {
        let actor = format!("actor-{}", n % 3);
        vec![
            Update::new()
                .add("count", 1.0)
                .add("actors", AttrValue::string_set([actor.as_str()]))
                .set_if_absent("first_seen", format!("t{n}"))
                .set(TTL_ATTRIBUTE, 1_800_000_000.0 + n as f64),
            Update::new().set("max", n as f64).when(Condition::Or(vec![
                Condition::AttributeNotExists("max".into()),
                Condition::LessThan("max".into(), AttrValue::N(n as f64)),
            ])),
            Update::new()
                .set("gone", "no")
                .remove("x")
                .remove("gone_before"),
            Update::new().remove("gone").set("gone_before", n as f64),
            Update::new()
                .set("flag", n.is_multiple_of(2))
                .remove("flag_old"),
            // Fails: ADD of a number to a set.
            Update::new()
                .set("before_failure", "must not stay")
                .add("actors", 1.0),
            // Fails: the item would be too large.
            Update::new()
                .add(
                    "actors",
                    AttrValue::string_set(["x".repeat(MAX_ITEM_BYTES)]),
                )
                .set("big", "must not stay"),
        ]
    }

    #[tokio::test]
    async fn an_item_updated_in_place_is_what_the_updates_make_of_it() {
        let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let table = MemoryTable::new(Arc::new(clock));
        let key = Key::new("P", "S");
        let mut model: Option<Item> = None;
        for n in 0..40 {
            for update in updates(n) {
                let holds = update
                    .condition
                    .as_ref()
                    .is_none_or(|c| condition_holds(c, model.as_ref()));
                let expected = if let Err(e) = validate_update(&update) {
                    Err(e)
                } else if holds {
                    apply_update(&key, model.clone(), &update)
                        .and_then(|item| check_size(&key, &item).map(|()| item))
                } else {
                    Err(StoreError::ConditionFailed(key.clone()))
                };
                let got = if n % 2 == 0 {
                    table.update(&key, update).await
                } else {
                    table.update_only(&key, update).await.map(|()| Item::new())
                };
                match (&expected, &got) {
                    (Ok(item), Ok(returned)) => {
                        if n % 2 == 0 {
                            assert_eq!(returned, item);
                        }
                        model = Some(item.clone());
                    }
                    (Err(e), Err(g)) => assert_eq!(e.to_string(), g.to_string()),
                    _ => panic!("{expected:?} but {got:?}"),
                }
                assert_eq!(table.get(&key).await.unwrap(), model);
            }
        }
        assert!(table.inner.lock().unwrap().get(&key).unwrap().was_updated());
        let mut held = table.inner.lock().unwrap();
        assert!(held.get_mut(&key).unwrap().plain_mut().is_some());
    }

    #[tokio::test]
    async fn items_held_whole_past_the_limit_are_encoded_again_and_read_the_same() {
        let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let table = MemoryTable::new(Arc::new(clock));
        let keys: Vec<Key> = (0..PLAIN_ITEMS + 10)
            .map(|i| Key::new("P", format!("S#{i:05}")))
            .collect();
        for round in 0..3 {
            for key in &keys {
                let update = Update::new()
                    .add("count", 1.0)
                    .add("seen", AttrValue::string_set([format!("r{round}")]));
                table.update_only(key, update).await.unwrap();
            }
        }
        let plain = {
            let mut inner = table.inner.lock().unwrap();
            keys.iter()
                .filter(|k| inner.get_mut(k).unwrap().plain_mut().is_some())
                .count()
        };
        assert_eq!(plain, PLAIN_ITEMS);
        let all = table.query(Query::partition("P")).await.unwrap().items;
        assert_eq!(all.len(), keys.len());
        for item in all {
            assert_eq!(item.get("count"), Some(&AttrValue::N(3.0)));
            assert_eq!(
                item.get("seen"),
                Some(&AttrValue::string_set(["r0", "r1", "r2"]))
            );
        }
    }

    #[tokio::test]
    async fn a_query_reads_the_sort_keys_its_condition_matches_in_order() {
        let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let table = MemoryTable::new(Arc::new(clock));
        let sks = ["A", "A#1", "A#2", "AB", "B", "B#", "B#1", "C", "a"];
        for sk in sks {
            let item = Item::from([
                (PK.to_owned(), AttrValue::S("P".into())),
                (SK.to_owned(), AttrValue::S(sk.into())),
            ]);
            table.put(item, None).await.unwrap();
        }
        let s = |v: &str| v.to_owned();
        let conditions = [
            SortKeyCondition::Any,
            SortKeyCondition::Equals(s("B#")),
            SortKeyCondition::Equals(s("B#0")),
            SortKeyCondition::BeginsWith(s("A")),
            SortKeyCondition::BeginsWith(s("A#")),
            SortKeyCondition::BeginsWith(s("Z")),
            SortKeyCondition::BeginsWith(s("")),
            SortKeyCondition::Between(s("A#2"), s("B#")),
            SortKeyCondition::Between(s("B"), s("A")),
            SortKeyCondition::LessThan(s("B")),
            SortKeyCondition::LessOrEqual(s("B")),
            SortKeyCondition::GreaterThan(s("B")),
            SortKeyCondition::GreaterOrEqual(s("B")),
        ];
        for sort in conditions {
            let expected: Vec<&str> = sks
                .iter()
                .copied()
                .filter(|sk| sort_matches(&sort, sk))
                .collect();
            for forward in [true, false] {
                let mut query = Query::partition("P").sort(sort.clone());
                if !forward {
                    query = query.backward();
                }
                let got = table.query(query).await.unwrap().items;
                let mut got: Vec<&str> = got
                    .iter()
                    .map(|i| i.get(SK).and_then(AttrValue::as_str).unwrap())
                    .map(|sk| *sks.iter().find(|s| **s == sk).unwrap())
                    .collect();
                if !forward {
                    got.reverse();
                }
                assert_eq!(got, expected, "{sort:?}");
            }
        }
    }

    #[tokio::test]
    async fn an_item_without_a_ttl_stays() {
        let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let table = MemoryTable::new(Arc::new(clock.clone()));
        let mut keep = item(0, 0);
        keep.remove(TTL_ATTRIBUTE);
        table.put(keep.clone(), None).await.unwrap();
        for i in 1..=2 * SWEEP_MIN_WRITES {
            table.put(item(i, 1), None).await.unwrap();
        }
        table.delete_expired();
        assert_eq!(table.len(), 1);
        assert_eq!(
            table.get(&Key::new("P", "S#00000000")).await.unwrap(),
            Some(keep)
        );
    }
}

/// The compact encoding of the embedded table's items.
mod compact {
    use std::collections::{BTreeMap, HashMap};

    use super::super::{item_size, AttrValue, Item, PK, SK, TTL_ATTRIBUTE};

    /// Attribute names, each held once: an encoded item names its attributes by number.
    #[derive(Default)]
    pub struct Names {
        ids: HashMap<Box<str>, u16>,
        names: Vec<Box<str>>,
    }

    /// A name written in full (past the interned ones).
    const INLINE_NAME: u16 = u16::MAX;

    impl Names {
        fn id(&mut self, name: &str) -> u16 {
            if let Some(&id) = self.ids.get(name) {
                return id;
            }
            if self.names.len() >= INLINE_NAME as usize {
                return INLINE_NAME;
            }
            let id = self.names.len() as u16;
            self.names.push(name.into());
            self.ids.insert(name.into(), id);
            id
        }
    }

    /// One item: its TTL (to expire it without decoding) and its attributes.
    pub struct Stored {
        ttl: Option<f64>,
        form: Form,
    }

    enum Form {
        /// Every attribute but the key's, encoded. `updated`: written by an update.
        Compact { bytes: Box<[u8]>, updated: bool },
        /// The whole item, key included, as an update changes it in place, and its size.
        Plain(Box<Item>, usize),
    }

    fn ttl_of(item: &Item) -> Option<f64> {
        match item.get(TTL_ATTRIBUTE) {
            Some(AttrValue::N(ttl)) => Some(*ttl),
            _ => None,
        }
    }

    impl Stored {
        pub fn is_expired(&self, now: f64) -> bool {
            self.ttl.is_some_and(|ttl| ttl < now)
        }

        /// The whole item and its size, when it is held as one (see [`Stored::plain`]).
        pub fn plain_mut(&mut self) -> Option<(&mut Item, &mut usize)> {
            match &mut self.form {
                Form::Plain(item, size) => Some((item, size)),
                Form::Compact { .. } => None,
            }
        }

        /// Whether an update wrote the item as it is held now.
        pub fn was_updated(&self) -> bool {
            match &self.form {
                Form::Plain(..) => true,
                Form::Compact { updated, .. } => *updated,
            }
        }

        /// Marks a compact item as written by an update.
        pub fn mark_updated(&mut self) {
            if let Form::Compact { updated, .. } = &mut self.form {
                *updated = true;
            }
        }

        /// Takes the TTL from the item again (after a change in place).
        pub fn refresh_ttl(&mut self) {
            if let Form::Plain(item, _) = &self.form {
                self.ttl = ttl_of(item);
            }
        }

        /// `item`, held whole: an update changes it in place.
        pub fn plain(item: Item) -> Self {
            let size = item_size(&item);
            Stored {
                ttl: ttl_of(&item),
                form: Form::Plain(Box::new(item), size),
            }
        }

        /// The same item, encoded (an item held whole that is no longer updated often).
        pub fn compacted(&self, names: &mut Names) -> Option<Self> {
            match &self.form {
                Form::Plain(item, _) => {
                    let mut stored = encode(item, names);
                    stored.mark_updated();
                    Some(stored)
                }
                Form::Compact { .. } => None,
            }
        }

        /// A top-level string attribute, read in place (index queries).
        pub fn str_attribute<'a>(&'a self, name: &str, names: &Names) -> Option<&'a str> {
            let bytes = match &self.form {
                Form::Plain(item, _) => return item.get(name).and_then(AttrValue::as_str),
                Form::Compact { bytes, .. } => bytes,
            };
            let mut r = Reader { bytes, pos: 0 };
            for _ in 0..r.varint() {
                let here = r.name(names) == name;
                if here && r.bytes[r.pos] == S {
                    r.pos += 1;
                    return Some(r.str());
                }
                r.skip_value();
                if here {
                    return None;
                }
            }
            None
        }
    }

    const S: u8 = 0;
    const N: u8 = 1;
    const FALSE: u8 = 2;
    const TRUE: u8 = 3;
    const NULL: u8 = 4;
    const L: u8 = 5;
    const M: u8 = 6;
    const SS: u8 = 7;
    const B: u8 = 8;

    fn varint(out: &mut Vec<u8>, mut v: usize) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        varint(out, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn name(out: &mut Vec<u8>, names: &mut Names, n: &str) {
        let id = names.id(n);
        out.extend_from_slice(&id.to_le_bytes());
        if id == INLINE_NAME {
            string(out, n);
        }
    }

    fn value(out: &mut Vec<u8>, names: &mut Names, v: &AttrValue) {
        match v {
            AttrValue::S(s) => {
                out.push(S);
                string(out, s);
            }
            AttrValue::N(n) => {
                out.push(N);
                out.extend_from_slice(&n.to_le_bytes());
            }
            AttrValue::Bool(false) => out.push(FALSE),
            AttrValue::Bool(true) => out.push(TRUE),
            AttrValue::Null => out.push(NULL),
            AttrValue::L(l) => {
                out.push(L);
                varint(out, l.len());
                for v in l {
                    value(out, names, v);
                }
            }
            AttrValue::M(m) => {
                out.push(M);
                varint(out, m.len());
                for (k, v) in m {
                    name(out, names, k);
                    value(out, names, v);
                }
            }
            AttrValue::Ss(set) => {
                out.push(SS);
                varint(out, set.len());
                for s in set {
                    string(out, s);
                }
            }
            AttrValue::B(bytes) => {
                out.push(B);
                varint(out, bytes.len());
                out.extend_from_slice(bytes);
            }
        }
    }

    /// Encodes every attribute of `item` but `PK` and `SK` (the key holds them).
    pub fn encode(item: &Item, names: &mut Names) -> Stored {
        let mut out = Vec::with_capacity(128);
        let attributes = item.iter().filter(|(n, _)| *n != PK && *n != SK);
        varint(&mut out, attributes.clone().count());
        for (n, v) in attributes {
            name(&mut out, names, n);
            value(&mut out, names, v);
        }
        Stored {
            ttl: ttl_of(item),
            form: Form::Compact {
                bytes: out.into_boxed_slice(),
                updated: false,
            },
        }
    }

    struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        fn byte(&mut self) -> u8 {
            let b = self.bytes[self.pos];
            self.pos += 1;
            b
        }

        fn varint(&mut self) -> usize {
            let mut v = 0usize;
            let mut shift = 0;
            loop {
                let b = self.byte();
                v |= ((b & 0x7f) as usize) << shift;
                if b < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }

        fn str(&mut self) -> &'a str {
            let len = self.varint();
            let s = &self.bytes[self.pos..self.pos + len];
            self.pos += len;
            std::str::from_utf8(s).expect("encoded from a string")
        }

        fn name<'n>(&mut self, names: &'n Names) -> &'n str
        where
            'a: 'n,
        {
            let id = u16::from_le_bytes([self.byte(), self.byte()]);
            if id == INLINE_NAME {
                self.str()
            } else {
                &names.names[id as usize]
            }
        }

        fn value(&mut self, names: &Names) -> AttrValue {
            match self.byte() {
                S => AttrValue::S(self.str().to_owned()),
                N => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.bytes[self.pos..self.pos + 8]);
                    self.pos += 8;
                    AttrValue::N(f64::from_le_bytes(b))
                }
                FALSE => AttrValue::Bool(false),
                TRUE => AttrValue::Bool(true),
                NULL => AttrValue::Null,
                L => {
                    let n = self.varint();
                    AttrValue::L((0..n).map(|_| self.value(names)).collect())
                }
                M => AttrValue::M(self.attributes(names)),
                SS => {
                    let n = self.varint();
                    AttrValue::Ss((0..n).map(|_| self.str().to_owned()).collect())
                }
                B => {
                    let len = self.varint();
                    let bytes = self.bytes[self.pos..self.pos + len].to_vec();
                    self.pos += len;
                    AttrValue::B(bytes)
                }
                tag => unreachable!("unknown tag {tag} in an encoded item"),
            }
        }

        fn attributes(&mut self, names: &Names) -> BTreeMap<String, AttrValue> {
            let n = self.varint();
            (0..n)
                .map(|_| {
                    let k = self.name(names).to_owned();
                    (k, self.value(names))
                })
                .collect()
        }

        fn skip_value(&mut self) {
            match self.byte() {
                S => {
                    self.str();
                }
                N => self.pos += 8,
                FALSE | TRUE | NULL => {}
                L => {
                    for _ in 0..self.varint() {
                        self.skip_value();
                    }
                }
                M => {
                    for _ in 0..self.varint() {
                        let id = u16::from_le_bytes([self.byte(), self.byte()]);
                        if id == INLINE_NAME {
                            self.str();
                        }
                        self.skip_value();
                    }
                }
                SS => {
                    for _ in 0..self.varint() {
                        self.str();
                    }
                }
                B => {
                    let len = self.varint();
                    self.pos += len;
                }
                tag => unreachable!("unknown tag {tag} in an encoded item"),
            }
        }
    }

    /// The item `encode` was given.
    pub fn decode(pk: &str, sk: &str, stored: &Stored, names: &Names) -> Item {
        let bytes = match &stored.form {
            Form::Plain(item, _) => return (**item).clone(),
            Form::Compact { bytes, .. } => bytes,
        };
        let mut item = Reader { bytes, pos: 0 }.attributes(names);
        item.insert(PK.into(), AttrValue::S(pk.to_owned()));
        item.insert(SK.into(), AttrValue::S(sk.to_owned()));
        item
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::collections::BTreeSet;

        #[test]
        fn every_value_comes_back_as_it_was_encoded() {
            let mut inner = Item::new();
            inner.insert("n".into(), AttrValue::N(-1.5));
            inner.insert("deep".into(), AttrValue::L(vec![AttrValue::Null]));
            let item: Item = [
                ("PK", AttrValue::S("P#1".into())),
                ("SK", AttrValue::S("S#2".into())),
                ("s", AttrValue::S("héllo".into())),
                ("empty", AttrValue::S(String::new())),
                ("n", AttrValue::N(1234.5)),
                ("t", AttrValue::Bool(true)),
                ("f", AttrValue::Bool(false)),
                ("null", AttrValue::Null),
                ("b", AttrValue::B(vec![0, 255, 7])),
                (
                    "l",
                    AttrValue::L(vec![AttrValue::S("x".repeat(300)), AttrValue::N(2.0)]),
                ),
                ("m", AttrValue::M(inner)),
                (
                    "ss",
                    AttrValue::Ss(BTreeSet::from(["a".to_owned(), "b".to_owned()])),
                ),
                (TTL_ATTRIBUTE, AttrValue::N(100.0)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            let mut names = Names::default();
            let stored = encode(&item, &mut names);
            assert_eq!(decode("P#1", "S#2", &stored, &names), item);
            assert_eq!(stored.str_attribute("s", &names), Some("héllo"));
            assert_eq!(stored.str_attribute("n", &names), None);
            assert_eq!(stored.str_attribute("absent", &names), None);
            assert!(stored.is_expired(100.5) && !stored.is_expired(100.0));
            // Past the interned names, names are written in full.
            for i in 0..INLINE_NAME as usize {
                names.id(&format!("name{i}"));
            }
            let mut many = item.clone();
            many.insert("a name never seen".into(), AttrValue::S("v".into()));
            let stored = encode(&many, &mut names);
            assert_eq!(decode("P#1", "S#2", &stored, &names), many);
            assert_eq!(stored.str_attribute("a name never seen", &names), Some("v"));
        }
    }
}
