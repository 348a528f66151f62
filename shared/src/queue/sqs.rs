//! The production queue adapter over aws-sdk-sqs.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

use super::{
    send_requests, validate, OutgoingMessage, Queue, QueueError, ReceivedMessage, MAX_BATCH,
};

pub struct SqsQueue {
    client: Client,
    /// Logical queue name (`ingest`, `ingest-dlq`, …) → queue URL.
    urls: HashMap<String, String>,
}

impl SqsQueue {
    pub fn new(client: Client, urls: HashMap<String, String>) -> Self {
        Self { client, urls }
    }

    fn url(&self, queue: &str) -> Result<&str, QueueError> {
        self.urls
            .get(queue)
            .map(String::as_str)
            .ok_or_else(|| QueueError::UnknownQueue(queue.to_owned()))
    }
}

fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> QueueError {
    QueueError::Backend(DisplayErrorContext(e).to_string())
}

/// SQS FIFO queue names end in `.fifo`; a standard queue takes no group or deduplication id.
fn is_fifo(url: &str) -> bool {
    url.ends_with(".fifo")
}

fn string_attribute(value: String) -> Result<MessageAttributeValue, QueueError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(backend)
}

impl SqsQueue {
    /// One SendMessageBatch request (at most ten entries, 256 KiB): one result per message.
    async fn send_one_request(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<String, QueueError>> {
        let mut results: Vec<Option<Result<String, QueueError>>> = Vec::new();
        let url = match self.url(queue) {
            Ok(url) => url,
            Err(_) => {
                return messages
                    .iter()
                    .map(|_| Err(QueueError::UnknownQueue(queue.to_owned())))
                    .collect()
            }
        };
        let fifo = is_fifo(url);
        let mut request = self.client.send_message_batch().queue_url(url);
        let mut entries = 0;
        for (index, message) in messages.into_iter().enumerate() {
            if let Err(e) = validate(&message) {
                results.push(Some(Err(e)));
                continue;
            }
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(message.body);
            if fifo {
                entry = entry
                    .message_group_id(message.group_id)
                    .message_deduplication_id(message.deduplication_id);
            }
            let attributes: Result<Vec<_>, _> = message
                .attributes
                .into_iter()
                .map(|(name, value)| string_attribute(value).map(|a| (name, a)))
                .collect();
            match attributes {
                Ok(attributes) => {
                    for (name, attribute) in attributes {
                        entry = entry.message_attributes(name, attribute);
                    }
                }
                Err(e) => {
                    results.push(Some(Err(e)));
                    continue;
                }
            }
            match entry.build() {
                Ok(entry) => {
                    request = request.entries(entry);
                    entries += 1;
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(backend(e)))),
            }
        }
        if entries > 0 {
            match request.send().await {
                Ok(out) => {
                    for ok in out.successful() {
                        if let Some(slot) = ok
                            .id()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| results.get_mut(i))
                        {
                            *slot = Some(Ok(ok.message_id().to_owned()));
                        }
                    }
                    for failed in out.failed() {
                        if let Some(slot) = failed
                            .id()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| results.get_mut(i))
                        {
                            let reason = format!(
                                "{}: {}",
                                failed.code(),
                                failed.message().unwrap_or_default()
                            );
                            *slot = Some(Err(if failed.sender_fault() {
                                QueueError::Invalid(reason)
                            } else {
                                QueueError::Backend(reason)
                            }));
                        }
                    }
                }
                Err(e) => {
                    let reason = DisplayErrorContext(e).to_string();
                    for slot in results.iter_mut().filter(|r| r.is_none()) {
                        *slot = Some(Err(QueueError::Backend(reason.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(QueueError::Backend(
                        "SendMessageBatch answered nothing for this entry".into(),
                    ))
                })
            })
            .collect()
    }
}

fn seconds(d: Duration) -> i32 {
    d.as_secs().min(43_200) as i32
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, QueueError> {
        validate(&message)?;
        let url = self.url(queue)?;
        let fifo = is_fifo(url);
        let mut request = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(message.body);
        if fifo {
            request = request
                .message_group_id(message.group_id)
                .message_deduplication_id(message.deduplication_id);
        }
        for (name, value) in message.attributes {
            request = request.message_attributes(name, string_attribute(value)?);
        }
        let out = request.send().await.map_err(backend)?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }

    async fn send_batch(
        &self,
        queue: &str,
        messages: Vec<OutgoingMessage>,
    ) -> Vec<Result<String, QueueError>> {
        let mut results = Vec::with_capacity(messages.len());
        for request in send_requests(messages) {
            results.extend(self.send_one_request(queue, request).await);
        }
        results
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if max == 0 || max > MAX_BATCH {
            return Err(QueueError::Invalid(format!(
                "max_number_of_messages should be between 1 and {MAX_BATCH}"
            )));
        }
        let out = self
            .client
            .receive_message()
            .queue_url(self.url(queue)?)
            .max_number_of_messages(max as i32)
            .visibility_timeout(seconds(visibility_timeout))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .map_err(backend)?;
        let messages = out
            .messages()
            .iter()
            .map(|m| {
                let system = m.attributes();
                let attr = |name: MessageSystemAttributeName| {
                    system
                        .and_then(|a| a.get(&name))
                        .cloned()
                        .unwrap_or_default()
                };
                let attributes: BTreeMap<String, String> = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.string_value()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                ReceivedMessage {
                    message_id: m.message_id().unwrap_or_default().to_owned(),
                    receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                    group_id: attr(MessageSystemAttributeName::MessageGroupId),
                    deduplication_id: attr(MessageSystemAttributeName::MessageDeduplicationId),
                    receive_count: attr(MessageSystemAttributeName::ApproximateReceiveCount)
                        .parse()
                        .unwrap_or(1),
                    attributes,
                }
            })
            .collect();
        Ok(messages)
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(self.url(queue)?)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_receipt_handle_is_invalid() => QueueError::InvalidReceipt,
                _ => backend(e),
            })
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(self.url(queue)?)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds(timeout))
            .send()
            .await
            .map(|_| ())
            .map_err(backend)
    }
}
