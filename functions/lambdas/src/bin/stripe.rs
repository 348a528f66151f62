//! The Stripe webhook Lambda.

use std::sync::Arc;

use dd0c_shared::config::AwsAdapters;
use dd0c_shared::secrets::{process_env, require, SecretsExtension};
use dd0c_stripe::{webhook_secrets, StripeWebhook, SECRET_ARN_ENV};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dd0c_shared::telemetry::init_lambda("stripe");
    let adapters = AwsAdapters::from_env().await?;
    let secret = SecretsExtension::from_env(&process_env)?
        .json(&require(&process_env, SECRET_ARN_ENV)?)
        .await?;
    let webhook = StripeWebhook::new(
        adapters.table.clone(),
        adapters.clock.clone(),
        webhook_secrets(&secret)?,
    );
    let webhook = Arc::new(webhook);
    run(service_fn(move |event| {
        let webhook = webhook.clone();
        async move { dd0c_shared::lambda::http_function(webhook.as_ref(), event).await }
    }))
    .await
}
