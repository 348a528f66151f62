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

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    Open,
    Expected,
    Snoozed,
    Resolved,
    Accepted,
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
