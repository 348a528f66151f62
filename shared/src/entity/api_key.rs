//! An API key of an agent, by the SHA-256 of the plain key (`APIKEY#<sha256>` / `KEY`,
//! *global*: authenticating is one GetItem), indexed as a tenant's keys by key id
//! (GSI1 `T#APIKEYS` / `KEY#<id>`).

use crate::auth::api_keys::ApiKey;
use crate::store::{Condition, Index, Item, Key, Page, Query, SortKeyCondition, StoreError, Table};

use super::{decode, encode, indexed, key_of, keyed, tenant};

pub const ENTITY: &str = "api_key";

pub fn key(hash: &str) -> Key {
    Key::new(format!("APIKEY#{hash}"), "KEY")
}

/// The hash of an API-key key.
pub fn hash_of(key: &Key) -> Option<&str> {
    (key.sk == "KEY").then_some(())?;
    key.pk.strip_prefix("APIKEY#")
}

fn tenant_keys_partition(tenant: &str) -> String {
    tenant::sub(tenant, "APIKEYS")
}

/// GSI1 of an API key: a tenant's keys, by key id.
pub fn gsi1(tenant: &str, key_id: &str) -> (String, String) {
    (tenant_keys_partition(tenant), format!("KEY#{key_id}"))
}

pub fn item(record: &ApiKey, hash: &str) -> Result<Item, StoreError> {
    let item = keyed(encode(record)?, key(hash), ENTITY);
    Ok(indexed(
        item,
        Index::Gsi1,
        gsi1(&record.tenant_id, &record.key_id),
    ))
}

pub async fn put_new(table: &dyn Table, record: &ApiKey, hash: &str) -> Result<(), StoreError> {
    table
        .put(item(record, hash)?, Some(Condition::ItemNotExists))
        .await
}

pub async fn load(table: &dyn Table, hash: &str) -> Result<Option<ApiKey>, StoreError> {
    let key = key(hash);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item).map(Some),
        None => Ok(None),
    }
}

/// A tenant's keys (pattern 22), a page at a time.
pub fn tenant_keys_query(tenant: &str) -> Query {
    Query::partition(tenant_keys_partition(tenant)).on(Index::Gsi1)
}

/// One page of a tenant's keys.
pub async fn tenant_keys_page(
    table: &dyn Table,
    tenant: &str,
    limit: usize,
    start_after: Option<Item>,
) -> Result<(Vec<ApiKey>, Option<Item>), StoreError> {
    let Page { items, next } = table
        .query(
            tenant_keys_query(tenant)
                .limit(limit)
                .start_after(start_after),
        )
        .await?;
    let keys = items
        .into_iter()
        .map(|i| decode(None, i))
        .collect::<Result<Vec<ApiKey>, _>>()?;
    Ok((keys, next))
}

/// Deletes a tenant's key by id; `false` when the tenant has no such key.
pub async fn delete_by_id(
    table: &dyn Table,
    tenant: &str,
    key_id: &str,
) -> Result<bool, StoreError> {
    let (_, sk) = gsi1(tenant, key_id);
    let page = table
        .query(tenant_keys_query(tenant).sort(SortKeyCondition::Equals(sk)))
        .await?;
    let Some(key) = page.items.first().and_then(key_of) else {
        return Ok(false);
    };
    table.delete(&key, None).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_keys_round_trip() {
        let k = key("abc");
        assert_eq!(k, Key::new("APIKEY#abc", "KEY"));
        assert_eq!(hash_of(&k), Some("abc"));
        assert_eq!(
            gsi1("t", "k1"),
            ("TENANT#t#APIKEYS".into(), "KEY#k1".into())
        );
        assert_eq!(tenant_keys_query("t").partition, "TENANT#t#APIKEYS");
    }
}
