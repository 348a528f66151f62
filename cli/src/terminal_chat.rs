//! The CLI's chat sink: prints each alert as Slack would lay it out, and records it. A reply
//! in a thread (an incident's next finding) and an edit (its thread root, as the incident
//! grows or is acted on) print one line each: the thread's root already shows the alert.

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
            match &message.thread_ts {
                Some(_) => println!("{}   ↳ in the thread: {}", message.channel, message.text),
                None => {
                    println!("{} {}", message.channel, message.text);
                    println!("{}", terminal::render(&message.blocks));
                }
            }
        }
        self.recorded.post(message).await
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        if self.print {
            crate::replay::erase_progress();
            println!("{channel}   ✎ edited: {}", message.text);
        }
        self.recorded.update(channel, ts, message).await
    }
}
