//! Flag reads kept for a short while, so that a batch of findings (and a warm Lambda's next
//! batches) costs two queries per tenant at most every [`FLAG_CACHE_SECONDS`], not two per
//! finding (issue 15: cost per event). A flag change therefore applies within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{FlagScope, Flags};
use crate::entity::flag;
use crate::store::{StoreError, Table};

/// How long flags read from the table are used before they are read again.
pub const FLAG_CACHE_SECONDS: u64 = 30;

type Entry = (Instant, Arc<Vec<super::Flag>>);

pub struct FlagCache {
    ttl: Duration,
    global: Mutex<Option<Entry>>,
    tenants: Mutex<HashMap<String, Entry>>,
}

impl Default for FlagCache {
    fn default() -> Self {
        Self::new(Duration::from_secs(FLAG_CACHE_SECONDS))
    }
}

fn fresh(entry: Option<&Entry>, ttl: Duration) -> Option<Arc<Vec<super::Flag>>> {
    entry
        .filter(|(at, _)| at.elapsed() < ttl)
        .map(|(_, flags)| flags.clone())
}

impl FlagCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            global: Mutex::new(None),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The flags that may apply to `tenant`, from the cache or the table.
    pub async fn flags(&self, table: &dyn Table, tenant: &str) -> Result<Flags, StoreError> {
        let cached = fresh(self.global.lock().expect("flag cache").as_ref(), self.ttl);
        let global = match cached {
            Some(g) => g,
            None => {
                let g = Arc::new(flag::load_all(table, FlagScope::Global, "").await?);
                *self.global.lock().expect("flag cache") = Some((Instant::now(), g.clone()));
                g
            }
        };
        let cached = fresh(
            self.tenants.lock().expect("flag cache").get(tenant),
            self.ttl,
        );
        let own = match cached {
            Some(t) => t,
            None => {
                let t = Arc::new(flag::load_all(table, FlagScope::Tenant, tenant).await?);
                self.tenants
                    .lock()
                    .expect("flag cache")
                    .insert(tenant.to_owned(), (Instant::now(), t.clone()));
                t
            }
        };
        Ok(Flags {
            tenant: own.as_ref().clone(),
            global: global.as_ref().clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Flag;
    use crate::store::memory::MemoryTable;
    use crate::testing::noon;

    fn flag(detector: &str, scope: FlagScope) -> Flag {
        Flag {
            detector: detector.into(),
            scope,
            owner: "ops".into(),
            reason: String::new(),
            expires_at: noon() + chrono::Duration::days(1),
            set_by: "ops".into(),
            set_at: noon(),
        }
    }

    #[tokio::test]
    async fn flags_are_read_once_per_ttl_and_kept_apart_per_tenant() {
        let table = MemoryTable::new(Arc::new(crate::clock::ManualClock::new(noon())));
        flag::put(&table, &flag("cost.burst", FlagScope::Tenant), "t1")
            .await
            .unwrap();
        flag::put(&table, &flag("cost.zscore", FlagScope::Global), "")
            .await
            .unwrap();
        let cache = FlagCache::new(Duration::from_secs(3600));
        let t1 = cache.flags(&table, "t1").await.unwrap();
        assert_eq!(t1.tenant.len(), 1);
        assert_eq!(t1.global.len(), 1);
        assert!(cache.flags(&table, "t2").await.unwrap().tenant.is_empty());
        // Written after the read: the cached flags are used until the TTL passes.
        flag::put(&table, &flag("cost.new_sku", FlagScope::Tenant), "t1")
            .await
            .unwrap();
        assert_eq!(cache.flags(&table, "t1").await.unwrap().tenant.len(), 1);
        let uncached = FlagCache::new(Duration::ZERO);
        assert_eq!(uncached.flags(&table, "t1").await.unwrap().tenant.len(), 2);
    }
}
