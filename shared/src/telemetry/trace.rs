//! Traces across every hop (decision 0710): one CloudTrail event is one trace, from ingest to
//! Slack. Spans follow OpenTelemetry's data model and are written as OTLP/JSON
//! (`ExportTraceServiceRequest`); the context travels in messages as a W3C `traceparent`.
//!
//! - The trace id of a CloudTrail event is derived from its eventID, and so is the ingest
//!   span's id: a redelivered event is the same trace, and every hop samples it alike.
//! - Sampling is decided from the trace id (a share of traces, the same at every hop), so no
//!   hop records half a trace.
//! - Spans carry tenant ids and hashed ARNs ([`hash_arn`]), never raw ARNs or secrets.
//! - Nothing is recorded until [`install`] is called (Lambda: when an OTLP endpoint is set;
//!   the CLI: `dd0c replay --trace`): the hot path then costs a thread-local read.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where a span is: its trace, itself, and whether its trace is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl SpanContext {
    /// The W3C `traceparent` header value.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            if self.sampled { "01" } else { "00" }
        )
    }

    /// Reads a `traceparent` (version 00); anything else is no context.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() || flags.len() != 2 {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(span, &mut span_id).ok()?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(SpanContext {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The root of a CloudTrail event's trace: the ingest span.
    pub fn of_cloudtrail_event(event_id: &str) -> Self {
        let trace_id = trace_id_of_event(event_id);
        SpanContext {
            trace_id,
            span_id: derived_span_id(&trace_id, "ingest"),
            sampled: sampled(&trace_id),
        }
    }
}

/// The trace id of a CloudTrail event (what `dd0c replay --trace` output and a finding's
/// event id are matched by).
pub fn trace_id_of_event(event_id: &str) -> [u8; 16] {
    let digest = Sha256::digest(format!("dd0c-trace\n{event_id}").as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

fn derived_span_id(trace_id: &[u8; 16], name: &str) -> [u8; 8] {
    let mut hash = Sha256::new();
    hash.update(trace_id);
    hash.update(name.as_bytes());
    let digest = hash.finalize();
    let mut id = [0u8; 8];
    id.copy_from_slice(&digest[..8]);
    id
}

fn random_span_id() -> [u8; 8] {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[..8]);
    id
}

/// A resource ARN as spans carry it: a short hash that joins spans about one resource without
/// naming it.
pub fn hash_arn(arn: &str) -> String {
    let digest = Sha256::digest(format!("dd0c-arn\n{arn}").as_bytes());
    format!("sha256:{}", hex::encode(&digest[..8]))
}

// --------------------------------------------------------------------------------- recording

/// A finished span, as OTLP/JSON writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSpan {
    pub name: String,
    pub context: SpanContext,
    pub parent: Option<[u8; 8]>,
    pub start_unix_nanos: u128,
    pub end_unix_nanos: u128,
    pub attributes: Vec<(String, String)>,
    pub error: Option<String>,
}

impl FinishedSpan {
    /// The OTLP/JSON span object.
    pub fn otlp(&self) -> Value {
        let mut span = json!({
            "traceId": hex::encode(self.context.trace_id),
            "spanId": hex::encode(self.context.span_id),
            "name": self.name,
            // SPAN_KIND_CONSUMER: every hop handles a message.
            "kind": 5,
            "startTimeUnixNano": self.start_unix_nanos.to_string(),
            "endTimeUnixNano": self.end_unix_nanos.to_string(),
            "attributes": self.attributes.iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
            "status": match &self.error {
                Some(message) => json!({"code": 2, "message": message}),
                None => json!({"code": 1}),
            },
        });
        if let Some(parent) = self.parent {
            span["parentSpanId"] = json!(hex::encode(parent));
        }
        span
    }

    pub fn duration_ms(&self) -> f64 {
        (self.end_unix_nanos.saturating_sub(self.start_unix_nanos)) as f64 / 1e6
    }
}

