//! A Slack post cannot be taken back, so a table write failing around it must never make a
//! redelivery post the alert again (found by the chaos run, `cli/tests/chaos`): the alert
//! used to be posted first and recorded after, and a throttled record meant a second post.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_notifier::{Notifier, NotifierConfig};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::chat::RecordingChat;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::{Finding, FindingKind, Severity};
use dd0c_shared::entity::{self, finding::load as load_finding, finding::record as record_finding};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{
    Condition, Item, Key, Page, Query, StoreError, Table, TransactWrite, Update,
};
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::{active_account, cost_finding};
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 12, 0, 0).unwrap()
}

/// Fails the `nth` write (counting from 0) with throttling, before or after applying it.
struct FailNthWrite {
    inner: Arc<MemoryTable>,
    nth: usize,
    after: bool,
    writes: AtomicUsize,
}

impl FailNthWrite {
    async fn write<T>(
        &self,
        apply: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if n != self.nth {
            return apply.await;
        }
        if self.after {
            apply.await?;
        }
        Err(StoreError::Backend("throttled".into()))
    }
}

#[async_trait]
impl Table for FailNthWrite {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.write(self.inner.put(item, condition)).await
    }
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        self.write(self.inner.update(key, update)).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.write(self.inner.delete(key, condition)).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.write(self.inner.transact_write(writes)).await
    }
}

fn finding() -> Finding {
    Finding {
        kind: FindingKind::CostAnomaly,
        severity: Severity::Critical,
        event_time: now(),
        created_at: now(),
        estimated_hourly_cost: Some(40.0),
        ..cost_finding("cost-once")
    }
}

fn envelope(f: &Finding) -> String {
    json!({
        "version": "0", "id": "env-1", "detail-type": "dd0c.Finding",
        "source": "dd0c.scorer", "account": f.account_id, "time": "2026-03-20T12:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {"tenant_id": f.tenant_id, "finding_id": f.id}
    })
    .to_string()
}

/// Delivers the alert once with the `nth` write failing, then redelivers it (as SQS does
/// after a failure) until it is handled; returns the posts and the finding.
async fn deliver_with_failing_write(nth: usize, after: bool) -> (usize, Finding, usize) {
    let clock = ManualClock::new(now());
    let memory = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let link = AccountLink {
        connected_at: now() - Duration::days(30),
        ..active_account()
    };
    memory
        .put(entity::account_link::item(&link).unwrap(), None)
        .await
        .unwrap();
    let f = finding();
    record_finding(memory.as_ref(), &f).await.unwrap();
    let table = Arc::new(FailNthWrite {
        inner: memory.clone(),
        nth,
        after,
        writes: AtomicUsize::new(0),
    });
    let chat = Arc::new(RecordingChat::default());
    let n = Notifier::new(
        table.clone(),
        chat.clone(),
        NotifierConfig::new("#dd0c-alerts"),
    )
    .with_clock(Arc::new(clock.clone()));
    let mut deliveries = 0;
    loop {
        deliveries += 1;
        if n.handle(&envelope(&f)).await.is_ok() || deliveries == 3 {
            break;
        }
    }
    let stored = load_finding(memory.as_ref(), "t1", &f.id)
        .await
        .unwrap()
        .unwrap();
    let _ = table.writes.load(Ordering::SeqCst);
    (chat.messages().len(), stored, deliveries)
}

#[tokio::test]
async fn a_failed_write_around_the_post_never_posts_the_alert_twice() {
    // How many writes one clean delivery makes.
    let (posts, clean, _) = deliver_with_failing_write(usize::MAX, false).await;
    assert_eq!(posts, 1);
    assert!(clean.notified);
    for nth in 0..8 {
        for after in [false, true] {
            let (posts, stored, deliveries) = deliver_with_failing_write(nth, after).await;
            assert_eq!(
                posts,
                1,
                "write #{nth} failing {} applying: {posts} posts",
                if after { "after" } else { "before" }
            );
            assert!(
                stored.notified,
                "write #{nth} failing (after: {after}): not recorded as notified after {deliveries} deliveries"
            );
        }
    }
}
