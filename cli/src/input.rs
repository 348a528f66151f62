//! Reads replay inputs: files or directories (recursively), gzip or not, each holding JSON
//! lines of EventBridge envelopes, JSON lines of bare CloudTrail records, or CloudTrail S3
//! log files (`{"Records": [...]}`). Records stay raw JSON text; only their time is read here.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use dd0c_shared::domain::CLOUDTRAIL_DETAIL_TYPE;
use serde::Deserialize;
use serde_json::value::RawValue;

/// One CloudTrail record found in the input.
#[derive(Debug, Clone)]
pub struct InputRecord {
    /// `None` when the record has no readable `eventTime` (the normalizer will say why).
    pub time: Option<DateTime<Utc>>,
    pub raw: String,
}

/// Something in the input that could not be read, and was skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub path: PathBuf,
    pub line: Option<usize>,
    /// Stable reason for the summary: `unreadable_file`, `not_json`, `not_cloudtrail`, `unknown_shape`.
    pub reason: &'static str,
    pub detail: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "{}:{line}: {}: {}",
                self.path.display(),
                self.reason,
                self.detail
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.path.display(),
                self.reason,
                self.detail
            ),
        }
    }
}

#[derive(Debug, Default)]
pub struct Input {
    pub records: Vec<InputRecord>,
    pub errors: Vec<InputError>,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "detail-type", default)]
    detail_type: Option<String>,
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(rename = "eventID", default)]
    event_id: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventName", default)]
    event_name: Option<serde::de::IgnoredAny>,
    #[serde(rename = "eventTime", default)]
    event_time: Option<String>,
}

#[derive(Deserialize)]
struct TimeProbe {
    #[serde(rename = "eventTime", default)]
    event_time: Option<String>,
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The records one JSON document holds, or why it holds none.
fn records_of(raw: &str) -> Result<Vec<InputRecord>, (&'static str, String)> {
    let probe: Probe = serde_json::from_str(raw).map_err(|e| {
        if e.is_data() {
            ("unknown_shape", "not a JSON object".to_owned())
        } else {
            ("not_json", e.to_string())
        }
    })?;
    if let Some(records) = probe.records {
        return Ok(records
            .into_iter()
            .map(|r| InputRecord {
                time: serde_json::from_str::<TimeProbe>(r.get())
                    .ok()
                    .and_then(|p| parse_time(p.event_time.as_deref())),
                raw: r.get().to_owned(),
            })
            .collect());
    }
    if let Some(detail_type) = probe.detail_type {
        if detail_type != CLOUDTRAIL_DETAIL_TYPE {
            return Err((
                "not_cloudtrail",
                format!("EventBridge event of detail-type {detail_type:?}"),
            ));
        }
        let detail = probe
            .detail
            .ok_or(("unknown_shape", "envelope without detail".to_owned()))?;
        return Ok(vec![InputRecord {
            time: serde_json::from_str::<TimeProbe>(detail.get())
                .ok()
                .and_then(|p| parse_time(p.event_time.as_deref())),
            raw: detail.get().to_owned(),
        }]);
    }
    if probe.event_id.is_some() || probe.event_name.is_some() {
        return Ok(vec![InputRecord {
            time: parse_time(probe.event_time.as_deref()),
            raw: raw.to_owned(),
        }]);
    }
    Err((
        "unknown_shape",
        "neither a CloudTrail record, an EventBridge envelope nor a log file".to_owned(),
    ))
}

fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 8);
        flate2::read::MultiGzDecoder::new(bytes.as_slice()).read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn read_file(path: &Path, input: &mut Input) {
    let bytes = match read_bytes(path) {
        Ok(b) => b,
        Err(e) => {
            input.errors.push(InputError {
                path: path.to_owned(),
                line: None,
                reason: "unreadable_file",
                detail: e.to_string(),
            });
            return;
        }
    };
    input.files += 1;
    input.bytes += bytes.len() as u64;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            input.errors.push(InputError {
                path: path.to_owned(),
                line: None,
                reason: "not_json",
                detail: format!("not UTF-8 text: {e}"),
            });
            return;
        }
    };
    // A whole-file document (a CloudTrail log file or one pretty-printed event)…
    if serde_json::from_str::<&RawValue>(text).is_ok() {
        match records_of(text) {
            Ok(records) => input.records.extend(records),
            Err((reason, detail)) => input.errors.push(InputError {
                path: path.to_owned(),
                line: None,
                reason,
                detail,
            }),
        }
        return;
    }
    // …or JSON lines.
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match records_of(line) {
            Ok(records) => input.records.extend(records),
            Err((reason, detail)) => input.errors.push(InputError {
                path: path.to_owned(),
                line: Some(i + 1),
                reason,
                detail,
            }),
        }
    }
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut children: Vec<PathBuf> =
                    entries.filter_map(|e| Some(e.ok()?.path())).collect();
                children.sort();
                for child in children {
                    collect_files(&child, files, errors);
                }
            }
            Err(e) => errors.push(InputError {
                path: path.to_owned(),
                line: None,
                reason: "unreadable_file",
                detail: e.to_string(),
            }),
        },
        Ok(_) => files.push(path.to_owned()),
        Err(e) => errors.push(InputError {
            path: path.to_owned(),
            line: None,
            reason: "unreadable_file",
            detail: e.to_string(),
        }),
    }
}

/// Reads every path; records come back in event-time order (records without a time last).
pub fn read_inputs(paths: &[PathBuf]) -> Input {
    let mut input = Input::default();
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files, &mut input.errors);
    }
    for file in files {
        read_file(&file, &mut input);
    }
    input.records.sort_by_key(|r| (r.time.is_none(), r.time));
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"eventID":"e1","eventTime":"2024-01-02T00:00:00Z","eventName":"RunInstances","eventSource":"ec2.amazonaws.com"}"#;

    #[test]
    fn recognises_every_shape() {
        assert_eq!(records_of(RECORD).unwrap().len(), 1);
        let envelope = format!(
            r#"{{"detail-type":"AWS API Call via CloudTrail","id":"x","detail":{RECORD}}}"#
        );
        let r = records_of(&envelope).unwrap();
        assert_eq!(r[0].raw, RECORD);
        assert_eq!(r[0].time.unwrap().to_rfc3339(), "2024-01-02T00:00:00+00:00");
        let file = format!(r#"{{"Records":[{RECORD},{RECORD}]}}"#);
        assert_eq!(records_of(&file).unwrap().len(), 2);
        assert_eq!(records_of("{not json").unwrap_err().0, "not_json");
        assert_eq!(records_of("[1,2]").unwrap_err().0, "unknown_shape");
        assert_eq!(
            records_of(r#"{"detail-type":"Scheduled Event","detail":{}}"#)
                .unwrap_err()
                .0,
            "not_cloudtrail"
        );
    }
}
