//! The buttons of an incident's header (mark all expected, snooze all 24 h, resolve all): the
//! action goes to every finding of the incident (`dd0c_shared::incidents::act_on_incident`),
//! then the thread's root says what was done and each changed alert shows its new state.

use chrono::Duration;
use dd0c_shared::chat::ChatMessage;
use dd0c_shared::entity::finding;
use dd0c_shared::entity::incident as incident_entity;
use dd0c_shared::entity::remediation::RemediationStatus;
use dd0c_shared::finding_actions::FindingAction;
use dd0c_shared::incidents::actions::IncidentActionError;
use dd0c_shared::incidents::{act_on_incident, IncidentOutcome};
use dd0c_shared::remediation::governed::Attempt;
use dd0c_shared::remediation::RemediationKind;
use dd0c_shared::slack::blocks::{acted_alert, summary};
use dd0c_shared::slack::incident::{
    standing_alert, summary as incident_summary, with_header, MARK_ALL_EXPECTED, RESOLVE_ALL,
    SNOOZE_ALL_24H, STOP_ALL,
};
use dd0c_shared::slack::remediation as remediation_buttons;

use crate::actions::Origin;

use crate::app::SlackApp;
use crate::finding_changes::ActionFailure;
use crate::reply::slack_actor;

impl From<IncidentActionError> for ActionFailure {
    fn from(e: IncidentActionError) -> Self {
        match e {
            IncidentActionError::NotFound(_) => ActionFailure::NotFound,
            e @ IncidentActionError::NotAllowed { .. } => ActionFailure::NotAllowed(e.to_string()),
            e => ActionFailure::Failed(e.to_string()),
        }
    }
}

impl SlackApp {
    pub(crate) async fn incident_action(
        &self,
        tenant: &str,
        user: &str,
        action_id: &str,
        incident_id: &str,
    ) -> Result<(), ActionFailure> {
        if action_id == STOP_ALL {
            return self.stop_all(tenant, user, incident_id).await;
        }
        let now = self.clock.now();
        let (action, done) = match action_id {
            MARK_ALL_EXPECTED => (FindingAction::MarkExpected, "marked expected".to_owned()),
            SNOOZE_ALL_24H => {
                let until = now + Duration::hours(24);
                (
                    FindingAction::Snooze { until },
                    format!("snoozed until {}", until.format("%Y-%m-%d %H:%M UTC")),
                )
            }
            RESOLVE_ALL => (FindingAction::Resolve, "resolved".to_owned()),
            _ => return Err(ActionFailure::Unknown),
        };
        let table = self.table.as_ref();
        let IncidentOutcome {
            incident,
            changed,
            unchanged,
        } = act_on_incident(table, tenant, incident_id, &action, &slack_actor(user), now).await?;
        let state = match unchanged {
            0 => format!("All {} findings {done} by <@{user}>", changed.len()),
            n => format!(
                "{} findings {done} by <@{user}> ({n} already acted on alone, left as they were)",
                changed.len()
            ),
        };
        let chat = self.chat(tenant).await?;
        // Each changed alert shows its new state; the root shows the incident's.
        for f in changed
            .iter()
            .filter(|f| incident.root_finding.as_deref() != Some(f.id.as_str()))
        {
            let Ok(Some(stored)) = finding::load_stored(table, tenant, &f.id).await else {
                continue;
            };
            if let (Some(channel), Some(ts)) = (stored.slack_channel, stored.slack_ts) {
                let message = ChatMessage {
                    channel: channel.clone(),
                    text: format!("{} — {state}", summary(f)),
                    blocks: acted_alert(f, &state),
                    thread_ts: None,
                };
                if let Err(e) = chat.update(&channel, &ts, message).await {
                    tracing::warn!(tenant, finding = %f.id, error = %e, "could not update the alert");
                }
            }
        }
        if let (Some(channel), Some(ts), Some(root_id)) = (
            incident.slack_channel.as_deref(),
            incident.slack_ts.as_deref(),
            incident.root_finding.as_deref(),
        ) {
            if let Ok(Some(root)) = finding::load(table, tenant, root_id).await {
                let mut alert = standing_alert(&root);
                if let Some((_, policy)) = &self.remediation {
                    if let Ok(offered) =
                        dd0c_shared::remediation::governed::offered(table, policy, &root).await
                    {
                        dd0c_shared::slack::remediation::add_buttons(&mut alert, &root, &offered);
                    }
                }
                let message = ChatMessage {
                    channel: channel.to_owned(),
                    text: format!("{} — {state}", incident_summary(&incident)),
                    blocks: with_header(&incident, alert, Some(&state)),
                    thread_ts: None,
                };
                if let Err(e) = chat.update(channel, ts, message).await {
                    tracing::warn!(tenant, incident = incident_id, error = %e, "could not update the incident's root");
                }
            }
        }
        tracing::info!(
            tenant,
            incident = incident_id,
            action = action_id,
            user,
            changed = changed.len(),
            unchanged,
            "slack incident action applied"
        );
        Ok(())
    }

