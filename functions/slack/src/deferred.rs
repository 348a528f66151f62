//! Slash commands that may take longer than Slack's 3 seconds (`/dd0c digest`,
//! `/dd0c anomalies all`) are acknowledged at once and answered later through the command's
//! `response_url`. On Lambda the job travels over the bus to the `commands` queue, which the
//! slack function itself consumes; `dd0c serve` hands it to a background task.

use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::Envelope;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::app::SlackApp;

pub use crate::deferral::{
    BusDeferrer, ChannelDeferrer, DeferredCommand, Deferrer, HttpPoster, PostError, ResponsePoster,
    SLACK_COMMAND_DETAIL_TYPE, SLACK_RESPONSE_URL_PREFIX,
};

impl SlackApp {
    /// Answers a deferred command through its response URL. A URL outside Slack's is refused
    /// (dead-lettered with the reason); Slack refusing the post (an expired URL) is logged and
    /// dropped, since a retry would be refused too; Slack unreachable is retried.
    pub async fn run_deferred(
        &self,
        job: &DeferredCommand,
        poster: &dyn ResponsePoster,
    ) -> Result<(), HandlerError> {
        if !self
            .response_url_prefixes
            .iter()
            .any(|p| job.response_url.starts_with(p.as_str()))
        {
            return Err(HandlerError::malformed(format!(
                "response_url {:?} is not a Slack response URL",
                job.response_url
            )));
        }
        let answer = self.answer(&job.tenant_id, &job.text, &job.user_id).await;
        let message: Value = serde_json::from_str(&answer.body).map_err(HandlerError::malformed)?;
        match poster.post(&job.response_url, &message).await {
            Ok(()) => Ok(()),
            Err(PostError::Rejected(status)) => {
                tracing::warn!(tenant = %job.tenant_id, command = %job.text, status, "Slack refused a deferred answer");
                Ok(())
            }
            Err(e @ PostError::Unavailable(_)) => Err(HandlerError::transient(e)),
        }
    }
}

/// Runs deferred commands from the `commands` queue (EventBridge envelopes).
pub struct DeferredCommands {
    pub app: Arc<SlackApp>,
    pub poster: Arc<dyn ResponsePoster>,
}

#[async_trait]
impl MessageHandler for DeferredCommands {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != SLACK_COMMAND_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let job: DeferredCommand =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        self.app.run_deferred(&job, self.poster.as_ref()).await
    }
}

/// `dd0c serve`'s worker: answers each deferred command until the channel closes.
pub async fn run_local(
    app: Arc<SlackApp>,
    poster: Arc<dyn ResponsePoster>,
    mut jobs: mpsc::UnboundedReceiver<DeferredCommand>,
) {
    while let Some(job) = jobs.recv().await {
        if let Err(e) = app.run_deferred(&job, poster.as_ref()).await {
            tracing::warn!(tenant = %job.tenant_id, command = %job.text, error = %e, "deferred command failed");
        }
    }
}
