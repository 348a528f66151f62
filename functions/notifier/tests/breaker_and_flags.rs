//! The circuit breaker and detector flags, through the notifier's handler on the embedded table.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_notifier::{Decision, Notifier, NotifierConfig};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::chat::RecordingChat;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::{Finding, FindingKind, Severity};
use dd0c_shared::entity::{self, finding::load as load_finding, finding::record as record_finding};
use dd0c_shared::flags::{Flag, FlagScope};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::{active_account, cost_finding};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 12, 10, 0).unwrap()
}

struct World {
    table: Arc<MemoryTable>,
    chat: Arc<RecordingChat>,
    clock: ManualClock,
    notifier: Notifier,
}

async fn world() -> World {
    let clock = ManualClock::new(now());
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let link = AccountLink {
        connected_at: now() - Duration::days(60),
        ..active_account()
    };
    table
        .put(entity::account_link::item(&link).unwrap(), None)
        .await
        .unwrap();
    let chat = Arc::new(RecordingChat::default());
    let notifier = Notifier::new(
        table.clone(),
        chat.clone(),
        NotifierConfig::new("#dd0c-alerts"),
    )
    .with_clock(Arc::new(clock.clone()))
    .with_flag_cache(std::time::Duration::ZERO);
    World {
        table,
        chat,
        clock,
        notifier,
    }
}

