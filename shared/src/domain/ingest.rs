//! What travels on the ingest queue: `{"type": "cloud_trail", "record": {...}}` or
//! `{"type": "drift_report", "report": {...}}`. The record stays raw JSON until the
//! normalizer parses it, so that a malformed record fails there with its reason.

use serde::Deserialize;
use serde_json::value::RawValue;

/// An ingest message, borrowed from its body.
#[derive(Debug, Deserialize)]
pub struct IngestMessage<'a> {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(borrow, default)]
    pub record: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub report: Option<&'a RawValue>,
}

pub const CLOUD_TRAIL: &str = "cloud_trail";
pub const DRIFT_REPORT: &str = "drift_report";

impl IngestMessage<'_> {
    /// The body for a CloudTrail record given as JSON text (no re-serialization).
    pub fn cloudtrail_body(record: &str) -> String {
        // Built by hand: a replay makes one for every record it reads.
        let mut body = String::with_capacity(record.len() + CLOUD_TRAIL.len() + 22);
        body.push_str("{\"type\":\"");
        body.push_str(CLOUD_TRAIL);
        body.push_str("\",\"record\":");
        body.push_str(record);
        body.push('}');
        body
    }

    /// The body with the trace context of the event's ingest span, before the record
    /// (`telemetry::trace::traceparent_in` reads the first one).
    pub fn cloudtrail_body_traced(record: &str, traceparent: &str) -> String {
        format!(
            "{{\"type\":\"{CLOUD_TRAIL}\",\"traceparent\":\"{traceparent}\",\"record\":{record}}}"
        )
    }

    pub fn drift_report_body(report: &str) -> String {
        format!("{{\"type\":\"{DRIFT_REPORT}\",\"report\":{report}}}")
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn a_cloudtrail_body_is_the_record_in_its_message() {
        let record = r#"{"eventID":"e1","x":[1,{"y":"\u00e9"}]}"#;
        let body = IngestMessage::cloudtrail_body(record);
        assert_eq!(
            body,
            format!("{{\"type\":\"{CLOUD_TRAIL}\",\"record\":{record}}}")
        );
        let message: IngestMessage = serde_json::from_str(&body).unwrap();
        assert_eq!(message.kind, CLOUD_TRAIL);
        assert_eq!(message.record.map(|r| r.get()), Some(record));
    }
}
