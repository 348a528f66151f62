//! The Stripe webhook Lambda.

use std::sync::Arc;

use dd0c_shared::config::{AwsAdapters, ConfigError};
use dd0c_stripe::{secrets_from_env, StripeWebhook, SECRET_ENV};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dd0c_shared::telemetry::init_lambda("stripe");
    let adapters = AwsAdapters::from_env().await?;
    let secrets = secrets_from_env().ok_or_else(|| ConfigError::Missing(SECRET_ENV.into()))?;
    let webhook = StripeWebhook::new(adapters.table.clone(), adapters.clock.clone(), secrets);
    let webhook = Arc::new(webhook);
    run(service_fn(move |event| {
        let webhook = webhook.clone();
        async move { dd0c_shared::lambda::http_function(webhook.as_ref(), event).await }
    }))
    .await
}
