//! The remediation buttons of an alert ("Stop instances", "Revoke this rule", "Make
//! private"), each with a confirmation dialog naming exactly what will change, and the line that
//! replaces a button once its remediation has a result (decision 0520).

use serde_json::{json, Value};

use super::blocks::{escape_mrkdwn, summary, truncate, MAX_BLOCKS, MAX_TEXT};
use crate::domain::Finding;
use crate::entity::remediation::{RemediationRecord, RemediationStatus};
use crate::remediation::{RemediationKind, RemediationRequest};

/// Slack's limits of a confirmation dialog: title 100 characters, text 300, buttons 30.
const CONFIRM_TITLE: usize = 100;
const CONFIRM_TEXT: usize = 300;

fn confirm_label(kind: RemediationKind) -> &'static str {
    match kind {
        RemediationKind::StopInstances => "Stop",
        RemediationKind::RevokeIngress => "Revoke",
        RemediationKind::MakeDbPrivate => "Make private",
    }
}

/// One remediation button: its value is the finding id only (what changes is derived from the
/// stored finding when it is clicked), its dialog says what will change, where and with what.
pub fn button(finding: &Finding, request: &RemediationRequest) -> Value {
    let kind = request.kind();
    let text = format!(
        "dd0c will {} (account {}) with the account's remediation role.",
        request.describe(),
        finding.account_id
    );
    json!({
        "type": "button",
        "text": {"type": "plain_text", "text": kind.label(), "emoji": true},
        "action_id": kind.action_id(),
        "value": finding.id,
        "style": "danger",
        "confirm": {
            "title": {"type": "plain_text", "text": truncate(&format!("{}?", kind.label()), CONFIRM_TITLE)},
            "text": {"type": "plain_text", "text": truncate(&text, CONFIRM_TEXT)},
            "confirm": {"type": "plain_text", "text": confirm_label(kind)},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger"
        }
    })
}

/// Adds the buttons of `requests` to the alert's actions (the block `finding:<id>`).
pub fn add_buttons(alert: &mut Value, finding: &Finding, requests: &[RemediationRequest]) {
    if requests.is_empty() {
        return;
    }
    // The finding's own buttons (a thread root also carries its incident's).
    let own = format!("finding:{}", finding.id);
    let Some(actions) = alert.as_array_mut().and_then(|blocks| {
        let at = blocks
            .iter()
            .position(|b| b["type"] == "actions" && b["block_id"] == own.as_str())
            .or_else(|| blocks.iter().position(|b| b["type"] == "actions"))?;
        blocks[at]["elements"].as_array_mut()
    }) else {
        return;
    };
    actions.extend(requests.iter().map(|r| button(finding, r)));
}

fn past_tense(kind: RemediationKind) -> &'static str {
    match kind {
        RemediationKind::StopInstances => "Stopped",
        RemediationKind::RevokeIngress => "Revoked",
        RemediationKind::MakeDbPrivate => "Made private",
    }
}

/// What a remediation's target is, in words: `i-1, i-2 in us-east-1`.
fn target(request: &RemediationRequest) -> String {
    match request {
        RemediationRequest::StopInstances {
            region,
            instance_ids,
        } => format!("{} in {region}", instance_ids.join(", ")),
        RemediationRequest::RevokeIngress {
            region,
            group_id,
            rule,
        } => format!("{} on {group_id} in {region}", rule.describe()),
        RemediationRequest::MakeDbPrivate {
            region,
            db_instance,
        } => format!("{db_instance} in {region}"),
    }
}

/// The line that replaces a remediation's button: what happened, to what, asked by whom.
/// `repeated`: this click found an earlier result.
pub fn result_line(record: &RemediationRecord, repeated: bool) -> String {
    let who = record
        .requested_by
        .strip_prefix("slack:")
        .map(|u| format!("<@{}>", escape_mrkdwn(u)))
        .unwrap_or_else(|| escape_mrkdwn(&record.requested_by));
    let what = escape_mrkdwn(&target(&record.request));
    let reason = record
        .reason
        .as_deref()
        .map(escape_mrkdwn)
        .unwrap_or_default();
    let line = match record.status {
        RemediationStatus::Done => format!(
            ":white_check_mark: {} {what} (asked by {who})",
            past_tense(record.kind)
        ),
        RemediationStatus::AlreadyDone => format!(
            ":white_check_mark: Already done: nothing to change for {what} (asked by {who})"
        ),
        RemediationStatus::Audited => format!(":memo: {reason} (asked by {who})"),
        RemediationStatus::Denied => {
            format!(":no_entry: Denied: {what}: {reason} (asked by {who})")
        }
        RemediationStatus::Failed => {
            format!(":x: Failed: {what}: {reason} (asked by {who}; the button stays to try again)")
        }
        RemediationStatus::Pending => {
            format!(
                ":hourglass: {} {what}: in progress (asked by {who})",
                record.kind.label()
            )
        }
    };
    if repeated {
        format!("{line} · already handled: asked again, changed nothing more")
    } else {
        line
    }
}

