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
    // A failure that asked for a delay (Slack's Retry-After) is made invisible for that long;
    // without this it would come back after the queue's visibility timeout.
    for (message_id, seconds) in &outcome.visibility_delays {
        let receipt = event
            .payload
            .records
            .iter()
            .find(|r| r.message_id.as_deref() == Some(message_id.as_str()))
            .and_then(|r| r.receipt_handle.as_deref());
        if let Some(receipt) = receipt {
            // SQS caps a visibility timeout at 12 hours.
            let delay = std::time::Duration::from_secs((*seconds).min(43_200));
            if let Err(e) = dead_letters
                .change_visibility(source_queue, receipt, delay)
                .await
            {
                tracing::warn!(queue = source_queue, %message_id, error = %e, "could not delay the retry");
            }
        }
    }
    let response = SqsBatchResponse {
        batch_item_failures: outcome
            .failures
            .into_iter()
            .map(|f| BatchItemFailure {
                item_identifier: f.message_id,
            })
            .collect(),
    };
    Ok(response)
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
    Ok(http_response(
        handler.handle(http_request(&event.payload)).await,
    ))
}
