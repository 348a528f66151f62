//! Draining the inbox (decision 1060): a batch of EventBridge events becomes the ingest queue's
//! messages in SendMessageBatch requests of ten; bad messages go to the inbox's dead-letter
//! queue with their reason, and one that cannot be forwarded is kept for a retry on its own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use dd0c_ingest::inbox::inbox_name;
use dd0c_ingest::{Ingest, INGEST_QUEUE};
use dd0c_shared::batch::BatchMessage;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::entity::account_link;
use dd0c_shared::meter::{Meter, MeteredQueue};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::{
    dlq_name, OutgoingMessage, Queue, QueueError, ReceivedMessage, ERROR_ATTRIBUTE,
    MAX_RECEIVE_COUNT,
};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::active_account;
use serde_json::{json, Value};

const CONNECTED: &str = "111111111111";

fn envelope(account: &str, event_id: &str) -> Value {
    json!({
        "version": "0", "id": format!("env-{event_id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": account, "time": "2026-11-22T05:00:00Z", "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08", "eventID": event_id, "eventName": "RunInstances",
            "eventSource": "ec2.amazonaws.com", "eventTime": "2026-11-22T05:00:00Z",
            "awsRegion": "us-east-1", "recipientAccountId": account,
            "userIdentity": {"type": "IAMUser", "accountId": account, "arn": format!("arn:aws:iam::{account}:user/alice")}
        }
    })
}

fn inbox_message(id: &str, body: impl Into<String>, receive_count: u32) -> BatchMessage {
    BatchMessage {
        message_id: id.into(),
        body: body.into(),
        // Lambda's SQS records of a standard queue carry no group.
        group_id: String::new(),
        receive_count,
    }
}

struct World {
    queues: Arc<MemoryQueue>,
    table: Arc<MemoryTable>,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap(),
    ));
    let table = MemoryTable::shared(clock.clone());
    let queues = Arc::new(MemoryQueue::new(
        [
            INGEST_QUEUE.to_owned(),
            inbox_name().to_owned(),
            dlq_name(inbox_name()),
        ],
        clock,
    ));
    let link = AccountLink {
        account_id: CONNECTED.into(),
        tenant_id: "t-1".into(),
        connected_at: Utc::now(),
        ..active_account()
    };
    account_link::link_if_absent(table.as_ref(), &link)
        .await
        .unwrap();
    World { queues, table }
}

fn dead_letters(queues: &MemoryQueue) -> Vec<ReceivedMessage> {
    queues.peek_all(&dlq_name(inbox_name()))
}

#[tokio::test]
async fn a_batch_is_forwarded_ten_to_a_request_and_bad_messages_are_dead_lettered_with_their_reason(
) {
    let w = world().await;
    let meter = Meter::new();
    let metered: Arc<dyn Queue> = Arc::new(MeteredQueue::new(w.queues.clone(), meter.clone()));
    let ingest = Ingest::new(metered.clone()).with_account_gate(w.table.clone());
    let mut batch: Vec<BatchMessage> = (0..23)
        .map(|i| {
            inbox_message(
                &format!("m-{i}"),
                envelope(CONNECTED, &format!("e-{i}")).to_string(),
                1,
            )
        })
        .collect();
    batch.push(inbox_message(
        "m-stranger",
        envelope("222222222222", "e-x").to_string(),
        1,
    ));
    batch.push(inbox_message("m-garbage", "not json {", 1));
    batch.push(inbox_message(
        "m-no-records",
        r#"{"detail-type":"AWS API Call via CloudTrail"}"#,
        1,
    ));

    let outcome = ingest.handle_inbox(&batch, metered.as_ref()).await;

    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    // An account no tenant connected is dropped, not retried.
    assert_eq!(outcome.succeeded.len(), 24);
    assert!(outcome.succeeded.contains(&"m-stranger".to_owned()));
    let dead: Vec<&str> = outcome
        .dead_lettered
        .iter()
        .map(|f| f.message_id.as_str())
        .collect();
    assert_eq!(dead, ["m-garbage", "m-no-records"]);

    let forwarded = w.queues.peek_all(INGEST_QUEUE);
    assert_eq!(forwarded.len(), 23);
    assert!(forwarded.iter().all(|m| m.group_id == CONNECTED));
    assert_eq!(forwarded[0].deduplication_id, "e-0");
    let usage = meter.usage();
    assert_eq!(usage.queues[INGEST_QUEUE].messages_sent, 23);
    assert_eq!(usage.queues[INGEST_QUEUE].send_requests, 3, "10 + 10 + 3");

    let dlq = dead_letters(&w.queues);
    assert_eq!(dlq.len(), 2);
    assert_eq!(dlq[0].body, "not json {");
    let reason = |m: &ReceivedMessage| {
        m.attributes
            .get(ERROR_ATTRIBUTE)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        reason(&dlq[0]).contains("not a JSON event"),
        "{}",
        reason(&dlq[0])
    );
    assert!(
        reason(&dlq[1]).starts_with("malformed message"),
        "{}",
        reason(&dlq[1])
    );
}