/// One OTLP/JSON `ExportTraceServiceRequest` of `spans`, from the service `service`.
pub fn export_request(service: &str, spans: &[FinishedSpan]) -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{
            "scope": {"name": "dd0c", "version": env!("CARGO_PKG_VERSION")},
            "spans": spans.iter().map(FinishedSpan::otlp).collect::<Vec<_>>(),
        }],
    }]})
}

/// Where finished spans go.
pub trait SpanSink: Send + Sync {
    fn record(&self, span: FinishedSpan);

    /// The spans of one trace, if this sink keeps them.
    fn trace(&self, _trace_id: &[u8; 16]) -> Option<Vec<FinishedSpan>> {
        None
    }
}

/// Keeps spans (tests, the demo's trace, the Lambda's batch before it is exported).
#[derive(Default)]
pub struct MemorySink(Mutex<Vec<FinishedSpan>>);

impl MemorySink {
    pub fn spans(&self) -> Vec<FinishedSpan> {
        self.0.lock().expect("span lock").clone()
    }

    pub fn take(&self) -> Vec<FinishedSpan> {
        std::mem::take(&mut *self.0.lock().expect("span lock"))
    }

    /// The spans of one trace, parents before children (by start time).
    pub fn trace(&self, trace_id: &[u8; 16]) -> Vec<FinishedSpan> {
        let mut spans: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|s| &s.context.trace_id == trace_id)
            .collect();
        spans.sort_by_key(|s| s.start_unix_nanos);
        spans
    }
}

impl SpanSink for MemorySink {
    fn record(&self, span: FinishedSpan) {
        self.0.lock().expect("span lock").push(span);
    }

    fn trace(&self, trace_id: &[u8; 16]) -> Option<Vec<FinishedSpan>> {
        Some(MemorySink::trace(self, trace_id))
    }
}

/// Writes each span as one line of OTLP/JSON on stdout (`dd0c replay --trace`).
pub struct StdoutSink {
    pub service: String,
}

impl SpanSink for StdoutSink {
    fn record(&self, span: FinishedSpan) {
        println!(
            "{}",
            export_request(&self.service, std::slice::from_ref(&span))
        );
    }
}

struct Tracer {
    sink: Arc<dyn SpanSink>,
    /// Traces recorded, per 10,000 (by trace id).
    per_ten_thousand: u64,
}

static TRACER: OnceLock<Tracer> = OnceLock::new();

/// Starts recording: spans of sampled traces go to `sink`. `percent` of traces are sampled
/// (0–100, by trace id). Once per process; a second call is ignored.
pub fn install(sink: Arc<dyn SpanSink>, percent: f64) {
    let per_ten_thousand = (percent.clamp(0.0, 100.0) * 100.0).round() as u64;
    let _ = TRACER.set(Tracer {
        sink,
        per_ten_thousand,
    });
}

pub fn installed() -> bool {
    TRACER.get().is_some()
}

/// The spans of one trace, when the installed sink keeps them (the demo's).
pub fn recorded_trace(trace_id: &[u8; 16]) -> Option<Vec<FinishedSpan>> {
    TRACER.get()?.sink.trace(trace_id)
}

