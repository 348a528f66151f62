//! The single-table store port.
//!
//! One DynamoDB table holds every entity (see `docs/data-model.md`). The port speaks
//! DynamoDB's own vocabulary (items of typed attributes, key conditions, condition
//! expressions, `ADD` updates, transactions) so that the embedded adapter can be held
//! to the same semantics as the real one by one conformance suite.

mod item;
pub mod memory;
pub mod packed;

#[cfg(feature = "aws")]
pub mod dynamodb;

pub use item::{from_item, item_size, to_item, AttrValue, Item, ItemError, MAX_ITEM_BYTES};

use async_trait::async_trait;

/// Attribute names of the table's keys, indexes and TTL. The infrastructure declares the same.
pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// The attributes besides the keys that every index holds (projection `INCLUDE`,
/// `shared/table-indexes.json`): the TTL, so that a query leaves expired entries out. An
/// index entry is a few hundred bytes whatever its item's size, and a write that changes
/// neither its keys nor its TTL does not touch it (docs/decisions/1090-lean-indexes.md).
pub const INDEX_PROJECTED_ATTRIBUTES: [&str; 1] = [TTL_ATTRIBUTE];
/// BatchGetItem reads at most this many keys a call.
pub const BATCH_GET_KEYS: usize = 100;

/// A global secondary index of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::Gsi1, Index::Gsi2];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1",
            Index::Gsi2 => "GSI2",
        }
    }

    pub fn partition_attribute(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1PK",
            Index::Gsi2 => "GSI2PK",
        }
    }

    pub fn sort_attribute(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1SK",
            Index::Gsi2 => "GSI2SK",
        }
    }

    /// Whether an item's attribute is copied into this index: its keys, the table's keys and
    /// [`INDEX_PROJECTED_ATTRIBUTES`]. A query on the index reads the rest from the table.
    pub fn projects(self, attribute: &str) -> bool {
        attribute == PK
            || attribute == SK
            || attribute == self.partition_attribute()
            || attribute == self.sort_attribute()
            || INDEX_PROJECTED_ATTRIBUTES.contains(&attribute)
    }
}

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// A condition on the item a write targets (DynamoDB condition expressions, the subset we use).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `attribute_not_exists(PK)`: the item does not exist (expired items count as absent).
    ItemNotExists,
    /// `attribute_exists(PK)`.
    ItemExists,
    AttributeExists(String),
    AttributeNotExists(String),
    Equals(String, AttrValue),
    NotEquals(String, AttrValue),
    LessThan(String, AttrValue),
    GreaterThan(String, AttrValue),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

/// An update of one item: `SET`, `ADD` (numbers and string sets), `REMOVE`.
/// Updating an item that does not exist creates it (as DynamoDB does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, AttrValue)>,
    /// `SET a = if_not_exists(a, v)`: written only when the attribute is absent.
    pub set_if_absent: Vec<(String, AttrValue)>,
    pub add: Vec<(String, AttrValue)>,
    pub remove: Vec<String>,
    pub condition: Option<Condition>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, name: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.set.push((name.into(), value.into()));
        self
    }
    pub fn set_if_absent(mut self, name: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.set_if_absent.push((name.into(), value.into()));
        self
    }
    /// `ADD name value`: a number is added to the attribute, a string set is unioned into it.
    pub fn add(mut self, name: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.add.push((name.into(), value.into()));
        self
    }
    pub fn remove(mut self, name: impl Into<String>) -> Self {
        self.remove.push(name.into());
        self
    }
    pub fn when(mut self, condition: Condition) -> Self {
        self.condition = Some(condition);
        self
    }
}

/// A condition on the sort key of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKeyCondition {
    Any,
    Equals(String),
    BeginsWith(String),
    /// Inclusive on both ends, as DynamoDB's `BETWEEN`.
    Between(String, String),
    LessThan(String),
    LessOrEqual(String),
    GreaterThan(String),
    GreaterOrEqual(String),
}

/// A query on the table or one of its indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub index: Option<Index>,
    pub partition: String,
    pub sort: SortKeyCondition,
    pub limit: Option<usize>,
    pub forward: bool,
    /// The `next` of a previous page.
    pub start_after: Option<Item>,
}

impl Query {
    pub fn partition(partition: impl Into<String>) -> Self {
        Self {
            index: None,
            partition: partition.into(),
            sort: SortKeyCondition::Any,
            limit: None,
            forward: true,
            start_after: None,
        }
    }
    pub fn on(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }
    pub fn sort(mut self, sort: SortKeyCondition) -> Self {
        self.sort = sort;
        self
    }
    pub fn begins_with(self, prefix: impl Into<String>) -> Self {
        self.sort(SortKeyCondition::BeginsWith(prefix.into()))
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }
    pub fn start_after(mut self, key: Option<Item>) -> Self {
        self.start_after = key;
        self
    }
}

