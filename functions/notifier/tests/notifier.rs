use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_notifier::{Decision, Notifier, NotifierConfig};
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink, Posted, RecordingChat};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::{Finding, FindingKind, Severity};
use dd0c_shared::entity::{self, finding::load as load_finding, finding::record as record_finding};
use dd0c_shared::governance::{store as policy_store, GovernanceMode, Policy, PolicyOverride};
use dd0c_shared::slack::settings::{self, SlackSettings};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::{active_account, cost_finding, ACCOUNT};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap()
}

struct World {
    table: Arc<MemoryTable>,
    chat: Arc<RecordingChat>,
    clock: ManualClock,
}

async fn world(connected_days_ago: i64) -> World {
    let clock = ManualClock::new(now());
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let link = AccountLink {
        connected_at: now() - Duration::days(connected_days_ago),
        ..active_account()
    };
    table
        .put(entity::account_link::item(&link).unwrap(), None)
        .await
        .unwrap();
    World {
        table,
        chat: Arc::new(RecordingChat::default()),
        clock,
    }
}

/// A finding of `kind` at [`now`], costing $4/h.
fn finding(id: &str, kind: FindingKind, severity: Severity) -> Finding {
    Finding {
        kind,
        severity,
        event_time: now(),
        created_at: now(),
        estimated_hourly_cost: Some(4.0),
        ..cost_finding(id)
    }
}

fn envelope(f: &Finding) -> String {
    json!({
        "version": "0", "id": format!("env-{}", f.id), "detail-type": "dd0c.Finding",
        "source": "dd0c.scorer", "account": f.account_id, "time": "2026-03-20T12:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"tenant_id": f.tenant_id, "finding_id": f.id}
    })
    .to_string()
}

fn notifier(w: &World, chat: Arc<dyn ChatSink>) -> Notifier {
    Notifier::new(w.table.clone(), chat, NotifierConfig::new("#dd0c-alerts"))
        .with_clock(Arc::new(w.clock.clone()))
}

async fn run(w: &World, n: &Notifier, f: &Finding) -> Result<Finding, HandlerError> {
    record_finding(w.table.as_ref(), f).await.unwrap();
    n.handle(&envelope(f)).await?;
    Ok(load_finding(w.table.as_ref(), "t1", &f.id)
        .await
        .unwrap()
        .unwrap())
}

#[tokio::test]
async fn audit_mode_sends_immediate_findings_and_records_the_decision() {
    let w = world(30).await;
    let n = notifier(&w, w.chat.clone());
    let sent = run(
        &w,
        &n,
        &finding("cost-1", FindingKind::CostAnomaly, Severity::Critical),
    )
    .await
    .unwrap();
    assert!(sent.notified);
    assert_eq!(sent.suppressed_reason, None);
    let held = run(
        &w,
        &n,
        &finding("cost-2", FindingKind::CostAnomaly, Severity::Info),
    )
    .await
    .unwrap();
    assert!(!held.notified);
    assert!(held.suppressed_reason.unwrap().contains("daily digest"));
    let drift_med = run(
        &w,
        &n,
        &finding("drift-3", FindingKind::Drift, Severity::Medium),
    )
    .await
    .unwrap();
    assert!(!drift_med.notified);
    let messages = w.chat.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].channel, "#dd0c-alerts");
    assert!(messages[0].text.contains("CRITICAL"));
    // A redelivery posts nothing more.
    n.handle(&envelope(&finding(
        "cost-1",
        FindingKind::CostAnomaly,
        Severity::Critical,
    )))
    .await
    .unwrap();
    assert_eq!(w.chat.messages().len(), 1);
    // The findings file line carries the decision.
    assert_eq!(sent.contract_json()["notified"], true);
}

#[tokio::test]
async fn strict_policy_records_but_sends_nothing() {
    let w = world(30).await;
    let mut policy = Policy::system().unwrap();
    policy.governance_mode = GovernanceMode::Strict;
    let n = notifier(&w, w.chat.clone()).with_policy(policy);
    let f = run(
        &w,
        &n,
        &finding("cost-1", FindingKind::CostAnomaly, Severity::Critical),
    )
    .await
    .unwrap();
    assert!(!f.notified);
    assert!(f.suppressed_reason.unwrap().contains("strict"));
    assert!(w.chat.messages().is_empty());
}

