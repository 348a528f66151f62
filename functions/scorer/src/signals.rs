//! Scoring signals: pure functions from an event and the baselines as they were before it to
//! a verdict. Thresholds and weights are in [`crate::config`], explained in
//! `docs/decisions/0300-anomaly-scoring.md`.

use chrono::{DateTime, Duration, Utc};
use dd0c_shared::domain::{ActorKind, CostEvent, Severity, Source};
use dd0c_shared::pricing::HOURS_PER_MONTH;

use crate::baseline::Baseline;
use crate::config::*;

fn money_per_month(usd: f64) -> String {
    if usd >= 10_000.0 {
        format!("${:.0}k", usd / 1000.0)
    } else {
        format!("${usd:.0}")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One signal's part in a verdict (the decision log, decision 0300): the points it added, the
/// least score it set, or what it took away.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Signal {
    /// A stable name (`new_region`, `zscore`, …).
    pub name: &'static str,
    /// `adds` points, sets a score of `at_least`, multiplies by `times`, or takes `minus`.
    pub effect: &'static str,
    pub value: f64,
}

/// How a verdict was reached: every signal that moved the score, and the facts the rules
/// read (the decision log a finding carries, and what explains an event without one).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Trace {
    pub hourly_usd: f64,
    /// The points' weight for this cost ([`cost_weight`]).
    pub weight: f64,
    pub routine: bool,
    pub learning: bool,
    pub account_age_days: f64,
    /// The coinciding novelties the calibrated table counts.
    pub novelties: Vec<&'static str>,
    pub signals: Vec<Signal>,
    pub points: f64,
    pub floor: f64,
    /// The final score (after sensitivity and feedback, 0–100).
    pub score: f64,
}

impl Trace {
    fn adds(&mut self, name: &'static str, value: f64) {
        self.signals.push(Signal {
            name,
            effect: "adds",
            value,
        });
    }

    fn at_least(&mut self, name: &'static str, value: f64) {
        self.signals.push(Signal {
            name,
            effect: "at_least",
            value,
        });
    }

    /// The signal that brought the most points or set the highest floor (the first of equals):
    /// the finding's detector (`dd0c_shared::detector::COST_SIGNALS`), which flags turn off and
    /// the notifier's breaker counts under. Sensitivity and feedback adjust a score; they detect
    /// nothing.
    pub fn strongest(&self) -> &'static str {
        let mut best: Option<&Signal> = None;
        for s in self
            .signals
            .iter()
            .filter(|s| matches!(s.effect, "adds" | "at_least"))
        {
            if best.is_none_or(|b| s.value > b.value) {
                best = Some(s);
            }
        }
        best.map_or("", |s| s.name)
    }
}

/// The verdict on one cost event.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub severity: Severity,
    /// 0–100; severity bands: info ≥ 20, warning ≥ 50, critical ≥ 80.
    pub score: f64,
    pub reasons: Vec<String>,
    /// The signal that contributed most to the score (`dd0c_shared::detector::COST_SIGNALS`):
    /// the finding's detector, which flags turn off and the notifier's breaker counts under.
    pub detector: &'static str,
}

pub fn severity_for(score: f64) -> Option<Severity> {
    if score >= CRITICAL_SCORE {
        Some(Severity::Critical)
    } else if score >= WARNING_SCORE {
        Some(Severity::Warning)
    } else if score >= INFO_SCORE {
        Some(Severity::Info)
    } else {
        None
    }
}

/// The absolute thresholds used while an account has no baseline to compare against.
pub fn cold_start(event: &CostEvent) -> Option<Assessment> {
    let hourly = event.added_hourly_cost()?;
    let (score, threshold) = cold_start_points(hourly)?;
    let mut reasons = vec![format!(
        "${hourly:.2}/hr is above the ${threshold:.2}/hr threshold for new activity"
    )];
    reasons.extend(event.price_reasons());
    Some(Assessment {
        severity: severity_for(score)?,
        score,
        reasons,
        detector: "cold_start",
    })
}

