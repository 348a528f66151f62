//! Export of a Lambda function's spans over OTLP/HTTP (JSON) to the collector of the ADOT
//! Lambda layer (`OTEL_EXPORTER_OTLP_ENDPOINT`, `http://localhost:4318` beside the function),
//! once per invocation (decision 0710). Without the variable nothing is recorded.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::trace::{self, export_request, MemorySink};

/// The share of events traced when `DD0C_TRACE_SAMPLE_PERCENT` is not set.
pub const DEFAULT_SAMPLE_PERCENT: f64 = 1.0;

struct Exporter {
    url: String,
    service: String,
    pending: Arc<MemorySink>,
    client: reqwest::Client,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// The collector's traces URL for an endpoint (`<endpoint>/v1/traces`, as OTLP/HTTP names it).
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

/// The sampled share from the environment (`DD0C_TRACE_SAMPLE_PERCENT`, 0–100).
pub fn sample_percent(raw: Option<&str>) -> f64 {
    raw.and_then(|r| r.trim().parse::<f64>().ok())
        .filter(|p| p.is_finite())
        .map_or(DEFAULT_SAMPLE_PERCENT, |p| p.clamp(0.0, 100.0))
}

/// Starts recording spans of the function `service` when an OTLP endpoint is configured.
pub fn init_from_env(service: &str) {
    let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") else {
        return;
    };
    if endpoint.trim().is_empty() {
        return;
    }
    let percent = sample_percent(std::env::var("DD0C_TRACE_SAMPLE_PERCENT").ok().as_deref());
    let pending = Arc::new(MemorySink::default());
    trace::install(pending.clone(), percent);
    let _ = EXPORTER.set(Exporter {
        url: traces_url(&endpoint),
        service: format!("dd0c-{service}"),
        pending,
        // The collector is local: a slow one must not hold the invocation.
        client: crate::http::client(Duration::from_secs(2)),
    });
}

/// Sends the invocation's spans to the collector. Best effort: a failure is logged, and the
/// invocation's outcome never depends on it.
pub async fn export() {
    let Some(exporter) = EXPORTER.get() else {
        return;
    };
    let spans = exporter.pending.take();
    if spans.is_empty() {
        return;
    }
    let body = export_request(&exporter.service, &spans);
    match exporter.client.post(&exporter.url).json(&body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            tracing::warn!(status = %r.status(), spans = spans.len(), "the trace collector refused the spans")
        }
        Err(e) => tracing::warn!(error = %e, spans = spans.len(), "could not export spans"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_url_and_share_come_from_the_environment_values() {
        assert_eq!(
            traces_url("http://localhost:4318"),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://localhost:4318/"),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(sample_percent(None), DEFAULT_SAMPLE_PERCENT);
        assert_eq!(sample_percent(Some("5")), 5.0);
        assert_eq!(sample_percent(Some("250")), 100.0);
        assert_eq!(sample_percent(Some("-1")), 0.0);
        assert_eq!(sample_percent(Some("lots")), DEFAULT_SAMPLE_PERCENT);
    }
}
