//! CloudTrail records as the normalizer parses them (`CloudTrailRecord::from_json`), and the
//! three shapes they arrive in (`records_in`: an EventBridge envelope, a bare record, an S3
//! log file `{"Records": [...]}`).

use dd0c_shared::domain::cloudtrail::records_in;
use dd0c_shared::domain::{Actor, CloudTrailRecord, RecordError};
use serde_json::Value;

/// Records of one document looked at beyond the first few add time, not coverage.
const RECORDS_PER_DOCUMENT: usize = 64;

pub fn cloudtrail_record(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // Text comes from a queue message body or a file read as UTF-8: never other bytes.
        return;
    };
    check_record(text);
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        match records_in(value) {
            Ok(records) => {
                for record in records.into_iter().take(RECORDS_PER_DOCUMENT) {
                    if let Ok(parsed) = CloudTrailRecord::from_value(record) {
                        views(&parsed);
                    }
                }
            }
            Err(e) => {
                let _ = e.reason();
            }
        }
    }
}

/// A record parses or says why (always `Malformed`); a parsed one has what dd0c cannot work
/// without, every view of it answers, and it reads back the same after serialization.
fn check_record(text: &str) {
    match CloudTrailRecord::from_json(text) {
        Ok(record) => {
            assert!(!record.event_id.is_empty(), "a record without an eventID");
            assert!(
                !record.event_name.is_empty(),
                "a record without an eventName"
            );
            views(&record);
            let again = serde_json::to_string(&record).expect("a parsed record serializes");
            let back = CloudTrailRecord::from_json(&again).unwrap_or_else(|e| {
                panic!("a serialized record does not parse back: {e}\n{again}")
            });
            assert_eq!(back.event_id, record.event_id);
            assert_eq!(back.event_name, record.event_name);
            assert_eq!(back.event_time, record.event_time);
            assert_eq!(back.event_source, record.event_source);
            assert_eq!(back.account_id(), record.account_id());
        }
        Err(RecordError::Malformed(reason)) => assert!(!reason.is_empty()),
        Err(other) => panic!("from_json gave {other:?}; only Malformed is expected"),
    }
}

/// What the normalizer and scorer read from a record: none of it may panic.
fn views(record: &CloudTrailRecord) {
    let _ = (
        record.account_id(),
        record.service(),
        record.failed(),
        record.is_read_only(),
        record.from_console(),
        record.request(),
        record.response(),
    );
    let actor = Actor::from_record(record);
    let _ = (actor.baseline_key(), actor.source.label());
}
