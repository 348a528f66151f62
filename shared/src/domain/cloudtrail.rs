//! CloudTrail records and the three shapes they arrive in: EventBridge envelopes
//! ("AWS API Call via CloudTrail"), bare records, and S3 log files (`{"Records": [...]}`).
//! Parsing is lenient about what varies between event versions 1.05–1.10 (fields come and
//! go, numbers arrive as strings) and strict about what dd0c cannot work without.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudTrailRecord {
    #[serde(default)]
    pub event_version: Option<String>,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_source: String,
    pub event_name: String,
    #[serde(default)]
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress", default)]
    pub source_ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub user_identity: UserIdentity,
    #[serde(default)]
    pub request_parameters: Option<Value>,
    #[serde(default)]
    pub response_elements: Option<Value>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub recipient_account_id: Option<String>,
    #[serde(default)]
    pub read_only: Option<Value>,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub session_credential_from_console: Option<Value>,
    #[serde(default)]
    pub resources: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    #[serde(rename = "type", default)]
    pub identity_type: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub invoked_by: Option<String>,
    #[serde(default)]
    pub session_context: Option<SessionContext>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext {
    #[serde(default)]
    pub attributes: Option<SessionAttributes>,
    #[serde(default)]
    pub session_issuer: Option<SessionIssuer>,
    #[serde(default)]
    pub source_identity: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(default)]
    pub mfa_authenticated: Option<Value>,
    #[serde(default)]
    pub creation_date: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer {
    #[serde(rename = "type", default)]
    pub issuer_type: Option<String>,
    #[serde(default)]
    pub principal_id: Option<String>,
    #[serde(default)]
    pub arn: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
}

/// `true`, `"true"`: CloudTrail writes booleans both ways.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

impl CloudTrailRecord {
    /// The account the call was made in.
    pub fn account_id(&self) -> Option<&str> {
        self.recipient_account_id
            .as_deref()
            .or(self.user_identity.account_id.as_deref())
            .filter(|a| !a.is_empty())
    }

    /// The service name: `ec2` from `ec2.amazonaws.com`.
    pub fn service(&self) -> &str {
        self.event_source
            .strip_suffix(".amazonaws.com")
            .unwrap_or(&self.event_source)
    }

    pub fn failed(&self) -> bool {
        self.error_code.as_deref().is_some_and(|c| !c.is_empty())
    }

    pub fn is_read_only(&self) -> bool {
        truthy(self.read_only.as_ref())
    }

    pub fn from_console(&self) -> bool {
        truthy(self.session_credential_from_console.as_ref())
    }

    pub fn request(&self) -> &Value {
        self.request_parameters.as_ref().unwrap_or(&Value::Null)
    }

    pub fn response(&self) -> &Value {
        self.response_elements.as_ref().unwrap_or(&Value::Null)
    }

    /// Parses a record, naming the field at fault when it cannot.
    pub fn from_value(value: Value) -> Result<Self, RecordError> {
        serde_json::from_value(value)
            .map_err(|e| RecordError::Malformed(e.to_string()))
            .and_then(Self::checked)
    }

    /// Parses a record from JSON text (one typed pass, no intermediate value).
    /// Parses one record; the error names the field at fault (`eventTime: input contains
    /// invalid characters …`) so a dead-lettered record says what to look at.
    /// Path tracking costs time on every record, so it runs only to explain a failure.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        match serde_json::from_str(text) {
            Ok(record) => Self::checked(record),
            Err(plain) => {
                let mut de = serde_json::Deserializer::from_str(text);
                let explained: Result<Self, _> = serde_path_to_error::deserialize(&mut de);
                Err(RecordError::Malformed(match explained {
                    Err(e) => {
                        let path = e.path().to_string();
                        if path.is_empty() || path == "." {
                            plain.to_string()
                        } else {
                            format!("{path}: {}", e.into_inner())
                        }
                    }
                    Ok(_) => plain.to_string(),
                }))
            }
        }
    }

    fn checked(record: Self) -> Result<Self, RecordError> {
        if record.event_id.is_empty() {
            return Err(RecordError::Malformed("eventID is empty".into()));
        }
        if record.event_name.is_empty() {
            return Err(RecordError::Malformed("eventName is empty".into()));
        }
        Ok(record)
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RecordError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("malformed CloudTrail record: {0}")]
    Malformed(String),
    #[error("EventBridge event of detail-type {0:?} is not a CloudTrail API call")]
    NotCloudTrail(String),
    #[error("JSON value is neither a CloudTrail record, an EventBridge envelope nor a log file")]
    UnknownShape,
}

