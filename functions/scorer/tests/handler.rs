//! The scorer handler end to end on the embedded table and bus: baselines folded once per
//! event (redeliveries included), scored against the baseline before the event, findings
//! published once, feedback read back.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_scorer::baseline::{Baseline, COUNT, MAX, SUM, SUM_SQ};
use dd0c_scorer::{feedback, Scorer};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::bus::QueueBus;
use dd0c_shared::bus::RoutingTable;
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::domain::{Actor, ActorKind, CostAction, CostEvent, Severity, Source};
use dd0c_shared::entity::{baseline, finding};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{
    AttrValue, Condition, Item, Key, Page, Query, StoreError, Table, TransactWrite, Update,
};
use dd0c_shared::testing::{console_user, cost_event};

const ACCOUNT: &str = "222222222222";
const BOB: &str = "arn:aws:iam::222222222222:user/bob";

struct World {
    clock: ManualClock,
    table: Arc<MemoryTable>,
    queue: Arc<MemoryQueue>,
    scorer: Scorer,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn world() -> World {
    let clock = ManualClock::new(start());
    let shared: SharedClock = Arc::new(clock.clone());
    let routing = RoutingTable::builtin().clone();
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        shared.clone(),
    ));
    let bus = Arc::new(QueueBus::new(routing, queue.clone(), shared.clone()));
    let table = Arc::new(MemoryTable::new(shared.clone()));
    let scorer = Scorer::new(table.clone(), bus, shared);
    World {
        clock,
        table,
        queue,
        scorer,
    }
}

fn event(id: &str, at: DateTime<Utc>, hourly: f64, sku: &str, region: &str) -> CostEvent {
    CostEvent {
        tenant_id: "t".into(),
        account_id: ACCOUNT.into(),
        region: region.into(),
        event_time: at,
        resource_ids: vec![format!("i-{id}")],
        sku: Some(sku.into()),
        hourly_cost: Some(hourly),
        actor: Actor {
            arn: BOB.into(),
            name: "bob".into(),
            source: Source::Cli,
            ..console_user()
        },
        ..cost_event(id)
    }
}

fn envelope(e: &CostEvent) -> String {
    serde_json::json!({
        "version": "0", "id": format!("env-{}", e.event_id), "detail-type": "dd0c.CostEvent",
        "source": "dd0c.normalizer", "account": e.account_id, "time": "", "region": e.region,
        "resources": [], "detail": e,
    })
    .to_string()
}

/// The ec2:instance baseline's key, the one the tests' events count in.
fn kind_key() -> Key {
    baseline::key("t", ACCOUNT, "ec2", "ec2:instance")
}

async fn kind_baseline(w: &World) -> Baseline {
    Baseline::load(w.table.as_ref(), &kind_key()).await.unwrap()
}

/// The item stored under `key`, which must exist.
async fn stored(w: &World, key: &Key) -> Item {
    w.table.get(key).await.unwrap().expect("stored")
}

#[tokio::test]
async fn a_redelivered_event_counts_once_and_publishes_once() {
    let w = world();
    let e = event("e1", start(), 30.0, "p4d.24xlarge", "us-east-1");
    w.scorer.handle(&envelope(&e)).await.unwrap();
    w.scorer.handle(&envelope(&e)).await.unwrap();
    let b = kind_baseline(&w).await;
    assert_eq!(b.moments.count, 1.0);
    assert_eq!(b.moments.sum, 30.0);
    assert_eq!(b.max, Some(30.0));
    assert!(b.skus.contains("p4d.24xlarge"));
    let account = Baseline::load(w.table.as_ref(), &baseline::account_key("t", ACCOUNT))
        .await
        .unwrap();
    assert_eq!(account.moments.count, 1.0);
    assert!(account.regions.contains("us-east-1"));
    let findings = finding::all(w.table.as_ref(), "t").await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Critical);
    assert_eq!(w.queue.peek_all("alerts").len(), 1);
}

/// The headline names the price in a few words; the full provenance rides in the details.
#[tokio::test]
async fn the_finding_carries_the_price_provenance_in_its_details() {
    let w = world();
    let est = dd0c_shared::pricing::rds_instance("db.r6i.16xlarge", "postgres", "ap-south-1", true);
    let e = CostEvent {
        service: "rds".into(),
        resource_type: "rds:db".into(),
        pricing_notes: est.reasons.clone(),
        price_basis: Some(est.basis.clone()),
        ..event(
            "e1",
            start(),
            est.hourly_usd.unwrap(),
            "db.r6i.16xlarge",
            "ap-south-1",
        )
    };
    w.scorer.handle(&envelope(&e)).await.unwrap();
    let findings = finding::all(w.table.as_ref(), "t").await.unwrap();
    let f = &findings[0];
    assert!(
        f.reasons.contains(
            &"price: estimated from db.r6g.16xlarge, ap-south-1 price by regional factor"
                .to_owned()
        ),
        "{:?}",
        f.reasons
    );
    assert!(
        !f.reasons.iter().any(|r| r.contains("regional factor from")
            || r.contains("is not in the")
            || r.contains("Multi-AZ")),
        "{:?}",
        f.reasons
    );
    let pricing = &f.details["pricing"];
    assert_eq!(
        pricing["basis"],
        "estimated from db.r6g.16xlarge, ap-south-1 price by regional factor"
    );
    assert_eq!(pricing["as_of"], "2021-08-03");
    let notes = pricing["notes"].as_array().unwrap();
    assert_eq!(notes.len(), est.reasons.len());
    assert!(notes.iter().any(|n| n
        .as_str()
        .unwrap()
        .contains("regional factor from m5.large")));
}

