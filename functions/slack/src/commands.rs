//! Slash commands: `/dd0c status | anomalies | digest | drift | stack | pause | resume | help`. Slow ones are
//! deferred when Slack gave a response URL.

use dd0c_shared::domain::{Finding, FindingKind, FindingStatus};
use dd0c_shared::entity::{self, finding};
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::slack::blocks::{escape_mrkdwn, summary};
use dd0c_shared::slack::settings;
use serde_json::{json, Value};

use crate::app::SlackApp;
use crate::deferral::DeferredCommand;
use crate::reply::{ephemeral, form, section};

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
• `/dd0c stack <stack> owner @person|none`, `channel #channel|none`, `watch on|off`\n\
• `/dd0c pause`, `/dd0c resume`: hold all alerts (findings are still recorded), or let them through\n\
• `/dd0c help`";

impl SlackApp {
    pub(crate) async fn command(&self, request: HttpRequest) -> HttpResponse {
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
        let user = fields.get("user_id").cloned().unwrap_or_default();
        self.answer(&tenant, &text, &user).await
    }

    /// The answer to `/dd0c <text>` as an ephemeral message.
    pub(crate) async fn answer(&self, tenant: &str, text: &str, user: &str) -> HttpResponse {
        let words: Vec<&str> = text.split_whitespace().collect();
        let result = match words.first().copied().unwrap_or("help") {
            "status" => self.status(tenant).await,
            "anomalies" => self.anomalies(tenant, &words[1..]).await,
            "digest" => self.digest(tenant).await,
            "drift" => self.drift(tenant, words.get(1).copied()).await,
            "stack" => self.stack(tenant, user, &words[1..]).await,
            "pause" => self.pause(tenant, user, true).await,
            "resume" => self.pause(tenant, user, false).await,
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

    async fn status(&self, tenant: &str) -> Result<HttpResponse, dd0c_shared::store::StoreError> {
        let findings = finding::all(self.table.as_ref(), tenant).await?;
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
            .map(|i| i.status.as_str().to_owned())
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
        let mut list: Vec<Finding> = finding::all(self.table.as_ref(), tenant)
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
                let stacks = entity::stack::list_stacks(table, tenant).await?;
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
                let open: Vec<String> = finding::all(table, tenant)
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
}
