//! A tenant's Slack routing and digest time (`T` / `SLACK#SETTINGS`): default and per-account
//! channels, digest time zone and hour.

use crate::slack::settings::{SettingsChange, SlackSettings};
use crate::store::{Item, Key, StoreError, Table, Update};

use super::{decode, encode, keyed, strip_keys, tenant, ENTITY};

pub const SETTINGS_ENTITY: &str = "slack_settings";

pub fn key(tenant: &str) -> Key {
    Key::new(tenant::pk(tenant), "SLACK#SETTINGS")
}

pub fn item(tenant: &str, settings: &SlackSettings) -> Result<Item, StoreError> {
    Ok(keyed(encode(settings)?, key(tenant), SETTINGS_ENTITY))
}

pub async fn load(table: &dyn Table, tenant: &str) -> Result<SlackSettings, StoreError> {
    let key = key(tenant);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), strip_keys(item)),
        None => Ok(SlackSettings::default()),
    }
}

pub async fn put(
    table: &dyn Table,
    tenant: &str,
    settings: &SlackSettings,
) -> Result<(), StoreError> {
    table.put(item(tenant, settings)?, None).await
}

/// Applies a change in one update (other settings untouched) and returns the settings after.
pub async fn change(
    table: &dyn Table,
    tenant: &str,
    change: &SettingsChange,
) -> Result<SlackSettings, StoreError> {
    let key = key(tenant);
    let mut update = Update::new().set(ENTITY, SETTINGS_ENTITY);
    if let Some(channel) = &change.default_channel {
        update = update.set("default_channel", channel.as_str());
    }
    if let Some(zone) = &change.digest_time_zone {
        update = update.set("digest_time_zone", zone.as_str());
    }
    if let Some(hour) = change.digest_hour {
        update = update.set("digest_hour", u64::from(hour));
    }
    let item = table.update(&key, update).await?;
    decode(Some(key), strip_keys(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_key() {
        assert_eq!(key("t"), Key::new("TENANT#t", "SLACK#SETTINGS"));
        let item = item("t", &SlackSettings::default()).unwrap();
        assert_eq!(item[ENTITY].as_str(), Some(SETTINGS_ENTITY));
    }
}
