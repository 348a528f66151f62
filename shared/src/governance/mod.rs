//! Governance: whether a finding may notify anyone. The system policy (`policy.json` at the
//! repository root, embedded at build time, replaceable by a file named in `DD0C_POLICY` or the
//! CLI's `--policy`) sets the floor; tenants and accounts may only tighten it.
//!
//! Restrictiveness, field by field (a value further right is more restrictive):
//! `governance_mode` audit → strict; `panic_mode` false → true; `new_account_strict_days`
//! fewer → more; `immediate_severity.*` lower → higher (fewer findings go out at once);
//! `remediation` act → audit → off.

pub mod store;

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{Finding, FindingKind, FindingStatus, Severity};

/// The system policy shipped with dd0c.
pub const SYSTEM_POLICY_JSON: &str = include_str!("../../../policy.json");
/// The policy `make demo` runs with: audit mode and no new-account grace period, so that a
/// replay of freshly linked accounts shows its alerts (decision 0500).
pub const DEMO_POLICY_JSON: &str = include_str!("../../../policy.demo.json");
/// Names a policy file that replaces the embedded system policy.
pub const POLICY_ENV: &str = "DD0C_POLICY";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum GovernanceMode {
    /// Send, with a log line for every decision.
    Audit,
    /// Record findings, send nothing.
    Strict,
}

impl GovernanceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GovernanceMode::Audit => "audit",
            GovernanceMode::Strict => "strict",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "audit" => Some(GovernanceMode::Audit),
            "strict" => Some(GovernanceMode::Strict),
            _ => None,
        }
    }
}

/// Whether the remediation buttons change customers' accounts (decision 0520). Ordered from
/// the loosest to the most restrictive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RemediationMode {
    /// A permitted person's click changes the account.
    Act,
    /// dd0c records what it would have done and changes nothing.
    Audit,
    /// No remediation buttons.
    Off,
}

impl RemediationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationMode::Act => "act",
            RemediationMode::Audit => "audit",
            RemediationMode::Off => "off",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "act" => Some(RemediationMode::Act),
            "audit" => Some(RemediationMode::Audit),
            "off" => Some(RemediationMode::Off),
            _ => None,
        }
    }
}

/// The lowest severity that goes out at once, per finding kind; the rest waits for the digest.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImmediateSeverity {
    pub cost_anomaly: Severity,
    pub drift: Severity,
}

impl ImmediateSeverity {
    pub fn for_kind(&self, kind: FindingKind) -> Severity {
        match kind {
            FindingKind::CostAnomaly => self.cost_anomaly,
            FindingKind::Drift => self.drift,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Policy {
    pub governance_mode: GovernanceMode,
    pub panic_mode: bool,
    /// New accounts stay strict this many days after `connected_at`, until their baseline
    /// is mature (the digest job then promotes them).
    pub new_account_strict_days: u32,
    pub immediate_severity: ImmediateSeverity,
    /// Remediation from alerts; a policy file without the field has it `off`.
    #[serde(default = "remediation_off")]
    pub remediation: RemediationMode,
}

fn remediation_off() -> RemediationMode {
    RemediationMode::Off
}

/// A tenant's or an account's tightening of the system policy. Absent fields inherit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PolicyOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance_mode: Option<GovernanceMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_account_strict_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate_severity: Option<ImmediateSeverityOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<RemediationMode>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImmediateSeverityOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_anomaly: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GovernanceError {
    #[error("policy field `{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error(
        "policy field `{field}` may only be more restrictive than the system policy: {message}"
    )]
    Looser { field: String, message: String },
    #[error("policy file {path}: {message}")]
    Read { path: String, message: String },
}

