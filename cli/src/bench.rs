//! `dd0c bench` (`make bench`): accuracy of the scorer on simulated, labeled CloudTrail, and
//! throughput of the pipeline against serde_json parsing the same bytes.
//!
//! Accuracy: for each seed, `simulate` → replay through the embedded pipeline → recall of the
//! injected anomalies at (at least) their expected severity, and false alerts (warning or
//! above, not labeled) per account-week after the 14-day learning period.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Duration as ChronoDuration;
use dd0c_normalizer::catalogue::{self, Normalized};
use dd0c_scorer::baseline::Baseline;
use dd0c_scorer::config::LEARNING_DAYS;
use dd0c_scorer::signals;
use dd0c_shared::domain::{CloudTrailRecord, FindingKind, Severity};

use crate::replay::{replay, ReplayOptions};
use crate::simulate::{self, SimulateOptions};
use crate::terminal_chat::TerminalChat;

pub const RECALL_TARGET: f64 = 0.95;
/// Share of the anomalies labeled critical that must be flagged critical.
pub const CRITICAL_RECALL_TARGET: f64 = 0.95;
pub const FALSE_ALERTS_TARGET: f64 = 0.5;
/// At most this share of drift findings may be on routine operations (no labeled drift).
pub const FALSE_DRIFT_SHARE_TARGET: f64 = 0.02;
/// normalize+score may take at most this many times serde_json's parse of the same bytes.
pub const THROUGHPUT_RATIO_TARGET: f64 = 2.0;
/// `dd0c replay` must read events at least this fraction of serde_json's parse rate of the
/// same bytes (at the largest scale).
pub const REPLAY_RATIO_TARGET: f64 = 0.5;
/// `dd0c replay`'s peak resident memory at every scale.
pub const REPLAY_PEAK_MIB_TARGET: f64 = 200.0;
/// Accounts of the scale runs; their days follow from the events asked for.
pub const SCALE_ACCOUNTS: u32 = 50;
/// Events `dd0c simulate` writes per account and day with its default noise (measured).
const SIMULATED_EVENTS_PER_ACCOUNT_DAY: f64 = 63.3;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub seeds: Vec<u64>,
    pub days: u32,
    pub accounts: u32,
    /// The large input for throughput.
    pub throughput_days: u32,
    pub throughput_accounts: u32,
    /// Events of each scale run of `dd0c replay` (empty: none).
    pub scale_events: Vec<u64>,
    pub work_dir: PathBuf,
    /// Days of history every other account of the accuracy runs has from before it connected.
    pub history_days: u32,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            seeds: vec![1, 2, 3, 4, 5],
            days: 42,
            accounts: 3,
            throughput_days: 30,
            throughput_accounts: 20,
            scale_events: vec![100_000, 1_000_000],
            work_dir: std::env::temp_dir().join(format!("dd0c-bench-{}", std::process::id())),
            history_days: 21,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct SeedResult {
    pub seed: u64,
    pub events: usize,
    /// Labeled cost anomalies, and those found at (at least) their expected severity.
    pub labels: usize,
    pub detected: usize,
    /// Labeled critical anomalies, and those flagged critical.
    pub criticals: usize,
    pub criticals_flagged: usize,
    /// Labeled kind → (detected at expected severity, total).
    pub by_kind: BTreeMap<String, (usize, usize)>,
    pub false_alerts: usize,
    /// Routine activity → false alerts it raised.
    pub false_alerts_by_source: BTreeMap<String, usize>,
    pub account_weeks: f64,
    pub missed: Vec<String>,
    pub false_alert_examples: Vec<String>,
    /// Drift: labeled out-of-band changes, those found at their expected severity, every
    /// drift finding, and the findings no label accounts for (by routine activity).
    pub drift_labels: usize,
    pub drift_detected: usize,
    pub drift_findings: usize,
    pub false_drift: BTreeMap<String, usize>,
    pub false_drift_examples: Vec<String>,
    /// Accounts with two weeks of history or more from before they connected (folded quietly
    /// first): their false alerts count from the connection, not after a learning period.
    pub accounts_with_history: usize,
}

impl SeedResult {
    pub fn false_drift_count(&self) -> usize {
        self.false_drift.values().sum()
    }
}

