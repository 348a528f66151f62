//! Baselines from day 0 (issue 12, item 5): the backfill of a newly connected account on the
//! embedded table and queues, against the scripted accounts port (LookupEvents paging with
//! small pages, throttling, a region the account has not enabled). The real SDK adapter is
//! exercised in `tests/tests/accounts_moto.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_normalizer::backfill::{start_event, Pause};
use dd0c_normalizer::{Backfill, BackfillLimits, NormalizerConfig};
use dd0c_scorer::baseline::Baseline;
use dd0c_shared::accounts::fake::{ScriptedAccount, ScriptedAccounts};
use dd0c_shared::accounts::COMMERCIAL_REGIONS;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, QueueBus, RoutingTable};
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::entity::backfill::{self as progress, BackfillProgress, BackfillStatus};
use dd0c_shared::entity::{baseline, finding};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::Queue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};
use serde_json::json;

const TENANT: &str = "t-1";
const ACCOUNT: &str = "111122223333";
const ROLE: &str = "arn:aws:iam::111122223333:role/dd0c-readonly";
const EXTERNAL_ID: &str = "ext-1";

fn connected() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// A RunInstances record as LookupEvents returns it (`CloudTrailEvent`).
fn launch(id: &str, at: DateTime<Utc>, region: &str, instance_type: &str) -> String {
    json!({
        "eventVersion": "1.08",
        "eventID": id,
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": region,
        "recipientAccountId": ACCOUNT,
        "sourceIPAddress": "203.0.113.5",
        "userAgent": "aws-cli/2.15.0",
        "readOnly": false,
        "managementEvent": true,
        "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"),
                          "userName": "alice", "accountId": ACCOUNT},
        "requestParameters": {"instanceType": instance_type,
                              "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]}},
        "responseElements": {"instancesSet": {"items": [
            {"instanceId": format!("i-{id}"), "instanceType": instance_type}]}}
    })
    .to_string()
}

fn describe(id: &str, at: DateTime<Utc>) -> String {
    json!({
        "eventVersion": "1.08", "eventID": id,
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
        "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "readOnly": true,
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"),
                          "accountId": ACCOUNT}
    })
    .to_string()
}

/// The pause advances the test's clock (and remembers how long each was).
struct ClockPause {
    clock: ManualClock,
    pauses: Mutex<Vec<Duration>>,
}

#[async_trait]
impl Pause for ClockPause {
    async fn pause(&self, duration: Duration) {
        self.pauses.lock().unwrap().push(duration);
        self.clock.advance(duration);
    }
}

struct World {
    clock: ManualClock,
    table: Arc<MemoryTable>,
    queue: Arc<MemoryQueue>,
    bus: Arc<QueueBus>,
    accounts: Arc<ScriptedAccounts>,
    pause: Arc<ClockPause>,
    backfill: Backfill,
}

/// Seven launches in us-east-1 over 80 days, two in eu-west-1, a read-only call, one launch
/// older than the window and one after the connection (the live pipeline's); ap-east-1 is not
/// enabled. Pages of 3.
fn history() -> Vec<String> {
    let c = connected();
    let mut trail: Vec<String> = (0..7)
        .map(|i| {
            launch(
                &format!("use1-{i}"),
                c - Duration::days(80) + Duration::days(i * 12),
                "us-east-1",
                "m5.large",
            )
        })
        .collect();
    trail.push(launch(
        "euw1-0",
        c - Duration::days(30),
        "eu-west-1",
        "m5.large",
    ));
    trail.push(launch(
        "euw1-1",
        c - Duration::days(3),
        "eu-west-1",
        "m5.large",
    ));
    trail.push(describe("read-0", c - Duration::days(2)));
    trail.push(launch(
        "too-old",
        c - Duration::days(95),
        "us-east-1",
        "m5.large",
    ));
    trail.push(launch(
        "live",
        c + Duration::minutes(5),
        "us-east-1",
        "m5.large",
    ));
    trail
}

