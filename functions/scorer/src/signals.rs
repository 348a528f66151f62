//! Scoring signals. Thresholds live here and are explained in
//! `docs/decisions/0002-cold-start-thresholds.md`.

use dd0c_shared::domain::{CostEvent, Severity};

/// Hourly cost above which a new account's launch is worth telling someone about.
pub const COLD_START_INFO_USD_PER_HOUR: f64 = 0.50;
pub const COLD_START_WARNING_USD_PER_HOUR: f64 = 5.00;
pub const COLD_START_CRITICAL_USD_PER_HOUR: f64 = 25.00;

/// The verdict on one cost event.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub severity: Severity,
    /// 0–100; severity bands: info ≥ 20, warning ≥ 50, critical ≥ 80.
    pub score: f64,
    pub reasons: Vec<String>,
}

/// The absolute thresholds used while an account has no baseline to compare against.
pub fn cold_start(event: &CostEvent) -> Option<Assessment> {
    let hourly = event.added_hourly_cost()?;
    let (severity, score, threshold) = if hourly > COLD_START_CRITICAL_USD_PER_HOUR {
        (Severity::Critical, 90.0, COLD_START_CRITICAL_USD_PER_HOUR)
    } else if hourly > COLD_START_WARNING_USD_PER_HOUR {
        (Severity::Warning, 60.0, COLD_START_WARNING_USD_PER_HOUR)
    } else if hourly > COLD_START_INFO_USD_PER_HOUR {
        (Severity::Info, 30.0, COLD_START_INFO_USD_PER_HOUR)
    } else {
        return None;
    };
    let mut reasons = vec![format!(
        "${hourly:.2}/hr is above the ${threshold:.2}/hr threshold for new activity"
    )];
    reasons.extend(event.pricing_notes.iter().cloned());
    Some(Assessment {
        severity,
        score,
        reasons,
    })
}