#[derive(Debug, Default)]
pub struct Throughput {
    pub events: usize,
    pub bytes: u64,
    pub parse_seconds: f64,
    pub normalize_score_seconds: f64,
    pub pipeline_seconds: f64,
    pub peak_rss_kib: Option<u64>,
    pub pricing_lookup_ns: f64,
}

/// One run of `dd0c replay` (a child process) on simulated input, next to serde_json's
/// parse of the same bytes.
#[derive(Debug, Default, Clone)]
pub struct ScaleRun {
    pub events: usize,
    pub days: u32,
    pub bytes: u64,
    pub replay_seconds: f64,
    /// serde_json parsing every line of the same files into a `Value`.
    pub parse_seconds: f64,
    pub peak_rss_kib: Option<u64>,
}

impl ScaleRun {
    pub fn replay_per_second(&self) -> f64 {
        rate(self.events, self.replay_seconds)
    }

    pub fn parse_per_second(&self) -> f64 {
        rate(self.events, self.parse_seconds)
    }

    /// The replay's throughput as a fraction of serde_json's.
    pub fn ratio(&self) -> f64 {
        if self.replay_seconds > 0.0 {
            self.parse_seconds / self.replay_seconds
        } else {
            0.0
        }
    }

    pub fn peak_mib(&self) -> Option<f64> {
        self.peak_rss_kib.map(|k| k as f64 / 1024.0)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn rate(events: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        events as f64 / seconds
    } else {
        0.0
    }
}

/// The replay of the real CloudTrail fixtures (`tests/fixtures/public/cloudtrail`): it must
/// complete, whatever the records hold.
#[derive(Debug, Default, Clone)]
pub struct RealReplay {
    pub events: usize,
    pub dead_lettered: u64,
    pub findings: usize,
    /// `None` when it completed; else what stopped it (an error or a panic).
    pub crash: Option<String>,
}

/// Where the real CloudTrail fixtures are in the repository.
pub fn real_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/public/cloudtrail")
}

#[derive(Debug, Default)]
pub struct BenchReport {
    pub seeds: Vec<SeedResult>,
    pub real: Option<RealReplay>,
    pub throughput: Throughput,
    pub scale: Vec<ScaleRun>,
}

impl BenchReport {
    pub fn recall(&self) -> f64 {
        let (d, n) = self
            .seeds
            .iter()
            .fold((0, 0), |(d, n), s| (d + s.detected, n + s.labels));
        if n == 0 {
            0.0
        } else {
            d as f64 / n as f64
        }
    }

    pub fn critical_recall(&self) -> f64 {
        let (d, n) = self.seeds.iter().fold((0, 0), |(d, n), s| {
            (d + s.criticals_flagged, n + s.criticals)
        });
        ratio(d, n)
    }

    pub fn drift_recall(&self) -> f64 {
        let (d, n) = self.seeds.iter().fold((0, 0), |(d, n), s| {
            (d + s.drift_detected, n + s.drift_labels)
        });
        ratio(d, n)
    }

    /// The share of drift findings that no labeled out-of-band change accounts for.
    pub fn false_drift_share(&self) -> f64 {
        let (f, n) = self.seeds.iter().fold((0, 0), |(f, n), s| {
            (f + s.false_drift_count(), n + s.drift_findings)
        });
        ratio(f, n)
    }

    pub fn false_alerts_per_account_week(&self) -> f64 {
        let (f, w) = self.seeds.iter().fold((0, 0.0), |(f, w), s| {
            (f + s.false_alerts, w + s.account_weeks)
        });
        if w > 0.0 {
            f as f64 / w
        } else {
            0.0
        }
    }

    pub fn throughput_ratio(&self) -> f64 {
        let t = &self.throughput;
        if t.parse_seconds > 0.0 {
            t.normalize_score_seconds / t.parse_seconds
        } else {
            f64::INFINITY
        }
    }

    pub fn accuracy_ok(&self) -> bool {
        self.real.as_ref().is_none_or(|r| r.crash.is_none())
            && self.recall() >= RECALL_TARGET
            && self.critical_recall() >= CRITICAL_RECALL_TARGET
            && self.false_alerts_per_account_week() <= FALSE_ALERTS_TARGET
            && self.false_drift_share() <= FALSE_DRIFT_SHARE_TARGET
    }