impl GovernanceError {
    /// The field at fault (`""` when the file itself could not be read).
    pub fn field(&self) -> &str {
        match self {
            GovernanceError::Invalid { field, .. } | GovernanceError::Looser { field, .. } => field,
            GovernanceError::Read { .. } => "",
        }
    }
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        GovernanceError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
    fn looser(field: &str, message: impl Into<String>) -> Self {
        GovernanceError::Looser {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

const POLICY_FIELDS: [&str; 5] = [
    "governance_mode",
    "panic_mode",
    "new_account_strict_days",
    "immediate_severity",
    "remediation",
];
const COST_SEVERITIES: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];
const DRIFT_SEVERITIES: [Severity; 4] = [
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

fn object<'a>(value: &'a Value, field: &str) -> Result<&'a Map<String, Value>, GovernanceError> {
    value
        .as_object()
        .ok_or_else(|| GovernanceError::invalid(field, "should be a JSON object"))
}

fn reject_unknown(
    map: &Map<String, Value>,
    allowed: &[&str],
    prefix: &str,
) -> Result<(), GovernanceError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(GovernanceError::invalid(
            &format!("{prefix}{k}"),
            format!("unknown field (expected one of {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn parse_mode(v: &Value) -> Result<GovernanceMode, GovernanceError> {
    v.as_str().and_then(GovernanceMode::parse).ok_or_else(|| {
        GovernanceError::invalid("governance_mode", "should be \"strict\" or \"audit\"")
    })
}

fn parse_remediation(v: &Value) -> Result<RemediationMode, GovernanceError> {
    v.as_str().and_then(RemediationMode::parse).ok_or_else(|| {
        GovernanceError::invalid("remediation", "should be \"act\", \"audit\" or \"off\"")
    })
}

fn parse_bool(v: &Value, field: &str) -> Result<bool, GovernanceError> {
    v.as_bool()
        .ok_or_else(|| GovernanceError::invalid(field, "should be true or false"))
}

fn parse_days(v: &Value) -> Result<u32, GovernanceError> {
    v.as_u64()
        .filter(|d| *d <= 365)
        .map(|d| d as u32)
        .ok_or_else(|| {
            GovernanceError::invalid(
                "new_account_strict_days",
                "should be a whole number of days, 0-365",
            )
        })
}

fn parse_severity(v: &Value, kind: FindingKind) -> Result<Severity, GovernanceError> {
    let field = format!("immediate_severity.{}", kind.as_str());
    let allowed: &[Severity] = match kind {
        FindingKind::CostAnomaly => &COST_SEVERITIES,
        FindingKind::Drift => &DRIFT_SEVERITIES,
    };
    v.as_str()
        .and_then(Severity::parse)
        .filter(|s| allowed.contains(s))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            GovernanceError::invalid(&field, format!("should be one of {}", names.join(", ")))
        })
}

fn parse_severity_override(v: &Value) -> Result<ImmediateSeverityOverride, GovernanceError> {
    let map = object(v, "immediate_severity")?;
    reject_unknown(map, &["cost_anomaly", "drift"], "immediate_severity.")?;
    Ok(ImmediateSeverityOverride {
        cost_anomaly: map
            .get("cost_anomaly")
            .map(|v| parse_severity(v, FindingKind::CostAnomaly))
            .transpose()?,
        drift: map
            .get("drift")
            .map(|v| parse_severity(v, FindingKind::Drift))
            .transpose()?,
    })
}

impl Policy {
    /// Parses and validates a policy document; every field is required.
    pub fn parse(text: &str) -> Result<Policy, GovernanceError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| GovernanceError::invalid("(document)", format!("not valid JSON: {e}")))?;
        Policy::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Policy, GovernanceError> {
        let partial = PolicyOverride::from_value(value)?;
        let missing = |f: &str| GovernanceError::invalid(f, "is required");
        let severity = partial
            .immediate_severity
            .ok_or_else(|| missing("immediate_severity"))?;
        Ok(Policy {
            governance_mode: partial
                .governance_mode
                .ok_or_else(|| missing("governance_mode"))?,
            panic_mode: partial.panic_mode.ok_or_else(|| missing("panic_mode"))?,
            new_account_strict_days: partial
                .new_account_strict_days
                .ok_or_else(|| missing("new_account_strict_days"))?,
            immediate_severity: ImmediateSeverity {
                cost_anomaly: severity
                    .cost_anomaly
                    .ok_or_else(|| missing("immediate_severity.cost_anomaly"))?,
                drift: severity
                    .drift
                    .ok_or_else(|| missing("immediate_severity.drift"))?,
            },
            remediation: partial.remediation.unwrap_or(RemediationMode::Off),
        })
    }

    /// The embedded system policy (`policy.json`, checked by a test at build time).
    pub fn system() -> Result<Policy, GovernanceError> {
        Policy::parse(SYSTEM_POLICY_JSON)
    }

    /// The embedded demo policy (`policy.demo.json`).
    pub fn demo() -> Result<Policy, GovernanceError> {
        Policy::parse(DEMO_POLICY_JSON)
    }

