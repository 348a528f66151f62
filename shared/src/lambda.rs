//! Glue between Lambda's SQS event source and [`crate::batch`]: a consumer's `main.rs` hands
//! its handler to [`sqs_consumer`] and gets partial batch responses with FIFO semantics.

use std::sync::Arc;

pub use aws_lambda_events::event::kinesis::KinesisEvent;
pub use aws_lambda_events::event::sqs::SqsEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use lambda_runtime::{Error, LambdaEvent};

use crate::batch::{
    apply_visibility_delays, run_handler, BatchMessage, BatchOutcome, MessageHandler,
};
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

/// Whether an SQS invocation's records come from the queue `name` (`<prefix>-<name>.fifo`, as
/// the stack names it). One event source mapping delivers from one queue, so a function that
/// consumes two queues tells them apart by this.
pub fn from_queue(event: &SqsEvent, name: &str) -> bool {
    let suffix = format!("-{name}.fifo");
    event.records.first().is_some_and(|r| {
        r.event_source_arn
            .as_deref()
            .is_some_and(|arn| arn.ends_with(&suffix))
    })
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
    crate::telemetry::flush_metrics();
    crate::telemetry::otlp::export().await;
    apply_visibility_delays(dead_letters.as_ref(), source_queue, &outcome, |id| {
        event
            .payload
            .records
            .iter()
            .find(|r| r.message_id.as_deref() == Some(id))
            .and_then(|r| r.receipt_handle.as_deref())
    })
    .await;
    Ok(sqs_batch_response(outcome))
}

/// Converts Lambda's Kinesis records to batch messages: the sequence number names a record
/// (a partial batch response names the first to retry by it), the partition key is its group.
/// A stream has no receive count: Lambda retries a failed batch up to the mapping's
/// MaximumRetryAttempts, then hands its description to the on-failure destination.
pub fn kinesis_batch_messages(event: &KinesisEvent) -> Vec<BatchMessage> {
    event
        .records
        .iter()
        .map(|r| BatchMessage {
            message_id: r.kinesis.sequence_number.clone(),
            body: String::from_utf8_lossy(&r.kinesis.data.0).into_owned(),
            group_id: r.kinesis.partition_key.clone(),
            receive_count: 1,
        })
        .collect()
}

/// Lambda's partial batch response for a stream: it checkpoints before the first failure.
pub fn kinesis_batch_response(outcome: BatchOutcome) -> KinesisEventResponse {
    KinesisEventResponse {
        batch_item_failures: outcome
            .failures
            .into_iter()
            .map(|f| KinesisBatchItemFailure {
                item_identifier: Some(f.message_id),
            })
            .collect(),
    }
}

/// Lambda's partial batch response: the messages to keep on the queue.
pub fn sqs_batch_response(outcome: BatchOutcome) -> SqsBatchResponse {
    SqsBatchResponse {
        batch_item_failures: outcome
            .failures
            .into_iter()
            .map(|f| BatchItemFailure {
                item_identifier: f.message_id,
            })
            .collect(),
    }
}

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use base64::Engine;

use crate::http::{HttpHandler, HttpRequest, HttpResponse};

/// Converts an API Gateway HTTP API (v2) event, decoding a base64 body.
pub fn http_request(event: &ApiGatewayV2httpRequest) -> HttpRequest {
    let body = match &event.body {
        Some(b) if event.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(b.as_bytes())
            .unwrap_or_else(|_| b.clone().into_bytes()),
        Some(b) => b.clone().into_bytes(),
        None => Vec::new(),
    };
    let headers = event
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    let query = event
        .raw_query_string
        .as_deref()
        .map(HttpRequest::parse_query)
        .unwrap_or_default();
    HttpRequest {
        method: event.request_context.http.method.as_str().to_owned(),
        path: event.raw_path.clone().unwrap_or_else(|| "/".into()),
        query,
        headers,
        body,
        source_ip: event.request_context.http.source_ip.clone(),
    }
}

pub fn http_response(response: HttpResponse) -> ApiGatewayV2httpResponse {
    let mut out = ApiGatewayV2httpResponse {
        status_code: i64::from(response.status),
        ..Default::default()
    };
    for (k, v) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            aws_lambda_events::http::HeaderName::from_bytes(k.as_bytes()),
            aws_lambda_events::http::HeaderValue::from_str(v),
        ) {
            out.headers.insert(name, value);
        }
    }
    out.body = Some(Body::Text(response.body));
    out
}

/// Handles one API Gateway invocation with an [`HttpHandler`].
pub async fn http_function(
    handler: &dyn HttpHandler,
    event: LambdaEvent<ApiGatewayV2httpRequest>,
) -> Result<ApiGatewayV2httpResponse, Error> {
    let response = handler.handle(http_request(&event.payload)).await;
    crate::telemetry::flush_metrics();
    crate::telemetry::otlp::export().await;
    Ok(http_response(response))
}

/// One function behind API Gateway that also consumes a queue (the slack function answers
/// deferred slash commands from `commands.fifo`).
pub async fn http_or_sqs_function(
    http: &dyn HttpHandler,
    consumer: Arc<dyn MessageHandler>,
    dead_letters: Arc<dyn Queue>,
    source_queue: &str,
    event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    http_or_event_function(http, event, |event| async move {
        let (payload, context) = event.into_parts();
        let sqs: SqsEvent = serde_json::from_value(payload)?;
        let response = sqs_consumer(
            consumer,
            dead_letters,
            source_queue,
            LambdaEvent::new(sqs, context),
        )
        .await?;
        Ok(serde_json::to_value(response)?)
    })
    .await
}

/// Whether a payload is an API Gateway HTTP API (payload format 2.0) request.
pub fn is_http_api_request(payload: &serde_json::Value) -> bool {
    payload.get("requestContext").is_some()
        && payload.get("routeKey").is_some()
        && payload.get("rawPath").is_some()
}

/// One function behind API Gateway that is also invoked with other events (ingest: CloudTrail
/// events from the bus; slack: its command queue): API Gateway requests go to `http`, the rest
/// to `on_event`.
pub async fn http_or_event_function<F, Fut>(
    http: &dyn HttpHandler,
    event: LambdaEvent<serde_json::Value>,
    on_event: F,
) -> Result<serde_json::Value, Error>
where
    F: FnOnce(LambdaEvent<serde_json::Value>) -> Fut,
    Fut: std::future::Future<Output = Result<serde_json::Value, Error>>,
{
    if !is_http_api_request(&event.payload) {
        let out = on_event(event).await;
        crate::telemetry::flush_metrics();
        crate::telemetry::otlp::export().await;
        return out;
    }
    let (payload, context) = event.into_parts();
    let request: ApiGatewayV2httpRequest = serde_json::from_value(payload)?;
    let response = http_function(http, LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(arn: &str) -> SqsEvent {
        serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": "m-1", "body": "{}", "eventSourceARN": arn, "attributes": {},
            "messageAttributes": {}
        }]}))
        .expect("an SQS event")
    }

    #[test]
    fn tells_the_queue_an_invocation_comes_from() {
        let backfill = from("arn:aws:sqs:us-east-1:111122223333:dd0c-prod-backfill.fifo");
        let ingest = from("arn:aws:sqs:us-east-1:111122223333:dd0c-prod-ingest.fifo");
        assert!(from_queue(&backfill, "backfill"));
        assert!(!from_queue(&ingest, "backfill"));
        assert!(!from_queue(
            &SqsEvent {
                records: Vec::new()
            },
            "backfill"
        ));
    }
}