#[tokio::test]
async fn max_only_rises() {
    let w = world();
    for (i, h) in [2.0, 9.0, 4.0].into_iter().enumerate() {
        let e = event(
            &format!("m{i}"),
            start() + Duration::minutes(i as i64 * 60),
            h,
            "m5.large",
            "us-east-1",
        );
        w.scorer.process(&e).await.unwrap();
    }
    let item = stored(&w, &baseline::tally_key(&kind_key())).await;
    assert_eq!(item.get(MAX), Some(&AttrValue::N(9.0)));
    assert_eq!(kind_baseline(&w).await.moments.count, 3.0);
}

/// The table, counting the updates that would set the max.
struct MaxWrites {
    inner: Arc<MemoryTable>,
    count: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl Table for MaxWrites {
    async fn put(&self, item: Item, c: Option<Condition>) -> Result<(), StoreError> {
        self.inner.put(item, c).await
    }
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        if update.set.iter().any(|(name, _)| name == MAX) {
            self.count
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.update(key, update).await
    }
    async fn delete(&self, key: &Key, c: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, c).await
    }
    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn transact_write(&self, w: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.inner.transact_write(w).await
    }
}

#[tokio::test]
async fn the_max_is_written_only_when_an_event_raises_it() {
    let w = world();
    let table = Arc::new(MaxWrites {
        inner: w.table.clone(),
        count: Default::default(),
    });
    let shared: SharedClock = Arc::new(w.clock.clone());
    let routing = RoutingTable::builtin().clone();
    let bus = Arc::new(QueueBus::new(routing, w.queue.clone(), shared.clone()));
    let scorer = Scorer::new(table.clone(), bus, shared);
    let mut writes = Vec::new();
    for (i, h) in [2.0, 9.0, 4.0, 9.0].into_iter().enumerate() {
        let e = event(
            &format!("m{i}"),
            start() + Duration::minutes(i as i64 * 60),
            h,
            "m5.large",
            "us-east-1",
        );
        scorer.process(&e).await.unwrap();
        writes.push(table.count.load(std::sync::atomic::Ordering::Relaxed));
    }
    // The first and the raise write it; an event at or below the max read before it does not
    // (its conditional write would fail, and be billed all the same).
    assert_eq!(writes, [1, 2, 2, 2]);
    let item = stored(&w, &baseline::tally_key(&kind_key())).await;
    assert_eq!(item.get(MAX), Some(&AttrValue::N(9.0)));
}

/// A fold writes the baseline item (its sets and first-seen times) only when the event brings
/// something new to it; the counts go to the small tally every time.
#[tokio::test]
async fn an_event_with_nothing_new_counts_in_the_tally_and_leaves_the_baseline_item() {
    let w = world();
    let key = kind_key();
    let first = event("n1", start(), 2.0, "m5.large", "us-east-1");
    w.scorer.process(&first).await.unwrap();
    let after_first = stored(&w, &key).await;
    assert!(!after_first.contains_key(COUNT), "counts are in the tally");
    let again = event(
        "n2",
        start() + Duration::hours(1),
        3.0,
        "m5.large",
        "us-east-1",
    );
    w.scorer.process(&again).await.unwrap();
    assert_eq!(stored(&w, &key).await, after_first);
    let tally = stored(&w, &baseline::tally_key(&key)).await;
    assert_eq!(tally.get(COUNT), Some(&AttrValue::N(2.0)));
    assert_eq!(tally.get(SUM), Some(&AttrValue::N(5.0)));
    // A new SKU is news to the baseline item: it is written, with the SKU's first-seen time.
    let new_sku = event(
        "n3",
        start() + Duration::hours(2),
        4.0,
        "c5.large",
        "us-east-1",
    );
    w.scorer.process(&new_sku).await.unwrap();
    let b = kind_baseline(&w).await;
    assert!(b.skus.contains("c5.large"));
    assert_eq!(
        b.first_seen_of("sku", "c5.large"),
        Some(start() + Duration::hours(2))
    );
    assert_eq!((b.moments.count, b.moments.sum), (3.0, 9.0));
}

