use std::sync::Arc;

use dd0c_ingest::Ingest;
use dd0c_shared::{config::AwsAdapters, telemetry};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("ingest");
    let aws = AwsAdapters::from_env().await?;
    let ingest = Arc::new(Ingest::new(aws.queue));
    run(service_fn(move |event: LambdaEvent<Value>| {
        let ingest = ingest.clone();
        async move {
            ingest
                .handle_eventbridge(event.payload)
                .await
                .map(|_| ())
                .map_err(Error::from)
        }
    }))
    .await
}
