//! A one-off notice already sent to a tenant (`T` / `NOTICE#<name>`, e.g. "alerting paused"),
//! claimed with `attribute_not_exists`.

use chrono::{DateTime, Utc};

use crate::store::{put_if_absent, AttrValue, Item, Key, StoreError, Table};

use super::{bare, tenant, time_key};

pub fn key(tenant: &str, name: &str) -> Key {
    Key::new(tenant::pk(tenant), format!("NOTICE#{name}"))
}

/// The notice's item (no `entity` attribute: the format predates it).
pub fn item(tenant: &str, name: &str, at: &DateTime<Utc>) -> Item {
    let mut item = bare(key(tenant, name));
    item.insert("at".into(), AttrValue::S(time_key(at)));
    item
}

/// Claims a notice; `true` when this call is the first (so the notice is to be sent).
pub async fn claim(
    table: &dyn Table,
    tenant: &str,
    name: &str,
    at: &DateTime<Utc>,
) -> Result<bool, StoreError> {
    put_if_absent(table, item(tenant, name, at)).await
}

/// Forgets a notice, so that the next claim sends it again (alerting resumed, then paused).
pub async fn release(table: &dyn Table, tenant: &str, name: &str) -> Result<(), StoreError> {
    table.delete(&key(tenant, name), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_key() {
        assert_eq!(
            key("t", "panic_mode"),
            Key::new("TENANT#t", "NOTICE#panic_mode")
        );
    }
}