/// A baseline item from before tallies kept its counts: they add to the tally's.
#[tokio::test]
async fn counts_a_baseline_item_kept_from_before_tallies_add_to_its_tally() {
    let w = world();
    let key = kind_key();
    let mut legacy = Item::new();
    legacy.insert("PK".into(), key.pk.clone().into());
    legacy.insert("SK".into(), key.sk.clone().into());
    for (name, value) in [(COUNT, 4.0), (SUM, 8.0), (SUM_SQ, 16.0), (MAX, 7.0)] {
        legacy.insert(name.into(), AttrValue::N(value));
    }
    w.table.put(legacy, None).await.unwrap();
    let e = event("l1", start(), 3.0, "m5.large", "us-east-1");
    w.scorer.process(&e).await.unwrap();
    let b = kind_baseline(&w).await;
    assert_eq!(
        (b.moments.count, b.moments.sum, b.moments.sum_sq),
        (5.0, 11.0, 25.0)
    );
    assert_eq!(b.max, Some(7.0));
}

#[tokio::test]
async fn events_that_stop_cost_fold_nothing_and_find_nothing() {
    let w = world();
    let mut e = event("d1", start(), 50.0, "p4d.24xlarge", "us-east-1");
    e.action = CostAction::Delete;
    w.scorer.handle(&envelope(&e)).await.unwrap();
    assert_eq!(kind_baseline(&w).await, Baseline::default());
    assert!(finding::all(w.table.as_ref(), "t")
        .await
        .unwrap()
        .is_empty());
}

/// Learns 30 days of ordinary m5.large launches, then checks that scoring uses the
/// baseline before the event: a new region is news once, the second launch there is not.
#[tokio::test]
async fn scores_against_the_baseline_before_the_event() {
    let w = world();
    for i in 0..40 {
        let at = start() + Duration::hours(18 * i);
        w.clock.advance_to(at);
        let e = event(
            &format!("n{i}"),
            at,
            0.10 + (i % 3) as f64 * 0.01,
            "m5.large",
            "us-east-1",
        );
        w.scorer.process(&e).await.unwrap();
    }
    let later = start() + Duration::days(40);
    let first = event("far1", later, 1.0, "m5.large", "sa-east-1");
    let f = w
        .scorer
        .process(&first)
        .await
        .unwrap()
        .expect("new region is news");
    assert!(f.reasons.iter().any(|r| r.contains("new region")), "{f:?}");
    let second = event(
        "far2",
        later + Duration::hours(5),
        1.0,
        "m5.large",
        "sa-east-1",
    );
    let f2 = w.scorer.process(&second).await.unwrap();
    assert!(
        f2.as_ref()
            .is_none_or(|f| !f.reasons.iter().any(|r| r.contains("new region"))),
        "{f2:?}"
    );
}

#[tokio::test]
async fn burst_counter_sees_earlier_calls_by_the_same_actor() {
    let w = world();
    for i in 0..40 {
        let at = start() + Duration::hours(18 * i);
        w.scorer
            .process(&event(&format!("n{i}"), at, 0.10, "m5.large", "us-east-1"))
            .await
            .unwrap();
    }
    let t = start() + Duration::days(40);
    let mut last = None;
    for i in 0..5 {
        last = w
            .scorer
            .process(&event(
                &format!("b{i}"),
                t + Duration::minutes(i),
                0.6,
                "m5.large",
                "us-east-1",
            ))
            .await
            .unwrap();
    }
    let f = last.expect("the fifth call in minutes is a burst");
    assert!(
        f.reasons
            .iter()
            .any(|r| r.contains("cost-creating calls by this actor")),
        "{f:?}"
    );
}

#[tokio::test]
async fn mark_expected_lowers_later_scores() {
    let w = world();
    let first = event("x1", start(), 30.0, "p4d.24xlarge", "us-east-1");
    let before = w.scorer.score(&first).await.unwrap().unwrap();
    feedback::mark_expected(
        w.table.as_ref(),
        "t",
        ACCOUNT,
        "ec2",
        "ec2:instance",
        BOB,
        Some("p4d.24xlarge"),
    )
    .await
    .unwrap();
    let b = kind_baseline(&w).await;
    assert!(b.expected_actors.contains(BOB) && b.expected_types.contains("p4d.24xlarge"));
    let after = w.scorer.score(&first).await.unwrap().unwrap();
    assert!(
        after.score < before.score,
        "{} → {}",
        before.score,
        after.score
    );
    assert!(after.severity < before.severity);
}

/// The Slack button and the dashboard go through `finding_actions::apply`: marking a finding
/// expected there must teach the same baseline the scorer reads.
#[tokio::test]
async fn marking_a_finding_expected_teaches_its_baseline() {
    use dd0c_shared::finding_actions::{apply, Actor as Who, FindingAction};
    let w = world();
    let first = event("x1", start(), 30.0, "p4d.24xlarge", "us-east-1");
    let finding = w.scorer.process(&first).await.unwrap().expect("a finding");
    let later = event(
        "x2",
        start() + Duration::minutes(5),
        30.0,
        "p4d.24xlarge",
        "us-east-1",
    );
    let before = w.scorer.score(&later).await.unwrap().expect("scored");

    let who = Who {
        user: "U123".into(),
        via: "slack".into(),
    };
    apply(
        w.table.as_ref(),
        "t",
        &finding.id,
        &FindingAction::MarkExpected,
        &who,
        start() + Duration::minutes(1),
    )
    .await
    .unwrap();
    let b = kind_baseline(&w).await;
    assert!(b.expected_actors.contains(BOB), "{:?}", b.expected_actors);
    assert!(b.expected_types.contains("p4d.24xlarge"));
    let after = w.scorer.score(&later).await.unwrap().expect("scored");
    assert!(
        after.score < before.score,
        "{} → {}",
        before.score,
        after.score
    );
}

