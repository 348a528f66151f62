//! The CLI's chat sink: prints each alert as Slack would lay it out, and records it.

use async_trait::async_trait;
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink, Posted, RecordingChat};
use dd0c_shared::slack::terminal;

pub struct TerminalChat {
    pub recorded: RecordingChat,
    pub print: bool,
}

impl TerminalChat {
    pub fn new(print: bool) -> Self {
        Self {
            recorded: RecordingChat::default(),
            print,
        }
    }
}

#[async_trait]
impl ChatSink for TerminalChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        if self.print {
            crate::replay::erase_progress();
            println!("{} {}", message.channel, message.text);
            println!("{}", terminal::render(&message.blocks));
        }
        self.recorded.post(message).await
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        self.recorded.update(channel, ts, message).await
    }
}