fn world_with(limits: BackfillLimits) -> World {
    let clock = ManualClock::new(connected() + Duration::seconds(1));
    let shared: SharedClock = Arc::new(clock.clone());
    let routing = RoutingTable::builtin().clone();
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        shared.clone(),
    ));
    let bus = Arc::new(QueueBus::new(routing, queue.clone(), shared.clone()));
    let table = Arc::new(MemoryTable::new(shared.clone()));
    let accounts = Arc::new(
        ScriptedAccounts::new()
            .with_page_size(3)
            .with_clock(shared.clone())
            .with_role(
                ROLE,
                ScriptedAccount {
                    external_id: EXTERNAL_ID.into(),
                    trail: history(),
                    disabled_regions: vec!["ap-east-1".into()],
                    ..ScriptedAccount::default()
                },
            ),
    );
    let pause = Arc::new(ClockPause {
        clock: clock.clone(),
        pauses: Mutex::default(),
    });
    let backfill = Backfill::new(
        table.clone(),
        bus.clone(),
        shared,
        accounts.clone(),
        NormalizerConfig {
            auto_link_tenant: None,
        },
    )
    .with_limits(limits)
    .with_pause(pause.clone());
    World {
        clock,
        table,
        queue,
        bus,
        accounts,
        pause,
        backfill,
    }
}

fn world() -> World {
    world_with(BackfillLimits::default())
}

impl World {
    async fn connect(&self) {
        let link = AccountLink {
            account_id: ACCOUNT.into(),
            tenant_id: TENANT.into(),
            status: AccountStatus::Active,
            role_arn: Some(ROLE.into()),
            external_id: Some(EXTERNAL_ID.into()),
            remediation_role_arn: None,
            connected_at: connected(),
            status_changed_at: None,
        };
        tenancy::link_account_if_absent(self.table.as_ref(), &link)
            .await
            .unwrap();
        self.bus
            .publish(vec![start_event(TENANT, ACCOUNT)])
            .await
            .unwrap();
    }

    /// Delivers the backfill queue's messages one at a time until it is empty (or `max`
    /// deliveries): a failed message comes back after its visibility timeout. Returns the
    /// errors seen.
    async fn drain(&self, max: usize) -> Vec<HandlerError> {
        let mut errors = Vec::new();
        for _ in 0..max {
            let received = self
                .queue
                .receive("backfill", 1, StdDuration::from_secs(30))
                .await
                .unwrap();
            let Some(message) = received.into_iter().next() else {
                if self.queue.depth("backfill") == 0 {
                    return errors;
                }
                self.clock.advance(Duration::seconds(31));
                continue;
            };
            match self.backfill.handle(&message.body).await {
                Ok(()) => self
                    .queue
                    .delete("backfill", &message.receipt_handle)
                    .await
                    .unwrap(),
                Err(e) => errors.push(e),
            }
        }
        panic!("the backfill did not finish in {max} deliveries");
    }

    async fn job(&self, region: &str) -> BackfillProgress {
        progress::load(self.table.as_ref(), TENANT, ACCOUNT, region)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no job for {region}"))
    }

    async fn kind_baseline(&self) -> Baseline {
        Baseline::load(
            self.table.as_ref(),
            &baseline::key(TENANT, ACCOUNT, "ec2", "ec2:instance"),
        )
        .await
        .unwrap()
    }

