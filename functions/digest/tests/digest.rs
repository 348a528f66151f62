use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_digest::{digest_blocks, run_digest};
use dd0c_shared::chat::RecordingChat;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::drift::Stack;
use dd0c_shared::domain::{Actor, CostAction, CostEvent, Finding, FindingStatus, Severity};
use dd0c_shared::entity::event::{self, RecordSpend};
use dd0c_shared::entity::finding::{load as load_finding, record as record_finding};
use dd0c_shared::entity::{account_link, finding as finding_entity, governance};
use dd0c_shared::entity::{stack as stack_entity, zombie_scan};
use dd0c_shared::finding_actions::{self, FindingAction};
use dd0c_shared::governance::{store as policy_store, Policy};
use dd0c_shared::pricing::PriceBasis;
use dd0c_shared::slack::blocks::validate_limits;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{AccountLink, AccountStatus};
use dd0c_shared::testing::{active_account, console_user, cost_event, cost_finding};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 9, 0, 0).unwrap()
}

fn actor(name: &str) -> Actor {
    Actor {
        arn: format!("arn:aws:iam::111122223333:user/{name}"),
        name: name.into(),
        ..console_user()
    }
}

async fn cost(
    table: &dyn Table,
    id: &str,
    hours_ago: i64,
    who: &str,
    hourly: f64,
    action: CostAction,
) {
    priced_cost(table, id, hours_ago, who, hourly, action, "2026-07-20").await
}

/// A cost event whose price rests on prices of `as_of`.
async fn priced_cost(
    table: &dyn Table,
    id: &str,
    hours_ago: i64,
    who: &str,
    hourly: f64,
    action: CostAction,
    as_of: &str,
) {
    let t = now() - Duration::hours(hours_ago);
    let e = CostEvent {
        event_time: t,
        resource_ids: vec![format!("i-{id}")],
        sku: Some("m5.large".into()),
        action,
        hourly_cost: Some(hourly),
        actor: actor(who),
        price_basis: Some(PriceBasis {
            label: "list price".into(),
            as_of: Some(as_of.into()),
            caveats: vec![],
        }),
        ..cost_event(id)
    };
    mark_spend(table, &e).await;
}

/// The processed mark the normalizer leaves on the record of `e`, with its spend.
async fn mark_spend(table: &dyn Table, e: &CostEvent) {
    let ttl = (e.event_time + Duration::days(15)).timestamp();
    let spend = RecordSpend::of(std::slice::from_ref(e));
    table
        .update_only(
            &event::cloudtrail_key(&e.tenant_id, &e.account_id, &e.event_time, &e.event_id),
            event::processed_mark(
                &e.event_name,
                "ec2.amazonaws.com",
                "cost_events",
                spend.as_ref(),
                ttl,
            ),
        )
        .await
        .unwrap();
}

fn finding(id: &str, hours_ago: i64, severity: Severity) -> Finding {
    let t = now() - Duration::hours(hours_ago);
    Finding {
        event_time: t,
        created_at: t,
        severity,
        ..cost_finding(id)
    }
}

