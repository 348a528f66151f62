//! Which tenant an AWS account belongs to. Every event is attributed through this link;
//! nothing is ever read across tenants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{from_item, keys, to_item, AttrValue, Condition, StoreError, Table, PK, SK};

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
        let (all_pk, all_sk) = keys::account_link_gsi2(&self.tenant_id, &self.account_id);
        item.insert("GSI2PK".into(), AttrValue::S(all_pk));
        item.insert("GSI2SK".into(), AttrValue::S(all_sk));
        item.insert("entity".into(), AttrValue::S("account_link".into()));
        Ok(item)
    }
}

pub async fn account_link(
    table: &dyn Table,
    account: &str,
) -> Result<Option<AccountLink>, StoreError> {
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
    match table
        .put(link.to_item()?, Some(Condition::ItemNotExists))
        .await
    {
        Ok(()) => Ok(link.clone()),
        Err(e) if e.is_condition_failed() => account_link(table, &link.account_id)
            .await?
            .ok_or_else(|| StoreError::Backend("account link vanished".into())),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Membership: which tenant a signed-in user belongs to (docs/decisions/0610-tenant-from-subject.md)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Membership {
    pub subject: String,
    pub tenant_id: String,
    pub joined_at: DateTime<Utc>,
}

/// The tenant of the user with this identity-provider subject, if the user has signed in before.
pub async fn member_tenant(table: &dyn Table, subject: &str) -> Result<Option<String>, StoreError> {
    let key = keys::user_membership(subject);
    match table.get(&key).await? {
        Some(item) => from_item::<Membership>(item)
            .map(|m| Some(m.tenant_id))
            .map_err(|e| StoreError::Decode {
                key: Some(key),
                source: e,
            }),
        None => Ok(None),
    }
}

/// The user's tenant, created at the first sign-in: a new user gets a new tenant. The write is
/// conditional, so two first requests racing agree on one tenant.
pub async fn tenant_of_user(
    table: &dyn Table,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    if let Some(tenant) = member_tenant(table, subject).await? {
        return Ok(tenant);
    }
    let membership = Membership {
        subject: subject.to_owned(),
        tenant_id: format!("t-{}", uuid::Uuid::new_v4().simple()),
        joined_at: now,
    };
    add_member(table, &membership).await
}

/// Writes a membership unless the subject already has one; returns the tenant that holds.
pub async fn add_member(table: &dyn Table, membership: &Membership) -> Result<String, StoreError> {
    let mut item = to_item(membership).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })?;
    let key = keys::user_membership(&membership.subject);
    item.insert(PK.into(), AttrValue::S(key.pk.clone()));
    item.insert(SK.into(), AttrValue::S(key.sk.clone()));
    item.insert("entity".into(), AttrValue::S("membership".into()));
    match table.put(item, Some(Condition::ItemNotExists)).await {
        Ok(()) => Ok(membership.tenant_id.clone()),
        Err(e) if e.is_condition_failed() => member_tenant(table, &membership.subject)
            .await?
            .ok_or_else(|| StoreError::Backend("membership vanished".into())),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Tenant profile: plan and billing (API and Stripe webhook)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    #[default]
    Free,
    Pro,
}

/// Connected AWS accounts the free plan allows.
pub const FREE_ACCOUNT_LIMIT: u32 = 1;

/// A tenant's profile item (`keys::tenant_profile`). Absent means a free tenant with nothing
/// set up yet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TenantProfile {
    pub tenant_id: String,
    #[serde(default)]
    pub plan: Plan,
    /// Paid accounts (Stripe subscription quantity); the pro plan's account limit.
    #[serde(default)]
    pub account_quantity: Option<u32>,
    #[serde(default)]
    pub stripe_customer_id: Option<String>,
    #[serde(default)]
    pub stripe_subscription_id: Option<String>,
    /// `created` of the Stripe event the billing state comes from: older events never
    /// overwrite it (webhooks arrive out of order).
    #[serde(default)]
    pub billing_event_created: Option<i64>,
    /// The ExternalId of the latest `POST /v1/accounts/setup`.
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub external_id_created_at: Option<DateTime<Utc>>,
}

impl TenantProfile {
    pub fn account_limit(&self) -> u32 {
        match self.plan {
            Plan::Free => FREE_ACCOUNT_LIMIT,
            Plan::Pro => self.account_quantity.unwrap_or(1).max(1),
        }
    }
}

pub async fn tenant_profile(table: &dyn Table, tenant: &str) -> Result<TenantProfile, StoreError> {
    let key = keys::tenant_profile(tenant);
    match table.get(&key).await? {
        Some(item) => from_item(item).map_err(|e| StoreError::Decode {
            key: Some(key),
            source: e,
        }),
        None => Ok(TenantProfile {
            tenant_id: tenant.to_owned(),
            ..TenantProfile::default()
        }),
    }
}

/// Every account link of a tenant (bounded: a tenant has at most hundreds of accounts).
pub async fn tenant_accounts(
    table: &dyn Table,
    tenant: &str,
) -> Result<Vec<AccountLink>, StoreError> {
    let (gsi_pk, _) = keys::account_link_gsi1(tenant, "");
    let query = crate::store::Query::partition(gsi_pk).on(crate::store::Index::Gsi1);
    crate::store::query_all(table, query)
        .await?
        .into_iter()
        .map(|item| {
            from_item(item).map_err(|e| StoreError::Decode {
                key: None,
                source: e,
            })
        })
        .collect()
}

/// Every tenant with at least one account link (any status: a disconnecting account still
/// needs its purge), in order, each once. For system jobs only (the hourly digest tick): it
/// reads the `ACCOUNTLINKS` partition of GSI2, one item per connected account.
pub async fn list_tenants(table: &dyn Table) -> Result<Vec<String>, StoreError> {
    let query =
        crate::store::Query::partition(keys::ACCOUNT_LINKS_GSI2PK).on(crate::store::Index::Gsi2);
    let tenants: std::collections::BTreeSet<String> = crate::store::query_all(table, query)
        .await?
        .into_iter()
        .filter_map(|item| match item.get("tenant_id") {
            Some(AttrValue::S(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        })
        .collect();
    Ok(tenants.into_iter().collect())
}
