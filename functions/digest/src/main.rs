use dd0c_shared::config::{env, AwsAdapters};
use dd0c_shared::governance::Policy;
use dd0c_shared::telemetry;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde::Deserialize;

/// The EventBridge Scheduler target input: one schedule per tenant.
#[derive(Deserialize)]
struct ScheduledDigest {
    tenant_id: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("digest");
    let policy = Policy::load(None)?;
    let aws = AwsAdapters::from_env().await?;
    let channel = env("DEFAULT_SLACK_CHANNEL").unwrap_or_else(|_| "#dd0c-alerts".into());
    let chats = dd0c_shared::slack::web::chat_directory_from_env(aws.table.clone())?;
    let (table, clock) = (aws.table, aws.clock);
    run(service_fn(move |event: LambdaEvent<ScheduledDigest>| {
        let (table, clock, chats, policy, channel) = (
            table.clone(),
            clock.clone(),
            chats.clone(),
            policy.clone(),
            channel.clone(),
        );
        async move {
            let tenant = event.payload.tenant_id;
            let Some(chat) = chats.chat_for(&tenant).await? else {
                tracing::warn!(tenant, "no working Slack installation: digest not posted");
                return Ok::<_, Error>(serde_json::json!({"tenant_id": tenant, "posted": false}));
            };
            let report = dd0c_digest::run_digest(
                table.as_ref(),
                chat.as_ref(),
                clock.as_ref(),
                &tenant,
                &policy,
                &channel,
            )
            .await?;
            Ok(serde_json::to_value(&report)?)
        }
    }))
    .await
}