/// Whether a trace is recorded: the same answer at every hop.
fn sampled(trace_id: &[u8; 16]) -> bool {
    let Some(tracer) = TRACER.get() else {
        return false;
    };
    let mut head = [0u8; 8];
    head.copy_from_slice(&trace_id[..8]);
    u64::from_be_bytes(head) % 10_000 < tracer.per_ten_thousand
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

tokio::task_local! {
    static CURRENT: SpanContext;
}

/// The span the running task is in, if any.
pub fn current() -> Option<SpanContext> {
    CURRENT.try_with(|c| *c).ok()
}

/// The `traceparent` a message sent now should carry (the current span's, sampled or not:
/// the next hop follows the decision).
pub fn current_traceparent() -> Option<String> {
    current().map(|c| c.traceparent())
}

/// A span being recorded. Dropped without [`Span::end`], it records nothing.
pub struct Span {
    name: String,
    context: SpanContext,
    parent: Option<[u8; 8]>,
    start: u128,
    attributes: Vec<(String, String)>,
    error: Option<String>,
}

impl Span {
    /// A child of `parent`, or a new trace's root without one.
    pub fn child_of(name: &str, parent: Option<SpanContext>) -> Self {
        let (trace_id, parent_span) = match parent {
            Some(p) => (p.trace_id, Some(p.span_id)),
            None => {
                let mut id = [0u8; 16];
                id.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
                (id, None)
            }
        };
        let sampled = parent.map_or_else(|| sampled(&trace_id), |p| p.sampled);
        Span {
            name: name.to_owned(),
            context: SpanContext {
                trace_id,
                span_id: random_span_id(),
                sampled,
            },
            parent: parent_span,
            start: now_nanos(),
            attributes: Vec::new(),
            error: None,
        }
    }

    /// The root span of a CloudTrail event's trace (the ingest function).
    pub fn of_cloudtrail_event(name: &str, event_id: &str) -> Self {
        Span {
            name: name.to_owned(),
            context: SpanContext::of_cloudtrail_event(event_id),
            parent: None,
            start: now_nanos(),
            attributes: vec![("dd0c.event_id".into(), event_id.to_owned())],
            error: None,
        }
    }

    /// A child of the span the task is in.
    pub fn child(name: &str) -> Self {
        Self::child_of(name, current())
    }

    pub fn context(&self) -> SpanContext {
        self.context
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        if self.context.sampled {
            self.attributes.push((key.to_owned(), value.into()));
        }
    }

    pub fn fail(&mut self, message: impl std::fmt::Display) {
        self.error = Some(message.to_string());
    }

    /// Records the span (if its trace is sampled and a sink is installed).
    pub fn end(self) {
        let Some(tracer) = TRACER.get() else {
            return;
        };
        if !self.context.sampled {
            return;
        }
        tracer.sink.record(FinishedSpan {
            name: self.name,
            context: self.context,
            parent: self.parent,
            start_unix_nanos: self.start,
            end_unix_nanos: now_nanos().max(self.start),
            attributes: self.attributes,
            error: self.error,
        });
    }

    /// Runs `future` inside this span (messages it sends carry its context), then records it
    /// with the outcome.
    pub async fn run<F, T, E>(mut self, future: F) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let result = CURRENT.scope(self.context, future).await;
        if let Err(e) = &result {
            self.fail(e);
        }
        self.end();
        result
    }
}

/// The `traceparent` a message body carries, if any: the first `"traceparent":"…"` in it.
/// Producers put it before any outside data (the envelope's first field; the ingest message
/// before its record), so a record that happens to contain the word is never read first.
pub fn traceparent_in(body: &str) -> Option<SpanContext> {
    const KEY: &str = "\"traceparent\":\"";
    let at = body.find(KEY)? + KEY.len();
    let value = body.get(at..at + 55)?;
    SpanContext::parse(value)
}