/// A nightly job assumes its role with a new session name every run: after its first weeks it
/// is routine, not "the first time this actor launched anything" every night — while another
/// role doing the same is still new.
#[tokio::test]
async fn a_nightly_job_with_a_new_session_name_each_run_is_one_actor() {
    let w = world();
    let run = |i: i64, role: &str| {
        let at = start() + Duration::days(i);
        let mut e = event(&format!("{role}-{i}"), at, 8.0, "g5.4xlarge", "us-east-1");
        e.actor = Actor {
            arn: format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/{role}/run-{}",
                1_700_000_000 + i
            ),
            name: format!("{role}/run-{i}"),
            kind: ActorKind::AssumedRole,
            source: Source::Sdk,
            ..console_user()
        };
        e
    };
    for i in 0..30 {
        w.clock.advance_to(start() + Duration::days(i));
        w.scorer.process(&run(i, "nightly-etl")).await.unwrap();
    }
    w.clock.advance_to(start() + Duration::days(30));
    let tonight = w.scorer.process(&run(30, "nightly-etl")).await.unwrap();
    assert!(
        tonight.as_ref().is_none_or(|f| !f
            .reasons
            .iter()
            .any(|r| r.contains("first time this actor"))),
        "{tonight:?}"
    );
    assert!(
        tonight
            .as_ref()
            .is_none_or(|f| f.severity < Severity::Warning),
        "{tonight:?}"
    );
    let unknown = run(30, "unknown-role");
    let stranger = w
        .scorer
        .process(&unknown)
        .await
        .unwrap()
        .expect("a new principal is news");
    assert!(
        stranger
            .reasons
            .iter()
            .any(|r| r.contains("first time this actor")),
        "{stranger:?}"
    );
    // The session stays on the finding as evidence.
    assert!(
        stranger.actor.arn.ends_with("/run-1700000030"),
        "{:?}",
        stranger.actor
    );
}

/// Severity on an established account (40 launches of m5.large over 30 days by bob in
/// us-east-1): what would cost a lot, or several novelties at once, must not come out quiet.
async fn established() -> World {
    let w = world();
    for i in 0..40 {
        let at = start() + Duration::hours(18 * i);
        w.clock.advance_to(at);
        let e = event(&format!("r{i}"), at, 0.096, "m5.large", "us-east-1");
        w.scorer.process(&e).await.unwrap();
    }
    w
}

async fn severity_of(w: &World, e: &CostEvent) -> Option<Severity> {
    w.clock.advance_to(e.event_time);
    w.scorer.process(e).await.unwrap();
    finding::all(w.table.as_ref(), "t")
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.event_id == e.event_id)
        .map(|f| f.severity)
}

/// A never-seen principal launching GPU instances in a never-used region, four calls in eight
/// minutes: every call is critical (the region, the type and the principal it brought stay
/// new for its burst), where only the first was.
#[tokio::test]
async fn a_new_principals_gpu_burst_in_a_new_region_is_critical_throughout() {
    let later = start() + Duration::days(31);
    let w = established().await;
    for i in 0..4 {
        let mut e = event(
            &format!("g{i}"),
            later + Duration::minutes(2 * i),
            5.672,
            "g5.12xlarge",
            "ap-southeast-3",
        );
        e.actor.arn = "arn:aws:sts::222222222222:assumed-role/leaked/x".into();
        assert_eq!(
            severity_of(&w, &e).await,
            Some(Severity::Critical),
            "call {i}"
        );
    }
}

/// A principal the account knows expanding into a new region: the region is news once; its
/// later calls there are scored as before (no escalation for known principals).
#[tokio::test]
async fn a_known_principals_second_call_in_a_new_region_is_not_news_again() {
    let later = start() + Duration::days(31);
    let w = established().await;
    let first = event("k0", later, 5.672, "g5.12xlarge", "ap-southeast-3");
    assert_eq!(severity_of(&w, &first).await, Some(Severity::Critical));
    let second = event(
        "k1",
        later + Duration::minutes(2),
        5.672,
        "g5.12xlarge",
        "ap-southeast-3",
    );
    let f = finding::all(w.table.as_ref(), "t").await.unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(severity_of(&w, &second).await, Some(Severity::Warning));
}

