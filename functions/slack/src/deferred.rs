//! Slash commands that may take longer than Slack's 3 seconds (`/dd0c digest`,
//! `/dd0c anomalies all`) are acknowledged at once and answered later through the command's
//! `response_url`. On Lambda the job travels over the bus to the `commands` queue, which the
//! slack function itself consumes; `dd0c serve` hands it to a background task.

use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusEvent, Envelope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::app::SlackApp;

/// The bus detail-type of a deferred command (routed to the `commands` queue).
pub const SLACK_COMMAND_DETAIL_TYPE: &str = "dd0c.SlackCommand";

/// Where Slack's response URLs live; anything else is refused (the URL comes from the request
/// body, so without this check a signed request could make dd0c POST anywhere).
pub const SLACK_RESPONSE_URL_PREFIX: &str = "https://hooks.slack.com/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredCommand {
    pub tenant_id: String,
    /// The command's text after `/dd0c`, e.g. `anomalies all`.
    pub text: String,
    pub response_url: String,
    pub user_id: String,
}

#[async_trait]
pub trait Deferrer: Send + Sync {
    async fn defer(&self, job: DeferredCommand) -> Result<(), String>;
}

/// Production: publish the job on the bus.
pub struct BusDeferrer(pub Arc<dyn Bus>);

#[async_trait]
impl Deferrer for BusDeferrer {
    async fn defer(&self, job: DeferredCommand) -> Result<(), String> {
        let detail = serde_json::to_value(&job).map_err(|e| e.to_string())?;
        self.0
            .publish(vec![BusEvent {
                detail_type: SLACK_COMMAND_DETAIL_TYPE.into(),
                detail,
                account: job.tenant_id.clone(),
                region: String::new(),
            }])
            .await
            .map_err(|e| e.to_string())
    }
}

/// `dd0c serve`: a channel drained by [`run_local`].
pub struct ChannelDeferrer(pub mpsc::UnboundedSender<DeferredCommand>);

#[async_trait]
impl Deferrer for ChannelDeferrer {
    async fn defer(&self, job: DeferredCommand) -> Result<(), String> {
        self.0
            .send(job)
            .map_err(|_| "the deferred-command worker stopped".to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// Slack refused the post (expired or used-up response URL): retrying cannot help.
    #[error("Slack refused the response: HTTP {0}")]
    Rejected(u16),
    #[error("could not reach Slack: {0}")]
    Unavailable(String),
}

/// POSTs a message to a response URL.
#[async_trait]
pub trait ResponsePoster: Send + Sync {
    async fn post(&self, url: &str, message: &Value) -> Result<(), PostError>;
}

pub struct HttpPoster(pub reqwest::Client);

#[async_trait]
impl ResponsePoster for HttpPoster {
    async fn post(&self, url: &str, message: &Value) -> Result<(), PostError> {
        let response = self
            .0
            .post(url)
            .json(message)
            .send()
            .await
            .map_err(|e| PostError::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            400..=499 => Err(PostError::Rejected(status)),
            _ => Err(PostError::Unavailable(format!("HTTP {status}"))),
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
