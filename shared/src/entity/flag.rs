//! Detector flags (`flags::Flag`): a tenant's under `T` / `FLAG#<detector>`, the operator's
//! global ones under `FLAGS` / `FLAG#<detector>`.

use crate::flags::{Flag, FlagScope};
use crate::store::{query_all, Item, Key, Query, StoreError, Table};

use super::{decode, encode, key_of, keyed, strip_keys, tenant};

pub const ENTITY: &str = "flag";
/// The partition of the global flags.
pub const GLOBAL_PARTITION: &str = "FLAGS";
const PREFIX: &str = "FLAG#";

fn partition(scope: FlagScope, tenant_id: &str) -> String {
    match scope {
        FlagScope::Global => GLOBAL_PARTITION.to_owned(),
        FlagScope::Tenant => tenant::pk(tenant_id),
    }
}

/// A flag's key; `tenant_id` is ignored for a global flag.
pub fn key(scope: FlagScope, tenant_id: &str, detector: &str) -> Key {
    Key::new(partition(scope, tenant_id), [PREFIX, detector].concat())
}

pub fn item(flag: &Flag, tenant_id: &str) -> Result<Item, StoreError> {
    Ok(keyed(
        encode(flag)?,
        key(flag.scope, tenant_id, &flag.detector),
        ENTITY,
    ))
}

/// The flags of one scope (pattern 50: a tenant's, pattern 51: the global ones).
pub fn list(scope: FlagScope, tenant_id: &str) -> Query {
    Query::partition(partition(scope, tenant_id)).begins_with(PREFIX)
}

pub async fn load_all(
    table: &dyn Table,
    scope: FlagScope,
    tenant_id: &str,
) -> Result<Vec<Flag>, StoreError> {
    query_all(table, list(scope, tenant_id))
        .await?
        .into_iter()
        .map(|item| {
            let key = key_of(&item);
            decode(key, strip_keys(item))
        })
        .collect()
}

pub async fn load(
    table: &dyn Table,
    scope: FlagScope,
    tenant_id: &str,
    detector: &str,
) -> Result<Option<Flag>, StoreError> {
    let key = key(scope, tenant_id, detector);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), strip_keys(item)).map(Some),
        None => Ok(None),
    }
}

pub async fn put(table: &dyn Table, flag: &Flag, tenant_id: &str) -> Result<(), StoreError> {
    table.put(item(flag, tenant_id)?, None).await
}

pub async fn delete(
    table: &dyn Table,
    scope: FlagScope,
    tenant_id: &str,
    detector: &str,
) -> Result<(), StoreError> {
    table.delete(&key(scope, tenant_id, detector), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_keys() {
        assert_eq!(
            key(FlagScope::Tenant, "t", "cost.burst"),
            Key::new("TENANT#t", "FLAG#cost.burst")
        );
        assert_eq!(
            key(FlagScope::Global, "t", "drift.sg-world-ingress"),
            Key::new("FLAGS", "FLAG#drift.sg-world-ingress")
        );
        assert_eq!(list(FlagScope::Global, "").partition, "FLAGS");
    }
}
