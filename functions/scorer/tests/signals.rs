//! Each signal of the scorer, on hand-built baselines: every test fails if its signal is
//! removed (it compares against the same event without the signal's trigger).

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_scorer::baseline::{first_seen_attribute, Baseline, Moments};
use dd0c_scorer::signals::{assess, cold_start, Context};
use dd0c_shared::domain::{Actor, ActorKind, CostAction, CostEvent, IacTool, Severity, Source};
use dd0c_shared::entity::time_key;
use dd0c_shared::pricing::{Platform, PriceBasis, Tenancy};
use dd0c_shared::store::{AttrValue, Item};
use dd0c_shared::testing::{console_user, cost_event};
use proptest::prelude::*;

const ALICE: &str = "arn:aws:iam::111111111111:user/alice";
const BOB: &str = "arn:aws:iam::111111111111:user/bob";
const MALLORY: &str = "arn:aws:iam::111111111111:user/mallory";

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
    baseline_known_for(count, mean, sd, skus, 30, 30)
}

/// [`baseline`] whose actor (alice) was first seen `actor_days` ago and its skus `sku_days` ago.
fn baseline_known_for(
    count: f64,
    mean: f64,
    sd: f64,
    skus: &[&str],
    actor_days: i64,
    sku_days: i64,
) -> Baseline {
    let mut item = Item::new();
    let long_ago = time_key(&(now() - Duration::days(30)));
    let actor_since = time_key(&(now() - Duration::days(actor_days)));
    let sku_since = time_key(&(now() - Duration::days(sku_days)));
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
        AttrValue::S(actor_since),
    );
    for s in skus {
        item.insert(
            first_seen_attribute("sku", s),
            AttrValue::S(sku_since.clone()),
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

#[test]
fn cold_start_scores_by_absolute_hourly_thresholds_each_a_band() {
    let band = |h: f64| {
        cold_start(&event(h, "m5.large", "us-east-1", ALICE)).map(|a| (a.severity, a.score))
    };
    assert_eq!(band(0.50), None);
    assert_eq!(band(0.51), Some((Severity::Info, 30.0)));
    assert_eq!(band(5.00), Some((Severity::Info, 30.0)));
    assert_eq!(band(5.01), Some((Severity::Warning, 60.0)));
    assert_eq!(band(25.00), Some((Severity::Warning, 60.0)));
    assert_eq!(band(25.01), Some((Severity::Critical, 85.0)));
    let mut e = event(6.0, "m5.large", "us-east-1", ALICE);
    e.pricing_notes = vec!["m5.large Linux on-demand us-east-1".into()];
    e.price_basis = Some(PriceBasis {
        label: "list price".into(),
        ..PriceBasis::default()
    });
    assert_eq!(
        cold_start(&e).unwrap().reasons,
        [
            "$6.00/hr is above the $5.00/hr threshold for new activity",
            "price: list price",
        ]
    );
}

/// The headline says which price in a few words and keeps the caveats that change the number;
/// the provenance (tables, factors, dates) stays out of it.
#[test]
fn the_headline_names_the_price_basis_not_its_provenance() {
    let est = dd0c_shared::pricing::ec2_instance(
        "m5.24xlarge",
        "ap-south-1",
        Platform::Linux,
        Tenancy::Shared,
        true,
    );
    let mut e = event(
        est.hourly_usd.unwrap() * 20.0,
        "m5.24xlarge",
        "ap-south-1",
        ALICE,
    );
    e.pricing_notes = est.reasons.clone();
    e.price_basis = Some(est.basis.clone());
    let reasons = cold_start(&e).unwrap().reasons;
    assert_eq!(
        reasons[1..],
        [
            "price: list price, ap-south-1 price by regional factor",
            "spot: 70% below on-demand assumed",
        ]
    );
    assert!(
        !reasons.iter().any(|r| r.contains("regional factor from")),
        "{reasons:?}"
    );
    // An event queued before the basis existed: no price reasons, whatever its notes say.
    e.price_basis = None;
    assert_eq!(cold_start(&e).unwrap().reasons.len(), 1);
}

#[test]
fn an_account_learns_for_its_first_fourteen_days_and_twenty_cost_events() {
    let kind = baseline(30.0, 1.0, 0.3, &["m5.large"]);
    let e = event(0.9, "m5.large", "us-east-1", ALICE);
    let learning = |age: Duration, events: f64| {
        let account = with(kind.clone(), |b| b.moments.count = events);
        let ctx = Context {
            kind: &kind,
            account: &account,
            account_since: Some(now() - age),
            recent_calls_by_actor: 0.0,
        };
        assess(&e, &ctx).is_some_and(|a| {
            a.reasons
                .iter()
                .any(|r| r.contains("threshold for a new account"))
        })
    };
    assert!(learning(Duration::days(14) - Duration::seconds(1), 30.0));
    assert!(!learning(Duration::days(14), 30.0));
    assert!(learning(Duration::days(60), 19.0));
    assert!(!learning(Duration::days(60), 20.0));
}

#[test]
fn zscore_points_grow_four_per_sigma_from_thirty_and_halve_for_a_cost_seen_before() {
    // 40 launches at $2/hr with almost no spread: the deviation is floored at a quarter of
    // the mean ($0.50), so $5/hr is (5 − 2) / 0.5 = 6σ: 30 + 4 × (6 − 3) = 42 points.
    let kind = baseline(40.0, 2.0, 0.01, &["m5.large", "m5.4xlarge"]);
    let e = event(5.0, "m5.4xlarge", "us-east-1", ALICE);
    let a = assess(&e, &mature(&kind, &kind)).unwrap();
    assert_eq!((a.severity, a.score), (Severity::Info, 42.0), "{a:?}");
    assert_eq!(
        a.reasons,
        ["6.0σ above this account's EC2 mean ($5.00/hr vs $2.00/hr)"]
    );
    // The type has cost $3.40/hr before, and $5 is within 1.5 × that: half the points.
    let seen = with(kind.clone(), |b| b.max = Some(3.4));
    let a = assess(&e, &mature(&seen, &seen)).unwrap();
    assert_eq!(a.score, 21.0, "{a:?}");
    assert!(a.reasons[0].ends_with("though it is routine for this actor"));
    // Someone else's launch of the same cost: not their routine, but it has cost as much.
    let other = event(5.0, "m5.4xlarge", "us-east-1", MALLORY);
    let a = assess(&other, &mature(&seen, &seen)).unwrap();
    assert!(
        a.reasons[0].ends_with("though it has cost as much before"),
        "{a:?}"
    );
}

/// Novelty points below the calibrated table's first row ($250 a month at stake), where
/// the points alone decide.
#[test]
fn novelty_points_are_weighted_by_the_hourly_cost() {
    let kind = baseline(40.0, 0.3, 0.1, &["m5.large"]);
    let ctx = mature(&kind, &kind);
    // $0.30/hr weighs 0.6: a new region is 40 × 0.6 = 24 points.
    assert_eq!(
        score(&event(0.3, "m5.large", "ap-southeast-1", ALICE), &ctx),
        24.0
    );
    // …with an actor new to the account, 15 × 0.6 more.
    assert_eq!(
        score(&event(0.3, "m5.large", "ap-southeast-1", MALLORY), &ctx),
        33.0
    );
    // …with an actor the account knows, new to this type, 8 × 0.6 more.
    let account = with(kind.clone(), |b| {
        b.actors.insert(BOB.into());
    });
    let a = assess(
        &event(0.3, "m5.large", "ap-southeast-1", BOB),
        &mature(&kind, &account),
    )
    .unwrap();
    assert_eq!(a.score, 28.8, "{a:?}");
    assert!(a
        .reasons
        .iter()
        .any(|r| r == "first ec2:instance launched by this actor (bob)"));
    // …with an instance type new to the account, 15 × 0.6 more.
    assert_eq!(
        score(&event(0.3, "r6i.large", "ap-southeast-1", ALICE), &ctx),
        33.0
    );
    // At $0.05/hr (weight 0.3) a new region alone is 12 points: nothing worth a finding.
    assert_eq!(
        assess(&event(0.05, "m5.large", "ap-southeast-1", ALICE), &ctx),
        None
    );
}

#[test]
fn the_first_resource_of_a_type_counts_as_new_and_names_the_type() {
    let empty = Baseline::default();
    let account = baseline(40.0, 0.3, 0.1, &["m5.large"]);
    let ctx = Context {
        kind: &empty,
        account: &account,
        account_since: Some(now() - Duration::days(60)),
        recent_calls_by_actor: 0.0,
    };
    // New region 24 + new type 15 × 0.6.
    let a = assess(&event(0.3, "m5.large", "ap-southeast-1", ALICE), &ctx).unwrap();
    assert_eq!(a.score, 33.0, "{a:?}");
    assert!(a
        .reasons
        .iter()
        .any(|r| r == "first ec2:instance in this account"));
    // In an account with no history at all, the novelty named is the instance type.
    let brand_new = Context {
        account: &empty,
        account_since: None,
        ..ctx
    };
    let a = assess(&event(1.0, "m5.large", "us-east-1", ALICE), &brand_new).unwrap();
    assert!(
        a.reasons
            .iter()
            .any(|r| r == "first m5.large in this account"),
        "{a:?}"
    );
    assert!(
        !a.reasons.iter().any(|r| r.contains("ec2:instance")),
        "{a:?}"
    );
}

#[test]
fn a_burst_is_thirty_points_weighted_and_half_for_iac() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let burst = |calls: f64| Context {
        recent_calls_by_actor: calls,
        ..mature(&kind, &kind)
    };
    let e = event(1.0, "m5.large", "us-east-1", ALICE);
    // Three earlier calls make a burst: 30 × 0.9.
    assert_eq!(assess(&e, &burst(2.0)), None);
    assert_eq!(score(&e, &burst(3.0)), 27.0);
    // An IaC apply in a new region: 36 + 30 × 0.5 × 0.9.
    let mut iac = event(1.0, "m5.large", "ap-southeast-1", ALICE);
    iac.actor.source = Source::Iac(IacTool::Terraform);
    assert_eq!(score(&iac, &burst(3.0)), 49.5);
}

#[test]
fn aws_services_scale_by_design_and_are_never_a_burst() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let bursty = Context {
        recent_calls_by_actor: 10.0,
        ..mature(&kind, &kind)
    };
    let mut by_kind = event(1.0, "m5.large", "us-east-1", ALICE);
    by_kind.actor.kind = ActorKind::AwsService;
    assert_eq!(assess(&by_kind, &bursty), None);
    let mut by_source = event(1.0, "m5.large", "us-east-1", ALICE);
    by_source.actor.source = Source::AwsService;
    assert_eq!(assess(&by_source, &bursty), None);
}

