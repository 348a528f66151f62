//! One tenant's run now (by hand): housekeeping, then the digest posted.

use dd0c_shared::chat::{ChatError, ChatSink};
use dd0c_shared::clock::Clock;
use dd0c_shared::governance::Policy;
use dd0c_shared::slack::settings;
use dd0c_shared::store::Table;
use serde::Serialize;

use crate::build::{build_digest, Digest};
use crate::error::DigestError;
use crate::housekeeping::{housekeeping, Housekeeping};
use crate::render::digest_message;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DigestRun {
    pub digest: Digest,
    pub housekeeping: Housekeeping,
    pub posted: bool,
}

/// One tenant's daily run: housekeeping, then the digest posted to the tenant's channel
/// (`default_channel` when the tenant set none). Panic mode still lets the digest out: it is
/// the one place people see what was held.
pub async fn run_digest(
    table: &dyn Table,
    chat: &dyn ChatSink,
    clock: &dyn Clock,
    tenant: &str,
    policy: &Policy,
    default_channel: &str,
) -> Result<DigestRun, DigestError> {
    let now = clock.now();
    let housekeeping = housekeeping(table, policy, tenant, now).await?;
    let digest = build_digest(table, tenant, now).await?;
    let s = settings::load_settings(table, tenant).await?;
    let posted = match chat
        .post(digest_message(&digest, &s, default_channel))
        .await
    {
        Ok(_) => true,
        Err(ChatError::Revoked(why)) => {
            settings::mark_broken(table, tenant, &why, now).await?;
            false
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        tenant,
        posted,
        unsnoozed = housekeeping.unsnoozed.len(),
        promoted = housekeeping.promoted.len(),
        purged = housekeeping.purged.len(),
        "digest run"
    );
    Ok(DigestRun {
        digest,
        housekeeping,
        posted,
    })
}
