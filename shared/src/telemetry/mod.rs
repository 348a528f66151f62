//! Logging and metrics. On Lambda, logs are JSON lines and metrics are CloudWatch Embedded
//! Metric Format lines on stdout (no API calls on the hot path); locally, logs are plain text
//! on stderr and metrics are dropped unless `DD0C_METRICS=1`.
//!
//! The metrics are a contract with the CDK dashboard: [`Metric`] (`metrics.rs`), exported
//! as `shared/metrics.json`.

mod metrics;
#[cfg(feature = "lambda")]
pub mod otlp;
pub mod trace;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;

pub use metrics::{metrics_json, Metric, Unit, METRICS_JSON};

pub const METRIC_NAMESPACE: &str = "dd0c";
/// The one dimension every metric carries: the stage (function) that emitted it.
pub const METRIC_DIMENSION: &str = "stage";

static EMIT_METRICS: AtomicBool = AtomicBool::new(false);
static STAGE: OnceLock<String> = OnceLock::new();
static COUNT_METRIC_BYTES: AtomicBool = AtomicBool::new(false);
static METRIC_BYTES: AtomicU64 = AtomicU64::new(0);

/// From now on, counts the bytes of the metric lines a Lambda function would print (the cost
/// meter: they are log bytes CloudWatch bills).
pub fn count_metric_bytes() {
    COUNT_METRIC_BYTES.store(true, Ordering::Relaxed);
}

/// Bytes of metric lines counted since [`count_metric_bytes`].
pub fn metric_bytes() -> u64 {
    METRIC_BYTES.load(Ordering::Relaxed)
}

/// Initialises JSON logging and EMF metrics for a Lambda function named `stage`.
pub fn init_lambda(stage: &str) {
    let _ = STAGE.set(stage.to_owned());
    #[cfg(feature = "lambda")]
    otlp::init_from_env(stage);
    EMIT_METRICS.store(true, Ordering::Relaxed);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// Initialises plain logs on stderr for the CLI.
pub fn init_cli(default_filter: &str) {
    if std::env::var_os("DD0C_METRICS").is_some() {
        EMIT_METRICS.store(true, Ordering::Relaxed);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The EMF line for one metric.
pub fn emf_line(metric: Metric, value: f64, timestamp_ms: i64) -> String {
    emf_document(&[(metric, value)], timestamp_ms)
}

/// One EMF line carrying several metrics of the same stage and time.
pub fn emf_document(values: &[(Metric, f64)], timestamp_ms: i64) -> String {
    let stage = STAGE.get().map(String::as_str).unwrap_or("local");
    let declared: Vec<serde_json::Value> = values
        .iter()
        .map(|(m, _)| serde_json::json!({"Name": m.name(), "Unit": m.unit().as_str()}))
        .collect();
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [[METRIC_DIMENSION]],
                "Metrics": declared
            }]
        },
        METRIC_DIMENSION: stage,
    });
    for (m, v) in values {
        doc[m.name()] = serde_json::json!(v);
    }
    doc.to_string()
}

/// Metric values added up until they are written as one line.
#[derive(Debug, Default)]
pub struct MetricBuffer(Vec<(Metric, f64)>);

impl MetricBuffer {
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    pub fn add(&mut self, metric: Metric, value: f64) {
        match self.0.iter_mut().find(|(m, _)| *m == metric) {
            Some((_, sum)) => *sum += value,
            None => self.0.push((metric, value)),
        }
    }

    /// The EMF line of what was added, in the order first added; `None` when nothing was.
    pub fn take_line(&mut self, timestamp_ms: i64) -> Option<String> {
        let values = std::mem::take(&mut self.0);
        (!values.is_empty()).then(|| emf_document(&values, timestamp_ms))
    }
}

/// What [`metric`] recorded since the last [`flush_metrics`].
static PENDING: Mutex<MetricBuffer> = Mutex::new(MetricBuffer::new());

/// Records `value` of a metric (`Metric::EventsIngested`, `Metric::Findings`, …) when metrics
/// are on. Values add up until [`flush_metrics`], which the end of every invocation (and of
/// every batch of the embedded pipeline) calls: one line per invocation, not one per event,
/// because CloudWatch Logs bills every byte.
pub fn metric(metric: Metric, value: f64) {
    if !EMIT_METRICS.load(Ordering::Relaxed) && !COUNT_METRIC_BYTES.load(Ordering::Relaxed) {
        return;
    }
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(metric, value);
}

/// Prints what [`metric`] recorded as one EMF line (and counts its bytes for the meter).
pub fn flush_metrics() {
    if let Some(bytes) = write_pending() {
        METRIC_BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// [`flush_metrics`] at the end of a batch from the queue `source`: the meter counts the line's
/// bytes by queue, because a deployed consumer writes it once per batch of that queue's size
/// where a replay's batches hold one message.
pub fn flush_metrics_of(source: &str) {
    if let Some(bytes) = write_pending() {
        let mut by_source = METRIC_BYTES_BY_SOURCE
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *by_source.entry(source.to_owned()).or_default() += bytes;
    }
}

/// Bytes of the metric lines [`flush_metrics_of`] counted, by queue.
pub fn metric_bytes_by_source() -> BTreeMap<String, u64> {
    METRIC_BYTES_BY_SOURCE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

static METRIC_BYTES_BY_SOURCE: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Writes the pending line; its bytes (with the newline) when the meter counts them.
fn write_pending() -> Option<u64> {
    let line = PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take_line(chrono::Utc::now().timestamp_millis())?;
    if EMIT_METRICS.load(Ordering::Relaxed) {
        println!("{line}");
    }
    COUNT_METRIC_BYTES
        .load(Ordering::Relaxed)
        .then_some(line.len() as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::Metric;

    #[test]
    fn emf_line_declares_the_metric_it_carries() {
        let line: serde_json::Value =
            serde_json::from_str(&super::emf_line(Metric::Findings, 2.0, 1_700_000_000_000))
                .unwrap();
        assert_eq!(line["Findings"], 2.0);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "dd0c");
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "Findings"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Count"
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["stage"]])
        );
        assert!(line["stage"].is_string());
    }

    #[test]
    fn an_invocations_metrics_are_one_line_with_their_sums() {
        let line: serde_json::Value = serde_json::from_str(&super::emf_document(
            &[(Metric::EventsIngested, 7.0), (Metric::CostEvents, 2.0)],
            1_700_000_000_000,
        ))
        .unwrap();
        assert_eq!(line["EventsIngested"], 7.0);
        assert_eq!(line["CostEvents"], 2.0);
        let declared: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(declared, ["EventsIngested", "CostEvents"]);
    }

    #[test]
    fn metrics_add_up_until_taken_as_one_line_then_start_again() {
        let mut buffer = super::MetricBuffer::new();
        assert_eq!(buffer.take_line(1), None);
        buffer.add(Metric::EventsIngested, 1.0);
        buffer.add(Metric::CostEvents, 1.0);
        buffer.add(Metric::EventsIngested, 1.0);
        let line = buffer.take_line(1_700_000_000_000).unwrap();
        assert_eq!(
            line,
            super::emf_document(
                &[(Metric::EventsIngested, 2.0), (Metric::CostEvents, 1.0)],
                1_700_000_000_000
            )
        );
        assert_eq!(
            buffer.take_line(1),
            None,
            "taken lines are not written twice"
        );
    }
}
