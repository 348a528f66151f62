//! The "Why?" of an alert in Slack: the finding's decision log (`details.decision`: the
//! scorer's signals, thresholds, baseline values and price; the classifier's evidence and
//! rules) and what the policy made of it, as Block Kit sections for a modal or a thread reply.

use serde_json::{json, Value};

use super::blocks::{escape_mrkdwn as e, truncate, MAX_TEXT};
use crate::domain::Finding;

/// The action id of the alert's "Why?" button.
pub const WHY_ACTION: &str = "why";

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 => format!("{n:.0}"),
        Some(n) => format!("{n:.2}"),
        None => "—".into(),
    }
}

/// One line per signal: `new_region` adds 40, `fast_path` sets at least 60, ….
fn signal_lines(log: &Value) -> Vec<String> {
    log["signals"]
        .as_array()
        .map(|signals| {
            signals
                .iter()
                .map(|s| {
                    let name = e(s["name"].as_str().unwrap_or("?"));
                    let value = number(&s["value"]);
                    match s["effect"].as_str() {
                        Some("adds") => format!("• `{name}` adds {value} points"),
                        Some("at_least") => {
                            format!("• `{name}` sets the score to at least {value}")
                        }
                        Some("times") => format!("• `{name}` multiplies the score by {value}"),
                        Some("minus") => format!("• `{name}` takes {value} points off"),
                        _ => format!("• `{name}` {value}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What the policy made of the finding, from what the notifier recorded on it.
fn policy_line(finding: &Finding) -> String {
    if finding.notified {
        format!(
            "*Policy*: sent at once: a {} {} goes out immediately",
            finding.severity.as_str(),
            finding.kind.as_str().replace('_', " ")
        )
    } else if let Some(reason) = &finding.suppressed_reason {
        format!("*Policy*: held for the digest: {}", e(reason))
    } else {
        "*Policy*: not decided yet".into()
    }
}

/// The decision log as sections.
pub fn why_blocks(finding: &Finding) -> Vec<Value> {
    let log = &finding.details["decision"];
    let mut blocks = vec![section(&format!(
        "*Verdict*: {}",
        e(log["verdict"]
            .as_str()
            .unwrap_or("no decision log was recorded"))
    ))];
    match log["stage"].as_str() {
        Some("scorer") => {
            let signals = signal_lines(log);
            if !signals.is_empty() {
                blocks.push(section(&format!("*Signals*\n{}", signals.join("\n"))));
            }
            let b = &log["baseline"];
            blocks.push(section(&format!(
                "*Baseline before the event*\naccount {} days old, {} cost events · {} known regions, {} principals · this type: {} events, mean ${}/hr, largest ${}/hr · {} recent calls by this principal{}{}",
                number(&b["account_age_days"]),
                number(&b["account_cost_events"]),
                number(&b["known_regions"]),
                number(&b["known_principals"]),
                number(&b["type_cost_events"]),
                number(&b["type_mean_usd_per_hour"]),
                number(&b["type_max_usd_per_hour"]),
                number(&b["recent_calls_by_actor"]),
                if log["learning"] == true { " · still learning (cold-start thresholds)" } else { "" },
                if log["routine"] == true { " · routine for this principal" } else { "" },
            )));
            let t = &log["thresholds"];
            blocks.push(section(&format!(
                "*Thresholds*: info ≥ {}, warning ≥ {}, critical ≥ {} · fast path above ${}/hr · z-score {} · scale {}× the mean",
                number(&t["score"]["info"]),
                number(&t["score"]["warning"]),
                number(&t["score"]["critical"]),
                number(&t["fast_path_usd_per_hour"]["warning"]),
                number(&t["zscore"]),
                number(&t["scale_jump_factor"]),
            )));
            if let Some(basis) = log["price"]["basis"].as_str() {
                blocks.push(section(&format!(
                    "*Price*: ${}/hr, {} (prices of {})",
                    number(&log["hourly_usd"]),
                    e(basis),
                    e(log["price"]["as_of"].as_str().unwrap_or("?"))
                )));
            }
        }
        Some("classifier") => {
            blocks.push(section(&format!(
                "*Why it is drift*: {}\n*Owned by IaC on the evidence of*: {}{}",
                e(log["change_class"].as_str().unwrap_or("?")),
                e(log["managed"]["evidence"].as_str().unwrap_or("?")),
                log["managed"]["stack"]
                    .as_str()
                    .map(|s| format!(" (stack `{}`)", e(s)))
                    .unwrap_or_default()
            )));
            let rules: Vec<String> = log["rules"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(|r| format!("`{}`", e(r)))
                        .collect()
                })
                .unwrap_or_default();
            if !rules.is_empty() {
                blocks.push(section(&format!(
                    "*Rules matched* (most severe first): {}",
                    rules.join(", ")
                )));
            }
        }
        _ => {}
    }
    blocks.push(section(&policy_line(finding)));
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(&format!("`GET /v1/events/{}/decision` has the whole log", e(&finding.event_id)), MAX_TEXT)}]
    }));
    blocks
}

/// The modal the "Why?" button opens.
pub fn why_view(finding: &Finding) -> Value {
    json!({
        "type": "modal",
        "title": {"type": "plain_text", "text": "Why dd0c decided"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": why_blocks(finding),
    })
}
