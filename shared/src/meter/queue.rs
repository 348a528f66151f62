//! A queue that bills every request as SQS would.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{sqs_chunks, Meter};
use crate::queue::{
    payload_bytes, send_requests, OutgoingMessage, Queue, QueueError, ReceivedMessage, DLQ_SUFFIX,
};

pub struct MeteredQueue {
    inner: Arc<dyn Queue>,
    meter: Meter,
}

impl MeteredQueue {
    pub fn new(inner: Arc<dyn Queue>, meter: Meter) -> Self {
        Self { inner, meter }
    }
}

#[async_trait]
impl Queue for MeteredQueue {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, QueueError> {
        let chunks = sqs_chunks(payload_bytes(&message));
        let result = self.inner.send(queue, message).await;
        if result.is_ok() {
            self.meter.queue(queue, |q| {
                q.messages_sent += 1;
                q.send_requests += chunks;
            });
            // A dead letter is sent by the batch runner around the handler: billed, but
            // outside any function's handling time.
            if !queue.ends_with(DLQ_SUFFIX) {
                self.meter.function_call(|f| f.queue_calls += 1);
            }
        }
        result
    }

    /// One request per SendMessageBatch (per 64 KB of its payload), as SQS bills a batch.
    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<String, QueueError>> {
        let mut results = Vec::with_capacity(messages.len());
        for request in send_requests(messages) {
            let chunks = sqs_chunks(request.iter().map(payload_bytes).sum());
            let sent = self.inner.send_batch(queue, request).await;
            let delivered = sent.iter().filter(|r| r.is_ok()).count() as u64;
            self.meter.queue(queue, |q| {
                q.messages_sent += delivered;
                q.send_requests += chunks;
            });
            if !queue.ends_with(DLQ_SUFFIX) {
                self.meter.function_call(|f| f.queue_calls += 1);
            }
            results.extend(sent);
        }
        results
    }

    /// Receives and deletes are the event source mapping's: they are counted per message here
    /// and turned into requests by the batch model.
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let result = self.inner.receive(queue, max, visibility_timeout).await;
        if let Ok(messages) = &result {
            let n = messages.len() as u64;
            self.meter.queue(queue, |q| q.messages_received += n);
        }
        result
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        let result = self.inner.delete(queue, receipt_handle).await;
        if result.is_ok() {
            self.meter.queue(queue, |q| q.messages_deleted += 1);
        }
        result
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let result = self
            .inner
            .change_visibility(queue, receipt_handle, timeout)
            .await;
        if result.is_ok() {
            self.meter.queue(queue, |q| q.visibility_changes += 1);
            self.meter.function_call(|f| f.queue_calls += 1);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{HandlerError, MessageHandler};
    use crate::clock::{ManualClock, SharedClock};
    use crate::meter::MeteredHandler;
    use crate::queue::memory::MemoryQueue;
    use chrono::{TimeZone, Utc};

    struct Forward(Arc<dyn Queue>);

    #[async_trait]
    impl MessageHandler for Forward {
        async fn handle(&self, body: &str) -> Result<(), HandlerError> {
            self.0
                .send("next", OutgoingMessage::new(body, "g", "d2"))
                .await?;
            Ok(())
        }
    }

    #[tokio::test]
    async fn requests_are_counted_per_chunk_and_calls_per_function() {
        let clock: SharedClock = Arc::new(ManualClock::new(Utc.timestamp_opt(0, 0).unwrap()));
        let meter = Meter::new();
        let queue: Arc<dyn Queue> = Arc::new(MeteredQueue::new(
            Arc::new(MemoryQueue::new(["first", "next"], clock)),
            meter.clone(),
        ));
        let big = "x".repeat(100_000);
        queue
            .send("first", OutgoingMessage::new(big, "g", "d1"))
            .await
            .unwrap();
        let received = queue
            .receive("first", 10, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(received.len(), 1);
        let handler = MeteredHandler::new(
            "normalizer",
            Arc::new(Forward(queue.clone())),
            meter.clone(),
        );
        handler.handle("small").await.unwrap();
        queue
            .delete("first", &received[0].receipt_handle)
            .await
            .unwrap();
        let usage = meter.usage();
        let first = &usage.queues["first"];
        assert_eq!((first.messages_sent, first.send_requests), (1, 2));
        assert_eq!((first.messages_received, first.messages_deleted), (1, 1));
        assert_eq!(usage.queues["next"].send_requests, 1);
        // The send outside any consumer is ingest's; the one inside is the normalizer's.
        assert_eq!(usage.functions["ingest"].queue_calls, 1);
        assert_eq!(usage.functions["normalizer"].queue_calls, 1);
        assert_eq!(usage.functions["normalizer"].messages, 1);
    }
}
