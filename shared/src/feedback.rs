//! What people teach the scorer: "mark as expected" adds the finding's actor and instance
//! type (or DB class) to the expected sets of its account × service × resource-type baseline,
//! so later events by them score lower. Written from the Slack button and the dashboard (through
//! [`crate::finding_actions`]) and read by the scorer with the baseline at no extra cost.

use crate::entity::baseline;
use crate::store::{StoreError, Table};

pub use baseline::{EXPECTED_ACTORS, EXPECTED_TYPES};

/// Adds `actor` and `sku` to the expected sets of one baseline. Idempotent (`ADD` to string
/// sets), so a double click or a retried request changes nothing more.
pub async fn mark_expected(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    service: &str,
    resource_type: &str,
    actor: &str,
    sku: Option<&str>,
) -> Result<(), StoreError> {
    // A multi-type event stores its sku as "a,b": each type is expected on its own.
    let skus: Vec<&str> = sku
        .into_iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    baseline::add_expected(
        table,
        &baseline::key(tenant, account, service, resource_type),
        Some(actor),
        &skus,
    )
    .await
}
