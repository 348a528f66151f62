//! Block Kit alerts. Slack's limits (50 blocks, 3000 characters of text per section,
//! 75 characters of button text, 2000 characters of button value) are enforced here.

use serde_json::{json, Value};

use crate::domain::{Finding, FindingKind, Severity};
use crate::pricing::PriceBasis;

pub const MAX_BLOCKS: usize = 50;
pub const MAX_TEXT: usize = 3000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_BUTTON_VALUE: usize = 2000;

/// Cuts text to `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

pub fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":rotating_light:",
        Severity::High | Severity::Warning => ":warning:",
        Severity::Medium => ":large_orange_diamond:",
        Severity::Low | Severity::Info => ":information_source:",
    }
}

pub fn money(usd: f64) -> String {
    if usd >= 100.0 {
        format!("${usd:.0}")
    } else {
        format!("${usd:.2}")
    }
}

/// Text from customers' accounts (names, ids, tags, diff values) made inert in Slack mrkdwn:
/// Slack reads `<…>` as mentions and links (`<!channel>`, `<http://evil|looks-safe>`), so its
/// three control characters are escaped as Slack asks. Static markup stays outside.
pub fn escape_mrkdwn(text: &str) -> String {
    crate::http::escape_entities(text, false)
}

pub(crate) fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

pub(crate) fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": true},
        "action_id": action_id,
        "value": truncate(value, MAX_BUTTON_VALUE),
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}

/// The one-line summary (notification text and fallback).
pub fn summary(finding: &Finding) -> String {
    let what = match finding.kind {
        FindingKind::CostAnomaly => "Cost anomaly",
        FindingKind::Drift => "Drift",
    };
    let cost = finding
        .estimated_hourly_cost
        .map(|c| format!(" — {}/hr", money(c)))
        .unwrap_or_default();
    // Escaped: the summary is the message's notification text and goes into mrkdwn lists.
    format!(
        "[{}] {what}: {} {} in {}{cost} by {}",
        finding.severity.as_str().to_uppercase(),
        escape_mrkdwn(&finding.event_name),
        escape_mrkdwn(&finding.resource_type),
        escape_mrkdwn(&finding.region),
        escape_mrkdwn(&finding.actor.name)
    )
}

/// The line that mentions who owns what an alert is about (`from`: "stack payments-prod",
/// "tag owner"): a Slack user id (`U…`/`W…`) as a mention that notifies them, anything else
/// (an e-mail, a team name) as text.
pub fn owner_context(owner: &str, from: &str) -> Value {
    let is_user_id = owner.len() >= 9
        && (owner.starts_with('U') || owner.starts_with('W'))
        && owner
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let who = if is_user_id {
        format!("<@{owner}>")
    } else {
        escape_mrkdwn(owner)
    };
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Owner: {who} ({})", escape_mrkdwn(from))}]})
}

