//! A consumer whose every message is counted against its function, and a chat whose every
//! call is counted against the function making it.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::Meter;
use crate::batch::{HandlerError, MessageHandler};
use crate::chat::{ChatError, ChatMessage, ChatSink, Posted};

pub struct MeteredHandler {
    function: String,
    inner: Arc<dyn MessageHandler>,
    meter: Meter,
}

impl MeteredHandler {
    pub fn new(function: &str, inner: Arc<dyn MessageHandler>, meter: Meter) -> Self {
        Self {
            function: function.to_owned(),
            inner,
            meter,
        }
    }
}

#[async_trait]
impl MessageHandler for MeteredHandler {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let previous = self.meter.enter(&self.function);
        let result = self.inner.handle(body).await;
        self.meter.leave(previous);
        result
    }
}

pub struct MeteredChat {
    inner: Arc<dyn ChatSink>,
    meter: Meter,
}

impl MeteredChat {
    pub fn new(inner: Arc<dyn ChatSink>, meter: Meter) -> Self {
        Self { inner, meter }
    }
}

#[async_trait]
impl ChatSink for MeteredChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        self.meter.function_call(|f| f.chat_calls += 1);
        self.inner.post(message).await
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        self.meter.function_call(|f| f.chat_calls += 1);
        self.inner.update(channel, ts, message).await
    }

    async fn open_view(&self, trigger_id: &str, view: Value) -> Result<(), ChatError> {
        self.meter.function_call(|f| f.chat_calls += 1);
        self.inner.open_view(trigger_id, view).await
    }
}
