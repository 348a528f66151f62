//! The rule a customer's quick-create stack puts on their default event bus
//! (`shared/forwarding-rule.json`, the template's `Dd0cForwardApiCallsRule`): which CloudTrail
//! records reach dd0c at all. A recorded trail (an S3 log file) holds far more than that: the
//! read-only calls a rule in the ENABLED state is never delivered, failed calls, other
//! services. The replay still runs them (reads teach it what AWS describes), but the meter
//! bills only what this rule forwards (decision 1080).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::domain::cloudtrail::truthy;

pub const FORWARDING_RULE_JSON: &str = include_str!("../forwarding-rule.json");

/// The EventBridge rule state in which read-only management events are delivered too.
const STATE_WITH_READ_ONLY: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";

#[derive(Debug, Error, PartialEq)]
pub enum RuleError {
    #[error("forwarding rule: {0}")]
    Unreadable(String),
    #[error("forwarding rule: the meter cannot evaluate {0}")]
    Unsupported(String),
}

#[derive(Deserialize)]
struct RuleFile {
    state: String,
    event_pattern: Pattern,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pattern {
    #[serde(rename = "detail-type")]
    detail_type: Vec<String>,
    source: Vec<String>,
    #[serde(default)]
    detail: serde_json::Map<String, Value>,
}

/// What the customer's rule forwards.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardingRule {
    detail_types: BTreeSet<String>,
    sources: BTreeSet<String>,
    delivers_read_only: bool,
    drops_failed_calls: bool,
}

/// The fields of a record the rule looks at.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RecordProbe {
    event_source: Option<String>,
    event_type: Option<String>,
    read_only: Option<Value>,
    error_code: Option<Value>,
}

impl ForwardingRule {
    /// The rule of `shared/forwarding-rule.json`.
    pub fn customer() -> &'static ForwardingRule {
        static RULE: OnceLock<ForwardingRule> = OnceLock::new();
        RULE.get_or_init(|| {
            Self::parse(FORWARDING_RULE_JSON).expect("shared/forwarding-rule.json is a rule")
        })
    }

    /// A rule in the file's shape. Only the pattern fields the meter can evaluate are allowed,
    /// so that a rule changed in the file is never metered as something it is not.
    pub fn parse(json: &str) -> Result<Self, RuleError> {
        let file: RuleFile =
            serde_json::from_str(json).map_err(|e| RuleError::Unreadable(e.to_string()))?;
        let mut drops_failed_calls = false;
        for (field, matchers) in &file.event_pattern.detail {
            match (field.as_str(), matchers) {
                ("errorCode", Value::Array(m)) if m == &[serde_json::json!({"exists": false})] => {
                    drops_failed_calls = true
                }
                _ => {
                    return Err(RuleError::Unsupported(format!(
                        "detail.{field}: {matchers}"
                    )))
                }
            }
        }
        let delivers_read_only = match file.state.as_str() {
            "ENABLED" => false,
            STATE_WITH_READ_ONLY => true,
            other => return Err(RuleError::Unsupported(format!("state {other}"))),
        };
        Ok(Self {
            detail_types: file.event_pattern.detail_type.into_iter().collect(),
            sources: file.event_pattern.source.into_iter().collect(),
            delivers_read_only,
            drops_failed_calls,
        })
    }

    /// Whether a CloudTrail record (its JSON text, as a trail file holds it) would reach dd0c.
    /// A record that cannot be read is counted as forwarded: the meter then bills the
    /// pipeline's refusal of it rather than nothing.
    pub fn forwards(&self, record: &str) -> bool {
        let Ok(probe) = serde_json::from_str::<RecordProbe>(record) else {
            return true;
        };
        let service = probe.event_source.as_deref().unwrap_or_default();
        let service = service.strip_suffix(".amazonaws.com").unwrap_or(service);
        let failed = match &probe.error_code {
            None | Some(Value::Null) => false,
            Some(Value::String(code)) => !code.is_empty(),
            Some(_) => true,
        };
        self.detail_types
            .contains(detail_type(probe.event_type.as_deref()))
            && self.sources.contains(&format!("aws.{service}"))
            && (self.delivers_read_only || !truthy(probe.read_only.as_ref()))
            && !(self.drops_failed_calls && failed)
    }
}

