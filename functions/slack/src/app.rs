//! The Slack app behind API Gateway (and `dd0c serve`): slash commands, interactive actions,
//! OAuth install. Every request's signature is checked first.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use dd0c_shared::batch::HandlerError;
use dd0c_shared::chat::ChatMessage;
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::{Finding, FindingKind, FindingStatus};
use dd0c_shared::finding_actions::{self, append_audit, audit_entry, FindingAction};
use dd0c_shared::finding_store::{all_findings, load_finding};
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::signatures::verify_slack_signature;
use dd0c_shared::slack::blocks::{self, escape_mrkdwn, summary, truncate, MAX_TEXT};
use dd0c_shared::slack::settings::{self, ChatDirectory, SingleChat};
use dd0c_shared::store::{keys, Condition, Table, Update};
use serde_json::{json, Value};

use crate::deferred::{
    DeferredCommand, Deferrer, PostError, ResponsePoster, SLACK_RESPONSE_URL_PREFIX,
};
use crate::oauth::{OAuthConfig, OAuthExchange};

/// The secrets the app needs (`SLACK_SIGNING_SECRET` locally, Secrets Manager in production).
#[derive(Clone)]
pub struct SlackSecrets {
    pub signing_secret: String,
}

pub struct SlackApp {
    pub(crate) table: Arc<dyn Table>,
    chats: Arc<dyn ChatDirectory>,
    pub(crate) clock: SharedClock,
    secrets: SlackSecrets,
    /// The tenant of requests from a workspace no installation links (the embedded mode).
    default_tenant: Option<String>,
    pub(crate) oauth: Option<(OAuthConfig, Arc<dyn OAuthExchange>)>,
    pub(crate) keys: Option<Arc<dyn dd0c_shared::crypto::KeyProvider>>,
    deferrer: Option<Arc<dyn Deferrer>>,
    /// Response URLs the app will POST to (Slack's only, but for local tests).
    response_url_prefixes: Vec<String>,
}

