//! Reads replay inputs: files or directories (recursively), gzip or not, each holding JSON
//! lines of EventBridge envelopes, JSON lines of bare CloudTrail records, or CloudTrail S3
//! log files (`{"Records": [...]}`). Records stay raw JSON text; only their time is read here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufRead, BufReader, Read};
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

/// How far back in event time a record of a JSON-lines file may come after a later one and
/// still be replayed in order: a record is held until its file has shown one this much later
/// (CloudTrail's own delivery is out of order by minutes).
pub const REORDER_HORIZON_SECONDS: i64 = 15 * 60;
/// At most this many records are held per JSON-lines file; past it the earliest is released,
/// and a record that then arrives earlier than one already replayed is late (counted).
pub const REORDER_MAX_RECORDS: usize = 4096;

/// The order records are replayed in: by time, records without a time last, then by file
/// (in path order), then by position in the file — the order a stable sort of every file's
/// records, concatenated in path order, gives.
type Order = (bool, Option<DateTime<Utc>>, usize, u64);

fn order_of(time: Option<DateTime<Utc>>, file: usize, seq: u64) -> Order {
    (time.is_none(), time, file, seq)
}

struct Held {
    order: Order,
    record: InputRecord,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order.cmp(&other.order)
    }
}

/// Opens a file, decompressing it when it is gzip.
fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    if file.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(file),
        )))
    } else {
        Ok(Box::new(file))
    }
}

fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    open(path)?.read_to_end(&mut out)?;
    Ok(out)
}

/// How a file is read: line by line (JSON lines, or a document on one line, as CloudTrail
/// writes its log files), or whole (a document over several lines, e.g. pretty-printed), or
/// held from planning on (not a regular file, e.g. a pipe: it can be read only once).
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Lines,
    Whole,
    Held(Vec<u8>),
}

/// Every record of a whole file, or why it holds none (the logic of a file read at once).
fn records_of_file(path: &Path, bytes: &[u8], errors: &mut Vec<InputError>) -> Vec<InputRecord> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            errors.push(InputError {
                path: path.to_owned(),
                line: None,
                reason: "not_json",
                detail: format!("not UTF-8 text: {e}"),
            });
            return Vec::new();
        }
    };
    // A whole-file document (a CloudTrail log file or one pretty-printed event)…
    if serde_json::from_str::<&RawValue>(text).is_ok() {
        return match records_of(text) {
            Ok(records) => records,
            Err((reason, detail)) => {
                errors.push(InputError {
                    path: path.to_owned(),
                    line: None,
                    reason,
                    detail,
                });
                Vec::new()
            }
        };
    }
    // …or JSON lines.
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match records_of(line) {
            Ok(records) => out.extend(records),
            Err((reason, detail)) => errors.push(InputError {
                path: path.to_owned(),
                line: Some(i + 1),
                reason,
                detail,
            }),
        }
    }
    out
}

/// One line of a file read line by line: its records, or why it holds none.
fn records_of_line(
    path: &Path,
    number: usize,
    line: &[u8],
) -> Result<Vec<InputRecord>, InputError> {
    let error = |reason, detail| InputError {
        path: path.to_owned(),
        line: Some(number),
        reason,
        detail,
    };
    let text =
        std::str::from_utf8(line).map_err(|e| error("not_json", format!("not UTF-8 text: {e}")))?;
    records_of(text.trim()).map_err(|(reason, detail)| error(reason, detail))
}

/// A file planned for the replay: how it is read and when its first record is due.
#[derive(Debug, Clone)]
struct Planned {
    file: usize,
    mode: Mode,
    /// The earliest time of its first line's records (of all its records, read whole).
    first: Option<DateTime<Utc>>,
}

