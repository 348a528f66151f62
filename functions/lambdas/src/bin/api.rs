//! The API Lambda: adapters and settings from the environment, then the shared HTTP glue.

use std::sync::Arc;

use dd0c_api::billing::stripe_client;
use dd0c_api::function_env::ApiEnv;
use dd0c_api::zombie_scan::ZombieScanJob;
use dd0c_api::{jwks_http::HttpJwks, Api};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::auth::jwt::{cognito_issuer, JwtVerifier};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::config::AwsAdapters;
use dd0c_shared::lambda::http_or_sqs_function;
use dd0c_shared::secrets::{process_env, SecretsExtension};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dd0c_shared::telemetry::init_lambda("api");
    let adapters = AwsAdapters::from_env().await?;
    let env = ApiEnv::read(&process_env)?;
    let secrets = SecretsExtension::from_env(&process_env)?;
    let stripe = secrets.json(&env.stripe_secret_arn).await?;
    let slack = secrets.json(&env.slack_secret_arn).await?;
    let (config, billing) = env.config(
        &stripe,
        &slack,
        dd0c_shared::governance::Policy::load(None)?,
    )?;
    let issuer = cognito_issuer(&env.cognito_region, &env.user_pool_id);
    let verifier = JwtVerifier::rs256(
        issuer.clone(),
        env.client_id.clone(),
        Arc::new(HttpJwks::for_pool(&issuer, &env.user_pool_id, &process_env)),
        adapters.clock.clone(),
    );
    let accounts = Arc::new(AwsAccounts::new(adapters.sdk.clone()));
    let api = Api::new(
        adapters.table.clone(),
        adapters.clock.clone(),
        accounts.clone(),
        Arc::new(verifier),
        stripe_client(billing),
        config,
    )
    .with_bus(adapters.bus.clone());
    // The daily zombie scans arrive on the `zombies` queue (docs/decisions/0620-daily-zombie-scan.md).
    let scans: Arc<dyn MessageHandler> = Arc::new(ZombieScanJob {
        table: adapters.table.clone(),
        accounts,
        clock: adapters.clock.clone(),
    });
    let (api, queue) = (&api, adapters.queue.clone());
    run(service_fn(move |event| {
        let (scans, queue) = (scans.clone(), queue.clone());
        async move { http_or_sqs_function(api, scans, queue, "zombies", event).await }
    }))
    .await
}