    async fn account_baseline(&self) -> Baseline {
        Baseline::load(self.table.as_ref(), &baseline::account_key(TENANT, ACCOUNT))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn reads_every_enabled_region_page_by_page_into_the_baselines_quietly() {
    let w = world();
    w.connect().await;
    assert!(w.drain(500).await.is_empty());

    // One job per region; the window is the 90 days before the connection.
    let jobs = progress::of_account(w.table.as_ref(), TENANT, ACCOUNT)
        .await
        .unwrap();
    assert_eq!(jobs.len(), COMMERCIAL_REGIONS.len());
    let use1 = w.job("us-east-1").await;
    assert_eq!(use1.status, BackfillStatus::Done);
    assert_eq!(
        (use1.start, use1.end),
        (connected() - Duration::days(90), connected())
    );
    // 7 write events in pages of 3: the read-only call, the launch older than the window and
    // the live one are not read.
    assert_eq!(
        (use1.pages, use1.requests, use1.events, use1.cost_events),
        (3, 3, 7, 7)
    );
    assert_eq!(use1.oldest_event, Some(connected() - Duration::days(80)));
    assert!(use1.finished_at.is_some());
    let euw1 = w.job("eu-west-1").await;
    assert_eq!((euw1.status, euw1.events), (BackfillStatus::Done, 2));
    assert_eq!(
        w.job("ap-east-1").await.status,
        BackfillStatus::RegionNotEnabled
    );
    let quiet = w.job("sa-east-1").await;
    assert_eq!(
        (quiet.status, quiet.pages, quiet.events),
        (BackfillStatus::Done, 1, 0)
    );

    // Every request asked for the window, each page with the token of the one before.
    let lookups: Vec<_> = w
        .accounts
        .lookups()
        .into_iter()
        .filter(|l| l.region == "us-east-1")
        .collect();
    assert_eq!(lookups.len(), 3);
    let tokens: Vec<_> = lookups.iter().map(|l| l.next_token.clone()).collect();
    assert_eq!(
        tokens,
        vec![None, Some("page-3".into()), Some("page-6".into())]
    );
    assert!(lookups
        .iter()
        .all(|l| l.start == connected() - Duration::days(90) && l.end == connected()));

    // Folded into the baselines, with the oldest first-seen and the history's start.
    let kind = w.kind_baseline().await;
    assert_eq!(kind.moments.count, 9.0);
    assert_eq!(kind.first_seen, Some(connected() - Duration::days(80)));
    let account = w.account_baseline().await;
    assert_eq!(
        account.history_since,
        Some(connected() - Duration::days(80))
    );
    assert!(account.regions.contains("eu-west-1"));

    // Quietly: no finding, nothing on the scoring, drift or alert queues.
    assert!(finding::all(w.table.as_ref(), TENANT)
        .await
        .unwrap()
        .is_empty());
    for queue in ["score", "classify", "alerts"] {
        assert_eq!(w.queue.depth(queue), 0, "{queue}");
    }
}

#[tokio::test]
async fn requests_of_a_region_are_half_a_second_apart_at_least() {
    let w = world();
    w.connect().await;
    w.drain(500).await;
    let lookups = w.accounts.lookups();
    assert!(lookups.len() > COMMERCIAL_REGIONS.len());
    for region in COMMERCIAL_REGIONS {
        let times: Vec<DateTime<Utc>> = lookups
            .iter()
            .filter(|l| l.region == *region)
            .map(|l| l.at.expect("timed"))
            .collect();
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::milliseconds(500),
                "{region}: {times:?}"
            );
        }
    }
    // Nothing else made the backfill wait: no request waited longer than the limit asks.
    let waits: Vec<Duration> = w.pause.pauses.lock().unwrap().clone();
    assert!(!waits.is_empty());
    assert!(waits.iter().all(|d| *d <= Duration::milliseconds(500)));
}

#[tokio::test]
async fn throttled_requests_back_off_and_the_page_is_not_lost() {
    let w = world();
    w.connect().await;
    // The start and the first page of every region: then LookupEvents throttles twice.
    for _ in 0..=COMMERCIAL_REGIONS.len() {
        let m = w
            .queue
            .receive("backfill", 1, StdDuration::from_secs(30))
            .await
            .unwrap()
            .remove(0);
        w.backfill.handle(&m.body).await.unwrap();
        w.queue.delete("backfill", &m.receipt_handle).await.unwrap();
    }
    let before = w.job("us-east-1").await;
    assert_eq!(
        (before.pages, before.next_token.as_deref()),
        (1, Some("page-3"))
    );
    w.accounts.throttle_next(2);
    w.pause.pauses.lock().unwrap().clear();
    assert!(w.drain(500).await.is_empty());
    let after = w.job("us-east-1").await;
    assert_eq!(after.status, BackfillStatus::Done);
    assert_eq!(after.events, 7);
    let throttled: u64 = progress::of_account(w.table.as_ref(), TENANT, ACCOUNT)
        .await
        .unwrap()
        .iter()
        .map(|j| j.throttled)
        .sum();
    assert_eq!(throttled, 2);
    // Backed off 1 s, then 2 s.
    let waits = w.pause.pauses.lock().unwrap().clone();
    assert!(waits.contains(&Duration::seconds(1)) && waits.contains(&Duration::seconds(2)));
    assert_eq!(w.kind_baseline().await.moments.count, 9.0);
}

