//! The scorer: cost events in, cost-anomaly findings out. Baselines ([`baseline`]) are kept
//! with `ADD` only; the signals ([`signals`]) are pure; thresholds live in [`config`].

pub mod baseline;
pub mod config;
pub mod decision;
pub mod feedback;
mod handler;
pub mod signals;

pub use handler::Scorer;
