use std::sync::Arc;

use dd0c_scorer::Scorer;
use dd0c_shared::{config::AwsAdapters, lambda::sqs_consumer, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("scorer");
    let aws = AwsAdapters::from_env().await?;
    let handler = Arc::new(Scorer::new(aws.table, aws.bus, aws.clock));
    let queue = aws.queue;
    run(service_fn(move |event| {
        sqs_consumer(handler.clone(), queue.clone(), "score", event)
    }))
    .await
}
