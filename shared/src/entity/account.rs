//! A connected AWS account's partition `A` (`T#ACCOUNT#<account>`): everything dd0c keeps
//! about one account of a tenant (events, baselines, resource specs, settings, governance
//! state, zombie scan), deleted as a whole when the account is purged. Its settings item
//! (`A` / `SETTINGS`) holds the drift settings.

use serde::{Deserialize, Serialize};

use crate::store::{query_all, AttrValue, Key, Query, StoreError, Table, Update};

use super::{key_of, tenant};

/// `A`: the partition of everything dd0c keeps about one connected account of a tenant.
pub fn pk(tenant: &str, account: &str) -> String {
    tenant::sub(tenant, &["ACCOUNT#", account].concat())
}

/// The tenant and account of an `A` partition (ids without `#`).
pub fn parse_pk(pk: &str) -> Option<(&str, &str)> {
    let tenant = tenant::tenant_of(pk)?;
    let account = pk
        .strip_prefix(&tenant::pk(tenant))?
        .strip_prefix("#ACCOUNT#")?;
    (!account.is_empty() && !account.contains('#')).then_some((tenant, account))
}

/// Every item of an account (the purge).
pub fn everything(tenant: &str, account: &str) -> Query {
    Query::partition(pk(tenant, account))
}

/// An account's items whose sort key starts with `prefix` (e.g. `EVENT#`).
pub(crate) fn items_starting(tenant: &str, account: &str, prefix: &str) -> Query {
    everything(tenant, account).begins_with(prefix)
}

/// Deletes every item of the account's partition (the link is the caller's: see
/// [`super::account_link::purge`]).
pub async fn delete_everything(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<(), StoreError> {
    for item in query_all(table, everything(tenant, account)).await? {
        if let Some(key) = key_of(&item) {
            table.delete(&key, None).await?;
        }
    }
    Ok(())
}

/// Drift settings of an account (deployer role ARNs, Terraform workspace): attributes
/// `deployer_role_arns` and `terraform_workspace` on the account's settings item.
pub fn settings_key(tenant: &str, account: &str) -> Key {
    Key::new(pk(tenant, account), "SETTINGS")
}

/// Per-account drift configuration (on the account's settings item).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DriftSettings {
    /// Role (or user) ARNs that apply IaC in this account; their changes are never drift.
    #[serde(default)]
    pub deployer_role_arns: Vec<String>,
    /// The Terraform workspace this account's Terraform changes belong to (the stack).
    #[serde(default)]
    pub terraform_workspace: Option<String>,
}

pub async fn drift_settings(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<DriftSettings, StoreError> {
    // Settings change by hand, rarely: read a moment late, they act as if changed a moment
    // later (decision 1040).
    let Some(item) = table.get_eventually(&settings_key(tenant, account)).await? else {
        return Ok(DriftSettings::default());
    };
    let deployer_role_arns = match item.get("deployer_role_arns") {
        Some(AttrValue::L(l)) => l
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(AttrValue::Ss(s)) => s.iter().cloned().collect(),
        _ => Vec::new(),
    };
    Ok(DriftSettings {
        deployer_role_arns,
        terraform_workspace: item
            .get("terraform_workspace")
            .and_then(AttrValue::as_str)
            .map(str::to_owned),
    })
}

/// Writes the drift attributes of an account's settings item, leaving its other attributes.
pub async fn set_drift_settings(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    settings: &DriftSettings,
) -> Result<(), StoreError> {
    let arns = AttrValue::L(
        settings
            .deployer_role_arns
            .iter()
            .map(|a| AttrValue::S(a.clone()))
            .collect(),
    );
    let mut update = Update::new().set("deployer_role_arns", arns);
    update = match &settings.terraform_workspace {
        Some(w) => update.set("terraform_workspace", w.as_str()),
        None => update.remove("terraform_workspace"),
    };
    table
        .update(&settings_key(tenant, account), update)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_partition_round_trips() {
        let a = pk("t1", "111122223333");
        assert_eq!(a, "TENANT#t1#ACCOUNT#111122223333");
        assert_eq!(parse_pk(&a), Some(("t1", "111122223333")));
        assert_eq!(parse_pk("TENANT#t1#STACKS"), None);
        assert_eq!(
            settings_key("t1", "1"),
            Key::new("TENANT#t1#ACCOUNT#1", "SETTINGS")
        );
        assert_eq!(everything("t1", "1").partition, "TENANT#t1#ACCOUNT#1");
    }
}
