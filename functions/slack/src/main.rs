use std::sync::Arc;

use dd0c_shared::config::{env, AwsAdapters};
use dd0c_shared::lambda::http_function;
use dd0c_shared::telemetry;
use dd0c_slack::{
    chat_directory_from_env, key_provider_from_env, OAuthConfig, SlackApp, SlackOAuth, SlackSecrets,
};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("slack");
    let aws = AwsAdapters::from_env().await?;
    let secrets = SlackSecrets {
        signing_secret: env("SLACK_SIGNING_SECRET")?,
    };
    let chats = chat_directory_from_env(aws.table.clone())?;
    let mut app = SlackApp::new(
        aws.table.clone(),
        Arc::new(dd0c_shared::chat::RecordingChat::default()),
        aws.clock,
        secrets,
    )
    .with_directory(chats);
    if let (Ok(client_id), Ok(client_secret), Ok(redirect_uri)) = (
        env("SLACK_CLIENT_ID"),
        env("SLACK_CLIENT_SECRET"),
        env("SLACK_REDIRECT_URI"),
    ) {
        let config = OAuthConfig {
            client_id,
            client_secret,
            redirect_uri,
        };
        app = app.with_oauth(
            config,
            Arc::new(SlackOAuth::default()),
            key_provider_from_env()?,
        );
    }
    let app = Arc::new(app);
    run(service_fn(move |event| {
        let app = app.clone();
        async move { http_function(app.as_ref(), event).await }
    }))
    .await
}
