//! Lambda's SQS batch semantics for FIFO queues, shared by every consumer on AWS and by the
//! embedded pipeline: messages of a batch are handled in order; a failure is reported as a
//! partial batch failure, and so is every later message of the same group (so order holds);
//! a message that fails on its last allowed receive is moved to the dead-letter queue by the
//! consumer itself, with its error as a message attribute, so the reason is never lost.

use crate::telemetry::trace::{self, Span};
use std::collections::HashSet;
use std::future::Future;

use async_trait::async_trait;

use crate::queue::{dlq_name, OutgoingMessage, Queue, ERROR_ATTRIBUTE, MAX_RECEIVE_COUNT};

/// One message of a batch, whichever way it arrived (a Lambda SQS event or the embedded queue).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchMessage {
    pub message_id: String,
    pub body: String,
    pub group_id: String,
    pub receive_count: u32,
}

/// Why a message could not be handled. What happens next follows from the variant alone:
/// a message that can never succeed is dead-lettered on its first receive (holding its FIFO
/// group for retries would only delay the messages behind it); the others are retried until
/// their last allowed receive.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message itself is bad; it will never succeed.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The message is well formed but what it asks for cannot be done however often it is
    /// tried (the store rejects the write, a stored item cannot be read back).
    #[error("cannot succeed: {0}")]
    Permanent(String),
    /// A dependency failed; a later attempt may succeed.
    #[error("{0}")]
    Transient(String),
    /// A dependency asked us to come back later (Slack's 429 Retry-After): the message goes
    /// back to the queue invisible for that long.
    #[error("{reason} (retry after {retry_after_seconds}s)")]
    RetryAfter {
        reason: String,
        retry_after_seconds: u64,
    },
}