#[tokio::test]
async fn panic_mode_posts_one_paused_notice_and_holds_everything() {
    let w = world(30).await;
    let mut policy = Policy::system().unwrap();
    policy.panic_mode = true;
    let n = notifier(&w, w.chat.clone()).with_policy(policy);
    for id in ["cost-1", "cost-2", "cost-3"] {
        let f = run(
            &w,
            &n,
            &finding(id, FindingKind::CostAnomaly, Severity::Critical),
        )
        .await
        .unwrap();
        assert!(!f.notified);
        assert!(f.suppressed_reason.unwrap().contains("panic_mode"));
    }
    let messages = w.chat.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].text.contains("paused"));
}

#[tokio::test]
async fn a_stricter_account_override_holds_only_that_account() {
    let w = world(30).await;
    let system = Policy::system().unwrap();
    let o = PolicyOverride {
        governance_mode: Some(GovernanceMode::Strict),
        ..Default::default()
    };
    policy_store::put_account_override(
        w.table.as_ref(),
        &system,
        "t1",
        ACCOUNT,
        &o,
        "admin",
        now(),
    )
    .await
    .unwrap();
    let n = notifier(&w, w.chat.clone());
    let held = run(
        &w,
        &n,
        &finding("cost-1", FindingKind::CostAnomaly, Severity::Critical),
    )
    .await
    .unwrap();
    assert!(!held.notified);
    let mut other = finding("cost-2", FindingKind::CostAnomaly, Severity::Critical);
    other.account_id = "444455556666".into();
    let sent = run(&w, &n, &other).await.unwrap();
    assert!(sent.notified);
}

/// A young account's noise is held for its first fourteen days; its critical findings never are.
#[tokio::test]
async fn new_accounts_are_strict_until_fourteen_days() {
    let w = world(3).await;
    let n = notifier(&w, w.chat.clone());
    let mut noise = finding("cost-1", FindingKind::CostAnomaly, Severity::Warning);
    noise.estimated_hourly_cost = Some(1.0);
    let f = run(&w, &n, &noise).await.unwrap();
    assert!(f.suppressed_reason.unwrap().contains("new account"));
    let critical = run(
        &w,
        &n,
        &finding("cost-crit", FindingKind::CostAnomaly, Severity::Critical),
    )
    .await
    .unwrap();
    assert!(critical.notified, "{:?}", critical.suppressed_reason);
    w.clock.advance(Duration::days(12));
    let mut later = finding("cost-2", FindingKind::CostAnomaly, Severity::Warning);
    later.estimated_hourly_cost = Some(1.0);
    let f = run(&w, &n, &later).await.unwrap();
    assert!(f.notified);
}

#[tokio::test]
async fn routes_to_the_account_channel_and_threads_bursts_by_actor() {
    let w = world(30).await;
    let mut s = SlackSettings {
        default_channel: Some("#team".into()),
        ..Default::default()
    };
    s.account_channels
        .insert(ACCOUNT.into(), "#prod-alerts".into());
    settings::put_settings(w.table.as_ref(), "t1", &s)
        .await
        .unwrap();
    let n = notifier(&w, w.chat.clone());
    run(
        &w,
        &n,
        &finding("cost-1", FindingKind::CostAnomaly, Severity::Critical),
    )
    .await
    .unwrap();
    w.clock.advance(Duration::minutes(10));
    run(
        &w,
        &n,
        &finding("cost-2", FindingKind::CostAnomaly, Severity::Warning),
    )
    .await
    .unwrap();
    let mut other = finding("cost-3", FindingKind::CostAnomaly, Severity::Critical);
    other.account_id = "444455556666".into();
    run(&w, &n, &other).await.unwrap();
    w.clock.advance(Duration::hours(2));
    // An incident's window is of event time: two hours after the burst is another one.
    let mut later = finding("cost-4", FindingKind::CostAnomaly, Severity::Critical);
    later.event_time = now() + Duration::minutes(130);
    run(&w, &n, &later).await.unwrap();
    let m = w.chat.messages();
    assert_eq!(m[0].channel, "#prod-alerts");
    assert_eq!(m[0].thread_ts, None);
    assert_eq!(
        m[1].thread_ts.as_deref(),
        Some("1.000000"),
        "same actor, same burst: threaded"
    );
    assert_eq!(m[2].channel, "#team");
    assert_eq!(m[2].thread_ts, None);
    assert_eq!(m[3].thread_ts, None, "the burst's incident ended");
    // The finding remembers where its alert is (for button updates).
    let item = w
        .table
        .get(&entity::finding::key("t1", "cost-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["slack_ts"].as_str(), Some("1.000000"));
}

/// Fails the first `fail` posts with `error`, then records.
struct FlakyChat {
    error: ChatError,
    fail: Mutex<u32>,
    inner: RecordingChat,
}

#[async_trait]
impl ChatSink for FlakyChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        {
            let mut fail = self.fail.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(self.error.clone_error());
            }
        }
        self.inner.post(message).await
    }
    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        self.inner.update(channel, ts, message).await
    }
}

