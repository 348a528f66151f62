//! `dd0c replay`: the whole pipeline over recorded CloudTrail, on event time.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use dd0c_ingest::IngestSend;
use dd0c_shared::chat::ChatSink;
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::domain::{CloudTrailRecord, Finding};
use dd0c_shared::forwarding::ForwardingRule;
use dd0c_shared::governance::Policy;
use dd0c_shared::meter::{Meter, MeteredChat, MeteredHandler, MeteredQueue, MeteredTable};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use tracing::instrument::WithSubscriber;

use crate::cost::{self, CostOptions, CostReport, LogBytes, Measured};
use crate::findings_ledger::{FindingsLedger, Ledger};
use crate::input::{InputError, InputRecord, InputStream};
use crate::pipeline::{Decorate, EmbeddedPipeline, PipelineOptions, PortDecorators, LOCAL_TENANT};
use crate::retention::ReplayRetention;
use crate::time_shift::TimeShift;

pub struct ReplayOptions {
    pub paths: Vec<PathBuf>,
    pub findings: Option<PathBuf>,
    /// Governance for the run: `--policy FILE`, else `policy.json` as production runs it.
    pub policy: Policy,
    pub quiet: bool,
    /// `--cost FILE [--monthly-events N]`: meter the run.
    pub cost: Option<CostOptions>,
    /// `dd0c demo`: declare the demo's stack before the events ([`crate::demo::declare_stacks`]).
    pub demo_stacks: bool,
    /// `--history PATH`: the accounts' CloudTrail from before they connected, folded into the
    /// baselines quietly (as the backfill does) before the events are replayed.
    pub history: Option<PathBuf>,
    /// `dd0c demo`: every record moved by whole weeks, so that the newest is recent.
    pub time_shift: TimeShift,
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
    /// Records replayed after a later one of the input had been (beyond the reorder window,
    /// docs/decisions/1010-streaming-replay.md): the clock did not go back for them.
    pub late: u64,
    /// With `--cost`: records the customer's rule would not have forwarded (read-only calls,
    /// failed calls, other services), replayed but not billed (decision 1080).
    pub not_forwarded: u64,
    pub seconds: f64,
    /// With `--cost`: what the events would cost on AWS.
    pub cost: Option<CostReport>,
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
        if self.late > 0 {
            writeln!(
                out,
                "  events late (earlier than one already replayed): {}",
                self.late
            )?;
        }
        if self.not_forwarded > 0 {
            writeln!(
                out,
                "  events the customer's rule does not forward (replayed, not billed): {}",
                self.not_forwarded
            )?;
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
        )?;
        match &self.cost {
            Some(report) => cost::print(report, out),
            None => Ok(()),
        }
    }
}

/// Runs one record through the pipeline, on its event time.
pub async fn run_record(pipeline: &EmbeddedPipeline, record: &InputRecord) {
    run_due(pipeline, Due::of(record)).await;
}

/// A record as the pipeline takes it: its time and its ingest queue message.
#[derive(Debug, PartialEq)]
pub struct Due {
    pub time: Option<DateTime<Utc>>,
    pub message: IngestSend,
    /// Whether the customer's rule would send it to dd0c (always, unless judged by one).
    pub forwarded: bool,
}

impl Due {
    pub fn of(record: &InputRecord) -> Self {
        Self {
            time: record.time,
            message: IngestSend::of_record(&record.raw),
            forwarded: true,
        }
    }

    /// The record, judged by `rule` when there is one.
    fn judged(record: &InputRecord, rule: Option<&ForwardingRule>) -> Self {
        Self {
            forwarded: rule.is_none_or(|r| r.forwards(&record.raw)),
            ..Self::of(record)
        }
    }
}

/// Runs one record, made due, through the pipeline, on its event time.
pub async fn run_due(pipeline: &EmbeddedPipeline, due: Due) {
    if let Some(t) = due.time {
        pipeline.clock.advance_to(t);
    }
    if let Err(e) = pipeline.ingest.forward(due.message).await {
        tracing::error!(error = %e, "could not enqueue a record");
        return;
    }
    pipeline.drain().await;
}

