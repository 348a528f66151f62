//! Kept until the function crates are migrated: the drift product's storage is its entities'
//! (`crate::entity::{account, resource, drift_event, stack, drift_report}`).

pub use crate::entity::account::{drift_settings, set_drift_settings, DriftSettings};
pub use crate::entity::drift_event::{
    drift_for_resource, drift_for_stack, record_drift_event, set_drift_severity, set_drift_status,
    StoredDrift,
};
pub use crate::entity::drift_report::{delete_report_parts, put_report_part, report_parts};
pub use crate::entity::resource::{
    changes_between, managed_resource, put_managed_resource, record_change_event,
};
pub use crate::entity::stack::{list_stacks, load_stack, put_stack, refresh_stack_score};
