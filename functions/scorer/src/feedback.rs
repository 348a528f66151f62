//! User feedback on the scorer, written by the API and Slack actions: "mark as expected"
//! (in `dd0c_shared::feedback`, which finding actions call) and the per service/type
//! sensitivity override. Both are attributes of the baseline item, so
//! the scorer reads them with the baseline at no extra cost.

use dd0c_shared::entity::baseline as baseline_entity;
use dd0c_shared::store::{StoreError, Table, Update};

use crate::baseline::SENSITIVITY;
use crate::config::Sensitivity;

pub use dd0c_shared::feedback::mark_expected;

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
            &baseline_entity::key(tenant, account, service, resource_type),
            Update::new().set(SENSITIVITY, sensitivity.as_str()),
        )
        .await
        .map(|_| ())
}
