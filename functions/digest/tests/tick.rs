//! The hourly scheduler tick: per-tenant digest hour and time zone, once per local date,
//! housekeeping on every tick, one tenant's failure isolated from the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_digest::{handle, run_tick, Invocation, Tick, TickReport};
use dd0c_shared::bus::{QueueBus, RoutingTable};
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink, Posted, RecordingChat};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::{Finding, FindingStatus};
use dd0c_shared::entity::finding::{load as load_finding, record as record_finding};
use dd0c_shared::entity::{account_link, digest_sent, key_of, slack_installation, tenant};
use dd0c_shared::finding_actions::{self, FindingAction};
use dd0c_shared::governance::Policy;
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::slack::settings::{self, ChatDirectory, SlackSettings};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{AttrValue, Condition, Item, Key, Page, Query, StoreError, Table};
use dd0c_shared::store::{TransactWrite, Update};
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::{active_account, cost_finding};
use serde_json::{json, Value};

fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

/// Per-tenant sinks, as the installed-Slack directory gives them.
#[derive(Default)]
struct Chats(BTreeMap<String, Arc<dyn ChatSink>>);

#[async_trait]
impl ChatDirectory for Chats {
    async fn chat_for(&self, tenant: &str) -> Result<Option<Arc<dyn ChatSink>>, ChatError> {
        Ok(self.0.get(tenant).cloned())
    }
}

/// A workspace whose token was revoked.
struct RevokedChat;

#[async_trait]
impl ChatSink for RevokedChat {
    async fn post(&self, _: ChatMessage) -> Result<Posted, ChatError> {
        Err(ChatError::Revoked("token_revoked".into()))
    }
    async fn update(&self, _: &str, _: &str, _: ChatMessage) -> Result<(), ChatError> {
        Err(ChatError::Revoked("token_revoked".into()))
    }
}

/// Fails the first `failures` posts with a transport error, then records.
struct FlakyChat {
    failures: Mutex<u32>,
    inner: RecordingChat,
}

#[async_trait]
impl ChatSink for FlakyChat {
    async fn post(&self, m: ChatMessage) -> Result<Posted, ChatError> {
        {
            let mut left = self.failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(ChatError::Transport("connection reset".into()));
            }
        }
        self.inner.post(m).await
    }
    async fn update(&self, c: &str, ts: &str, m: ChatMessage) -> Result<(), ChatError> {
        self.inner.update(c, ts, m).await
    }
}

/// The store, failing every read and write of one tenant's partitions.
struct BrokenForTenant {
    inner: Arc<MemoryTable>,
    prefix: String,
}

impl BrokenForTenant {
    fn check(&self, pk: &str) -> Result<(), StoreError> {
        if pk.starts_with(&self.prefix) {
            Err(StoreError::Backend("throttled".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Table for BrokenForTenant {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        if let Some(key) = key_of(&item) {
            self.check(&key.pk)?;
        }
        self.inner.put(item, condition).await
    }
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check(&key.pk)?;
        self.inner.get(key).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.check(&key.pk)?;
        self.inner.update(key, update).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.check(&key.pk)?;
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.check(&query.partition)?;
        self.inner.query(query).await
    }
    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.inner.transact_write(writes).await
    }
}

struct World {
    clock: ManualClock,
    table: Arc<MemoryTable>,
    policy: Policy,
    /// The queues behind the bus (the daily zombie scans' requests land in `zombies`).
    queues: Arc<MemoryQueue>,
    bus: QueueBus,
}

fn world() -> World {
    let clock = ManualClock::new(at(2026, 1, 1, 0));
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let routing = RoutingTable::builtin().clone();
    let queues = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        Arc::new(clock.clone()),
    ));
    let bus = QueueBus::new(routing, queues.clone(), Arc::new(clock.clone()));
    World {
        clock,
        table,
        policy: Policy::system().unwrap(),
        queues,
        bus,
    }
}

