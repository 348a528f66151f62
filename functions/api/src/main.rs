//! The API Lambda: adapters from the environment, then the shared HTTP glue.

use std::sync::Arc;

use dd0c_api::{billing::HttpStripe, jwks_http::HttpJwks, Api, ApiConfig};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::auth::jwt::{cognito_issuer, JwtVerifier};
use dd0c_shared::config::{env, AwsAdapters};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    dd0c_shared::telemetry::init_lambda("api");
    let adapters = AwsAdapters::from_env().await?;
    let region = env("AWS_REGION")?;
    let issuer = cognito_issuer(&region, &env("USER_POOL_ID")?);
    let verifier = JwtVerifier::rs256(
        issuer.clone(),
        env("USER_POOL_CLIENT_ID")?,
        Arc::new(HttpJwks::for_issuer(&issuer)),
        adapters.clock.clone(),
    );
    let config = ApiConfig {
        template_url: env("TEMPLATE_URL")?,
        dd0c_account_id: env("DD0C_ACCOUNT_ID")?,
        region,
        stack_name: "dd0c-readonly".into(),
        stripe_price_id: env("STRIPE_PRICE_ID")?,
        app_url: env("APP_URL")?,
        system_policy: dd0c_shared::governance::Policy::load(None)?,
    };
    let api = Api::new(
        adapters.table.clone(),
        adapters.clock.clone(),
        Arc::new(AwsAccounts::new(adapters.sdk.clone())),
        Arc::new(verifier),
        Arc::new(HttpStripe::new(env("STRIPE_SECRET_KEY")?)),
        config,
    );
    let api = &api;
    run(service_fn(move |event| async move {
        dd0c_shared::lambda::http_function(api, event).await
    }))
    .await
}
