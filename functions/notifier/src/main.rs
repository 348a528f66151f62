use std::sync::Arc;

use dd0c_notifier::{Notifier, NotifierConfig};
use dd0c_shared::chat::RecordingChat;
use dd0c_shared::config::{env, AwsAdapters};
use dd0c_shared::{lambda::sqs_consumer, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("notifier");
    let aws = AwsAdapters::from_env().await?;
    let config = NotifierConfig {
        default_channel: env("DEFAULT_SLACK_CHANNEL").unwrap_or_else(|_| "#dd0c-alerts".into()),
    };
    // The Slack Web API sink arrives with the notifications issue; until then alerts are
    // recorded in the log only.
    let chat = Arc::new(RecordingChat::default());
    let handler = Arc::new(Notifier::new(aws.table, chat, config));
    let queue = aws.queue;
    run(service_fn(move |event| {
        sqs_consumer(handler.clone(), queue.clone(), "alerts", event)
    }))
    .await
}
