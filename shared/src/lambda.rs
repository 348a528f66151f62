//! Glue between Lambda's SQS event source and [`crate::batch`]: a consumer's `main.rs` hands
//! its handler to [`sqs_consumer`] and gets partial batch responses with FIFO semantics.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};

use crate::batch::{run_handler, BatchMessage, MessageHandler};
use crate::queue::Queue;

/// Converts Lambda's SQS records to batch messages (group and receive count from the
/// record's system attributes).
pub fn batch_messages(event: &SqsEvent) -> Vec<BatchMessage> {
    event
        .records
        .iter()
        .map(|r| BatchMessage {
            message_id: r.message_id.clone().unwrap_or_default(),
            body: r.body.clone().unwrap_or_default(),
            group_id: r
                .attributes
                .get("MessageGroupId")
                .cloned()
                .unwrap_or_default(),
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
        })
        .collect()
}

/// Handles one Lambda SQS invocation.
pub async fn sqs_consumer(
    handler: Arc<dyn MessageHandler>,
    dead_letters: Arc<dyn Queue>,
    source_queue: &str,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages = batch_messages(&event.payload);
    let outcome = run_handler(
        handler.as_ref(),
        &messages,
        source_queue,
        dead_letters.as_ref(),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = outcome
        .failures
        .into_iter()
        .map(|f| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = f.message_id;
            failure
        })
        .collect();
    Ok(response)
}