/// Reads enough of a file to plan it: its mode and the time of its first records. Nothing
/// of it is kept; a line that cannot be read is reported when the file is replayed.
fn plan(path: &Path, file: usize) -> std::io::Result<Planned> {
    if !std::fs::metadata(path)?.is_file() {
        let bytes = read_bytes(path)?;
        let first = records_of_file(path, &bytes, &mut Vec::new())
            .iter()
            .filter_map(|r| r.time)
            .min();
        return Ok(Planned {
            file,
            mode: Mode::Held(bytes),
            first,
        });
    }
    let mut reader = open(path)?;
    let mut line = Vec::new();
    let mut first_line = true;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(Planned {
                file,
                mode: Mode::Lines,
                first: None,
            });
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            if first_line {
                // Not text: read whole, to be reported once.
                return Ok(Planned {
                    file,
                    mode: Mode::Whole,
                    first: None,
                });
            }
            continue;
        };
        let text = text.trim();
        if first_line {
            first_line = false;
            if let Err(e) = serde_json::from_str::<&RawValue>(text) {
                if e.is_eof() {
                    // A document over several lines: read whole, now and when replayed.
                    let mut bytes = line.clone();
                    reader.read_to_end(&mut bytes)?;
                    let records = records_of_file(path, &bytes, &mut Vec::new());
                    return Ok(Planned {
                        file,
                        mode: Mode::Whole,
                        first: records.iter().filter_map(|r| r.time).min(),
                    });
                }
            }
        }
        if let Ok(records) = records_of(text) {
            if let Some(first) = records.iter().filter_map(|r| r.time).min() {
                return Ok(Planned {
                    file,
                    mode: Mode::Lines,
                    first: Some(first),
                });
            }
        }
    }
}

/// A file being replayed: its records come out in [`Order`], a JSON-lines file's through a
/// reorder window ([`REORDER_HORIZON_SECONDS`], [`REORDER_MAX_RECORDS`]).
struct Source {
    file: usize,
    path: PathBuf,
    /// `None` once the file is exhausted (or could not be read further).
    reader: Option<Box<dyn BufRead + Send>>,
    line: Vec<u8>,
    line_number: usize,
    /// Lines that were not blank.
    lines_read: usize,
    /// Why the first line holds no record, when that line is a JSON document: reported
    /// with its line number once a second line shows the file is JSON lines, without it
    /// when the file is that one document (as a file read whole is).
    deferred: Option<InputError>,
    seq: u64,
    window: BinaryHeap<Reverse<Held>>,
    /// The latest time read from the file so far.
    frontier: Option<DateTime<Utc>>,
}

impl Source {
    fn open(path: &Path, planned: Planned, input: &mut Progress) -> Self {
        let mut source = Source {
            file: planned.file,
            path: path.to_owned(),
            reader: None,
            line: Vec::new(),
            line_number: 0,
            lines_read: 0,
            deferred: None,
            seq: 0,
            window: BinaryHeap::new(),
            frontier: None,
        };
        let bytes = match planned.mode {
            Mode::Held(bytes) => bytes,
            mode => {
                let reader = match open(path) {
                    Ok(r) => r,
                    Err(e) => {
                        input.unreadable(path, None, &e);
                        return source;
                    }
                };
                if mode == Mode::Lines {
                    source.reader = Some(reader);
                    return source;
                }
                let mut bytes = Vec::new();
                let mut reader = reader;
                if let Err(e) = reader.read_to_end(&mut bytes) {
                    input.unreadable(path, None, &e);
                    return source;
                }
                bytes
            }
        };
        input.bytes += bytes.len() as u64;
        for record in records_of_file(path, &bytes, &mut input.errors) {
            source.hold(record);
        }
        source
    }

    fn hold(&mut self, record: InputRecord) {
        if let Some(t) = record.time {
            self.frontier = Some(self.frontier.map_or(t, |f| f.max(t)));
        }
        let order = order_of(record.time, self.file, self.seq);
        self.seq += 1;
        self.window.push(Reverse(Held { order, record }));
    }

    /// Whether the earliest record held can go: nothing earlier can come from this file.
    fn head_is_due(&self) -> bool {
        let Some(Reverse(head)) = self.window.peek() else {
            return false;
        };
        if self.reader.is_none() || self.window.len() > REORDER_MAX_RECORDS {
            return true;
        }
        match (head.record.time, self.frontier) {
            (Some(t), Some(f)) => (f - t).num_seconds() >= REORDER_HORIZON_SECONDS,
            _ => false,
        }
    }

