//! The normalizer: CloudTrail records in, priced cost events (and, with the drift product,
//! change events) out. The catalogue is pure; [`Normalizer`] does the I/O around it.

pub mod backfill;
pub mod catalogue;
mod drift;
mod handler;
pub mod instances;
mod stats;

pub use backfill::{Backfill, BackfillLimits};
pub use handler::{CostSink, Normalizer, NormalizerConfig, Outcome};
pub use stats::Stats;
