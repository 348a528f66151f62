//! An incident in Slack: its thread's root message is the first alert with the incident's
//! header above it — what happened, how many findings, the total at stake — and buttons that
//! act on every finding of it at once (decision 0530).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::blocks::{
    acted_alert, button, escape_mrkdwn, finding_alert, money, section, severity_emoji, MAX_BLOCKS,
};
use crate::domain::incident::Incident;
use crate::domain::{Finding, FindingKind, FindingStatus};
use crate::entity::{finding as finding_entity, incident as incident_entity};
use crate::remediation::RemediationKind;
use crate::store::{StoreError, Table};

pub const MARK_ALL_EXPECTED: &str = "incident_mark_expected";
pub const SNOOZE_ALL_24H: &str = "incident_snooze_24h";
pub const RESOLVE_ALL: &str = "incident_resolve";
/// Stops the instances of every finding of a burst (each through its own governed remediation).
pub const STOP_ALL: &str = "incident_stop_all";

/// Whether an action id acts on an incident (its value is the incident id).
pub fn is_incident_action(action_id: &str) -> bool {
    [MARK_ALL_EXPECTED, SNOOZE_ALL_24H, RESOLVE_ALL, STOP_ALL].contains(&action_id)
}

/// Whether an alert offers a button with this action id.
fn offers(alert: &Value, action_id: &str) -> bool {
    alert.as_array().is_some_and(|blocks| {
        blocks.iter().any(|b| {
            b["elements"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["action_id"] == action_id))
        })
    })
}

fn span(first: &DateTime<Utc>, last: &DateTime<Utc>) -> String {
    if first.date_naive() == last.date_naive() {
        format!(
            "{}–{} UTC",
            first.format("%Y-%m-%d %H:%M"),
            last.format("%H:%M")
        )
    } else {
        format!(
            "{} – {} UTC",
            first.format("%Y-%m-%d %H:%M"),
            last.format("%Y-%m-%d %H:%M")
        )
    }
}

/// What the incident puts at stake, in words.
pub fn at_stake(incident: &Incident) -> String {
    match incident.kind {
        FindingKind::CostAnomaly => format!(
            "{}/hr at stake ({}/month) · {} resources",
            money(incident.hourly_cost),
            money(incident.hourly_cost * 730.0),
            incident.resource_count
        ),
        FindingKind::Drift => format!("{} resources changed", incident.resource_count),
    }
}

/// The header: title, total at stake, span, and the buttons acting on all of it (or, once
/// acted on, who did what).
/// `stop_all`: the incident's first alert offers *Stop instances* (the account has a
/// remediation role and policy allows it), so the header offers it for every finding.
pub fn header(incident: &Incident, state: Option<&str>, stop_all: bool) -> Vec<Value> {
    let text = format!(
        "{} *Incident: {}*\n*{}* · {} · {}",
        severity_emoji(incident.severity),
        escape_mrkdwn(&incident.title()),
        at_stake(incident),
        escape_mrkdwn(&incident.regions.join(", ")),
        span(&incident.first_time, &incident.last_time),
    );
    let mut blocks = vec![section(&text)];
    match state {
        Some(state) => blocks.push(section(&format!(":white_check_mark: {state}"))),
        None if incident.status == FindingStatus::Open => {
            let id = incident.id.as_str();
            let n = incident.count;
            let confirm = |verb: &str| {
                json!({
                    "title": {"type": "plain_text", "text": "Act on the whole incident?"},
                    "text": {"type": "mrkdwn", "text": format!("{verb} all {n} findings of this incident. Findings already acted on alone stay as they are.")},
                    "confirm": {"type": "plain_text", "text": "Yes, all of them"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                })
            };
            let mut expected = button(
                &format!("Mark all {n} expected"),
                MARK_ALL_EXPECTED,
                id,
                Some("primary"),
            );
            expected["confirm"] = confirm("Mark expected:");
            let mut snooze = button("Snooze all 24h", SNOOZE_ALL_24H, id, None);
            snooze["confirm"] = confirm("Snooze for 24 hours:");
            let mut resolve = button("Resolve all", RESOLVE_ALL, id, None);
            resolve["confirm"] = confirm("Resolve:");
            let mut elements = vec![expected, snooze, resolve];
            if stop_all {
                let mut stop = button("Stop all instances", STOP_ALL, id, Some("danger"));
                stop["confirm"] = json!({
                    "title": {"type": "plain_text", "text": "Stop every instance?"},
                    "text": {"type": "mrkdwn", "text": format!(
                        "Stop the instances launched by all {n} findings of this incident ({} instances in {}). Each is governed and audited as its own *Stop instances* button.",
                        incident.resource_count,
                        escape_mrkdwn(&incident.regions.join(", "))
                    )},
                    "confirm": {"type": "plain_text", "text": "Stop them"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                    "style": "danger",
                });
                elements.push(stop);
            }
            blocks.push(json!({
                "type": "actions",
                "block_id": format!("incident:{id}"),
                "elements": elements,
            }));
        }
        None => blocks.push(section(&format!(
            ":white_check_mark: Incident {}",
            incident.status.as_str()
        ))),
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!(
            "dd0c · incident `{}` · its findings are alerted in this thread", incident.id
        )}]
    }));
    blocks.push(json!({"type": "divider"}));
    blocks
}

/// The thread's root message: the incident's header over the first alert, as that alert
/// stands (acted on or not).
pub fn root_message(incident: &Incident, root: &Finding, state: Option<&str>) -> Value {
    with_header(incident, standing_alert(root), state)
}

