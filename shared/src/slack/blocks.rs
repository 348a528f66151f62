//! Block Kit alerts. Slack's limits (50 blocks, 3000 characters of text per section,
//! 75 characters of button text, 2000 characters of button value) are enforced here.

use serde_json::{json, Value};

use crate::domain::{Finding, FindingKind, Severity};

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

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
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
    format!(
        "[{}] {what}: {} {} in {}{cost} by {}",
        finding.severity.as_str().to_uppercase(),
        finding.event_name,
        finding.resource_type,
        finding.region,
        finding.actor.name
    )
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
            &format!("{} {} · {} · {}", severity_emoji(finding.severity),
                finding.severity.as_str().to_uppercase(), title, finding.resource_type),
            MAX_HEADER_TEXT)}
    }));
    let mut fields = vec![
        format!("*Resource*\n{} `{}`", finding.resource_type, finding.resource_ids.join(", ")),
        format!("*Account / region*\n{} · {}", finding.account_id, finding.region),
        format!(
            "*Who*\n{} via {}",
            finding.actor.name,
            finding.actor.source.label()
        ),
        format!(
            "*When*\n{} ({})",
            finding.event_time.format("%Y-%m-%d %H:%M:%S UTC"),
            finding.event_name
        ),
    ];
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
        let reasons: Vec<String> = finding.reasons.iter().map(|r| format!("• {r}")).collect();
        blocks.push(section(&format!("*Why this alert*\n{}", reasons.join("\n"))));
    }
    if let Some(commands) = suggested_commands(finding) {
        blocks.push(section(&format!("*Suggested action*\n```{commands}```")));
    }
    let id = finding.id.as_str();
    let mut buttons = vec![
        button("Mark expected", "mark_expected", id, Some("primary")),
        button("Snooze 1h", "snooze_1h", id, None),
        button("Snooze 24h", "snooze_24h", id, None),
        button("Snooze 7d", "snooze_7d", id, None),
        button("Assign", "assign", id, None),
    ];
    if finding.kind == FindingKind::Drift {
        buttons.push(button("Accept drift", "accept_drift", id, Some("danger")));
    }
    blocks.push(json!({"type": "actions", "block_id": format!("finding:{id}"), "elements": buttons}));
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(&format!("dd0c · finding `{id}` · score {:.0}", finding.score), MAX_TEXT)}]
    }));
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// CLI commands that stop what a cost finding started.
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
        "rds:db" => Some(format!(
            "aws rds stop-db-instance --region {region} --db-instance-identifier {ids}"
        )),
        _ => None,
    }
}
