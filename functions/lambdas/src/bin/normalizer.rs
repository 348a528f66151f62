use std::sync::Arc;

use dd0c_normalizer::{Normalizer, NormalizerConfig};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::{config::AwsAdapters, lambda::sqs_consumer, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("normalizer");
    let aws = AwsAdapters::from_env().await?;
    let config = NormalizerConfig {
        auto_link_tenant: None,
    };
    let accounts = Arc::new(AwsAccounts::new(aws.sdk.clone()));
    let handler =
        Arc::new(Normalizer::new(aws.table, aws.bus, aws.clock, config).with_accounts(accounts));
    let queue = aws.queue;
    run(service_fn(move |event| {
        sqs_consumer(handler.clone(), queue.clone(), "ingest", event)
    }))
    .await
}