/// The outcome of every record run so far, by stable reason.
pub fn outcomes(pipeline: &EmbeddedPipeline) -> BTreeMap<String, u64> {
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

/// Whether a progress line is on the terminal: whatever prints there first erases it.
static PROGRESS_ON_SCREEN: AtomicBool = AtomicBool::new(false);

/// Erases the progress line, if one is on the terminal (before printing an alert).
pub fn erase_progress() {
    if PROGRESS_ON_SCREEN.swap(false, Ordering::Relaxed) {
        eprint!("\r\x1b[K");
    }
}

/// A progress line on stderr while a long replay runs (only to a terminal, never `--quiet`).
struct ProgressLine {
    enabled: bool,
    started: Instant,
    last: Instant,
}

impl ProgressLine {
    const FIRST_AFTER: Duration = Duration::from_secs(3);
    const EVERY: Duration = Duration::from_secs(1);

    fn new(quiet: bool) -> Self {
        let now = Instant::now();
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, events: usize) {
        // The clock is read once every 1,024 events.
        if !self.enabled || !events.is_multiple_of(1024) {
            return;
        }
        let now = Instant::now();
        let elapsed = now - self.started;
        if elapsed < Self::FIRST_AFTER || now - self.last < Self::EVERY {
            return;
        }
        self.last = now;
        PROGRESS_ON_SCREEN.store(true, Ordering::Relaxed);
        eprint!(
            "\r\x1b[Kdd0c replay: {events} events read, {:.0} events/s, {:.0}s",
            events as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
    }

    fn clear(&mut self) {
        erase_progress();
    }
}

/// The input read on a thread of its own, a bounded number of records ahead of the pipeline:
/// reading and probing the input and making its ingest messages is a sixth of a replay's work, and the machine has more than
/// one core. Records and the errors met reading them come in the order read, in chunks (a
/// hand-over between threads per record cost about what it saved).
struct ReadAhead {
    chunks: tokio::sync::mpsc::Receiver<Vec<Read>>,
    chunk: std::vec::IntoIter<Read>,
    thread: std::thread::JoinHandle<InputStream>,
}

/// A record (`None`: the end) and what could not be read before it.
type Read = (Option<Due>, Vec<InputError>);

impl ReadAhead {
    /// Records in a chunk, and chunks read ahead at most: 1,024 records (~1.6 kB each).
    const CHUNK: usize = 128;
    const CHUNKS_AHEAD: usize = 8;

    /// Reads `input` ahead, each record moved by `shift`; with a `rule`, each record is
    /// judged by it.
    fn spawn(
        mut input: InputStream,
        shift: TimeShift,
        rule: Option<&'static ForwardingRule>,
    ) -> Self {
        let (send, chunks) = tokio::sync::mpsc::channel(Self::CHUNKS_AHEAD);
        let thread = std::thread::spawn(move || {
            let mut chunk = Vec::with_capacity(Self::CHUNK);
            loop {
                let record = input.next().map(|r| shift.record(r));
                let end = record.is_none();
                // The ingest message is made here too: probing the record for its account
                // and eventID is as much work again as reading it.
                chunk.push((
                    record.as_ref().map(|r| Due::judged(r, rule)),
                    input.take_errors(),
                ));
                if end || chunk.len() == Self::CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(Self::CHUNK));
                    if send.blocking_send(full).is_err() || end {
                        break;
                    }
                }
            }
            input
        });
        Self {
            chunks,
            chunk: Vec::new().into_iter(),
            thread,
        }
    }

    /// The next record (`None` at the end) and what could not be read before it.
    async fn next(&mut self) -> Read {
        loop {
            if let Some(read) = self.chunk.next() {
                return read;
            }
            match self.chunks.recv().await {
                Some(chunk) => self.chunk = chunk.into_iter(),
                None => return (None, Vec::new()),
            }
        }
    }

    /// The input, once every record was read (its counts of files, bytes and late records).
    fn finish(self) -> InputStream {
        drop(self.chunks);
        self.thread.join().expect("the input thread does not panic")
    }
}

/// `dd0c replay`. Returns the summary; `None` when no input could be read at all.
pub async fn replay(
    options: &ReplayOptions,
    chat: Arc<dyn ChatSink>,
) -> anyhow::Result<Option<ReplaySummary>> {
    // A metered replay keeps every item: the meter bills what the deployed pipeline writes.
    let keep = if options.cost.is_some() {
        Keep::Everything
    } else {
        Keep::WhatStagesRead
    };
    Ok(run_metered_or_not(options, chat, keep)
        .await?
        .map(|(summary, _)| summary))
}

