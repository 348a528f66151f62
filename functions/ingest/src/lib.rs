//! The ingest function: the front door. CloudTrail events from the dd0c bus (drained in
//! batches from the inbox queue the ingest rule delivers to) and drift reports from agents go
//! onto the ingest FIFO queue, grouped by account so that each account's events are normalized
//! in order, and deduplicated by the CloudTrail eventID.

pub mod drift_reports;
pub mod inbox;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dd0c_shared::domain::cloudtrail::records_in;
use dd0c_shared::domain::{IngestMessage, RecordError};
use dd0c_shared::queue::{is_valid_fifo_id, OutgoingMessage, Queue, QueueError};
use dd0c_shared::store::{StoreError, Table};
use dd0c_shared::telemetry::trace::{self, Span, SpanContext};
use dd0c_shared::telemetry::{self, Metric};
use dd0c_shared::tenancy::{self, AccountStatus};
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
    #[error("could not read the account link: {0}")]
    Store(#[from] StoreError),
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

/// The ingest queue's message for one CloudTrail record: its body, its group (the account)
/// and its deduplication id (the eventID).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSend {
    message: OutgoingMessage,
    /// The record's eventID, which names its trace.
    event_id: Option<String>,
}

impl IngestSend {
    pub fn of_record(record: &str) -> Self {
        let probe: RecordProbe = serde_json::from_str(record).unwrap_or_default();
        // The record's own fields are outside bytes: one SQS would refuse as a group or
        // deduplication id must not fail the whole event (the normalizer judges the record).
        let group = probe
            .recipient_account_id
            .or(probe.user_identity.and_then(|u| u.account_id))
            .filter(|a| is_valid_fifo_id(a))
            .unwrap_or_else(|| "unknown-account".to_owned());
        let body = match (&probe.event_id, trace::installed()) {
            (Some(id), true) => IngestMessage::cloudtrail_body_traced(
                record,
                &SpanContext::of_cloudtrail_event(id).traceparent(),
            ),
            _ => IngestMessage::cloudtrail_body(record),
        };
        let dedup = match &probe.event_id {
            Some(id) if is_valid_fifo_id(id) => id.clone(),
            _ => hex::encode(Sha256::digest(body.as_bytes())),
        };
        Self {
            message: OutgoingMessage::new(body, group, dedup),
            event_id: probe.event_id,
        }
    }
}

pub struct Ingest {
    queue: Arc<dyn Queue>,
    gate: Option<AccountGate>,
}

impl Ingest {
    pub fn new(queue: Arc<dyn Queue>) -> Self {
        Self { queue, gate: None }
    }

    /// On AWS the bus accepts CloudTrail events from any account (onboarding needs no operator,
    /// docs/decisions/0810-open-bus-onboarding.md): events of accounts that no tenant has
    /// connected are dropped here, before they cost a queue message.
    pub fn with_account_gate(mut self, table: Arc<dyn Table>) -> Self {
        self.gate = Some(AccountGate::new(table));
        self
    }

    /// Enqueues one CloudTrail record given as JSON text. A record without an eventID still
    /// goes through (the normalizer dead-letters it with its reason) under a content hash.
    pub async fn forward_raw(&self, record: &str) -> Result<(), IngestError> {
        self.forward(IngestSend::of_record(record)).await
    }

    /// Enqueues a message made by [`IngestSend::of_record`] (which needs no `Ingest`: a
    /// replay makes it on the thread that reads its input).
    pub async fn forward(&self, message: IngestSend) -> Result<(), IngestError> {
        let mut span = IngestSpan::start(&message);
        let sent = self.queue.send(INGEST_QUEUE, message.message).await;
        span.end(sent.as_ref().err());
        sent?;
        Ok(())
    }

    /// Enqueues messages in SendMessageBatch requests: one result per message, in order.
    pub async fn forward_all(&self, messages: Vec<IngestSend>) -> Vec<Result<(), IngestError>> {
        let mut spans: Vec<IngestSpan> = messages.iter().map(IngestSpan::start).collect();
        let sent = self
            .queue
            .send_batch(
                INGEST_QUEUE,
                messages.into_iter().map(|m| m.message).collect(),
            )
            .await;
        sent.into_iter()
            .zip(spans.iter_mut())
            .map(|(result, span)| {
                span.end(result.as_ref().err());
                result.map(|_| ()).map_err(IngestError::from)
            })
            .collect()
    }