impl HandlerError {
    pub fn transient(e: impl std::fmt::Display) -> Self {
        HandlerError::Transient(e.to_string())
    }
    pub fn malformed(e: impl std::fmt::Display) -> Self {
        HandlerError::Malformed(e.to_string())
    }
    pub fn retry_after(e: impl std::fmt::Display, seconds: u64) -> Self {
        HandlerError::RetryAfter {
            reason: e.to_string(),
            retry_after_seconds: seconds,
        }
    }
    /// Whether retrying is pointless, so the message goes to the DLQ at once.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            HandlerError::Malformed(_) | HandlerError::Permanent(_)
        )
    }
    /// How long the message should stay invisible before the next attempt, when the
    /// failure says so.
    pub fn visibility_delay(&self) -> Option<u64> {
        match self {
            HandlerError::RetryAfter {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

/// The one classification of the ports' errors into retry or DLQ; handlers use `?`.
impl From<crate::store::StoreError> for HandlerError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_retryable() {
            HandlerError::Transient(e.to_string())
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

impl From<crate::bus::BusError> for HandlerError {
    fn from(e: crate::bus::BusError) -> Self {
        if e.is_retryable() {
            HandlerError::Transient(e.to_string())
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

impl From<crate::queue::QueueError> for HandlerError {
    fn from(e: crate::queue::QueueError) -> Self {
        if e.is_retryable() {
            HandlerError::Transient(e.to_string())
        } else {
            HandlerError::Permanent(e.to_string())
        }
    }
}

impl From<crate::finding_actions::ActionError> for HandlerError {
    fn from(e: crate::finding_actions::ActionError) -> Self {
        use crate::finding_actions::ActionError;
        match e {
            ActionError::Store(e) => e.into(),
            other => HandlerError::Permanent(other.to_string()),
        }
    }
}

/// A stage that consumes one queue.
#[async_trait]
pub trait MessageHandler: Send + Sync {
    async fn handle(&self, body: &str) -> Result<(), HandlerError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message_id: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub succeeded: Vec<String>,
    /// To report as batch item failures (they stay on the queue).
    pub failures: Vec<Failure>,
    /// Moved to the dead-letter queue (and so reported as done).
    pub dead_lettered: Vec<Failure>,
    /// Failed messages that asked for a visibility delay (message id → seconds): the
    /// consumer changes their visibility so the retry waits that long.
    pub visibility_delays: std::collections::BTreeMap<String, u64>,
}

/// Handles a batch in order with FIFO group semantics. `source_queue` names the queue the
/// batch came from; its dead-letter queue receives exhausted messages.
pub async fn process_batch<'a, F, Fut>(
    messages: &'a [BatchMessage],
    source_queue: &str,
    dead_letters: &dyn Queue,
    mut handle: F,
) -> BatchOutcome
where
    F: FnMut(&'a BatchMessage) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let mut outcome = BatchOutcome::default();
    let mut failed_groups: HashSet<&str> = HashSet::new();
    for message in messages {
        if failed_groups.contains(message.group_id.as_str()) {
            outcome.failures.push(Failure {
                message_id: message.message_id.clone(),
                reason: "an earlier message of its group failed".into(),
            });
            continue;
        }
        if message.receive_count > MAX_RECEIVE_COUNT {
            // Its earlier receives ended without an answer: whatever handles it dies first.
            let reason = format!(
                "received {} times; the earlier attempts ended without an answer (the function crashed or timed out while handling it)",
                message.receive_count
            );
            tracing::error!(queue = source_queue, message_id = %message.message_id, "{reason}");
            match dead_letter(dead_letters, source_queue, message, &reason).await {
                Ok(()) => outcome.dead_lettered.push(Failure {
                    message_id: message.message_id.clone(),
                    reason,
                }),
                Err(e) => {
                    tracing::error!(queue = source_queue, error = %e, "dead-lettering failed");
                    failed_groups.insert(message.group_id.as_str());
                    outcome.failures.push(Failure {
                        message_id: message.message_id.clone(),
                        reason,
                    });
                }
            }
            continue;
        }
        let (reason, permanent, delay) = match handle(message).await {
            Ok(()) => {
                outcome.succeeded.push(message.message_id.clone());
                continue;
            }
            Err(e) => (e.to_string(), e.is_permanent(), e.visibility_delay()),
        };
        tracing::warn!(
            queue = source_queue,
            message_id = %message.message_id,
            receive_count = message.receive_count,
            error = %reason,
            "message failed"
        );
        if permanent || message.receive_count >= MAX_RECEIVE_COUNT {
            match dead_letter(dead_letters, source_queue, message, &reason).await {
                Ok(()) => {
                    outcome.dead_lettered.push(Failure {
                        message_id: message.message_id.clone(),
                        reason,
                    });
                    continue;
                }
                Err(e) => {
                    tracing::error!(queue = source_queue, error = %e, "dead-lettering failed")
                }
            }
        }
        failed_groups.insert(message.group_id.as_str());
        // Only a message left on the queue waits: a dead-lettered one is deleted.
        if let Some(delay) = delay {
            outcome
                .visibility_delays
                .insert(message.message_id.clone(), delay);
        }
        outcome.failures.push(Failure {
            message_id: message.message_id.clone(),
            reason,
        });
    }
    outcome
}

/// Moves a message to its queue's dead-letter queue with the reason it could not be handled.
pub async fn dead_letter(
    queue: &dyn Queue,
    source_queue: &str,
    message: &BatchMessage,
    reason: &str,
) -> Result<(), crate::queue::QueueError> {
    // SQS message attributes are limited in size; the reason is for people, keep it short.
    let reason: String = reason.chars().take(1000).collect();
    let outgoing = OutgoingMessage::new(
        message.body.clone(),
        message.group_id.clone(),
        message.message_id.clone(),
    )
    .with_attribute(ERROR_ATTRIBUTE, reason)
    .with_attribute("dd0c-source-queue", source_queue)
    .with_attribute("dd0c-receive-count", message.receive_count.to_string());
    queue.send(&dlq_name(source_queue), outgoing).await?;
    crate::telemetry::metric(crate::telemetry::Metric::DeadLettered, 1.0);
    Ok(())
}

/// Runs a [`MessageHandler`] over a batch.
pub async fn run_handler(
    handler: &dyn MessageHandler,
    messages: &[BatchMessage],
    source_queue: &str,
    dead_letters: &dyn Queue,
) -> BatchOutcome {
    let outcome = process_batch(messages, source_queue, dead_letters, |m| {
        let body = m.body.as_str();
        let group = &m.group_id;
        let message_id = m.message_id.as_str();
        async move {
            if !trace::installed() {
                return handler.handle(body).await;
            }
            // One span per message, a child of the span that sent it (decision 0710).
            // Named as OpenTelemetry's messaging conventions name a consumer's span.
            let mut span = Span::child_of(
                &format!("{source_queue} process"),
                trace::traceparent_in(body),
            );
            span.set("messaging.destination.name", source_queue);
            // The message group names the tenant and account (`<tenant>/<account>`, `<tenant>`),
            // or only the account on the ingest queue (no tenant is known there yet).
            let (tenant, account) = match group.split_once('/') {
                Some((t, a)) => (t, a),
                None if crate::accounts::is_account_id(group) => ("", group.as_str()),
                None => (group.as_str(), ""),
            };
            span.set("messaging.message.id", message_id);
            if !tenant.is_empty() {
                span.set("dd0c.tenant_id", tenant);
            }
            if !account.is_empty() {
                span.set("cloud.account.id", account);
            }
            span.run(handler.handle(body)).await
        }
    })
    .await;
    // The embedded pipeline's batches end here; on Lambda the invocation flushes again (empty).
    crate::telemetry::flush_metrics_of(source_queue);
    outcome
}

/// Makes each failure that asked for a delay (Slack's Retry-After) invisible for that long;
/// without this it would come back after the queue's visibility timeout. `receipt_of` finds
/// a message's receipt handle by its id. SQS caps a visibility timeout at 12 hours.
pub async fn apply_visibility_delays<'a>(
    queue: &dyn Queue,
    source_queue: &str,
    outcome: &BatchOutcome,
    receipt_of: impl Fn(&str) -> Option<&'a str>,
) {
    for (message_id, seconds) in &outcome.visibility_delays {
        let Some(receipt) = receipt_of(message_id) else {
            continue;
        };
        let delay = std::time::Duration::from_secs((*seconds).min(43_200));
        if let Err(e) = queue.change_visibility(source_queue, receipt, delay).await {
            tracing::warn!(queue = source_queue, %message_id, error = %e, "could not delay the retry");
        }
    }
}

#[cfg(test)]
mod visibility_delay_tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::queue::memory::MemoryQueue;

    #[tokio::test]
    async fn a_retry_after_failure_carries_its_delay_and_blocks_its_group() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let dlq = MemoryQueue::new(["alerts", "alerts-dlq"], clock);
        let msg = |id: &str, group: &str| BatchMessage {
            message_id: id.into(),
            body: id.into(),
            group_id: group.into(),
            receive_count: 1,
        };
        let batch = [msg("m1", "g"), msg("m2", "g"), msg("m3", "h")];
        let outcome = process_batch(&batch, "alerts", &dlq, |m| {
            let id = m.message_id.clone();
            async move {
                match id.as_str() {
                    "m1" => Err(HandlerError::retry_after("rate limited", 30)),
                    "m3" => Err(HandlerError::transient("down")),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(outcome.visibility_delays.get("m1"), Some(&30));
        assert_eq!(outcome.visibility_delays.len(), 1);
        let failed: Vec<&str> = outcome
            .failures
            .iter()
            .map(|f| f.message_id.as_str())
            .collect();
        assert_eq!(failed, ["m1", "m2", "m3"]);
        assert!(outcome.failures[0].reason.contains("retry after 30s"));
    }

    fn first_receive(id: &str, group: &str) -> BatchMessage {
        BatchMessage {
            message_id: id.into(),
            body: id.into(),
            group_id: group.into(),
            receive_count: 1,
        }
    }

    #[tokio::test]
    async fn a_message_that_can_never_succeed_is_dead_lettered_on_its_first_receive() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let dlq = MemoryQueue::new(["score", "score-dlq"], clock);
        let batch = [
            first_receive("bad", "g"),
            first_receive("invalid", "g"),
            first_receive("after", "g"),
            first_receive("down", "h"),
        ];
        let outcome = process_batch(&batch, "score", &dlq, |m| {
            let id = m.message_id.clone();
            async move {
                match id.as_str() {
                    "bad" => Err(HandlerError::malformed("no detail")),
                    "invalid" => {
                        Err(crate::store::StoreError::Invalid("item too large".into()).into())
                    }
                    "down" => Err(crate::store::StoreError::Backend("throttled".into()).into()),
                    _ => Ok(()),
                }
            }
        })
        .await;
        let dead: Vec<&str> = outcome
            .dead_lettered
            .iter()
            .map(|f| f.message_id.as_str())
            .collect();
        assert_eq!(dead, ["bad", "invalid"]);
        // Its group is not held: the next message of the group was handled.
        assert_eq!(outcome.succeeded, ["after"]);
        // A backend failure is retried, not dead-lettered.
        let failed: Vec<&str> = outcome
            .failures
            .iter()
            .map(|f| f.message_id.as_str())
            .collect();
        assert_eq!(failed, ["down"]);
        let in_dlq = dlq
            .receive("score-dlq", 10, std::time::Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(in_dlq.len(), 2);
        assert_eq!(
            in_dlq[1]
                .attributes
                .get(crate::queue::ERROR_ATTRIBUTE)
                .map(String::as_str),
            Some("cannot succeed: invalid request: item too large")
        );
    }

    struct Recorder {
        bodies: std::sync::Mutex<Vec<String>>,
    }

    #[async_trait]
    impl MessageHandler for Recorder {
        async fn handle(&self, body: &str) -> Result<(), HandlerError> {
            self.bodies.lock().unwrap().push(body.to_owned());
            match body {
                "not json" => Err(HandlerError::malformed("expected a JSON object")),
                "flaky" => Err(HandlerError::transient("timeout")),
                _ => Ok(()),
            }
        }
    }

    #[tokio::test]
    async fn a_handler_sees_every_body_in_order_and_its_results_make_the_outcome() {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let dlq = MemoryQueue::new(["ingest"], clock);
        let handler = Recorder {
            bodies: Default::default(),
        };
        let message = |id: &str, body: &str, group: &str| BatchMessage {
            message_id: id.into(),
            body: body.into(),
            group_id: group.into(),
            receive_count: 1,
        };
        let batch = [
            message("m1", "{}", "a"),
            message("m2", "not json", "b"),
            message("m3", "flaky", "c"),
            message("m4", "{\"n\":4}", "d"),
        ];
        let outcome = run_handler(&handler, &batch, "ingest", &dlq).await;
        assert_eq!(
            *handler.bodies.lock().unwrap(),
            ["{}", "not json", "flaky", "{\"n\":4}"]
        );
        assert_eq!(outcome.succeeded, ["m1", "m4"]);
        assert_eq!(
            outcome.dead_lettered,
            [Failure {
                message_id: "m2".into(),
                reason: "malformed message: expected a JSON object".into(),
            }]
        );
        assert_eq!(
            outcome.failures,
            [Failure {
                message_id: "m3".into(),
                reason: "timeout".into(),
            }]
        );
        assert_eq!(dlq.depth("ingest-dlq"), 1);
    }

    #[tokio::test]
    async fn a_delayed_retry_stays_invisible_for_its_delay_at_most_twelve_hours() {
        use std::time::Duration;
        let start = chrono::Utc::now();
        let clock = Arc::new(ManualClock::new(start));
        let queue = MemoryQueue::new(["alerts"], clock.clone());
        for (id, group) in [("slack", "g1"), ("long", "g2")] {
            queue
                .send("alerts", OutgoingMessage::new(id, group, id))
                .await
                .unwrap();
        }
        let received = queue
            .receive("alerts", 10, Duration::from_secs(30))
            .await
            .unwrap();
        let id_of = |body: &str| {
            let m = received.iter().find(|m| m.body == body).unwrap();
            m.message_id.clone()
        };
        let mut outcome = BatchOutcome::default();
        outcome.visibility_delays.insert(id_of("slack"), 120);
        outcome.visibility_delays.insert(id_of("long"), 100_000);
        apply_visibility_delays(&queue, "alerts", &outcome, |id| {
            received
                .iter()
                .find(|m| m.message_id == id)
                .map(|m| m.receipt_handle.as_str())
        })
        .await;

        // What is visible at `secs` after the first receive (received again, it stays
        // invisible for a day, so each message shows up once).
        let visible_at = |secs: i64| {
            clock.set(start + chrono::Duration::seconds(secs));
            let queue = &queue;
            async move {
                let again = queue
                    .receive("alerts", 10, Duration::from_secs(86_400))
                    .await
                    .unwrap();
                again.into_iter().map(|m| m.body).collect::<Vec<_>>()
            }
        };
        // Past the queue's own 30 s, both still wait.
        assert!(visible_at(60).await.is_empty());
        assert_eq!(visible_at(121).await, ["slack"]);
        // 100 000 s is capped at SQS's 12 hours (43 200 s).
        assert!(visible_at(43_199).await.is_empty());
        assert_eq!(visible_at(43_201).await, ["long"]);
    }

    #[test]
    fn store_errors_are_classified_once() {
        use crate::store::{Key, StoreError};
        let retried = [
            StoreError::Backend("throttled".into()),
            StoreError::ConditionFailed(Key::new("p", "s")),
            StoreError::TransactionCanceled { reasons: vec![] },
        ];
        for e in retried {
            assert!(!HandlerError::from(e).is_permanent());
        }
        let given_up = [
            StoreError::Invalid("item too large".into()),
            StoreError::Decode {
                key: None,
                source: crate::store::ItemError::NotAnObject,
            },
        ];
        for e in given_up {
            assert!(HandlerError::from(e).is_permanent());
        }
    }
}
