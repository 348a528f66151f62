//! User feedback on the scorer, written by the API and Slack actions: "mark as expected" and
//! the per service/type sensitivity override. Both are attributes of the baseline item, so
//! the scorer reads them with the baseline at no extra cost.

use dd0c_shared::store::{keys, AttrValue, StoreError, Table, Update};

use crate::baseline::{EXPECTED_ACTORS, EXPECTED_TYPES, SENSITIVITY};
use crate::config::Sensitivity;

/// Adds the actor (ARN or name, as the finding shows it) and the sku (instance type, DB class)
/// to the expected sets of a service/type baseline: later events by them score lower.
/// Idempotent (`ADD` to string sets).
pub async fn mark_expected(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    service: &str,
    resource_type: &str,
    actor: &str,
    sku: Option<&str>,
) -> Result<(), StoreError> {
    let mut update = Update::new();
    if !actor.is_empty() {
        update = update.add(EXPECTED_ACTORS, AttrValue::string_set([actor]));
    }
    if let Some(sku) = sku.filter(|s| !s.is_empty()) {
        update = update.add(EXPECTED_TYPES, AttrValue::string_set([sku]));
    }
    if update.add.is_empty() {
        return Ok(());
    }
    table
        .update(
            &keys::baseline(tenant, account, service, resource_type),
            update,
        )
        .await
        .map(|_| ())
}

/// Sets how sensitive scoring of one service/type is.
pub async fn set_sensitivity(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    service: &str,
    resource_type: &str,
    sensitivity: Sensitivity,
) -> Result<(), StoreError> {
    table
        .update(
            &keys::baseline(tenant, account, service, resource_type),
            Update::new().set(SENSITIVITY, sensitivity.as_str()),
        )
        .await
        .map(|_| ())
}
