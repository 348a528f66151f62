//! What a replay keeps in its table: only what the pipeline reads back while it runs.
//!
//! On AWS the normalizer stores its processed marks (with what each record's cost events
//! started) and its change events for days to months, for the API, the dashboard and the
//! digest. `dd0c replay` runs none of them: it ends with its findings and summary and drops
//! the table. Those items held most of a long replay's memory
//! (docs/decisions/1010-streaming-replay.md), so a replay's stages write through
//! [`ReplayRetention`], which keeps every item a stage reads and drops the rest.
//! `dd0c demo` serves its table afterwards and keeps everything.

use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::store::{
    Condition, Item, Key, Page, Query, StoreError, Table, TransactWrite, Update, SK, TTL_ATTRIBUTE,
};

/// Sort-key prefixes of items no stage of the pipeline reads: a resource's change events (read
/// by the API and by drift-report correlation; a replay has no drift reports).
const UNREAD_PREFIXES: [&str; 1] = ["CHANGE#"];

/// A CloudTrail record's item: the normalizer reads back only whether it was published (its
/// idempotency); the record's name, source and outcome, and its spend, are for the API and the
/// digest.
const RECORD_PREFIX: &str = "EVENT#";
const RECORD_READ: [&str; 2] = ["published", TTL_ATTRIBUTE];

/// `update` without what no stage reads back (of a CloudTrail record's item).
fn read_back_only(key: &Key, mut update: Update) -> Update {
    if key.sk.starts_with(RECORD_PREFIX) {
        update
            .set
            .retain(|(name, _)| RECORD_READ.contains(&name.as_str()));
    }
    update
}

fn unread(sk: &str) -> bool {
    UNREAD_PREFIXES.iter().any(|p| sk.starts_with(p))
}

/// The table as a replay's stages see it.
pub struct ReplayRetention {
    inner: Arc<dyn Table>,
}

impl ReplayRetention {
    pub fn new(inner: Arc<dyn Table>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl Table for ReplayRetention {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        // Dropped as if written: a conditional put of an unread item (put-if-absent of a change
        // event) reports success, which only means a first delivery to its writer.
        if item.get(SK).and_then(|sk| sk.as_str()).is_some_and(unread) {
            return Ok(());
        }
        self.inner.put(item, condition).await
    }

    fn discards(&self, key: &Key) -> bool {
        unread(&key.sk)
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get_eventually(key).await
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.inner.update(key, read_back_only(key, update)).await
    }

    async fn update_only(&self, key: &Key, update: Update) -> Result<(), StoreError> {
        self.inner
            .update_only(key, read_back_only(key, update))
            .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.inner.transact_write(writes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use dd0c_shared::clock::{ManualClock, SharedClock};
    use dd0c_shared::store::memory::MemoryTable;
    use dd0c_shared::store::{AttrValue, PK};

    fn tables() -> (Arc<MemoryTable>, ReplayRetention) {
        let clock: SharedClock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
        ));
        let memory = Arc::new(MemoryTable::new(clock));
        let retention = ReplayRetention::new(memory.clone());
        (memory, retention)
    }

    fn item(sk: &str) -> Item {
        Item::from([
            (PK.to_owned(), AttrValue::S("TENANT#local#ACCOUNT#1".into())),
            (SK.to_owned(), AttrValue::S(sk.into())),
            ("detail".to_owned(), AttrValue::S("x".repeat(500))),
        ])
    }

    #[tokio::test]
    async fn change_events_are_not_kept_other_items_are() {
        let (memory, table) = tables();
        table
            .put(
                item("CHANGE#2026-01-05T00:00:00Z#e1"),
                Some(Condition::ItemNotExists),
            )
            .await
            .unwrap();
        assert_eq!(memory.len(), 0);
        assert!(table.discards(&Key::new("P", "CHANGE#2026-01-05T00:00:00Z#e1")));
        assert!(!table.discards(&Key::new("P", "MANAGED")));
        table.put(item("MANAGED"), None).await.unwrap();
        table.put(item("DRIFT#d1"), None).await.unwrap();
        assert_eq!(memory.len(), 2);
    }

    #[tokio::test]
    async fn a_record_keeps_only_what_the_normalizer_reads_back() {
        let (memory, table) = tables();
        let key = Key::new("TENANT#local#ACCOUNT#1", "EVENT#2026-01-05T00:00:00Z#e1");
        let update = Update::new()
            .set("published", true)
            .set("event_name", "RunInstances")
            .set("event_source", "ec2.amazonaws.com")
            .set("outcome", "cost_event")
            .set(TTL_ATTRIBUTE, 1_775_000_000_i64);
        table.update(&key, update).await.unwrap();
        let stored = memory.get(&key).await.unwrap().unwrap();
        let mut names: Vec<&str> = stored.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, [PK, SK, "published", TTL_ATTRIBUTE]);
        assert_eq!(stored.get("published"), Some(&AttrValue::Bool(true)));
    }
}