/// The account baseline counts the events IaC tools made, once each (redeliveries included).
#[tokio::test]
async fn iac_made_events_are_counted_once_in_the_account_baseline() {
    let w = world();
    let mut by_iac = event("i1", start(), 1.0, "m5.large", "us-east-1");
    by_iac.actor.source = Source::Iac(dd0c_shared::domain::IacTool::Terraform);
    w.scorer.handle(&envelope(&by_iac)).await.unwrap();
    w.scorer.handle(&envelope(&by_iac)).await.unwrap();
    let by_hand = event("h1", start(), 1.0, "m5.large", "us-east-1");
    w.scorer.handle(&envelope(&by_hand)).await.unwrap();
    let account = Baseline::load(w.table.as_ref(), &baseline::account_key("t", ACCOUNT))
        .await
        .unwrap();
    assert_eq!((account.moments.count, account.iac_count), (2.0, 1.0));
}

/// A cost finding says whether its resource is IaC-managed: what Terraform creates is, what a
/// person creates is not, and a resource drift tracking knows as managed is when started.
#[tokio::test]
async fn a_cost_finding_says_whether_its_resource_is_iac_managed() {
    use dd0c_shared::domain::drift::{ManagedBy, ManagedResource};
    use dd0c_shared::domain::IacTool;
    let w = world();
    // A fresh account: the cold-start thresholds make a $30/hr launch a finding by itself.
    let by_hand = event("hand", start(), 30.0, "p3.16xlarge", "us-east-1");
    let f = w.scorer.score(&by_hand).await.unwrap().expect("a finding");
    assert_eq!(f.details["iac"]["managed"], false);
    assert_eq!(
        f.details["iac"]["summary"],
        "not IaC-managed: created outside IaC via CLI"
    );
    let mut by_terraform = event("tf", start(), 30.0, "p3.16xlarge", "us-east-1");
    by_terraform.actor.source = Source::Iac(IacTool::Terraform);
    let f = w
        .scorer
        .score(&by_terraform)
        .await
        .unwrap()
        .expect("a finding");
    assert_eq!(f.details["iac"]["managed"], true);
    assert_eq!(f.details["iac"]["tool"], "Terraform");
    let mut started = event("start", start(), 30.0, "p3.16xlarge", "us-east-1");
    started.action = CostAction::Start;
    let f = w.scorer.score(&started).await.unwrap().expect("a finding");
    assert_eq!(f.details["iac"]["managed"], false);
    dd0c_shared::entity::resource::put_managed_resource(
        w.table.as_ref(),
        &ManagedResource {
            tenant_id: "t".into(),
            account_id: ACCOUNT.into(),
            resource_type: "ec2:instance".into(),
            resource_id: "i-start".into(),
            managed_by: ManagedBy {
                tool: Some(IacTool::Terraform),
                identity: "arn:aws:iam::222222222222:role/deployer".into(),
                stack: Some("gpu".into()),
            },
            managed_since: start(),
            last_iac_event_id: "e-0".into(),
            last_iac_change_at: start(),
            address: None,
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let f = w.scorer.score(&started).await.unwrap().expect("a finding");
    assert_eq!(f.details["iac"]["managed"], true);
    assert_eq!(f.details["iac"]["stack"], "gpu");
    assert_eq!(
        f.details["iac"]["summary"],
        "managed by Terraform, changed outside it via CLI"
    );
}

/// Issue 12, item 5: an account connected with weeks of CloudTrail history (read by the
/// backfill, which records how far back it goes as the account baseline's `history_since`) is
/// past its learning period from its first hour: a routine launch is not judged by the
/// cold-start thresholds of a new account.
#[tokio::test]
async fn history_before_the_connection_ends_the_learning_period_from_the_first_hour() {
    let w = world();
    let connected = start() + Duration::days(30);
    // Twenty days of bob's routine $6/hr launches, folded before the account was connected.
    for day in 0..20 {
        let at = connected - Duration::days(20) + Duration::days(day);
        w.clock.set(at);
        let e = event(&format!("h{day}"), at, 6.0, "m5.4xlarge", "us-east-1");
        w.scorer.fold_history(&e).await.unwrap();
        let again = event(
            &format!("h{day}b"),
            at + Duration::hours(2),
            6.0,
            "m5.4xlarge",
            "us-east-1",
        );
        w.scorer.fold_history(&again).await.unwrap();
    }
    w.scorer
        .note_history_since("t", ACCOUNT, connected - Duration::days(20))
        .await
        .unwrap();
    let link = dd0c_shared::tenancy::AccountLink {
        account_id: ACCOUNT.into(),
        tenant_id: "t".into(),
        status: dd0c_shared::tenancy::AccountStatus::Active,
        role_arn: None,
        external_id: None,
        remediation_role_arn: None,
        connected_at: connected,
        status_changed_at: None,
    };
    dd0c_shared::tenancy::link_account_if_absent(w.table.as_ref(), &link)
        .await
        .unwrap();

    let first_hour = connected + Duration::minutes(40);
    w.clock.set(first_hour);
    let live = event("live", first_hour, 6.0, "m5.4xlarge", "us-east-1");
    let finding = w.scorer.process(&live).await.unwrap();
    let reasons = finding
        .as_ref()
        .map(|f| f.reasons.clone())
        .unwrap_or_default();
    assert!(
        !reasons.iter().any(|r| r.contains("new account")),
        "judged as a new account: {reasons:?}"
    );
    assert!(
        finding
            .as_ref()
            .is_none_or(|f| f.severity < Severity::Warning),
        "a routine launch after 20 days of history: {finding:?}"
    );

    // Without history the same account is still learning in its first hour.
    let fresh = world();
    fresh.clock.set(first_hour);
    let link = dd0c_shared::tenancy::AccountLink {
        connected_at: first_hour - Duration::hours(1),
        ..link
    };
    dd0c_shared::tenancy::link_account_if_absent(fresh.table.as_ref(), &link)
        .await
        .unwrap();
    let finding = fresh
        .scorer
        .process(&live)
        .await
        .unwrap()
        .expect("a finding");
    assert!(finding.reasons.iter().any(|r| r.contains("new account")));
}

/// The backfill reads history newest first: the first-seen times of what it folds move back
/// to the oldest event, whatever the order, and a redelivered history event counts once.
#[tokio::test]
async fn history_folded_newest_first_keeps_the_oldest_first_seen_and_counts_once() {
    let w = world();
    let newest = start() + Duration::days(40);
    let oldest = start() + Duration::days(1);
    w.clock.set(start() + Duration::days(60));
    let late = event("late", newest, 2.0, "m5.large", "eu-west-1");
    let early = event("early", oldest, 2.0, "m5.large", "eu-west-1");
    assert!(w.scorer.fold_history(&late).await.unwrap());
    assert!(w.scorer.fold_history(&early).await.unwrap());
    assert!(w.scorer.fold_history(&early).await.unwrap());
    let b = kind_baseline(&w).await;
    assert_eq!(b.moments.count, 2.0);
    let key = dd0c_scorer::signals::actor_key(&early);
    assert_eq!(b.first_seen, Some(oldest));
    assert_eq!(b.first_seen_of("actor", &key), Some(oldest));
    assert_eq!(b.first_seen_of("sku", "m5.large"), Some(oldest));
    assert_eq!(b.first_seen_of("region", "eu-west-1"), Some(oldest));
    let account = Baseline::load(w.table.as_ref(), &baseline::account_key("t", ACCOUNT))
        .await
        .unwrap();
    assert_eq!(account.first_seen, Some(oldest));
    // Nothing was scored, recorded or published.
    assert!(finding::all(w.table.as_ref(), "t")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(w.queue.peek_all("alerts").len(), 0);
}

/// The decision log (issue 14, item 3): a finding carries the signals that moved its score,
/// the thresholds, the baseline values they read and the price; an event that made no finding
/// keeps its verdict on its contribution marker.
#[tokio::test]
async fn a_finding_carries_its_decision_log_and_a_quiet_event_keeps_its_verdict() {
    let later = start() + Duration::days(31);
    let w = established().await;
    let mut gpu = event("g0", later, 5.672, "g5.12xlarge", "ap-southeast-3");
    gpu.actor.arn = "arn:aws:sts::222222222222:assumed-role/leaked/x".into();
    assert_eq!(severity_of(&w, &gpu).await, Some(Severity::Critical));
    let f = finding::all(w.table.as_ref(), "t")
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.event_id == "g0")
        .unwrap();
    let log = &f.details["decision"];
    assert_eq!(log["stage"], "scorer");
    assert_eq!(log["severity"], "critical");
    assert_eq!(log["score"].as_f64(), Some(f.score));
    let signals: Vec<&str> = log["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    for expected in ["new_region", "new_actor", "new_sku"] {
        assert!(signals.contains(&expected), "{expected}: {signals:?}");
    }
    let region = log["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "new_region")
        .unwrap();
    assert_eq!(region["effect"], "adds");
    assert!(region["value"].as_f64().unwrap() > 0.0, "{region}");
    assert_eq!(log["thresholds"]["score"]["critical"], 80.0);
    assert_eq!(log["baseline"]["account_cost_events"], 40.0);
    assert_eq!(log["baseline"]["known_regions"], 1);
    assert_eq!(log["baseline"]["type_max_usd_per_hour"], 0.096);
    assert_eq!(log["learning"], false);
    assert!(
        log["verdict"].as_str().unwrap().ends_with("critical"),
        "{log}"
    );
    assert_eq!(log["price"], f.details["pricing"]);

    // bob's routine m5.large: scored, no finding; the marker says why.
    let routine = event(
        "r-late",
        later + Duration::hours(2),
        0.096,
        "m5.large",
        "us-east-1",
    );
    assert_eq!(severity_of(&w, &routine).await, None);
    let kept = baseline::scored_decision(w.table.as_ref(), "t", ACCOUNT, "r-late")
        .await
        .unwrap()
        .expect("scored")
        .expect("its verdict kept");
    assert!(
        kept["verdict"].as_str().unwrap().contains("no finding"),
        "{kept}"
    );
    assert_eq!(kept["routine"], true, "{kept}");
    assert!(
        kept.to_string().len() < 800,
        "the marker stays small: {kept}"
    );
    // The finding's event keeps none on its marker (the finding holds the log).
    assert_eq!(
        baseline::scored_decision(w.table.as_ref(), "t", ACCOUNT, "g0")
            .await
            .unwrap(),
        Some(None)
    );
    assert_eq!(
        baseline::scored_decision(w.table.as_ref(), "t", ACCOUNT, "never")
            .await
            .unwrap(),
        None
    );
}

/// The table, failing every write to one key until told otherwise (a delivery that stops half
/// way through the fold), and counting transactions.
struct StopsAt {
    inner: Arc<MemoryTable>,
    failing: std::sync::Mutex<Option<Key>>,
    transactions: std::sync::atomic::AtomicUsize,
}

impl StopsAt {
    fn fails(&self, key: &Key) -> bool {
        self.failing.lock().unwrap().as_ref() == Some(key)
    }
}

#[async_trait::async_trait]
impl Table for StopsAt {
    async fn put(&self, item: Item, c: Option<Condition>) -> Result<(), StoreError> {
        self.inner.put(item, c).await
    }
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        if self.fails(key) {
            return Err(StoreError::Backend(
                "injected: the delivery stops here".into(),
            ));
        }
        self.inner.update(key, update).await
    }
    async fn delete(&self, key: &Key, c: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, c).await
    }
    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn transact_write(&self, w: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.transactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.transact_write(w).await
    }
}

/// A fold is one conditional write per item, not a transaction (which DynamoDB bills twice):
/// a delivery that stops after the service/type baseline counted the event, and its
/// redelivery, leave every item counting it once, the finding recorded and published once and
/// the marker written.
#[tokio::test]
async fn a_fold_stopped_half_way_and_redelivered_counts_the_event_once_everywhere() {
    let w = world();
    let table = Arc::new(StopsAt {
        inner: w.table.clone(),
        failing: std::sync::Mutex::new(Some(baseline::account_key("t", ACCOUNT))),
        transactions: Default::default(),
    });
    let shared: SharedClock = Arc::new(w.clock.clone());
    let routing = RoutingTable::builtin().clone();
    let bus = Arc::new(QueueBus::new(routing, w.queue.clone(), shared.clone()));
    let scorer = Scorer::new(table.clone(), bus, shared);
    let e = event("e1", start(), 30.0, "p4d.24xlarge", "us-east-1");
    assert!(scorer.handle(&envelope(&e)).await.is_err());
    assert_eq!(kind_baseline(&w).await.moments.count, 1.0);
    let marker = baseline::contribution_key("t", ACCOUNT, "e1");
    assert!(w.table.get(&marker).await.unwrap().is_none());
    assert!(w.queue.peek_all("alerts").is_empty());

    *table.failing.lock().unwrap() = None;
    scorer.handle(&envelope(&e)).await.unwrap();
    scorer.handle(&envelope(&e)).await.unwrap();
    let kind = kind_baseline(&w).await;
    assert_eq!((kind.moments.count, kind.moments.sum), (1.0, 30.0));
    assert_eq!(kind.folded_event.as_deref(), Some("e1"));
    let account = Baseline::load(w.table.as_ref(), &baseline::account_key("t", ACCOUNT))
        .await
        .unwrap();
    assert_eq!(account.moments.count, 1.0);
    let activity = w
        .table
        .query(
            Query::partition(baseline::activity_key("t", ACCOUNT, BOB, 0).pk)
                .begins_with("ACTIVITY#"),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].get("calls"), Some(&AttrValue::N(1.0)));
    assert!(w.table.get(&marker).await.unwrap().is_some());
    assert_eq!(finding::all(w.table.as_ref(), "t").await.unwrap().len(), 1);
    assert_eq!(w.queue.peek_all("alerts").len(), 1);
    assert_eq!(
        table
            .transactions
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// The next event of the account folds normally after one that was redelivered.
#[tokio::test]
async fn consecutive_events_each_count_once_under_redelivery() {
    let w = world();
    for i in 0..3 {
        let e = event(
            &format!("c{i}"),
            start() + Duration::minutes(i * 10),
            0.1,
            "m5.large",
            "us-east-1",
        );
        w.scorer.handle(&envelope(&e)).await.unwrap();
        w.scorer.handle(&envelope(&e)).await.unwrap();
    }
    assert_eq!(kind_baseline(&w).await.moments.count, 3.0);
}

/// The table, failing every `every`-th write after applying it (the answer lost: a throttle
/// after the write), and every `every + 1`-th before.
struct LosesAnswers {
    inner: Arc<MemoryTable>,
    every: usize,
    writes: std::sync::atomic::AtomicUsize,
}

impl LosesAnswers {
    /// `Some(true)`: fail after the write; `Some(false)`: fail before it.
    fn fault(&self) -> Option<bool> {
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if n.is_multiple_of(self.every) {
            Some(true)
        } else if n.is_multiple_of(self.every + 1) {
            Some(false)
        } else {
            None
        }
    }
}

fn lost() -> StoreError {
    StoreError::Backend("injected: the answer was lost".into())
}

#[async_trait::async_trait]
impl Table for LosesAnswers {
    async fn put(&self, item: Item, c: Option<Condition>) -> Result<(), StoreError> {
        match self.fault() {
            Some(false) => Err(lost()),
            Some(true) => {
                self.inner.put(item, c).await?;
                Err(lost())
            }
            None => self.inner.put(item, c).await,
        }
    }
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        match self.fault() {
            Some(false) => Err(lost()),
            Some(true) => {
                self.inner.update(key, update).await?;
                Err(lost())
            }
            None => self.inner.update(key, update).await,
        }
    }
    async fn delete(&self, key: &Key, c: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, c).await
    }
    async fn query(&self, q: Query) -> Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn transact_write(&self, w: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.inner.transact_write(w).await
    }
}

