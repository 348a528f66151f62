//! Governance state in the table: per-tenant and per-account overrides (validated on write,
//! tightened on read) and the accounts' promotion out of the new-account strict period.

use chrono::{DateTime, Utc};

use super::{
    effective_policy, validate_override, AccountContext, GovernanceError, Policy, PolicyOverride,
};
use crate::entity::governance::{self as entity, Scope};
use crate::store::{StoreError, Table};

#[derive(Debug, thiserror::Error)]
pub enum PolicyStoreError {
    #[error(transparent)]
    Governance(#[from] GovernanceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn save(
    table: &dyn Table,
    system: &Policy,
    scope: Scope<'_>,
    o: &PolicyOverride,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), PolicyStoreError> {
    validate_override(system, o)?;
    table
        .put(entity::override_item(scope, o, by, &now)?, None)
        .await?;
    Ok(())
}

pub async fn tenant_override(
    table: &dyn Table,
    tenant: &str,
) -> Result<Option<PolicyOverride>, StoreError> {
    entity::load_override(table, Scope::Tenant(tenant)).await
}

pub async fn account_override(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Option<PolicyOverride>, StoreError> {
    entity::load_override(table, Scope::Account(tenant, account)).await
}

/// Stores a tenant's override after checking it only tightens `system`.
pub async fn put_tenant_override(
    table: &dyn Table,
    system: &Policy,
    tenant: &str,
    o: &PolicyOverride,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), PolicyStoreError> {
    save(table, system, Scope::Tenant(tenant), o, by, now).await
}

/// Stores an account's override after checking it only tightens `system`.
pub async fn put_account_override(
    table: &dyn Table,
    system: &Policy,
    tenant: &str,
    account: &str,
    o: &PolicyOverride,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), PolicyStoreError> {
    save(table, system, Scope::Account(tenant, account), o, by, now).await
}

/// The policy that applies to one account of a tenant, read from the table.
pub async fn policy_for_account(
    table: &dyn Table,
    system: &Policy,
    tenant: &str,
    account: &str,
) -> Result<Policy, StoreError> {
    let t = tenant_override(table, tenant).await?;
    let a = account_override(table, tenant, account).await?;
    Ok(effective_policy(system, t.as_ref(), a.as_ref()))
}

/// The account's link age and promotion, for [`super::decide`].
pub async fn account_context(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<AccountContext, StoreError> {
    let link = crate::tenancy::account_link(table, account)
        .await?
        .filter(|l| l.tenant_id == tenant);
    let promoted_at = entity::promoted_at(table, tenant, account).await?;
    Ok(AccountContext {
        connected_at: link.map(|l| l.connected_at),
        promoted_at,
    })
}

/// Marks an account as out of its new-account strict period (the digest job).
pub async fn promote_account(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    entity::promote(table, tenant, account, &now).await
}

/// The notice the notifier sends once when alerting is paused (`entity::notice`).
pub const PAUSED_NOTICE: &str = "panic_mode";

/// Pauses (panic mode in the tenant's override) or resumes all of a tenant's alerts; findings
/// are still scored and recorded. Resuming forgets the "alerting paused" notice, so the next
/// pause announces itself again. Returns whether the tenant is paused now (a system-wide panic
/// mode cannot be lifted by a tenant).
pub async fn set_paused(
    table: &dyn Table,
    system: &Policy,
    tenant: &str,
    paused: bool,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, PolicyStoreError> {
    let mut o = tenant_override(table, tenant).await?.unwrap_or_default();
    o.panic_mode = paused.then_some(true);
    put_tenant_override(table, system, tenant, &o, by, now).await?;
    if !paused {
        crate::entity::notice::release(table, tenant, PAUSED_NOTICE).await?;
    }
    Ok(paused || system.panic_mode)
}
