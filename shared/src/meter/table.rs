//! A table that bills every call as DynamoDB on demand would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    entity_of_key, index_entry_size, index_write_units, moves_expiry, read_units,
    storage_byte_months, storage_byte_months_left, table_write_units, Consistency, EntityUsage,
    Meter,
};
use crate::clock::SharedClock;
use crate::store::{
    item_size, AttrValue, Condition, Item, Key, Page, Query, SortKeyCondition, StoreError, Table,
    TransactWrite, Update, BATCH_GET_KEYS, PK, SK,
};

pub struct MeteredTable {
    inner: Arc<dyn Table>,
    meter: Meter,
    clock: SharedClock,
    /// When each item the meter billed the creation of was created (epoch seconds): its storage
    /// horizon starts there.
    created: Mutex<HashMap<Key, i64>>,
}

impl MeteredTable {
    pub fn new(inner: Arc<dyn Table>, meter: Meter, clock: SharedClock) -> Self {
        Self {
            inner,
            meter,
            clock,
            created: Mutex::new(HashMap::new()),
        }
    }

    fn creations(&self) -> std::sync::MutexGuard<'_, HashMap<Key, i64>> {
        self.created.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The item before a write, read past the meter (DynamoDB knows it; nobody pays to read it).
    async fn before(&self, key: &Key) -> Option<Item> {
        self.inner.get(key).await.ok().flatten()
    }

    /// Bills one write that took the item from `old` to `new` (`applied`: the condition held;
    /// a failed condition still costs the write, but touches no index). `factor` is 2 in a
    /// transaction.
    fn bill_write(
        &self,
        key: Option<&Key>,
        old: Option<&Item>,
        new: Option<&Item>,
        applied: bool,
        factor: f64,
    ) {
        let base = table_write_units(old, new) * factor;
        let index = if applied {
            index_write_units(old, new)
        } else {
            0.0
        };
        let created = match (old, new, applied) {
            (None, Some(created), true) => Some(created),
            _ => None,
        };
        let now = self.clock.now().timestamp();
        let stored = match (key, old, created) {
            (Some(key), _, Some(item)) => {
                if self.meter.is_paused() {
                    self.creations().remove(key);
                } else {
                    self.creations().insert(key.clone(), now);
                }
                storage_byte_months(item, now)
            }
            // Re-billed only for an item whose creation was billed here.
            (Some(key), Some(old), None) if applied && moves_expiry(old, new) => {
                let at = match new {
                    Some(_) => self.creations().get(key).copied(),
                    None => self.creations().remove(key),
                };
                match at {
                    Some(at) => {
                        let left = |i: &Item| storage_byte_months_left(i, now, at);
                        new.map(left).unwrap_or(0.0) - left(old)
                    }
                    None => 0.0,
                }
            }
            _ => 0.0,
        };
        let entity = key.map(|k| entity_of_key(&k.pk, &k.sk)).unwrap_or("");
        self.meter.table(|t| {
            t.add(
                entity,
                EntityUsage {
                    write_units: base + index,
                    index_write_units: index,
                    storage_byte_months: stored,
                    items_created: u64::from(created.is_some()),
                    ..EntityUsage::default()
                },
            )
        });
        self.meter.function_call(|f| f.table_calls += 1);
    }
}

impl MeteredTable {
    fn bill_read(
        &self,
        key: &Key,
        result: &Result<Option<Item>, StoreError>,
        consistency: Consistency,
    ) {
        if let Ok(found) = result {
            let bytes = found.as_ref().map(item_size).unwrap_or(0);
            let units = read_units(bytes, consistency);
            self.meter
                .table(|t| t.add(entity_of_key(&key.pk, &key.sk), reads(units)));
            self.meter.function_call(|f| f.table_calls += 1);
        }
    }
}

fn key_of(item: &Item) -> Option<Key> {
    Some(Key::new(item.get(PK)?.as_str()?, item.get(SK)?.as_str()?))
}

fn reads(read_units: f64) -> EntityUsage {
    EntityUsage {
        read_units,
        ..EntityUsage::default()
    }
}

/// The entity a query looks for when it finds nothing: its sort key condition's prefix.
fn entity_sought(query: &Query) -> &str {
    let sought = match &query.sort {
        SortKeyCondition::Equals(sk)
        | SortKeyCondition::BeginsWith(sk)
        | SortKeyCondition::Between(sk, _)
        | SortKeyCondition::LessThan(sk)
        | SortKeyCondition::LessOrEqual(sk)
        | SortKeyCondition::GreaterThan(sk)
        | SortKeyCondition::GreaterOrEqual(sk) => sk.as_str(),
        SortKeyCondition::Any => "",
    };
    entity_of_key(&query.partition, sought)
}

