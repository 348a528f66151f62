//! Detector flags: a kill switch that turns one detector (`crate::detector`) off for one tenant
//! or for everyone, with an owner and an expiry date. An expired flag no longer applies and
//! shows as expired until someone deletes it. Evaluated by the notifier: a finding of a
//! detector that is off is recorded and held, never alerted
//! (docs/decisions/0510-flags-and-circuit-breaker.md).

pub mod cache;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The longest a flag may be set for: a switched-off detector is revisited at least yearly.
pub const MAX_FLAG_DAYS: i64 = 366;
const MAX_OWNER_CHARS: usize = 200;
const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlagScope {
    /// Set by the operator for every tenant.
    Global,
    /// Set by a tenant for itself.
    Tenant,
}

impl FlagScope {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagScope::Global => "global",
            FlagScope::Tenant => "tenant",
        }
    }
}

/// A detector turned off.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flag {
    pub detector: String,
    pub scope: FlagScope,
    /// Who answers for the flag (a person or a team), not who wrote it.
    pub owner: String,
    #[serde(default)]
    pub reason: String,
    pub expires_at: DateTime<Utc>,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

impl Flag {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    /// Why a finding of this flag's detector was held (its `suppressed_reason`).
    pub fn hold_reason(&self) -> String {
        format!(
            "detector {} is turned off ({} flag owned by {}, until {}){}: recorded, not alerted",
            self.detector,
            self.scope.as_str(),
            self.owner,
            self.expires_at.format("%Y-%m-%d %H:%M UTC"),
            if self.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", self.reason)
            }
        )
    }
}

/// What a request to set a flag carries (`PUT /v1/flags/{detector}`).
#[derive(Debug, Clone, PartialEq)]
pub struct FlagRequest {
    pub owner: String,
    pub reason: String,
    pub expires_at: DateTime<Utc>,
}

/// A request to set a flag that is not valid; `field` names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("flag field `{field}`: {message}")]
pub struct FlagError {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> FlagError {
    FlagError {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn text(map: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, FlagError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => Err(invalid(
            field,
            format!("should be at most {max} characters"),
        )),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(invalid(field, "should be a string")),
    }
}

impl FlagRequest {
    /// Validates a request body: `owner` (required), `expires_at` (RFC 3339, in the future, at
    /// most [`MAX_FLAG_DAYS`] ahead), `reason` (optional).
    pub fn from_value(value: &Value, now: DateTime<Utc>) -> Result<FlagRequest, FlagError> {
        let map = value
            .as_object()
            .ok_or_else(|| invalid("(document)", "should be a JSON object"))?;
        if let Some(k) = map
            .keys()
            .find(|k| !["owner", "reason", "expires_at"].contains(&k.as_str()))
        {
            return Err(invalid(
                k,
                "unknown field (expected one of owner, reason, expires_at)",
            ));
        }
        let owner = text(map, "owner", MAX_OWNER_CHARS)?
            .filter(|o| !o.is_empty())
            .ok_or_else(|| invalid("owner", "is required: who answers for this flag"))?;
        let reason = text(map, "reason", MAX_REASON_CHARS)?.unwrap_or_default();
        let expires_at = map
            .get("expires_at")
            .ok_or_else(|| invalid("expires_at", "is required: when the flag stops applying"))?
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                invalid(
                    "expires_at",
                    "should be an RFC 3339 time, e.g. 2026-12-31T00:00:00Z",
                )
            })?;
        if expires_at <= now {
            return Err(invalid("expires_at", "should be in the future"));
        }
        if expires_at > now + Duration::days(MAX_FLAG_DAYS) {
            return Err(invalid(
                "expires_at",
                format!("should be at most {MAX_FLAG_DAYS} days ahead"),
            ));
        }
        Ok(FlagRequest {
            owner,
            reason,
            expires_at,
        })
    }

    pub fn into_flag(self, detector: &str, scope: FlagScope, by: &str, now: DateTime<Utc>) -> Flag {
        Flag {
            detector: detector.to_owned(),
            scope,
            owner: self.owner,
            reason: self.reason,
            expires_at: self.expires_at,
            set_by: by.to_owned(),
            set_at: now,
        }
    }
}