fn cold_start_points(hourly: f64) -> Option<(f64, f64)> {
    if hourly > COLD_START_CRITICAL_USD_PER_HOUR {
        Some((COLD_START_CRITICAL_POINTS, COLD_START_CRITICAL_USD_PER_HOUR))
    } else if hourly > COLD_START_WARNING_USD_PER_HOUR {
        Some((COLD_START_WARNING_POINTS, COLD_START_WARNING_USD_PER_HOUR))
    } else if hourly > COLD_START_INFO_USD_PER_HOUR {
        Some((COLD_START_INFO_POINTS, COLD_START_INFO_USD_PER_HOUR))
    } else {
        None
    }
}

/// Everything the signals look at besides the event.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The service × resource type baseline, before this event.
    pub kind: &'a Baseline,
    /// The account-wide baseline, before this event.
    pub account: &'a Baseline,
    /// When the account was connected (or first seen); `None`: never seen before.
    pub account_since: Option<DateTime<Utc>>,
    /// Cost-creating calls by the same actor in the burst window, before this one.
    pub recent_calls_by_actor: f64,
}

/// How an actor is keyed in baselines (`Actor::baseline_key`: automation by its role).
pub fn actor_key(event: &CostEvent) -> std::borrow::Cow<'_, str> {
    event.actor.baseline_key()
}

fn is_aws_service(event: &CostEvent) -> bool {
    event.actor.kind == ActorKind::AwsService || event.actor.source == Source::AwsService
}

/// Automation: an AWS service, or a role session keyed on its role (not a person's session).
fn is_automation(event: &CostEvent) -> bool {
    is_aws_service(event)
        || (event.actor.kind == ActorKind::AssumedRole
            && event.actor.baseline_key() != event.actor.arn.as_str())
}

/// Whether an event is what its actor routinely does: an actor known to this service/type for
/// a week, a type known as long (automation may pick any type), and no more than the most
/// this service/type has cost, with a tolerance.
fn is_routine(event: &CostEvent, ctx: &Context<'_>, actor: &str, hourly: f64) -> bool {
    let now = event.event_time;
    let automation = is_automation(event);
    // A person's launch far above the average is not routine, whatever the largest was (one
    // earlier outlier must not make every later one ordinary).
    if !automation && scale_jump(ctx, hourly).is_some() {
        return false;
    }
    let tolerance = if automation {
        ROUTINE_AUTOMATION_TOLERANCE
    } else {
        ROUTINE_MAX_TOLERANCE
    };
    ctx.kind.actors.contains(actor)
        && known_for(ctx.kind, "actor", actor, now)
        && (automation
            || event
                .sku
                .as_deref()
                .is_none_or(|sku| known_for(ctx.kind, "sku", sku, now)))
        && ctx.kind.max.is_some_and(|max| hourly <= max * tolerance)
}

/// How many times the average cost of its service/type an event costs, when that is a novelty
/// of scale (with the average).
fn scale_jump(ctx: &Context<'_>, hourly: f64) -> Option<(f64, f64)> {
    let mean = ctx.kind.moments.mean().filter(|m| *m > 0.0)?;
    let jump = hourly / mean;
    (jump >= SCALE_JUMP_FACTOR).then_some((jump, mean))
}

/// The least severity the calibrated table gives `novelties` coinciding on `monthly` dollars
/// at stake.
pub fn calibrated_severity(monthly: f64, novelties: usize) -> Option<Severity> {
    let column = novelties.min(3).checked_sub(1)?;
    SEVERITY_TABLE
        .iter()
        .rev()
        .find(|(at_least, _)| monthly >= *at_least)
        .map(|(_, row)| row[column])
}

fn severity_points(severity: Severity) -> f64 {
    match severity {
        Severity::Critical => COLD_START_CRITICAL_POINTS,
        Severity::Warning | Severity::High => COLD_START_WARNING_POINTS,
        _ => COLD_START_INFO_POINTS,
    }
}

fn known_for(b: &Baseline, kind: &str, value: &str, now: DateTime<Utc>) -> bool {
    b.first_seen_of(kind, value)
        .is_some_and(|t| now - t >= Duration::days(ROUTINE_MIN_FAMILIARITY_DAYS))
}

