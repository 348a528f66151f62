use std::sync::Arc;

use dd0c_classifier::{Classifier, RuleEngine};
use dd0c_shared::{config::AwsAdapters, lambda::sqs_consumer, telemetry};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("classifier");
    // DD0C_CLASSIFIER_RULES names a rules file replacing the built-in one; a bad rule stops
    // the function at start-up with the rule named.
    let rules = match std::env::var("DD0C_CLASSIFIER_RULES") {
        Ok(path) => RuleEngine::from_json(&std::fs::read_to_string(&path)?)?,
        Err(_) => RuleEngine::builtin()?,
    };
    let aws = AwsAdapters::from_env().await?;
    let handler = Arc::new(Classifier::new(aws.table, aws.bus, aws.clock, rules));
    let queue = aws.queue;
    run(service_fn(move |event| {
        sqs_consumer(handler.clone(), queue.clone(), "classify", event)
    }))
    .await
}
