use std::sync::Arc;

use dd0c_notifier::{Notifier, NotifierConfig};
use dd0c_shared::config::{env, AwsAdapters};
use dd0c_shared::governance::Policy;
use dd0c_shared::{lambda::sqs_consumer, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("notifier");
    // Fails the cold start, naming the field, when DD0C_POLICY points at a bad policy.
    let policy = Policy::load(None)?;
    let aws = AwsAdapters::from_env().await?;
    let config =
        NotifierConfig::new(env("DEFAULT_SLACK_CHANNEL").unwrap_or_else(|_| "#dd0c-alerts".into()));
    let chats = aws.chat_directory()?;
    let handler = Arc::new(
        Notifier::new(
            aws.table,
            Arc::new(dd0c_shared::chat::RecordingChat::default()),
            config,
        )
        .with_policy(policy)
        .with_clock(aws.clock)
        .with_directory(chats),
    );
    let queue = aws.queue;
    run(service_fn(move |event| {
        sqs_consumer(handler.clone(), queue.clone(), "alerts", event)
    }))
    .await
}
