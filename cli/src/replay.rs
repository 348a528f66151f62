//! `dd0c replay`: the whole pipeline over recorded CloudTrail, on event time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use dd0c_shared::chat::ChatSink;
use dd0c_shared::domain::Finding;
use dd0c_shared::entity::finding;
use dd0c_shared::governance::Policy;

use crate::input::{read_inputs, Input};
use crate::pipeline::{EmbeddedPipeline, PipelineOptions, LOCAL_TENANT};

pub struct ReplayOptions {
    pub paths: Vec<PathBuf>,
    pub findings: Option<PathBuf>,
    /// Governance for the run: `--policy FILE`, else `policy.json` as production runs it.
    pub policy: Policy,
    pub quiet: bool,
}

/// What a replay did, for the summary and for tests.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    pub files: usize,
    pub bytes: u64,
    pub events_read: usize,
    /// Outcome of every record read, by stable reason.
    pub outcomes: BTreeMap<String, u64>,
    /// Input that could not be read at all, by reason.
    pub input_errors: BTreeMap<String, u64>,
    pub findings: Vec<Finding>,
    pub seconds: f64,
}

impl ReplaySummary {
    pub fn events_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.events_read as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn findings_by_kind_and_severity(&self) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for f in &self.findings {
            *out.entry((f.kind.as_str().to_owned(), f.severity.as_str().to_owned()))
                .or_default() += 1;
        }
        out
    }

    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "dd0c replay summary")?;
        writeln!(
            out,
            "  input: {} files, {} bytes, {} events read",
            self.files, self.bytes, self.events_read
        )?;
        for (reason, n) in &self.input_errors {
            writeln!(out, "  unreadable input ({reason}): {n}")?;
        }
        for (outcome, n) in &self.outcomes {
            writeln!(out, "  events {outcome}: {n}")?;
        }
        let by = self.findings_by_kind_and_severity();
        writeln!(out, "  findings: {}", self.findings.len())?;
        for ((kind, severity), n) in by {
            writeln!(out, "    {kind} {severity}: {n}")?;
        }
        let notified = self.findings.iter().filter(|f| f.notified).count();
        writeln!(
            out,
            "  notifications sent: {notified}, held: {}",
            self.findings.len() - notified
        )?;
        writeln!(
            out,
            "  {:.0} events/s ({:.2}s)",
            self.events_per_second(),
            self.seconds
        )
    }
}

/// Runs records through the pipeline one event at a time, in event-time order.
pub async fn run_records(pipeline: &EmbeddedPipeline, input: &Input) -> BTreeMap<String, u64> {
    for record in &input.records {
        if let Some(t) = record.time {
            pipeline.clock.advance_to(t);
        }
        if let Err(e) = pipeline.ingest.forward_raw(&record.raw).await {
            tracing::error!(error = %e, "could not enqueue a record");
            continue;
        }
        pipeline.drain().await;
    }
    let mut outcomes = pipeline.normalizer.stats.snapshot();
    for dead in pipeline.dead_letters() {
        let reason = if dead.reason.starts_with("malformed") {
            "skipped_malformed"
        } else {
            "skipped_error"
        };
        *outcomes.entry(reason.to_owned()).or_default() += 1;
    }
    outcomes
}

/// `dd0c replay`. Returns the summary; `None` when no input could be read at all.
pub async fn replay(
    options: &ReplayOptions,
    chat: Arc<dyn ChatSink>,
) -> anyhow::Result<Option<ReplaySummary>> {
    Ok(replay_keeping_pipeline(options, chat)
        .await?
        .map(|(summary, _)| summary))
}

/// [`replay`], handing back the pipeline with its store (`dd0c demo` goes on to serve it).
pub async fn replay_keeping_pipeline(
    options: &ReplayOptions,
    chat: Arc<dyn ChatSink>,
) -> anyhow::Result<Option<(ReplaySummary, EmbeddedPipeline)>> {
    let started = Instant::now();
    let input = read_inputs(&options.paths);
    for e in &input.errors {
        eprintln!("dd0c: skipped {e}");
    }
    if input.records.is_empty() && input.files == 0 {
        return Ok(None);
    }
    let start = input
        .records
        .iter()
        .find_map(|r| r.time)
        .unwrap_or_else(|| Utc.timestamp_opt(0, 0).single().expect("epoch"));
    let pipeline = EmbeddedPipeline::new(PipelineOptions {
        start,
        chat,
        default_channel: "#dd0c-alerts".into(),
        policy: options.policy.clone(),
    });
    let outcomes = run_records(&pipeline, &input).await;
    for dead in pipeline.dead_letters() {
        eprintln!("dd0c: dead-lettered from {}: {}", dead.queue, dead.reason);
    }
    let findings = finding::all(pipeline.table.as_ref(), LOCAL_TENANT).await?;
    if let Some(path) = &options.findings {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for f in &findings {
            writeln!(file, "{}", f.contract_json())?;
        }
        file.flush()?;
    }
    let mut input_errors = BTreeMap::new();
    for e in &input.errors {
        *input_errors.entry(e.reason.to_owned()).or_default() += 1;
    }
    let summary = ReplaySummary {
        files: input.files,
        bytes: input.bytes,
        events_read: input.records.len(),
        outcomes,
        input_errors,
        findings,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Some((summary, pipeline)))
}
