use dd0c_digest::Invocation;
use dd0c_shared::config::{env, AwsAdapters};
use dd0c_shared::governance::Policy;
use dd0c_shared::telemetry;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// Input: the hourly scheduler tick (which also queues the due daily zombie scans), or
/// `{"tenant_id": "..."}` for one tenant by hand.
#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_lambda("digest");
    let policy = Policy::load(None)?;
    let aws = AwsAdapters::from_env().await?;
    let channel = env("DEFAULT_SLACK_CHANNEL").unwrap_or_else(|_| "#dd0c-alerts".into());
    let chats = aws.chat_directory()?;
    let (table, clock, bus) = (aws.table, aws.clock, aws.bus);
    run(service_fn(move |event: LambdaEvent<Invocation>| {
        let (table, clock, bus, chats, policy, channel) = (
            table.clone(),
            clock.clone(),
            bus.clone(),
            chats.clone(),
            policy.clone(),
            channel.clone(),
        );
        async move {
            let out = dd0c_digest::handle(
                table.as_ref(),
                chats.as_ref(),
                bus.as_ref(),
                clock.as_ref(),
                &policy,
                &channel,
                event.payload,
            )
            .await;
            telemetry::flush_metrics();
            Ok::<_, Error>(out?)
        }
    }))
    .await
}
