use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::Envelope;
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink};
use dd0c_shared::domain::{Finding, FINDING_DETAIL_TYPE};
use dd0c_shared::finding_store::{load_finding, record_notification};
use dd0c_shared::slack::blocks;
use dd0c_shared::store::Table;
use dd0c_shared::telemetry;
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub default_channel: String,
}

/// What the notifier decided for a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Send,
    Hold(String),
}

pub struct Notifier {
    table: Arc<dyn Table>,
    chat: Arc<dyn ChatSink>,
    config: NotifierConfig,
}

#[derive(Deserialize)]
struct FindingRef {
    tenant_id: String,
    finding_id: String,
}

impl Notifier {
    pub fn new(table: Arc<dyn Table>, chat: Arc<dyn ChatSink>, config: NotifierConfig) -> Self {
        Self {
            table,
            chat,
            config,
        }
    }

    pub fn decide(&self, finding: &Finding) -> Decision {
        if finding.severity.is_immediate() {
            Decision::Send
        } else {
            Decision::Hold(format!(
                "held for the daily digest (severity {})",
                finding.severity.as_str()
            ))
        }
    }

    pub async fn notify(&self, finding: &Finding) -> Result<Decision, HandlerError> {
        let decision = self.decide(finding);
        match &decision {
            Decision::Send => {
                let message = ChatMessage {
                    channel: self.config.default_channel.clone(),
                    text: blocks::summary(finding),
                    blocks: blocks::finding_alert(finding),
                    thread_ts: None,
                };
                match self.chat.post(message).await {
                    Ok(_) => {}
                    Err(ChatError::Revoked(reason)) => {
                        record_notification(
                            self.table.as_ref(),
                            finding,
                            false,
                            Some(&format!("Slack installation broken: {reason}")),
                        )
                        .await
                        .map_err(HandlerError::transient)?;
                        return Ok(Decision::Hold(reason));
                    }
                    Err(e) => return Err(HandlerError::transient(e)),
                }
                record_notification(self.table.as_ref(), finding, true, None)
                    .await
                    .map_err(HandlerError::transient)?;
                tracing::info!(finding = %finding.id, decision = "sent", "notification decision");
                telemetry::metric("NotificationsSent", 1.0);
            }
            Decision::Hold(reason) => {
                record_notification(self.table.as_ref(), finding, false, Some(reason))
                    .await
                    .map_err(HandlerError::transient)?;
                tracing::info!(finding = %finding.id, decision = "held", reason = %reason, "notification decision");
                telemetry::metric("NotificationsHeld", 1.0);
            }
        }
        Ok(decision)
    }
}

#[async_trait]
impl MessageHandler for Notifier {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != FINDING_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let reference: FindingRef =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        let finding = load_finding(
            self.table.as_ref(),
            &reference.tenant_id,
            &reference.finding_id,
        )
        .await
        .map_err(HandlerError::transient)?
        .ok_or_else(|| {
            HandlerError::malformed(format!("finding {} not found", reference.finding_id))
        })?;
        // A redelivered message must not post twice.
        if finding.notified || finding.suppressed_reason.is_some() {
            return Ok(());
        }
        self.notify(&finding).await.map(|_| ())
    }
}