impl RecordError {
    /// A short, stable reason for summaries and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::NotJson(_) => "not_json",
            RecordError::Malformed(_) => "malformed_record",
            RecordError::NotCloudTrail(_) => "not_cloudtrail",
            RecordError::UnknownShape => "unknown_shape",
        }
    }
}

/// Recognises an envelope, a bare record or a log file and returns the raw records in it.
pub fn records_in(value: Value) -> Result<Vec<Value>, RecordError> {
    match value {
        Value::Object(mut map) => {
            if let Some(records) = map.remove("Records") {
                return match records {
                    Value::Array(a) => Ok(a),
                    _ => Err(RecordError::UnknownShape),
                };
            }
            if let Some(detail_type) = map.get("detail-type").and_then(Value::as_str) {
                if detail_type != CLOUDTRAIL_DETAIL_TYPE {
                    return Err(RecordError::NotCloudTrail(detail_type.to_owned()));
                }
                return match map.remove("detail") {
                    Some(detail @ Value::Object(_)) => Ok(vec![detail]),
                    _ => Err(RecordError::Malformed(
                        "envelope has no detail object".into(),
                    )),
                };
            }
            if map.contains_key("eventID") || map.contains_key("eventName") {
                return Ok(vec![Value::Object(map)]);
            }
            Err(RecordError::UnknownShape)
        }
        _ => Err(RecordError::UnknownShape),
    }
}

#[cfg(test)]
mod field_error_tests {
    use super::*;

    #[test]
    fn a_malformed_record_names_the_field_at_fault() {
        let text = r#"{"eventVersion":"1.08","eventID":"e-1","eventName":"RunInstances","eventSource":"ec2.amazonaws.com","eventTime":"not a time","awsRegion":"us-east-1","recipientAccountId":"111111111111","userIdentity":{"type":"Root"}}"#;
        match CloudTrailRecord::from_json(text) {
            Err(RecordError::Malformed(m)) => assert!(m.starts_with("eventTime: "), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "eventVersion": "1.08",
            "eventID": "e-1",
            "eventTime": "2023-07-10T11:40:24Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a", "accountId": "111111111111"},
            "readOnly": "false",
            "someFutureField": {"x": 1}
        })
    }

    #[test]
    fn parses_a_record_and_ignores_unknown_fields() {
        let r = CloudTrailRecord::from_value(record()).unwrap();
        assert_eq!(r.service(), "ec2");
        assert_eq!(r.account_id(), Some("111111111111"));
        assert!(!r.is_read_only());
        assert!(!r.failed());
    }

    #[test]
    fn names_the_missing_field() {
        let mut v = record();
        v.as_object_mut().unwrap().remove("eventTime");
        let err = CloudTrailRecord::from_value(v).unwrap_err();
        assert!(err.to_string().contains("eventTime"), "{err}");
    }

    #[test]
    fn recognises_the_three_shapes() {
        assert_eq!(records_in(record()).unwrap().len(), 1);
        let envelope =
            json!({"detail-type": CLOUDTRAIL_DETAIL_TYPE, "id": "x", "detail": record()});
        assert_eq!(records_in(envelope).unwrap()[0]["eventID"], "e-1");
        let file = json!({"Records": [record(), record()]});
        assert_eq!(records_in(file).unwrap().len(), 2);
        let other = json!({"detail-type": "EC2 Instance State-change Notification", "detail": {}});
        assert_eq!(records_in(other).unwrap_err().reason(), "not_cloudtrail");
        assert_eq!(
            records_in(json!([1])).unwrap_err().reason(),
            "unknown_shape"
        );
    }
}
