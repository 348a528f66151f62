//! The deferred-command job and its ports: where a slow slash command goes (a [`Deferrer`])
//! and how its answer is posted back to Slack (a [`ResponsePoster`]).

use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::bus::{Bus, BusEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

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
                tenant: job.tenant_id.clone(),
                account: String::new(),
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
