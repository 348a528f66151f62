use std::sync::Arc;

use dd0c_normalizer::{AccountJobs, Backfill, Normalizer, NormalizerConfig, StackDiscovery};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::lambda::{from_queue, sqs_consumer, SqsEvent};
use dd0c_shared::{config::AwsAdapters, telemetry};

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// The normalizer consumes two queues: live CloudTrail events (`ingest`) and the steps of the
/// jobs that read connected accounts (`backfill`: the history backfill,
/// docs/decisions/0320-backfill.md, and the stack discovery, 0430-stack-discovery.md).
#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("normalizer");
    let aws = AwsAdapters::from_env().await?;
    let config = NormalizerConfig {
        auto_link_tenant: None,
    };
    let accounts = Arc::new(AwsAccounts::new(aws.sdk.clone()));
    let live: Arc<dyn MessageHandler> = Arc::new(
        Normalizer::new(
            aws.table.clone(),
            aws.bus.clone(),
            aws.clock.clone(),
            config.clone(),
        )
        .with_accounts(accounts.clone()),
    );
    let backfill: Arc<dyn MessageHandler> = Arc::new(AccountJobs {
        discovery: StackDiscovery::new(
            aws.table.clone(),
            aws.bus.clone(),
            aws.clock.clone(),
            accounts.clone(),
        ),
        backfill: Backfill::new(aws.table, aws.bus, aws.clock, accounts, config),
    });
    let queue = aws.queue;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (handler, source) = if from_queue(&event.payload, "backfill") {
            (backfill.clone(), "backfill")
        } else {
            (live.clone(), "ingest")
        };
        sqs_consumer(handler, queue.clone(), source, event)
    }))
    .await
}