#[test]
fn a_launch_that_adds_no_cost_is_never_a_finding_however_novel() {
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let everything_new = Context {
        recent_calls_by_actor: 10.0,
        ..mature(&kind, &kind)
    };
    let free = event(0.0, "r6i.large", "ap-southeast-1", MALLORY);
    assert_eq!(assess(&free, &everything_new), None);
    let mut smaller = event(1.0, "r6i.large", "ap-southeast-1", MALLORY);
    smaller.action = CostAction::Modify;
    smaller.previous_hourly_cost = Some(2.0);
    assert_eq!(assess(&smaller, &everything_new), None);
}

#[test]
fn the_fast_path_starts_above_five_dollars_and_is_critical_above_twenty_five() {
    let kind = baseline(50.0, 2.0, 1.0, &["m5.large", "c5.9xlarge"]);
    let ctx = mature(&kind, &kind);
    let verdict =
        |h: f64| assess(&event(h, "c5.9xlarge", "us-east-1", ALICE), &ctx).map(|a| a.severity);
    // $5/hr is 3σ but within 1.5 × the $5 seen before: 15 points, below info.
    assert_eq!(verdict(5.0), None);
    assert_eq!(verdict(25.0), Some(Severity::Warning));
    assert_eq!(verdict(25.01), Some(Severity::Critical));
}

