//! Lambda's SQS batch semantics for FIFO queues, shared by every consumer on AWS and by the
//! embedded pipeline: messages of a batch are handled in order; a failure is reported as a
//! partial batch failure, and so is every later message of the same group (so order holds);
//! a message that fails on its last allowed receive is moved to the dead-letter queue by the
//! consumer itself, with its error as a message attribute, so the reason is never lost.

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

/// Why a message could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The message itself is bad; it will never succeed.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A dependency failed; a later attempt may succeed.
    #[error("{0}")]
    Transient(String),
}

impl HandlerError {
    pub fn transient(e: impl std::fmt::Display) -> Self {
        HandlerError::Transient(e.to_string())
    }
    pub fn malformed(e: impl std::fmt::Display) -> Self {
        HandlerError::Malformed(e.to_string())
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
}

/// Handles a batch in order with FIFO group semantics. `source_queue` names the queue the
/// batch came from; its dead-letter queue receives exhausted messages.
pub async fn process_batch<F, Fut>(
    messages: &[BatchMessage],
    source_queue: &str,
    dead_letters: &dyn Queue,
    mut handle: F,
) -> BatchOutcome
where
    F: FnMut(&BatchMessage) -> Fut,
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
        let reason = match handle(message).await {
            Ok(()) => {
                outcome.succeeded.push(message.message_id.clone());
                continue;
            }
            Err(e) => e.to_string(),
        };
        tracing::warn!(
            queue = source_queue,
            message_id = %message.message_id,
            receive_count = message.receive_count,
            error = %reason,
            "message failed"
        );
        if message.receive_count >= MAX_RECEIVE_COUNT {
            match dead_letter(dead_letters, source_queue, message, &reason).await {
                Ok(()) => {
                    outcome.dead_lettered.push(Failure {
                        message_id: message.message_id.clone(),
                        reason,
                    });
                    continue;
                }
                Err(e) => tracing::error!(queue = source_queue, error = %e, "dead-lettering failed"),
            }
        }
        failed_groups.insert(message.group_id.as_str());
        outcome.failures.push(Failure {
            message_id: message.message_id.clone(),
            reason,
        });
    }
    outcome
}

async fn dead_letter(
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
    crate::telemetry::metric("DeadLettered", 1.0);
    Ok(())
}

/// Runs a [`MessageHandler`] over a batch.
pub async fn run_handler(
    handler: &dyn MessageHandler,
    messages: &[BatchMessage],
    source_queue: &str,
    dead_letters: &dyn Queue,
) -> BatchOutcome {
    process_batch(messages, source_queue, dead_letters, |m| {
        let body = m.body.clone();
        async move { handler.handle(&body).await }
    })
    .await
}
