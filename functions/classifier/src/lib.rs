//! The drift classifier: drift events in (from the `classify` queue), drift findings out.
//! Severity and category come from the rules data file (`functions/classifier/rules.json`,
//! validated at start-up); each finding also carries attribution, a cause and a
//! recommendation, and the stack's drift score is recomputed on every drift and resolution.

pub mod cause;
pub mod codify;
pub mod handler;
pub mod rules;

pub use handler::Classifier;
pub use rules::{Classification, RuleEngine};