#[test]
fn a_big_cost_is_routine_only_within_one_and_a_half_times_the_largest_seen_by_a_known_actor_and_type(
) {
    let e = event(12.0, "c5.9xlarge", "us-east-1", ALICE);
    let verdict = |actor_days: i64, sku_days: i64, max: f64| {
        let kind = with(
            baseline_known_for(
                50.0,
                2.0,
                1.0,
                &["m5.large", "c5.9xlarge"],
                actor_days,
                sku_days,
            ),
            |b| b.max = Some(max),
        );
        assess(&e, &mature(&kind, &kind)).map(|a| (a.severity, a.score))
    };
    // Routine: the routine floor (20) or the halved z-score (50 / 2), whichever is more.
    assert_eq!(verdict(7, 7, 8.5), Some((Severity::Info, 25.0)));
    // $12 is more than 1.5 × $7.50: not routine, a warning.
    assert_eq!(verdict(30, 30, 7.5).map(|v| v.0), Some(Severity::Warning));
    // The actor, or the type, known for less than a week: not routine.
    assert_eq!(verdict(6, 30, 8.5).map(|v| v.0), Some(Severity::Warning));
    assert_eq!(verdict(30, 6, 8.5).map(|v| v.0), Some(Severity::Warning));
}

#[test]
fn a_young_accounts_big_launch_gives_its_threshold_reason_once() {
    let empty = Baseline::default();
    let young = Context {
        kind: &empty,
        account: &empty,
        account_since: Some(now() - Duration::days(2)),
        recent_calls_by_actor: 0.0,
    };
    let a = assess(&event(12.0, "c5.9xlarge", "us-east-1", ALICE), &young).unwrap();
    assert_eq!(a.severity, Severity::Warning);
    let thresholds: Vec<&String> = a
        .reasons
        .iter()
        .filter(|r| r.contains("/hr is above"))
        .collect();
    assert_eq!(thresholds.len(), 1, "{:?}", a.reasons);
    assert!(thresholds[0].contains("threshold for a new account"));
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

/// Three independent novelties at once (a never-seen principal, a never-used region, a
/// never-used instance type) on a cost above $5/hr are critical; two are not raised.
/// The calibrated table: a leaked key's GPU launch (principal, region and type all new) is
/// critical from about $1,000 a month at stake, even when each call costs under the fast
/// path's $5/hr; a known principal's is a warning; the same novelties on a small cost are not
/// critical.
#[test]
fn coinciding_novelties_on_the_cost_at_stake_set_the_least_severity() {
    // A baseline wide enough that the z-score says nothing about $5/hr.
    let kind = baseline(40.0, 4.0, 3.0, &["m5.large", "c5.4xlarge"]);
    let ctx = mature(&kind, &kind);
    let leak = event(4.89, "g4dn.12xlarge", "ap-southeast-2", MALLORY);
    let a = assess(&leak, &ctx).unwrap();
    assert_eq!(a.severity, Severity::Critical, "{:?}", a.reasons);
    assert!(
        a.reasons.iter().any(|r| r
            == "$3570 at stake a month with 3 novelties (region, principal, instance type): critical"),
        "{:?}",
        a.reasons
    );
    let known = event(4.89, "g4dn.12xlarge", "ap-southeast-2", ALICE);
    assert_eq!(assess(&known, &ctx).unwrap().severity, Severity::Warning);
    let small = event(0.9, "g4dn.xlarge", "ap-southeast-2", MALLORY);
    assert_eq!(assess(&small, &ctx).unwrap().severity, Severity::Warning);
}

#[test]
fn the_calibrated_table_bands_start_at_250_1000_and_10000_dollars_a_month() {
    use dd0c_scorer::signals::calibrated_severity as table;
    assert_eq!(table(249.99, 3), None);
    assert_eq!(table(250.0, 0), None);
    assert_eq!(table(250.0, 1), Some(Severity::Info));
    assert_eq!(table(250.0, 2), Some(Severity::Warning));
    assert_eq!(table(999.99, 3), Some(Severity::Warning));
    assert_eq!(table(1_000.0, 1), Some(Severity::Warning));
    assert_eq!(table(1_000.0, 2), Some(Severity::Warning));
    assert_eq!(table(1_000.0, 3), Some(Severity::Critical));
    assert_eq!(table(9_999.0, 2), Some(Severity::Warning));
    assert_eq!(table(10_000.0, 1), Some(Severity::Warning));
    assert_eq!(table(10_000.0, 2), Some(Severity::Critical));
    assert_eq!(table(10_000.0, 6), Some(Severity::Critical));
}

/// A multi-terabyte volume by a person in an established account: one novelty (its scale
/// against the average volume; an earlier flagged outlier raised the largest, not the
/// average) on $1,120 a month is a warning. Below ten times the average it is not a novelty.
#[test]
fn a_multi_terabyte_volume_is_a_warning_by_its_scale_against_the_average() {
    let volumes = with(baseline(30.0, 0.03, 0.01, &["gp3"]), |b| {
        b.max = Some(6.0);
    });
    let account = baseline(200.0, 0.5, 0.3, &["gp3", "m5.large"]);
    let big = CostEvent {
        resource_type: "ebs:volume".into(),
        ..event(1.53, "gp3", "us-east-1", ALICE)
    };
    let a = assess(&big, &mature(&volumes, &account)).unwrap();
    assert_eq!(a.severity, Severity::Warning, "{:?}", a.reasons);
    assert!(
        a.reasons
            .iter()
            .any(|r| r.starts_with("51× what a ebs:volume costs on average")),
        "{:?}",
        a.reasons
    );
    let ordinary = CostEvent {
        resource_type: "ebs:volume".into(),
        ..event(0.29, "gp3", "us-east-1", ALICE)
    };
    assert!(assess(&ordinary, &mature(&volumes, &account)).is_none());
}

/// A nightly job's role that picks another type, or runs more instances, stays routine up to
/// three times the largest cost of its type; a person's new type does not; and the same role
/// launching far more (a GPU fleet) is not routine.
#[test]
fn established_automation_is_routine_whatever_type_it_picks_within_three_times_the_largest() {
    const JOB: &str = "arn:aws:sts::111111111111:assumed-role/batch-runner/nightly-7f3a";
    const JOB_ROLE: &str = "arn:aws:iam::111111111111:role/batch-runner";
    // 60 launches, the largest $3.40/hr; `actors` known to the type for 30 days.
    let known_to_type = |actors: &[&str]| {
        let mut item = Item::new();
        let long_ago = AttrValue::S(time_key(&(now() - Duration::days(30))));
        item.insert("count".into(), AttrValue::N(60.0));
        item.insert("sum".into(), AttrValue::N(90.0));
        item.insert("sum_sq".into(), AttrValue::N(59.0 + 60.0 * 1.5 * 1.5));
        item.insert("max".into(), AttrValue::N(3.4));
        item.insert(
            "actors".into(),
            AttrValue::string_set(actors.iter().copied()),
        );
        item.insert("regions".into(), AttrValue::string_set(["us-east-1"]));
        item.insert("skus".into(), AttrValue::string_set(["c5.4xlarge"]));
        item.insert("first_seen".into(), long_ago.clone());
        item.insert(first_seen_attribute("sku", "c5.4xlarge"), long_ago.clone());
        for a in actors {
            item.insert(first_seen_attribute("actor", a), long_ago.clone());
        }
        Baseline::from_item(Some(item))
    };
    let kind = known_to_type(&[ALICE, JOB_ROLE]);
    let job = |hourly: f64, sku: &str| CostEvent {
        actor: Actor {
            arn: JOB.into(),
            name: "batch-runner".into(),
            kind: ActorKind::AssumedRole,
            source: Source::Sdk,
            ..console_user()
        },
        ..event(hourly, sku, "us-east-1", JOB)
    };
    let new_type = assess(&job(7.65, "c5.9xlarge"), &mature(&kind, &kind));
    assert!(
        new_type
            .as_ref()
            .is_none_or(|a| a.severity < Severity::Warning),
        "{new_type:?}"
    );
    let person = CostEvent {
        sku: Some("c5.9xlarge".into()),
        ..event(7.65, "c5.9xlarge", "us-east-1", ALICE)
    };
    assert!(assess(&person, &mature(&kind, &kind)).unwrap().severity >= Severity::Warning);
    let gpus = assess(&job(24.48, "p3.16xlarge"), &mature(&kind, &kind)).unwrap();
    assert!(gpus.severity >= Severity::Warning, "{gpus:?}");
    // A person federated into a role (a session named by e-mail) is no automation: the same
    // new type at the same cost is not routine for them, though the role is known.
    const PERSON: &str = "arn:aws:sts::111111111111:assumed-role/batch-runner/bob@example.com";
    let person_in_role = CostEvent {
        actor: Actor {
            arn: PERSON.into(),
            name: "bob@example.com".into(),
            kind: ActorKind::AssumedRole,
            source: Source::Sdk,
            ..console_user()
        },
        ..event(7.65, "c5.9xlarge", "us-east-1", PERSON)
    };
    let known = known_to_type(&[ALICE, JOB_ROLE, PERSON]);
    let a = assess(&person_in_role, &mature(&known, &known)).unwrap();
    assert!(a.severity >= Severity::Warning, "{a:?}");
}

/// Terraform applies many resources at once: its burst is no novelty for the table, so its
/// first database in a plan of five calls is not a warning.
#[test]
fn an_iac_burst_is_not_a_novelty() {
    let account = baseline(200.0, 0.5, 0.3, &["m5.large"]);
    let empty = Baseline::default();
    let terraform = CostEvent {
        resource_type: "rds:db".into(),
        actor: actor(ALICE, Source::Iac(IacTool::Terraform)),
        ..event(0.21, "db.m6i.large", "us-east-1", ALICE)
    };
    let ctx = Context {
        recent_calls_by_actor: 4.0,
        ..mature(&empty, &account)
    };
    let a = assess(&terraform, &ctx);
    assert!(
        a.as_ref().is_none_or(|a| a.severity < Severity::Warning),
        "{a:?}"
    );
    let by_hand = CostEvent {
        actor: actor(ALICE, Source::Cli),
        ..terraform.clone()
    };
    assert_eq!(assess(&by_hand, &ctx).unwrap().severity, Severity::Warning);
}

/// A launch outside IaC where the account's launches are IaC scores higher and says so; an
/// IaC launch, or the same launch in an account IaC does not run, does not.
#[test]
fn a_launch_outside_iac_in_an_iac_run_account_scores_higher_and_says_why() {
    let kind = baseline(40.0, 1.0, 0.3, &["m5.large"]);
    let iac_run = with(baseline(40.0, 1.0, 0.3, &["m5.large"]), |b| {
        b.iac_count = 36.0
    });
    let mixed = with(baseline(40.0, 1.0, 0.3, &["m5.large"]), |b| {
        b.iac_count = 20.0
    });
    // A type new to the account (a few points of its own), by the CLI or by Terraform.
    let console = event(1.2, "m5.xlarge", "us-east-1", ALICE);
    let by_iac = CostEvent {
        actor: actor(ALICE, Source::Iac(IacTool::Terraform)),
        ..event(1.2, "m5.xlarge", "us-east-1", ALICE)
    };
    let outside = assess(&console, &mature(&kind, &iac_run)).unwrap();
    assert!(
        outside
            .reasons
            .iter()
            .any(|r| r == "made outside IaC (CLI) where 90% of this account's launches are IaC"),
        "{:?}",
        outside.reasons
    );
    assert!(score(&console, &mature(&kind, &iac_run)) > score(&console, &mature(&kind, &mixed)));
    assert_eq!(
        score(&by_iac, &mature(&kind, &iac_run)),
        score(&by_iac, &mature(&kind, &mixed))
    );
}

/// An account baseline first seen `account_minutes` ago, whose known values (actor, region)
/// were first seen the given minutes ago: for the burst-window rules.
fn account_seen(account_minutes: i64, seen: &[(&str, &str, i64)]) -> Baseline {
    let mut item = Item::new();
    let ago = |m: i64| AttrValue::S(time_key(&(now() - Duration::minutes(m))));
    item.insert("count".into(), AttrValue::N(40.0));
    item.insert("sum".into(), AttrValue::N(40.0));
    item.insert("sum_sq".into(), AttrValue::N(40.0 + 39.0 * 0.09));
    item.insert("first_seen".into(), ago(account_minutes));
    for kind in ["actor", "region", "sku"] {
        let values: Vec<&str> = seen
            .iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, v, _)| *v)
            .collect();
        let set = match kind {
            "actor" => "actors",
            "region" => "regions",
            _ => "skus",
        };
        item.insert(set.into(), AttrValue::string_set(values.iter().copied()));
    }
    for (kind, value, minutes) in seen {
        item.insert(first_seen_attribute(kind, value), ago(*minutes));
    }
    Baseline::from_item(Some(item))
}