/// Scores an event that adds cost. `None`: nothing worth a finding.
/// Whether `value` first appeared in `b` within the burst window before `now`: it came with
/// the calls still in flight.
fn arrived_in_burst(b: &Baseline, kind: &str, value: &str, now: DateTime<Utc>) -> bool {
    b.first_seen_of(kind, value).is_some_and(|t| {
        let since = now - t;
        since >= Duration::zero() && since < Duration::seconds(2 * BURST_BUCKET_SECONDS)
    })
}

pub fn assess(event: &CostEvent, ctx: &Context<'_>) -> Option<Assessment> {
    score_traced(event, ctx, &mut Trace::default())
}

/// [`assess`], with how the verdict was reached (also when there is none).
pub fn assess_traced(event: &CostEvent, ctx: &Context<'_>) -> (Option<Assessment>, Trace) {
    let mut trace = Trace::default();
    let verdict = score_traced(event, ctx, &mut trace);
    (verdict, trace)
}

fn score_traced(event: &CostEvent, ctx: &Context<'_>, trace: &mut Trace) -> Option<Assessment> {
    let hourly = event.scored_hourly_cost()?;
    let now = event.event_time;
    let actor_id = actor_key(event);
    let actor: &str = &actor_id;
    let routine = is_routine(event, ctx, actor, hourly);
    let service = event.service.to_ascii_uppercase();
    let weight = cost_weight(hourly);
    trace.hourly_usd = hourly;
    trace.weight = weight;
    trace.routine = routine;
    let mut points = 0.0;
    let mut floor: f64 = 0.0;
    let mut reasons = Vec::new();

    // Cold start: absolute thresholds while there is nothing to compare against.
    let age_days = ctx
        .account_since
        .map(|since| (now - since).num_seconds() as f64 / 86_400.0)
        .unwrap_or(0.0);
    let learning =
        age_days < LEARNING_DAYS as f64 || ctx.account.moments.count < LEARNING_MIN_EVENTS;
    trace.learning = learning;
    trace.account_age_days = age_days.max(0.0);
    if learning {
        if let Some((p, threshold)) = cold_start_points(hourly) {
            floor = floor.max(p);
            trace.at_least("cold_start", p);
            reasons.push(format!(
                "${hourly:.2}/hr is above the ${threshold:.2}/hr threshold for a new account ({:.0} days, {} cost events seen)",
                age_days.max(0.0),
                ctx.account.moments.count
            ));
        }
    }

    // Z-score of the hourly cost against this account's service/type.
    let m = ctx.kind.moments;
    if m.count >= ZSCORE_MIN_EVENTS {
        if let (Some(mean), Some(var)) = (m.mean(), m.variance()) {
            let sd = var
                .sqrt()
                .max(mean * ZSCORE_MIN_STDDEV_FRACTION)
                .max(ZSCORE_MIN_STDDEV_USD);
            let z = (hourly - mean) / sd;
            if z >= ZSCORE_THRESHOLD {
                let seen_before = routine
                    || ctx
                        .kind
                        .max
                        .is_some_and(|max| hourly <= max * ROUTINE_MAX_TOLERANCE);
                let p = (ZSCORE_BASE_POINTS + ZSCORE_POINTS_PER_SIGMA * (z - ZSCORE_THRESHOLD))
                    .min(ZSCORE_MAX_POINTS);
                let added = if seen_before {
                    p * ZSCORE_SEEN_BEFORE_FACTOR
                } else {
                    p
                };
                points += added;
                trace.adds("zscore", added);
                reasons.push(format!(
                    "{z:.1}σ above this account's {service} mean (${hourly:.2}/hr vs ${mean:.2}/hr){}",
                    if routine {
                        ", though it is routine for this actor"
                    } else if seen_before {
                        ", though it has cost as much before"
                    } else {
                        ""
                    }
                ));
            }
        }
    }

    // Novelty: region, actor, sku, resource type.
    // A principal the account had never seen until its current burst: what it brings along
    // (region, type, itself) stays new for the rest of that burst, so a leaked key's second
    // and third GPU launches in a new region score like its first.
    // An account's very first principal is not "new" to it: the account had nothing before.
    let joined_a_known_account = ctx
        .account
        .first_seen
        .zip(ctx.account.first_seen_of("actor", actor))
        .is_some_and(|(account, arrived)| {
            arrived - account >= Duration::seconds(2 * BURST_BUCKET_SECONDS)
        });
    let fresh_actor = ctx.account.actors.contains(actor)
        && arrived_in_burst(ctx.account, "actor", actor, now)
        && joined_a_known_account;
    let new_region = !ctx.account.regions.contains(&event.region)
        || (fresh_actor && arrived_in_burst(ctx.account, "region", &event.region, now));
    // Independent novelties of this event (principal, region, sku, burst), for the rule that
    // several at once on a big cost are critical.
    let mut novelties: Vec<&'static str> = Vec::new();
    if !ctx.account.regions.is_empty() && new_region {
        novelties.push("region");
        points += NEW_REGION_POINTS * weight;
        trace.adds("new_region", NEW_REGION_POINTS * weight);
        reasons.push(format!("new region for this account ({})", event.region));
    }
    if !ctx.account.actors.is_empty() && (!ctx.account.actors.contains(actor) || fresh_actor) {
        novelties.push("principal");
        points += NEW_ACCOUNT_ACTOR_POINTS * weight;
        trace.adds("new_actor", NEW_ACCOUNT_ACTOR_POINTS * weight);
        reasons.push(format!(
            "first time this actor launched anything ({})",
            event.actor.name
        ));
    } else if !ctx.kind.actors.is_empty() && !ctx.kind.actors.contains(actor) {
        // IaC tools create whatever their code names: a new type for them is a plan, not news.
        if !event.actor.source.is_iac() {
            novelties.push("principal for this type");
        }
        points += NEW_TYPE_ACTOR_POINTS * weight;
        trace.adds("new_type_actor", NEW_TYPE_ACTOR_POINTS * weight);
        reasons.push(format!(
            "first {} launched by this actor ({})",
            event.resource_type, event.actor.name
        ));
    }
    if ctx.kind.moments.count == 0.0 && ctx.account.moments.count > 0.0 {
        novelties.push("resource type");
        points += NEW_SKU_POINTS * weight;
        trace.adds("new_resource_type", NEW_SKU_POINTS * weight);
        reasons.push(format!("first {} in this account", event.resource_type));
    } else if let Some(sku) = event.sku.as_deref() {
        if !ctx.kind.skus.contains(sku)
            || (fresh_actor && arrived_in_burst(ctx.kind, "sku", sku, now))
        {
            novelties.push("instance type");
            points += NEW_SKU_POINTS * weight;
            trace.adds("new_sku", NEW_SKU_POINTS * weight);
            reasons.push(format!("first {sku} in this account"));
        }
    }

    // Scale against the mean, not the largest: one earlier outlier (itself flagged) must not
    // make every later one ordinary.
    if let Some((jump, mean)) = scale_jump(ctx, hourly) {
        novelties.push("scale");
        // No points of its own: a novelty the calibrated table counts.
        trace.adds("scale_jump", 0.0);
        reasons.push(format!(
            "{jump:.0}× what a {} costs on average in this account (${mean:.2}/hr)",
            event.resource_type
        ));
    }

    // Bursts: many launches by one actor in a short window. AWS services (Auto Scaling)
    // scale by design; IaC tools apply many resources at once.
    let launches = ctx.account.moments.count;
    if !event.actor.source.is_iac()
        && !is_aws_service(event)
        && launches >= LEARNING_MIN_EVENTS
        && ctx.account.iac_count / launches >= IAC_SHARE_FOR_OUTSIDE
    {
        novelties.push("outside IaC");
        points += OUTSIDE_IAC_POINTS * weight;
        trace.adds("outside_iac", OUTSIDE_IAC_POINTS * weight);
        reasons.push(format!(
            "made outside IaC ({}) where {:.0}% of this account's launches are IaC",
            event.actor.source.label(),
            100.0 * ctx.account.iac_count / launches
        ));
    }

    if ctx.recent_calls_by_actor >= BURST_MIN_CALLS && !is_aws_service(event) {
        let factor = if event.actor.source.is_iac() {
            BURST_IAC_FACTOR
        } else {
            1.0
        };
        if !event.actor.source.is_iac() {
            novelties.push("burst");
        }
        points += BURST_POINTS * factor * weight;
        trace.adds("burst", BURST_POINTS * factor * weight);
        reasons.push(format!(
            "{} cost-creating calls by this actor in the last {} minutes",
            ctx.recent_calls_by_actor as u64 + 1,
            2 * BURST_BUCKET_SECONDS / 60
        ));
    }

    // Fast path: a big hourly cost is never waited on, unless it is routine for the account.
    if hourly > FAST_PATH_WARNING_USD_PER_HOUR {
        if routine {
            floor = floor.max(FAST_PATH_ROUTINE_POINTS);
            trace.at_least("fast_path", FAST_PATH_ROUTINE_POINTS);
        } else {
            let (p, threshold) = if hourly > FAST_PATH_CRITICAL_USD_PER_HOUR {
                (COLD_START_CRITICAL_POINTS, FAST_PATH_CRITICAL_USD_PER_HOUR)
            } else {
                (COLD_START_WARNING_POINTS, FAST_PATH_WARNING_USD_PER_HOUR)
            };
            if !learning || p > floor {
                reasons.push(format!(
                    "${hourly:.2}/hr is above ${threshold:.2}/hr and not routine for this account"
                ));
            }
            floor = floor.max(p);
            trace.at_least("fast_path", p);
        }
    }

    // Calibrated severity: the monthly cost at stake (a burst's calls together) and how many
    // independent novelties coincide on it. AWS services and routine work are not novel, and
    // in an account without history yet everything is: the cold-start thresholds rule there.
    if !routine && !is_aws_service(event) && ctx.account.moments.count >= LEARNING_MIN_EVENTS {
        let calls = if novelties.contains(&"burst") {
            ctx.recent_calls_by_actor + 1.0
        } else {
            1.0
        };
        let monthly = hourly * HOURS_PER_MONTH * calls;
        if let Some(severity) = calibrated_severity(monthly, novelties.len()) {
            let p = severity_points(severity);
            if p > floor.max(points) {
                reasons.push(format!(
                    "{} at stake a month with {} ({}): {}",
                    money_per_month(monthly),
                    plural(novelties.len(), "novelty", "novelties"),
                    novelties.join(", "),
                    severity.as_str()
                ));
            }
            floor = floor.max(p);
            trace.at_least("calibrated", p);
        }
    }
    trace.novelties = novelties.clone();
    trace.points = points;
    trace.floor = floor;

    let mut score = points.max(floor);
    if score <= 0.0 {
        return None;
    }
    let sensitivity = ctx.kind.sensitivity;
    if sensitivity != Sensitivity::Medium {
        score *= sensitivity.factor();
        trace.signals.push(Signal {
            name: "sensitivity",
            effect: "times",
            value: sensitivity.factor(),
        });
        reasons.push(format!(
            "{} sensitivity set for {}",
            sensitivity.as_str(),
            event.resource_type
        ));
    }

    // Feedback: "mark as expected" on an earlier finding.
    if ctx.kind.expected_actors.contains(actor)
        || ctx.kind.expected_actors.contains(&event.actor.name)
    {
        score -= EXPECTED_ACTOR_POINTS;
        trace.signals.push(Signal {
            name: "expected_principal",
            effect: "minus",
            value: EXPECTED_ACTOR_POINTS,
        });
        reasons.push("this actor was marked as expected".into());
    }
    if event
        .sku
        .as_deref()
        .is_some_and(|sku| ctx.kind.expected_types.contains(sku))
    {
        score -= EXPECTED_SKU_POINTS;
        trace.signals.push(Signal {
            name: "expected_type",
            effect: "minus",
            value: EXPECTED_SKU_POINTS,
        });
        reasons.push("this type was marked as expected".into());
    }
    let score = score.clamp(0.0, 100.0);
    trace.score = (score * 10.0).round() / 10.0;
    let severity = severity_for(score)?;
    reasons.extend(event.price_reasons());
    Some(Assessment {
        severity,
        score: (score * 10.0).round() / 10.0,
        reasons,
        detector: trace.strongest(),
    })
}
