//! The domain model shared by every stage.

pub mod actor;
pub mod cloudtrail;
pub mod cost;
pub mod drift;
pub mod finding;
pub mod incident;
pub mod ingest;
pub mod stack_discovery;

pub use actor::{Actor, ActorKind, IacTool, Source};
pub use cloudtrail::{CloudTrailRecord, RecordError, CLOUDTRAIL_DETAIL_TYPE};
pub use cost::{CostAction, CostEvent, COST_EVENT_DETAIL_TYPE};
pub use finding::{
    Finding, FindingKind, FindingStatus, Severity, UnknownStatus, FINDING_DETAIL_TYPE,
};
pub use ingest::IngestMessage;