/// The alert for a finding.
pub fn finding_alert(finding: &Finding) -> Value {
    let mut blocks = Vec::new();
    let title = match finding.kind {
        FindingKind::CostAnomaly => "Cost anomaly",
        FindingKind::Drift => "Drift detected",
    };
    blocks.push(json!({
        "type": "header",
        "text": {"type": "plain_text", "emoji": true, "text": truncate(
            &format!("{} {} · {} · {} · {}{}", severity_emoji(finding.severity),
                finding.severity.as_str().to_uppercase(), title, finding.resource_type, finding.region,
                finding.estimated_hourly_cost.map(|c| format!(" · {}/hr", money(c))).unwrap_or_default()),
            MAX_HEADER_TEXT)}
    }));
    let e = escape_mrkdwn;
    let mut fields = vec![
        format!(
            "*Resource*\n{} `{}`",
            e(&finding.resource_type),
            e(&finding.resource_ids.join(", "))
        ),
        format!(
            "*Account / region*\n{} · {}",
            e(&finding.account_id),
            e(&finding.region)
        ),
        format!(
            "*Who*\n{} via {}",
            e(&finding.actor.name),
            finding.actor.source.label()
        ),
        format!(
            "*When*\n{} ({})",
            finding.event_time.format("%Y-%m-%d %H:%M:%S UTC"),
            e(&finding.event_name)
        ),
    ];
    if let Some(category) = &finding.category {
        fields.push(format!("*Category*\n{}", e(category)));
    }
    if let Some(stack) = finding.details.get("stack").and_then(Value::as_str) {
        fields.push(format!("*Stack*\n{}", e(stack)));
    }
    if let Some(iac) = finding
        .details
        .get("iac")
        .and_then(|i| i.get("summary"))
        .and_then(Value::as_str)
    {
        fields.push(format!("*IaC*\n{}", e(iac)));
    }
    if let Some(cost) = finding.estimated_hourly_cost {
        fields.push(format!(
            "*Cost*\n{}/hr · {}/month",
            money(cost),
            money(cost * 730.0)
        ));
    }
    blocks.push(json!({
        "type": "section",
        "fields": fields.iter().map(|f| json!({"type": "mrkdwn", "text": truncate(f, 2000)})).collect::<Vec<_>>()
    }));
    if !finding.reasons.is_empty() {
        let reasons: Vec<String> = finding
            .reasons
            .iter()
            .map(|r| format!("• {}", e(r)))
            .collect();
        blocks.push(section(&format!(
            "*Why this alert*\n{}",
            reasons.join("\n")
        )));
    }
    if let Some(price) = price_line(finding) {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": truncate(&e(&price), MAX_TEXT)}]
        }));
    }
    if let Some(cause) = cause(&finding.details) {
        blocks.push(section(&format!("*Cause*\n{}", e(&cause))));
    }
    if let Some(diff) = drift_diff(finding) {
        blocks.push(section(&diff));
    }
    if let Some(code) = codify(finding) {
        blocks.push(section(&code));
    }
    if let Some(rec) = recommendation(&finding.details) {
        blocks.push(section(&format!("*Recommendation*\n{}", e(&rec))));
    }
    if let Some(commands) = suggested_commands(finding) {
        blocks.push(section(&format!(
            "*Suggested action*\n```{}```",
            e(&commands)
        )));
    }
    let id = finding.id.as_str();
    let mut buttons = vec![
        button("Mark expected", "mark_expected", id, Some("primary")),
        button("Snooze 1h", "snooze_1h", id, None),
        button("Snooze 24h", "snooze_24h", id, None),
        button("Snooze 7d", "snooze_7d", id, None),
        button("Assign", "assign", id, None),
        button("Why?", super::why::WHY_ACTION, id, None),
    ];
    if finding.kind == FindingKind::Drift {
        buttons.push(button("Accept drift", "accept_drift", id, Some("danger")));
    }
    blocks.push(json!({"type": "actions", "block_id": truncate(&format!("finding:{id}"), 255), "elements": buttons}));
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(&format!("dd0c · finding `{}` · score {:.0}", e(id), finding.score), MAX_TEXT)}]
    }));
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// `snake_case` → "Snake case".
fn label(code: &str) -> String {
    let words = code.replace('_', " ").replace(" iac", " IaC");
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// The drift's probable cause: the classifier's `{class, confidence, evidence}` ("Manual
/// troubleshooting (70%): outside working hours; from the console"), or a plain text.
fn cause(details: &Value) -> Option<String> {
    let cause = details.get("cause")?;
    if let Some(text) = cause.as_str() {
        return Some(text.to_owned());
    }
    let class = cause.get("class")?.as_str()?;
    let mut text = label(class);
    if let Some(c) = cause.get("confidence").and_then(Value::as_f64) {
        text.push_str(&format!(" ({:.0}%)", c * 100.0));
    }
    let evidence: Vec<&str> = cause
        .get("evidence")
        .and_then(Value::as_array)
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !evidence.is_empty() {
        text.push_str(&format!(": {}", evidence.join("; ")));
    }
    Some(text)
}

/// What to do: the classifier's `{action, reason}` ("Revert: …"), or a plain text.
fn recommendation(details: &Value) -> Option<String> {
    let rec = details.get("recommendation")?;
    if let Some(text) = rec.as_str() {
        return Some(text.to_owned());
    }
    let action = label(rec.get("action")?.as_str()?);
    Some(match rec.get("reason").and_then(Value::as_str) {
        Some(reason) => format!("{action}: {reason}"),
        None => action,
    })
}

/// "Price: estimated from db.r5.16xlarge · prices of 2024-08 (15 months old)": the basis of a
/// cost finding's price (`details.pricing`) and how old its prices were when the event
/// happened; `None` for findings without one.
pub fn price_line(finding: &Finding) -> Option<String> {
    let pricing = finding.details.get("pricing")?;
    let basis = PriceBasis {
        label: pricing.get("basis")?.as_str()?.to_owned(),
        as_of: pricing
            .get("as_of")
            .and_then(Value::as_str)
            .map(str::to_owned),
        caveats: Vec::new(),
    };
    Some(format!("Price: {}", basis.summary(finding.event_time)))
}

fn diff_value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The drift diff (`details.diff`: `[{attribute, old, new}]`) as a code block that fits one
/// section: whole lines are kept while they fit, and a note says how many were cut.
pub fn drift_diff(finding: &Finding) -> Option<String> {
    let changes = finding.details.get("diff")?.as_array()?;
    if changes.is_empty() {
        return None;
    }
    let lines: Vec<String> = changes
        .iter()
        .map(|c| {
            let attribute = c.get("attribute").and_then(Value::as_str).unwrap_or("?");
            let old = diff_value(c.get("old").unwrap_or(&Value::Null));
            let new = diff_value(c.get("new").unwrap_or(&Value::Null));
            // One attribute may not eat the whole budget.
            truncate(&escape_mrkdwn(&format!("{attribute}: {old} → {new}")), 600)
        })
        .collect();
    let head = "*Change (old → new)*\n```";
    let tail = "```";
    // Room for the cut note, which is at most ~60 characters.
    let budget = MAX_TEXT - head.chars().count() - tail.chars().count() - 80;
    let mut body = String::new();
    let mut kept = 0;
    for line in &lines {
        let len = line.chars().count() + 1;
        if body.chars().count() + len > budget {
            break;
        }
        body.push_str(line);
        body.push('\n');
        kept += 1;
    }
    let mut text = format!("{head}{}{tail}", body.trim_end());
    if kept < lines.len() {
        text.push_str(&format!(
            "\n_{} more change(s) cut to fit Slack; the full diff is in the dashboard._",
            lines.len() - kept
        ));
    }
    Some(text)
}

/// The suggested change to the IaC that accepts a drift into code (`details.codify`: `[{tool,
/// snippet}]`), ready to copy: the snippets of one section, each cut to fit.
pub fn codify(finding: &Finding) -> Option<String> {
    let changes = finding.details.get("codify")?.as_array()?;
    let mut tools: Vec<&str> = Vec::new();
    let mut blocks = Vec::new();
    for c in changes {
        let (Some(tool), Some(snippet)) = (
            c.get("tool").and_then(Value::as_str),
            c.get("snippet").and_then(Value::as_str),
        ) else {
            continue;
        };
        if !tools.contains(&tool) {
            tools.push(tool);
        }
        blocks.push(format!("```{}```", truncate(&escape_mrkdwn(snippet), 900)));
    }
    if blocks.is_empty() {
        return None;
    }
    let text = format!(
        "*Codify in {}* (to keep the change: the next apply would undo it)\n{}",
        tools.join(" / "),
        blocks.join("\n")
    );
    Some(truncate(&text, MAX_TEXT))
}

/// Checks a message against Slack's Block Kit limits; every violation is named.
pub fn validate_limits(blocks: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(list) = blocks.as_array() else {
        return Err(vec!["blocks should be an array".into()]);
    };
    if list.len() > MAX_BLOCKS {
        problems.push(format!("{} blocks (max {MAX_BLOCKS})", list.len()));
    }
    let count = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
    for (i, block) in list.iter().enumerate() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            problems.push(format!("block {i} has no type"));
        }
        if let Some(text) = block.get("text") {
            let max = if kind == "header" {
                MAX_HEADER_TEXT
            } else {
                MAX_TEXT
            };
            if count(&text["text"]) > max {
                problems.push(format!(
                    "block {i} ({kind}) text is {} chars (max {max})",
                    count(&text["text"])
                ));
            }
        }
        if let Some(fields) = block.get("fields").and_then(Value::as_array) {
            if fields.len() > 10 {
                problems.push(format!("block {i} has {} fields (max 10)", fields.len()));
            }
            for (j, f) in fields.iter().enumerate() {
                if count(&f["text"]) > 2000 {
                    problems.push(format!("block {i} field {j} is over 2000 chars"));
                }
            }
        }
        if let Some(elements) = block.get("elements").and_then(Value::as_array) {
            if kind == "actions" && elements.len() > 25 {
                problems.push(format!(
                    "block {i} has {} elements (max 25)",
                    elements.len()
                ));
            }
            for (j, e) in elements.iter().enumerate() {
                if e.get("type").and_then(Value::as_str) == Some("button") {
                    if count(&e["text"]["text"]) > MAX_BUTTON_TEXT {
                        problems.push(format!(
                            "block {i} button {j} text over {MAX_BUTTON_TEXT} chars"
                        ));
                    }
                    if count(&e["value"]) > MAX_BUTTON_VALUE {
                        problems.push(format!(
                            "block {i} button {j} value over {MAX_BUTTON_VALUE} chars"
                        ));
                    }
                    if count(&e["action_id"]) > 255 {
                        problems.push(format!("block {i} button {j} action_id over 255 chars"));
                    }
                } else if count(&e["text"]) > MAX_TEXT {
                    problems.push(format!("block {i} element {j} text over {MAX_TEXT} chars"));
                }
            }
        }
        if count(&block["block_id"]) > 255 {
            problems.push(format!("block {i} block_id over 255 chars"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The alert after someone acted on it: the same blocks with the new state (and who) shown
/// above the buttons. `state` is mrkdwn dd0c composed (it mentions users as `<@U…>`): any
/// outside text in it must be escaped by the caller.
pub fn acted_alert(finding: &Finding, state: &str) -> Value {
    let mut blocks = match finding_alert(finding) {
        Value::Array(b) => b,
        other => return other,
    };
    let at = blocks
        .iter()
        .position(|b| b["type"] == "actions")
        .unwrap_or(blocks.len());
    blocks.insert(at, section(&format!(":white_check_mark: {state}")));
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// CLI commands that stop what a cost finding started (or revert a risky drift).
pub fn suggested_commands(finding: &Finding) -> Option<String> {
    let ids = finding.resource_ids.join(" ");
    if ids.is_empty() {
        return None;
    }
    let region = &finding.region;
    match finding.resource_type.as_str() {
        "ec2:instance" => Some(format!(
            "aws ec2 stop-instances --region {region} --instance-ids {ids}\naws ec2 terminate-instances --region {region} --instance-ids {ids}"
        )),
        "rds:db" => Some(
            finding
                .resource_ids
                .iter()
                .map(|id| format!("aws rds stop-db-instance --region {region} --db-instance-identifier {id}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        "ec2:security-group" => {
            let group = finding.resource_ids.first()?;
            let rule = finding
                .details
                .get("ip_permissions")
                .map(|p| format!(" --ip-permissions '{p}'"))
                .unwrap_or_else(|| " --ip-permissions '<the rule above>'".into());
            Some(format!(
                "aws ec2 revoke-security-group-ingress --region {region} --group-id {group}{rule}"
            ))
        }
        _ => None,
    }
}
