//! Every finding a replay recorded, in its latest state. The replay's findings file lists them
//! all, whatever the table has expired since: a closed finding expires 90 days after it closed
//! (decision 1080), and a replay's clock runs through months of input. Reading the table at
//! the end would drop a drift resolved in January from a year's findings. The ledger keeps the
//! findings that can expire (those whose last write gave them a TTL); the rest are in the
//! table, and a replay's memory holds each finding once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use dd0c_shared::domain::Finding;
use dd0c_shared::entity::{finding, key_of};
use dd0c_shared::store::{
    query_all, Condition, Item, Key, Page, Query, StoreError, Table, TransactWrite, Update,
    TTL_ATTRIBUTE,
};

/// The findings written through a [`FindingsLedger`] that may expire, by key.
#[derive(Clone, Default)]
pub struct Ledger(Arc<Mutex<BTreeMap<Key, Item>>>);

impl Ledger {
    fn entries(&self) -> MutexGuard<'_, BTreeMap<Key, Item>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, key: &Key, item: &Item) {
        if finding::id_of(key).is_none() {
            return;
        }
        if item.contains_key(TTL_ATTRIBUTE) {
            self.entries().insert(key.clone(), item.clone());
        } else {
            self.entries().remove(key);
        }
    }

    /// Every finding of `tenant` recorded: those in `table` and those it has expired, by event
    /// time then id (as the table's time index orders them).
    pub async fn findings(
        &self,
        table: &dyn Table,
        tenant: &str,
    ) -> Result<Vec<Finding>, StoreError> {
        let mut latest = self.entries().clone();
        for item in query_all(table, finding::by_time(tenant)).await? {
            if let Some(key) = key_of(&item) {
                latest.insert(key, item);
            }
        }
        let mut findings = Vec::with_capacity(latest.len());
        for (key, item) in latest {
            let f = finding::stored(Some(key), item)?.finding;
            if f.tenant_id == tenant {
                findings.push(f);
            }
        }
        findings.sort_by(|a, b| (a.event_time, &a.id).cmp(&(b.event_time, &b.id)));
        Ok(findings)
    }
}

/// A table that notes every finding written through it that may expire in its [`Ledger`].
pub struct FindingsLedger {
    inner: Arc<dyn Table>,
    ledger: Ledger,
}

impl FindingsLedger {
    pub fn new(inner: Arc<dyn Table>, ledger: Ledger) -> Self {
        Self { inner, ledger }
    }
}

#[async_trait]
impl Table for FindingsLedger {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = key_of(&item);
        self.inner.put(item.clone(), condition).await?;
        if let Some(key) = key {
            self.ledger.note(&key, &item);
        }
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get_eventually(key).await
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        let updated = self.inner.update(key, update).await?;
        self.ledger.note(key, &updated);
        Ok(updated)
    }

    /// A finding's update is read back to be noted; any other item's is left to the table's
    /// own update-in-place.
    async fn update_only(&self, key: &Key, update: Update) -> Result<(), StoreError> {
        if finding::id_of(key).is_some() {
            return self.update(key, update).await.map(drop);
        }
        self.inner.update_only(key, update).await
    }

    fn discards(&self, key: &Key) -> bool {
        self.inner.discards(key)
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await?;
        self.ledger.entries().remove(key);
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }

    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        let keys: Vec<Key> = writes
            .iter()
            .filter_map(|w| match w {
                TransactWrite::Put { item, .. } => key_of(item),
                TransactWrite::Update { key, .. } | TransactWrite::Delete { key, .. } => {
                    Some(key.clone())
                }
                TransactWrite::ConditionCheck { .. } => None,
            })
            .filter(|k| finding::id_of(k).is_some())
            .collect();
        self.inner.transact_write(writes).await?;
        for key in keys {
            match self.inner.get(&key).await? {
                Some(item) => self.ledger.note(&key, &item),
                None => {
                    self.ledger.entries().remove(&key);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use dd0c_shared::clock::{Clock, ManualClock};
    use dd0c_shared::entity::finding::{transition_update, Transition};
    use dd0c_shared::store::memory::MemoryTable;
    use dd0c_shared::store::{PK, SK};

    #[tokio::test]
    async fn a_finding_expired_from_the_table_is_still_in_the_ledger_as_it_last_was() {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 15, 10, 0, 0).unwrap());
        let memory: Arc<dyn Table> = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
        let ledger = Ledger::default();
        let table = FindingsLedger::new(memory.clone(), ledger.clone());
        let mut later = dd0c_shared::testing::cost_finding("cost-e2");
        later.event_time = Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0).unwrap();
        let mut first = dd0c_shared::testing::cost_finding("cost-e1");
        first.event_time = Utc.with_ymd_and_hms(2026, 1, 15, 9, 0, 0).unwrap();
        for f in [&later, &first] {
            table.put(finding::item(f).unwrap(), None).await.unwrap();
        }
        // Not a finding: not noted.
        let other = dd0c_shared::store::Item::from([
            (PK.to_owned(), "TENANT#t".into()),
            (SK.to_owned(), "SETTINGS".into()),
        ]);
        table.put(other, None).await.unwrap();
        let (key, update) = transition_update(&first, &Transition::Resolve, "dd0c", &clock.now());
        table.update(&key, update).await.unwrap();
        clock.advance_to(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
        assert_eq!(
            finding::all(memory.as_ref(), &first.tenant_id)
                .await
                .unwrap()
                .len(),
            1,
            "the resolved finding expired from the table"
        );
        // Only the finding that can expire is held apart from the table.
        assert_eq!(ledger.entries().len(), 1);
        let noted = ledger
            .findings(memory.as_ref(), &first.tenant_id)
            .await
            .unwrap();
        assert_eq!(
            noted.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            ["cost-e1", "cost-e2"]
        );
        assert_eq!(noted[0].status.as_str(), "resolved");
        // Reopened, it is kept by the table again and leaves the ledger.
        let (key, update) = transition_update(&noted[0], &Transition::Reopen, "u1", &clock.now());
        memory
            .put(finding::item(&noted[0]).unwrap(), None)
            .await
            .unwrap();
        table.update(&key, update).await.unwrap();
        assert!(ledger.entries().is_empty());
    }
}
