//! A tenant's Slack state in the table: routing (default and per-account channels), the
//! installation (encrypted bot token, broken when revoked) and the team → tenant link.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::{ChatError, ChatSink};
use crate::store::{
    from_item, keys, to_item, AttrValue, Condition, Item, Key, StoreError, Table, Update, PK, SK,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlackSettings {
    #[serde(default)]
    pub default_channel: Option<String>,
    /// AWS account id → channel.
    #[serde(default)]
    pub account_channels: BTreeMap<String, String>,
    /// IANA time zone of the daily digest, e.g. `Europe/Berlin` (absent: UTC).
    #[serde(default)]
    pub digest_time_zone: Option<String>,
    /// Local hour (0-23) the daily digest goes out at (absent: [`DEFAULT_DIGEST_HOUR`]).
    #[serde(default)]
    pub digest_hour: Option<u8>,
}

/// The digest goes out at 09:00 in the tenant's time zone unless the tenant chose an hour.
pub const DEFAULT_DIGEST_HOUR: u8 = 9;

/// A digest time setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestTimeError {
    #[error("digest_time_zone: unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("digest_hour must be 0-23")]
    Hour(i64),
}

impl DigestTimeError {
    /// The settings field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            DigestTimeError::UnknownTimeZone(_) => "digest_time_zone",
            DigestTimeError::Hour(_) => "digest_hour",
        }
    }
}

/// Resolves an IANA time zone name (`Europe/Berlin`, `UTC`), exactly as spelled.
pub fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz, DigestTimeError> {
    name.parse::<chrono_tz::Tz>()
        .map_err(|_| DigestTimeError::UnknownTimeZone(name.to_owned()))
}

/// A digest hour: 0-23.
pub fn parse_digest_hour(hour: i64) -> Result<u8, DigestTimeError> {
    u8::try_from(hour)
        .ok()
        .filter(|h| *h < 24)
        .ok_or(DigestTimeError::Hour(hour))
}

impl SlackSettings {
    /// The digest's time zone and local hour. A stored zone that no longer resolves (tz data
    /// dropped a name) or an out-of-range hour falls back to the default rather than skipping
    /// the tenant's digest.
    pub fn digest_time(&self) -> (chrono_tz::Tz, u8) {
        let zone = self
            .digest_time_zone
            .as_deref()
            .and_then(|z| parse_time_zone(z).ok())
            .unwrap_or(chrono_tz::Tz::UTC);
        let hour = self
            .digest_hour
            .filter(|h| *h < 24)
            .unwrap_or(DEFAULT_DIGEST_HOUR);
        (zone, hour)
    }
}

/// A change of some settings; `None` leaves a setting as it is. Values must be validated
/// (`parse_time_zone`, `parse_digest_hour`) before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    pub default_channel: Option<String>,
    pub digest_time_zone: Option<String>,
    pub digest_hour: Option<u8>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InstallationStatus {
    Active,
    /// The token was revoked or the app uninstalled: nothing is posted until a reinstall.
    Broken,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Installation {
    pub tenant_id: String,
    pub team_id: String,
    #[serde(default)]
    pub team_name: Option<String>,
    #[serde(default)]
    pub bot_user_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `crypto::Sealed`, serialised (never the plain token).
    pub token: serde_json::Value,
    pub status: InstallationStatus,
    #[serde(default)]
    pub broken_reason: Option<String>,
    #[serde(default)]
    pub broken_at: Option<DateTime<Utc>>,
    pub installed_at: DateTime<Utc>,
    #[serde(default)]
    pub installed_by: Option<String>,
    /// The channel the installer chose on Slack's consent page (`incoming-webhook` scope):
    /// alerts go there unless the tenant routes them elsewhere.
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub channel_name: Option<String>,
    /// `crypto::Sealed` incoming-webhook URL of that channel: the fallback when the bot cannot
    /// post to the routed channel (the URL is a credential, so it is sealed like the token).
    #[serde(default)]
    pub webhook: Option<serde_json::Value>,
    /// Why the last alert could not go to its channel (e.g. `not_in_channel: #ops`), until an
    /// alert goes through again: the dashboard shows it with what to fix.
    #[serde(default)]
    pub channel_problem: Option<String>,
    #[serde(default)]
    pub channel_problem_at: Option<DateTime<Utc>>,
}

fn strip(item: Item) -> Item {
    item.into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "PK" | "SK" | "entity"))
        .collect()
}

fn with_key(mut item: Item, key: Key, entity: &str) -> Item {
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S(entity.into()));
    item
}

fn decode<T: serde::de::DeserializeOwned>(key: Key, item: Item) -> Result<T, StoreError> {
    from_item(strip(item)).map_err(|e| StoreError::Decode {
        key: Some(key),
        source: e,
    })
}

fn encode<T: Serialize>(v: &T) -> Result<Item, StoreError> {
    to_item(v).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })
}

pub async fn load_settings(table: &dyn Table, tenant: &str) -> Result<SlackSettings, StoreError> {
    let key = keys::slack_settings(tenant);
    match table.get(&key).await? {
        Some(item) => decode(key, item),
        None => Ok(SlackSettings::default()),
    }
}

pub async fn put_settings(
    table: &dyn Table,
    tenant: &str,
    settings: &SlackSettings,
) -> Result<(), StoreError> {
    let item = with_key(
        encode(settings)?,
        keys::slack_settings(tenant),
        "slack_settings",
    );
    table.put(item, None).await
}