fn reasons_of(e: &CostEvent, ctx: &Context<'_>) -> Vec<String> {
    assess(e, ctx).map(|a| a.reasons).unwrap_or_default()
}

/// The burst window is 20 minutes: a principal that arrived 15 minutes ago still carries its
/// region as new, one that arrived 20 minutes ago does not; a known principal never does, and
/// neither does an account's first principal.
#[test]
fn a_new_principals_novelties_last_exactly_its_burst_window() {
    let news = |r: &Vec<String>| r.iter().any(|x| x.starts_with("new region"));
    let seen = |mallory: i64| {
        account_seen(
            43_200,
            &[
                ("actor", ALICE, 43_200),
                ("actor", MALLORY, mallory),
                ("region", "us-east-1", 43_200),
                ("region", "ap-southeast-2", mallory),
                ("sku", "m5.large", 43_200),
                ("sku", "g5.12xlarge", mallory),
            ],
        )
    };
    let leak = event(5.672, "g5.12xlarge", "ap-southeast-2", MALLORY);
    let fifteen = seen(15);
    assert!(news(&reasons_of(&leak, &mature(&fifteen, &fifteen))));
    let first = reasons_of(&leak, &mature(&fifteen, &fifteen));
    assert!(
        first
            .iter()
            .any(|r| r == "first g5.12xlarge in this account"),
        "{first:?}"
    );
    let twenty = seen(20);
    assert!(!news(&reasons_of(&leak, &mature(&twenty, &twenty))));
    // Alice has been here for a month: a region someone else brought 5 minutes ago is not
    // news when she uses it, nor is its instance type.
    let by_alice = event(5.672, "g5.12xlarge", "ap-southeast-2", ALICE);
    let five = seen(5);
    let alice = reasons_of(&by_alice, &mature(&five, &five));
    assert!(!news(&alice), "{alice:?}");
    assert!(
        !alice.iter().any(|r| r.starts_with("first g5")),
        "{alice:?}"
    );
    // The account itself is 15 minutes older than Mallory: she is its first principal.
    let young = account_seen(
        30,
        &[
            ("actor", MALLORY, 15),
            ("region", "ap-southeast-2", 15),
            ("sku", "g5.12xlarge", 15),
        ],
    );
    assert!(!news(&reasons_of(&leak, &mature(&young, &young))));
}

