//! The normalizer: CloudTrail records in, priced cost events (and, with the drift product,
//! change events) out. The catalogue is pure; [`Normalizer`] does the I/O around it.

mod account_jobs;
pub mod backfill;
pub mod catalogue;
mod drift;
mod handler;
pub mod instances;
pub mod stack_discovery;
mod stats;

pub use account_jobs::AccountJobs;
pub use backfill::{Backfill, BackfillLimits};
pub use handler::{CostSink, Normalizer, NormalizerConfig, Outcome};
pub use stack_discovery::StackDiscovery;
pub use stats::Stats;