/// An immediate (warning) cost finding attributed to `detector`.
fn finding(id: &str, detector: &str) -> Finding {
    Finding {
        event_time: now(),
        created_at: now(),
        estimated_hourly_cost: Some(4.0),
        details: json!({"detector": detector}),
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

async fn deliver(w: &World, findings: &[Finding]) {
    for f in findings {
        if load_finding(w.table.as_ref(), "t1", &f.id)
            .await
            .unwrap()
            .is_none()
        {
            record_finding(w.table.as_ref(), f).await.unwrap();
        }
        w.notifier.handle(&envelope(f)).await.unwrap();
    }
}

async fn stored(w: &World, id: &str) -> Finding {
    load_finding(w.table.as_ref(), "t1", id)
        .await
        .unwrap()
        .unwrap()
}

fn breaker_notices(w: &World) -> Vec<String> {
    w.chat
        .messages()
        .into_iter()
        .map(|m| m.text)
        .filter(|t| t.contains("Circuit breaker"))
        .collect()
}

#[tokio::test]
async fn a_burst_of_one_detector_trips_its_breaker_once_while_another_detector_still_alerts() {
    let w = world().await;
    let burst: Vec<Finding> = (1..=11)
        .map(|i| finding(&format!("cost-b{i}"), "cost.burst"))
        .collect();
    deliver(&w, &burst).await;
    // A quiet detector's normal is the floor (2 an hour): 6 go out, the 7th trips it.
    for f in &burst[..6] {
        assert!(stored(&w, &f.id).await.notified, "{} should be sent", f.id);
    }
    for f in &burst[6..] {
        let held = stored(&w, &f.id).await;
        assert!(!held.notified);
        let reason = held.suppressed_reason.unwrap();
        assert!(
            reason.starts_with("circuit breaker: cost.burst sent 6 immediate alerts this hour"),
            "{reason}"
        );
        assert!(reason.contains("resume at 13:00 UTC"), "{reason}");
    }
    // One message says how many are held (edited as more are: 5 is a step) and why.
    let notices = breaker_notices(&w);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("`cost.burst` raised 11 immediate alerts"));
    assert!(notices[0].contains("5 held for the digest so far"));
    assert_eq!(w.chat.messages().len(), 7);

    // Another detector of the same tenant is not affected.
    let other = finding("cost-z1", "cost.zscore");
    deliver(&w, std::slice::from_ref(&other)).await;
    assert!(stored(&w, "cost-z1").await.notified);
    assert_eq!(w.chat.messages().len(), 8);

    // The same batch delivered again sends nothing: no alert, no second notice.
    deliver(&w, &burst).await;
    assert_eq!(w.chat.messages().len(), 8);
    assert_eq!(breaker_notices(&w).len(), 1);
}

#[tokio::test]
async fn a_second_decision_on_a_held_finding_does_not_post_a_second_notice() {
    let w = world().await;
    let burst: Vec<Finding> = (1..=7)
        .map(|i| finding(&format!("cost-b{i}"), "drift.sg-rules-changed"))
        .collect();
    deliver(&w, &burst).await;
    assert_eq!(breaker_notices(&w).len(), 1);
    // A concurrent or interrupted delivery decides the same finding again (the early return
    // on `suppressed_reason` bypassed): the notice is claimed, so it is not posted twice, and
    // the finding is counted once.
    let again = w.notifier.notify(&burst[6]).await.unwrap();
    assert!(matches!(again, Decision::Hold(ref r) if r.starts_with("circuit breaker")));
    assert_eq!(breaker_notices(&w).len(), 1);
    assert_eq!(w.chat.messages().len(), 7);
    assert!(breaker_notices(&w)[0].contains("raised 7 immediate alerts"));
}

#[tokio::test]
async fn alerts_resume_by_themselves_the_next_hour_and_criticals_are_never_held() {
    let w = world().await;
    let burst: Vec<Finding> = (1..=8)
        .map(|i| finding(&format!("cost-b{i}"), "cost.burst"))
        .collect();
    deliver(&w, &burst).await;
    assert!(!stored(&w, "cost-b8").await.notified);
    let critical = Finding {
        severity: Severity::Critical,
        ..finding("cost-crit", "cost.burst")
    };
    deliver(&w, std::slice::from_ref(&critical)).await;
    assert!(stored(&w, "cost-crit").await.notified);

    w.clock.advance(Duration::hours(1));
    let later = finding("cost-later", "cost.burst");
    deliver(&w, std::slice::from_ref(&later)).await;
    let later = stored(&w, "cost-later").await;
    assert!(later.notified, "{:?}", later.suppressed_reason);
}

#[tokio::test]
async fn a_detector_turned_off_is_recorded_not_alerted_until_its_flag_expires() {
    let w = world().await;
    let flag = |detector: &str, scope, hours| Flag {
        detector: detector.into(),
        scope,
        owner: "team-platform".into(),
        reason: "noisy during the migration".into(),
        expires_at: now() + Duration::hours(hours),
        set_by: "alice".into(),
        set_at: now(),
    };
    entity::flag::put(
        w.table.as_ref(),
        &flag("cost.burst", FlagScope::Tenant, 2),
        "t1",
    )
    .await
    .unwrap();
    entity::flag::put(
        w.table.as_ref(),
        &flag("drift.sg-world-ingress", FlagScope::Global, 2),
        "",
    )
    .await
    .unwrap();
    entity::flag::put(
        w.table.as_ref(),
        &flag("cost.zscore", FlagScope::Tenant, -1),
        "t1",
    )
    .await
    .unwrap();
    let drift = Finding {
        kind: FindingKind::Drift,
        severity: Severity::High,
        ..finding("drift-1", "drift.sg-world-ingress")
    };
    deliver(
        &w,
        &[
            finding("cost-1", "cost.burst"),
            drift,
            finding("cost-2", "cost.zscore"),
        ],
    )
    .await;
    let held = stored(&w, "cost-1").await;
    assert!(!held.notified);
    assert!(held
        .suppressed_reason
        .unwrap()
        .starts_with("detector cost.burst is turned off (tenant flag owned by team-platform"));
    let held = stored(&w, "drift-1").await;
    assert!(held
        .suppressed_reason
        .unwrap()
        .starts_with("detector drift.sg-world-ingress is turned off (global flag"));
    // An expired flag no longer applies.
    assert!(stored(&w, "cost-2").await.notified);
    assert_eq!(w.chat.messages().len(), 1);

    w.clock.advance(Duration::hours(3));
    deliver(&w, &[finding("cost-3", "cost.burst")]).await;
    assert!(stored(&w, "cost-3").await.notified);
}