impl World {
    /// A tenant with one active, long-promoted account and the given digest time.
    async fn tenant(&self, tenant: &str, account: &str, zone: Option<&str>, hour: Option<u8>) {
        let link = AccountLink {
            account_id: account.into(),
            tenant_id: tenant.into(),
            connected_at: at(2025, 1, 1, 0),
            ..active_account()
        };
        self.table
            .put(account_link::item(&link).unwrap(), None)
            .await
            .unwrap();
        let s = SlackSettings {
            default_channel: Some(format!("#{tenant}")),
            digest_time_zone: zone.map(str::to_owned),
            digest_hour: hour,
            ..SlackSettings::default()
        };
        settings::put_settings(self.table.as_ref(), tenant, &s)
            .await
            .unwrap();
    }

    async fn tick(&self, chats: &Chats, when: DateTime<Utc>) -> TickReport {
        self.tick_on(self.table.as_ref(), chats, when).await
    }

    async fn tick_on(&self, table: &dyn Table, chats: &Chats, when: DateTime<Utc>) -> TickReport {
        // The run starts a few seconds after the scheduled time.
        self.clock.set(when + Duration::seconds(3));
        run_tick(
            table,
            chats,
            &self.bus,
            &self.clock,
            &self.policy,
            "#default",
            when,
        )
        .await
        .unwrap()
    }
}

fn recording(tenants: &[&str]) -> (Chats, BTreeMap<String, Arc<RecordingChat>>) {
    let mut chats = Chats::default();
    let mut sinks = BTreeMap::new();
    for t in tenants {
        let sink = Arc::new(RecordingChat::default());
        chats.0.insert((*t).to_owned(), sink.clone());
        sinks.insert((*t).to_owned(), sink);
    }
    (chats, sinks)
}

#[tokio::test]
async fn a_utc_tenant_gets_its_digest_at_the_nine_o_clock_tick_only() {
    let w = world();
    w.tenant("t-utc", "111111111111", None, None).await;
    let (chats, sinks) = recording(&["t-utc"]);
    for h in [7, 8] {
        let r = w.tick(&chats, at(2026, 1, 15, h)).await;
        assert_eq!(r.tenants, 1);
        assert!(r.posted.is_empty(), "{h}:00 {r:?}");
    }
    let r = w.tick(&chats, at(2026, 1, 15, 9)).await;
    assert_eq!(r.posted, ["t-utc"]);
    assert!(r.failures.is_empty(), "{r:?}");
    for h in [10, 11, 23] {
        let r = w.tick(&chats, at(2026, 1, 15, h)).await;
        assert!(r.posted.is_empty(), "{h}:00 {r:?}");
    }
    let m = sinks["t-utc"].messages();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].channel, "#t-utc");
    assert!(m[0].text.starts_with("dd0c daily digest"), "{}", m[0].text);
    // The marker of that date says sent.
    let marker = w
        .table
        .get(&digest_sent::key("t-utc", "2026-01-15"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marker["status"], AttrValue::S("sent".into()));
    // The next day at 09:00 is a new digest.
    let r = w.tick(&chats, at(2026, 1, 16, 9)).await;
    assert_eq!(r.posted, ["t-utc"]);
    assert_eq!(sinks["t-utc"].messages().len(), 2);
}