/// The alert with `lines` (results, refusals) above its buttons and the buttons of `offered`.
pub fn alert_with(
    finding: &Finding,
    base: Value,
    offered: &[RemediationRequest],
    lines: &[String],
) -> Value {
    let mut alert = base;
    add_buttons(&mut alert, finding, offered);
    let Value::Array(mut blocks) = alert else {
        return alert;
    };
    let at = blocks
        .iter()
        .position(|b| b["type"] == "actions")
        .unwrap_or(blocks.len());
    for (i, line) in lines.iter().enumerate() {
        blocks.insert(
            at + i,
            json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(line, MAX_TEXT)}}),
        );
    }
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// The notification text of an alert with a remediation line.
pub fn text(finding: &Finding, line: &str) -> String {
    format!("{} — {line}", summary(finding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remediation::request_for;
    use crate::slack::blocks::{finding_alert, validate_limits};
    use crate::testing::{cost_finding, noon};

    fn stop(finding: &Finding) -> RemediationRequest {
        request_for(finding, RemediationKind::StopInstances).unwrap()
    }

    #[test]
    fn the_button_confirms_exactly_what_changes() {
        let f = Finding {
            resource_ids: vec!["i-0abc".into(), "i-0def".into()],
            ..cost_finding("cost-e1")
        };
        let mut alert = finding_alert(&f);
        add_buttons(&mut alert, &f, &[stop(&f)]);
        validate_limits(&alert).unwrap();
        let b = alert
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "actions")
            .unwrap()["elements"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(b["action_id"], "remediate_stop_instances");
        assert_eq!(b["value"], "cost-e1", "only the finding id travels");
        let text = b["confirm"]["text"]["text"].as_str().unwrap();
        assert_eq!(
            text,
            format!(
                "dd0c will stop 2 instances i-0abc, i-0def in {} (account {}) with the account's remediation role.",
                f.region, f.account_id
            )
        );
        assert_eq!(b["confirm"]["confirm"]["text"], "Stop");
        assert_eq!(b["confirm"]["deny"]["text"], "Cancel");
    }

    #[test]
    fn results_name_what_happened_and_who_asked() {
        let f = cost_finding("cost-e1");
        let mut record = RemediationRecord {
            tenant_id: f.tenant_id.clone(),
            finding_id: f.id.clone(),
            kind: RemediationKind::StopInstances,
            account_id: f.account_id.clone(),
            request: stop(&f),
            requested_by: "slack:U42".into(),
            requested_at: noon(),
            status: RemediationStatus::Done,
            reason: None,
            finished_at: Some(noon()),
        };
        assert_eq!(
            result_line(&record, false),
            format!(
                ":white_check_mark: Stopped i-1 in {} (asked by <@U42>)",
                f.region
            )
        );
        assert!(result_line(&record, true).ends_with("changed nothing more"));
        record.status = RemediationStatus::Denied;
        record.reason = Some("AWS denied ec2:StopInstances: <!channel>".into());
        let denied = result_line(&record, false);
        assert!(denied.starts_with(":no_entry: Denied:"), "{denied}");
        assert!(
            denied.contains("&lt;!channel&gt;"),
            "AWS text is escaped: {denied}"
        );
        let alert = alert_with(&f, finding_alert(&f), &[], std::slice::from_ref(&denied));
        let blocks = alert.as_array().unwrap();
        let at = blocks.iter().position(|b| b["type"] == "actions").unwrap();
        assert_eq!(blocks[at - 1]["text"]["text"], denied.as_str());
        assert!(
            !alert.to_string().contains("remediate_"),
            "no button once done"
        );
    }
}