trait CloneError {
    fn clone_error(&self) -> ChatError;
}
impl CloneError for ChatError {
    fn clone_error(&self) -> ChatError {
        match self {
            ChatError::RateLimited {
                retry_after_seconds,
            } => ChatError::RateLimited {
                retry_after_seconds: *retry_after_seconds,
            },
            ChatError::Revoked(r) => ChatError::Revoked(r.clone()),
            ChatError::Api(r) => ChatError::Api(r.clone()),
            ChatError::Transport(r) => ChatError::Transport(r.clone()),
        }
    }
}

#[tokio::test]
async fn rate_limits_go_back_to_the_queue_with_the_retry_after_delay() {
    let w = world(30).await;
    let chat = Arc::new(FlakyChat {
        error: ChatError::RateLimited {
            retry_after_seconds: 42,
        },
        fail: Mutex::new(1),
        inner: RecordingChat::default(),
    });
    let n = notifier(&w, chat.clone());
    let f = finding("cost-1", FindingKind::CostAnomaly, Severity::Critical);
    let err = run(&w, &n, &f).await.unwrap_err();
    assert_eq!(err.visibility_delay(), Some(42));
    let stored = load_finding(w.table.as_ref(), "t1", "cost-1")
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.notified && stored.suppressed_reason.is_none(),
        "nothing decided yet"
    );
    // Through the batch runner: the failure carries the delay for the consumer.
    let dlq = dd0c_shared::queue::memory::MemoryQueue::new(
        ["alerts", "alerts-dlq"],
        Arc::new(w.clock.clone()),
    );
    *chat.fail.lock().unwrap() = 1;
    let msg = dd0c_shared::batch::BatchMessage {
        message_id: "m1".into(),
        body: envelope(&f),
        group_id: "t1".into(),
        receive_count: 1,
    };
    let outcome =
        dd0c_shared::batch::run_handler(&n, std::slice::from_ref(&msg), "alerts", &dlq).await;
    assert_eq!(outcome.visibility_delays.get("m1"), Some(&42));
    assert_eq!(outcome.failures.len(), 1);
    // The retry goes out.
    let outcome = dd0c_shared::batch::run_handler(&n, &[msg], "alerts", &dlq).await;
    assert_eq!(outcome.succeeded, ["m1"]);
    assert_eq!(chat.inner.messages().len(), 1);
    assert!(
        load_finding(w.table.as_ref(), "t1", "cost-1")
            .await
            .unwrap()
            .unwrap()
            .notified
    );
}