/// Renders a trace as an indented tree with durations (the demo's trace).
pub fn render_tree(spans: &[FinishedSpan]) -> String {
    fn walk(spans: &[FinishedSpan], parent: Option<[u8; 8]>, depth: usize, out: &mut String) {
        for span in spans.iter().filter(|s| s.parent == parent) {
            let attrs: Vec<String> = span
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!(
                "│ {}{} {:.2} ms{}{}\n",
                "  ".repeat(depth),
                span.name,
                span.duration_ms(),
                if attrs.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", attrs.join(" "))
                },
                span.error
                    .as_ref()
                    .map(|e| format!(" · error: {e}"))
                    .unwrap_or_default()
            ));
            walk(spans, Some(span.context.span_id), depth + 1, out);
        }
    }
    let mut out = String::new();
    let ids: std::collections::HashSet<[u8; 8]> = spans.iter().map(|s| s.context.span_id).collect();
    // Roots: no parent, or a parent that is not in the set (a hop that was not recorded).
    let roots: Vec<FinishedSpan> = spans
        .iter()
        .filter(|s| s.parent.is_none_or(|p| !ids.contains(&p)))
        .cloned()
        .map(|mut s| {
            s.parent = None;
            s
        })
        .collect();
    let rest: Vec<FinishedSpan> = spans
        .iter()
        .filter(|s| s.parent.is_some_and(|p| ids.contains(&p)))
        .cloned()
        .collect();
    let all: Vec<FinishedSpan> = roots.into_iter().chain(rest).collect();
    walk(&all, None, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_round_trip_and_bad_ones_are_no_context() {
        let c = SpanContext::of_cloudtrail_event("evt-1");
        let text = c.traceparent();
        assert_eq!(text.len(), 55);
        assert_eq!(SpanContext::parse(&text), Some(c));
        for bad in [
            "",
            "01-00000000000000000000000000000001-0000000000000001-01",
            "00-00000000000000000000000000000000-0000000000000001-01",
            "00-0000000000000000000000000000000g-0000000000000001-01",
            "00-00000000000000000000000000000001-0000000000000001",
            "00-00000000000000000000000000000001-0000000000000001-01-x",
        ] {
            assert_eq!(SpanContext::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn one_cloudtrail_event_is_one_trace_whoever_computes_it() {
        let a = SpanContext::of_cloudtrail_event("evt-1");
        let b = SpanContext::of_cloudtrail_event("evt-1");
        assert_eq!(a, b);
        assert_ne!(
            a.trace_id,
            SpanContext::of_cloudtrail_event("evt-2").trace_id
        );
        assert_eq!(a.trace_id, trace_id_of_event("evt-1"));
    }

    #[test]
    fn arns_are_hashed_stably_and_not_readable() {
        let arn = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123";
        let h = hash_arn(arn);
        assert_eq!(h, hash_arn(arn));
        assert!(h.starts_with("sha256:") && h.len() == 23, "{h}");
        assert!(!h.contains("111122223333") && !h.contains("sg-0123"));
    }

    #[test]
    fn the_traceparent_of_a_body_is_the_first_one() {
        let c = SpanContext::of_cloudtrail_event("evt-1");
        let body = format!(
            r#"{{"traceparent":"{}","detail":{{"traceparent":"00-00000000000000000000000000000001-0000000000000001-01"}}}}"#,
            c.traceparent()
        );
        assert_eq!(traceparent_in(&body), Some(c));
        assert_eq!(traceparent_in(r#"{"detail":{}}"#), None);
        assert_eq!(traceparent_in(r#"{"traceparent":"short"}"#), None);
    }

    #[test]
    fn otlp_json_has_the_fields_collectors_read() {
        let c = SpanContext::of_cloudtrail_event("evt-1");
        let span = FinishedSpan {
            name: "normalizer.handle".into(),
            context: c,
            parent: Some([1; 8]),
            start_unix_nanos: 1_000,
            end_unix_nanos: 2_500_000,
            attributes: vec![("dd0c.tenant_id".into(), "t1".into())],
            error: Some("boom".into()),
        };
        let request = export_request("dd0c-normalizer", std::slice::from_ref(&span));
        let s = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], hex::encode(c.trace_id));
        assert_eq!(s["parentSpanId"], "0101010101010101");
        assert_eq!(s["startTimeUnixNano"], "1000");
        assert_eq!(s["status"]["code"], 2);
        assert_eq!(s["attributes"][0]["value"]["stringValue"], "t1");
        assert_eq!(
            request["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "dd0c-normalizer"
        );
        assert!((span.duration_ms() - 2.499).abs() < 1e-9);
    }

    #[test]
    fn a_tree_nests_children_under_parents() {
        let root = SpanContext::of_cloudtrail_event("evt-1");
        let child = SpanContext {
            span_id: [7; 8],
            ..root
        };
        let span =
            |name: &str, c: SpanContext, parent: Option<[u8; 8]>, start: u128| FinishedSpan {
                name: name.into(),
                context: c,
                parent,
                start_unix_nanos: start,
                end_unix_nanos: start + 1_000_000,
                attributes: vec![],
                error: None,
            };
        let tree = render_tree(&[
            span("ingest", root, None, 1),
            span("normalizer.handle", child, Some(root.span_id), 2),
        ]);
        assert_eq!(tree, "│ ingest 1.00 ms\n│   normalizer.handle 1.00 ms\n");
    }
}
