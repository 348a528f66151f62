//! The account link: which tenant an AWS account belongs to (`ACCOUNT#<acct>` / `LINK`,
//! *global*, read for every event), indexed as a tenant's accounts (GSI1 `T#ACCOUNTS`) and in
//! the one system-wide list of linked accounts (GSI2 `ACCOUNTLINKS`, the hourly digest tick).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::store::{
    query_all, AttrValue, Condition, Index, Item, Key, Query, StoreError, Table, Update,
};
use crate::tenancy::{AccountLink, AccountStatus};

use super::{account, after, decode, encode, indexed, keyed, tenant, time_key};

pub const ENTITY: &str = "account_link";
const PREFIX: &str = "ACCOUNT#";

/// The GSI2 partition of every account link: every tenant's accounts, sorted by tenant. Only
/// the hourly digest tick reads it ([`all_tenants`]): no tenant-facing route lists it.
pub const ALL_LINKS_GSI2PK: &str = "ACCOUNTLINKS";

pub fn key(account: &str) -> Key {
    Key::new(format!("{PREFIX}{account}"), "LINK")
}

/// The account of a link key.
pub fn account_of(key: &Key) -> Option<&str> {
    (key.sk == "LINK").then_some(())?;
    after(&key.pk, PREFIX)
}

fn tenant_accounts_partition(tenant: &str) -> String {
    tenant::sub(tenant, "ACCOUNTS")
}

/// GSI1 of an account link: a tenant's accounts.
pub fn gsi1(tenant: &str, account: &str) -> (String, String) {
    (
        tenant_accounts_partition(tenant),
        format!("{PREFIX}{account}"),
    )
}

/// GSI2 of an account link: every tenant's accounts in one sparse partition.
pub fn gsi2(tenant: &str, account: &str) -> (String, String) {
    (ALL_LINKS_GSI2PK.to_owned(), account::pk(tenant, account))
}

pub fn item(link: &AccountLink) -> Result<Item, StoreError> {
    let item = keyed(encode(link)?, key(&link.account_id), ENTITY);
    let item = indexed(item, Index::Gsi1, gsi1(&link.tenant_id, &link.account_id));
    Ok(indexed(
        item,
        Index::Gsi2,
        gsi2(&link.tenant_id, &link.account_id),
    ))
}

pub async fn load(table: &dyn Table, account: &str) -> Result<Option<AccountLink>, StoreError> {
    let key = key(account);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item).map(Some),
        None => Ok(None),
    }
}

/// The link as read eventually consistently (half the read units), read again strongly when
/// that finds none: a link made a moment ago is not missed, and a status changed a moment ago
/// is seen a moment late, as it is by ingest's cached gate (decision 1040).
pub async fn load_recent(
    table: &dyn Table,
    account: &str,
) -> Result<Option<AccountLink>, StoreError> {
    let key = key(account);
    let item = match table.get_eventually(&key).await? {
        Some(item) => Some(item),
        None => table.get(&key).await?,
    };
    item.map(|item| decode(Some(key), item)).transpose()
}

/// The links a stage read a moment ago, kept for [`RecentLinks::TTL`] of the pipeline's clock
/// (event time in a replay, wall time on Lambda): a busy account's events cost one link read a
/// minute per warm function, not one each. Only links that exist are kept, so a just-connected
/// account is seen at once; a status changed a moment ago is seen up to a minute late, as
/// ingest's gate sees it.
#[derive(Debug, Default)]
pub struct RecentLinks {
    seen: std::sync::Mutex<std::collections::HashMap<String, (AccountLink, DateTime<Utc>)>>,
}

impl RecentLinks {
    pub const TTL: chrono::Duration = chrono::Duration::seconds(60);
    /// Bounds the memory a function serving many accounts keeps.
    const MAX_REMEMBERED: usize = 10_000;

    pub fn new() -> Self {
        Self::default()
    }