/// The flags that may apply to one tenant: its own and the global ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    pub tenant: Vec<Flag>,
    pub global: Vec<Flag>,
}

impl Flags {
    /// The flag that turns `detector` off at `now`, if any: the tenant's own first (its owner
    /// is the one to ask), then the global one. Expired flags do not apply.
    pub fn turned_off(&self, detector: &str, now: DateTime<Utc>) -> Option<&Flag> {
        self.tenant
            .iter()
            .chain(&self.global)
            .find(|f| f.detector == detector && !f.is_expired(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::noon;
    use serde_json::json;

    fn flag(detector: &str, scope: FlagScope, expires_in_hours: i64) -> Flag {
        Flag {
            detector: detector.into(),
            scope,
            owner: "team-sec".into(),
            reason: "noisy on bastions".into(),
            expires_at: noon() + Duration::hours(expires_in_hours),
            set_by: "alice".into(),
            set_at: noon(),
        }
    }

    #[test]
    fn a_tenant_flag_wins_over_a_global_one_and_expired_flags_do_not_apply() {
        let flags = Flags {
            tenant: vec![flag("cost.burst", FlagScope::Tenant, 2)],
            global: vec![
                flag("cost.burst", FlagScope::Global, 48),
                flag("drift.sg-world-ingress", FlagScope::Global, 1),
            ],
        };
        let now = noon();
        assert_eq!(
            flags.turned_off("cost.burst", now).map(|f| f.scope),
            Some(FlagScope::Tenant)
        );
        assert!(flags.turned_off("cost.zscore", now).is_none());
        assert!(flags.turned_off("drift.sg-world-ingress", now).is_some());
        // Two hours on, the tenant's flag has expired: the global one still applies.
        let later = now + Duration::hours(2);
        assert_eq!(
            flags.turned_off("cost.burst", later).map(|f| f.scope),
            Some(FlagScope::Global)
        );
        assert!(flags.turned_off("drift.sg-world-ingress", later).is_none());
        assert!(flags.global[1].is_expired(later) && !flags.global[0].is_expired(later));
        assert!(flags
            .turned_off("cost.burst", now + Duration::hours(48))
            .is_none());
    }

    #[test]
    fn a_held_finding_says_which_flag_and_whose() {
        let reason = flag("cost.burst", FlagScope::Tenant, 2).hold_reason();
        assert_eq!(
            reason,
            "detector cost.burst is turned off (tenant flag owned by team-sec, until 2026-03-02 12:00 UTC): noisy on bastions: recorded, not alerted"
        );
    }

    #[test]
    fn a_request_needs_an_owner_and_a_future_expiry_within_a_year() {
        let now = noon();
        let ok = FlagRequest::from_value(
            &json!({"owner": " team-sec ", "expires_at": "2026-04-01T00:00:00Z"}),
            now,
        )
        .unwrap();
        assert_eq!(ok.owner, "team-sec");
        assert_eq!(ok.reason, "");
        let field = |body: Value| FlagRequest::from_value(&body, now).unwrap_err().field;
        assert_eq!(
            field(json!({"expires_at": "2026-04-01T00:00:00Z"})),
            "owner"
        );
        assert_eq!(
            field(json!({"owner": "", "expires_at": "2026-04-01T00:00:00Z"})),
            "owner"
        );
        assert_eq!(field(json!({"owner": "x"})), "expires_at");
        assert_eq!(
            field(json!({"owner": "x", "expires_at": "tomorrow"})),
            "expires_at"
        );
        assert_eq!(
            field(json!({"owner": "x", "expires_at": "2026-03-01T00:00:00Z"})),
            "expires_at"
        );
        assert_eq!(
            field(json!({"owner": "x", "expires_at": "2027-06-01T00:00:00Z"})),
            "expires_at"
        );
        assert_eq!(
            field(json!({"owner": "x", "expires_at": "2026-04-01T00:00:00Z", "enabled": false})),
            "enabled"
        );
        assert_eq!(field(json!(["x"])), "(document)");
    }
}