/// A finding's alert as it stands: with its buttons while open, else saying its status.
pub fn standing_alert(finding: &Finding) -> Value {
    match finding.status {
        FindingStatus::Open => finding_alert(finding),
        status => acted_alert(finding, &format!("This finding is {}", status.as_str())),
    }
}

/// `alert` (a finding's blocks) under the incident's header.
pub fn with_header(incident: &Incident, alert: Value, state: Option<&str>) -> Value {
    let stop_all = incident.kind == FindingKind::CostAnomaly
        && offers(&alert, &RemediationKind::StopInstances.action_id());
    let mut blocks = header(incident, state, stop_all);
    if let Value::Array(alert) = alert {
        blocks.extend(alert);
    }
    blocks.truncate(MAX_BLOCKS);
    Value::Array(blocks)
}

/// A finding's alert as its message must read: under its incident's header when the message
/// is the thread root of an incident of several findings (an edit of the root must not drop
/// the incident), else as given.
pub async fn as_posted(
    table: &dyn Table,
    finding: &Finding,
    alert: Value,
) -> Result<Value, StoreError> {
    let Some(id) = finding_entity::incident_of(table, &finding.tenant_id, &finding.id).await?
    else {
        return Ok(alert);
    };
    Ok(
        match incident_entity::load(table, &finding.tenant_id, &id).await? {
            Some(incident)
                if incident.count > 1
                    && incident.root_finding.as_deref() == Some(finding.id.as_str()) =>
            {
                with_header(&incident, alert, None)
            }
            _ => alert,
        },
    )
}

/// The root message's notification text.
pub fn summary(incident: &Incident) -> String {
    format!(
        "[{}] Incident: {} — {}",
        incident.severity.as_str().to_uppercase(),
        escape_mrkdwn(&incident.title()),
        at_stake(incident)
    )
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::slack::blocks::validate_limits;
    use crate::testing;

    fn burst() -> (Incident, Finding) {
        let mut first = testing::cost_finding("a");
        first.estimated_hourly_cost = Some(206.04);
        let mut incident = Incident::open(&first);
        for (i, id) in ["b", "c", "d"].into_iter().enumerate() {
            let mut f = first.clone();
            f.id = id.into();
            f.event_time = testing::noon() + Duration::minutes(i as i64 + 1);
            incident.add(&f);
        }
        (incident, first)
    }

    #[test]
    fn the_root_shows_the_total_and_acts_on_all() {
        let (incident, first) = burst();
        let message = root_message(&incident, &first, None);
        validate_limits(&message).unwrap();
        let text = message.to_string();
        assert!(text.contains("4 cost anomalies by alice"), "{text}");
        assert!(text.contains("$824/hr at stake"), "{text}");
        assert!(text.contains("10:00–10:03 UTC"), "{text}");
        let buttons: Vec<_> = message
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["block_id"] == format!("incident:{}", incident.id))
            .flat_map(|b| b["elements"].as_array().unwrap().clone())
            .collect();
        let ids: Vec<_> = buttons
            .iter()
            .map(|b| b["action_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [MARK_ALL_EXPECTED, SNOOZE_ALL_24H, RESOLVE_ALL]);
        assert!(buttons.iter().all(|b| b["value"] == incident.id.as_str()));
        assert!(buttons.iter().all(|b| b["confirm"]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("all 4 findings")));
        assert!(ids.iter().all(|a| is_incident_action(a)));
        assert!(!is_incident_action("mark_expected"));
        // The first alert's own buttons are still there, below.
        assert!(text.contains("\"action_id\":\"mark_expected\""));
    }

    #[test]
    fn once_acted_on_the_header_says_so_and_offers_nothing() {
        let (mut incident, first) = burst();
        let acted = root_message(&incident, &first, Some("All 4 marked expected by <@U1>"));
        let text = acted.to_string();
        assert!(text.contains("All 4 marked expected by <@U1>"));
        assert!(!text.contains(MARK_ALL_EXPECTED));
        incident.status = FindingStatus::Snoozed;
        let text = root_message(&incident, &first, None).to_string();
        assert!(text.contains("Incident snoozed"), "{text}");
        assert!(!text.contains(SNOOZE_ALL_24H));
    }

    #[test]
    fn stop_all_is_offered_only_where_the_first_alert_offers_stop_instances() {
        let (incident, first) = burst();
        let plain = with_header(&incident, finding_alert(&first), None).to_string();
        assert!(!plain.contains(STOP_ALL), "{plain}");
        let mut alert = finding_alert(&first);
        if let Some(actions) = alert
            .as_array_mut()
            .and_then(|b| b.iter_mut().find(|b| b["type"] == "actions"))
        {
            actions["elements"].as_array_mut().unwrap().push(json!({
                "type": "button", "action_id": RemediationKind::StopInstances.action_id(), "value": "a"
            }));
        }
        let offered = with_header(&incident, alert, None);
        validate_limits(&offered).unwrap();
        let text = offered.to_string();
        assert!(text.contains(STOP_ALL), "{text}");
        assert!(
            text.contains("Stop the instances launched by all 4 findings"),
            "{text}"
        );
    }

    #[test]
    fn names_from_accounts_are_inert() {
        let (mut incident, first) = burst();
        incident.actors = vec!["<!channel>".into()];
        let text = root_message(&incident, &first, None).to_string();
        assert!(!text.contains("<!channel>"), "{text}");
    }
}
