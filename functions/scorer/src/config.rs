//! Every threshold and weight of the scorer, in one place. Why each value is what it is:
//! `docs/decisions/0300-anomaly-scoring.md`.

use dd0c_shared::domain::Severity;

/// Score bands (0–100): info ≥ 20, warning ≥ 50, critical ≥ 80. Below info: no finding.
pub const INFO_SCORE: f64 = 20.0;
pub const WARNING_SCORE: f64 = 50.0;
pub const CRITICAL_SCORE: f64 = 80.0;

/// Cold start: absolute hourly thresholds while an account has no baseline worth the name.
pub const COLD_START_INFO_USD_PER_HOUR: f64 = 0.50;
pub const COLD_START_WARNING_USD_PER_HOUR: f64 = 5.00;
pub const COLD_START_CRITICAL_USD_PER_HOUR: f64 = 25.00;
/// Scores the cold-start thresholds map to (one band each).
pub const COLD_START_INFO_POINTS: f64 = 30.0;
pub const COLD_START_WARNING_POINTS: f64 = 60.0;
pub const COLD_START_CRITICAL_POINTS: f64 = 85.0;
/// An account is in cold start while younger than this…
pub const LEARNING_DAYS: i64 = 14;
/// …or while it has produced fewer cost events than this.
pub const LEARNING_MIN_EVENTS: f64 = 20.0;

/// Fast path (always on): above this hourly cost, an event that is not routine for the
/// baseline is at least a warning, and above the critical threshold at least critical.
/// Governance never holds a finding above it for an account's youth: one value for both.
pub const FAST_PATH_WARNING_USD_PER_HOUR: f64 = dd0c_shared::governance::FAST_PATH_USD_PER_HOUR;
pub const FAST_PATH_CRITICAL_USD_PER_HOUR: f64 = COLD_START_CRITICAL_USD_PER_HOUR;
/// Routine = actor and sku both known for at least this long, and the cost not above
/// `ROUTINE_MAX_TOLERANCE` × the largest cost this service/type has seen.
pub const ROUTINE_MIN_FAMILIARITY_DAYS: i64 = 7;
pub const ROUTINE_MAX_TOLERANCE: f64 = 1.5;
/// A routine fast-path event still gets an info finding (visible in the digest).
pub const FAST_PATH_ROUTINE_POINTS: f64 = INFO_SCORE;

/// Z-score: needs this many events of the service/type before it means anything.
pub const ZSCORE_MIN_EVENTS: f64 = 5.0;
/// The standard deviation is floored (a perfectly regular baseline would make any cent an
/// outlier): at this fraction of the mean, and at this absolute amount.
pub const ZSCORE_MIN_STDDEV_FRACTION: f64 = 0.25;
pub const ZSCORE_MIN_STDDEV_USD: f64 = 0.05;
pub const ZSCORE_THRESHOLD: f64 = 3.0;
/// Points at the threshold, per σ beyond it, and the cap.
pub const ZSCORE_BASE_POINTS: f64 = 30.0;
pub const ZSCORE_POINTS_PER_SIGMA: f64 = 4.0;
pub const ZSCORE_MAX_POINTS: f64 = 50.0;
/// An outlier no larger than the most this service/type has cost before (× the routine
/// tolerance) has happened before: its z-score points count this much.
pub const ZSCORE_SEEN_BEFORE_FACTOR: f64 = 0.5;

/// Novelty points.
pub const NEW_REGION_POINTS: f64 = 40.0;
pub const NEW_ACCOUNT_ACTOR_POINTS: f64 = 15.0;
pub const NEW_TYPE_ACTOR_POINTS: f64 = 8.0;
pub const NEW_SKU_POINTS: f64 = 15.0;

/// Bursts: cost-creating calls by one actor within the window (current + previous buckets).
pub const BURST_BUCKET_SECONDS: i64 = 600;
/// Calls before this one, within the window, that make a burst.
pub const BURST_MIN_CALLS: f64 = 3.0;
pub const BURST_POINTS: f64 = 30.0;
/// Calibrated severity: the least severity of an event that is not routine, by the monthly
/// cost at stake (from the first row whose amount it reaches) and the number of independent
/// novelties that coincide on it (principal new to the account or to the type, region, instance
/// or resource type, scale, burst, outside IaC): one, two, three or more. Below the first row, the points alone decide.
pub const SEVERITY_TABLE: [(f64, [Severity; 3]); 3] = [
    (
        250.0,
        [Severity::Info, Severity::Warning, Severity::Warning],
    ),
    (
        1_000.0,
        [Severity::Warning, Severity::Warning, Severity::Critical],
    ),
    (
        10_000.0,
        [Severity::Warning, Severity::Critical, Severity::Critical],
    ),
];
/// A cost this many times what its service/type costs on average in the account is a novelty
/// of scale (a 14 TB volume where volumes were 100 GB).
pub const SCALE_JUMP_FACTOR: f64 = 10.0;
/// Automation that has run for `ROUTINE_MIN_FAMILIARITY_DAYS` is routine up to this many times
/// the largest cost of its service/type, whatever type it picks: jobs change their instance
/// types and counts between runs, people do not launch on a schedule.
pub const ROUTINE_AUTOMATION_TOLERANCE: f64 = 3.0;
/// A launch outside IaC in an account where at least this share of the launches (of at least
/// `LEARNING_MIN_EVENTS`) were made by IaC tools: someone went around the process.
pub const IAC_SHARE_FOR_OUTSIDE: f64 = 0.8;
pub const OUTSIDE_IAC_POINTS: f64 = 15.0;
/// Planned changes (IaC tools) launch many things at once by design.
pub const BURST_IAC_FACTOR: f64 = 0.5;
/// Activity buckets live this long (seconds) before the TTL removes them.
pub const BURST_TTL_SECONDS: i64 = 2 * 24 * 3600;

/// Signals other than cost itself are weighted by how much the event costs: a new region for
/// a $0.01/hr volume is not worth waking anyone.
pub fn cost_weight(hourly: f64) -> f64 {
    if hourly < 0.10 {
        0.3
    } else if hourly < COLD_START_INFO_USD_PER_HOUR {
        0.6
    } else if hourly < COLD_START_WARNING_USD_PER_HOUR {
        0.9
    } else {
        1.0
    }
}

/// User feedback: subtracted when the actor / the sku was marked as expected.
pub const EXPECTED_ACTOR_POINTS: f64 = 30.0;
pub const EXPECTED_SKU_POINTS: f64 = 20.0;

/// Sensitivity override of a service/type (attribute `sensitivity` on its baseline item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sensitivity {
    Low,
    #[default]
    Medium,
    High,
}

impl Sensitivity {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Sensitivity::Low),
            "medium" => Some(Sensitivity::Medium),
            "high" => Some(Sensitivity::High),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Low => "low",
            Sensitivity::Medium => "medium",
            Sensitivity::High => "high",
        }
    }
    /// Multiplies the composite score.
    pub fn factor(self) -> f64 {
        match self {
            Sensitivity::Low => 0.7,
            Sensitivity::Medium => 1.0,
            Sensitivity::High => 1.3,
        }
    }
}
