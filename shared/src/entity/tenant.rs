//! The tenant: its partition `T` and its profile item (plan and billing, `T` / `PROFILE`),
//! written by the API (`POST /v1/accounts/setup`) and the Stripe webhook.

use crate::store::{Key, StoreError, Table, Update};
use crate::tenancy::TenantProfile;

use super::{after, decode, ENTITY};

/// The entity name of the profile item.
pub const PROFILE_ENTITY: &str = "tenant";
const PREFIX: &str = "TENANT#";

/// `T`: the partition of a tenant's own items, and the start of every tenant-scoped key.
pub fn pk(tenant: &str) -> String {
    // Keys are made for every read and write: concatenation, not the formatting machinery.
    [PREFIX, tenant].concat()
}

/// The tenant a partition (`T…`) belongs to, when its tenant id has no `#`.
pub fn tenant_of(partition: &str) -> Option<&str> {
    let rest = after(partition, PREFIX)?;
    Some(rest.split('#').next().unwrap_or(rest))
}

/// A tenant-scoped partition under `T`: `T#<suffix>`.
pub(crate) fn sub(tenant: &str, suffix: &str) -> String {
    [PREFIX, tenant, "#", suffix].concat()
}

pub fn profile_key(tenant: &str) -> Key {
    Key::new(pk(tenant), "PROFILE")
}

/// Marks an update of the profile item as the tenant entity's (updates create the item).
pub fn profile_update(update: Update) -> Update {
    update.set(ENTITY, PROFILE_ENTITY)
}

/// A tenant's profile; absent means a free tenant with nothing set up yet.
pub async fn load_profile(table: &dyn Table, tenant: &str) -> Result<TenantProfile, StoreError> {
    let key = profile_key(tenant);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item),
        None => Ok(TenantProfile {
            tenant_id: tenant.to_owned(),
            ..TenantProfile::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_keys() {
        assert_eq!(pk("t1"), "TENANT#t1");
        assert_eq!(profile_key("t1"), Key::new("TENANT#t1", "PROFILE"));
        assert_eq!(sub("t1", "AUDIT"), "TENANT#t1#AUDIT");
        assert_eq!(tenant_of(&pk("t-1")), Some("t-1"));
        assert_eq!(tenant_of(&sub("t-1", "STACKS")), Some("t-1"));
        assert_eq!(tenant_of("ACCOUNT#1"), None);
    }
}
