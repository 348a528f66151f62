//! Governance state: a tenant's and an account's tightening of the system policy
//! (`T` / `POLICY`, `A` / `POLICY`: a `governance::PolicyOverride` with who changed it when)
//! and an account's promotion out of the new-account strict period (`A` / `GOVERNANCE`).

use chrono::{DateTime, Utc};

use crate::governance::PolicyOverride;
use crate::store::{AttrValue, Item, Key, StoreError, Table, Update};

use super::{account, decode, encode, keyed, strip_keys, tenant, time_key, ENTITY};

pub const OVERRIDE_ENTITY: &str = "policy_override";
pub const ACCOUNT_GOVERNANCE_ENTITY: &str = "account_governance";

/// Where an override applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Tenant(&'a str),
    Account(&'a str, &'a str),
}

pub fn tenant_override_key(tenant: &str) -> Key {
    Key::new(tenant::pk(tenant), "POLICY")
}

pub fn account_override_key(tenant: &str, account: &str) -> Key {
    Key::new(account::pk(tenant, account), "POLICY")
}

pub fn override_key(scope: Scope<'_>) -> Key {
    match scope {
        Scope::Tenant(t) => tenant_override_key(t),
        Scope::Account(t, a) => account_override_key(t, a),
    }
}

pub fn override_item(
    scope: Scope<'_>,
    o: &PolicyOverride,
    by: &str,
    now: &DateTime<Utc>,
) -> Result<Item, StoreError> {
    let mut item = keyed(encode(o)?, override_key(scope), OVERRIDE_ENTITY);
    item.insert("updated_at".into(), AttrValue::S(time_key(now)));
    item.insert("updated_by".into(), AttrValue::S(by.to_owned()));
    Ok(item)
}

pub async fn load_override(
    table: &dyn Table,
    scope: Scope<'_>,
) -> Result<Option<PolicyOverride>, StoreError> {
    let key = override_key(scope);
    match table.get(&key).await? {
        Some(item) => {
            let item = strip_keys(item)
                .into_iter()
                .filter(|(k, _)| !matches!(k.as_str(), "updated_at" | "updated_by"))
                .collect();
            decode(Some(key), item).map(Some)
        }
        None => Ok(None),
    }
}

/// Governance state of an account (`promoted_at`: left the new-account strict period).
pub fn account_governance_key(tenant: &str, account: &str) -> Key {
    Key::new(account::pk(tenant, account), "GOVERNANCE")
}

pub async fn promoted_at(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(table
        .get(&account_governance_key(tenant, account))
        .await?
        .and_then(|item| {
            item.get("promoted_at")
                .and_then(AttrValue::as_str)
                .map(str::to_owned)
        })
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// The promotion: once (`if_not_exists`), never undone.
pub async fn promote(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    now: &DateTime<Utc>,
) -> Result<(), StoreError> {
    table
        .update(
            &account_governance_key(tenant, account),
            Update::new()
                .set_if_absent("promoted_at", time_key(now))
                .set(ENTITY, ACCOUNT_GOVERNANCE_ENTITY),
        )
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governance_keys() {
        assert_eq!(
            override_key(Scope::Tenant("t")),
            Key::new("TENANT#t", "POLICY")
        );
        assert_eq!(
            override_key(Scope::Account("t", "1")),
            Key::new("TENANT#t#ACCOUNT#1", "POLICY")
        );
        assert_eq!(account_governance_key("t", "1").sk, "GOVERNANCE");
    }
}