/// What the replay's table keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Every item, as on AWS: the table is served afterwards.
    Everything,
    /// Only what a stage reads back ([`ReplayRetention`]): the table is dropped afterwards.
    WhatStagesRead,
}

/// [`replay`], handing back the pipeline with its store (`dd0c demo` goes on to serve it).
/// The input is streamed in event-time order ([`InputStream`]): memory holds the pipeline's
/// state, not the input.
pub async fn replay_keeping_pipeline(
    options: &ReplayOptions,
    chat: Arc<dyn ChatSink>,
) -> anyhow::Result<Option<(ReplaySummary, EmbeddedPipeline)>> {
    run_metered_or_not(options, chat, Keep::Everything).await
}

/// A run, metered when `--cost` asks for it.
async fn run_metered_or_not(
    options: &ReplayOptions,
    chat: Arc<dyn ChatSink>,
    keep: Keep,
) -> anyhow::Result<Option<(ReplaySummary, EmbeddedPipeline)>> {
    let Some(cost_options) = &options.cost else {
        return Ok(run(options, chat, keep, None)
            .await?
            .map(|(summary, pipeline, _)| (summary, pipeline)));
    };
    let meter = Meter::new();
    let log_bytes = LogBytes::default();
    dd0c_shared::telemetry::count_metric_bytes();
    let metric_bytes_before = dd0c_shared::telemetry::metric_bytes();
    let by_queue_before = dd0c_shared::telemetry::metric_bytes_by_source();
    let chat: Arc<dyn ChatSink> = Arc::new(MeteredChat::new(chat, meter.clone()));
    let metering = Metering {
        meter: meter.clone(),
        log_bytes: log_bytes.clone(),
    };
    let result = run(options, chat, keep, Some(&metering))
        .with_subscriber(cost::counting_subscriber(log_bytes.clone()))
        .await?;
    let Some((mut summary, pipeline, unbilled)) = result else {
        return Ok(None);
    };
    let measured = Measured {
        events: summary.events_read as u64 - summary.not_forwarded,
        usage: meter.usage(),
        log_bytes: log_bytes.get() + dd0c_shared::telemetry::metric_bytes()
            - metric_bytes_before
            - unbilled.log_bytes,
        metric_bytes_by_queue: dd0c_shared::telemetry::metric_bytes_by_source()
            .into_iter()
            .map(|(queue, bytes)| {
                let before = by_queue_before.get(&queue).copied().unwrap_or(0);
                let unbilled = unbilled.metric_bytes_by_queue.get(&queue).copied();
                (queue, bytes - before - unbilled.unwrap_or(0))
            })
            .collect(),
    };
    let report = cost::report(&measured, cost_options.monthly_events);
    cost::write_report(&report, &cost_options.report)?;
    summary.cost = Some(report);
    Ok(Some((summary, pipeline)))
}

/// `over` (or nothing) over a table that notes every finding written to it in `ledger`: under
/// the meter, so that what it reads back is not billed.
fn noting_findings(over: Option<Decorate<dyn Table>>, ledger: Ledger) -> Decorate<dyn Table> {
    Box::new(move |table| {
        let noting: Arc<dyn Table> = Arc::new(FindingsLedger::new(table, ledger.clone()));
        match &over {
            Some(decorate) => decorate(noting),
            None => noting,
        }
    })
}

/// What a metered run counts with.
struct Metering {
    meter: Meter,
    log_bytes: LogBytes,
}

/// The log and metric bytes of the records the customer's rule does not forward, which the
/// paused meter cannot see: they are taken out of the bill.
#[derive(Default)]
struct Unbilled {
    log_bytes: u64,
    metric_bytes_by_queue: BTreeMap<String, u64>,
}

