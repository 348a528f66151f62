//! The latest zombie scan of an account (`A` / `ZOMBIES`), written when the account is
//! connected (API) and read by the digest.

use serde::{de::DeserializeOwned, Serialize};

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
