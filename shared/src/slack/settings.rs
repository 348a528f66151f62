//! A tenant's Slack state in the table: routing (default and per-account channels, the tag
//! keys that route by resource tag), the
//! installation (encrypted bot token, broken when revoked) and the team → tenant link.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::{ChatError, ChatSink};
use crate::entity::{slack_installation, slack_settings};
use crate::store::{StoreError, Table};

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
    /// The resource tag whose value routes an alert (`team`): through [`Self::tag_channels`],
    /// or a value that is a channel itself (`super::routing`).
    #[serde(default)]
    pub channel_tag: Option<String>,
    /// Value of the channel tag → channel (`payments` → `#payments-alerts`).
    #[serde(default)]
    pub tag_channels: BTreeMap<String, String>,
    /// The resource tag whose value is the person to mention (`owner`).
    #[serde(default)]
    pub mention_tag: Option<String>,
    /// Raised by every routing change: a change computed from an older version is refused
    /// (two people editing the routing at once must not lose one's edit).
    #[serde(default)]
    pub routing_version: u64,
    /// Slack user ids of the people who may use the remediation buttons (decision 0520); empty:
    /// nobody.
    #[serde(default)]
    pub remediators: Vec<String>,
}

/// A channel as Slack allows it: `#name` (at most 80 lower-case letters, digits, `-`, `_`) or a
/// channel id (`C…`, `G…`).
pub fn valid_channel(c: &str) -> bool {
    match c.strip_prefix('#') {
        Some(name) => {
            !name.is_empty()
                && name.len() <= 80
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
        }
        None => {
            (9..=20).contains(&c.len())
                && matches!(c.as_bytes()[0], b'C' | b'G')
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
    }
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
    /// A new routing (per-account channels, tag keys and tag values' channels), written whole
    /// when it is still the one [`RoutingChange::read_version`] read.
    pub routing: Option<RoutingChange>,
    /// Who may use the remediation buttons, written whole.
    pub remediators: Option<Vec<String>>,
}

/// The routing after a change, and the version of the settings it was computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingChange {
    pub read_version: u64,
    pub account_channels: BTreeMap<String, String>,
    pub channel_tag: Option<String>,
    pub tag_channels: BTreeMap<String, String>,
    pub mention_tag: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InstallationStatus {
    Active,
    /// The token was revoked or the app uninstalled: nothing is posted until a reinstall.
    Broken,
}

impl InstallationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationStatus::Active => "active",
            InstallationStatus::Broken => "broken",
        }
    }
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

pub async fn load_settings(table: &dyn Table, tenant: &str) -> Result<SlackSettings, StoreError> {
    slack_settings::load(table, tenant).await
}

pub async fn put_settings(
    table: &dyn Table,
    tenant: &str,
    settings: &SlackSettings,
) -> Result<(), StoreError> {
    slack_settings::put(table, tenant, settings).await
}

/// Applies a change in one update (other settings untouched) and returns the settings after.
pub async fn update_settings(
    table: &dyn Table,
    tenant: &str,
    change: &SettingsChange,
) -> Result<SlackSettings, StoreError> {
    slack_settings::change(table, tenant, change).await
}

pub async fn load_installation(
    table: &dyn Table,
    tenant: &str,
) -> Result<Option<Installation>, StoreError> {
    slack_installation::load(table, tenant).await
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

/// Links the installation's team to its tenant, then stores the installation (the team stays
/// with the tenant that first installed it).
pub async fn put_installation(
    table: &dyn Table,
    installation: &Installation,
) -> Result<(), InstallationError> {
    slack_installation::put(table, installation).await
}

pub async fn tenant_for_team(
    table: &dyn Table,
    team_id: &str,
) -> Result<Option<String>, StoreError> {
    slack_installation::tenant_for_team(table, team_id).await
}

/// Records (or, with `None`, clears) why alerts could not reach their channel.
pub async fn set_channel_problem(
    table: &dyn Table,
    tenant: &str,
    problem: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    slack_installation::set_channel_problem(table, tenant, problem, &now).await
}

/// Marks the installation broken (the API reports it; the notifier stops retrying).
pub async fn mark_broken(
    table: &dyn Table,
    tenant: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    slack_installation::mark_broken(table, tenant, reason, &now).await
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
