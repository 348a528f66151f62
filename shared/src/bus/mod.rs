//! The event bus port: stages publish domain events by detail-type; the routing table
//! decides which queue receives them and what they are ordered by.

pub mod queues;
pub mod routing;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use queues::QueueBus;
pub use routing::{OrderedBy, Route, RoutingTable};

/// A domain event to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    pub detail_type: String,
    pub detail: Value,
    /// The tenant the event belongs to: events of one tenant (or one tenant's account, as the
    /// route says) are delivered in order, different tenants' concurrently.
    pub tenant: String,
    /// The AWS account the event is about (empty when it is about no account).
    pub account: String,
    pub region: String,
}

/// The envelope every internal message carries (EventBridge's shape, which the ingest queue
/// also carries), so consumers parse one shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// The W3C trace context of the span that sent it (decision 0710). First, so that it comes
    /// before any outside data in the body (`telemetry::trace::traceparent_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
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

/// SQS's limit on one message (256 KiB).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
