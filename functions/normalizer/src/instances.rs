//! What dd0c remembers about resources between calls: an instance's type from its launch
//! (for StartInstances, StopInstances, type changes), a DB instance's class, a volume's size,
//! an Auto Scaling group's capacity, an endpoint config's variants, a function's memory.
//!
//! Instance types are read through [`InstanceTypeResolver`]: the store first, then
//! [`AccountsResolver`] (describe the instance through the customer's read-only role), chained
//! with [`ChainedResolver`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::accounts::{Accounts, Instance};
use dd0c_shared::entity::resource_spec;
use dd0c_shared::pricing::{Platform, Tenancy};
use dd0c_shared::store::{from_item, AttrValue, Key, StoreError, Table, TTL_ATTRIBUTE};

use crate::catalogue::{Facts, Learned, ResourceKind, ResourceRef, ResourceSpec};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("resource store: {0}")]
    Store(#[from] StoreError),
    #[error("resource spec {key} cannot be stored: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("instance lookup unavailable: {0}")]
    Unavailable(String),
}

/// How long an instance's facts are kept after the event that taught them.
pub const INSTANCE_FACTS_RETENTION_DAYS: i64 = 90;

/// When facts learnt from an event at `time` expire.
pub fn instance_facts_ttl(time: chrono::DateTime<chrono::Utc>) -> i64 {
    (time + chrono::Duration::days(INSTANCE_FACTS_RETENTION_DAYS)).timestamp()
}

/// Finds the specs (type, platform, tenancy) of EC2 instances an event names but does not
/// describe.
#[async_trait]
pub trait InstanceTypeResolver: Send + Sync {
    /// The specs of `instance_ids`; an id the resolver cannot resolve is absent.
    async fn resolve(
        &self,
        tenant: &str,
        account: &str,
        region: &str,
        instance_ids: &[String],
    ) -> Result<HashMap<String, ResourceSpec>, ResolveError>;
}

/// Asks `first`, then `then` for the ids `first` could not resolve.
pub struct ChainedResolver {
    pub first: Arc<dyn InstanceTypeResolver>,
    pub then: Arc<dyn InstanceTypeResolver>,
}

#[async_trait]
impl InstanceTypeResolver for ChainedResolver {
    async fn resolve(
        &self,
        tenant: &str,
        account: &str,
        region: &str,
        instance_ids: &[String],
    ) -> Result<HashMap<String, ResourceSpec>, ResolveError> {
        let mut found = self
            .first
            .resolve(tenant, account, region, instance_ids)
            .await?;
        let rest: Vec<String> = instance_ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .cloned()
            .collect();
        if !rest.is_empty() {
            found.extend(self.then.resolve(tenant, account, region, &rest).await?);
        }
        Ok(found)
    }
}

/// The resource specs dd0c stored, in the single table.
#[derive(Clone)]
pub struct ResourceStore {
    table: Arc<dyn Table>,
}

fn key_of(tenant: &str, account: &str, r: &ResourceRef) -> Key {
    match r.kind {
        ResourceKind::Instance => resource_spec::instance_key(tenant, account, &r.id),
        kind => resource_spec::key(tenant, account, kind.as_str(), &r.id),
    }
}

impl ResourceStore {
    pub fn new(table: Arc<dyn Table>) -> Self {
        Self { table }
    }

    pub async fn get(
        &self,
        tenant: &str,
        account: &str,
        r: &ResourceRef,
    ) -> Result<Option<ResourceSpec>, ResolveError> {
        let key = key_of(tenant, account, r);
        let Some(item) = self.table.get(&key).await? else {
            return Ok(None);
        };
        // An unreadable spec (e.g. written by a newer version) is treated as unknown: the
        // event is still priced, with a reason, rather than dead-lettered.
        match from_item::<ResourceSpec>(item) {
            Ok(spec) => Ok(Some(spec)),
            Err(e) => {
                tracing::warn!(pk = %key.pk, sk = %key.sk, error = %e, "unreadable resource spec ignored");
                Ok(None)
            }
        }
    }

    /// Loads what is stored for `refs` (instances through `instances`).
    pub async fn load(
        &self,
        instances: &dyn InstanceTypeResolver,
        tenant: &str,
        account: &str,
        region: &str,
        refs: &[ResourceRef],
    ) -> Result<Facts, ResolveError> {
        let mut facts = Facts::default();
        let instance_ids: Vec<String> = refs
            .iter()
            .filter(|r| r.kind == ResourceKind::Instance)
            .map(|r| r.id.clone())
            .collect();
        if !instance_ids.is_empty() {
            for (id, spec) in instances
                .resolve(tenant, account, region, &instance_ids)
                .await?
            {
                facts.insert(ResourceRef::new(ResourceKind::Instance, region, &id), spec);
            }
        }
        for r in refs.iter().filter(|r| r.kind != ResourceKind::Instance) {
            if let Some(spec) = self.get(tenant, account, r).await? {
                facts.insert(r.clone(), spec);
            }
        }
        Ok(facts)
    }

