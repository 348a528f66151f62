//! The FIFO queue port (SQS FIFO with a dead-letter queue).
//!
//! Queues are named logically (`ingest`, `score`, …, see `shared/routing.json`); each has a
//! dead-letter queue named [`dlq_name`]. Semantics both adapters share: message groups are
//! delivered in order and a group is locked while one of its messages is in flight; a
//! deduplication id is honoured for five minutes; a received message stays invisible for the
//! visibility timeout; receive counts grow per receive; a message received
//! [`REDRIVE_RECEIVE_COUNT`] times and not deleted moves to the dead-letter queue.

pub mod memory;
#[cfg(feature = "aws")]
pub mod sqs;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

/// Receives after which the consumer gives a failing message up to its dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 3;

/// The queues' redrive policy (`maxReceiveCount`), set past the consumer's own limit: a message
/// whose earlier receives ended without an answer (the function crashed or timed out while
/// holding it) reaches the consumer once more, which dead-letters it with that reason, rather
/// than SQS moving it to the dead-letter queue with none.
pub const REDRIVE_RECEIVE_COUNT: u32 = MAX_RECEIVE_COUNT + 2;
/// How long SQS FIFO remembers a deduplication id.
pub const DEDUPLICATION_WINDOW: Duration = Duration::from_secs(300);
/// The message attribute that carries why a message was dead-lettered.
pub const ERROR_ATTRIBUTE: &str = "dd0c-error";
/// SQS FIFO returns at most ten messages per receive (and Lambda batches at most ten).
pub const MAX_BATCH: usize = 10;
/// What one SendMessageBatch request may carry: ten entries of at most 256 KiB in all.
pub const MAX_SEND_BATCH_BYTES: usize = 256 * 1024;

pub const DLQ_SUFFIX: &str = "-dlq";

pub fn dlq_name(queue: &str) -> String {
    format!("{queue}{DLQ_SUFFIX}")
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub body: String,
    pub group_id: String,
    pub deduplication_id: String,
    pub attributes: BTreeMap<String, String>,
}

impl OutgoingMessage {
    pub fn new(
        body: impl Into<String>,
        group_id: impl Into<String>,
        deduplication_id: impl Into<String>,
    ) -> Self {
        Self {
            body: body.into(),
            group_id: group_id.into(),
            deduplication_id: deduplication_id.into(),
            attributes: BTreeMap::new(),
        }
    }

    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub group_id: String,
    pub deduplication_id: String,
    /// 1 on the first receive.
    pub receive_count: u32,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("unknown queue {0:?}")]
    UnknownQueue(String),
    #[error("invalid message: {0}")]
    Invalid(String),
    #[error("the receipt handle is not valid (message deleted or received again)")]
    InvalidReceipt,
    #[error("queue backend failed: {0}")]
    Backend(String),
}

impl QueueError {
    /// An unknown queue or an invalid message fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Backend(_) | QueueError::InvalidReceipt)
    }
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends a message; a repeated deduplication id within five minutes is accepted and
    /// dropped, returning the original message id.
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, QueueError>;
    /// Sends messages as SQS's SendMessageBatch does (ten entries and 256 KiB a request, see
    /// [`send_requests`]): one result per message, in order; an entry refused fails alone.
    /// This default sends them one at a time.
    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<String, QueueError>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(self.send(queue, message).await);
        }
        results
    }
    /// Receives up to `max` (at most [`MAX_BATCH`]) visible messages.
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;
    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError>;
    /// Makes a received message visible again after `timeout` (zero: at once).
    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError>;
}

/// Whether SQS takes `s` as a FIFO message group or deduplication id: 1 to 128 letters,
/// digits and ASCII punctuation.
pub fn is_valid_fifo_id(s: &str) -> bool {
    // Letters, digits and ASCII punctuation are the ASCII graphic characters.
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The payload SQS counts against a request's size: the body and every attribute's name and value.
pub fn payload_bytes(message: &OutgoingMessage) -> usize {
    message.body.len()
        + message
            .attributes
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
}

/// Splits messages, in order, into the SendMessageBatch requests that carry them: at most
/// [`MAX_BATCH`] entries and [`MAX_SEND_BATCH_BYTES`] a request (a message too large for any
/// request travels alone and is refused by validation).
pub fn send_requests(messages: Vec<OutgoingMessage>) -> Vec<Vec<OutgoingMessage>> {
    let mut requests: Vec<Vec<OutgoingMessage>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = payload_bytes(&message);
        match requests.last_mut() {
            Some(request) if request.len() < MAX_BATCH && bytes + size <= MAX_SEND_BATCH_BYTES => {
                bytes += size;
                request.push(message);
            }
            _ => {
                bytes = size;
                requests.push(vec![message]);
            }
        }
    }
    requests
}

pub(crate) fn validate(message: &OutgoingMessage) -> Result<(), QueueError> {
    let id_ok = is_valid_fifo_id;
    if !id_ok(&message.group_id) {
        return Err(QueueError::Invalid(format!(
            "message_group_id {:?} should be 1-128 printable ASCII characters",
            message.group_id
        )));
    }
    if !id_ok(&message.deduplication_id) {
        return Err(QueueError::Invalid(format!(
            "message_deduplication_id {:?} should be 1-128 printable ASCII characters",
            message.deduplication_id
        )));
    }
    if message.body.is_empty() || message.body.len() > 256 * 1024 {
        return Err(QueueError::Invalid(
            "message body should be between 1 byte and 256 KiB".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod fifo_id_tests {
    use super::is_valid_fifo_id;

    #[test]
    fn a_fifo_id_is_letters_digits_and_ascii_punctuation() {
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(c);
        for c in (0u32..0x250).filter_map(char::from_u32) {
            assert_eq!(is_valid_fifo_id(&c.to_string()), allowed(c), "{c:?}");
        }
        assert!(is_valid_fifo_id(&"a".repeat(128)));
        assert!(!is_valid_fifo_id(&"a".repeat(129)));
        assert!(!is_valid_fifo_id(""));
        assert!(!is_valid_fifo_id("tenant/é"));
    }
}
