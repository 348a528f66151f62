//! The circuit breaker: when one detector's immediate alerts for a tenant pass three times its
//! normal hourly volume, its further alerts that hour are held for the digest, one message
//! says how many and why, and the next hour starts afresh (decision 0510).
//!
//! The normal volume is the mean of the previous [`HISTORY_HOURS`] hours' alerts (an hour
//! without any counts as zero; an hour's count is capped at its own limit, so a burst that was
//! held does not raise the next day's normal), never below [`NORMAL_FLOOR_PER_HOUR`]: a
//! detector that usually sends nothing or one an hour trips on the seventh alert of an hour.

use chrono::{DateTime, Duration, DurationRound, Utc};
use dd0c_shared::entity::breaker::{self, BreakerHour};
use dd0c_shared::store::{StoreError, Table};

/// An hour's alerts beyond this many times the normal volume are held.
pub const BREAKER_FACTOR: f64 = 3.0;
/// The least normal hourly volume: what a quiet detector is judged against.
pub const NORMAL_FLOOR_PER_HOUR: f64 = 2.0;
/// How many hours before the current one make the normal volume.
pub const HISTORY_HOURS: i64 = 24;

/// The most immediate alerts an hour may carry at this normal volume.
pub fn limit(normal: f64) -> u32 {
    (BREAKER_FACTOR * normal).floor() as u32
}

/// The normal hourly volume from the hours before (only hours with alerts are given).
pub fn normal_volume(history: &[BreakerHour]) -> f64 {
    let total: u32 = history
        .iter()
        .map(|h| h.normal.map_or(h.alerts, |n| h.alerts.min(limit(n))))
        .sum();
    (f64::from(total) / HISTORY_HOURS as f64).max(NORMAL_FLOOR_PER_HOUR)
}

/// Whether the notice is edited with the held count at this many held: 1, 2, 5, 10, 20,
/// 50, …, so a burst of hundreds costs a handful of Slack calls, not hundreds.
pub fn worth_an_edit(held: u32) -> bool {
    let mut step = 1;
    while step <= held {
        if [step, 2 * step, 5 * step].contains(&held) {
            return true;
        }
        step *= 10;
    }
    false
}

/// The hour an alert at `now` counts in.
pub fn hour_of(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(Duration::hours(1)).unwrap_or(now)
}

/// One detector's hour for a tenant, with this alert counted.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerState {
    pub detector: String,
    pub hour: DateTime<Utc>,
    pub alerts: u32,
    pub normal: f64,
    pub limit: u32,
    pub notice_claimed: bool,
    pub notice: Option<(String, String)>,
}

impl BreakerState {
    /// How many of the hour's alerts are held, when the breaker is open.
    pub fn held(&self) -> Option<u32> {
        self.alerts.checked_sub(self.limit).filter(|h| *h > 0)
    }

    pub fn resumes_at(&self) -> DateTime<Utc> {
        self.hour + Duration::hours(1)
    }

    /// The held finding's `suppressed_reason`.
    pub fn hold_reason(&self) -> String {
        format!(
            "circuit breaker: {} sent {} immediate alerts this hour, {}× its normal {:.1} an hour; held for the digest, its alerts resume at {} UTC",
            self.detector,
            self.limit,
            BREAKER_FACTOR,
            self.normal,
            self.resumes_at().format("%H:%M")
        )
    }

    /// The one message of the hour, with the count held so far.
    pub fn notice_text(&self, held: u32) -> String {
        format!(
            ":pause_button: *Circuit breaker:* `{}` raised {} immediate alerts this hour, more than {}× its normal {:.1} an hour. {} held for the digest so far; its alerts resume by themselves at {} UTC. Held findings are recorded on the dashboard.",
            self.detector,
            self.limit + held,
            BREAKER_FACTOR,
            self.normal,
            held,
            self.resumes_at().format("%H:%M")
        )
    }
}

/// Counts an immediate alert of `detector` and says where the hour stands.
pub async fn count(
    table: &dyn Table,
    tenant: &str,
    detector: &str,
    finding_id: &str,
    now: DateTime<Utc>,
) -> Result<BreakerState, StoreError> {
    let hour = hour_of(now);
    let mut h = breaker::count_alert(table, tenant, detector, &hour, finding_id).await?;
    let normal = match h.normal {
        Some(n) => n,
        None => {
            // The first alert of the hour reads the day before, once.
            let past = breaker::history(table, tenant, detector, &hour, HISTORY_HOURS).await?;
            let n = normal_volume(&past);
            h = breaker::set_normal(table, tenant, detector, &hour, n).await?;
            h.normal.unwrap_or(n)
        }
    };
    Ok(BreakerState {
        detector: detector.to_owned(),
        hour,
        alerts: h.alerts,
        normal,
        limit: limit(normal),
        notice_claimed: h.notice_claimed,
        notice: h.notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(alerts: u32, normal: Option<f64>) -> BreakerHour {
        BreakerHour {
            alerts,
            normal,
            ..BreakerHour::default()
        }
    }

    #[test]
    fn a_quiet_detector_is_judged_against_the_floor() {
        assert_eq!(normal_volume(&[]), NORMAL_FLOOR_PER_HOUR);
        assert_eq!(normal_volume(&[hour(1, None), hour(1, None)]), 2.0);
        assert_eq!(limit(normal_volume(&[])), 6);
    }

    #[test]
    fn a_busy_detector_has_a_higher_normal_and_a_held_burst_does_not_raise_it() {
        // 4 an hour all day: normal 4, limit 12.
        let busy: Vec<BreakerHour> = (0..24).map(|_| hour(4, Some(2.0))).collect();
        assert_eq!(normal_volume(&busy), 4.0);
        assert_eq!(limit(4.0), 12);
        // One hour of 500 (held above its limit of 6) counts as 6.
        let mut day: Vec<BreakerHour> = (0..23).map(|_| hour(0, Some(2.0))).collect();
        day.push(hour(500, Some(2.0)));
        assert_eq!(normal_volume(&day), NORMAL_FLOOR_PER_HOUR);
        // Without its normal recorded, an hour counts whole.
        assert_eq!(normal_volume(&[hour(96, None)]), 4.0);
    }

    #[test]
    fn the_breaker_opens_past_three_times_normal() {
        let state = |alerts| BreakerState {
            detector: "cost.burst".into(),
            hour: hour_of(dd0c_shared::testing::noon() + Duration::minutes(17)),
            alerts,
            normal: 2.0,
            limit: limit(2.0),
            notice_claimed: false,
            notice: None,
        };
        assert_eq!(state(6).held(), None);
        assert_eq!(state(7).held(), Some(1));
        assert_eq!(state(10).held(), Some(4));
        let s = state(7);
        assert_eq!(s.hour, dd0c_shared::testing::noon());
        assert_eq!(s.resumes_at().format("%H:%M").to_string(), "11:00");
        assert_eq!(
            s.hold_reason(),
            "circuit breaker: cost.burst sent 6 immediate alerts this hour, 3× its normal 2.0 an hour; held for the digest, its alerts resume at 11:00 UTC"
        );
        assert!(s.notice_text(1).contains("raised 7 immediate alerts"));
        assert!(s.notice_text(1).contains("1 held for the digest so far"));
    }

    #[test]
    fn the_notice_is_edited_at_one_two_five_steps() {
        let edits: Vec<u32> = (1..=120).filter(|n| worth_an_edit(*n)).collect();
        assert_eq!(edits, vec![1, 2, 5, 10, 20, 50, 100]);
        assert!(!worth_an_edit(0));
    }
}
