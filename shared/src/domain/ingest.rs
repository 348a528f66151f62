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
        format!("{{\"type\":\"{CLOUD_TRAIL}\",\"record\":{record}}}")
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
