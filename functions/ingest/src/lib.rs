//! The ingest function: the front door. CloudTrail events from the dd0c bus (and drift
//! reports from agents) go onto the ingest FIFO queue, grouped by account so that each
//! account's events are normalized in order, and deduplicated by the CloudTrail eventID.

pub mod drift_reports;

use std::sync::Arc;

use dd0c_shared::domain::cloudtrail::records_in;
use dd0c_shared::domain::{IngestMessage, RecordError};
use dd0c_shared::queue::{OutgoingMessage, Queue, QueueError};
use dd0c_shared::telemetry;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const INGEST_QUEUE: &str = "ingest";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("could not enqueue: {0}")]
    Queue(#[from] QueueError),
}

/// The two fields the queue needs, read without building the whole record.
#[derive(Deserialize, Default)]
struct RecordProbe {
    #[serde(rename = "eventID", default)]
    event_id: Option<String>,
    #[serde(rename = "recipientAccountId", default)]
    recipient_account_id: Option<String>,
    #[serde(rename = "userIdentity", default)]
    user_identity: Option<IdentityProbe>,
}

#[derive(Deserialize, Default)]
struct IdentityProbe {
    #[serde(rename = "accountId", default)]
    account_id: Option<String>,
}

pub struct Ingest {
    queue: Arc<dyn Queue>,
}

impl Ingest {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue }
    }

    /// Enqueues one CloudTrail record given as JSON text. A record without an eventID still
    /// goes through (the normalizer dead-letters it with its reason) under a content hash.
    pub async fn forward_raw(&self, record: &str) -> Result<(), IngestError> {
        let probe: RecordProbe = serde_json::from_str(record).unwrap_or_default();
        let group = probe
            .recipient_account_id
            .or(probe.user_identity.and_then(|u| u.account_id))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "unknown-account".to_owned());
        let body = IngestMessage::cloudtrail_body(record);
        let dedup = match probe.event_id {
            Some(id) if !id.is_empty() && id.len() <= 128 && id.is_ascii() => id,
            _ => hex::encode(Sha256::digest(body.as_bytes())),
        };
        self.queue
            .send(INGEST_QUEUE, OutgoingMessage::new(body, group, dedup))
            .await?;
        telemetry::metric("EventsReceived", 1.0);
        Ok(())
    }

    /// Handles an EventBridge event ("AWS API Call via CloudTrail") delivered by the ingest rule.
    pub async fn handle_eventbridge(&self, event: Value) -> Result<usize, IngestError> {
        let records = records_in(event)?;
        let n = records.len();
        for record in records {
            self.forward_raw(&record.to_string()).await?;
        }
        Ok(n)
    }
}