impl Metering {
    /// Runs a record the customer's rule would not forward: the pipeline still learns from it
    /// (a read teaches what AWS describes), but nothing it does is billed.
    async fn run_unbilled(&self, pipeline: &EmbeddedPipeline, due: Due, unbilled: &mut Unbilled) {
        use dd0c_shared::telemetry::{metric_bytes, metric_bytes_by_source};
        let logs_before = self.log_bytes.get() + metric_bytes();
        let by_queue_before = metric_bytes_by_source();
        {
            let _paused = self.meter.pause();
            run_due(pipeline, due).await;
        }
        for (queue, after) in metric_bytes_by_source() {
            let added = after - by_queue_before.get(&queue).copied().unwrap_or(0);
            *unbilled.metric_bytes_by_queue.entry(queue).or_default() += added;
        }
        unbilled.log_bytes += self.log_bytes.get() + metric_bytes() - logs_before;
    }
}

/// The decorators that meter every port of the pipeline.
fn metered_ports(meter: &Meter, clock: &ManualClock) -> PortDecorators {
    let (table_meter, queue_meter, handler_meter) = (meter.clone(), meter.clone(), meter.clone());
    let clock: SharedClock = Arc::new(clock.clone());
    PortDecorators {
        table: Some(Box::new(move |table| {
            Arc::new(MeteredTable::new(table, table_meter.clone(), clock.clone()))
        })),
        queue: Some(Box::new(move |queue| {
            Arc::new(MeteredQueue::new(queue, queue_meter.clone()))
        })),
        bus: None,
        handler: Some(Box::new(move |name, handler| {
            Arc::new(MeteredHandler::new(name, handler, handler_meter.clone()))
        })),
    }
}

async fn run(
    options: &ReplayOptions,
    chat: Arc<dyn ChatSink>,
    keep: Keep,
    metering: Option<&Metering>,
) -> anyhow::Result<Option<(ReplaySummary, EmbeddedPipeline, Unbilled)>> {
    let meter = metering.map(|m| m.meter.clone());
    let started = Instant::now();
    let input = InputStream::open(&options.paths);
    let files = input.files;
    let rule = metering.map(|_| ForwardingRule::customer());
    let mut reader = ReadAhead::spawn(input, options.time_shift, rule);
    let mut input_errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut progress = ProgressLine::new(options.quiet);
    let mut report = |errors: Vec<InputError>, progress: &mut ProgressLine| {
        if !errors.is_empty() {
            progress.clear();
        }
        for e in errors {
            eprintln!("dd0c: skipped {e}");
            *input_errors.entry(e.reason.to_owned()).or_default() += 1;
        }
    };
    let (first, errors) = reader.next().await;
    report(errors, &mut progress);
    if files == 0 {
        return Ok(None);
    }
    let start = first
        .as_ref()
        .and_then(|r| r.time)
        .unwrap_or_else(|| Utc.timestamp_opt(0, 0).single().expect("epoch"));
    let pipeline_options = PipelineOptions {
        start,
        chat,
        default_channel: "#dd0c-alerts".into(),
        policy: options.policy.clone(),
    };
    let clock = ManualClock::new(start);
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let mut ports = match (&meter, keep) {
        (None, Keep::Everything) => PortDecorators::default(),
        (Some(meter), _) => metered_ports(meter, &clock),
        (None, Keep::WhatStagesRead) => {
            let retention: Decorate<dyn Table> =
                Box::new(|table| Arc::new(ReplayRetention::new(table)));
            PortDecorators {
                table: Some(retention),
                ..PortDecorators::default()
            }
        }
    };
    let ledger = Ledger::default();
    ports.table = Some(noting_findings(ports.table.take(), ledger.clone()));
    let pipeline = EmbeddedPipeline::with_ports(pipeline_options, clock, table, ports);
    if options.demo_stacks {
        crate::demo::declare_stacks(pipeline.table.as_ref(), LOCAL_TENANT, start).await?;
    }
    if let Some(history) = &options.history {
        let folded = fold_history(&pipeline, history, options.time_shift).await?;
        if !options.quiet {
            eprintln!("dd0c: {folded} events of history folded quietly");
        }
    }
    let mut events_read = 0;
    let mut not_forwarded = 0;
    let mut unbilled = Unbilled::default();
    let mut next = first;
    while let Some(record) = next {
        events_read += 1;
        match metering {
            Some(metering) if !record.forwarded => {
                not_forwarded += 1;
                metering
                    .run_unbilled(&pipeline, record, &mut unbilled)
                    .await;
            }
            _ => run_due(&pipeline, record).await,
        }
        progress.tick(events_read);
        let (record, errors) = reader.next().await;
        next = record;
        report(errors, &mut progress);
    }
    let input = reader.finish();
    progress.clear();
    let outcomes = outcomes(&pipeline);
    for dead in pipeline.dead_letters() {
        eprintln!("dd0c: dead-lettered from {}: {}", dead.queue, dead.reason);
    }
    let findings = ledger
        .findings(pipeline.table.as_ref(), LOCAL_TENANT)
        .await?;
    if let Some(path) = &options.findings {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for f in &findings {
            writeln!(file, "{}", f.contract_json())?;
        }
        file.flush()?;
    }
    let summary = ReplaySummary {
        files: input.files,
        bytes: input.bytes(),
        events_read,
        outcomes,
        input_errors,
        findings,
        late: input.late,
        not_forwarded,
        seconds: started.elapsed().as_secs_f64(),
        cost: None,
    };
    Ok(Some((summary, pipeline, unbilled)))
}

