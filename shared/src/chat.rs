//! The chat port: where alerts go (Slack's Web API in production).

use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChatMessage {
    pub channel: String,
    /// Plain-text fallback (notifications, screen readers).
    pub text: String,
    /// Block Kit blocks.
    pub blocks: Value,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ChatError {
    /// Slack answered 429: try again after this many seconds.
    #[error("rate limited, retry after {retry_after_seconds}s")]
    RateLimited { retry_after_seconds: u64 },
    /// The token was revoked or the app uninstalled: retrying cannot help.
    #[error("installation is broken: {0}")]
    Revoked(String),
    #[error("chat API error: {0}")]
    Api(String),
    #[error("chat transport failed: {0}")]
    Transport(String),
}

#[async_trait]
pub trait ChatSink: Send + Sync {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError>;
    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError>;
    /// Opens a modal (`views.open`) for the interaction that gave `trigger_id` (valid for
    /// 3 seconds). Sinks that cannot (an incoming webhook, the terminal) say so.
    async fn open_view(&self, _trigger_id: &str, _view: Value) -> Result<(), ChatError> {
        Err(ChatError::Api("views_unsupported".into()))
    }
}

/// Records every message and opened modal (the embedded mode and tests).
#[derive(Default)]
pub struct RecordingChat {
    messages: Mutex<Vec<ChatMessage>>,
    views: Mutex<Vec<(String, Value)>>,
}

impl RecordingChat {
    pub fn messages(&self) -> Vec<ChatMessage> {
        self.messages.lock().expect("chat lock").clone()
    }

    /// Every modal opened: (trigger id, view).
    pub fn views(&self) -> Vec<(String, Value)> {
        self.views.lock().expect("chat lock").clone()
    }
}

#[async_trait]
impl ChatSink for RecordingChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        let mut messages = self.messages.lock().expect("chat lock");
        messages.push(message.clone());
        Ok(Posted {
            channel: message.channel,
            ts: format!("{}.000000", messages.len()),
        })
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        let mut messages = self.messages.lock().expect("chat lock");
        let index: usize = ts
            .split('.')
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|n: &usize| *n >= 1 && *n <= messages.len())
            .ok_or_else(|| ChatError::Api(format!("message_not_found: {channel} {ts}")))?;
        messages[index - 1] = message;
        Ok(())
    }

    async fn open_view(&self, trigger_id: &str, view: Value) -> Result<(), ChatError> {
        self.views
            .lock()
            .expect("chat lock")
            .push((trigger_id.to_owned(), view));
        Ok(())
    }
}