/// The coincidence rule starts above $5/hr, not at it.
/// Outside IaC adds exactly 15 points × the cost weight (here to a new type's 15 × 0.9).
#[test]
fn outside_iac_adds_fifteen_weighted_points() {
    let kind = baseline(40.0, 0.3, 0.1, &["m5.large"]);
    let iac_run = with(baseline(40.0, 0.3, 0.1, &["m5.large"]), |b| {
        b.iac_count = 36.0
    });
    // Below the calibrated table ($248 a month): new region 24 + new type 9 + outside IaC 9.
    let console = event(0.34, "m5.xlarge", "eu-west-3", ALICE);
    let total = score(&console, &mature(&kind, &iac_run));
    assert!((total - (40.0 + 15.0 + 15.0) * 0.6).abs() < 1e-9, "{total}");
}

#[test]
fn a_finding_is_attributed_to_the_signal_that_brought_the_most_points() {
    let empty = Baseline::default();
    let young = Context {
        kind: &empty,
        account: &empty,
        account_since: Some(now() - Duration::days(2)),
        recent_calls_by_actor: 0.0,
    };
    let e = event(6.0, "m5.large", "us-east-1", ALICE);
    assert_eq!(assess(&e, &young).unwrap().detector, "cold_start");
    let kind = baseline(40.0, 0.5, 0.1, &["m5.large", "m5.4xlarge"]);
    let outlier = event(3.0, "m5.4xlarge", "us-east-1", ALICE);
    assert_eq!(
        assess(&outlier, &mature(&kind, &kind)).unwrap().detector,
        "zscore"
    );
    let kind = baseline(40.0, 1.0, 0.5, &["m5.large"]);
    let away = event(1.0, "m5.large", "ap-southeast-1", ALICE);
    assert_eq!(
        assess(&away, &mature(&kind, &kind)).unwrap().detector,
        "new_region"
    );
    let kind = baseline(50.0, 2.0, 1.0, &["m5.large", "c5.9xlarge"]);
    let big = event(30.0, "c5.9xlarge", "us-east-1", ALICE);
    let a = assess(&big, &mature(&kind, &kind)).unwrap();
    assert_eq!(a.detector, "fast_path", "{a:?}");
    // Every id the scorer gives is one a flag may name.
    for d in ["cold_start", "zscore", "new_region", "fast_path"] {
        assert!(dd0c_shared::detector::COST_SIGNALS.contains(&d));
    }
}
