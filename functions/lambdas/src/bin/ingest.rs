use std::sync::Arc;

use dd0c_ingest::drift_reports::DriftReports;
use dd0c_ingest::Ingest;
use dd0c_shared::lambda::{
    http_or_event_function, kinesis_batch_messages, kinesis_batch_response, KinesisEvent,
};
use dd0c_shared::{config::AwsAdapters, telemetry};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

/// Two event shapes reach this function: batches of CloudTrail events from the inbox stream the
/// ingest rule puts them on, and `POST /v1/drift-reports` from API Gateway.
#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("ingest");
    let aws = AwsAdapters::from_env().await?;
    let ingest = Arc::new(Ingest::new(aws.queue.clone()).with_account_gate(aws.table.clone()));
    let queue = aws.queue.clone();
    let reports = Arc::new(DriftReports::new(aws.table, aws.queue, aws.clock));
    run(service_fn(move |event: LambdaEvent<Value>| {
        let (ingest, reports, queue) = (ingest.clone(), reports.clone(), queue.clone());
        async move {
            http_or_event_function(reports.as_ref(), event, |event| async move {
                let inbox: KinesisEvent = serde_json::from_value(event.payload)?;
                let outcome = ingest
                    .handle_inbox(&kinesis_batch_messages(&inbox), queue.as_ref())
                    .await;
                Ok(serde_json::to_value(kinesis_batch_response(outcome))?)
            })
            .await
        }
    }))
    .await
}
