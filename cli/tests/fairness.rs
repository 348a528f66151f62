//! One tenant's held alert must not hold another's: alerts are ordered per tenant, so while
//! tenant A's alert waits out Slack's `Retry-After`, tenant B's goes out at once.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use dd0c_cli::pipeline::{EmbeddedPipeline, PipelineOptions};
use dd0c_shared::bus::{Bus, BusEvent};
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink, Posted, RecordingChat};
use dd0c_shared::clock::{Clock, ManualClock};
use dd0c_shared::domain::{Finding, Severity, FINDING_DETAIL_TYPE};
use dd0c_shared::entity;
use dd0c_shared::governance::Policy;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::{active_account, cost_finding, noon};

/// Slack that answers 429 (retry after `RETRY_AFTER` seconds) to the first message naming
/// tenant A's finding, and records when each message went out.
struct SlackRateLimitingA {
    clock: ManualClock,
    limited_once: Mutex<bool>,
    posted: Mutex<Vec<(String, DateTime<Utc>)>>,
    inner: RecordingChat,
}

const RETRY_AFTER: u64 = 120;

impl SlackRateLimitingA {
    fn finding_in(message: &ChatMessage) -> String {
        let text = serde_json::to_string(&message.blocks).unwrap_or_default() + &message.text;
        ["finding-a", "finding-b"]
            .into_iter()
            .find(|id| text.contains(id))
            .unwrap_or("?")
            .to_owned()
    }
}

#[async_trait]
impl ChatSink for SlackRateLimitingA {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        let finding = Self::finding_in(&message);
        if finding == "finding-a" {
            let mut limited = self.limited_once.lock().unwrap();
            if !*limited {
                *limited = true;
                return Err(ChatError::RateLimited {
                    retry_after_seconds: RETRY_AFTER,
                });
            }
        }
        let now = self.clock.now();
        self.posted.lock().unwrap().push((finding, now));
        self.inner.post(message).await
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        self.inner.update(channel, ts, message).await
    }
}

fn finding_of(tenant: &str, id: &str, account: &str) -> Finding {
    Finding {
        tenant_id: tenant.into(),
        account_id: account.into(),
        severity: Severity::Critical,
        estimated_hourly_cost: Some(40.0),
        ..cost_finding(id)
    }
}

#[tokio::test]
async fn tenant_bs_alert_goes_out_while_tenant_as_waits_for_slack() {
    let start = noon();
    let clock = ManualClock::new(start);
    let chat = Arc::new(SlackRateLimitingA {
        clock: clock.clone(),
        limited_once: Mutex::new(false),
        posted: Mutex::new(Vec::new()),
        inner: RecordingChat::default(),
    });
    let pipeline = EmbeddedPipeline::with_table(
        PipelineOptions {
            start,
            chat: chat.clone(),
            default_channel: "#dd0c-alerts".into(),
            policy: Policy::parse(include_str!("../../policy.json")).unwrap(),
        },
        clock.clone(),
        Arc::new(MemoryTable::new(Arc::new(clock))),
    );

    let mut events = Vec::new();
    for (tenant, id, account) in [
        ("tenant-a", "finding-a", "111111111111"),
        ("tenant-b", "finding-b", "222222222222"),
    ] {
        let link = AccountLink {
            tenant_id: tenant.into(),
            account_id: account.into(),
            connected_at: start - Duration::days(60),
            ..active_account()
        };
        pipeline
            .table
            .put(entity::account_link::item(&link).unwrap(), None)
            .await
            .unwrap();
        let finding = finding_of(tenant, id, account);
        entity::finding::record(pipeline.table.as_ref(), &finding)
            .await
            .unwrap();
        events.push(BusEvent {
            detail_type: FINDING_DETAIL_TYPE.into(),
            detail: serde_json::json!({"tenant_id": tenant, "finding_id": id}),
            tenant: tenant.into(),
            account: account.into(),
            region: "us-east-1".into(),
        });
    }
    // A's alert is in the queue first.
    pipeline.bus.publish(events).await.unwrap();
    pipeline.drain().await;

    let posted = chat.posted.lock().unwrap().clone();
    let at = |id: &str| {
        posted
            .iter()
            .find(|(f, _)| f == id)
            .map(|(_, t)| *t)
            .unwrap_or_else(|| panic!("{id} was never posted: {posted:?}"))
    };
    assert_eq!(at("finding-b"), start, "tenant B waited for tenant A");
    assert!(
        at("finding-a") >= start + Duration::seconds(RETRY_AFTER as i64),
        "A went out before Slack's Retry-After"
    );
}