/// Refuses to send the records whose eventID is in `refused`, as SQS refuses a batch entry.
struct Refusing {
    inner: Arc<MemoryQueue>,
    refused: &'static [&'static str],
}

#[async_trait]
impl Queue for Refusing {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, QueueError> {
        if queue == INGEST_QUEUE && self.refused.contains(&message.deduplication_id.as_str()) {
            return Err(QueueError::Backend("InternalError: try again".into()));
        }
        self.inner.send(queue, message).await
    }
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.inner.receive(queue, max, visibility_timeout).await
    }
    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        self.inner.delete(queue, receipt_handle).await
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.inner
            .change_visibility(queue, receipt_handle, timeout)
            .await
    }
}

#[tokio::test]
async fn a_message_whose_records_cannot_be_sent_is_retried_alone_then_dead_lettered_with_the_reason(
) {
    let w = world().await;
    let queue: Arc<dyn Queue> = Arc::new(Refusing {
        inner: w.queues.clone(),
        refused: &["e-refused", "e-refused-again"],
    });
    let ingest = Ingest::new(queue.clone()).with_account_gate(w.table.clone());
    let batch = [
        inbox_message("m-before", envelope(CONNECTED, "e-before").to_string(), 1),
        inbox_message("m-refused", envelope(CONNECTED, "e-refused").to_string(), 1),
        inbox_message("m-after", envelope(CONNECTED, "e-after").to_string(), 1),
        inbox_message(
            "m-last-try",
            envelope(CONNECTED, "e-refused-again").to_string(),
            MAX_RECEIVE_COUNT,
        ),
    ];

    let outcome = ingest.handle_inbox(&batch, queue.as_ref()).await;

    assert_eq!(outcome.succeeded, ["m-before", "m-after"]);
    let failed: Vec<&str> = outcome
        .failures
        .iter()
        .map(|f| f.message_id.as_str())
        .collect();
    assert_eq!(
        failed,
        ["m-refused"],
        "kept for a retry; it holds no other message"
    );
    assert!(outcome.failures[0].reason.contains("try again"));
    let dead: Vec<&str> = outcome
        .dead_lettered
        .iter()
        .map(|f| f.message_id.as_str())
        .collect();
    assert_eq!(dead, ["m-last-try"]);
    let dlq = dead_letters(&w.queues);
    assert_eq!(dlq.len(), 1);
    let reason = dlq[0]
        .attributes
        .get(ERROR_ATTRIBUTE)
        .cloned()
        .unwrap_or_default();
    assert!(
        reason.contains("could not forward to the ingest queue"),
        "{reason}"
    );
    let forwarded: Vec<String> = w
        .queues
        .peek_all(INGEST_QUEUE)
        .into_iter()
        .map(|m| m.deduplication_id)
        .collect();
    assert_eq!(forwarded, ["e-before", "e-after"]);
}