    pub fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let ok = |b: bool| if b { "ok" } else { "MISSED" };
        writeln!(out, "dd0c bench — accuracy (simulated, labeled CloudTrail)")?;
        writeln!(
            out,
            "  {:>5} {:>8} {:>7} {:>9} {:>7} {:>13} {:>10}",
            "seed", "events", "labels", "detected", "recall", "false alerts", "per acc-wk"
        )?;
        for s in &self.seeds {
            writeln!(
                out,
                "  {:>5} {:>8} {:>7} {:>9} {:>7.3} {:>13} {:>10.3}",
                s.seed,
                s.events,
                s.labels,
                s.detected,
                if s.labels > 0 {
                    s.detected as f64 / s.labels as f64
                } else {
                    0.0
                },
                s.false_alerts,
                if s.account_weeks > 0.0 {
                    s.false_alerts as f64 / s.account_weeks
                } else {
                    0.0
                }
            )?;
        }
        let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for s in &self.seeds {
            for (k, (d, n)) in &s.by_kind {
                let e = kinds.entry(k).or_default();
                e.0 += d;
                e.1 += n;
            }
        }
        writeln!(
            out,
            "  recall at expected severity by scenario (cost anomalies, then drift):"
        )?;
        for (k, (d, n)) in kinds {
            writeln!(out, "    {k:<30} {d}/{n} {:.3}", ratio(d, n))?;
        }
        for s in &self.seeds {
            for m in s.missed.iter().take(3) {
                writeln!(out, "  missed (seed {}): {m}", s.seed)?;
            }
            for m in s.false_alert_examples.iter().take(3) {
                writeln!(out, "  false alert (seed {}): {m}", s.seed)?;
            }
            for m in s.false_drift_examples.iter().take(3) {
                writeln!(out, "  false drift (seed {}): {m}", s.seed)?;
            }
        }
        writeln!(
            out,
            "  recall at expected severity: {:.3} (target ≥ {RECALL_TARGET}) {}",
            self.recall(),
            ok(self.recall() >= RECALL_TARGET)
        )?;
        writeln!(
            out,
            "  critical anomalies flagged critical: {:.3} (target ≥ {CRITICAL_RECALL_TARGET}) {}",
            self.critical_recall(),
            ok(self.critical_recall() >= CRITICAL_RECALL_TARGET)
        )?;
        writeln!(
            out,
            "  false alerts (warning+) per account-week after {LEARNING_DAYS} days (from the connection for the {} accounts with history): {:.3} (target ≤ {FALSE_ALERTS_TARGET}) {}",
            self.seeds.iter().map(|s| s.accounts_with_history).sum::<usize>(),
            self.false_alerts_per_account_week(),
            ok(self.false_alerts_per_account_week() <= FALSE_ALERTS_TARGET)
        )?;
        let weeks: f64 = self.seeds.iter().map(|s| s.account_weeks).sum();
        let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
        let mut drift_by_source: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &self.seeds {
            for (k, n) in &s.false_alerts_by_source {
                *by_source.entry(k).or_default() += n;
            }
            for (k, n) in &s.false_drift {
                *drift_by_source.entry(k).or_default() += n;
            }
        }
        writeln!(
            out,
            "    by source of routine activity: {}",
            per_source(&by_source, |n| format!(
                "{:.3}",
                if weeks > 0.0 { n as f64 / weeks } else { 0.0 }
            ))
        )?;
        writeln!(
            out,
            "  drift recall at expected severity: {:.3}",
            self.drift_recall()
        )?;
        let drift_findings: usize = self.seeds.iter().map(|s| s.drift_findings).sum();
        writeln!(
            out,
            "  false drift findings: {:.3} of {drift_findings} drift findings (target ≤ {FALSE_DRIFT_SHARE_TARGET}) {}",
            self.false_drift_share(),
            ok(self.false_drift_share() <= FALSE_DRIFT_SHARE_TARGET)
        )?;
        writeln!(
            out,
            "    by source of routine activity: {}",
            per_source(&drift_by_source, |n| n.to_string())
        )?;
        if let Some(r) = &self.real {
            writeln!(
                out,
                "  real CloudTrail fixtures: {} events, {} findings, {} dead-lettered with a reason, crashes: {} {}",
                r.events,
                r.findings,
                r.dead_lettered,
                r.crash.as_deref().unwrap_or("0"),
                ok(r.crash.is_none())
            )?;
        }
        let t = &self.throughput;
        let per_s = |secs: f64| {
            if secs > 0.0 {
                t.events as f64 / secs
            } else {
                0.0
            }
        };
        writeln!(
            out,
            "dd0c bench — throughput ({} events, {:.1} MB)",
            t.events,
            t.bytes as f64 / 1e6
        )?;
        writeln!(
            out,
            "  {:<44} {:>10} {:>14}",
            "stage", "seconds", "events/s"
        )?;
        writeln!(
            out,
            "  {:<44} {:>10.3} {:>14.0}",
            "serde_json parse (Value)",
            t.parse_seconds,
            per_s(t.parse_seconds)
        )?;
        writeln!(
            out,
            "  {:<44} {:>10.3} {:>14.0}",
            "normalize+score (parse, catalogue, signals)",
            t.normalize_score_seconds,
            per_s(t.normalize_score_seconds)
        )?;
        writeln!(
            out,
            "  {:<44} {:>10.3} {:>14.0}",
            "full embedded pipeline (queues, table, bus)",
            t.pipeline_seconds,
            per_s(t.pipeline_seconds)
        )?;
        writeln!(
            out,
            "  normalize+score / serde_json: {:.2}× (target ≤ {THROUGHPUT_RATIO_TARGET}×) {}",
            self.throughput_ratio(),
            ok(self.throughput_ratio() <= THROUGHPUT_RATIO_TARGET)
        )?;
        match t.peak_rss_kib {
            Some(k) => writeln!(out, "  peak memory (VmHWM): {:.1} MiB", k as f64 / 1024.0)?,
            None => writeln!(out, "  peak memory: unavailable (no /proc/self/status)")?,
        }
        writeln!(out, "  pricing lookup: {:.1} ns", t.pricing_lookup_ns)?;
        writeln!(
            out,
            "  price coverage, {}",
            crate::price_coverage::rds().line("RDS classes sold (MySQL, us-east-1)")
        )?;
        writeln!(
            out,
            "  price coverage, {}",
            crate::price_coverage::ec2().line("current EC2 types (Linux, us-east-1)")
        )?;
        self.print_scale(out)
    }

    fn print_scale(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let ok = |b: bool| if b { "ok" } else { "MISSED" };
        if self.scale.is_empty() {
            return Ok(());
        }
        writeln!(
            out,
            "dd0c bench — dd0c replay at scale ({SCALE_ACCOUNTS} accounts, a child process per run)"
        )?;
        writeln!(
            out,
            "  {:>8} {:>5} {:>9} {:>10} {:>12} {:>14} {:>7} {:>10}",
            "events",
            "days",
            "MB",
            "seconds",
            "replay ev/s",
            "serde_json ev/s",
            "ratio",
            "peak MiB"
        )?;
        for r in &self.scale {
            writeln!(
                out,
                "  {:>8} {:>5} {:>9.1} {:>10.2} {:>12.0} {:>14.0} {:>6.2}× {:>10}",
                r.events,
                r.days,
                r.bytes as f64 / 1e6,
                r.replay_seconds,
                r.replay_per_second(),
                r.parse_per_second(),
                r.ratio(),
                r.peak_mib()
                    .map_or_else(|| "-".to_owned(), |m| format!("{m:.1}"))
            )?;
        }
        if let Some(largest) = self.scale.iter().max_by_key(|r| r.events) {
            writeln!(
                out,
                "  replay / serde_json at {} events: {:.2}× (target ≥ {REPLAY_RATIO_TARGET}×) {}",
                largest.events,
                largest.ratio(),
                ok(largest.ratio() >= REPLAY_RATIO_TARGET)
            )?;
        }
        let peaks: Vec<f64> = self.scale.iter().filter_map(ScaleRun::peak_mib).collect();
        if let Some(max) = peaks.iter().copied().reduce(f64::max) {
            writeln!(
                out,
                "  peak memory of dd0c replay: {} MiB (target ≤ {REPLAY_PEAK_MIB_TARGET} MiB at every scale) {}",
                peaks
                    .iter()
                    .map(|m| format!("{m:.1}"))
                    .collect::<Vec<_>>()
                    .join(" → "),
                ok(max <= REPLAY_PEAK_MIB_TARGET)
            )?;
        }
        Ok(())
    }
}

