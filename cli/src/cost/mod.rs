//! `dd0c replay --cost FILE [--monthly-events N]`: what the events replayed would cost on AWS,
//! per million, as the CDK app deploys the pipeline (docs/decisions/1030-cost-per-event.md).

pub mod model;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dd0c_shared::bus::RoutingTable;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use model::{CostReport, FunctionsFile, LineItem, Measured, Model, PriceFile};

/// The volume `--monthly-events` defaults to.
pub const DEFAULT_MONTHLY_EVENTS: u64 = 50_000_000;
/// The goal, per million forwarded events.
pub const GOAL_USD_PER_MILLION: f64 = 1.00;

#[derive(Debug, Clone)]
pub struct CostOptions {
    pub report: PathBuf,
    pub monthly_events: u64,
}

/// The report for `measured` with the built-in prices and deployment settings.
pub fn report(measured: &Measured, monthly_events: u64) -> CostReport {
    let prices = PriceFile::builtin();
    let functions = FunctionsFile::builtin();
    Model {
        prices: &prices,
        functions: &functions,
        routing: RoutingTable::builtin(),
    }
    .report(measured, monthly_events)
}

/// Writes the report as one JSON object.
pub fn write_report(report: &CostReport, path: &PathBuf) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    serde_json::to_writer_pretty(&mut file, report)?;
    writeln!(file)
}

/// The table on stderr: one line per item, then the total against the goal.
pub fn print(report: &CostReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "dd0c cost at {} events a month (prices of {}; {} events metered)",
        report.monthly_events, report.prices_as_of, report.events
    )?;
    writeln!(
        out,
        "  {:<32} {:>12} {:>14}  {:>10}  unit",
        "item", "per event", "unit price $", "$ per 1M"
    )?;
    for i in &report.items {
        writeln!(
            out,
            "  {:<32} {:>12.6} {:>14.10}  {:>10.4}  {}",
            i.item, i.per_event, i.unit_price_usd, i.usd_per_million_events, i.unit
        )?;
    }
    writeln!(
        out,
        "  total: ${:.4} per million events (goal ≤ ${GOAL_USD_PER_MILLION:.2})",
        report.usd_per_million_events
    )?;
    writeln!(
        out,
        "  DynamoDB by entity (per event)  {:>12} {:>12} {:>12} {:>14}  {:>10}",
        "items", "write units", "read units", "GB-months", "$ per 1M"
    )?;
    for e in &report.dynamodb_by_entity {
        writeln!(
            out,
            "    {:<30} {:>12.4} {:>12.4} {:>12.4} {:>14.3e}  {:>10.4}",
            if e.entity.is_empty() {
                "(none)"
            } else {
                &e.entity
            },
            e.items_created_per_event,
            e.write_units_per_event,
            e.read_units_per_event,
            e.storage_gb_months_per_event,
            e.usd_per_million_events
        )?;
    }
    Ok(())
}

/// Counts the bytes the functions would log on Lambda: JSON lines at INFO, as
/// `telemetry::init_lambda` writes them.
#[derive(Clone, Default)]
pub struct LogBytes(Arc<AtomicU64>);

impl LogBytes {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Write for LogBytes {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBytes {
    type Writer = LogBytes;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A subscriber that counts the Lambda log bytes into `bytes` and still shows warnings on
/// stderr as the command line does.
pub fn counting_subscriber(bytes: LogBytes) -> impl tracing::Subscriber + Send + Sync {
    let lambda_lines = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(bytes)
        .with_filter(EnvFilter::new("info"));
    let terminal = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(EnvFilter::new("warn"));
    tracing_subscriber::registry()
        .with(lambda_lines)
        .with(terminal)
}
