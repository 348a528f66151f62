//! Kept until the function crates are migrated: storing findings is the finding entity's
//! (`crate::entity::finding`).

pub use crate::entity::finding::{
    all as all_findings, item as finding_item, load as load_finding, mark_published,
    record as record_finding, record_notification, Recorded,
};
