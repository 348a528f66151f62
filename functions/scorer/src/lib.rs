//! The scorer: cost events in, cost-anomaly findings out.

mod handler;
pub mod signals;

pub use handler::Scorer;