    /// Stores what a record taught. Plain puts and deletes: applying the same record twice
    /// leaves the same state. An instance's facts expire at `instance_ttl` (epoch seconds):
    /// an instance dd0c no longer remembers is described through the account's role when an
    /// event names it again (decision 1040); other resources' facts have no such fallback and
    /// are kept.
    pub async fn apply(
        &self,
        tenant: &str,
        account: &str,
        learned: &[Learned],
        instance_ttl: i64,
    ) -> Result<(), ResolveError> {
        for l in learned {
            match l {
                Learned::Remember(r, spec) => {
                    let key = key_of(tenant, account, r);
                    let item = match resource_spec::item(key.clone(), &r.id, spec) {
                        Ok(mut item) if r.kind == ResourceKind::Instance => {
                            item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(instance_ttl as f64));
                            item
                        }
                        Ok(item) => item,
                        Err(StoreError::Decode { source, .. }) => {
                            return Err(ResolveError::Corrupt {
                                key: format!("{}/{}", key.pk, key.sk),
                                reason: source.to_string(),
                            })
                        }
                        Err(e) => return Err(e.into()),
                    };
                    self.table.put(item, None).await?;
                }
                // A terminated instance's facts are left to their TTL: a delete is a write unit
                // (even of an item never stored, an instance launched before dd0c was
                // connected), a TTL deletion is free, and no call that succeeds names a
                // terminated instance again (decision 1110).
                Learned::Forget(r) if r.kind == ResourceKind::Instance => {}
                Learned::Forget(r) => {
                    self.table.delete(&key_of(tenant, account, r), None).await?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl InstanceTypeResolver for ResourceStore {
    async fn resolve(
        &self,
        tenant: &str,
        account: &str,
        _region: &str,
        instance_ids: &[String],
    ) -> Result<HashMap<String, ResourceSpec>, ResolveError> {
        let mut found = HashMap::new();
        for id in instance_ids {
            let r = ResourceRef::new(ResourceKind::Instance, "", id);
            if let Some(spec) = self.get(tenant, account, &r).await? {
                found.insert(id.clone(), spec);
            }
        }
        Ok(found)
    }
}

/// Describes instances dd0c never saw launch through the account's read-only role, and
/// remembers what it learned so the next start of the same instance needs no AWS call.
///
/// Any failure (no role on record, AssumeRole denied, DescribeInstances missing from the role,
/// AWS throttling) leaves the ids unresolved: the event is still published, priced null with a
/// reason, rather than holding the account's FIFO group behind retries.
pub struct AccountsResolver {
    pub accounts: Arc<dyn Accounts>,
    pub table: Arc<dyn Table>,
}

impl AccountsResolver {
    fn spec_of(instance: &Instance) -> Option<ResourceSpec> {
        if instance.instance_type.is_empty() {
            return None;
        }
        Some(ResourceSpec::Instance {
            instance_type: instance.instance_type.clone(),
            platform: instance
                .platform
                .as_deref()
                .map_or(Platform::Linux, Platform::from_platform_details),
            tenancy: Tenancy::from_api(instance.tenancy.as_deref().unwrap_or("default")),
            spot: instance.spot,
        })
    }

    async fn describe(
        &self,
        account: &str,
        region: &str,
        instance_ids: &[String],
    ) -> Result<Vec<Instance>, String> {
        let link = dd0c_shared::tenancy::account_link(self.table.as_ref(), account)
            .await
            .map_err(|e| format!("account link unreadable: {e}"))?;
        let (Some(role_arn), Some(external_id)) = link
            .map(|l| (l.role_arn, l.external_id))
            .unwrap_or_default()
        else {
            return Err("no read-only role on record for the account".into());
        };
        let session = self
            .accounts
            .assume_role(&role_arn, &external_id)
            .await
            .map_err(|e| e.to_string())?;
        self.accounts
            .instances_by_id(&session, region, instance_ids)
            .await
            .map_err(|e| e.to_string())
    }
}

#[async_trait]
impl InstanceTypeResolver for AccountsResolver {
    async fn resolve(
        &self,
        tenant: &str,
        account: &str,
        region: &str,
        instance_ids: &[String],
    ) -> Result<HashMap<String, ResourceSpec>, ResolveError> {
        let instances = match self.describe(account, region, instance_ids).await {
            Ok(instances) => instances,
            Err(why) => {
                tracing::warn!(
                    tenant,
                    account,
                    region,
                    ?instance_ids,
                    why,
                    "instances not described through the account's role"
                );
                return Ok(HashMap::new());
            }
        };
        let found: HashMap<String, ResourceSpec> = instances
            .iter()
            .filter_map(|i| Self::spec_of(i).map(|s| (i.instance_id.clone(), s)))
            .collect();
        let learned: Vec<Learned> = found
            .iter()
            .map(|(id, spec)| {
                Learned::Remember(
                    ResourceRef::new(ResourceKind::Instance, region, id),
                    spec.clone(),
                )
            })
            .collect();
        ResourceStore::new(self.table.clone())
            .apply(
                tenant,
                account,
                &learned,
                instance_facts_ttl(chrono::Utc::now()),
            )
            .await?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dd0c_shared::clock::SystemClock;
    use dd0c_shared::pricing::{Platform, Tenancy};
    use dd0c_shared::store::memory::MemoryTable;

    fn spec(t: &str) -> ResourceSpec {
        ResourceSpec::Instance {
            instance_type: t.into(),
            platform: Platform::Linux,
            tenancy: Some(Tenancy::Shared),
            spot: false,
        }
    }

    struct Fixed(HashMap<String, ResourceSpec>);

    #[async_trait]
    impl InstanceTypeResolver for Fixed {
        async fn resolve(
            &self,
            _: &str,
            _: &str,
            _: &str,
            ids: &[String],
        ) -> Result<HashMap<String, ResourceSpec>, ResolveError> {
            Ok(ids
                .iter()
                .filter_map(|id| self.0.get(id).map(|s| (id.clone(), s.clone())))
                .collect())
        }
    }

    #[tokio::test]
    async fn remembers_forgets_and_chains() {
        const TTL: i64 = 4_000_000_000;
        let table: Arc<dyn Table> = Arc::new(MemoryTable::new(Arc::new(SystemClock)));
        let store = ResourceStore::new(table.clone());
        let i1 = ResourceRef::new(ResourceKind::Instance, "", "i-1");
        let db = ResourceRef::new(ResourceKind::DbInstance, "us-east-1", "orders");
        let db_spec = ResourceSpec::DbInstance {
            class: "db.r6g.large".into(),
            engine: "postgres".into(),
            multi_az: true,
            storage_type: Some("gp3".into()),
            storage_gb: Some(100.0),
            iops: None,
        };
        store
            .apply(
                "t",
                "a",
                &[
                    Learned::Remember(i1.clone(), spec("m5.large")),
                    Learned::Remember(db.clone(), db_spec.clone()),
                ],
                TTL,
            )
            .await
            .unwrap();
        // An instance's facts expire; a database's, which nothing can describe again, do not.
        let stored = |key: Key| {
            let table = table.clone();
            async move { table.get(&key).await.unwrap().unwrap() }
        };
        let instance = stored(key_of("t", "a", &i1)).await;
        assert_eq!(instance.get(TTL_ATTRIBUTE), Some(&AttrValue::N(TTL as f64)));
        let database = stored(key_of("t", "a", &db)).await;
        assert_eq!(database.get(TTL_ATTRIBUTE), None);
        assert_eq!(
            store.get("t", "a", &i1).await.unwrap(),
            Some(spec("m5.large"))
        );
        assert_eq!(store.get("t", "a", &db).await.unwrap(), Some(db_spec));
        // Another tenant sees nothing.
        assert_eq!(store.get("u", "a", &i1).await.unwrap(), None);

        let accounts = Fixed(HashMap::from([("i-2".to_owned(), spec("c5.xlarge"))]));
        let chained = ChainedResolver {
            first: Arc::new(store.clone()),
            then: Arc::new(accounts),
        };
        let ids = vec!["i-1".to_owned(), "i-2".to_owned(), "i-3".to_owned()];
        let found = chained.resolve("t", "a", "us-east-1", &ids).await.unwrap();
        assert_eq!(found.get("i-1"), Some(&spec("m5.large")));
        assert_eq!(found.get("i-2"), Some(&spec("c5.xlarge")));
        assert!(!found.contains_key("i-3"));

        // Forgotten: a database's facts are deleted; a terminated instance's are left to
        // expire with their TTL.
        store
            .apply(
                "t",
                "a",
                &[Learned::Forget(i1.clone()), Learned::Forget(db.clone())],
                TTL,
            )
            .await
            .unwrap();
        assert_eq!(store.get("t", "a", &db).await.unwrap(), None);
        assert_eq!(
            store.get("t", "a", &i1).await.unwrap(),
            Some(spec("m5.large"))
        );
        let instance = stored(key_of("t", "a", &i1)).await;
        assert_eq!(instance.get(TTL_ATTRIBUTE), Some(&AttrValue::N(TTL as f64)));
    }
}
