//! The event bus port: stages publish domain events by detail-type; the routing table
//! decides which queue receives them.

#[cfg(feature = "aws")]
pub mod eventbridge;
pub mod memory;
pub mod routing;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use routing::{Route, RoutingTable};

/// A domain event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    pub detail_type: String,
    pub detail: Value,
    /// The account (or stack) the event is about, for the envelope and logs.
    pub account: String,
    pub region: String,
}

/// The EventBridge envelope as it reaches an SQS queue from a rule (and as the embedded bus
/// writes it), so consumers parse one shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    #[serde(default)]
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub account: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("no route for detail-type {0:?}: add it to shared/routing.json")]
    NoRoute(String),
    #[error("event too large or malformed: {0}")]
    Invalid(String),
    #[error("bus backend failed: {0}")]
    Backend(String),
}

impl BusError {
    /// Only the backend can get better by itself; a missing route or an oversized event
    /// fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BusError::Backend(_))
    }
}

#[async_trait]
pub trait Bus: Send + Sync {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError>;
}

/// EventBridge's limit on one entry (256 KiB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
