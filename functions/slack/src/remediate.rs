//! The remediation buttons' clicks: the governed remediation (who may act, audit mode, one
//! claim per finding and kind, the audit trail) and the alert updated with its result in
//! place of the button (docs/decisions/0520-remediation.md).

use dd0c_shared::chat::ChatMessage;
use dd0c_shared::remediation::governed::{self, Asked, Attempt, GovernedError, Requester};
use dd0c_shared::remediation::RemediationKind;
use dd0c_shared::slack::blocks;
use dd0c_shared::slack::remediation as buttons;

use crate::actions::Origin;
use crate::app::SlackApp;
use crate::finding_changes::{load, ActionFailure};

impl SlackApp {
    pub(crate) async fn remediate(
        &self,
        tenant: &str,
        user: &str,
        kind: RemediationKind,
        finding_id: &str,
        origin: Origin,
    ) -> Result<(Attempt, String), ActionFailure> {
        let Some((remediator, policy)) = &self.remediation else {
            // A deployment without remediation never renders these buttons.
            return Err(ActionFailure::Unknown);
        };
        let table = self.table.as_ref();
        let actor = crate::reply::slack_actor(user);
        let attempt = governed::remediate(
            table,
            remediator.as_ref(),
            policy,
            &Asked {
                tenant,
                finding_id,
                kind,
            },
            &Requester {
                actor: &actor,
                slack_user: user,
            },
            self.clock.now(),
        )
        .await
        .map_err(|e| match e {
            GovernedError::NotFound(_) => ActionFailure::NotFound,
            GovernedError::Store(e) => ActionFailure::Failed(e.to_string()),
        })?;
        let line = match &attempt {
            Attempt::Finished(r) => buttons::result_line(r, false),
            Attempt::Repeated(r) | Attempt::InProgress(r) => buttons::result_line(r, true),
            Attempt::Refused(refusal) => format!(
                ":no_entry: <@{user}> cannot {}: {}",
                kind.label().to_lowercase(),
                refusal.reason()
            ),
        };
        let stored = load(table, tenant, finding_id).await?;
        let finding = stored.finding;
        let offered = governed::offered(table, policy, &finding)
            .await
            .map_err(|e| ActionFailure::Failed(e.to_string()))?;
        let channel = stored.slack_channel.or(origin.channel);
        let ts = stored.slack_ts.or(origin.ts);
        if let (Some(channel), Some(ts)) = (channel, ts) {
            let chat = self.chat(tenant).await?;
            let alert = buttons::alert_with(
                &finding,
                blocks::finding_alert(&finding),
                &offered,
                std::slice::from_ref(&line),
            );
            let message = ChatMessage {
                channel: channel.clone(),
                text: buttons::text(&finding, &line),
                blocks: dd0c_shared::slack::incident::as_posted(table, &finding, alert)
                    .await
                    .map_err(|e| ActionFailure::Failed(e.to_string()))?,
                thread_ts: None,
            };
            if let Err(e) = chat.update(&channel, &ts, message).await {
                // The remediation and its record stand; only the message is stale.
                tracing::warn!(tenant, finding = finding_id, error = %e, "could not update the alert");
            }
        }
        Ok((attempt, line))
    }
}
