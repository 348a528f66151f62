//! The decision log of a cost verdict: the signals that moved the score, the thresholds they
//! were held against, the baseline values they read and the price they used. A finding carries
//! it in `details.decision` (the notifier adds the policy's word); an event that made no finding
//! keeps the compact form on its contribution marker, which `GET /v1/events/{id}/decision`
//! reads (decision 0300).

use dd0c_shared::domain::{CostEvent, Severity};
use serde_json::{json, Value};

use crate::config::*;
use crate::signals::{Context, Trace};

/// The thresholds every cost verdict is held against.
pub fn thresholds() -> Value {
    json!({
        "score": {"info": INFO_SCORE, "warning": WARNING_SCORE, "critical": CRITICAL_SCORE},
        "learning": {"days": LEARNING_DAYS, "min_cost_events": LEARNING_MIN_EVENTS},
        "cold_start_usd_per_hour": {
            "info": COLD_START_INFO_USD_PER_HOUR,
            "warning": COLD_START_WARNING_USD_PER_HOUR,
            "critical": COLD_START_CRITICAL_USD_PER_HOUR,
        },
        "fast_path_usd_per_hour": {
            "warning": FAST_PATH_WARNING_USD_PER_HOUR,
            "critical": FAST_PATH_CRITICAL_USD_PER_HOUR,
        },
        "zscore": ZSCORE_THRESHOLD,
        "scale_jump_factor": SCALE_JUMP_FACTOR,
        "burst_min_calls": BURST_MIN_CALLS,
        "routine": {
            "familiar_days": ROUTINE_MIN_FAMILIARITY_DAYS,
            "max_tolerance": ROUTINE_MAX_TOLERANCE,
            "automation_tolerance": ROUTINE_AUTOMATION_TOLERANCE,
        },
    })
}

/// The baseline values the signals read, as they were before the event.
pub fn baseline(ctx: &Context<'_>, trace: &Trace) -> Value {
    json!({
        "account_age_days": (trace.account_age_days * 10.0).round() / 10.0,
        "account_cost_events": ctx.account.moments.count,
        "known_regions": ctx.account.regions.len(),
        "known_principals": ctx.account.actors.len(),
        "type_cost_events": ctx.kind.moments.count,
        "type_mean_usd_per_hour": ctx.kind.moments.mean(),
        "type_max_usd_per_hour": ctx.kind.max,
        "recent_calls_by_actor": ctx.recent_calls_by_actor,
        "sensitivity": ctx.kind.sensitivity.as_str(),
    })
}

/// The verdict in a few words: what the score came to and what that means.
pub fn verdict(trace: &Trace, severity: Option<Severity>) -> String {
    match severity {
        Some(s) => format!("score {:.1}: {}", trace.score, s.as_str()),
        None if trace.routine => format!(
            "score {:.1}: below {INFO_SCORE}, no finding (routine for this principal)",
            trace.score
        ),
        None => format!("score {:.1}: below {INFO_SCORE}, no finding", trace.score),
    }
}

/// The whole decision log of a verdict (a finding's `details.decision`).
pub fn log(
    event: &CostEvent,
    ctx: &Context<'_>,
    trace: &Trace,
    severity: Option<Severity>,
) -> Value {
    json!({
        "stage": "scorer",
        "verdict": verdict(trace, severity),
        "score": trace.score,
        "severity": severity.map(Severity::as_str),
        "hourly_usd": trace.hourly_usd,
        "weight": trace.weight,
        "points": trace.points,
        "floor": trace.floor,
        "routine": trace.routine,
        "learning": trace.learning,
        "novelties": trace.novelties,
        "signals": trace.signals,
        "thresholds": thresholds(),
        "baseline": baseline(ctx, trace),
        "price": event.pricing_details(),
    })
}

/// What an event that made no finding keeps (on its contribution marker, written in the same
/// transaction as the baselines: kept well under 1 KB so the write costs what it did).
pub fn compact(ctx: &Context<'_>, trace: &Trace) -> Value {
    json!({
        "stage": "scorer",
        "verdict": verdict(trace, None),
        "score": trace.score,
        "hourly_usd": trace.hourly_usd,
        "routine": trace.routine,
        "learning": trace.learning,
        "signals": trace.signals,
        "baseline": {
            "account_age_days": (trace.account_age_days * 10.0).round() / 10.0,
            "account_cost_events": ctx.account.moments.count,
            "type_cost_events": ctx.kind.moments.count,
            "type_max_usd_per_hour": ctx.kind.max,
        },
    })
}
