//! The latest zombie scan of an account (`A` / `ZOMBIES`, an `accounts::zombie::AccountScan`):
//! written when the account is connected (the API, one region) and every day (every enabled
//! region, on a [`ZombieScanRequest`] from the digest's hourly tick), read by the API's account
//! health and by the digest (docs/decisions/0620-daily-zombie-scan.md).

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::bus::BusEvent;
use crate::store::{Item, Key, StoreError, Table};

use super::{account, decode, encode, keyed, strip_keys};

pub const ENTITY: &str = "zombie_scan";

pub fn key(tenant: &str, account: &str) -> Key {
    Key::new(account::pk(tenant, account), "ZOMBIES")
}

pub fn item<T: Serialize>(tenant: &str, account: &str, scan: &T) -> Result<Item, StoreError> {
    Ok(keyed(encode(scan)?, key(tenant, account), ENTITY))
}

pub async fn put<T: Serialize>(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    scan: &T,
) -> Result<(), StoreError> {
    table.put(item(tenant, account, scan)?, None).await
}

pub async fn load<T: DeserializeOwned>(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Option<T>, StoreError> {
    let key = key(tenant, account);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), strip_keys(item)).map(Some),
        None => Ok(None),
    }
}

/// The bus event that asks for an account's daily scan (`shared/routing.json`: the `zombies`
/// queue, one message group per account).
pub const REQUEST_DETAIL_TYPE: &str = "dd0c.ZombieScanRequest";

/// Scan every enabled region of an account, unless a scan of every region is stored that ran
/// at or after `requested_at` (a redelivery, or a request queued behind one already served).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZombieScanRequest {
    pub tenant_id: String,
    pub account_id: String,
    /// The tick's scheduled time: the same on a retried tick, so the bus's deduplication drops
    /// the repeat.
    pub requested_at: DateTime<Utc>,
}

impl ZombieScanRequest {
    /// The bus event carrying this request.
    pub fn event(&self) -> BusEvent {
        BusEvent {
            detail_type: REQUEST_DETAIL_TYPE.into(),
            detail: serde_json::json!({
                "tenant_id": self.tenant_id,
                "account_id": self.account_id,
                "requested_at": super::time_key(&self.requested_at),
            }),
            tenant: self.tenant_id.clone(),
            account: self.account_id.clone(),
            region: String::new(),
        }
    }
}
