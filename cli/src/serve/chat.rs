//! The local mode's alerts: printed to the terminal, and also posted to a real Slack incoming
//! webhook when `SLACK_WEBHOOK_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink, Posted};
use serde_json::json;

use crate::terminal_chat::TerminalChat;

pub fn local_chat(print: bool, webhook_url: Option<String>) -> Arc<dyn ChatSink> {
    let terminal = TerminalChat::new(print);
    match webhook_url {
        Some(url) => Arc::new(WebhookChat::new(terminal, url)),
        None => Arc::new(terminal),
    }
}

/// Terminal output plus an incoming webhook. The terminal copy is the record: a webhook that
/// fails is logged, not retried, so that a bad URL cannot make the notifier redeliver (and
/// print) every alert three times.
pub struct WebhookChat {
    terminal: TerminalChat,
    url: String,
    client: reqwest::Client,
}

impl WebhookChat {
    pub fn new(terminal: TerminalChat, url: String) -> Self {
        let client = dd0c_shared::http::client(Duration::from_secs(10));
        Self {
            terminal,
            url,
            client,
        }
    }
}

#[async_trait]
impl ChatSink for WebhookChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        // Incoming webhooks post to the channel they were created for; `channel` is ignored.
        let payload = json!({"text": message.text, "blocks": message.blocks});
        match self.client.post(&self.url).json(&payload).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(status = %r.status(), "Slack incoming webhook refused the alert")
            }
            Err(e) => tracing::warn!(error = %e, "Slack incoming webhook unreachable"),
        }
        self.terminal.post(message).await
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        // Incoming webhooks cannot edit a message; the terminal record is updated.
        self.terminal.update(channel, ts, message).await
    }
}
