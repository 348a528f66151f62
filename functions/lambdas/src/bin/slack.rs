use std::sync::Arc;

use dd0c_shared::config::AwsAdapters;
use dd0c_shared::lambda::http_or_sqs_function;
use dd0c_shared::remediation::aws::AwsRemediator;
use dd0c_shared::secrets::{process_env, SecretsExtension};
use dd0c_shared::telemetry;
use dd0c_slack::deferred::{BusDeferrer, DeferredCommands, HttpPoster};
use dd0c_slack::function_env::{slack_credentials, SlackEnv};
use dd0c_slack::{SlackApp, SlackOAuth};
use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("slack");
    let aws = AwsAdapters::from_env().await?;
    let env = SlackEnv::read(&process_env)?;
    let secret = SecretsExtension::from_env(&process_env)?
        .json(&env.secret_arn)
        .await?;
    let (signing, oauth) = slack_credentials(&secret)?;
    let mut app = SlackApp::new(
        aws.table.clone(),
        Arc::new(dd0c_shared::chat::RecordingChat::default()),
        aws.clock.clone(),
        signing,
    )
    .with_directory(aws.chat_directory()?)
    .with_deferrer(Arc::new(BusDeferrer(aws.bus.clone())))
    // Remediation buttons act through each account's remediation role (decision 0520).
    .with_remediation(
        Arc::new(AwsRemediator::new(aws.sdk.clone())),
        dd0c_shared::governance::Policy::load(None)?,
    );
    // Where SLACK_API_URL points Slack elsewhere (the local cloud's Slack), its response URLs
    // live there too.
    if let Ok(api) = std::env::var("SLACK_API_URL") {
        if let Some(origin) = dd0c_shared::http::url_origin(&api) {
            app = app.allow_response_urls(format!("{origin}/"));
        }
    }
    if let Some(config) = oauth {
        app = app.with_oauth(config, Arc::new(SlackOAuth::default()), aws.token_keys()?);
    }
    let app = Arc::new(app);
    let deferred = Arc::new(DeferredCommands {
        app: app.clone(),
        poster: Arc::new(HttpPoster(dd0c_shared::slack::web::http_client())),
    });
    let queue = aws.queue;
    run(service_fn(move |event| {
        let (app, deferred, queue) = (app.clone(), deferred.clone(), queue.clone());
        async move { http_or_sqs_function(app.as_ref(), deferred, queue, "commands", event).await }
    }))
    .await
}