    /// Handles an EventBridge event ("AWS API Call via CloudTrail") delivered by the ingest rule;
    /// returns how many records were enqueued.
    pub async fn handle_eventbridge(&self, event: Value) -> Result<usize, IngestError> {
        let admitted = self.admit(event).await?;
        let forwarded = admitted.messages.len();
        for message in admitted.messages {
            self.forward(message).await?;
        }
        count_metrics(forwarded, admitted.dropped);
        Ok(forwarded)
    }

    /// The ingest queue's messages for an EventBridge event's records. The envelope's
    /// `account` is set by EventBridge to the account that put the event, so it is trusted over
    /// the record's own fields: a record that names another account is dropped, and so is one
    /// of an account no tenant has connected.
    pub async fn admit(&self, event: Value) -> Result<Admitted, IngestError> {
        let sender = event
            .get("account")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        let records = records_in(event)?;
        let mut admitted = Admitted::default();
        for record in records {
            let named = record.get("recipientAccountId").and_then(Value::as_str);
            if let (Some(sender), Some(named)) = (sender.as_deref(), named) {
                if sender != named {
                    tracing::warn!(%sender, %named, "record names another account than its sender; dropped");
                    admitted.dropped += 1;
                    continue;
                }
            }
            if let (Some(gate), Some(account)) = (&self.gate, sender.as_deref().or(named)) {
                if !gate.admits(account).await? {
                    tracing::info!(%account, "event of an account no tenant has connected; dropped");
                    admitted.dropped += 1;
                    continue;
                }
            }
            admitted
                .messages
                .push(IngestSend::of_record(&record.to_string()));
        }
        Ok(admitted)
    }
}

/// What [`Ingest::admit`] lets through, and how many records it dropped.
#[derive(Debug, Default)]
pub struct Admitted {
    pub messages: Vec<IngestSend>,
    pub dropped: usize,
}

/// What one invocation forwarded and dropped, counted once (the metric line is written at the
/// invocation's end).
fn count_metrics(forwarded: usize, dropped: usize) {
    if forwarded > 0 {
        telemetry::metric(Metric::EventsReceived, forwarded as f64);
    }
    if dropped > 0 {
        telemetry::metric(Metric::EventsDropped, dropped as f64);
    }
}

/// The root span of a sampled event's trace: its time at the front door.
struct IngestSpan(Option<Span>);

impl IngestSpan {
    fn start(message: &IngestSend) -> Self {
        Self(match (&message.event_id, trace::installed()) {
            (Some(id), true) => {
                let mut span = Span::of_cloudtrail_event("ingest", id);
                span.set("cloud.account.id", message.message.group_id.as_str());
                Some(span)
            }
            _ => None,
        })
    }

    fn end(&mut self, error: Option<&QueueError>) {
        if let Some(mut span) = self.0.take() {
            if let Some(e) = error {
                span.fail(e);
            }
            span.end();
        }
    }
}

/// Whether an account is connected (an active link to a tenant), remembered for a short while:
/// a busy account costs one table read per minute, not one per event, and a newly connected
/// account is admitted within [`AccountGate::UNKNOWN_TTL`].
pub struct AccountGate {
    table: Arc<dyn Table>,
    seen: Mutex<HashMap<String, (bool, Instant)>>,
}

impl AccountGate {
    const KNOWN_TTL: Duration = Duration::from_secs(60);
    const UNKNOWN_TTL: Duration = Duration::from_secs(10);
    /// Bounds the memory a flood of unknown accounts can take.
    const MAX_REMEMBERED: usize = 10_000;

    pub fn new(table: Arc<dyn Table>) -> Self {
        Self {
            table,
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub async fn admits(&self, account: &str) -> Result<bool, IngestError> {
        if let Some((admitted, at)) = self.remembered(account) {
            let ttl = if admitted {
                Self::KNOWN_TTL
            } else {
                Self::UNKNOWN_TTL
            };
            if at.elapsed() < ttl {
                return Ok(admitted);
            }
        }
        let admitted = tenancy::account_link(self.table.as_ref(), account)
            .await?
            .is_some_and(|link| link.status == AccountStatus::Active);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= Self::MAX_REMEMBERED {
            seen.clear();
        }
        seen.insert(account.to_owned(), (admitted, Instant::now()));
        Ok(admitted)
    }

    fn remembered(&self, account: &str) -> Option<(bool, Instant)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(account).copied()
    }
}