    /// *Stop all instances*: each finding's own governed *Stop instances* (who may act, audit
    /// mode, one claim per finding, its audit entry, its alert showing its result), then the
    /// thread root says what came of all of them.
    async fn stop_all(
        &self,
        tenant: &str,
        user: &str,
        incident_id: &str,
    ) -> Result<(), ActionFailure> {
        let table = self.table.as_ref();
        let incident = incident_entity::load(table, tenant, incident_id)
            .await
            .map_err(|e| ActionFailure::Failed(e.to_string()))?
            .ok_or(ActionFailure::NotFound)?;
        let (mut stopped, mut already, mut not) = (0, 0, 0);
        let mut root_line = None;
        for id in &incident.finding_ids {
            let (attempt, line) = match self
                .remediate(
                    tenant,
                    user,
                    RemediationKind::StopInstances,
                    id,
                    Origin::elsewhere(),
                )
                .await
            {
                Ok(outcome) => outcome,
                Err(ActionFailure::NotFound) => continue,
                Err(e) => return Err(e),
            };
            match attempt {
                Attempt::Finished(r) if r.status == RemediationStatus::Done => stopped += 1,
                Attempt::Finished(r) | Attempt::Repeated(r)
                    if matches!(
                        r.status,
                        RemediationStatus::Done | RemediationStatus::AlreadyDone
                    ) =>
                {
                    already += 1
                }
                _ => not += 1,
            }
            if incident.root_finding.as_deref() == Some(id.as_str()) {
                root_line = Some(line);
            }
        }
        let state = format!(
            "Stop all by <@{user}>: {stopped} findings' instances stopped, {already} already stopped, {not} not stopped (each alert says why)"
        );
        if let (Some(channel), Some(ts), Some(root_id)) = (
            incident.slack_channel.as_deref(),
            incident.slack_ts.as_deref(),
            incident.root_finding.as_deref(),
        ) {
            if let Ok(Some(root)) = finding::load(table, tenant, root_id).await {
                let offered = match &self.remediation {
                    Some((_, policy)) => {
                        dd0c_shared::remediation::governed::offered(table, policy, &root)
                            .await
                            .unwrap_or_default()
                    }
                    None => Vec::new(),
                };
                let lines: Vec<String> = root_line.into_iter().collect();
                let alert =
                    remediation_buttons::alert_with(&root, standing_alert(&root), &offered, &lines);
                let message = ChatMessage {
                    channel: channel.to_owned(),
                    text: format!("{} — {state}", incident_summary(&incident)),
                    blocks: with_header(&incident, alert, Some(&state)),
                    thread_ts: None,
                };
                let chat = self.chat(tenant).await?;
                if let Err(e) = chat.update(channel, ts, message).await {
                    tracing::warn!(tenant, incident = incident_id, error = %e, "could not update the incident's root");
                }
            }
        }
        tracing::info!(
            tenant,
            incident = incident_id,
            user,
            stopped,
            already,
            not,
            "slack stop all applied"
        );
        Ok(())
    }
}
