//! The notifier: findings in, Slack alerts out (or held), every decision governed by the
//! policy (`dd0c_shared::governance`), recorded on the finding and logged.

pub mod breaker;
mod handler;

pub use handler::{Decision, Notifier, NotifierConfig};