/// `source figure, …` of a per-source count; `none` when empty.
fn per_source(counts: &BTreeMap<&str, usize>, figure: impl Fn(usize) -> String) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {}", figure(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Peak resident memory of this process.
pub fn peak_rss_kib() -> Option<u64> {
    vm_hwm_kib(&std::fs::read_to_string("/proc/self/status").ok()?)
}

async fn replay_dir(
    dir: &Path,
    history: Option<PathBuf>,
) -> anyhow::Result<crate::replay::ReplaySummary> {
    let options = ReplayOptions {
        paths: vec![dir.to_path_buf()],
        findings: None,
        policy: dd0c_shared::governance::Policy::system()?,
        quiet: true,
        cost: None,
        demo_stacks: false,
        history,
        time_shift: crate::time_shift::TimeShift::NONE,
    };
    replay(&options, Arc::new(TerminalChat::new(false)))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no input in {}", dir.display()))
}

async fn accuracy(seed: u64, options: &BenchOptions) -> anyhow::Result<SeedResult> {
    let sim_options = SimulateOptions {
        seed,
        days: options.days,
        accounts: options.accounts,
        history_days: options.history_days,
        ..SimulateOptions::default()
    };
    let sim = simulate::generate(&sim_options);
    let dir = options.work_dir.join(format!("seed-{seed}"));
    simulate::write(&sim, &dir)?;
    let history = Some(dir.join("history")).filter(|h| h.is_dir());
    let summary = replay_dir(&dir.join("events"), history).await?;
    // An account with two weeks of history or more is past its learning period at once.
    let with_history: HashSet<&str> = sim
        .records
        .iter()
        .filter(|r| r.time <= sim.start - ChronoDuration::days(LEARNING_DAYS))
        .map(|r| r.account.as_str())
        .collect();
    let activity: HashMap<&str, &'static str> = sim
        .records
        .iter()
        .filter_map(|r| Some((r.record["eventID"].as_str()?, r.activity)))
        .collect();
    let source_of = |event_id: &str| activity.get(event_id).copied().unwrap_or("unknown");
    let by_event = |kind: FindingKind| -> HashMap<&str, &dd0c_shared::domain::Finding> {
        summary
            .findings
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| (f.event_id.as_str(), f))
            .collect()
    };
    let (cost, drift) = (
        by_event(FindingKind::CostAnomaly),
        by_event(FindingKind::Drift),
    );
    let mut result = SeedResult {
        seed,
        events: sim.records.len(),
        ..Default::default()
    };
    for l in &sim.labels {
        let expected = Severity::parse(&l.expected_severity).unwrap_or(Severity::Warning);
        let is_drift = l.product == simulate::DRIFT;
        let found = if is_drift { &drift } else { &cost }.get(l.event_id.as_str());
        let hit = found.is_some_and(|f| f.severity >= expected);
        if is_drift {
            result.drift_labels += 1;
            result.drift_detected += usize::from(hit);
        } else {
            result.labels += 1;
            result.detected += usize::from(hit);
            if expected == Severity::Critical {
                result.criticals += 1;
                result.criticals_flagged +=
                    usize::from(found.is_some_and(|f| f.severity == Severity::Critical));
            }
        }
        let e = result.by_kind.entry(l.kind.clone()).or_default();
        e.1 += 1;
        if hit {
            e.0 += 1;
        } else {
            result.missed.push(format!(
                "{} {} {} expected {} got {}",
                l.kind,
                l.account,
                l.event_time,
                l.expected_severity,
                found
                    .map(|f| format!("{} {:.0} {:?}", f.severity.as_str(), f.score, f.reasons))
                    .unwrap_or_else(|| "nothing".into())
            ));
        }
    }
    let labeled: HashSet<&str> = sim.labels.iter().map(|l| l.event_id.as_str()).collect();
    let learned = |account: &str| {
        if with_history.contains(account) {
            sim.start
        } else {
            sim.start + ChronoDuration::days(LEARNING_DAYS)
        }
    };
    for f in cost.values() {
        if f.severity >= Severity::Warning
            && f.event_time >= learned(&f.account_id)
            && !labeled.contains(f.event_id.as_str())
        {
            result.false_alerts += 1;
            *result
                .false_alerts_by_source
                .entry(source_of(&f.event_id).to_owned())
                .or_default() += 1;
            result.false_alert_examples.push(format!(
                "{} {} {} {} ${:.2}/hr {} {:?}",
                source_of(&f.event_id),
                f.account_id,
                f.event_time,
                f.event_name,
                f.estimated_hourly_cost.unwrap_or(0.0),
                f.severity.as_str(),
                f.reasons
            ));
        }
    }
    // Every drift finding counts, learning period or not: drift needs no baseline.
    for f in summary
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Drift)
    {
        result.drift_findings += 1;
        if !labeled.contains(f.event_id.as_str()) {
            *result
                .false_drift
                .entry(source_of(&f.event_id).to_owned())
                .or_default() += 1;
            result.false_drift_examples.push(format!(
                "{} {} {} {} by {} {:?}",
                source_of(&f.event_id),
                f.account_id,
                f.event_time,
                f.event_name,
                f.actor.arn,
                f.reasons
            ));
        }
    }
    result.account_weeks = sim
        .accounts
        .iter()
        .map(|a| {
            let learning = if with_history.contains(a.as_str()) {
                0.0
            } else {
                LEARNING_DAYS as f64
            };
            (options.days as f64 - learning).max(0.0) / 7.0
        })
        .sum();
    result.accounts_with_history = with_history.len();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// Parses, normalizes and scores every record in memory (baselines in a map): the compute the