/// Everything the scorer keeps for the account, but the fold's own bookkeeping and the
/// markers' decisions (a delivery that finishes another's fold has none to keep).
async fn kept(table: &MemoryTable) -> Vec<Item> {
    let partition = baseline::contribution_key("t", ACCOUNT, "x").pk;
    let mut items = dd0c_shared::store::query_all(table, Query::partition(partition))
        .await
        .unwrap();
    for item in &mut items {
        item.remove(dd0c_scorer::baseline::FOLDED_EVENT);
        item.remove(baseline::DECISION_ATTRIBUTE);
    }
    items
}

async fn scored_findings(table: &MemoryTable) -> Vec<(String, f64)> {
    finding::all(table, "t")
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.id, f.score))
        .collect()
}

/// Events redelivered until handled (as an account's FIFO group is) through a table that
/// fails writes before and after applying them leave the same baselines, activity, markers
/// and findings as a run without faults: each write of a fold counts its event once.
#[tokio::test]
async fn lost_answers_and_redeliveries_leave_what_a_run_without_faults_leaves() {
    let events: Vec<CostEvent> = (0..40)
        .map(|i| {
            let (hourly, sku) = if i % 9 == 8 {
                (32.0, "p4d.24xlarge")
            } else {
                (0.1 + (i % 4) as f64 * 0.05, "m5.large")
            };
            event(
                &format!("r{i}"),
                start() + Duration::minutes(i * 7),
                hourly,
                sku,
                if i % 5 == 4 { "eu-west-1" } else { "us-east-1" },
            )
        })
        .collect();
    let clean = world();
    for e in &events {
        clean.scorer.handle(&envelope(e)).await.unwrap();
    }

    // Each pattern lands the faults on other writes of the folds.
    for every in [3, 4, 5, 7] {
        let w = world();
        let table = Arc::new(LosesAnswers {
            inner: w.table.clone(),
            every,
            writes: Default::default(),
        });
        let shared: SharedClock = Arc::new(w.clock.clone());
        let routing = RoutingTable::builtin().clone();
        let bus = Arc::new(QueueBus::new(routing, w.queue.clone(), shared.clone()));
        let scorer = Scorer::new(table.clone(), bus, shared);
        let mut redeliveries = 0;
        for e in &events {
            while scorer.handle(&envelope(e)).await.is_err() {
                redeliveries += 1;
                assert!(redeliveries < 1000, "never handled");
            }
        }
        assert!(redeliveries > 20, "{redeliveries} redeliveries");
        assert_eq!(kept(&w.table).await, kept(&clean.table).await);
        let found = scored_findings(&clean.table).await;
        assert!(!found.is_empty());
        assert_eq!(scored_findings(&w.table).await, found);
    }
}