#[tokio::test]
async fn new_york_gets_it_at_nine_local_in_winter_and_in_summer() {
    let w = world();
    w.tenant("t-ny", "222222222222", Some("America/New_York"), None)
        .await;
    let (chats, sinks) = recording(&["t-ny"]);
    // Winter (EST, UTC-5): 09:00 local is 14:00 UTC.
    assert!(w.tick(&chats, at(2026, 1, 15, 9)).await.posted.is_empty());
    assert!(w.tick(&chats, at(2026, 1, 15, 13)).await.posted.is_empty());
    assert_eq!(w.tick(&chats, at(2026, 1, 15, 14)).await.posted, ["t-ny"]);
    assert!(w.tick(&chats, at(2026, 1, 15, 15)).await.posted.is_empty());
    // Summer (EDT, UTC-4): 09:00 local is 13:00 UTC.
    assert!(w.tick(&chats, at(2026, 7, 15, 9)).await.posted.is_empty());
    assert_eq!(w.tick(&chats, at(2026, 7, 15, 13)).await.posted, ["t-ny"]);
    assert!(w.tick(&chats, at(2026, 7, 15, 14)).await.posted.is_empty());
    assert_eq!(sinks["t-ny"].messages().len(), 2);
    // The marker is keyed on the local date.
    assert!(w
        .table
        .get(&digest_sent::key("t-ny", "2026-07-15"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_chosen_hour_and_a_zone_east_of_utc() {
    let w = world();
    // 07:00 in Berlin (CET, UTC+1 in January) is 06:00 UTC.
    w.tenant("t-ber", "333333333333", Some("Europe/Berlin"), Some(7))
        .await;
    // 00:00 in Tokyo (UTC+9) is 15:00 UTC the day before: the marker is the Tokyo date.
    w.tenant("t-tyo", "444444444444", Some("Asia/Tokyo"), Some(0))
        .await;
    let (chats, sinks) = recording(&["t-ber", "t-tyo"]);
    let mut posted = Vec::new();
    for h in 0..24 {
        for t in w.tick(&chats, at(2026, 1, 15, h)).await.posted {
            posted.push((h, t));
        }
    }
    assert_eq!(posted, [(6, "t-ber".to_owned()), (15, "t-tyo".to_owned())]);
    assert_eq!(sinks["t-ber"].messages().len(), 1);
    assert!(w
        .table
        .get(&digest_sent::key("t-tyo", "2026-01-16"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn a_repeated_or_retried_nine_o_clock_tick_posts_once() {
    let w = world();
    w.tenant("t1", "111111111111", None, None).await;
    let (chats, sinks) = recording(&["t1"]);
    let first = w.tick(&chats, at(2026, 3, 20, 9)).await;
    assert_eq!(first.posted, ["t1"]);
    // The scheduler's retry of the same tick, and a duplicated delivery a minute later.
    for _ in 0..2 {
        let again = w.tick(&chats, at(2026, 3, 20, 9)).await;
        assert!(again.posted.is_empty(), "{again:?}");
        assert_eq!(again.already_sent, ["t1"]);
    }
    // Through the function's entry point, with the scheduler's payload.
    let tick: Invocation = serde_json::from_value(json!({
        "source": "dd0c.scheduler", "kind": "tick", "scheduled_time": "2026-03-20T09:00:00Z"
    }))
    .unwrap();
    let out = handle(
        w.table.as_ref(),
        &chats,
        &w.bus,
        &w.clock,
        &w.policy,
        "#default",
        tick,
    )
    .await
    .unwrap();
    assert_eq!(out["already_sent"], json!(["t1"]));
    assert_eq!(sinks["t1"].messages().len(), 1);
}

#[tokio::test]
async fn a_revoked_token_or_a_broken_store_for_one_tenant_does_not_stop_the_others() {
    let w = world();
    w.tenant("t-a", "111111111111", None, None).await;
    w.tenant("t-bad", "555555555555", None, None).await;
    w.tenant("t-revoked", "222222222222", None, None).await;
    w.tenant("t-z", "333333333333", None, None).await;
    w.tenant("t-noslack", "444444444444", None, None).await;
    let (mut chats, sinks) = recording(&["t-a", "t-bad", "t-z"]);
    chats.0.insert("t-revoked".into(), Arc::new(RevokedChat));
    let table = BrokenForTenant {
        inner: w.table.clone(),
        prefix: tenant::pk("t-bad"),
    };
    let r = w.tick_on(&table, &chats, at(2026, 3, 20, 9)).await;
    assert_eq!(r.tenants, 5);
    assert_eq!(r.posted, ["t-a", "t-z"]);
    assert_eq!(r.revoked, ["t-revoked"]);
    assert_eq!(r.no_chat, ["t-noslack"]);
    let stages: Vec<(&str, &str)> = r
        .failures
        .iter()
        .map(|f| (f.tenant_id.as_str(), f.stage))
        .collect();
    assert_eq!(
        stages,
        [
            ("t-bad", "housekeeping"),
            ("t-bad", "zombie_scans"),
            ("t-bad", "settings")
        ]
    );
    assert!(r.digest_failed());
    assert_eq!(sinks["t-a"].messages().len(), 1);
    assert_eq!(sinks["t-z"].messages().len(), 1);
    assert!(sinks["t-bad"].messages().is_empty());
    // The revoked installation is marked broken; no marker for it, nor for the Slack-less one.
    let inst = w
        .table
        .get(&slack_installation::key("t-revoked"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inst["status"], AttrValue::S("broken".into()));
    for t in ["t-revoked", "t-noslack"] {
        assert!(w
            .table
            .get(&digest_sent::key(t, "2026-03-20"))
            .await
            .unwrap()
            .is_none());
    }
    // The store recovers; the scheduler's retry of the tick serves only what was missing.
    let retry = w.tick(&chats, at(2026, 3, 20, 9)).await;
    assert_eq!(retry.posted, ["t-bad"]);
    assert_eq!(retry.already_sent, ["t-a", "t-z"]);
    assert_eq!(sinks["t-a"].messages().len(), 1);
    assert_eq!(sinks["t-bad"].messages().len(), 1);
}

/// An account link that cannot be read (damaged, or written by another version) fails its
/// tenant's housekeeping and digest, reported as that tenant's failures; nothing is marked
/// sent for it, and the other tenants are served.
#[tokio::test]
async fn an_unreadable_account_link_fails_only_its_tenant() {
    let w = world();
    w.tenant("t-a", "111111111111", None, None).await;
    w.tenant("t-odd", "222222222222", None, None).await;
    let mut odd = account_link::item(&AccountLink {
        account_id: "333333333333".into(),
        tenant_id: "t-odd".into(),
        ..active_account()
    })
    .unwrap();
    odd.remove("status");
    w.table.put(odd, None).await.unwrap();
    let (chats, sinks) = recording(&["t-a", "t-odd"]);
    let r = w.tick(&chats, at(2026, 3, 20, 9)).await;
    assert_eq!(r.tenants, 2);
    assert_eq!(r.posted, ["t-a"]);
    let stages: Vec<(&str, &str)> = r
        .failures
        .iter()
        .map(|f| (f.tenant_id.as_str(), f.stage))
        .collect();
    assert_eq!(
        stages,
        [
            ("t-odd", "housekeeping"),
            ("t-odd", "zombie_scans"),
            ("t-odd", "digest")
        ]
    );
    assert!(r.digest_failed());
    assert_eq!(sinks["t-a"].messages().len(), 1);
    assert!(sinks["t-odd"].messages().is_empty());
    assert!(w
        .table
        .get(&digest_sent::key("t-odd", "2026-03-20"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_failed_post_writes_no_marker_and_the_retried_tick_posts() {
    let w = world();
    w.tenant("t1", "111111111111", None, None).await;
    let flaky = Arc::new(FlakyChat {
        failures: Mutex::new(1),
        inner: RecordingChat::default(),
    });
    let mut chats = Chats::default();
    chats.0.insert("t1".into(), flaky.clone());
    let tick = || {
        Invocation::Tick(Tick {
            source: Some("dd0c.scheduler".into()),
            kind: "tick".into(),
            scheduled_time: Some(at(2026, 3, 20, 9)),
        })
    };
    w.clock.set(at(2026, 3, 20, 9));
    let err = handle(
        w.table.as_ref(),
        &chats,
        &w.bus,
        &w.clock,
        &w.policy,
        "#default",
        tick(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("t1 (digest)"), "{err}");
    assert!(w
        .table
        .get(&digest_sent::key("t1", "2026-03-20"))
        .await
        .unwrap()
        .is_none());
    // The scheduler retries the same tick (same scheduled_time) a minute later.
    w.clock.set(at(2026, 3, 20, 9) + Duration::minutes(1));
    let out: Value = handle(
        w.table.as_ref(),
        &chats,
        &w.bus,
        &w.clock,
        &w.policy,
        "#default",
        tick(),
    )
    .await
    .unwrap();
    assert_eq!(out["posted"], json!(["t1"]));
    assert_eq!(flaky.inner.messages().len(), 1);
}

fn finding(id: &str, t: DateTime<Utc>) -> Finding {
    Finding {
        account_id: "111111111111".into(),
        event_time: t,
        created_at: t,
        notified: true,
        ..cost_finding(id)
    }
}

#[tokio::test]
async fn housekeeping_runs_on_a_tick_that_is_not_the_digest_hour() {
    let w = world();
    w.tenant("t1", "111111111111", None, None).await;
    let t = w.table.as_ref();
    record_finding(t, &finding("f-snoozed", at(2026, 3, 19, 20)))
        .await
        .unwrap();
    let who = finding_actions::Actor {
        user: "U1".into(),
        via: "slack".into(),
    };
    finding_actions::apply(
        t,
        "t1",
        "f-snoozed",
        &FindingAction::Snooze {
            until: at(2026, 3, 20, 2) + Duration::minutes(30),
        },
        &who,
        at(2026, 3, 19, 21),
    )
    .await
    .unwrap();
    let (chats, sinks) = recording(&["t1"]);
    // 02:00: the snooze has not expired yet; the long-connected account is promoted.
    let r = w.tick(&chats, at(2026, 3, 20, 2)).await;
    assert!(r.housekeeping["t1"].unsnoozed.is_empty(), "{r:?}");
    assert_eq!(r.housekeeping["t1"].promoted, ["111111111111"]);
    // 03:00: reopened, no digest.
    let r = w.tick(&chats, at(2026, 3, 20, 3)).await;
    assert_eq!(r.housekeeping["t1"].unsnoozed, ["f-snoozed"]);
    assert!(r.posted.is_empty());
    assert!(sinks["t1"].messages().is_empty());
    assert_eq!(
        load_finding(t, "t1", "f-snoozed")
            .await
            .unwrap()
            .unwrap()
            .status,
        FindingStatus::Open
    );
}

#[test]
fn the_function_accepts_the_scheduler_tick_and_a_one_tenant_run() {
    let tick: Invocation = serde_json::from_value(json!({
        "source": "dd0c.scheduler", "kind": "tick", "scheduled_time": "2026-11-29T09:00:00Z"
    }))
    .unwrap();
    assert_eq!(
        tick,
        Invocation::Tick(Tick {
            source: Some("dd0c.scheduler".into()),
            kind: "tick".into(),
            scheduled_time: Some(at(2026, 11, 29, 9)),
        })
    );
    let one: Invocation = serde_json::from_value(json!({"tenant_id": "t1"})).unwrap();
    assert_eq!(
        one,
        Invocation::Tenant {
            tenant_id: "t1".into()
        }
    );
    assert!(serde_json::from_value::<Invocation>(json!({"hello": 1})).is_err());
}

#[tokio::test]
async fn a_one_tenant_run_by_hand_posts_now() {
    let w = world();
    w.tenant("t1", "111111111111", None, None).await;
    let (chats, sinks) = recording(&["t1"]);
    w.clock.set(at(2026, 3, 20, 16));
    let out = handle(
        w.table.as_ref(),
        &chats,
        &w.bus,
        &w.clock,
        &w.policy,
        "#default",
        Invocation::Tenant {
            tenant_id: "t1".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(out["posted"], json!(true));
    assert_eq!(sinks["t1"].messages().len(), 1);
}

/// A stored zombie scan of `account`: of every region (`"all"`) or of one.
async fn stored_scan(w: &World, tenant: &str, account: &str, region: &str, at: DateTime<Utc>) {
    let scan = json!({"scanned_at": at, "region": region, "zombies": [], "monthly_waste_usd": 0.0});
    w.table
        .put(
            dd0c_shared::entity::zombie_scan::item(tenant, account, &scan).unwrap(),
            None,
        )
        .await
        .unwrap();
}

fn scan_requests(w: &World) -> Vec<(String, Value)> {
    w.queues
        .peek_all("zombies")
        .into_iter()
        .map(|m| {
            let body: Value = serde_json::from_str(&m.body).unwrap();
            assert_eq!(body["detail-type"], "dd0c.ZombieScanRequest");
            (m.group_id, body["detail"].clone())
        })
        .collect()
}

#[tokio::test]
async fn the_tick_asks_for_each_accounts_daily_zombie_scan_when_it_is_due() {
    let w = world();
    w.tenant("t1", "111111111111", None, None).await;
    w.tenant("t2", "222222222222", None, None).await;
    // t2 also has an account whose role was never verified: nothing to scan with.
    let pending = AccountLink {
        account_id: "333333333333".into(),
        tenant_id: "t2".into(),
        status: dd0c_shared::tenancy::AccountStatus::Pending,
        role_arn: None,
        external_id: None,
        ..active_account()
    };
    w.table
        .put(account_link::item(&pending).unwrap(), None)
        .await
        .unwrap();
    // 111…: only the connect-time scan of one region; 222…: every region, 2 hours ago.
    stored_scan(&w, "t1", "111111111111", "us-east-1", at(2026, 1, 15, 4)).await;
    stored_scan(&w, "t2", "222222222222", "all", at(2026, 1, 15, 3)).await;
    let (chats, _) = recording(&["t1", "t2"]);

    let r = w.tick(&chats, at(2026, 1, 15, 5)).await;
    assert_eq!(r.zombie_scans_queued, ["111111111111"], "{r:?}");
    let requests = scan_requests(&w);
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].0, "t1/111111111111",
        "one message group per account"
    );
    assert_eq!(
        requests[0].1,
        json!({"tenant_id": "t1", "account_id": "111111111111", "requested_at": "2026-01-15T05:00:00Z"})
    );
    // The scheduler retries the same tick: the same request, dropped by the queue.
    w.tick(&chats, at(2026, 1, 15, 5)).await;
    assert_eq!(scan_requests(&w).len(), 1);

    // The scan ran a minute after the tick: the next ticks that day ask for nothing.
    stored_scan(
        &w,
        "t1",
        "111111111111",
        "all",
        at(2026, 1, 15, 5) + Duration::minutes(1),
    )
    .await;
    for h in [6, 12, 23] {
        let r = w.tick(&chats, at(2026, 1, 15, h)).await;
        assert!(
            r.zombie_scans_queued.is_empty() || r.zombie_scans_queued == ["222222222222"],
            "{h}:00 {r:?}"
        );
        assert!(!r.zombie_scans_queued.contains(&"111111111111".to_owned()));
    }
    // 222…'s scan of 03:00 is due at the tick 23 hours later; 111…'s at next day's 05:00.
    let r = w.tick(&chats, at(2026, 1, 16, 2)).await;
    assert_eq!(r.zombie_scans_queued, ["222222222222"], "{r:?}");
    let r = w.tick(&chats, at(2026, 1, 16, 5)).await;
    assert_eq!(r.zombie_scans_queued, ["111111111111", "222222222222"]);
    assert!(r.failures.is_empty(), "{r:?}");
}