#[tokio::test]
async fn a_revoked_token_marks_the_installation_broken_and_is_not_retried() {
    let w = world(30).await;
    let chat = Arc::new(FlakyChat {
        error: ChatError::Revoked("token_revoked".into()),
        fail: Mutex::new(5),
        inner: RecordingChat::default(),
    });
    let n = notifier(&w, chat.clone());
    let f = run(
        &w,
        &n,
        &finding("cost-1", FindingKind::CostAnomaly, Severity::Critical),
    )
    .await
    .unwrap();
    assert!(!f.notified);
    assert!(f.suppressed_reason.unwrap().contains("token_revoked"));
    let item = w
        .table
        .get(&entity::slack_installation::key("t1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["status"].as_str(), Some("broken"));
}

#[tokio::test]
async fn decisions_are_returned_by_notify() {
    let w = world(30).await;
    let n = notifier(&w, w.chat.clone());
    let f = finding("cost-1", FindingKind::CostAnomaly, Severity::Info);
    record_finding(w.table.as_ref(), &f).await.unwrap();
    assert!(
        matches!(n.notify(&f).await.unwrap(), Decision::Hold(r) if r.contains("severity info"))
    );
}

/// A stack's watching switch silences its drift alerts and nothing else; its channel and
/// owner route and mention the alerts that do go out.
#[tokio::test]
async fn an_unwatched_stack_holds_its_drift_and_a_watched_one_mentions_its_owner() {
    use dd0c_shared::domain::drift::Stack;
    use dd0c_shared::entity::stack;
    let w = world(30).await;
    let n = notifier(&w, w.chat.clone());
    let mut network = Stack {
        tenant_id: "t1".into(),
        stack_id: "network".into(),
        name: "network".into(),
        owner: Some("U0123ABCDE".into()),
        slack_channel: Some("#network".into()),
        ..Stack::new("t1", "network")
    };
    stack::put_stack(w.table.as_ref(), &network, now())
        .await
        .unwrap();
    let in_stack = |id: &str, kind: FindingKind| {
        let mut f = finding(id, kind, Severity::Critical);
        f.details = json!({"stack": "network"});
        f
    };

    let drift = run(&w, &n, &in_stack("d-1", FindingKind::Drift))
        .await
        .unwrap();
    assert!(drift.notified);
    let sent = w.chat.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].channel, "#network");
    assert!(sent[0]
        .blocks
        .to_string()
        .contains("Owner: <@U0123ABCDE> (stack "));

    stack::change_declaration(
        w.table.as_ref(),
        "t1",
        "network",
        &stack::DeclarationChange {
            enabled: Some(false),
            ..Default::default()
        },
        &now(),
    )
    .await
    .unwrap()
    .expect("the stack exists");
    let held = run(&w, &n, &in_stack("d-2", FindingKind::Drift))
        .await
        .unwrap();
    assert!(!held.notified);
    assert_eq!(
        held.suppressed_reason.as_deref(),
        Some("stack network is not watched: its drift is recorded, not alerted")
    );
    // A cost anomaly of the same stack still goes out.
    let cost = run(&w, &n, &in_stack("c-1", FindingKind::CostAnomaly))
        .await
        .unwrap();
    assert!(cost.notified);
    assert_eq!(w.chat.messages().len(), 2);
    network.owner = Some("platform team".into());
    stack::put_stack(w.table.as_ref(), &network, now())
        .await
        .unwrap();
    run(&w, &n, &in_stack("c-2", FindingKind::CostAnomaly))
        .await
        .unwrap();
    assert!(w.chat.messages()[2]
        .blocks
        .to_string()
        .contains("Owner: platform team (stack "));
}

/// Routing by resource tag comes first, for cost and drift alerts alike: the tenant's channel
/// tag picks the channel, its mention tag the person; without the tags, the stack's channel
/// and owner, then the account's channel.
#[tokio::test]
async fn a_resource_tag_routes_before_the_stack_and_the_account() {
    use dd0c_shared::domain::drift::Stack;
    use dd0c_shared::entity::stack;
    let w = world(30).await;
    let mut s = SlackSettings {
        default_channel: Some("#team".into()),
        channel_tag: Some("team".into()),
        mention_tag: Some("owner".into()),
        ..Default::default()
    };
    s.account_channels
        .insert(ACCOUNT.into(), "#prod-alerts".into());
    s.tag_channels
        .insert("payments".into(), "#payments-alerts".into());
    settings::put_settings(w.table.as_ref(), "t1", &s)
        .await
        .unwrap();
    let network = Stack {
        name: "network".into(),
        owner: Some("U0123ABCDE".into()),
        slack_channel: Some("#network".into()),
        ..Stack::new("t1", "network")
    };
    stack::put_stack(w.table.as_ref(), &network, now())
        .await
        .unwrap();
    let n = notifier(&w, w.chat.clone());
    for (id, kind) in [
        ("d-1", FindingKind::Drift),
        ("c-1", FindingKind::CostAnomaly),
    ] {
        let mut f = finding(id, kind, Severity::Critical);
        f.details =
            json!({"stack": "network", "tags": {"team": "payments", "owner": "U0999ZZZZZ"}});
        assert!(run(&w, &n, &f).await.unwrap().notified);
    }
    let mut untagged = finding("d-2", FindingKind::Drift, Severity::Critical);
    untagged.details = json!({"stack": "network"});
    run(&w, &n, &untagged).await.unwrap();
    let mut elsewhere = finding("c-2", FindingKind::CostAnomaly, Severity::Critical);
    elsewhere.details = json!({"tags": {"team": "unknown-team"}});
    run(&w, &n, &elsewhere).await.unwrap();
    let m = w.chat.messages();
    assert_eq!(
        m.iter().map(|m| m.channel.as_str()).collect::<Vec<_>>(),
        [
            "#payments-alerts",
            "#payments-alerts",
            "#network",
            "#prod-alerts"
        ]
    );
    assert!(m[0]
        .blocks
        .to_string()
        .contains("Owner: <@U0999ZZZZZ> (tag owner)"));
    assert!(m[1]
        .blocks
        .to_string()
        .contains("Owner: <@U0999ZZZZZ> (tag owner)"));
    assert!(m[2]
        .blocks
        .to_string()
        .contains("Owner: <@U0123ABCDE> (stack network)"));
    assert!(!m[3].blocks.to_string().contains("Owner:"));
}

