//! Each signal of the scorer, on hand-built baselines: every test fails if its signal is
//! removed (it compares against the same event without the signal's trigger).

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_scorer::baseline::{first_seen_attribute, Baseline, Moments};
use dd0c_scorer::signals::{assess, Context};
use dd0c_shared::domain::{Actor, CostAction, CostEvent, IacTool, Severity, Source};
use dd0c_shared::entity::time_key;
use dd0c_shared::store::{AttrValue, Item};
use dd0c_shared::testing::{console_user, cost_event};
use proptest::prelude::*;

const ALICE: &str = "arn:aws:iam::111111111111:user/alice";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn actor(arn: &str, source: Source) -> Actor {
    Actor {
        arn: arn.into(),
        name: arn.rsplit('/').next().unwrap().into(),
        source,
        ..console_user()
    }
}

fn event(hourly: f64, sku: &str, region: &str, who: &str) -> CostEvent {
    CostEvent {
        tenant_id: "t".into(),
        account_id: "111111111111".into(),
        region: region.into(),
        event_time: now(),
        sku: Some(sku.into()),
        hourly_cost: Some(hourly),
        actor: actor(who, Source::Cli),
        ..cost_event("e-1")
    }
}

/// A mature baseline: `count` events around `mean` ± `sd`, known for 30 days.
fn baseline(count: f64, mean: f64, sd: f64, skus: &[&str]) -> Baseline {
    let mut item = Item::new();
    let long_ago = time_key(&(now() - Duration::days(30)));
    item.insert("count".into(), AttrValue::N(count));
    item.insert("sum".into(), AttrValue::N(count * mean));
    item.insert(
        "sum_sq".into(),
        AttrValue::N((count - 1.0) * sd * sd + count * mean * mean),
    );
    item.insert("max".into(), AttrValue::N(mean + 3.0 * sd));
    item.insert("actors".into(), AttrValue::string_set([ALICE]));
    item.insert("regions".into(), AttrValue::string_set(["us-east-1"]));
    item.insert("skus".into(), AttrValue::string_set(skus.iter().copied()));
    item.insert("first_seen".into(), AttrValue::S(long_ago.clone()));
    item.insert(
        first_seen_attribute("actor", ALICE),
        AttrValue::S(long_ago.clone()),
    );
    for s in skus {
        item.insert(
            first_seen_attribute("sku", s),
            AttrValue::S(long_ago.clone()),
        );
    }
    Baseline::from_item(Some(item))
}

fn with(mut b: Baseline, f: impl FnOnce(&mut Baseline)) -> Baseline {
    f(&mut b);
    b
}

fn mature<'a>(kind: &'a Baseline, account: &'a Baseline) -> Context<'a> {
    Context {
        kind,
        account,
        account_since: Some(now() - Duration::days(60)),
        recent_calls_by_actor: 0.0,
    }
}

fn score(e: &CostEvent, ctx: &Context<'_>) -> f64 {
    assess(e, ctx).map(|a| a.score).unwrap_or(0.0)
}

#[test]
fn cold_start_uses_absolute_thresholds_while_the_account_is_young() {
    let empty = Baseline::default();
    let young = Context {
        kind: &empty,
        account: &empty,
        account_since: Some(now() - Duration::days(2)),
        recent_calls_by_actor: 0.0,
    };
    let sev =
        |h: f64| assess(&event(h, "m5.large", "us-east-1", ALICE), &young).map(|a| a.severity);
    assert_eq!(sev(0.40), None);
    assert_eq!(sev(0.60), Some(Severity::Info));
    assert_eq!(sev(6.0), Some(Severity::Warning));
    assert_eq!(sev(30.0), Some(Severity::Critical));
    let reasons = assess(&event(0.6, "m5.large", "us-east-1", ALICE), &young)
        .unwrap()
        .reasons;
    assert!(
        reasons[0].contains("threshold for a new account"),
        "{reasons:?}"
    );
}

#[test]
fn cold_start_ends_after_learning_but_not_before_twenty_events() {
    let kind = baseline(30.0, 1.0, 0.3, &["m5.large"]);
    let few = baseline(10.0, 1.0, 0.3, &["m5.large"]);
    let e = event(0.9, "m5.large", "us-east-1", ALICE);
    // Old account, but only 10 events: still learning, a $0.90/hr launch is worth an info.
    assert_eq!(
        assess(&e, &mature(&kind, &few)).map(|a| a.severity),
        Some(Severity::Info)
    );
    // Old account with 30 events: an ordinary launch is silent.
    assert_eq!(assess(&e, &mature(&kind, &kind)), None);
}

#[test]
fn fast_path_flags_big_costs_that_are_not_routine() {
    let kind = baseline(50.0, 2.0, 1.0, &["m5.large", "c5.9xlarge"]);
    let e = event(12.0, "c5.9xlarge", "us-east-1", ALICE);
    // Known actor and type, but far above anything seen: warning at least.
    let a = assess(&e, &mature(&kind, &kind)).unwrap();
    assert!(a.severity >= Severity::Warning, "{a:?}");
    assert!(a.reasons.iter().any(|r| r.contains("not routine")), "{a:?}");
    // The same cost when the baseline has seen it: info only.
    let routine = with(kind.clone(), |b| b.max = Some(12.0));
    let a = assess(&e, &mature(&routine, &routine)).unwrap();
    assert_eq!(a.severity, Severity::Info, "{a:?}");
    // Over $25/hr and not routine: critical.
    let big = event(30.0, "c5.9xlarge", "us-east-1", ALICE);
    assert_eq!(
        assess(&big, &mature(&kind, &kind)).unwrap().severity,
        Severity::Critical
    );
}