    pub fn from_file(path: &Path) -> Result<Policy, GovernanceError> {
        let text = std::fs::read_to_string(path).map_err(|e| GovernanceError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Policy::parse(&text).map_err(|e| match e {
            GovernanceError::Invalid { field, message } => GovernanceError::Invalid {
                field,
                message: format!("{message} (in {})", path.display()),
            },
            other => other,
        })
    }

    /// Loads the policy at start: `path` (the CLI's `--policy`), else the file named by
    /// `DD0C_POLICY`, else the embedded system policy. Fails naming the field at fault.
    pub fn load(path: Option<&Path>) -> Result<Policy, GovernanceError> {
        Policy::load_with(path, std::env::var(POLICY_ENV).ok())
    }

    /// [`Policy::load`] with the value of `DD0C_POLICY` given (tests set no environment).
    fn load_with(path: Option<&Path>, env: Option<String>) -> Result<Policy, GovernanceError> {
        if let Some(path) = path {
            return Policy::from_file(path);
        }
        match env {
            Some(p) if !p.is_empty() => Policy::from_file(Path::new(&p)),
            _ => Policy::system(),
        }
    }
}

impl PolicyOverride {
    pub fn parse(text: &str) -> Result<PolicyOverride, GovernanceError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| GovernanceError::invalid("(document)", format!("not valid JSON: {e}")))?;
        PolicyOverride::from_value(&value)
    }

    /// Validates the shape of an override (the API's PUT body); see [`validate_override`]
    /// for whether it is allowed.
    pub fn from_value(value: &Value) -> Result<PolicyOverride, GovernanceError> {
        let map = object(value, "(document)")?;
        reject_unknown(map, &POLICY_FIELDS, "")?;
        Ok(PolicyOverride {
            governance_mode: map.get("governance_mode").map(parse_mode).transpose()?,
            panic_mode: map
                .get("panic_mode")
                .map(|v| parse_bool(v, "panic_mode"))
                .transpose()?,
            new_account_strict_days: map
                .get("new_account_strict_days")
                .map(parse_days)
                .transpose()?,
            immediate_severity: map
                .get("immediate_severity")
                .map(parse_severity_override)
                .transpose()?,
            remediation: map.get("remediation").map(parse_remediation).transpose()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self == &PolicyOverride::default()
    }
}

/// Checks that an override only tightens `system`; the error names the first looser field.
pub fn validate_override(system: &Policy, o: &PolicyOverride) -> Result<(), GovernanceError> {
    if let Some(mode) = o.governance_mode {
        if mode < system.governance_mode {
            return Err(GovernanceError::looser(
                "governance_mode",
                format!(
                    "{} is looser than {}",
                    mode.as_str(),
                    system.governance_mode.as_str()
                ),
            ));
        }
    }
    if let Some(mode) = o.remediation {
        if mode < system.remediation {
            return Err(GovernanceError::looser(
                "remediation",
                format!(
                    "{} is looser than {}",
                    mode.as_str(),
                    system.remediation.as_str()
                ),
            ));
        }
    }
    if o.panic_mode == Some(false) && system.panic_mode {
        return Err(GovernanceError::looser(
            "panic_mode",
            "the system is in panic mode; it cannot be turned off per tenant or account",
        ));
    }
    if let Some(days) = o.new_account_strict_days {
        if days < system.new_account_strict_days {
            return Err(GovernanceError::looser(
                "new_account_strict_days",
                format!("{days} is fewer than {}", system.new_account_strict_days),
            ));
        }
    }
    if let Some(sev) = &o.immediate_severity {
        for kind in [FindingKind::CostAnomaly, FindingKind::Drift] {
            let wanted = match kind {
                FindingKind::CostAnomaly => sev.cost_anomaly,
                FindingKind::Drift => sev.drift,
            };
            let floor = system.immediate_severity.for_kind(kind);
            if let Some(wanted) = wanted {
                parse_severity(&Value::String(wanted.as_str().into()), kind)?;
                if wanted < floor {
                    return Err(GovernanceError::looser(
                        &format!("immediate_severity.{}", kind.as_str()),
                        format!("{} is lower than {}", wanted.as_str(), floor.as_str()),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn tighten(policy: &mut Policy, o: &PolicyOverride) {
    if let Some(mode) = o.governance_mode {
        policy.governance_mode = policy.governance_mode.max(mode);
    }
    if let Some(panic) = o.panic_mode {
        policy.panic_mode |= panic;
    }
    if let Some(mode) = o.remediation {
        policy.remediation = policy.remediation.max(mode);
    }
    if let Some(days) = o.new_account_strict_days {
        policy.new_account_strict_days = policy.new_account_strict_days.max(days);
    }
    if let Some(sev) = &o.immediate_severity {
        if let Some(s) = sev.cost_anomaly {
            policy.immediate_severity.cost_anomaly = policy.immediate_severity.cost_anomaly.max(s);
        }
        if let Some(s) = sev.drift {
            policy.immediate_severity.drift = policy.immediate_severity.drift.max(s);
        }
    }
}

/// The policy that applies to one account: the system policy tightened by the tenant's and
/// the account's overrides. Each field takes the most restrictive value, so even an override
/// stored before the system policy was tightened can never loosen it.
pub fn effective_policy(
    system: &Policy,
    tenant_override: Option<&PolicyOverride>,
    account_override: Option<&PolicyOverride>,
) -> Policy {
    let mut policy = system.clone();
    for o in [tenant_override, account_override].into_iter().flatten() {
        tighten(&mut policy, o);
    }
    policy
}

/// What governance knows about the account a finding is in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountContext {
    /// `tenancy::AccountLink.connected_at`; `None` when the link is unknown (treated as mature:
    /// an unknown link is the embedded mode without tenancy).
    pub connected_at: Option<DateTime<Utc>>,
    /// Set by the digest job when the account left the new-account strict period.
    pub promoted_at: Option<DateTime<Utc>>,
}

/// Why a finding was held (stable codes for metrics and tests; the reason text is for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldCode {
    PanicMode,
    Strict,
    NewAccount,
    Severity,
    Status,
    /// A drift finding of a stack whose watching is off.
    Unwatched,
    /// Its detector is turned off by a flag (`crate::flags`).
    FlagOff,
    /// Its detector's circuit breaker is open for the hour (the notifier's breaker).
    Breaker,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send,
    Hold { code: HoldCode, reason: String },
}

fn hold(code: HoldCode, reason: String) -> Verdict {
    Verdict::Hold { code, reason }
}

/// Whether the account is still in its new-account strict period at `now`.
pub fn in_new_account_period(
    policy: &Policy,
    account: &AccountContext,
    now: DateTime<Utc>,
) -> bool {
    match (account.connected_at, account.promoted_at) {
        (_, Some(_)) | (None, _) => false,
        (Some(connected), None) => {
            now - connected < Duration::days(i64::from(policy.new_account_strict_days))
        }
    }
}

/// Above this hourly cost a cost anomaly is on the fast path: the scorer flags it whatever the
/// baseline (its `FAST_PATH_WARNING_USD_PER_HOUR` is this value), and governance never holds it
/// for an account's youth.
pub const FAST_PATH_USD_PER_HOUR: f64 = 5.0;

/// What a new account's quiet period never holds: critical findings, and cost anomalies on the
/// fast path. The period exists to keep a young baseline's noise out of the channel, not to
/// hide a $200/hr launch on the first day (docs/decisions/0500-notifications-governance-slack.md).
pub fn always_immediate(finding: &Finding) -> bool {
    finding.severity >= Severity::Critical
        || (finding.kind == FindingKind::CostAnomaly
            && finding.severity >= Severity::Warning
            && finding
                .estimated_hourly_cost
                .is_some_and(|c| c > FAST_PATH_USD_PER_HOUR))
}

/// Decides whether a finding may notify now. Order: panic, strict, new account, status,
/// severity (the first that holds gives the reason).
pub fn decide(
    policy: &Policy,
    finding: &Finding,
    account: &AccountContext,
    now: DateTime<Utc>,
) -> Verdict {
    if policy.panic_mode {
        return hold(HoldCode::PanicMode, "panic_mode: alerting paused".into());
    }
    if policy.governance_mode == GovernanceMode::Strict {
        return hold(
            HoldCode::Strict,
            "governance_mode strict: recorded, not sent".into(),
        );
    }
    if in_new_account_period(policy, account, now) && !always_immediate(finding) {
        let age = account
            .connected_at
            .map(|c| (now - c).num_days())
            .unwrap_or_default();
        return hold(
            HoldCode::NewAccount,
            format!(
                "new account: strict for its first {} days (connected {age} days ago)",
                policy.new_account_strict_days
            ),
        );
    }
    if finding.status != FindingStatus::Open {
        return hold(HoldCode::Status, format!("finding is {}", finding.status));
    }
    let floor = policy.immediate_severity.for_kind(finding.kind);
    if finding.severity < floor {
        return hold(
            HoldCode::Severity,
            format!(
                "held for the daily digest (severity {} below {})",
                finding.severity.as_str(),
                floor.as_str()
            ),
        );
    }
    Verdict::Send
}

#[cfg(test)]
mod tests;
