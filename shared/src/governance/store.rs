//! Governance state in the table: per-tenant and per-account overrides (validated on write,
//! tightened on read) and the accounts' promotion out of the new-account strict period.

use chrono::{DateTime, Utc};

use super::{
    effective_policy, validate_override, AccountContext, GovernanceError, Policy, PolicyOverride,
};
use crate::store::{from_item, keys, to_item, AttrValue, Key, StoreError, Table, Update, PK, SK};

#[derive(Debug, thiserror::Error)]
pub enum PolicyStoreError {
    #[error(transparent)]
    Governance(#[from] GovernanceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn load(table: &dyn Table, key: Key) -> Result<Option<PolicyOverride>, StoreError> {
    match table.get(&key).await? {
        Some(item) => {
            let item = item
                .into_iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "PK" | "SK" | "entity" | "updated_at" | "updated_by"
                    )
                })
                .collect();
            from_item(item).map(Some).map_err(|e| StoreError::Decode {
                key: Some(key),
                source: e,
            })
        }
        None => Ok(None),
    }
}

async fn save(
    table: &dyn Table,
    system: &Policy,
    key: Key,
    o: &PolicyOverride,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), PolicyStoreError> {
    validate_override(system, o)?;
    let mut item = to_item(o).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })?;
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("policy_override".into()));
    item.insert("updated_at".into(), AttrValue::S(keys::time_key(&now)));
    item.insert("updated_by".into(), AttrValue::S(by.to_owned()));
    table.put(item, None).await?;
    Ok(())
}

pub async fn tenant_override(
    table: &dyn Table,
    tenant: &str,
) -> Result<Option<PolicyOverride>, StoreError> {
    load(table, keys::policy_override_tenant(tenant)).await
}

pub async fn account_override(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Option<PolicyOverride>, StoreError> {
    load(table, keys::policy_override_account(tenant, account)).await
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
    save(
        table,
        system,
        keys::policy_override_tenant(tenant),
        o,
        by,
        now,
    )
    .await
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
    save(
        table,
        system,
        keys::policy_override_account(tenant, account),
        o,
        by,
        now,
    )
    .await
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
    let promoted_at = table
        .get(&keys::account_governance(tenant, account))
        .await?
        .and_then(|item| {
            item.get("promoted_at")
                .and_then(AttrValue::as_str)
                .map(str::to_owned)
        })
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc));
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
    table
        .update(
            &keys::account_governance(tenant, account),
            Update::new()
                .set_if_absent("promoted_at", keys::time_key(&now))
                .set("entity", "account_governance"),
        )
        .await
        .map(|_| ())
}
