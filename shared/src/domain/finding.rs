//! Findings: what dd0c tells people about (a cost anomaly or a drift), one per
//! (`kind`, `event_id`), written whether or not governance lets it notify.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actor::Actor;

pub const FINDING_DETAIL_TYPE: &str = "dd0c.Finding";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    CostAnomaly,
    Drift,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::CostAnomaly => "cost_anomaly",
            FindingKind::Drift => "drift",
        }
    }
}

/// Cost findings use info < warning < critical; drift findings low < medium < high < critical.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    Warning,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::Warning => "warning",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "warning" => Severity::Warning,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// Critical and warning cost findings, critical and high drift findings go out at once;
    /// the rest waits for the daily digest.
    pub fn is_immediate(self) -> bool {
        matches!(
            self,
            Severity::Warning | Severity::High | Severity::Critical
        )
    }
}

/// Where a finding stands. The one spelling of a status, everywhere (items, GSI2 partitions,
/// API bodies and filters, audit entries, Slack): [`FindingStatus::as_str`], which serde and
/// [`std::str::FromStr`] agree with. Which status may follow which is the finding entity's
/// (`entity::finding::Transition`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    Expected,
    Snoozed,
    Resolved,
    Accepted,
}

impl FindingStatus {
    pub const ALL: [FindingStatus; 5] = [
        FindingStatus::Open,
        FindingStatus::Expected,
        FindingStatus::Snoozed,
        FindingStatus::Resolved,
        FindingStatus::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Expected => "expected",
            FindingStatus::Snoozed => "snoozed",
            FindingStatus::Resolved => "resolved",
            FindingStatus::Accepted => "accepted",
        }
    }

    /// Still wants attention: open, or snoozed until it reopens (the digest counts the rest
    /// as closed).
    pub fn is_active(self) -> bool {
        matches!(self, FindingStatus::Open | FindingStatus::Snoozed)
    }

    /// `open, expected, snoozed, resolved, accepted`: for messages that list the choices.
    pub fn choices() -> String {
        FindingStatus::ALL.map(FindingStatus::as_str).join(", ")
    }
}

impl std::fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status that is not one of [`FindingStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown finding status {0:?}: status must be one of {choices}", choices = FindingStatus::choices())]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for FindingStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub id: String,
    pub tenant_id: String,
    pub kind: FindingKind,
    pub event_id: String,
    pub account_id: String,
    pub region: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    pub actor: Actor,
    pub severity: Severity,
    pub score: f64,
    pub reasons: Vec<String>,
    pub resource_type: String,
    pub resource_ids: Vec<String>,
    #[serde(default)]
    pub estimated_hourly_cost: Option<f64>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub notified: bool,
    #[serde(default)]
    pub suppressed_reason: Option<String>,
    pub status: FindingStatus,
    pub created_at: DateTime<Utc>,
    /// Kind-specific detail the alert renders (instance type and count, drift diff, …).
    #[serde(default)]
    pub details: Value,
}

impl Finding {
    /// One finding per (kind, CloudTrail event): the id is derived, never random.
    pub fn id_for(kind: FindingKind, event_id: &str) -> String {
        let prefix = match kind {
            FindingKind::CostAnomaly => "cost",
            FindingKind::Drift => "drift",
        };
        format!("{prefix}-{event_id}")
    }

    /// The line of the findings file (`dd0c replay --findings`), as CONTRACTS.md fixes it.
    pub fn contract_json(&self) -> Value {
        serde_json::json!({
            "kind": self.kind.as_str(),
            "event_id": self.event_id,
            "account_id": self.account_id,
            "region": self.region,
            "event_time": self.event_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "event_name": self.event_name,
            "actor": self.actor.arn,
            "severity": self.severity.as_str(),
            "score": self.score,
            "reasons": self.reasons,
            "resource_type": self.resource_type,
            "resource_ids": self.resource_ids,
            "estimated_hourly_cost": self.estimated_hourly_cost,
            "category": self.category,
            "notified": self.notified,
            "suppressed_reason": self.suppressed_reason,
            "id": self.id,
            "actor_name": self.actor.name,
            "actor_source": self.actor.source.label(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_of_a_status() {
        for status in FindingStatus::ALL {
            assert_eq!(status.as_str().parse::<FindingStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                Value::String(status.as_str().into())
            );
            assert_eq!(
                serde_json::from_value::<FindingStatus>(Value::String(status.to_string())).unwrap(),
                status
            );
        }
        assert_eq!(
            FindingStatus::choices(),
            "open, expected, snoozed, resolved, accepted"
        );
        let e = "Open".parse::<FindingStatus>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown finding status \"Open\": status must be one of open, expected, snoozed, resolved, accepted"
        );
        assert!(FindingStatus::Snoozed.is_active() && !FindingStatus::Accepted.is_active());
    }
}