fn ephemeral(text: &str, blocks: Value) -> HttpResponse {
    HttpResponse::json(
        200,
        &json!({"response_type": "ephemeral", "text": truncate(text, MAX_TEXT), "blocks": blocks}),
    )
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

pub(crate) fn form(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    HttpRequest::parse_query(&String::from_utf8_lossy(body))
}

/// Commands that read a day of events or every finding: deferred when Slack gave a response
/// URL, so the 3-second acknowledgement never waits on them.
fn is_slow(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    matches!(words.as_slice(), ["digest", ..] | ["anomalies", "all", ..])
}

const HELP: &str = "*dd0c commands*\n\
• `/dd0c status`: what dd0c watches and what is open\n\
• `/dd0c anomalies [open|all] [account]`: cost anomalies\n\
• `/dd0c digest`: today's digest\n\
• `/dd0c drift [stack]`: drift score per stack, or one stack's open drift\n\
• `/dd0c help`";

impl SlackApp {
    /// Built on ports, so `dd0c serve` runs it on embedded adapters.
    pub fn new(
        table: Arc<dyn Table>,
        chat: Arc<dyn dd0c_shared::chat::ChatSink>,
        clock: SharedClock,
        secrets: SlackSecrets,
    ) -> Self {
        Self {
            table,
            chats: Arc::new(SingleChat(chat)),
            clock,
            secrets,
            default_tenant: None,
            oauth: None,
            keys: None,
            deferrer: None,
            response_url_prefixes: vec![SLACK_RESPONSE_URL_PREFIX.to_owned()],
        }
    }

    /// Slow commands are acknowledged at once and answered through `response_url`.
    pub fn with_deferrer(mut self, deferrer: Arc<dyn Deferrer>) -> Self {
        self.deferrer = Some(deferrer);
        self
    }

    /// Also accepts response URLs under `prefix` (local replays and tests).
    pub fn allow_response_urls(mut self, prefix: impl Into<String>) -> Self {
        self.response_url_prefixes.push(prefix.into());
        self
    }

    pub(crate) fn default_tenant(&self) -> Option<String> {
        self.default_tenant.clone()
    }

    pub fn with_default_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.default_tenant = Some(tenant.into());
        self
    }

    pub fn with_directory(mut self, chats: Arc<dyn ChatDirectory>) -> Self {
        self.chats = chats;
        self
    }

    /// Enables `/v1/slack/install` and `/v1/slack/oauth_redirect`.
    pub fn with_oauth(
        mut self,
        config: OAuthConfig,
        exchange: Arc<dyn OAuthExchange>,
        keys: Arc<dyn dd0c_shared::crypto::KeyProvider>,
    ) -> Self {
        self.oauth = Some((config, exchange));
        self.keys = Some(keys);
        self
    }

    fn verify(&self, request: &HttpRequest) -> Result<(), HttpResponse> {
        verify_slack_signature(
            &self.secrets.signing_secret,
            request.header("x-slack-request-timestamp"),
            request.header("x-slack-signature"),
            &request.body,
            self.clock.now().timestamp(),
        )
        .map_err(|e| {
            tracing::warn!(error = %e, "refused a Slack request");
            HttpResponse::problem(
                401,
                "Unauthorized",
                &e.to_string(),
                Some("x-slack-signature"),
            )
        })
    }

    async fn tenant_for(&self, team_id: Option<&str>) -> Result<String, HttpResponse> {
        if let Some(team) = team_id {
            match settings::tenant_for_team(self.table.as_ref(), team).await {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "team lookup failed");
                    return Err(HttpResponse::problem(503, "Unavailable", "try again", None));
                }
            }
        }
        self.default_tenant.clone().ok_or_else(|| {
            HttpResponse::problem(
                403,
                "Forbidden",
                "this Slack workspace is not linked to a dd0c tenant; install the app first",
                Some("team_id"),
            )
        })
    }

    // ---- slash commands ------------------------------------------------------------------

    async fn command(&self, request: HttpRequest) -> HttpResponse {
        let fields = form(&request.body);
        let tenant = match self
            .tenant_for(fields.get("team_id").map(String::as_str))
            .await
        {
            Ok(t) => t,
            Err(r) => return r,
        };
        let text = fields.get("text").cloned().unwrap_or_default();
        let response_url = fields.get("response_url").filter(|u| !u.is_empty());
        if let (true, Some(deferrer), Some(url)) =
            (is_slow(&text), self.deferrer.as_ref(), response_url)
        {
            let job = DeferredCommand {
                tenant_id: tenant.clone(),
                text: text.clone(),
                response_url: url.clone(),
                user_id: fields.get("user_id").cloned().unwrap_or_default(),
            };
            match deferrer.defer(job).await {
                Ok(()) => {
                    return ephemeral(
                        "Working on it…",
                        json!([section(&format!(
                            ":hourglass_flowing_sand: Working on `/dd0c {}`: the answer follows here in a moment.",
                            text.trim()
                        ))]),
                    )
                }
                // Answering late beats not answering: try within the 3 seconds.
                Err(e) => tracing::warn!(tenant, error = %e, "could not defer a slow command"),
            }
        }
        self.answer(&tenant, &text).await
    }

    /// The answer to `/dd0c <text>` as an ephemeral message.
    async fn answer(&self, tenant: &str, text: &str) -> HttpResponse {
        let words: Vec<&str> = text.split_whitespace().collect();
        let result = match words.first().copied().unwrap_or("help") {
            "status" => self.status(tenant).await,
            "anomalies" => self.anomalies(tenant, &words[1..]).await,
            "digest" => self.digest(tenant).await,
            "drift" => self.drift(tenant, words.get(1).copied()).await,
            "help" => Ok(ephemeral("dd0c help", json!([section(HELP)]))),
            other => Ok(ephemeral(
                "unknown command",
                json!([section(&format!(
                    "Unknown command `{}`.\n{HELP}",
                    escape_mrkdwn(other)
                ))]),
            )),
        };
        result.unwrap_or_else(|e| {
            tracing::error!(tenant, error = %e, "slash command failed");
            ephemeral(
                "dd0c could not answer",
                json!([section(
                    ":warning: dd0c could not read its data just now; try again in a minute."
                )]),
            )
        })
    }

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
        let answer = self.answer(&job.tenant_id, &job.text).await;
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

    async fn status(&self, tenant: &str) -> Result<HttpResponse, dd0c_shared::store::StoreError> {
        let findings = all_findings(self.table.as_ref(), tenant).await?;
        let open = |k: FindingKind| {
            findings
                .iter()
                .filter(|f| f.kind == k && f.status == FindingStatus::Open)
                .count()
        };
        let held = findings
            .iter()
            .filter(|f| !f.notified && f.suppressed_reason.is_some())
            .count();
        let install = settings::load_installation(self.table.as_ref(), tenant)
            .await
            .ok()
            .flatten()
            .map(|i| format!("{:?}", i.status).to_lowercase())
            .unwrap_or_else(|| "not installed (local mode)".into());
        let text = format!(
            "*dd0c status*\n• Open cost anomalies: {}\n• Open drift: {}\n• Findings held by governance: {held}\n• Findings recorded: {}\n• Slack installation: {install}",
            open(FindingKind::CostAnomaly),
            open(FindingKind::Drift),
            findings.len()
        );
        Ok(ephemeral("dd0c status", json!([section(&text)])))
    }

    async fn anomalies(
        &self,
        tenant: &str,
        args: &[&str],
    ) -> Result<HttpResponse, dd0c_shared::store::StoreError> {
        let all = args.first() == Some(&"all");
        let account = args
            .iter()
            .find(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()))
            .copied();
        let mut list: Vec<Finding> = all_findings(self.table.as_ref(), tenant)
            .await?
            .into_iter()
            .filter(|f| f.kind == FindingKind::CostAnomaly)
            .filter(|f| all || f.status == FindingStatus::Open)
            .filter(|f| account.is_none_or(|a| f.account_id == a))
            .collect();
        list.reverse();
        let total = list.len();
        let lines: Vec<String> = list
            .iter()
            .take(10)
            .map(|f| format!("• {} `{}`", summary(f), f.id))
            .collect();
        let scope = if all { "all" } else { "open" };
        let head = format!(
            "*{total} {scope} cost anomalies*{}",
            account.map(|a| format!(" in {a}")).unwrap_or_default()
        );
        let body = if lines.is_empty() {
            "Nothing to show.".to_owned()
        } else {
            lines.join("\n")
        };
        let more = if total > 10 {
            format!("\n…{} more in the dashboard", total - 10)
        } else {
            String::new()
        };
        Ok(ephemeral(
            &head,
            json!([section(&format!("{head}\n{body}{more}"))]),
        ))
    }

    async fn digest(&self, tenant: &str) -> Result<HttpResponse, dd0c_shared::store::StoreError> {
        let digest =
            dd0c_digest::build_digest(self.table.as_ref(), tenant, self.clock.now()).await?;
        Ok(ephemeral(
            "dd0c digest",
            dd0c_digest::digest_blocks(&digest),
        ))
    }

    async fn drift(
        &self,
        tenant: &str,
        stack: Option<&str>,
    ) -> Result<HttpResponse, dd0c_shared::store::StoreError> {
        let table = self.table.as_ref();
        let text = match stack {
            None => {
                let stacks = dd0c_shared::drift_store::list_stacks(table, tenant).await?;
                if stacks.is_empty() {
                    "No stacks known yet.".to_owned()
                } else {
                    let lines: Vec<String> = stacks
                        .iter()
                        .map(|s| {
                            format!(
                                "• {}: score {:.0}/100",
                                escape_mrkdwn(&s.name),
                                s.drift_score
                            )
                        })
                        .collect();
                    format!("*Drift by stack*\n{}", lines.join("\n"))
                }
            }
            Some(stack) => {
                let open: Vec<String> = all_findings(table, tenant)
                    .await?
                    .into_iter()
                    .filter(|f| f.kind == FindingKind::Drift && f.status == FindingStatus::Open)
                    .filter(|f| f.details.get("stack").and_then(Value::as_str) == Some(stack))
                    .map(|f| format!("• {} `{}`", summary(&f), f.id))
                    .collect();
                let stack = escape_mrkdwn(stack);
                if open.is_empty() {
                    format!("No open drift in `{stack}`.")
                } else {
                    format!("*Open drift in {stack}*\n{}", open.join("\n"))
                }
            }
        };
        Ok(ephemeral("dd0c drift", json!([section(&text)])))
    }

    // ---- interactive actions -------------------------------------------------------------

    async fn action(&self, request: HttpRequest) -> HttpResponse {
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
        match self
            .apply_action(&tenant, &user, action_id, action, &finding_id, origin)
            .await
        {
            Ok(()) => HttpResponse::text(200, "text/plain", ""),
            Err(ActionFailure::Unknown) => HttpResponse::problem(
                400,
                "Bad request",
                &format!("unknown action {action_id:?}"),
                Some("payload.actions[0].action_id"),
            ),
            Err(ActionFailure::NotFound) => HttpResponse::problem(
                404,
                "Not found",
                &format!("no finding {finding_id}"),
                Some("payload.actions[0].value"),
            ),
            Err(ActionFailure::Failed(e)) => {
                tracing::error!(tenant, finding = %finding_id, error = %e, "action failed");
                HttpResponse::problem(
                    503,
                    "Unavailable",
                    "the action could not be applied; try again",
                    None,
                )
            }
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
            Err(ActionFailure::Unknown) => in_modal("This finding cannot be assigned"),
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
        let who = finding_actions::Actor {
            user: format!("slack:{user}"),
            via: "slack".into(),
        };
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
                let finding = load(table, tenant, finding_id).await?;
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
        let finding = load(table, tenant, finding_id).await?;
        let item = table
            .get(&keys::finding(tenant, finding_id))
            .await
            .map_err(failed)?
            .unwrap_or_default();
        let channel = item
            .get("slack_channel")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or(channel);
        let ts = item
            .get("slack_ts")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .or(ts);
        if let (Some(channel), Some(ts)) = (channel, ts) {
            let chat = self.chat(tenant).await?;
            let message = ChatMessage {
                channel: channel.clone(),
                text: format!("{} — {state}", summary(&finding)),
                blocks: blocks::acted_alert(&finding, &state),
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

    async fn chat(
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
    channel: Option<String>,
    ts: Option<String>,
    trigger_id: Option<String>,
}

/// The modal's callback id, and its one input.
const ASSIGN_VIEW: &str = "assign";
const OWNER_BLOCK: &str = "owner";

/// "Assign": a modal with a user select. The finding and the alert's message travel in
/// `private_metadata` so the submission can set the owner and update the alert.
fn assign_modal(finding: &Finding, channel: Option<&str>, ts: Option<&str>) -> Value {
    json!({
        "type": "modal",
        "callback_id": ASSIGN_VIEW,
        "private_metadata": json!({"finding_id": finding.id, "channel": channel, "ts": ts}).to_string(),
        "title": {"type": "plain_text", "text": "Assign an owner"},
        "submit": {"type": "plain_text", "text": "Assign"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(&format!("*{}*\n`{}`", summary(finding), finding.id)),
            {"type": "input", "block_id": OWNER_BLOCK, "label": {"type": "plain_text", "text": "Owner"},
             "element": {"type": "users_select", "action_id": "assign_to",
                         "placeholder": {"type": "plain_text", "text": "Pick an owner"}}}
        ]
    })
}

pub(crate) enum ActionFailure {
    Unknown,
    NotFound,
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> ActionFailure {
    ActionFailure::Failed(e.to_string())
}

async fn load(table: &dyn Table, tenant: &str, id: &str) -> Result<Finding, ActionFailure> {
    load_finding(table, tenant, id)
        .await
        .map_err(failed)?
        .ok_or(ActionFailure::NotFound)
}

async fn apply(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    action: &FindingAction,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    match finding_actions::apply(table, tenant, id, action, who, now).await {
        Ok(_) => Ok(()),
        Err(finding_actions::ActionError::NotFound(_)) => Err(ActionFailure::NotFound),
        Err(e) => Err(failed(e)),
    }
}

async fn accept_drift(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    let finding = load(table, tenant, id).await?;
    if finding.kind != FindingKind::Drift {
        return Err(ActionFailure::Unknown);
    }
    let (g2pk, g2sk) = keys::finding_gsi2(tenant, "accepted", &finding.event_time, id);
    table
        .update(
            &keys::finding(tenant, id),
            Update::new()
                .set("status", "accepted")
                .set("GSI2PK", g2pk)
                .set("GSI2SK", g2sk)
                .set("accepted_by", who.user.as_str())
                .set("accepted_at", keys::time_key(&now))
                .set("status_changed_at", keys::time_key(&now))
                .set("status_changed_by", who.user.as_str())
                .when(Condition::ItemExists),
        )
        .await
        .map_err(failed)?;
    append_audit(
        table,
        &audit_entry(
            tenant,
            who,
            now,
            "finding.accept_drift",
            id,
            json!({"from": format!("{:?}", finding.status).to_lowercase()}),
        ),
    )
    .await
    .map_err(failed)
}

async fn set_owner(
    table: &dyn Table,
    tenant: &str,
    id: &str,
    owner: &str,
    who: &finding_actions::Actor,
    now: DateTime<Utc>,
) -> Result<(), ActionFailure> {
    let before = table
        .get(&keys::finding(tenant, id))
        .await
        .map_err(failed)?
        .ok_or(ActionFailure::NotFound)?;
    let previous = before
        .get("owner")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    table
        .update(
            &keys::finding(tenant, id),
            Update::new()
                .set("owner", owner)
                .set("assigned_at", keys::time_key(&now))
                .when(Condition::ItemExists),
        )
        .await
        .map_err(failed)?;
    append_audit(
        table,
        &audit_entry(
            tenant,
            who,
            now,
            "finding.assign",
            id,
            json!({"owner": owner, "previous": previous}),
        ),
    )
    .await
    .map_err(failed)
}

#[async_trait]
impl HttpHandler for SlackApp {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/v1/slack/commands") => {
                if let Err(r) = self.verify(&request) {
                    return r;
                }
                self.command(request).await
            }
            ("POST", "/v1/slack/actions") => {
                if let Err(r) = self.verify(&request) {
                    return r;
                }
                self.action(request).await
            }
            ("GET", "/v1/slack/install") => self.install(request).await,
            ("GET", "/v1/slack/oauth_redirect") => self.oauth_redirect(request).await,
            (
                _,
                "/v1/slack/commands"
                | "/v1/slack/actions"
                | "/v1/slack/install"
                | "/v1/slack/oauth_redirect",
            ) => HttpResponse::problem(
                405,
                "Method not allowed",
                &format!("{} is not allowed here", request.method),
                None,
            ),
            _ => HttpResponse::problem(
                404,
                "Not found",
                &format!("no route {}", request.path),
                None,
            ),
        }
    }
}