    /// The file's next record in order, reading ahead as far as the window needs.
    fn next(&mut self, input: &mut Progress) -> Option<Held> {
        loop {
            if self.head_is_due() {
                return self.window.pop().map(|Reverse(h)| h);
            }
            let reader = self.reader.as_mut()?;
            self.line.clear();
            match reader.read_until(b'\n', &mut self.line) {
                Ok(0) => {
                    self.reader = None;
                    if let Some(mut e) = self.deferred.take() {
                        e.line = None;
                        input.errors.push(e);
                    }
                }
                Ok(n) => {
                    input.bytes += n as u64;
                    self.line_number += 1;
                    if self.line.trim_ascii().is_empty() {
                        continue;
                    }
                    self.lines_read += 1;
                    if let Some(e) = self.deferred.take() {
                        input.errors.push(e);
                    }
                    match records_of_line(&self.path, self.line_number, &self.line) {
                        Ok(records) => {
                            for r in records {
                                self.hold(r);
                            }
                        }
                        Err(e) if self.lines_read == 1 && e.reason != "not_json" => {
                            self.deferred = Some(e);
                        }
                        Err(e) => input.errors.push(e),
                    }
                }
                Err(e) => {
                    input.unreadable(&self.path, Some(self.line_number + 1), &e);
                    self.reader = None;
                }
            }
        }
    }
}

/// What reading has found so far besides records.
#[derive(Debug, Default)]
struct Progress {
    errors: Vec<InputError>,
    bytes: u64,
}

impl Progress {
    fn unreadable(&mut self, path: &Path, line: Option<usize>, e: &std::io::Error) {
        self.errors.push(InputError {
            path: path.to_owned(),
            line,
            reason: "unreadable_file",
            detail: e.to_string(),
        });
    }
}

/// Every record of the input, streamed in event-time order: a k-way merge of the files,
/// each read only once the merge reaches its first record's time, so that only the files
/// whose time spans overlap are open at once (docs/decisions/1010-streaming-replay.md).
pub struct InputStream {
    paths: Vec<PathBuf>,
    /// Files not opened yet, latest first (popped from the end).
    planned: Vec<Planned>,
    /// The next record of each open file.
    heads: BinaryHeap<Reverse<Held>>,
    sources: std::collections::HashMap<usize, Source>,
    progress: Progress,
    /// Files that could be opened.
    pub files: usize,
    /// The latest time of a record handed out so far.
    latest: Option<DateTime<Utc>>,
    /// Records handed out after a later one (beyond the reorder window): replayed late.
    pub late: u64,
}

impl InputStream {
    /// Plans every path (files or directories, read recursively, in path order).
    pub fn open(paths: &[PathBuf]) -> Self {
        let mut progress = Progress::default();
        let mut files = Vec::new();
        for path in paths {
            collect_files(path, &mut files, &mut progress.errors);
        }
        let mut planned = Vec::with_capacity(files.len());
        for (i, path) in files.iter().enumerate() {
            match plan(path, i) {
                Ok(p) => planned.push(p),
                Err(e) => progress.unreadable(path, None, &e),
            }
        }
        let files_read = planned.len();
        planned.sort_by_key(|p| Reverse(order_of(p.first, p.file, 0)));
        InputStream {
            paths: files,
            planned,
            heads: BinaryHeap::new(),
            sources: Default::default(),
            progress,
            files: files_read,
            latest: None,
            late: 0,
        }
    }

    /// Bytes read so far (decompressed).
    pub fn bytes(&self) -> u64 {
        self.progress.bytes
    }

    /// What could not be read since the last call (each line or file once).
    pub fn take_errors(&mut self) -> Vec<InputError> {
        std::mem::take(&mut self.progress.errors)
    }

    /// Files open at once now (for tests of the merge's bound).
    pub fn open_files(&self) -> usize {
        self.sources.len()
    }

    fn advance(&mut self, file: usize) {
        if let Some(source) = self.sources.get_mut(&file) {
            match source.next(&mut self.progress) {
                Some(held) => self.heads.push(Reverse(held)),
                None => {
                    self.sources.remove(&file);
                }
            }
        }
    }
}

