use std::sync::Arc;

use dd0c_ingest::drift_reports::DriftReports;
use dd0c_ingest::Ingest;
use dd0c_shared::lambda::http_or_event_function;
use dd0c_shared::{config::AwsAdapters, telemetry};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

/// Two event shapes reach this function: CloudTrail events from the ingest rule (asynchronous
/// invocations) and `POST /v1/drift-reports` from API Gateway.
#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("ingest");
    let aws = AwsAdapters::from_env().await?;
    let ingest = Arc::new(Ingest::new(aws.queue.clone()).with_account_gate(aws.table.clone()));
    let reports = Arc::new(DriftReports::new(aws.table, aws.queue, aws.clock));
    run(service_fn(move |event: LambdaEvent<Value>| {
        let (ingest, reports) = (ingest.clone(), reports.clone());
        async move {
            http_or_event_function(reports.as_ref(), event, |event| async move {
                ingest
                    .handle_eventbridge(event.payload)
                    .await
                    .map(|n| serde_json::json!({ "forwarded": n }))
                    .map_err(Error::from)
            })
            .await
        }
    }))
    .await
}
