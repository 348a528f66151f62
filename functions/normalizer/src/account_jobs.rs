//! The `backfill` queue's consumer: the jobs that read a connected account through its
//! read-only role, one step per message in the account's message group: the history
//! backfill (decision 0320) and the stack discovery (decision 0430).

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::Envelope;
use dd0c_shared::domain::stack_discovery::STACK_DISCOVERY_DETAIL_TYPE;
use dd0c_shared::entity::backfill::STEP_DETAIL_TYPE;

use crate::{Backfill, StackDiscovery};

pub struct AccountJobs {
    pub backfill: Backfill,
    pub discovery: StackDiscovery,
}

#[async_trait]
impl MessageHandler for AccountJobs {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        match envelope.detail_type.as_str() {
            STEP_DETAIL_TYPE => self.backfill.handle(body).await,
            STACK_DISCOVERY_DETAIL_TYPE => self.discovery.handle(body).await,
            other => Err(HandlerError::malformed(format!(
                "unexpected detail-type {other:?} on the account jobs queue"
            ))),
        }
    }
}
