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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

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
    let stage = STAGE.get().map(String::as_str).unwrap_or("local");
    let name = metric.name();
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [[METRIC_DIMENSION]],
                "Metrics": [{"Name": name, "Unit": metric.unit().as_str()}]
            }]
        },
        METRIC_DIMENSION: stage,
        name: value
    })
    .to_string()
}

/// Records `value` of a metric (`Metric::EventsIngested`, `Metric::Findings`, …) when metrics
/// are on.
pub fn metric(metric: Metric, value: f64) {
    let emit = EMIT_METRICS.load(Ordering::Relaxed);
    let count = COUNT_METRIC_BYTES.load(Ordering::Relaxed);
    if emit || count {
        let line = emf_line(metric, value, chrono::Utc::now().timestamp_millis());
        if count {
            METRIC_BYTES.fetch_add(line.len() as u64 + 1, Ordering::Relaxed);
        }
        if emit {
            println!("{line}");
        }
    }
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
}
