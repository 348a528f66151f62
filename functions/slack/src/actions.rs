//! Interactive payloads: button clicks and select menus on alerts, and the assign modal's
//! submission. Each applies a finding change and updates the original alert.

use std::sync::Arc;

use chrono::Duration;
use dd0c_shared::chat::ChatMessage;
use dd0c_shared::finding_actions::FindingAction;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::remediation::RemediationKind;
use dd0c_shared::slack::blocks::{self, summary};
use serde_json::{json, Value};

use crate::app::SlackApp;
use crate::finding_changes::{accept_drift, apply, load, set_owner, ActionFailure};
use crate::modals::{assign_modal, ASSIGN_VIEW, OWNER_BLOCK};
use crate::reply::{form, section};

impl SlackApp {
    pub(crate) async fn action(&self, request: HttpRequest) -> HttpResponse {
        let fields = form(&request.body);
        let Some(payload) = fields.get("payload") else {
            return HttpResponse::problem(
                400,
                "Bad request",
                "the form has no payload",
                Some("payload"),
            );
        };
        let payload: Value = match serde_json::from_str(payload) {
            Ok(v) => v,
            Err(e) => {
                return HttpResponse::problem(
                    400,
                    "Bad request",
                    &format!("payload is not JSON: {e}"),
                    Some("payload"),
                )
            }
        };
        let tenant = match self
            .tenant_for(
                payload["team"]["id"]
                    .as_str()
                    .or(payload["user"]["team_id"].as_str()),
            )
            .await
        {
            Ok(t) => t,
            Err(r) => return r,
        };
        let user = payload["user"]["id"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        if payload["type"] == "view_submission" {
            return self.view_submission(&tenant, &user, &payload).await;
        }
        let Some(action) = payload["actions"].get(0) else {
            return HttpResponse::problem(
                400,
                "Bad request",
                "payload.actions is empty",
                Some("payload.actions"),
            );
        };
        let action_id = action["action_id"].as_str().unwrap_or_default();
        if dd0c_shared::slack::incident::is_incident_action(action_id) {
            let incident_id = action["value"].as_str().unwrap_or_default();
            return match self
                .incident_action(&tenant, &user, action_id, incident_id)
                .await
            {
                Ok(()) => HttpResponse::text(200, "text/plain", ""),
                Err(failure) => failure.into_problem(action_id, "incident", incident_id),
            };
        }
        // Buttons carry the finding id; the assignee select carries it in its block id.
        let finding_id = action["value"].as_str().map(str::to_owned).or_else(|| {
            action["block_id"]
                .as_str()
                .and_then(|b| b.strip_prefix("assign:"))
                .map(str::to_owned)
        });
        let Some(finding_id) = finding_id else {
            return HttpResponse::problem(
                400,
                "Bad request",
                "the action names no finding",
                Some("payload.actions[0].value"),
            );
        };
        let channel = payload["container"]["channel_id"]
            .as_str()
            .or(payload["channel"]["id"].as_str())
            .map(str::to_owned);
        let ts = payload["container"]["message_ts"]
            .as_str()
            .map(str::to_owned);
        let origin = Origin {
            channel,
            ts,
            trigger_id: payload["trigger_id"].as_str().map(str::to_owned),
        };
        let outcome = match RemediationKind::from_action_id(action_id) {
            Some(kind) => self
                .remediate(&tenant, &user, kind, &finding_id, origin)
                .await
                .map(|_| ()),
            None => {
                self.apply_action(&tenant, &user, action_id, action, &finding_id, origin)
                    .await
            }
        };
        match outcome {
            Ok(()) => HttpResponse::text(200, "text/plain", ""),
            Err(failure) => failure.into_problem(action_id, "finding", &finding_id),
        }
    }

    /// The assign modal was submitted: set the owner, update the alert, close the modal.
    /// Problems the user can fix are shown in the modal (`response_action: errors`).
    async fn view_submission(&self, tenant: &str, user: &str, payload: &Value) -> HttpResponse {
        let view = &payload["view"];
        if view["callback_id"] != ASSIGN_VIEW {
            return HttpResponse::problem(
                400,
                "Bad request",
                &format!("unknown view {}", view["callback_id"]),
                Some("payload.view.callback_id"),
            );
        }
        let meta: Value = view["private_metadata"]
            .as_str()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let Some(finding_id) = meta["finding_id"].as_str() else {
            return HttpResponse::problem(
                400,
                "Bad request",
                "the view's private_metadata names no finding",
                Some("payload.view.private_metadata"),
            );
        };
        let in_modal = |message: &str| {
            HttpResponse::json(
                200,
                &json!({"response_action": "errors", "errors": {OWNER_BLOCK: message}}),
            )
        };
        let Some(owner) =
            view["state"]["values"][OWNER_BLOCK]["assign_to"]["selected_user"].as_str()
        else {
            return in_modal("Pick an owner");
        };
        let origin = Origin {
            channel: meta["channel"].as_str().map(str::to_owned),
            ts: meta["ts"].as_str().map(str::to_owned),
            trigger_id: None,
        };
        let selected = json!({ "selected_user": owner });
        match self
            .apply_action(tenant, user, "assign_to", &selected, finding_id, origin)
            .await
        {
            // An empty 200 closes the modal.
            Ok(()) => HttpResponse::text(200, "text/plain", ""),
            Err(ActionFailure::NotFound) => in_modal("This finding no longer exists"),
            Err(ActionFailure::Unknown | ActionFailure::NotAllowed(_)) => {
                in_modal("This finding cannot be assigned")
            }
            Err(ActionFailure::Failed(e)) => {
                tracing::error!(tenant, finding = finding_id, error = %e, "assign failed");
                in_modal("dd0c could not save the owner; try again")
            }
        }
    }

    async fn apply_action(
        &self,
        tenant: &str,
        user: &str,
        action_id: &str,
        action: &Value,
        finding_id: &str,
        origin: Origin,
    ) -> Result<(), ActionFailure> {
        let Origin {
            channel,
            ts,
            trigger_id,
        } = origin;
        let now = self.clock.now();
        let who = crate::reply::slack_actor(user);
        let table = self.table.as_ref();
        let state = match action_id {
            "mark_expected" => {
                apply(
                    table,
                    tenant,
                    finding_id,
                    &FindingAction::MarkExpected,
                    &who,
                    now,
                )
                .await?;
                format!("Marked expected by <@{user}>")
            }
            "snooze_1h" | "snooze_24h" | "snooze_7d" => {
                let until = now
                    + match action_id {
                        "snooze_1h" => Duration::hours(1),
                        "snooze_24h" => Duration::hours(24),
                        _ => Duration::days(7),
                    };
                apply(
                    table,
                    tenant,
                    finding_id,
                    &FindingAction::Snooze { until },
                    &who,
                    now,
                )
                .await?;
                format!(
                    "Snoozed until {} by <@{user}>",
                    until.format("%Y-%m-%d %H:%M UTC")
                )
            }
            "accept_drift" => {
                accept_drift(table, tenant, finding_id, &who, now).await?;
                format!("Drift accepted by <@{user}>")
            }
            "assign" => {
                let finding = load(table, tenant, finding_id).await?.finding;
                let chat = self.chat(tenant).await?;
                if let Some(trigger_id) = &trigger_id {
                    let view = assign_modal(&finding, channel.as_deref(), ts.as_deref());
                    match chat.open_view(trigger_id, view).await {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            tracing::warn!(tenant, finding = finding_id, error = %e, "no modal: assigning in the thread instead")
                        }
                    }
                }
                // Without a modal (expired trigger, a sink that cannot open views): a user
                // picker in the alert's thread.
                let (Some(channel), Some(ts)) = (channel, ts) else {
                    return Err(ActionFailure::Unknown);
                };
                let picker = json!([
                    section(&format!("Who should own `{finding_id}`?")),
                    {"type": "actions", "block_id": format!("assign:{finding_id}"), "elements": [
                        {"type": "users_select", "action_id": "assign_to", "placeholder": {"type": "plain_text", "text": "Pick an owner"}}
                    ]}
                ]);
                chat.post(ChatMessage {
                    channel,
                    text: format!("Assign {}", summary(&finding)),
                    blocks: picker,
                    thread_ts: Some(ts),
                })
                .await
                .map_err(|e| ActionFailure::Failed(e.to_string()))?;
                return Ok(());
            }
            dd0c_shared::slack::why::WHY_ACTION => {
                let finding = load(table, tenant, finding_id).await?.finding;
                let chat = self.chat(tenant).await?;
                if let Some(trigger_id) = &trigger_id {
                    match chat
                        .open_view(trigger_id, dd0c_shared::slack::why::why_view(&finding))
                        .await
                    {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            tracing::warn!(tenant, finding = finding_id, error = %e, "no modal: the decision goes to the thread")
                        }
                    }
                }
                let (Some(channel), Some(ts)) = (channel, ts) else {
                    return Err(ActionFailure::Unknown);
                };
                chat.post(ChatMessage {
                    channel,
                    text: format!("Why: {}", summary(&finding)),
                    blocks: Value::Array(dd0c_shared::slack::why::why_blocks(&finding)),
                    thread_ts: Some(ts),
                })
                .await
                .map_err(|e| ActionFailure::Failed(e.to_string()))?;
                return Ok(());
            }
            "assign_to" => {
                let owner = action["selected_user"]
                    .as_str()
                    .ok_or(ActionFailure::Unknown)?;
                set_owner(table, tenant, finding_id, owner, &who, now).await?;
                format!("Assigned to <@{owner}> by <@{user}>")
            }
            _ => return Err(ActionFailure::Unknown),
        };
        // Update the original alert (the finding remembers where it is; the payload too).
        let stored = load(table, tenant, finding_id).await?;
        let finding = stored.finding;
        let channel = stored.slack_channel.or(channel);
        let ts = stored.slack_ts.or(ts);
        if let (Some(channel), Some(ts)) = (channel, ts) {
            let chat = self.chat(tenant).await?;
            let mut alert = blocks::acted_alert(&finding, &state);
            // The remediation buttons stay on the alert until they have a result.
            if let Some((_, policy)) = &self.remediation {
                let offered = dd0c_shared::remediation::governed::offered(table, policy, &finding)
                    .await
                    .map_err(|e| ActionFailure::Failed(e.to_string()))?;
                dd0c_shared::slack::remediation::add_buttons(&mut alert, &finding, &offered);
            }
            let alert = dd0c_shared::slack::incident::as_posted(table, &finding, alert)
                .await
                .map_err(|e| ActionFailure::Failed(e.to_string()))?;
            let message = ChatMessage {
                channel: channel.clone(),
                text: format!("{} — {state}", summary(&finding)),
                blocks: alert,
                thread_ts: None,
            };
            if let Err(e) = chat.update(&channel, &ts, message).await {
                // The state change stands; only the message is stale.
                tracing::warn!(tenant, finding = finding_id, error = %e, "could not update the alert");
            }
        }
        tracing::info!(
            tenant,
            finding = finding_id,
            action = action_id,
            user,
            "slack action applied"
        );
        Ok(())
    }

    pub(crate) async fn chat(
        &self,
        tenant: &str,
    ) -> Result<Arc<dyn dd0c_shared::chat::ChatSink>, ActionFailure> {
        self.chats
            .chat_for(tenant)
            .await
            .map_err(|e| ActionFailure::Failed(e.to_string()))?
            .ok_or_else(|| ActionFailure::Failed("no working Slack installation".into()))
    }
}

/// Where an interaction came from: the alert's message and, for buttons, the trigger that
/// may open a modal.
pub(crate) struct Origin {
    pub(crate) channel: Option<String>,
    pub(crate) ts: Option<String>,
    trigger_id: Option<String>,
}

impl Origin {
    /// A change asked for elsewhere (an incident's button acting on each of its findings):
    /// each finding's alert is found from the finding.
    pub(crate) fn elsewhere() -> Self {
        Origin {
            channel: None,
            ts: None,
            trigger_id: None,
        }
    }
}
