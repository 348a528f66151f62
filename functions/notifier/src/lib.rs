//! The notifier: findings in, Slack alerts out (or held for the digest).

mod handler;

pub use handler::{Decision, Notifier, NotifierConfig};
