//! The function's entry point: the scheduler's tick, or one tenant's run by hand.

use dd0c_shared::bus::Bus;
use dd0c_shared::clock::Clock;
use dd0c_shared::governance::Policy;
use dd0c_shared::slack::settings::ChatDirectory;
use dd0c_shared::store::Table;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::DigestError;
use crate::run::run_digest;
use crate::tick::{run_tick, Tick};

/// What the function accepts: the scheduler's tick, or `{"tenant_id": "..."}` to run one
/// tenant's digest and housekeeping now (by hand; no once-a-day marker).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Invocation {
    Tenant { tenant_id: String },
    Tick(Tick),
}

/// Serves one invocation of the function: the tick (an error when a due digest failed, so
/// that the scheduler retries the tick), or one tenant's run by hand.
pub async fn handle(
    table: &dyn Table,
    chats: &dyn ChatDirectory,
    bus: &dyn Bus,
    clock: &dyn Clock,
    policy: &Policy,
    default_channel: &str,
    invocation: Invocation,
) -> Result<Value, DigestError> {
    match invocation {
        Invocation::Tick(tick) => {
            if tick.kind != "tick" {
                return Err(DigestError::Payload(format!("kind {:?}", tick.kind)));
            }
            let at = tick.scheduled_time.unwrap_or_else(|| clock.now());
            let report = run_tick(table, chats, bus, clock, policy, default_channel, at).await?;
            if report.digest_failed() {
                let failed: Vec<String> = report
                    .failures
                    .iter()
                    .map(|f| format!("{} ({}): {}", f.tenant_id, f.stage, f.error))
                    .collect();
                return Err(DigestError::Incomplete(failed.join("; ")));
            }
            Ok(serde_json::to_value(&report).unwrap_or_default())
        }
        Invocation::Tenant { tenant_id } => {
            let Some(chat) = chats.chat_for(&tenant_id).await? else {
                tracing::warn!(
                    tenant = tenant_id,
                    "no working Slack installation: digest not posted"
                );
                return Ok(json!({"tenant_id": tenant_id, "posted": false}));
            };
            let run = run_digest(
                table,
                chat.as_ref(),
                clock,
                &tenant_id,
                policy,
                default_channel,
            )
            .await?;
            Ok(serde_json::to_value(&run).unwrap_or_default())
        }
    }
}