#[async_trait]
impl Table for MeteredTable {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = key_of(&item);
        let old = match &key {
            Some(key) => self.before(key).await,
            None => None,
        };
        let result = self.inner.put(item.clone(), condition).await;
        if matches!(&result, Ok(()) | Err(StoreError::ConditionFailed(_))) {
            self.bill_write(key.as_ref(), old.as_ref(), Some(&item), result.is_ok(), 1.0);
        }
        result
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let result = self.inner.get(key).await;
        self.bill_read(key, &result, Consistency::Strong);
        result
    }

    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let result = self.inner.get_eventually(key).await;
        self.bill_read(key, &result, Consistency::Eventual);
        result
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        let old = self.before(key).await;
        let result = self.inner.update(key, update).await;
        match &result {
            Ok(new) => self.bill_write(Some(key), old.as_ref(), Some(new), true, 1.0),
            Err(StoreError::ConditionFailed(_)) => {
                self.bill_write(Some(key), old.as_ref(), old.as_ref(), false, 1.0)
            }
            Err(_) => {}
        }
        result
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let old = self.before(key).await;
        let result = self.inner.delete(key, condition).await;
        if matches!(&result, Ok(()) | Err(StoreError::ConditionFailed(_))) {
            self.bill_write(Some(key), old.as_ref(), None, result.is_ok(), 1.0);
        }
        result
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let sought = entity_sought(&query).to_owned();
        let index = query.index;
        let result = self.inner.query(query).await;
        if let Ok(page) = &result {
            // Queries read eventually consistently; units are on the page's total size (of the
            // index entries, for an index), shared among the entities found by their bytes.
            fn entity(item: &Item) -> &str {
                let text = |name| item.get(name).and_then(AttrValue::as_str).unwrap_or("");
                entity_of_key(text(PK), text(SK))
            }
            let mut bytes_of: std::collections::BTreeMap<&str, usize> = Default::default();
            for item in &page.items {
                let size = match index {
                    None => item_size(item),
                    Some(index) => index_entry_size(item, index),
                };
                *bytes_of.entry(entity(item)).or_default() += size;
            }
            let bytes: usize = bytes_of.values().sum();
            let units = read_units(bytes, Consistency::Eventual);
            self.meter.table(|t| {
                if bytes == 0 {
                    return t.add(&sought, reads(units));
                }
                for (entity, b) in &bytes_of {
                    t.add(entity, reads(units * *b as f64 / bytes as f64));
                }
                // The index names the items; a BatchGetItem reads each from the table.
                if index.is_some() {
                    for item in &page.items {
                        let units = read_units(item_size(item), Consistency::Eventual);
                        t.add(entity(item), reads(units));
                    }
                }
            });
            let batch_gets = match index {
                Some(_) => page.items.len().div_ceil(BATCH_GET_KEYS),
                None => 0,
            };
            self.meter
                .function_call(|f| f.table_calls += 1 + batch_gets as u64);
        }
        result
    }

    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        let mut before = Vec::with_capacity(writes.len());
        for write in &writes {
            let key = match write {
                TransactWrite::Put { item, .. } => key_of(item),
                TransactWrite::Update { key, .. }
                | TransactWrite::Delete { key, .. }
                | TransactWrite::ConditionCheck { key, .. } => Some(key.clone()),
            };
            let old = match &key {
                Some(k) => self.before(k).await,
                None => None,
            };
            before.push((key, old));
        }
        let result = self.inner.transact_write(writes.clone()).await;
        let applied = result.is_ok();
        // A transaction cancelled by a condition still consumes its units.
        let cancelled = matches!(
            result,
            Err(StoreError::ConditionFailed(_) | StoreError::TransactionCanceled { .. })
        );
        if !applied && !cancelled {
            return result;
        }
        for (write, (key, old)) in writes.iter().zip(before) {
            let new = match (write, &key, applied) {
                (TransactWrite::Put { item, .. }, _, _) => Some(item.clone()),
                (TransactWrite::Delete { .. }, _, true) => None,
                (TransactWrite::Update { .. }, Some(k), true) => self.before(k).await,
                _ => old.clone(),
            };
            // A condition check is billed as a transactional write of its item.
            let condition_check = matches!(write, TransactWrite::ConditionCheck { .. });
            self.bill_write(
                key.as_ref(),
                old.as_ref(),
                new.as_ref(),
                applied && !condition_check,
                2.0,
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::meter::{Meter, TableUsage};
    use crate::store::memory::MemoryTable;
    use crate::store::{AttrValue, Index, Query};
    use chrono::{TimeZone, Utc};

    fn metered() -> (MeteredTable, Meter) {
        let clock = ManualClock::new(Utc.timestamp_opt(1_700_000_000, 0).unwrap());
        let shared: SharedClock = Arc::new(clock);
        let meter = Meter::new();
        let table = MeteredTable::new(
            Arc::new(MemoryTable::new(shared.clone())),
            meter.clone(),
            shared,
        );
        (table, meter)
    }

    /// PK "p" and SK "s" take 2 + 1 + 2 + 1 = 6 bytes; "d" and its text the rest.
    fn item_of(bytes: usize) -> Item {
        let mut item = Item::new();
        item.insert("PK".into(), "p".into());
        item.insert("SK".into(), "s".into());
        item.insert("d".into(), AttrValue::from("x".repeat(bytes - 7)));
        assert_eq!(item_size(&item), bytes);
        item
    }

    fn table_usage(meter: &Meter) -> TableUsage {
        meter.usage().table
    }

    #[tokio::test]
    async fn a_put_then_a_get_then_a_query_cost_what_dynamodb_bills() {
        let (table, meter) = metered();
        table.put(item_of(1500), None).await.unwrap();
        assert_eq!(table_usage(&meter).write_units, 2.0);
        table.get(&Key::new("p", "s")).await.unwrap();
        // Strongly consistent: 1,500 bytes is one 4 KB unit.
        assert_eq!(table_usage(&meter).read_units, 1.0);
        table.query(Query::partition("p")).await.unwrap();
        assert_eq!(table_usage(&meter).read_units, 1.5);
        // A miss still costs a unit.
        table.get(&Key::new("p", "none")).await.unwrap();
        assert_eq!(table_usage(&meter).read_units, 2.5);
        // Eventually consistent: half.
        assert!(table
            .get_eventually(&Key::new("p", "s"))
            .await
            .unwrap()
            .is_some());
        assert_eq!(table_usage(&meter).read_units, 3.0);
        assert_eq!(meter.usage().functions["ingest"].table_calls, 5);
    }

    #[tokio::test]
    async fn an_update_is_billed_on_the_larger_image_and_a_failed_condition_still_costs() {
        let (table, meter) = metered();
        table.put(item_of(3000), None).await.unwrap();
        assert_eq!(table_usage(&meter).write_units, 3.0);
        table
            .update(&Key::new("p", "s"), Update::new().remove("d"))
            .await
            .unwrap();
        assert_eq!(table_usage(&meter).write_units, 6.0);
        let refused = table
            .put(item_of(100), Some(Condition::ItemNotExists))
            .await;
        assert!(refused.is_err());
        // The item is now 6 bytes: one unit.
        assert_eq!(table_usage(&meter).write_units, 7.0);
        assert_eq!(table_usage(&meter).index_write_units, 0.0);
    }

    #[tokio::test]
    async fn index_entries_and_transactions_cost_extra() {
        let (table, meter) = metered();
        let mut indexed = item_of(900);
        indexed.insert("GSI1PK".into(), "t".into());
        indexed.insert("GSI1SK".into(), "1".into());
        // 900 + 7 + 7 bytes: one unit in the table, one in GSI1.
        table.put(indexed, None).await.unwrap();
        assert_eq!(table_usage(&meter).write_units, 2.0);
        assert_eq!(table_usage(&meter).index_write_units, 1.0);
        table
            .transact_write(vec![
                TransactWrite::Put {
                    item: item_of(2000),
                    condition: None,
                },
                TransactWrite::Delete {
                    key: Key::new("p", "s"),
                    condition: None,
                },
            ])
            .await
            .unwrap_err();
        // Two writes to one item in one transaction are refused: nothing is billed.
        assert_eq!(table_usage(&meter).write_units, 2.0);
        let mut other = item_of(2000);
        other.insert("SK".into(), "t".into());
        table
            .transact_write(vec![TransactWrite::Put {
                item: other,
                condition: None,
            }])
            .await
            .unwrap();
        // 2 KB at twice the units.
        assert_eq!(table_usage(&meter).write_units, 6.0);
    }

    #[tokio::test]
    async fn an_index_query_reads_the_entries_then_each_item() {
        let (table, meter) = metered();
        for n in 0..120 {
            let mut finding = item_of(3000);
            finding.insert("SK".into(), format!("s{n:03}").into());
            finding.insert("GSI1PK".into(), "t".into());
            finding.insert("GSI1SK".into(), format!("{n:03}").into());
            table.put(finding, None).await.unwrap();
        }
        let before = meter.usage();
        let page = table
            .query(Query::partition("t").on(Index::Gsi1))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 120);
        let after = meter.usage();
        // Entries of 2+1 + 2+4 + 6+1 + 6+3 = 25 bytes: 3,000 bytes, one eventual half unit;
        // then each 3,000-byte item a half unit of its own (BatchGetItem rounds per item).
        assert_eq!(
            after.table.read_units - before.table.read_units,
            0.5 + 120.0 * 0.5
        );
        // One Query and two BatchGetItem calls (100 keys each at most).
        assert_eq!(
            after.functions["ingest"].table_calls - before.functions["ingest"].table_calls,
            3
        );
    }

    #[tokio::test]
    async fn units_are_shared_out_by_entity_and_add_up_to_the_totals() {
        let (table, meter) = metered();
        let mut event = item_of(1500);
        event.insert("SK".into(), "EVENT#1#e1".into());
        let mut change = item_of(500);
        change.insert("SK".into(), "CHANGE#1#e1".into());
        table.put(event, None).await.unwrap();
        table.put(change, None).await.unwrap();
        table.get(&Key::new("p", "EVENT#1#e1")).await.unwrap();
        table.get(&Key::new("p", "LINK")).await.unwrap();
        // 1,500 + 500 bytes (+ 9 and 10 for the longer keys): one eventual unit, half of it
        // to each entity by its bytes.
        table.query(Query::partition("p")).await.unwrap();
        table
            .query(Query::partition("p").begins_with("SCORED#"))
            .await
            .unwrap();
        let usage = table_usage(&meter);
        let event = &usage.by_entity["EVENT"];
        assert_eq!(event.write_units, 2.0);
        assert_eq!(event.items_created, 1);
        let event_bytes = 1500 + 9;
        let change_bytes = 500 + 10;
        let share = 0.5 * event_bytes as f64 / (event_bytes + change_bytes) as f64;
        assert!((event.read_units - (1.0 + share)).abs() < 1e-9);
        assert_eq!(usage.by_entity["CHANGE"].write_units, 1.0);
        assert!((usage.by_entity["CHANGE"].read_units - (0.5 - share)).abs() < 1e-9);
        assert_eq!(usage.by_entity["LINK"].read_units, 1.0);
        assert_eq!(usage.by_entity["SCORED"].read_units, 0.5);
        let sum = |f: fn(&crate::meter::EntityUsage) -> f64| -> f64 {
            usage.by_entity.values().map(f).sum()
        };
        assert_eq!(sum(|e| e.write_units), usage.write_units);
        assert!((sum(|e| e.read_units) - usage.read_units).abs() < 1e-9);
        assert_eq!(sum(|e| e.storage_byte_months), usage.storage_byte_months);
    }

    #[tokio::test]
    async fn a_new_item_is_stored_until_its_ttl() {
        let (table, meter) = metered();
        let mut item = item_of(400);
        let month = 30.4375 * 86_400.0;
        item.insert("ttl".into(), AttrValue::from(1_700_000_000.0 + 2.0 * month));
        let size = item_size(&item);
        table.put(item.clone(), None).await.unwrap();
        assert_eq!(
            table_usage(&meter).storage_byte_months,
            (size + 100) as f64 * 2.0
        );
        // Overwriting creates nothing new.
        table.put(item, None).await.unwrap();
        assert_eq!(
            table_usage(&meter).storage_byte_months,
            (size + 100) as f64 * 2.0
        );
    }

    #[tokio::test]
    async fn an_item_that_closes_or_goes_is_billed_until_then() {
        let (table, meter) = metered();
        let month = 30.4375 * 86_400.0;
        let stored = |m: &Meter| table_usage(m).storage_byte_months;
        let kept = item_of(400);
        let size = (item_size(&kept) + 100) as f64;
        table.put(kept.clone(), None).await.unwrap();
        assert_eq!(stored(&meter), size * 12.0);
        // Closed at once, expiring in three months: the nine months after are not billed.
        let expiry = AttrValue::from(1_700_000_000.0 + 3.0 * month);
        table
            .update(
                &Key::new("p", "s"),
                Update::new().set("ttl", expiry.clone()),
            )
            .await
            .unwrap();
        let ttl_size = (item_size(&table.before(&Key::new("p", "s")).await.unwrap()) + 100) as f64;
        assert!((stored(&meter) - (size * 12.0 - size * 12.0 + ttl_size * 3.0)).abs() < 1e-6);
        // A write that keeps the expiry re-bills nothing; a delete gives back what was left.
        table
            .update(
                &Key::new("p", "s"),
                Update::new().set("d", "y".repeat(400 - 7)),
            )
            .await
            .unwrap();
        assert!((stored(&meter) - ttl_size * 3.0).abs() < 1e-6);
        table.delete(&Key::new("p", "s"), None).await.unwrap();
        assert!(stored(&meter).abs() < 1e-6, "{}", stored(&meter));
        // An item whose creation the meter did not bill is not credited.
        {
            let _paused = meter.pause();
            table.put(item_of(400), None).await.unwrap();
        }
        table.delete(&Key::new("p", "s"), None).await.unwrap();
        assert!(stored(&meter).abs() < 1e-6);
    }
}