/// The EventBridge detail type CloudTrail gives a record of this `eventType` (a record without
/// one is taken for an API call, which most are).
fn detail_type(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsApiCall") | None => "AWS API Call via CloudTrail",
        Some(_) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &str) -> String {
        format!(r#"{{"eventID":"e1","eventName":"X",{fields}}}"#)
    }

    #[test]
    fn a_successful_write_call_of_a_listed_service_is_forwarded() {
        let rule = ForwardingRule::customer();
        assert!(rule.forwards(&record(
            r#""eventSource":"ec2.amazonaws.com","eventType":"AwsApiCall","readOnly":false"#
        )));
        // Without an eventType or a readOnly flag: an API call that changed something.
        assert!(rule.forwards(&record(r#""eventSource":"rds.amazonaws.com""#)));
        assert!(rule.forwards(&record(
            r#""eventSource":"s3.amazonaws.com","errorCode":null"#
        )));
    }

    #[test]
    fn a_read_only_call_is_not_delivered_to_an_enabled_rule() {
        let rule = ForwardingRule::customer();
        for flag in ["true", r#""true""#, r#""TRUE""#] {
            assert!(!rule.forwards(&record(&format!(
                r#""eventSource":"ec2.amazonaws.com","readOnly":{flag}"#
            ))));
        }
        let with_reads = ForwardingRule::parse(&FORWARDING_RULE_JSON.replace(
            r#""state": "ENABLED""#,
            &format!(r#""state": "{STATE_WITH_READ_ONLY}""#),
        ))
        .unwrap();
        assert!(with_reads.forwards(&record(
            r#""eventSource":"ec2.amazonaws.com","readOnly":true"#
        )));
    }

    #[test]
    fn a_failed_call_another_service_or_another_kind_of_event_is_not_forwarded() {
        let rule = ForwardingRule::customer();
        assert!(!rule.forwards(&record(
            r#""eventSource":"ec2.amazonaws.com","errorCode":"Client.UnauthorizedOperation""#
        )));
        assert!(!rule.forwards(&record(r#""eventSource":"ssm.amazonaws.com""#)));
        assert!(!rule.forwards(&record(
            r#""eventSource":"ec2.amazonaws.com","eventType":"AwsServiceEvent""#
        )));
        assert!(!rule.forwards(&record(
            r#""eventSource":"signin.amazonaws.com","eventType":"AwsConsoleSignIn""#
        )));
    }

    #[test]
    fn an_unreadable_record_is_billed_as_forwarded() {
        assert!(ForwardingRule::customer().forwards("not json"));
    }

    #[test]
    fn the_file_is_the_template_rule_the_meter_can_evaluate() {
        let rule = ForwardingRule::customer();
        assert!(!rule.delivers_read_only);
        assert!(rule.drops_failed_calls);
        assert!(rule.sources.contains("aws.ec2") && rule.sources.len() >= 10);
        assert!(rule.sources.iter().all(|s| s.starts_with("aws.")));
    }

    #[test]
    fn a_pattern_the_meter_cannot_evaluate_is_refused() {
        let prefix = FORWARDING_RULE_JSON.replace(
            r#""errorCode": [{ "exists": false }]"#,
            r#""eventName": [{ "prefix": "Create" }]"#,
        );
        assert!(matches!(
            ForwardingRule::parse(&prefix),
            Err(RuleError::Unsupported(_))
        ));
        // A rule that forwards only failed calls is not one the meter can evaluate.
        let only_failed = FORWARDING_RULE_JSON.replace(
            r#""errorCode": [{ "exists": false }]"#,
            r#""errorCode": [{ "exists": true }]"#,
        );
        assert!(matches!(
            ForwardingRule::parse(&only_failed),
            Err(RuleError::Unsupported(_))
        ));
        let disabled = FORWARDING_RULE_JSON.replace(r#""ENABLED""#, r#""DISABLED""#);
        assert!(matches!(
            ForwardingRule::parse(&disabled),
            Err(RuleError::Unsupported(_))
        ));
        assert!(matches!(
            ForwardingRule::parse("{}"),
            Err(RuleError::Unreadable(_))
        ));
    }
}
