//! API keys for agents: the plain key is shown once; only its SHA-256 is stored, as the
//! item's key, so authenticating is one GetItem.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::entity::api_key;
use crate::store::{StoreError, Table};

pub const PREFIX: &str = "dd0c_";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiKey {
    pub key_id: String,
    pub tenant_id: String,
    pub name: String,
    /// The first characters of the plain key, to recognise it in a list.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
}

pub fn hash_key(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

/// A new random key (`dd0c_` + 32 random bytes, hex).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

/// Stores a new key for the tenant; returns the record and the plain key (shown once).
pub async fn create(
    table: &dyn Table,
    tenant: &str,
    name: &str,
    created_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(ApiKey, String), StoreError> {
    let plain = generate();
    let record = ApiKey {
        key_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.to_owned(),
        name: name.to_owned(),
        prefix: plain[..PREFIX.len() + 6].to_owned(),
        created_at: now,
        created_by: created_by.map(str::to_owned),
    };
    api_key::put_new(table, &record, &hash_key(&plain)).await?;
    Ok((record, plain))
}

/// The tenant and key id of a presented key (`Bearer dd0c_…`, `ApiKey dd0c_…` or the bare key).
pub async fn authenticate(
    table: &dyn Table,
    header_value: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let value = header_value.trim();
    let plain = value
        .split_once(' ')
        .map(|(_, k)| k.trim())
        .unwrap_or(value);
    if !plain.starts_with(PREFIX) || plain.len() > 128 {
        return Ok(None);
    }
    let Some(record) = api_key::load(table, &hash_key(plain)).await? else {
        return Ok(None);
    };
    Ok(Some((record.tenant_id, record.key_id)))
}

/// One page of a tenant's keys (never the hashes).
pub async fn list(
    table: &dyn Table,
    tenant: &str,
    limit: usize,
    start_after: Option<crate::store::Item>,
) -> Result<(Vec<ApiKey>, Option<crate::store::Item>), StoreError> {
    api_key::tenant_keys_page(table, tenant, limit, start_after).await
}

/// Deletes a tenant's key by id; `false` when the tenant has no such key.
pub async fn revoke(table: &dyn Table, tenant: &str, key_id: &str) -> Result<bool, StoreError> {
    api_key::delete_by_id(table, tenant, key_id).await
}