#[tokio::test]
async fn a_burst_is_one_incident_in_one_thread_whose_root_shows_the_total() {
    let w = world(30).await;
    let n = notifier(&w, w.chat.clone());
    for (i, id) in ["cost-1", "cost-2", "cost-3"].into_iter().enumerate() {
        let mut f = finding(id, FindingKind::CostAnomaly, Severity::Critical);
        f.event_time = now() + Duration::minutes(i as i64);
        run(&w, &n, &f).await.unwrap();
    }
    let m = w.chat.messages();
    assert_eq!(m.len(), 3, "one alert per finding, in one thread");
    assert!(m[1..]
        .iter()
        .all(|r| r.thread_ts.as_deref() == Some("1.000000")));
    // The thread's root now carries the incident: how many, the total at stake, and buttons
    // that act on all of it; the first alert stays below.
    let root = m[0].blocks.to_string();
    assert!(
        root.contains("Incident: 3 cost anomalies by alice"),
        "{root}"
    );
    assert!(root.contains("$12.00/hr at stake"), "{root}");
    assert!(root.contains("incident_mark_expected"), "{root}");
    assert!(
        root.contains("\"mark_expected\""),
        "the first alert's own buttons: {root}"
    );
    assert!(
        m[0].text
            .starts_with("[CRITICAL] Incident: 3 cost anomalies"),
        "{}",
        m[0].text
    );
    let incident = entity::incident::load(w.table.as_ref(), "t1", "inc-cost-1")
        .await
        .unwrap()
        .expect("the incident");
    assert_eq!(incident.count, 3);
    assert_eq!(incident.finding_ids, ["cost-1", "cost-2", "cost-3"]);
    assert_eq!(incident.slack_ts.as_deref(), Some("1.000000"));
    assert_eq!(incident.root_finding.as_deref(), Some("cost-1"));
    // A redelivery changes nothing.
    let mut again = finding("cost-2", FindingKind::CostAnomaly, Severity::Critical);
    again.event_time = now() + Duration::minutes(1);
    n.handle(&envelope(&again)).await.unwrap();
    let after = entity::incident::load(w.table.as_ref(), "t1", "inc-cost-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.count, 3);
    assert_eq!(w.chat.messages().len(), 3);
}

#[tokio::test]
async fn held_findings_join_their_incident_and_its_header_counts_them() {
    let w = world(30).await;
    let n = notifier(&w, w.chat.clone());
    let first = finding("cost-1", FindingKind::CostAnomaly, Severity::Critical);
    run(&w, &n, &first).await.unwrap();
    // Below the immediate severity: held for the digest, but part of the same burst.
    let mut quiet = finding("cost-2", FindingKind::CostAnomaly, Severity::Info);
    quiet.event_time = now() + Duration::minutes(5);
    let stored = run(&w, &n, &quiet).await.unwrap();
    assert!(!stored.notified);
    let m = w.chat.messages();
    assert_eq!(m.len(), 1);
    assert!(
        m[0].blocks
            .to_string()
            .contains("Incident: 2 cost anomalies"),
        "{}",
        m[0].blocks
    );
}