async fn link(
    table: &dyn Table,
    account: &str,
    connected_days_ago: i64,
    status: AccountStatus,
    changed_hours_ago: i64,
) {
    let l = AccountLink {
        account_id: account.into(),
        status,
        connected_at: now() - Duration::days(connected_days_ago),
        status_changed_at: Some(now() - Duration::hours(changed_hours_ago)),
        ..active_account()
    };
    table
        .put(account_link::item(&l).unwrap(), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn digest_content_and_housekeeping_for_a_seeded_store() {
    let clock = ManualClock::new(now() - Duration::days(2));
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let t = table.as_ref();
    cost(t, "c1", 2, "alice", 10.0, CostAction::Create).await;
    priced_cost(t, "c2", 5, "bob", 2.5, CostAction::Start, "2021-08-03").await;
    // Neither a stop nor an event outside the window adds to the totals, nor ages them.
    priced_cost(t, "c3", 6, "alice", 1.0, CostAction::Stop, "2019").await;
    priced_cost(t, "old", 30, "carol", 99.0, CostAction::Create, "2018").await;
    // Spend in the tenant's other account counts; another tenant's does not.
    let in_account = |account: &str, tenant: &str, id: &str, hourly: f64| CostEvent {
        tenant_id: tenant.into(),
        account_id: account.into(),
        event_time: now() - Duration::hours(1),
        hourly_cost: Some(hourly),
        actor: actor("bob"),
        ..cost_event(id)
    };
    mark_spend(t, &in_account("444455556666", "t1", "c4", 0.5)).await;
    mark_spend(t, &in_account("444455556666", "t2", "c5", 1000.0)).await;
    for (id, h, sev) in [
        ("f-open", 1, Severity::Critical),
        ("f-held", 3, Severity::Info),
        ("f-done", 4, Severity::Warning),
        ("f-snoozed", 10, Severity::Warning),
    ] {
        record_finding(t, &finding(id, h, sev)).await.unwrap();
    }
    finding_entity::record_notification(
        t,
        &finding("f-held", 3, Severity::Info),
        false,
        Some("held for the daily digest (severity info below warning)"),
    )
    .await
    .unwrap();
    let who = finding_actions::Actor {
        user: "U1".into(),
        via: "slack".into(),
    };
    finding_actions::apply(
        t,
        "t1",
        "f-done",
        &FindingAction::Resolve,
        &who,
        now() - Duration::hours(2),
    )
    .await
    .unwrap();
    finding_actions::apply(
        t,
        "t1",
        "f-snoozed",
        &FindingAction::Snooze {
            until: now() - Duration::minutes(5),
        },
        &who,
        now() - Duration::hours(9),
    )
    .await
    .unwrap();
    let mut stack = Stack::new("t1", "payments-prod");
    stack.drift_score = 72.0;
    stack.open_drift.insert("high".into(), 1);
    stack_entity::put_stack(t, &stack, now()).await.unwrap();
    link(t, "111122223333", 20, AccountStatus::Active, 0).await;
    link(t, "444455556666", 3, AccountStatus::Active, 0).await;
    link(t, "777788889999", 40, AccountStatus::Disconnecting, 80).await;
    // The scan the API stored when the account was connected (one region, a day ago).
    let scan = json!({"scanned_at": now() - Duration::hours(26), "region": "us-east-1",
        "zombies": [{"kind": "unattached_volume", "resource_id": "vol-1", "region": "us-east-1",
                     "reason": "500 GB volume attached to nothing", "monthly_usd": 40.0},
                    {"kind": "unassociated_address", "resource_id": "eipalloc-1", "region": "us-east-1",
                     "reason": "Elastic IP 203.0.113.1 is not associated", "monthly_usd": 2.5}],
        "monthly_waste_usd": 42.5});
    t.put(
        zombie_scan::item("t1", "111122223333", &scan).unwrap(),
        None,
    )
    .await
    .unwrap();
    // Data of the disconnecting account, to be purged.
    cost(t, "gone", 1, "dave", 0.0, CostAction::Create).await;
    let purge_marker = governance::account_governance_key("t1", "777788889999");
    t.update(
        &purge_marker,
        dd0c_shared::store::Update::new().set("x", 1.0),
    )
    .await
    .unwrap();

    clock.set(now());
    let chat = RecordingChat::default();
    let run = run_digest(
        t,
        &chat,
        &clock,
        "t1",
        &Policy::system().unwrap(),
        "#digest",
    )
    .await
    .unwrap();
    let d = &run.digest;
    assert!(
        (d.new_hourly_spend - 13.0).abs() < 1e-9,
        "{}",
        d.new_hourly_spend
    );
    assert_eq!(d.cost_events, 5);
    assert_eq!(
        d.top_actors,
        vec![("alice".to_owned(), 10.0), ("bob".to_owned(), 3.0)]
    );
    assert_eq!((d.anomalies_open, d.anomalies_resolved), (3, 1));
    assert_eq!(d.held.len(), 1);
    assert_eq!(d.held[0].0, "f-held");
    assert_eq!(d.stacks.len(), 1);
    assert_eq!(d.stacks[0].stack, "payments-prod");
    assert_eq!(d.zombies, vec![("111122223333".to_owned(), 2, 42.5)]);
    // How old the prices behind the totals are.
    assert_eq!(d.prices_as_of.as_deref(), Some("2021-08-03"));
    assert!(
        digest_blocks(d)
            .to_string()
            .contains("Prices behind these totals: as old as 2021-08-03 (4 years old)"),
        "{}",
        digest_blocks(d)
    );
    // Housekeeping.
    assert_eq!(run.housekeeping.unsnoozed, ["f-snoozed"]);
    assert_eq!(
        load_finding(t, "t1", "f-snoozed")
            .await
            .unwrap()
            .unwrap()
            .status,
        FindingStatus::Open
    );
    assert_eq!(run.housekeeping.promoted, ["111122223333"]);
    assert!(policy_store::account_context(t, "t1", "111122223333")
        .await
        .unwrap()
        .promoted_at
        .is_some());
    assert!(policy_store::account_context(t, "t1", "444455556666")
        .await
        .unwrap()
        .promoted_at
        .is_none());
    assert_eq!(run.housekeeping.purged, ["777788889999"]);
    assert!(t
        .get(&account_link::key("777788889999"))
        .await
        .unwrap()
        .is_none());
    assert!(t.get(&purge_marker).await.unwrap().is_none());
    // Posted, readable, within Slack's limits.
    assert!(run.posted);
    let m = chat.messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].channel, "#digest");
    validate_limits(&m[0].blocks).unwrap();
    let text = m[0].blocks.to_string();
    for needle in [
        "$13.00/hr",
        "3 open · 1 resolved",
        "alice: $10.00/hr",
        "payments-prod: score ",
        "2 idle resource(s) in us-east-1, $42.50/month · 1 region (at connect), scanned ",
        "444455556666: :warning: never scanned",
        "Held (1)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    // A second run the same day promotes nothing again.
    let again = run_digest(
        t,
        &chat,
        &clock,
        "t1",
        &Policy::system().unwrap(),
        "#digest",
    )
    .await
    .unwrap();
    assert!(again.housekeeping.promoted.is_empty() && again.housekeeping.purged.is_empty());
}

#[test]
fn a_huge_digest_stays_within_limits() {
    let d = dd0c_digest::Digest {
        held: (0..5000)
            .map(|i| (format!("f{i}"), "x".repeat(300), "y".repeat(300)))
            .collect(),
        stacks: (0..3000)
            .map(|i| dd0c_digest::StackLine {
                stack: format!("s{i}"),
                drift_score: 1.0,
                open_drift: Default::default(),
            })
            .collect(),
        ..Default::default()
    };
    validate_limits(&digest_blocks(&d)).unwrap();
}

/// What the daily scan stores (`dd0c_shared::accounts::zombie::AccountScan`): `regions` read,
/// one unattached volume in each of `zombie_regions`, `failed` regions unread.
fn daily_scan(
    hours_ago: i64,
    regions: &[&str],
    zombie_regions: &[(&str, f64)],
    failed: &[&str],
) -> dd0c_shared::accounts::zombie::AccountScan {
    use dd0c_shared::accounts::zombie::*;
    let zombies: Vec<Zombie> = zombie_regions
        .iter()
        .enumerate()
        .map(|(i, (region, usd))| Zombie {
            kind: ZombieKind::UnattachedVolume,
            resource_id: format!("vol-{i}"),
            region: (*region).to_owned(),
            reason: "100 GB volume attached to nothing".into(),
            monthly_usd: Some(*usd),
        })
        .collect();
    AccountScan {
        scanned_at: now() - Duration::hours(hours_ago),
        region: ALL_REGIONS.into(),
        monthly_waste_usd: zombies.iter().filter_map(|z| z.monthly_usd).sum(),
        zombies,
        regions_scanned: regions.iter().map(|r| (*r).to_owned()).collect(),
        regions_not_enabled: vec!["ap-east-1".into()],
        regions_failed: failed
            .iter()
            .map(|r| RegionFailure {
                region: (*r).to_owned(),
                error: "AWS throttled the call: Rate exceeded".into(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn the_zombie_watch_shows_each_accounts_latest_scan_and_the_total_at_stake() {
    let clock = ManualClock::new(now());
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let t = table.as_ref();
    for (account, status) in [
        ("111111111111", AccountStatus::Active),
        ("222222222222", AccountStatus::Active),
        ("333333333333", AccountStatus::Active),
        ("444444444444", AccountStatus::Active),
        ("555555555555", AccountStatus::Disconnecting),
    ] {
        link(t, account, 30, status, 1).await;
    }
    let scans = [
        // This morning: a volume in us-east-1 and one in eu-west-1; us-west-2 throttled.
        (
            "111111111111",
            daily_scan(
                3,
                &["us-east-1", "eu-west-1"],
                &[("us-east-1", 8.0), ("eu-west-1", 8.8)],
                &["us-west-2"],
            ),
        ),
        // Clean.
        ("222222222222", daily_scan(5, &["us-east-1"], &[], &[])),
        // Three days old: stale.
        (
            "333333333333",
            daily_scan(72, &["us-east-1"], &[("us-east-1", 40.0)], &[]),
        ),
        // Being disconnected: left out.
        (
            "555555555555",
            daily_scan(3, &["us-east-1"], &[("us-east-1", 99.0)], &[]),
        ),
    ];
    for (account, scan) in &scans {
        t.put(zombie_scan::item("t1", account, scan).unwrap(), None)
            .await
            .unwrap();
    }

    let d = dd0c_digest::build_digest(t, "t1", now()).await.unwrap();
    let lines: Vec<(&str, usize, bool, Option<DateTime<Utc>>)> = d
        .zombie_watch
        .iter()
        .map(|l| (l.account.as_str(), l.zombies, l.stale, l.scanned_at))
        .collect();
    assert_eq!(
        lines,
        [
            ("111111111111", 2, false, Some(now() - Duration::hours(3))),
            ("222222222222", 0, false, Some(now() - Duration::hours(5))),
            ("333333333333", 1, true, Some(now() - Duration::hours(72))),
            ("444444444444", 0, false, None),
        ]
    );
    assert_eq!(d.zombie_watch[0].regions_failed, ["us-west-2"]);
    assert!((d.zombie_monthly_usd - (8.0 + 8.8 + 40.0)).abs() < 1e-9);

    let blocks = digest_blocks(&d);
    validate_limits(&blocks).unwrap();
    let text = blocks.to_string();
    for needle in [
        "*Zombie watch*: 3 idle resource(s), $56.80/month at stake",
        "111111111111: 2 idle resource(s) in us-east-1, eu-west-1, $16.80/month · 2 region(s), scanned 2026-03-20 06:00 UTC · could not read us-west-2",
        "222222222222: nothing idle · 1 region(s), scanned 2026-03-20 04:00 UTC",
        "333333333333: 1 idle resource(s) in us-east-1, $40.00/month · 1 region(s), scanned 2026-03-17 09:00 UTC :warning: stale: 3 day(s) old",
        "444444444444: :warning: never scanned",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert!(!text.contains("555555555555"), "{text}");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/slack/digest_zombie_watch.json");
    // The goldens' shape (`tests/fixtures/slack`): a message's `blocks`.
    let mut pretty = serde_json::to_string_pretty(&json!({ "blocks": blocks })).unwrap();
    pretty.push('\n');
    dd0c_shared::testing::golden::check(&golden, &pretty);
}