#[test]
fn zscore_flags_costs_far_above_the_mean() {
    let kind = baseline(40.0, 0.5, 0.1, &["m5.large", "m5.4xlarge"]);
    let e = event(3.0, "m5.4xlarge", "us-east-1", ALICE);
    let a = assess(&e, &mature(&kind, &kind)).expect("an outlier is a finding");
    assert!(
        a.reasons
            .iter()
            .any(|r| r.contains("σ above this account's EC2 mean")),
        "{a:?}"
    );
    assert!(a.score >= 30.0);
    // The same event where the baseline is wide: not an outlier.
    let wide = baseline(40.0, 2.0, 1.5, &["m5.large", "m5.4xlarge"]);
    assert_eq!(assess(&e, &mature(&wide, &wide)), None);
}

#[test]
fn a_new_region_is_a_strong_signal() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let e = event(1.0, "m5.large", "ap-southeast-1", ALICE);
    let a = assess(&e, &mature(&kind, &kind)).expect("new region is a finding");
    assert!(a
        .reasons
        .iter()
        .any(|r| r.contains("new region for this account")));
    let home = event(1.0, "m5.large", "us-east-1", ALICE);
    assert_eq!(assess(&home, &mature(&kind, &kind)), None);
}

#[test]
fn a_new_actor_raises_the_score() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let known = event(1.0, "m5.large", "eu-west-1", ALICE);
    let stranger = event(
        1.0,
        "m5.large",
        "eu-west-1",
        "arn:aws:iam::111111111111:user/mallory",
    );
    let a = assess(&stranger, &mature(&kind, &kind)).unwrap();
    assert!(a.score > score(&known, &mature(&kind, &kind)));
    assert!(a
        .reasons
        .iter()
        .any(|r| r.contains("first time this actor launched anything")));
}

#[test]
fn a_new_instance_type_raises_the_score() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let known = event(1.0, "m5.large", "eu-west-1", ALICE);
    let novel = event(1.0, "r6i.large", "eu-west-1", ALICE);
    let a = assess(&novel, &mature(&kind, &kind)).unwrap();
    assert!(a.score > score(&known, &mature(&kind, &kind)));
    assert!(a
        .reasons
        .iter()
        .any(|r| r.contains("first r6i.large in this account")));
}

#[test]
fn a_burst_by_one_actor_raises_the_score() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let e = event(1.0, "m5.large", "eu-west-1", ALICE);
    let calm = mature(&kind, &kind);
    let bursty = Context {
        recent_calls_by_actor: 6.0,
        ..mature(&kind, &kind)
    };
    let a = assess(&e, &bursty).unwrap();
    assert!(a.score > score(&e, &calm), "{a:?}");
    assert!(a
        .reasons
        .iter()
        .any(|r| r.contains("7 cost-creating calls")));
    // Planned (IaC) changes count half.
    let mut iac = e.clone();
    iac.actor.source = Source::Iac(IacTool::Terraform);
    assert!(score(&iac, &bursty) < a.score);
}

#[test]
fn marking_as_expected_lowers_the_score() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let e = event(30.0, "p4d.24xlarge", "us-east-1", ALICE);
    let before = score(&e, &mature(&kind, &kind));
    let expected = with(kind.clone(), |b| {
        b.expected_actors.insert(ALICE.into());
        b.expected_types.insert("p4d.24xlarge".into());
    });
    let a = assess(&e, &mature(&expected, &kind)).unwrap();
    assert!(a.score < before - 40.0, "{before} → {a:?}");
    assert!(a.reasons.iter().any(|r| r.contains("marked as expected")));
}

#[test]
fn sensitivity_scales_the_score() {
    use dd0c_scorer::config::Sensitivity;
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let e = event(6.0, "r6i.4xlarge", "us-east-1", ALICE);
    let medium = score(&e, &mature(&kind, &kind));
    let high = with(kind.clone(), |b| b.sensitivity = Sensitivity::High);
    let low = with(kind.clone(), |b| b.sensitivity = Sensitivity::Low);
    assert!(score(&e, &mature(&high, &kind)) > medium);
    let low_assessment = assess(&e, &mature(&low, &kind)).unwrap();
    assert!(low_assessment.score < medium);
    assert_eq!(low_assessment.severity, Severity::Info);
}

#[test]
fn events_that_remove_cost_are_never_findings() {
    let empty = Baseline::default();
    let mut e = event(100.0, "p4d.24xlarge", "us-east-1", ALICE);
    e.action = CostAction::Delete;
    let ctx = Context {
        kind: &empty,
        account: &empty,
        account_since: None,
        recent_calls_by_actor: 10.0,
    };
    assert_eq!(assess(&e, &ctx), None);
}

proptest! {
    #[test]
    fn moments_from_added_sums_match_a_naive_computation(
        xs in proptest::collection::vec(0.0f64..500.0, 2..200)
    ) {
        let mut m = Moments::default();
        for x in &xs {
            m.add(*x);
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let got_mean = m.mean().unwrap();
        let got_var = m.variance().unwrap();
        prop_assert!((got_mean - mean).abs() <= 1e-9 * mean.abs().max(1.0));
        // Sums of squares lose precision when the spread is tiny next to the mean.
        prop_assert!((got_var - var).abs() <= 1e-6 * (var + mean * mean).max(1.0),
            "variance {} vs naive {}", got_var, var);
    }
}