/// One page of a query. `next` is the last evaluated key (the key attributes of the last
/// item, including the index's), to pass back as `start_after`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Item>,
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum TransactWrite {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        update: Update,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    ConditionCheck {
        key: Key,
        condition: Condition,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the condition on {0:?} was not met")]
    ConditionFailed(Key),
    /// One reason per write, in order: `None` where that write was fine.
    #[error("transaction cancelled: {reasons:?}")]
    TransactionCanceled { reasons: Vec<Option<String>> },
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("the item {key:?} could not be read: {source}")]
    Decode {
        key: Option<Key>,
        #[source]
        source: ItemError,
    },
    #[error("store backend failed: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, StoreError::ConditionFailed(_))
    }
    /// Whether trying again later may succeed: throttling and the network, and the races a
    /// caller did not expect (a condition or transaction lost to a concurrent writer; the
    /// next attempt reads the state afresh). An invalid request or an unreadable item fails
    /// the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend(_)
                | StoreError::ConditionFailed(_)
                | StoreError::TransactionCanceled { .. }
        )
    }
}

/// The single-table store.
#[async_trait]
pub trait Table: Send + Sync {
    /// Writes the whole item (which must carry `PK` and `SK`).
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;
    /// Reads an item, strongly consistently; expired items (TTL in the past) read as absent.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Reads an item eventually consistently (DynamoDB bills half the units): it may miss a
    /// write made a moment ago. For items whose reader a moment-old value does not mislead.
    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get(key).await
    }
    /// Applies an update and returns the item as it is afterwards.
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError>;
    /// Applies an update and returns nothing (DynamoDB's `ReturnValues: NONE`): for writers
    /// that do not read the item back, which an adapter may then spare the copy.
    async fn update_only(&self, key: &Key, update: Update) -> Result<(), StoreError> {
        self.update(key, update).await.map(drop)
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError>;
    /// Whether a put of an item with this key is dropped unread, reporting success (a replay's
    /// table keeps only what its stages read back): its writer may spare building the item.
    fn discards(&self, _key: &Key) -> bool {
        false
    }
    /// Expired items are never returned. A query on an index returns whole items: the index
    /// names them, the table gives the rest (eventually consistently), and an entry whose
    /// item was deleted or moved out of the index since is left out.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
    /// All or nothing. At most 100 writes, at most one per item.
    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError>;
}

/// Puts an item only if no item with its key exists; returns whether it was written.
/// This is how every redelivered event is recognised: the first writer wins.
pub async fn put_if_absent(table: &dyn Table, item: Item) -> Result<bool, StoreError> {
    match table.put(item, Some(Condition::ItemNotExists)).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads every page of a query (for bounded partitions only).
pub async fn query_all(table: &dyn Table, query: Query) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut next = None;
    loop {
        let page = table.query(query.clone().start_after(next)).await?;
        items.extend(page.items);
        match page.next {
            Some(key) => next = Some(key),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CDK app builds the table's indexes from the same file.
    #[test]
    fn indexes_are_the_ones_the_infrastructure_declares() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../table-indexes.json")).unwrap();
        let declared: Vec<(&str, &str, &str)> = spec["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let text = |name: &str| i[name].as_str().unwrap();
                (text("name"), text("partition_key"), text("sort_key"))
            })
            .collect();
        let ours: Vec<_> = Index::ALL
            .iter()
            .map(|i| (i.name(), i.partition_attribute(), i.sort_attribute()))
            .collect();
        assert_eq!(declared, ours);
        let projected: Vec<&str> = spec["projected_attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(projected, INDEX_PROJECTED_ATTRIBUTES);
    }

    #[test]
    fn an_index_projects_its_keys_the_tables_keys_and_the_ttl_only() {
        for index in Index::ALL {
            for name in [
                PK,
                SK,
                TTL_ATTRIBUTE,
                index.partition_attribute(),
                index.sort_attribute(),
            ] {
                assert!(index.projects(name), "{index:?} projects {name}");
            }
            assert!(!index.projects("json"));
        }
        assert!(!Index::Gsi1.projects(Index::Gsi2.partition_attribute()));
        assert!(!Index::Gsi2.projects(Index::Gsi1.sort_attribute()));
    }
}