impl Iterator for InputStream {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        loop {
            // Open the next planned file when its first record is due before every open
            // file's next one.
            let due = match (self.planned.last(), self.heads.peek()) {
                (Some(p), Some(Reverse(head))) => order_of(p.first, p.file, 0) <= head.order,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !due {
                break;
            }
            let planned = self.planned.pop()?;
            let file = planned.file;
            let source = Source::open(&self.paths[file], planned, &mut self.progress);
            self.sources.insert(file, source);
            self.advance(file);
        }
        let Reverse(held) = self.heads.pop()?;
        self.advance(held.order.2);
        if let Some(t) = held.record.time {
            if self.latest.is_some_and(|l| t < l) {
                self.late += 1;
            } else {
                self.latest = Some(t);
            }
        }
        Some(held.record)
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

/// Reads every path at once; records come back in event-time order (records without a time
/// last). Holds the whole input: for tests and the benchmark's in-memory stages.
pub fn read_inputs(paths: &[PathBuf]) -> Input {
    let mut stream = InputStream::open(paths);
    let mut input = Input {
        files: stream.files,
        ..Input::default()
    };
    for record in stream.by_ref() {
        input.records.push(record);
    }
    input.errors = stream.take_errors();
    input.bytes = stream.bytes();
    input
}

/// Reads every path the way the replay did before it streamed: each file whole, every record
/// sorted at once. The reference the streaming order is tested against.
#[cfg(test)]
fn read_inputs_at_once(paths: &[PathBuf]) -> Vec<InputRecord> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files, &mut Vec::new());
    }
    let mut records = Vec::new();
    for file in files {
        if let Ok(bytes) = read_bytes(&file) {
            records.extend(records_of_file(&file, &bytes, &mut Vec::new()));
        }
    }
    records.sort_by_key(|r| (r.time.is_none(), r.time));
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dd0c-input-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A bare CloudTrail record at `2024-01-02T00:00:00Z` plus `minutes`.
    fn record(id: &str, minutes: i64) -> String {
        let t = DateTime::parse_from_rfc3339("2024-01-02T00:00:00Z").unwrap()
            + chrono::Duration::minutes(minutes);
        format!(
            r#"{{"eventID":"{id}","eventTime":"{}","eventName":"RunInstances"}}"#,
            t.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
        )
    }

    fn lines(records: &[String]) -> String {
        records.iter().map(|r| format!("{r}\n")).collect()
    }

    fn ids(records: &[InputRecord]) -> Vec<String> {
        records
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(&r.raw).unwrap()["eventID"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn the_stream_replays_in_the_order_of_a_sort_of_the_whole_input() {
        let d = dir("order");
        // Two accounts' JSON lines interleaved in time, ties across files, a file slightly
        // out of order (within the window), a CloudTrail log file out of order, gzip, a
        // pretty-printed event, records without a time, and lines that are not records.
        std::fs::write(
            d.join("a.jsonl"),
            lines(&[
                record("a1", 0),
                record("a2", 10),
                record("a3", 30),
                record("a4", 30),
            ]),
        )
        .unwrap();
        std::fs::write(
            d.join("b.jsonl"),
            lines(&[
                record("b1", 10),
                record("b3", 25),
                record("b2", 20),
                record("b4", 600),
            ]) + "not json\n\n"
                + r#"{"eventID":"b-no-time","eventName":"X"}"#
                + "\n",
        )
        .unwrap();
        std::fs::write(
            d.join("c.json"),
            format!(
                r#"{{"Records":[{},{},{}]}}"#,
                record("c3", 500),
                record("c1", 5),
                record("c2", 30)
            ),
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(d.join("d.jsonl.gz")).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(lines(&[record("d1", 1), record("d2", 700)]).as_bytes())
            .unwrap();
        gz.finish().unwrap();
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(
            d.join("sub/e.json"),
            "{\n  \"eventID\": \"e1\",\n  \"eventTime\": \"2024-01-02T00:10:00Z\",\n  \"eventName\": \"X\"\n}\n",
        )
        .unwrap();
        let streamed = read_inputs(std::slice::from_ref(&d));
        let at_once = read_inputs_at_once(std::slice::from_ref(&d));
        assert_eq!(ids(&streamed.records), ids(&at_once));
        assert_eq!(
            ids(&streamed.records),
            [
                "a1",
                "d1",
                "c1",
                "a2",
                "b1",
                "e1",
                "b2",
                "b3",
                "a3",
                "a4",
                "c2",
                "c3",
                "b4",
                "d2",
                "b-no-time"
            ]
        );
        assert_eq!(streamed.files, 5);
        let errors: Vec<String> = streamed.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].ends_with("b.jsonl:5: not_json: expected ident at line 1 column 2"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn files_are_opened_only_when_their_records_are_due() {
        let d = dir("lazy");
        // Forty files of an hour each, one after the other in time but not in path order.
        for i in 0..40i64 {
            let start = (39 - i) * 60;
            let records: Vec<String> = (0..10)
                .map(|j| record(&format!("f{i}-{j}"), start + j * 6))
                .collect();
            std::fs::write(d.join(format!("{i:02}.jsonl")), lines(&records)).unwrap();
        }
        let mut stream = InputStream::open(std::slice::from_ref(&d));
        let mut most_open = 0;
        let mut n = 0;
        let mut last = None;
        while let Some(r) = stream.next() {
            most_open = most_open.max(stream.open_files());
            assert!(last <= r.time, "out of order");
            last = r.time;
            n += 1;
        }
        assert_eq!(n, 400);
        assert_eq!(stream.late, 0);
        // The file being replayed, and the next one while its first record is read ahead.
        assert!(most_open <= 2, "{most_open} files open at once");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_record_behind_the_reorder_window_is_replayed_late_and_counted() {
        let d = dir("late");
        // x2 went out when x3, an hour later, was read: x4, fifty minutes earlier than x2,
        // comes late; x5, twenty minutes behind x3, is still within the window.
        std::fs::write(
            d.join("x.jsonl"),
            lines(&[
                record("x1", 0),
                record("x2", 60),
                record("x3", 120),
                record("x4", 10),
                record("x5", 100),
            ]),
        )
        .unwrap();
        let mut stream = InputStream::open(std::slice::from_ref(&d));
        let order: Vec<InputRecord> = stream.by_ref().collect();
        assert_eq!(ids(&order), ["x1", "x2", "x4", "x5", "x3"]);
        assert_eq!(stream.late, 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_window_holds_at_most_its_limit_of_records() {
        let d = dir("cap");
        let mut records: Vec<String> = (0..REORDER_MAX_RECORDS + 10)
            .map(|i| record(&format!("r{i}"), 100))
            .collect();
        records.push(record("early", 0));
        std::fs::write(d.join("x.jsonl"), lines(&records)).unwrap();
        let mut stream = InputStream::open(std::slice::from_ref(&d));
        let order: Vec<InputRecord> = stream.by_ref().collect();
        assert_eq!(order.len(), REORDER_MAX_RECORDS + 11);
        // The window was full: the earliest held went out before `early` was read.
        assert_eq!(stream.late, 1);
        assert_eq!(ids(&order)[10], "early");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[cfg(unix)]
    #[test]
    fn a_pipe_is_read_once() {
        let d = dir("pipe");
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            return; // no mkfifo here
        }
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                std::fs::write(fifo, lines(&[record("p2", 10), record("p1", 0)])).unwrap()
            })
        };
        let input = read_inputs(std::slice::from_ref(&fifo));
        writer.join().unwrap();
        assert_eq!(ids(&input.records), ["p1", "p2"]);
        assert_eq!(input.files, 1);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_file_that_is_one_document_is_reported_without_a_line() {
        let d = dir("doc");
        std::fs::write(
            d.join("one.json"),
            r#"{"detail-type":"Scheduled Event","detail":{}}"#,
        )
        .unwrap();
        std::fs::write(d.join("bin.der"), [0x30u8, 0x82, 0xff, 0x0a, 0xfe, 0x0a]).unwrap();
        std::fs::write(
            d.join("two.jsonl"),
            "{\"detail-type\":\"Scheduled Event\",\"detail\":{}}\n{\"a\":1}\n",
        )
        .unwrap();
        let input = read_inputs(std::slice::from_ref(&d));
        let errors: Vec<String> = input.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.contains("bin.der: not_json: not UTF-8")));
        assert!(errors
            .iter()
            .any(|e| e.contains("one.json: not_cloudtrail")));
        assert!(errors
            .iter()
            .any(|e| e.contains("two.jsonl:1: not_cloudtrail")));
        assert!(errors
            .iter()
            .any(|e| e.contains("two.jsonl:2: unknown_shape")));
        let _ = std::fs::remove_dir_all(&d);
    }

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
