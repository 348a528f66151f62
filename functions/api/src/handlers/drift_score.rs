//! `GET /v1/drift-score`: the organisation's drift score and each stack's, with 14-day
//! trends, from the stack items alone (one query: each stack keeps its daily scores).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use dd0c_shared::entity::stack::{self, Stack};
use dd0c_shared::http::HttpResponse;

use super::Ctx;
use crate::error::ApiError;
use crate::model::{DriftScoreView, ScoreDay, StackScore};

/// Days in a trend.
pub(super) const TREND_DAYS: u32 = 14;

/// Days and their scores, oldest first.
type Days = Vec<(NaiveDate, Option<f64>)>;

/// A stack's scores of the last [`TREND_DAYS`] days, today's being its current score (a
/// stack never scored has its clean 100).
fn days_of(stack: &Stack, today: NaiveDate) -> Days {
    let mut days = stack.score_trend(today, TREND_DAYS);
    if let Some(last) = days.last_mut() {
        last.1 = Some(stack.drift_score);
    }
    days
}

pub(super) fn trend_of(stack: &Stack, today: NaiveDate) -> Vec<ScoreDay> {
    days_of(stack, today)
        .into_iter()
        .map(|(day, score)| ScoreDay {
            day: day.to_string(),
            score,
        })
        .collect()
}

/// A stack's weight in the organisation's score: the resources it manages, at least 1.
fn weight(stack: &Stack) -> f64 {
    stack.managed_resource_ids.len().max(1) as f64
}

/// The weighted mean of `(score, weight)`, `None` without any.
fn weighted_mean(scores: impl IntoIterator<Item = (f64, f64)>) -> Option<f64> {
    let (sum, weights) = scores
        .into_iter()
        .fold((0.0, 0.0), |(s, w), (score, weight)| {
            (s + score * weight, w + weight)
        });
    (weights > 0.0).then(|| (sum / weights * 10.0).round() / 10.0)
}

/// The organisation's view of `stacks` on `today`.
pub(crate) fn drift_score_of(stacks: &[Stack], today: NaiveDate) -> DriftScoreView {
    let watched: Vec<&Stack> = stacks.iter().filter(|s| s.enabled).collect();
    let mut open_drift = BTreeMap::new();
    for s in &watched {
        for (severity, n) in &s.open_drift {
            *open_drift.entry(severity.clone()).or_insert(0) += n;
        }
    }
    let trends: Vec<(f64, Days)> = watched
        .iter()
        .map(|s| (weight(s), days_of(s, today)))
        .collect();
    let trend = (0..TREND_DAYS as usize)
        .map(|i| {
            let day = today - chrono::Duration::days(i64::from(TREND_DAYS) - 1 - i as i64);
            ScoreDay {
                day: day.to_string(),
                score: weighted_mean(
                    trends
                        .iter()
                        .filter_map(|(w, days)| days[i].1.map(|score| (score, *w))),
                ),
            }
        })
        .collect();
    DriftScoreView {
        score: weighted_mean(watched.iter().map(|s| (s.drift_score, weight(s)))).unwrap_or(100.0),
        stacks_watched: watched.len(),
        managed_resources: watched.iter().map(|s| s.managed_resource_ids.len()).sum(),
        open_drift,
        trend,
        stacks: stacks
            .iter()
            .map(|s| StackScore {
                stack_id: s.stack_id.clone(),
                name: s.name.clone(),
                enabled: s.enabled,
                owner: s.owner.clone(),
                drift_score: s.drift_score,
                open_drift: s.open_drift.clone(),
                managed_resources: s.managed_resource_ids.len(),
                trend: trend_of(s, today),
            })
            .collect(),
    }
}

pub(super) async fn drift_score(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let stacks = stack::list_stacks(ctx.table(), ctx.tenant()).await?;
    Ok(HttpResponse::json(
        200,
        &drift_score_of(&stacks, ctx.now().date_naive()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(id: &str, resources: usize, score: f64, days: &[(&str, f64)]) -> Stack {
        let mut s = Stack::new("t1", id);
        s.managed_resource_ids = (0..resources).map(|i| format!("r{i}")).collect();
        s.drift_score = score;
        s.score_days = days.iter().map(|(d, v)| ((*d).to_owned(), *v)).collect();
        s
    }

    #[test]
    fn the_organisation_weighs_stacks_by_their_resources_and_skips_unwatched_ones() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let mut off = stack("off", 50, 0.0, &[("2026-11-20", 0.0)]);
        off.enabled = false;
        let stacks = [
            stack(
                "big",
                3,
                60.0,
                &[("2026-11-19", 100.0), ("2026-11-21", 60.0)],
            ),
            stack("small", 1, 100.0, &[("2026-11-20", 100.0)]),
            off,
        ];
        let view = drift_score_of(&stacks, today);
        assert_eq!(view.score, 70.0);
        assert_eq!((view.stacks_watched, view.managed_resources), (2, 4));
        assert_eq!(view.stacks.len(), 3);
        let last: Vec<Option<f64>> = view.trend[11..].iter().map(|d| d.score).collect();
        assert_eq!(last, [Some(100.0), Some(100.0), Some(70.0)]);
        assert_eq!(view.trend[0].score, None);
        assert_eq!(view.trend[13].day, "2026-11-21");
        assert_eq!(drift_score_of(&[], today).score, 100.0);
        // A stack never scored counts as clean today, in the score and in the trend alike.
        let fresh = [
            stack("big", 1, 60.0, &[("2026-11-19", 60.0)]),
            stack("new", 1, 100.0, &[]),
        ];
        let view = drift_score_of(&fresh, today);
        assert_eq!(view.score, 80.0);
        assert_eq!(view.trend[13].score, Some(80.0));
        assert_eq!(view.trend[12].score, Some(60.0));
        assert_eq!(view.stacks[1].trend[12].score, None);
    }
}