/// pipeline does per event, without the embedded queues and table around it.
fn normalize_and_score(raws: &[String]) -> usize {
    let mut baselines: HashMap<(String, String, String), Baseline> = HashMap::new();
    let mut accounts: HashMap<String, Baseline> = HashMap::new();
    let mut findings = 0;
    for raw in raws {
        let Ok(record) = CloudTrailRecord::from_json(raw) else {
            continue;
        };
        let Some(account) = record.account_id().map(str::to_owned) else {
            continue;
        };
        let Normalized::Cost(events) = catalogue::normalize(&record, "bench", &account) else {
            continue;
        };
        for e in events {
            let key = (account.clone(), e.service.clone(), e.resource_type.clone());
            let kind = baselines.entry(key).or_default();
            let acc = accounts.entry(account.clone()).or_default();
            let ctx = signals::Context {
                kind,
                account: acc,
                account_since: acc.first_seen,
                recent_calls_by_actor: 0.0,
            };
            if signals::assess(&e, &ctx).is_some() {
                findings += 1;
            }
            if let Some(h) = e.added_hourly_cost() {
                let actor = signals::actor_key(&e).into_owned();
                for b in [&mut *kind, &mut *acc] {
                    b.moments.add(h);
                    b.max = Some(b.max.unwrap_or(h).max(h));
                    b.actors.insert(actor.clone());
                    b.regions.insert(e.region.clone());
                    b.first_seen.get_or_insert(e.event_time);
                    if let Some(s) = &e.sku {
                        b.skus.insert(s.clone());
                    }
                }
            }
        }
    }
    findings
}