/// Folds the CloudTrail under `path` into the baselines as the backfill does
/// (`Normalizer::process_history_record`, the scorer's quiet fold: nothing scored, nothing
/// notified, no drift), oldest first, and records how far back each account's history goes.
/// The accounts connect now, at the first live event. Returns the events folded.
async fn fold_history(
    pipeline: &EmbeddedPipeline,
    path: &Path,
    shift: TimeShift,
) -> anyhow::Result<usize> {
    let input = crate::input::read_inputs(&[path.to_path_buf()]);
    for e in &input.errors {
        eprintln!("dd0c: skipped history {e}");
    }
    let mut records: Vec<_> = input.records.into_iter().map(|r| shift.record(r)).collect();
    records.sort_by_key(|r| r.time);
    let table: Arc<dyn Table> = pipeline.table.clone();
    let clock: SharedClock = Arc::new(pipeline.clock.clone());
    let scorer = dd0c_scorer::Scorer::new(table, pipeline.bus.clone(), clock);
    let sink = dd0c_normalizer::backfill::QuietScorer(&scorer);
    let mut oldest: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut folded = 0;
    for r in &records {
        let account = CloudTrailRecord::from_json(&r.raw)
            .ok()
            .and_then(|c| c.account_id().map(str::to_owned));
        match pipeline
            .normalizer
            .process_history_record(&r.raw, &sink)
            .await
        {
            Ok(_) => folded += 1,
            Err(e) => eprintln!("dd0c: history record not folded: {e}"),
        }
        if let (Some(account), Some(time)) = (account, r.time) {
            let first = oldest.entry(account).or_insert(time);
            *first = (*first).min(time);
        }
    }
    for (account, since) in oldest {
        scorer
            .note_history_since(LOCAL_TENANT, &account, since)
            .await
            .map_err(|e| anyhow::anyhow!("history of {account}: {e}"))?;
    }
    Ok(folded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostOptions;
    use crate::terminal_chat::TerminalChat;

    fn demo_options() -> ReplayOptions {
        ReplayOptions {
            paths: vec![crate::demo::data_dir()],
            findings: None,
            policy: Policy::demo().unwrap(),
            quiet: true,
            cost: None,
            demo_stacks: true,
            history: None,
            time_shift: TimeShift::NONE,
        }
    }

    async fn run_keeping(keep: Keep) -> (ReplaySummary, EmbeddedPipeline) {
        run(
            &demo_options(),
            Arc::new(TerminalChat::new(false)),
            keep,
            None,
        )
        .await
        .map(|run| run.map(|(summary, pipeline, _)| (summary, pipeline)))
        .unwrap()
        .unwrap()
    }

    /// Each record's raw text and time, and the errors met before it, as read.
    type Trace = Vec<(Option<Due>, Vec<String>)>;

    fn trace((due, errors): Read) -> (Option<Due>, Vec<String>) {
        (due, errors.iter().map(ToString::to_string).collect())
    }

    #[tokio::test]
    async fn reading_ahead_hands_out_what_the_input_reads_in_its_order() {
        let paths = [
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures"),
            crate::demo::data_dir(),
        ];
        let mut input = InputStream::open(&paths);
        let mut direct: Trace = Vec::new();
        loop {
            let record = input.next();
            let end = record.is_none();
            direct.push(trace((record.as_ref().map(Due::of), input.take_errors())));
            if end {
                break;
            }
        }
        let mut ahead = ReadAhead::spawn(InputStream::open(&paths), TimeShift::NONE, None);
        let mut read: Trace = Vec::new();
        loop {
            let next = trace(ahead.next().await);
            let end = next.0.is_none();
            read.push(next);
            if end {
                break;
            }
        }
        let finished = ahead.finish();
        assert!(direct.len() > 2 * ReadAhead::CHUNK);
        assert!(direct.iter().any(|(_, errors)| !errors.is_empty()));
        assert_eq!(read, direct);
        assert_eq!(
            (finished.files, finished.bytes(), finished.late),
            (input.files, input.bytes(), input.late)
        );
    }

    /// A metered replay of `records` (JSON lines) in a file of their own.
    async fn metered(name: &str, records: &[serde_json::Value]) -> ReplaySummary {
        let dir = std::env::temp_dir().join(format!("dd0c-unbilled-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("events.jsonl");
        let lines: Vec<String> = records.iter().map(ToString::to_string).collect();
        std::fs::write(&input, lines.join("\n")).unwrap();
        let options = ReplayOptions {
            paths: vec![input],
            cost: Some(CostOptions {
                report: dir.join("cost.json"),
                monthly_events: 50_000_000,
            }),
            demo_stacks: false,
            ..demo_options()
        };
        let summary = replay(&options, Arc::new(TerminalChat::new(false)))
            .await
            .unwrap()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        summary
    }

    #[tokio::test]
    async fn what_the_customers_rule_does_not_forward_is_replayed_but_not_billed() {
        let fixture = |name: &str| -> serde_json::Value {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../tests/fixtures/cloudtrail/{name}.json"));
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let writes: Vec<serde_json::Value> = [
            "rds-create-db-instance-multi-az",
            "ec2-run-instances-spot",
            "ec2-create-volume-gp3",
            "lambda-create-function-arm64",
        ]
        .iter()
        .map(|n| fixture(n))
        .collect();
        // Another account's noise, so that nothing it leaves (its link, a cached read) is
        // what the forwarded records would have paid for.
        let noise = |i: usize, at: &serde_json::Value| -> Vec<serde_json::Value> {
            let mut read = writes[i].clone();
            read["eventID"] = format!("read-{i}").into();
            read["eventName"] = "DescribeInstances".into();
            read["readOnly"] = true.into();
            read["recipientAccountId"] = "444455556666".into();
            read["eventTime"] = at.clone();
            let mut failed = read.clone();
            failed["eventID"] = format!("failed-{i}").into();
            failed["readOnly"] = false.into();
            failed["errorCode"] = "Client.UnauthorizedOperation".into();
            let mut other_service = failed.clone();
            other_service["eventID"] = format!("ssm-{i}").into();
            other_service["eventSource"] = "ssm.amazonaws.com".into();
            other_service["eventName"] = "PutParameter".into();
            other_service.as_object_mut().unwrap().remove("errorCode");
            vec![read, failed, other_service]
        };
        let mut mixed = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            mixed.extend(noise(i, &w["eventTime"]));
            mixed.push(w.clone());
        }
        let alone = metered("alone", &writes).await;
        let among = metered("among", &mixed).await;
        let (alone_cost, among_cost) = (alone.cost.unwrap(), among.cost.unwrap());
        assert_eq!(alone.not_forwarded, 0);
        assert_eq!(among.not_forwarded, 12);
        assert_eq!(among.events_read, 16);
        assert_eq!((alone_cost.events, among_cost.events), (4, 4));
        assert!(alone_cost.usd_per_million_events > 0.0);
        // Log bytes aside: metric lines are counted process-wide, and other tests replay at
        // the same time.
        let billed = |c: &CostReport| -> Vec<_> {
            c.items
                .iter()
                .filter(|i| i.item != "cloudwatch_logs")
                .cloned()
                .collect()
        };
        assert_eq!(billed(&among_cost), billed(&alone_cost));
        assert_eq!(among_cost.dynamodb_by_entity, alone_cost.dynamodb_by_entity);
        // Replayed all the same: the failed calls were seen by the normalizer.
        assert_eq!(among.outcomes.get("failed_call"), Some(&4));
    }

    /// The findings (ids and contract lines) of an unmetered replay of `paths`.
    async fn findings_of(paths: Vec<PathBuf>) -> Vec<String> {
        let options = ReplayOptions {
            paths,
            demo_stacks: false,
            ..demo_options()
        };
        replay(&options, Arc::new(TerminalChat::new(false)))
            .await
            .unwrap()
            .unwrap()
            .findings
            .iter()
            .map(|f| f.contract_json().to_string())
            .collect()
    }

    #[tokio::test]
    async fn findings_closed_long_before_the_replay_ends_are_still_reported() {
        let real = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/public/cloudtrail/invictus-ir-aws-dataset");
        let alone = findings_of(vec![real.clone()]).await;
        // A call 200 days after the dataset (2023-07-10): the drift findings its attacker's
        // clean-up resolved have long expired from the table by then.
        let dir = std::env::temp_dir().join(format!("dd0c-later-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/cloudtrail/ec2-create-volume-gp3.json");
        let mut later: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        later["eventTime"] = "2024-01-26T12:00:00Z".into();
        later["eventID"] = "later-1".into();
        later["recipientAccountId"] = "218007301253".into();
        std::fs::write(dir.join("later.jsonl"), later.to_string()).unwrap();
        let with_later = findings_of(vec![real, dir.clone()]).await;
        let _ = std::fs::remove_dir_all(&dir);
        // 18, and the attack's shares of a snapshot, an image and a database snapshot and its
        // deletion of a flow log (decision 1140).
        assert_eq!(alone.len(), 22);
        for f in &alone {
            assert!(with_later.contains(f), "lost: {f}");
        }
    }

    #[tokio::test]
    async fn the_demo_moved_by_whole_weeks_finds_the_same_weeks_later() {
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let shift = TimeShift::to_recent(start, start + chrono::Duration::days(7 * 13 + 3));
        assert_eq!(shift.weeks(), 13);
        let moved_options = ReplayOptions {
            time_shift: shift,
            ..demo_options()
        };
        let chat = || Arc::new(TerminalChat::new(false));
        let unmoved = replay(&demo_options(), chat()).await.unwrap().unwrap();
        let moved = replay(&moved_options, chat()).await.unwrap().unwrap();
        let what = |s: &ReplaySummary, back: chrono::Duration| -> Vec<String> {
            let mut found: Vec<String> = s
                .findings
                .iter()
                .map(|f| {
                    format!(
                        "{} {} {} {:.6} {} {} {:?}",
                        f.id,
                        f.event_time - back,
                        f.severity.as_str(),
                        f.score,
                        f.notified,
                        f.status.as_str(),
                        f.reasons
                    )
                })
                .collect();
            found.sort();
            found
        };
        assert_eq!(unmoved.findings.len(), 5);
        assert_eq!(
            what(&moved, shift.duration()),
            what(&unmoved, chrono::Duration::zero())
        );
        assert_eq!(moved.outcomes, unmoved.outcomes);
        let newest = |s: &ReplaySummary| s.findings.iter().map(|f| f.event_time).max();
        assert_eq!(
            newest(&moved),
            newest(&unmoved).map(|t| t + chrono::Duration::weeks(13))
        );
    }

    #[tokio::test]
    async fn a_replay_keeps_less_and_finds_the_same() {
        let (all, all_pipeline) = run_keeping(Keep::Everything).await;
        let (read, read_pipeline) = run_keeping(Keep::WhatStagesRead).await;
        let json = |s: &ReplaySummary| -> Vec<String> {
            s.findings
                .iter()
                .map(|f| f.contract_json().to_string())
                .collect()
        };
        assert!(!all.findings.is_empty());
        assert_eq!(json(&all), json(&read));
        assert_eq!(all.outcomes, read.outcomes);
        assert!(
            read_pipeline.table.len() < all_pipeline.table.len(),
            "{} items kept, {} in all",
            read_pipeline.table.len(),
            all_pipeline.table.len()
        );
    }
}