#[tokio::test]
async fn a_step_throttled_past_its_retries_comes_back_later_from_the_same_page() {
    let w = world();
    w.connect().await;
    // Everything throttled for a while: the step fails (retry later), keeping its token.
    w.accounts.throttle_next(4);
    let errors = w.drain(500).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].visibility_delay(), Some(30));
    let jobs = progress::of_account(w.table.as_ref(), TENANT, ACCOUNT)
        .await
        .unwrap();
    assert!(jobs.iter().all(|j| j.status.is_finished()));
    assert_eq!(w.kind_baseline().await.moments.count, 9.0);
    assert_eq!(jobs.iter().map(|j| j.throttled).sum::<u64>(), 4);
}

#[tokio::test]
async fn a_page_read_again_after_a_crash_folds_nothing_twice() {
    let w = world();
    w.connect().await;
    w.drain(500).await;
    let done = w.job("us-east-1").await;
    let count = w.kind_baseline().await.moments.count;
    assert_eq!(count, 9.0);

    // A crash after folding page 2 but before its progress was stored: the job is back at
    // page 1 and page 2 is read again.
    let mut crashed = done.clone();
    crashed.status = BackfillStatus::Running;
    crashed.pages = 1;
    crashed.next_token = Some("page-3".into());
    crashed.finished_at = None;
    let key = progress::key(TENANT, ACCOUNT, "us-east-1");
    w.table.delete(&key, None).await.unwrap();
    assert!(progress::create_if_absent(w.table.as_ref(), &crashed)
        .await
        .unwrap());
    let redelivered = dd0c_normalizer::backfill::step_event(&progress::BackfillStep {
        tenant_id: TENANT.into(),
        account_id: ACCOUNT.into(),
        region: Some("us-east-1".into()),
        page: 2,
    });
    w.clock.advance(Duration::minutes(10));
    w.bus.publish(vec![redelivered.clone()]).await.unwrap();
    assert!(w.drain(50).await.is_empty());
    let again = w.job("us-east-1").await;
    assert_eq!((again.status, again.pages), (BackfillStatus::Done, 3));
    assert_eq!(w.kind_baseline().await.moments.count, count);

    // A stale delivery of a step already done changes nothing.
    w.clock.advance(Duration::minutes(10));
    w.bus.publish(vec![redelivered]).await.unwrap();
    assert!(w.drain(50).await.is_empty());
    assert_eq!(w.job("us-east-1").await, again);
}

#[tokio::test]
async fn the_page_cap_bounds_a_region_and_says_so() {
    let w = world_with(BackfillLimits {
        max_pages_per_region: 2,
        ..BackfillLimits::default()
    });
    w.connect().await;
    w.drain(500).await;
    let use1 = w.job("us-east-1").await;
    assert_eq!(use1.status, BackfillStatus::Capped);
    assert_eq!((use1.pages, use1.requests, use1.events), (2, 2, 6));
    assert!(use1.next_token.is_none());
    assert_eq!(w.job("eu-west-1").await.status, BackfillStatus::Done);
}

#[tokio::test]
async fn a_role_without_lookup_events_fails_the_job_with_the_reason() {
    let w = world();
    w.accounts.add_role(
        ROLE,
        ScriptedAccount {
            external_id: EXTERNAL_ID.into(),
            denied_actions: vec!["cloudtrail:LookupEvents".into()],
            ..ScriptedAccount::default()
        },
    );
    w.connect().await;
    assert!(w.drain(500).await.is_empty());
    let job = w.job("us-east-1").await;
    assert_eq!(job.status, BackfillStatus::Failed);
    assert!(job.error.unwrap().contains("cloudtrail:LookupEvents"));
}

#[tokio::test]
async fn a_disconnected_account_is_not_read() {
    let w = world();
    w.connect().await;
    let mut link = tenancy::account_link(w.table.as_ref(), ACCOUNT)
        .await
        .unwrap()
        .unwrap();
    link.status = AccountStatus::Disconnecting;
    w.table.put(link.to_item().unwrap(), None).await.unwrap();
    assert!(w.drain(50).await.is_empty());
    assert!(w.accounts.lookups().is_empty());
}