async fn throughput(options: &BenchOptions) -> anyhow::Result<Throughput> {
    let sim = simulate::generate(&SimulateOptions {
        seed: 4242,
        days: options.throughput_days,
        accounts: options.throughput_accounts,
        ..SimulateOptions::default()
    });
    let dir = options.work_dir.join("throughput");
    simulate::write(&sim, &dir)?;
    drop(sim);
    let input = crate::input::read_inputs(&[dir.join("events")]);
    let raws: Vec<String> = input.records.iter().map(|r| r.raw.clone()).collect();
    let bytes: u64 = raws.iter().map(|r| r.len() as u64).sum();
    // Best of three for the in-memory stages: the machine is shared.
    let best = |f: &dyn Fn() -> usize| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let parse = best(&|| {
        raws.iter()
            .filter(|r| serde_json::from_str::<serde_json::Value>(r).is_ok())
            .count()
    });
    let normalize_score = best(&|| normalize_and_score(&raws));
    let started = Instant::now();
    let summary = replay_dir(&dir.join("events"), None).await?;
    let pipeline = started.elapsed();
    let lookups = 1_000_000u64;
    let lookup = dd0c_shared::pricing::bench_lookup(lookups);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Throughput {
        events: summary.events_read,
        bytes,
        parse_seconds: parse.as_secs_f64(),
        normalize_score_seconds: normalize_score.as_secs_f64(),
        pipeline_seconds: pipeline.as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
        pricing_lookup_ns: lookup.as_nanos() as f64 / lookups as f64,
    })
}

