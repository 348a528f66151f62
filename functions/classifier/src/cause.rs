//! Why a drift probably happened (cause class, confidence, evidence) and what to do about it
//! (recommendation and reason). Heuristics over the change's actor, time and shape; the
//! evidence lists what each conclusion rests on.

use chrono::{Datelike, Timelike, Weekday};
use dd0c_shared::domain::drift::{DriftCategory, DriftEvent};
use dd0c_shared::domain::{Severity, Source};
use serde::Serialize;
use serde_json::Value;

use crate::rules::Classification;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CauseClass {
    EmergencyFix,
    ManualTroubleshooting,
    SecurityResponse,
    ConfigurationError,
    AutomatedResponse,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cause {
    pub class: CauseClass,
    pub confidence: f64,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Revert,
    CodifyIntoIac,
    EscalateForReview,
    AcceptAsException,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendation {
    pub action: Action,
    pub reason: String,
}

/// Whether every change takes access or capability away (a rule revoked, a policy detached, a
/// credential, a group membership or a snapshot's sharing removed, logging turned on, a
/// public access block set).
/// Removing an MFA device or a permissions boundary is not among them: it weakens.
fn tightens(drift: &DriftEvent) -> bool {
    !drift.changes.is_empty()
        && drift.changes.iter().all(|c| {
            let removed = c.new.is_null() && !c.old.is_null();
            let restricting_attr = matches!(
                c.attribute.as_str(),
                "ingress"
                    | "egress"
                    | "managed_policy"
                    | "inline_policy"
                    | "permission"
                    | "access_key"
                    | "login_profile"
                    | "ssh_public_key"
                    | "service_specific_credential"
                    | "signing_certificate"
                    | "group_membership"
                    | "shared_with"
            );
            (removed && restricting_attr)
                || (c.attribute == "public_access_block"
                    && c.new.get("public") == Some(&Value::Bool(false)))
                || (c.attribute == "logging" && c.new == Value::Bool(true))
                || (c.attribute == "publicly_accessible" && c.new == Value::Bool(false))
        })
}

fn opens_access(drift: &DriftEvent) -> bool {
    drift.changes.iter().any(|c| {
        c.old.is_null()
            && !c.new.is_null()
            && matches!(c.attribute.as_str(), "ingress" | "egress" | "permission")
    })
}

const EMERGENCY_WORDS: [&str; 5] = [
    "breakglass",
    "break-glass",
    "emergency",
    "oncall",
    "incident",
];

pub fn cause(drift: &DriftEvent, classification: &Classification) -> Cause {
    let Some(change) = &drift.change else {
        return Cause {
            class: CauseClass::ConfigurationError,
            confidence: 0.3,
            evidence: vec![
                "reported by an agent; no CloudTrail change on the resource explains it".into(),
            ],
        };
    };
    let actor = &change.actor;
    let mut evidence = vec![format!(
        "{} by {} via {}",
        change.action,
        actor.name,
        actor.source.label()
    )];
    let when = change.event_time;
    let off_hours =
        !(7..20).contains(&when.hour()) || matches!(when.weekday(), Weekday::Sat | Weekday::Sun);
    if off_hours {
        evidence.push(format!(
            "made outside business hours ({} UTC)",
            when.format("%a %H:%M")
        ));
    }
    let lowered = format!("{} {}", actor.name, actor.arn).to_ascii_lowercase();
    let emergency_identity = EMERGENCY_WORDS.iter().find(|w| lowered.contains(*w));
    let (class, confidence) = if actor.source == Source::AwsService {
        evidence.push("the caller is an AWS service".into());
        (CauseClass::AutomatedResponse, 0.9)
    } else if tightens(drift) {
        evidence.push("the change only removes access or turns protection on".into());
        (CauseClass::SecurityResponse, 0.7)
    } else if let Some(word) = emergency_identity {
        evidence.push(format!(
            "the identity's name suggests an emergency role ({word})"
        ));
        (CauseClass::EmergencyFix, 0.7)
    } else if matches!(actor.source, Source::Sdk) && !actor.mfa {
        evidence.push("made through an SDK without MFA: a script or automation".into());
        (CauseClass::AutomatedResponse, 0.5)
    } else if matches!(actor.source, Source::Console | Source::Cli)
        && (opens_access(drift) || classification.category == DriftCategory::Configuration)
    {
        evidence.push("a hands-on change opening access or resizing, typical of debugging".into());
        (
            CauseClass::ManualTroubleshooting,
            if off_hours { 0.5 } else { 0.6 },
        )
    } else if off_hours {
        (CauseClass::EmergencyFix, 0.5)
    } else {
        evidence.push("no sign of urgency or automation".into());
        (CauseClass::ConfigurationError, 0.4)
    };
    if actor.mfa {
        evidence.push("the session used MFA".into());
    }
    if let Some(ip) = &actor.ip {
        evidence.push(format!("from {ip}"));
    }
    Cause {
        class,
        confidence,
        evidence,
    }
}

pub fn recommend(classification: &Classification, cause: &Cause, tool: &str) -> Recommendation {
    let (action, reason) = match (classification.severity, cause.class) {
        (_, CauseClass::SecurityResponse) => (
            Action::CodifyIntoIac,
            format!("the change tightens security; codify it in {tool} so the next apply does not undo it"),
        ),
        (_, CauseClass::AutomatedResponse) if classification.severity < Severity::High => (
            Action::AcceptAsException,
            "an automated change of low impact; accept it as an exception or ignore the attribute in IaC".into(),
        ),
        (Severity::Critical, _) => (
            Action::Revert,
            format!(
                "{}; revert to the state {tool} declares now, then change it through {tool} if it is needed",
                classification.reasons.first().map_or("critical exposure", String::as_str)
            ),
        ),
        (Severity::High, _) => (
            Action::EscalateForReview,
            "a high-risk change outside review; have the resource owner or security review it".into(),
        ),
        (Severity::Low, _) => (
            Action::CodifyIntoIac,
            format!("harmless on its own; codify it in {tool} or the next apply reverts it"),
        ),
        _ => (
            Action::CodifyIntoIac,
            format!("if the change is intended, codify it in {tool}; otherwise revert it (the next apply will)"),
        ),
    };
    Recommendation { action, reason }
}