/// Applies a change in one update (other settings untouched) and returns the settings after.
pub async fn update_settings(
    table: &dyn Table,
    tenant: &str,
    change: &SettingsChange,
) -> Result<SlackSettings, StoreError> {
    let key = keys::slack_settings(tenant);
    let mut update = Update::new().set("entity", "slack_settings");
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
    decode(key, item)
}

pub async fn load_installation(
    table: &dyn Table,
    tenant: &str,
) -> Result<Option<Installation>, StoreError> {
    let key = keys::slack_installation(tenant);
    match table.get(&key).await? {
        Some(item) => decode(key, item).map(Some),
        None => Ok(None),
    }
}

/// Why an installation was not stored.
#[derive(Debug, thiserror::Error)]
pub enum InstallationError {
    /// The workspace is already connected to another tenant; letting a later install rebind it
    /// would hand that tenant's alerts and buttons to whoever got an admin to click a link.
    #[error("Slack team {team_id} is connected to another tenant")]
    TeamOfAnotherTenant { team_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Links the installation's team to its tenant, then stores the installation. The link is
/// written only if the team has none or already names this tenant (a conditional write, so
/// two tenants racing for one workspace cannot both win).
pub async fn put_installation(
    table: &dyn Table,
    installation: &Installation,
) -> Result<(), InstallationError> {
    let tenant = installation.tenant_id.as_str();
    let mut link = Item::new();
    link.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    let this_tenants_or_nobodys = Condition::Or(vec![
        Condition::ItemNotExists,
        Condition::Equals("tenant_id".into(), AttrValue::S(tenant.to_owned())),
    ]);
    match table
        .put(
            with_key(link, keys::slack_team(&installation.team_id), "slack_team"),
            Some(this_tenants_or_nobodys),
        )
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_condition_failed() => {
            return Err(InstallationError::TeamOfAnotherTenant {
                team_id: installation.team_id.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    }
    let item = with_key(
        encode(installation)?,
        keys::slack_installation(tenant),
        "slack_installation",
    );
    table.put(item, None).await?;
    Ok(())
}

pub async fn tenant_for_team(
    table: &dyn Table,
    team_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(table.get(&keys::slack_team(team_id)).await?.and_then(|i| {
        i.get("tenant_id")
            .and_then(AttrValue::as_str)
            .map(str::to_owned)
    }))
}

/// Records (or, with `None`, clears) why alerts could not reach their channel.
pub async fn set_channel_problem(
    table: &dyn Table,
    tenant: &str,
    problem: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let update = match problem {
        Some(p) => Update::new()
            .set("channel_problem", p)
            .set("channel_problem_at", keys::time_key(&now)),
        None => Update::new()
            .remove("channel_problem")
            .remove("channel_problem_at"),
    };
    table
        .update(
            &keys::slack_installation(tenant),
            update
                .set("tenant_id", tenant)
                .set("entity", "slack_installation"),
        )
        .await
        .map(|_| ())
}

/// Marks the installation broken (the API reports it; the notifier stops retrying).
pub async fn mark_broken(
    table: &dyn Table,
    tenant: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    table
        .update(
            &keys::slack_installation(tenant),
            Update::new()
                .set("status", "broken")
                .set("broken_reason", reason)
                .set("broken_at", keys::time_key(&now))
                .set("tenant_id", tenant)
                .set("entity", "slack_installation"),
        )
        .await
        .map(|_| ())
}

/// Finds the chat sink of a tenant's workspace.
#[async_trait]
pub trait ChatDirectory: Send + Sync {
    /// `Ok(None)`: the tenant has no working installation (nothing can be posted).
    async fn chat_for(&self, tenant: &str) -> Result<Option<Arc<dyn ChatSink>>, ChatError>;
}

/// One sink for every tenant: the embedded mode, tests, a single-workspace deployment.
pub struct SingleChat(pub Arc<dyn ChatSink>);

#[async_trait]
impl ChatDirectory for SingleChat {
    async fn chat_for(&self, _tenant: &str) -> Result<Option<Arc<dyn ChatSink>>, ChatError> {
        Ok(Some(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_time_defaults_and_validation() {
        // An item written before the digest time existed still loads, as 09:00 UTC.
        let old: SlackSettings =
            serde_json::from_value(serde_json::json!({"default_channel": "#ops"})).unwrap();
        assert_eq!(old.digest_time(), (chrono_tz::Tz::UTC, 9));
        let set = SlackSettings {
            digest_time_zone: Some("America/New_York".into()),
            digest_hour: Some(7),
            ..SlackSettings::default()
        };
        assert_eq!(set.digest_time(), (chrono_tz::Tz::America__New_York, 7));
        assert_eq!(
            parse_time_zone("Mars/Base").unwrap_err().to_string(),
            "digest_time_zone: unknown time zone \"Mars/Base\""
        );
        assert!(parse_time_zone("").is_err());
        assert_eq!(
            parse_time_zone("Europe/Berlin").unwrap(),
            chrono_tz::Tz::Europe__Berlin
        );
        assert_eq!(parse_digest_hour(0), Ok(0));
        assert_eq!(parse_digest_hour(23), Ok(23));
        for bad in [24, -1, 256, i64::MAX] {
            let e = parse_digest_hour(bad).unwrap_err();
            assert_eq!(
                (e.field(), e.to_string().as_str()),
                ("digest_hour", "digest_hour must be 0-23")
            );
        }
    }
}