/// The backfill folds history beside the live events, in no order with them: a history event
/// folded between a live event's stopped delivery and its redelivery does not make the live
/// event count twice.
#[tokio::test]
async fn a_history_fold_between_a_stopped_delivery_and_its_redelivery_counts_each_once() {
    let w = world();
    let table = Arc::new(StopsAt {
        inner: w.table.clone(),
        failing: std::sync::Mutex::new(Some(baseline::account_key("t", ACCOUNT))),
        transactions: Default::default(),
    });
    let shared: SharedClock = Arc::new(w.clock.clone());
    let routing = RoutingTable::builtin().clone();
    let bus = Arc::new(QueueBus::new(routing, w.queue.clone(), shared.clone()));
    let scorer = Scorer::new(table.clone(), bus, shared);
    let live = event("live", start(), 0.2, "m5.large", "us-east-1");
    assert!(scorer.handle(&envelope(&live)).await.is_err());
    *table.failing.lock().unwrap() = None;
    let history = event(
        "old",
        start() - Duration::days(3),
        0.1,
        "m5.large",
        "us-east-1",
    );
    assert!(scorer.fold_history(&history).await.unwrap());
    scorer.handle(&envelope(&live)).await.unwrap();
    let kind = kind_baseline(&w).await;
    assert_eq!(kind.moments.count, 2.0);
    assert!((kind.moments.sum - 0.3).abs() < 1e-9);
    let account = Baseline::load(w.table.as_ref(), &baseline::account_key("t", ACCOUNT))
        .await
        .unwrap();
    assert_eq!(account.moments.count, 2.0);
}
