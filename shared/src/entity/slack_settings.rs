//! A tenant's Slack routing and digest time (`T` / `SLACK#SETTINGS`): default and per-account
//! channels, the tag keys and tag values that route, digest time zone and hour. Routing changes
//! are written whole under a version condition (`routing_version`), never blindly over another.

use crate::slack::settings::{SettingsChange, SlackSettings};
use crate::store::{AttrValue, Condition, Item, Key, StoreError, Table, Update};

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
    if let Some(users) = &change.remediators {
        update = update.set(
            "remediators",
            AttrValue::L(users.iter().map(|u| AttrValue::S(u.clone())).collect()),
        );
    }
    if let Some(routing) = &change.routing {
        let map = |m: &std::collections::BTreeMap<String, String>| {
            AttrValue::M(
                m.iter()
                    .map(|(k, v)| (k.clone(), AttrValue::S(v.clone())))
                    .collect(),
            )
        };
        update = update
            .set("account_channels", map(&routing.account_channels))
            .set("tag_channels", map(&routing.tag_channels))
            .set("routing_version", routing.read_version as f64 + 1.0);
        update = match &routing.channel_tag {
            Some(tag) => update.set("channel_tag", tag.as_str()),
            None => update.remove("channel_tag"),
        };
        update = match &routing.mention_tag {
            Some(tag) => update.set("mention_tag", tag.as_str()),
            None => update.remove("mention_tag"),
        };
        update = update.when(if routing.read_version == 0 {
            Condition::Or(vec![
                Condition::AttributeNotExists("routing_version".into()),
                Condition::Equals("routing_version".into(), AttrValue::N(0.0)),
            ])
        } else {
            Condition::Equals(
                "routing_version".into(),
                AttrValue::N(routing.read_version as f64),
            )
        });
    }
    let item = table.update(&key, update).await?;
    decode(Some(key), strip_keys(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_routing_change_from_an_older_version_is_refused() {
        let table =
            crate::store::memory::MemoryTable::new(std::sync::Arc::new(crate::clock::SystemClock));
        use crate::slack::settings::RoutingChange;
        let routing = |read_version, channel: &str| SettingsChange {
            routing: Some(RoutingChange {
                read_version,
                account_channels: [("111122223333".to_owned(), channel.to_owned())].into(),
                channel_tag: Some("team".into()),
                ..RoutingChange::default()
            }),
            ..SettingsChange::default()
        };
        let s = change(&table, "t", &routing(0, "#a")).await.unwrap();
        assert_eq!(s.routing_version, 1);
        assert_eq!(s.account_channels["111122223333"], "#a");
        assert_eq!(s.channel_tag.as_deref(), Some("team"));
        let stale = change(&table, "t", &routing(0, "#b")).await.unwrap_err();
        assert!(stale.is_condition_failed(), "{stale:?}");
        let s = change(&table, "t", &routing(1, "#b")).await.unwrap();
        assert_eq!(
            (
                s.routing_version,
                s.account_channels["111122223333"].as_str()
            ),
            (2, "#b")
        );
    }

    #[test]
    fn settings_key() {
        assert_eq!(key("t"), Key::new("TENANT#t", "SLACK#SETTINGS"));
        let item = item("t", &SlackSettings::default()).unwrap();
        assert_eq!(item[ENTITY].as_str(), Some(SETTINGS_ENTITY));
    }
}
