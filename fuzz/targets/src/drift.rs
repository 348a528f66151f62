//! `POST /v1/drift-reports`: the body decoded (`decode_body`: gzip or not, bounded), one part
//! validated (`parse_part`), secrets scrubbed (`scrub`), and the whole handler
//! (`DriftReports` on a memory table and queue, with a valid API key) over up to eight parts
//! posted in turn, so that multi-part reassembly runs too.
//!
//! Input: a mode byte, then bodies separated by `\n\x1e\n`. Mode (low two bits): 0 the bodies
//! as sent, 1 each body gzipped by the target (`Content-Encoding: gzip`), 2 the rest as one
//! raw body claimed to be gzip, 3 the bodies under an odd `Content-Encoding`.

use std::sync::Arc;

use dd0c_ingest::drift_reports::{
    decode_body, parse_part, scrub, secret_name, secret_value, DriftReports, MAX_DRIFTS_PER_PART,
    MAX_PARTS, PATH, REDACTED,
};
use dd0c_ingest::INGEST_QUEUE;
use dd0c_shared::auth::api_keys;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::drift::{DriftReport, ReportedDrift};
use dd0c_shared::domain::ingest::DRIFT_REPORT;
use dd0c_shared::http::{HttpHandler, HttpRequest};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::store::memory::MemoryTable;
use serde_json::Value;

use crate::support::{block_on, gzip, json_body, now, pieces};

pub const SEPARATOR: &[u8] = b"\n\x1e\n";
const MAX_POSTS: usize = 8;
const ODD_ENCODINGS: [&str; 6] = ["identity", "", " GZIP ", "br", "x-gzip", "gzip, deflate"];

/// One request: its `Content-Encoding`, its body, and the body it must decode to when the
/// target encoded it.
type Post<'a> = (Option<&'a str>, Vec<u8>, Option<Vec<u8>>);

pub fn drift_report(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let posts: Vec<Post> = match mode & 3 {
        0 => pieces(rest, SEPARATOR, MAX_POSTS)
            .into_iter()
            .map(|p| (None, p.to_vec(), Some(p.to_vec())))
            .collect(),
        1 => pieces(rest, SEPARATOR, MAX_POSTS)
            .into_iter()
            .map(|p| (Some("gzip"), gzip(p), Some(p.to_vec())))
            .collect(),
        2 => vec![(Some("gzip"), rest.to_vec(), None)],
        _ => {
            let encoding = ODD_ENCODINGS[usize::from(mode >> 2) % ODD_ENCODINGS.len()];
            pieces(rest, SEPARATOR, MAX_POSTS)
                .into_iter()
                .map(|p| (Some(encoding), p.to_vec(), None))
                .collect()
        }
    };

    block_on(async {
        let clock = Arc::new(ManualClock::new(now()));
        let table = MemoryTable::shared(clock.clone());
        let queue = Arc::new(MemoryQueue::new([INGEST_QUEUE], clock.clone()));
        let (_, key) = api_keys::create(table.as_ref(), "t1", "agent", None, now())
            .await
            .expect("the memory table takes a key");
        let handler = DriftReports::new(table, queue.clone(), clock);

        for (encoding, body, plain) in posts {
            let expected = expected_status(encoding, &body, plain.as_deref());
            let mut request = HttpRequest::new("POST", PATH)
                .with_header("authorization", &format!("Bearer {key}"))
                .with_body(body);
            if let Some(encoding) = encoding {
                request = request.with_header("content-encoding", encoding);
            }
            let response = handler.handle(request).await;
            let json = json_body(&response.body);
            assert_eq!(
                response.status, expected,
                "the handler and decode_body/parse_part disagree: {json}"
            );
        }

        for message in queue.peek_all(INGEST_QUEUE) {
            let body: Value = serde_json::from_str(&message.body)
                .unwrap_or_else(|e| panic!("a queued body is not JSON ({e})"));
            assert_eq!(body["type"], DRIFT_REPORT);
            let report: DriftReport = serde_json::from_value(body["report"].clone())
                .unwrap_or_else(|e| panic!("a queued report does not parse ({e})"));
            assert_eq!(report.tenant_id, "t1");
            for drift in &report.drifts {
                assert_no_secret(drift);
            }
        }
    });
}

/// What the handler must answer for one body, from the public functions alone.
fn expected_status(encoding: Option<&str>, body: &[u8], plain: Option<&[u8]>) -> u16 {
    let decoded = match decode_body(encoding, body) {
        Ok(decoded) => decoded,
        Err((status, detail)) => {
            assert!(
                matches!(status, 400 | 413 | 415),
                "decode_body gave {status}"
            );
            assert!(!detail.is_empty());
            return status;
        }
    };
    if let Some(plain) = plain {
        assert_eq!(decoded, plain, "the body does not decode to what was sent");
    }
    match parse_part(&decoded) {
        Ok(part) => {
            assert!(id_like(&part.report_id), "report_id {:?}", part.report_id);
            assert!(id_like(&part.stack_id), "stack_id {:?}", part.stack_id);
            assert!(1 <= part.part && part.part <= part.parts && part.parts <= MAX_PARTS);
            assert!(part.drifts.len() <= MAX_DRIFTS_PER_PART);
            if let Some(account) = &part.account_id {
                assert!(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
            }
            for drift in &part.drifts {
                let mut once = drift.clone();
                scrub(&mut once);
                assert_no_secret(&once);
                let mut twice = once.clone();
                scrub(&mut twice);
                assert_eq!(twice, once, "scrubbing twice changed a drift");
            }
            202
        }
        Err((status, detail, field)) => {
            assert!(matches!(status, 400 | 413), "parse_part gave {status}");
            assert!(!detail.is_empty());
            assert!(
                status != 400 || field.is_some(),
                "a 400 names no field: {detail}"
            );
            status
        }
    }
}

fn id_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b))
}

/// A scrubbed drift holds no secret: under a secret name (or a sensitive drift) only
/// `[REDACTED]` and nulls, elsewhere no string that looks like a credential.
fn assert_no_secret(drift: &ReportedDrift) {
    let secret = drift.sensitive || secret_name(&drift.attribute);
    for value in [&drift.old, &drift.new] {
        assert!(
            !leaks(value, secret),
            "a secret survived scrubbing in {}: {value}",
            drift.attribute
        );
    }
}

fn leaks(value: &Value, under_secret: bool) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) if s == REDACTED => false,
        Value::String(s) => under_secret || secret_value(s),
        Value::Bool(_) | Value::Number(_) => under_secret,
        Value::Array(items) => items.iter().any(|v| leaks(v, under_secret)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| leaks(v, under_secret || secret_name(k))),
    }
}