/// serde_json parsing every line of every file under `dir` into a `Value` (files are read
/// first, one at a time; only the parse is timed). Returns (seconds, bytes).
fn parse_files(dir: &Path) -> anyhow::Result<(f64, u64)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    files.sort();
    let (mut seconds, mut bytes) = (0.0, 0);
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        bytes += text.len() as u64;
        let started = Instant::now();
        let parsed = text
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .count();
        std::hint::black_box(parsed);
        seconds += started.elapsed().as_secs_f64();
    }
    Ok((seconds, bytes))
}

/// `dd0c replay --quiet dir` in a child process (this executable): its wall-clock seconds
/// and peak resident memory.
fn replay_child(dir: &Path) -> anyhow::Result<(f64, Option<u64>)> {
    let started = Instant::now();
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["replay", "--quiet"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let (status, peak) = wait_with_peak_rss(child)?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        status == 0,
        "dd0c replay {} exited with {status}",
        dir.display()
    );
    Ok((seconds, peak))
}

/// Waits for `child`: its exit status and peak resident memory in KiB, its `VmHWM` read
/// every 10 ms until it exits (getrusage's `ru_maxrss` of a child would not do: a child
/// started by vfork inherits its parent's peak at exec).
fn wait_with_peak_rss(mut child: std::process::Child) -> anyhow::Result<(i32, Option<u64>)> {
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = None;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kib)
        {
            peak = Some(kib);
        }
        if let Some(status) = child.try_wait()? {
            return Ok((status.code().unwrap_or(-1), peak));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Simulated input of about `events` events over [`SCALE_ACCOUNTS`] accounts, replayed by
/// `dd0c replay` in a child process, next to serde_json's parse of the same bytes.
fn scale_run(events: u64, options: &BenchOptions) -> anyhow::Result<ScaleRun> {
    let days =
        ((events as f64 / (SCALE_ACCOUNTS as f64 * SIMULATED_EVENTS_PER_ACCOUNT_DAY)).round()
            as u32)
            .max(1);
    let dir = options.work_dir.join(format!("scale-{events}"));
    let written = simulate::generate_and_write(
        &SimulateOptions {
            seed: 4242,
            days,
            accounts: SCALE_ACCOUNTS,
            ..SimulateOptions::default()
        },
        &dir,
    )?;
    let events_dir = dir.join("events");
    let (parse_seconds, bytes) = parse_files(&events_dir)?;
    let (replay_seconds, peak_rss_kib) = replay_child(&events_dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ScaleRun {
        events: written.events,
        days,
        bytes,
        replay_seconds,
        parse_seconds,
        peak_rss_kib,
    })
}

pub async fn run(options: &BenchOptions) -> anyhow::Result<BenchReport> {
    std::fs::create_dir_all(&options.work_dir)?;
    let mut report = BenchReport::default();
    for &seed in &options.seeds {
        report.seeds.push(accuracy(seed, options).await?);
    }
    let fixtures = real_fixtures();
    if fixtures.is_dir() {
        report.real = Some(replay_real(fixtures).await);
    }
    report.throughput = throughput(options).await?;
    for &events in &options.scale_events {
        report.scale.push(scale_run(events, options)?);
    }
    let _ = std::fs::remove_dir_all(&options.work_dir);
    Ok(report)
}

/// The CloudTrail files under `dir` (their licences and READMEs left out).
fn cloudtrail_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = path.to_string_lossy();
            if path.is_dir() {
                stack.push(path);
            } else if [".json", ".jsonl", ".json.gz"]
                .iter()
                .any(|ext| name.ends_with(ext))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Replays the CloudTrail files under `dir` in a task of its own, so that a panic is
/// reported, not propagated.
async fn replay_real(dir: PathBuf) -> RealReplay {
    let options = ReplayOptions {
        paths: cloudtrail_files(&dir),
        findings: None,
        policy: match dd0c_shared::governance::Policy::system() {
            Ok(p) => p,
            Err(e) => {
                return RealReplay {
                    crash: Some(format!("error: {e}")),
                    ..RealReplay::default()
                }
            }
        },
        quiet: true,
        cost: None,
        demo_stacks: false,
        history: None,
        time_shift: crate::time_shift::TimeShift::NONE,
    };
    let run = async move {
        replay(&options, Arc::new(TerminalChat::new(false)))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no CloudTrail input"))
    };
    match tokio::spawn(run).await {
        Ok(Ok(summary)) => RealReplay {
            events: summary.events_read,
            dead_lettered: summary
                .outcomes
                .get("skipped_malformed")
                .copied()
                .unwrap_or(0),
            findings: summary.findings.len(),
            crash: None,
        },
        Ok(Err(e)) => RealReplay {
            crash: Some(format!("error: {e:#}")),
            ..RealReplay::default()
        },
        Err(e) => RealReplay {
            crash: Some(format!("panic: {e}")),
            ..RealReplay::default()
        },
    }
}

/// `dd0c bench`: prints the report; exits 1 when the recall or false-alert target is missed.
pub async fn cli(options: &BenchOptions) -> anyhow::Result<std::process::ExitCode> {
    let report = run(options).await?;
    report.print(&mut std::io::stdout())?;
    Ok(if report.accuracy_ok() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(f: impl FnOnce(&mut SeedResult)) -> SeedResult {
        let mut s = SeedResult {
            labels: 20,
            detected: 20,
            criticals: 10,
            criticals_flagged: 10,
            account_weeks: 10.0,
            drift_labels: 5,
            drift_detected: 5,
            drift_findings: 50,
            ..SeedResult::default()
        };
        f(&mut s);
        s
    }

    fn report(seeds: Vec<SeedResult>) -> BenchReport {
        BenchReport {
            seeds,
            ..BenchReport::default()
        }
    }

    #[test]
    fn false_drift_is_the_share_of_all_drift_findings_across_seeds() {
        let r = report(vec![
            seed(|s| {
                s.false_drift.insert("backups".into(), 1);
            }),
            seed(|s| {
                s.false_drift.insert("backups".into(), 1);
                s.false_drift.insert("terraform".into(), 1);
            }),
        ]);
        assert!((r.false_drift_share() - 3.0 / 100.0).abs() < 1e-12);
        assert!(!r.accuracy_ok(), "3% of drift findings is above 2%");
        let within = report(vec![seed(|s| {
            s.false_drift.insert("backups".into(), 1);
        })]);
        assert!(within.accuracy_ok());
        let mut out = Vec::new();
        r.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains(
                "false drift findings: 0.030 of 100 drift findings (target ≤ 0.02) MISSED"
            ),
            "{text}"
        );
        assert!(text.contains("by source of routine activity: backups 2, terraform 1"));
    }

    #[test]
    fn criticals_must_be_flagged_critical_and_false_alerts_are_reported_per_source() {
        let r = report(vec![seed(|s| {
            s.criticals_flagged = 9;
            s.false_alerts = 2;
            s.false_alerts_by_source.insert("nightly_batch".into(), 2);
        })]);
        assert!((r.critical_recall() - 0.9).abs() < 1e-12);
        assert!(!r.accuracy_ok());
        let mut out = Vec::new();
        r.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("critical anomalies flagged critical: 0.900 (target ≥ 0.95) MISSED"),
            "{text}"
        );
        assert!(text.contains("by source of routine activity: nightly_batch 0.200"));
        assert!(text.contains("by source of routine activity: none"));
    }

    #[tokio::test]
    async fn the_real_fixtures_replay_without_a_crash_and_a_crash_fails_the_bench() {
        let real = replay_real(real_fixtures()).await;
        assert_eq!(real.crash, None);
        assert!(real.events > 2_000, "{real:?}");
        let crashed = BenchReport {
            real: Some(RealReplay {
                crash: Some("panic: boom".into()),
                ..real
            }),
            ..report(vec![seed(|_| {})])
        };
        assert!(!crashed.accuracy_ok());
        assert!(report(vec![seed(|_| {})]).accuracy_ok());
    }
}
