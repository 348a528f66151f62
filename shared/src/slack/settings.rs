//! A tenant's Slack state in the table: routing (default and per-account channels), the
//! installation (encrypted bot token, broken when revoked) and the team → tenant link.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::{ChatError, ChatSink};
use crate::store::{
    from_item, keys, to_item, AttrValue, Item, Key, StoreError, Table, Update, PK, SK,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlackSettings {
    #[serde(default)]
    pub default_channel: Option<String>,
    /// AWS account id → channel.
    #[serde(default)]
    pub account_channels: BTreeMap<String, String>,
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

/// Stores an installation and links its team to the tenant.
pub async fn put_installation(
    table: &dyn Table,
    installation: &Installation,
) -> Result<(), StoreError> {
    let item = with_key(
        encode(installation)?,
        keys::slack_installation(&installation.tenant_id),
        "slack_installation",
    );
    table.put(item, None).await?;
    let mut link = Item::new();
    link.insert(
        "tenant_id".into(),
        AttrValue::S(installation.tenant_id.clone()),
    );
    table
        .put(
            with_key(link, keys::slack_team(&installation.team_id), "slack_team"),
            None,
        )
        .await
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
