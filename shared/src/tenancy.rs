//! Which tenant an AWS account belongs to. Every event is attributed through this link;
//! nothing is ever read across tenants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::entity::{account_link as link_entity, membership as membership_entity, tenant};
use crate::store::{StoreError, Table};

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

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Paused => "paused",
            AccountStatus::Disconnecting => "disconnecting",
        }
    }
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
    /// The optional remediation role (the stack's `RemediationRoleArn` output), assumed with
    /// the same ExternalId; `None`: dd0c changes nothing in the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation_role_arn: Option<String>,
    pub connected_at: DateTime<Utc>,
    #[serde(default)]
    pub status_changed_at: Option<DateTime<Utc>>,
}

impl AccountLink {
    /// The link's item (`entity::account_link::item`).
    pub fn to_item(&self) -> Result<crate::store::Item, StoreError> {
        link_entity::item(self)
    }
}

pub async fn account_link(
    table: &dyn Table,
    account: &str,
) -> Result<Option<AccountLink>, StoreError> {
    link_entity::load(table, account).await
}

/// Links an account to a tenant unless it is already linked (to anyone). Returns the link
/// that holds afterwards.
pub async fn link_account_if_absent(
    table: &dyn Table,
    link: &AccountLink,
) -> Result<AccountLink, StoreError> {
    link_entity::link_if_absent(table, link).await
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
    Ok(membership_entity::load(table, subject)
        .await?
        .map(|m| m.tenant_id))
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
    if membership_entity::put_if_absent(table, membership).await? {
        return Ok(membership.tenant_id.clone());
    }
    member_tenant(table, &membership.subject)
        .await?
        .ok_or_else(|| StoreError::Backend("membership vanished".into()))
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

/// A tenant's profile item (`entity::tenant::profile_key`). Absent means a free tenant with nothing
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
    tenant::load_profile(table, tenant).await
}

/// Every account link of a tenant (`entity::account_link::tenant_accounts`).
pub async fn tenant_accounts(
    table: &dyn Table,
    tenant: &str,
) -> Result<Vec<AccountLink>, StoreError> {
    link_entity::tenant_accounts(table, tenant).await
}

/// Every tenant with at least one account link, for system jobs only
/// (`entity::account_link::all_tenants`).
pub async fn list_tenants(table: &dyn Table) -> Result<Vec<String>, StoreError> {
    link_entity::all_tenants(table).await
}
