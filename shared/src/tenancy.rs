//! Which tenant an AWS account belongs to. Every event is attributed through this link;
//! nothing is ever read across tenants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{keys, to_item, from_item, AttrValue, Condition, StoreError, Table, PK, SK};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Set up, role not yet verified.
    Pending,
    Active,
    /// Beyond the plan's account limit: events are dropped, data kept.
    Paused,
    /// Disconnected by the customer: data purged 72 hours later.
    Disconnecting,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountLink {
    pub account_id: String,
    pub tenant_id: String,
    pub status: AccountStatus,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    pub connected_at: DateTime<Utc>,
    #[serde(default)]
    pub status_changed_at: Option<DateTime<Utc>>,
}

impl AccountLink {
    pub fn to_item(&self) -> Result<crate::store::Item, StoreError> {
        let mut item = to_item(self).map_err(|e| StoreError::Decode {
            key: None,
            source: e,
        })?;
        let key = keys::account_link(&self.account_id);
        let (gsi_pk, gsi_sk) = keys::account_link_gsi1(&self.tenant_id, &self.account_id);
        item.insert(PK.into(), AttrValue::S(key.pk));
        item.insert(SK.into(), AttrValue::S(key.sk));
        item.insert("GSI1PK".into(), AttrValue::S(gsi_pk));
        item.insert("GSI1SK".into(), AttrValue::S(gsi_sk));
        item.insert("entity".into(), AttrValue::S("account_link".into()));
        Ok(item)
    }
}

pub async fn account_link(table: &dyn Table, account: &str) -> Result<Option<AccountLink>, StoreError> {
    let key = keys::account_link(account);
    match table.get(&key).await? {
        Some(item) => from_item(item).map(Some).map_err(|e| StoreError::Decode {
            key: Some(key),
            source: e,
        }),
        None => Ok(None),
    }
}

/// Links an account to a tenant unless it is already linked (to anyone). Returns the link
/// that holds afterwards.
pub async fn link_account_if_absent(
    table: &dyn Table,
    link: &AccountLink,
) -> Result<AccountLink, StoreError> {
    match table.put(link.to_item()?, Some(Condition::ItemNotExists)).await {
        Ok(()) => Ok(link.clone()),
        Err(e) if e.is_condition_failed() => account_link(table, &link.account_id)
            .await?
            .ok_or_else(|| StoreError::Backend("account link vanished".into())),
        Err(e) => Err(e),
    }
}