    /// [`load_recent`], unless the link was read less than [`Self::TTL`] before `now`.
    pub async fn load(
        &self,
        table: &dyn Table,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountLink>, StoreError> {
        if let Some((link, read_at)) = self.lock().get(account) {
            if *read_at <= now && now - *read_at < Self::TTL {
                return Ok(Some(link.clone()));
            }
        }
        let link = load_recent(table, account).await?;
        let mut seen = self.lock();
        match &link {
            Some(link) => {
                if seen.len() >= Self::MAX_REMEMBERED {
                    seen.clear();
                }
                seen.insert(account.to_owned(), (link.clone(), now));
            }
            None => {
                seen.remove(account);
            }
        }
        Ok(link)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (AccountLink, DateTime<Utc>)>>
    {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Links an account to a tenant unless it is already linked (to anyone). Returns the link
/// that holds afterwards.
pub async fn link_if_absent(
    table: &dyn Table,
    link: &AccountLink,
) -> Result<AccountLink, StoreError> {
    match table.put(item(link)?, Some(Condition::ItemNotExists)).await {
        Ok(()) => Ok(link.clone()),
        Err(e) if e.is_condition_failed() => load(table, &link.account_id)
            .await?
            .ok_or_else(|| StoreError::Backend("account link vanished".into())),
        Err(e) => Err(e),
    }
}

/// A tenant's account links (pattern 2), a page at a time.
pub fn tenant_accounts_query(tenant: &str) -> Query {
    Query::partition(tenant_accounts_partition(tenant)).on(Index::Gsi1)
}

/// Every account link of a tenant (bounded: a tenant has at most hundreds of accounts).
pub async fn tenant_accounts(
    table: &dyn Table,
    tenant: &str,
) -> Result<Vec<AccountLink>, StoreError> {
    query_all(table, tenant_accounts_query(tenant))
        .await?
        .into_iter()
        .map(|item| decode(None, item))
        .collect()
}

/// Every account link of every tenant (pattern 33).
pub fn all_links_query() -> Query {
    Query::partition(ALL_LINKS_GSI2PK).on(Index::Gsi2)
}

/// Every tenant with at least one account link (any status: a disconnecting account still
/// needs its purge), in order, each once. For system jobs only (the hourly digest tick).
pub async fn all_tenants(table: &dyn Table) -> Result<Vec<String>, StoreError> {
    let tenants: BTreeSet<String> = query_all(table, all_links_query())
        .await?
        .into_iter()
        .filter_map(|item| match item.get("tenant_id") {
            Some(AttrValue::S(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        })
        .collect();
    Ok(tenants.into_iter().collect())
}

/// A change of a link's status, only while the link is the tenant's (and, with `from`, still
/// in that status). A condition failure means the link changed meanwhile or is not the
/// tenant's.
pub fn status_change(
    tenant: &str,
    to: AccountStatus,
    from: Option<AccountStatus>,
    now: &DateTime<Utc>,
) -> Update {
    let owned = Condition::Equals("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    let condition = match from {
        Some(from) => Condition::And(vec![
            owned,
            Condition::Equals("status".into(), AttrValue::S(from.as_str().into())),
        ]),
        None => owned,
    };
    Update::new()
        .set("status", to.as_str())
        .set("status_changed_at", time_key(now))
        .when(condition)
}

/// Disconnecting: the status change, and when the digest may purge the account's data.
pub fn disconnect(tenant: &str, now: &DateTime<Utc>, purge_after: &DateTime<Utc>) -> Update {
    status_change(tenant, AccountStatus::Disconnecting, None, now)
        .set("purge_after", time_key(purge_after))
}

/// Deletes everything kept about an account (its `A` partition), then its link.
pub async fn purge(table: &dyn Table, link: &AccountLink) -> Result<(), StoreError> {
    account::delete_everything(table, &link.tenant_id, &link.account_id).await?;
    table.delete(&key(&link.account_id), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table whose eventually consistent reads have not yet seen any write.
    struct Lagging(crate::store::memory::MemoryTable);

    #[async_trait::async_trait]
    impl Table for Lagging {
        async fn put(&self, item: Item, c: Option<Condition>) -> Result<(), StoreError> {
            self.0.put(item, c).await
        }
        async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
            self.0.get(key).await
        }
        async fn get_eventually(&self, _: &Key) -> Result<Option<Item>, StoreError> {
            Ok(None)
        }
        async fn update(&self, key: &Key, u: crate::store::Update) -> Result<Item, StoreError> {
            self.0.update(key, u).await
        }
        async fn delete(&self, key: &Key, c: Option<Condition>) -> Result<(), StoreError> {
            self.0.delete(key, c).await
        }
        async fn query(&self, q: Query) -> Result<crate::store::Page, StoreError> {
            self.0.query(q).await
        }
        async fn transact_write(
            &self,
            w: Vec<crate::store::TransactWrite>,
        ) -> Result<(), StoreError> {
            self.0.transact_write(w).await
        }
    }

    #[tokio::test]
    async fn a_link_an_eventual_read_misses_is_read_again_strongly() {
        let clock: crate::clock::SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
        let table = Lagging(crate::store::memory::MemoryTable::new(clock.clone()));
        let link = crate::testing::active_account();
        link_if_absent(&table, &link).await.unwrap();
        assert_eq!(
            load_recent(&table, &link.account_id).await.unwrap(),
            Some(link.clone())
        );
        assert_eq!(load_recent(&table, "999").await.unwrap(), None);

        // A hit costs half a unit; a miss, half a unit and a strong read.
        let meter = crate::meter::Meter::new();
        let metered = crate::meter::MeteredTable::new(
            std::sync::Arc::new(crate::store::memory::MemoryTable::new(clock.clone())),
            meter.clone(),
            clock,
        );
        link_if_absent(&metered, &link).await.unwrap();
        let before = meter.usage().table.read_units;
        load_recent(&metered, &link.account_id).await.unwrap();
        assert_eq!(meter.usage().table.read_units - before, 0.5);
        load_recent(&metered, "999").await.unwrap();
        assert_eq!(meter.usage().table.read_units - before, 2.0);
    }

    #[tokio::test]
    async fn a_link_read_a_moment_ago_is_not_read_again_until_a_minute_of_the_clock_has_passed() {
        let clock: crate::clock::SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
        let meter = crate::meter::Meter::new();
        let table = crate::meter::MeteredTable::new(
            std::sync::Arc::new(crate::store::memory::MemoryTable::new(clock.clone())),
            meter.clone(),
            clock,
        );
        let link = crate::testing::active_account();
        link_if_absent(&table, &link).await.unwrap();
        let links = RecentLinks::new();
        let t0: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let reads = || meter.usage().table.read_units;
        let start = reads();
        for seconds in [0, 30, 59] {
            let at = t0 + chrono::Duration::seconds(seconds);
            let got = links.load(&table, &link.account_id, at).await.unwrap();
            assert_eq!(got, Some(link.clone()));
        }
        assert_eq!(
            reads() - start,
            0.5,
            "one eventual read for three events in a minute"
        );
        links
            .load(&table, &link.account_id, t0 + chrono::Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(reads() - start, 1.0, "read again a minute later");
        // A clock that goes back (a replay's earlier event) reads again too.
        links
            .load(&table, &link.account_id, t0 - chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(reads() - start, 1.5);
        // An account without a link is read every time: its connection is seen at once.
        for _ in 0..2 {
            assert_eq!(links.load(&table, "999", t0).await.unwrap(), None);
        }
        assert_eq!(reads() - start, 1.5 + 2.0 * 1.5);
        let connected = AccountLink {
            account_id: "999".into(),
            ..link.clone()
        };
        link_if_absent(&table, &connected).await.unwrap();
        assert_eq!(
            links.load(&table, "999", t0).await.unwrap(),
            Some(connected)
        );
    }

    #[test]
    fn link_keys_round_trip() {
        let k = key("111122223333");
        assert_eq!(k, Key::new("ACCOUNT#111122223333", "LINK"));
        assert_eq!(account_of(&k), Some("111122223333"));
        assert_eq!(
            gsi1("t1", "1"),
            ("TENANT#t1#ACCOUNTS".into(), "ACCOUNT#1".into())
        );
        let (g2pk, g2sk) = gsi2("t1", "1");
        assert_eq!(g2pk, "ACCOUNTLINKS");
        assert_eq!(account::parse_pk(&g2sk), Some(("t1", "1")));
        let q = tenant_accounts_query("t1");
        assert_eq!(
            (q.index, q.partition.as_str()),
            (Some(Index::Gsi1), "TENANT#t1#ACCOUNTS")
        );
    }

    #[test]
    fn a_status_change_is_conditional_on_the_owner() {
        let now = Utc::now();
        let u = status_change(
            "t1",
            AccountStatus::Paused,
            Some(AccountStatus::Active),
            &now,
        );
        assert_eq!(u.set[0], ("status".into(), AttrValue::S("paused".into())));
        assert!(matches!(u.condition, Some(Condition::And(ref c)) if c.len() == 2));
        let d = disconnect("t1", &now, &now);
        assert!(d.set.iter().any(|(k, _)| k == "purge_after"));
        assert!(matches!(d.condition, Some(Condition::Equals(ref a, _)) if a == "tenant_id"));
    }
}
