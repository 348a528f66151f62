//! The bus: each event goes straight to its route's FIFO queue, in the message group the route
//! orders it by (the tenant's account, or the tenant), so one tenant's burst, poison message or
//! Slack back-off holds only its own group (docs/decisions/0001-routing-and-deduplication.md).
//! The same adapter runs over the embedded queues and over SQS.

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::{Bus, BusError, BusEvent, RoutingTable, MAX_EVENT_BYTES};
use crate::clock::SharedClock;
use crate::queue::{is_valid_fifo_id, OutgoingMessage, Queue, QueueError};

pub struct QueueBus {
    routing: RoutingTable,
    queue: Arc<dyn Queue>,
    clock: SharedClock,
}

impl QueueBus {
    pub fn new(routing: RoutingTable, queue: Arc<dyn Queue>, clock: SharedClock) -> Self {
        Self {
            routing,
            queue,
            clock,
        }
    }

    fn message(&self, event: BusEvent) -> Result<(String, OutgoingMessage), BusError> {
        let route = self
            .routing
            .route(&event.detail_type)
            .ok_or_else(|| BusError::NoRoute(event.detail_type.clone()))?;
        let group = route.ordered_by.group(&event.tenant, &event.account);
        if !is_valid_fifo_id(&group) {
            return Err(BusError::Invalid(format!(
                "{} has no usable tenant or account to order it by ({group:?})",
                event.detail_type
            )));
        }
        // The detail is serialized once, for its deduplication id and for the body.
        let detail = serde_json::value::to_raw_value(&event.detail)
            .map_err(|e| BusError::Invalid(e.to_string()))?;
        let id = deduplication_id(&event.detail_type, &event.tenant, detail.get());
        let envelope = SentEnvelope {
            traceparent: crate::telemetry::trace::current_traceparent(),
            version: "0",
            id: &id,
            detail_type: &event.detail_type,
            source: &self.routing.internal_source,
            account: &event.account,
            time: self
                .clock
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            region: &event.region,
            resources: [],
            detail: &detail,
        };
        let body =
            serde_json::to_string(&envelope).map_err(|e| BusError::Invalid(e.to_string()))?;
        if body.len() > MAX_EVENT_BYTES {
            return Err(BusError::Invalid(format!(
                "event of {} bytes exceeds SQS's 256 KiB",
                body.len()
            )));
        }
        Ok((route.queue.clone(), OutgoingMessage::new(body, group, id)))
    }
}

/// [`super::Envelope`] as sent, its detail already serialized: the same fields, in the same order.
#[derive(Serialize)]
struct SentEnvelope<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    version: &'a str,
    id: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    source: &'a str,
    account: &'a str,
    time: String,
    region: &'a str,
    resources: [&'a str; 0],
    detail: &'a RawValue,
}

/// The same event published twice (a producer retrying after a crash) has the same id, so the
/// queue drops the second copy within its five-minute deduplication window. `detail` is the
/// event's detail as JSON text.
fn deduplication_id(detail_type: &str, tenant: &str, detail: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(detail_type.as_bytes());
    hash.update([0]);
    hash.update(tenant.as_bytes());
    hash.update([0]);
    hash.update(detail.as_bytes());
    hex::encode(hash.finalize())
}

fn backend(e: QueueError) -> BusError {
    match e {
        QueueError::Invalid(reason) => BusError::Invalid(reason),
        other => BusError::Backend(other.to_string()),
    }
}

#[async_trait]
impl Bus for QueueBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        // Every event is checked before any is sent, so a bad one sends none of the batch.
        let messages = events
            .into_iter()
            .map(|e| self.message(e))
            .collect::<Result<Vec<_>, _>>()?;
        for (queue, message) in messages {
            self.queue.send(&queue, message).await.map_err(backend)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Envelope;
    use crate::clock::ManualClock;
    use crate::queue::memory::MemoryQueue;
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    fn bus() -> (QueueBus, Arc<MemoryQueue>) {
        let clock: SharedClock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let routing = RoutingTable::builtin().clone();
        let queue = Arc::new(MemoryQueue::new(routing.queue_names(), clock.clone()));
        (
            QueueBus::new(routing, queue.clone() as Arc<dyn Queue>, clock),
            queue,
        )
    }

    /// The message groups of one receive, in delivery order.
    async fn groups_received(
        queue: &MemoryQueue,
        name: &str,
        max: usize,
        visibility_s: u64,
    ) -> Vec<String> {
        queue
            .receive(name, max, Duration::from_secs(visibility_s))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.group_id)
            .collect()
    }

    fn event(detail_type: &str, tenant: &str, account: &str, n: u32) -> BusEvent {
        BusEvent {
            detail_type: detail_type.into(),
            detail: serde_json::json!({ "n": n }),
            tenant: tenant.into(),
            account: account.into(),
            region: "us-east-1".into(),
        }
    }

    #[tokio::test]
    async fn a_message_carries_the_envelope_and_the_id_of_its_event() {
        let (bus, queue) = bus();
        let mut e = event("dd0c.CostEvent", "t1", "111111111111", 1);
        e.detail = serde_json::json!({"b": [1.5, "x\u{e9}\"\n"], "a": {"z": null, "y": true}});
        bus.publish(vec![e.clone()]).await.unwrap();
        let got = queue
            .receive("score", 10, Duration::from_secs(30))
            .await
            .unwrap();
        let envelope = Envelope {
            traceparent: None,
            version: "0".into(),
            id: got[0].deduplication_id.clone(),
            detail_type: e.detail_type.clone(),
            source: RoutingTable::builtin().internal_source.clone(),
            account: e.account.clone(),
            time: "2026-01-01T00:00:00Z".into(),
            region: e.region.clone(),
            resources: vec![],
            detail: e.detail.clone(),
        };
        assert_eq!(got[0].body, serde_json::to_string(&envelope).unwrap());
        let mut hash = Sha256::new();
        hash.update(b"dd0c.CostEvent\0t1\0");
        hash.update(e.detail.to_string().as_bytes());
        assert_eq!(got[0].deduplication_id, hex::encode(hash.finalize()));
    }

    #[tokio::test]
    async fn cost_events_are_grouped_by_account_and_findings_by_tenant() {
        let (bus, queue) = bus();
        bus.publish(vec![
            event("dd0c.CostEvent", "t1", "111111111111", 1),
            event("dd0c.CostEvent", "t1", "222222222222", 2),
            event("dd0c.Finding", "t1", "111111111111", 3),
            event("dd0c.Finding", "t1", "222222222222", 4),
        ])
        .await
        .unwrap();
        assert_eq!(
            groups_received(&queue, "score", 10, 30).await,
            ["t1/111111111111", "t1/222222222222"]
        );
        assert_eq!(
            groups_received(&queue, "alerts", 10, 30).await,
            ["t1", "t1"]
        );
    }

    #[tokio::test]
    async fn one_tenants_message_in_flight_does_not_hold_anothers() {
        let (bus, queue) = bus();
        bus.publish(vec![
            event("dd0c.Finding", "tenant-a", "111111111111", 1),
            event("dd0c.Finding", "tenant-a", "111111111111", 2),
            event("dd0c.Finding", "tenant-b", "222222222222", 3),
        ])
        .await
        .unwrap();
        assert_eq!(
            groups_received(&queue, "alerts", 1, 300).await,
            ["tenant-a"]
        );
        assert_eq!(
            groups_received(&queue, "alerts", 10, 30).await,
            ["tenant-b"]
        );
    }

    #[tokio::test]
    async fn the_same_event_published_twice_is_delivered_once() {
        let (bus, queue) = bus();
        let e = event("dd0c.CostEvent", "t1", "111111111111", 1);
        bus.publish(vec![e.clone()]).await.unwrap();
        bus.publish(vec![
            e.clone(),
            event("dd0c.CostEvent", "t1", "111111111111", 2),
        ])
        .await
        .unwrap();
        let got = queue
            .receive("score", 10, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
        // Another tenant's identical detail is another event.
        bus.publish(vec![event("dd0c.CostEvent", "t2", "111111111111", 1)])
            .await
            .unwrap();
        let other = queue
            .receive("score", 10, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(other.len(), 1);
    }

    #[tokio::test]
    async fn an_event_without_a_tenant_or_route_is_refused_and_nothing_is_sent() {
        let (bus, queue) = bus();
        let refused = bus
            .publish(vec![
                event("dd0c.CostEvent", "t1", "111111111111", 1),
                event("dd0c.Finding", "", "", 2),
            ])
            .await;
        assert!(matches!(refused, Err(BusError::Invalid(_))), "{refused:?}");
        assert!(matches!(
            bus.publish(vec![event("dd0c.Nope", "t1", "1", 1)]).await,
            Err(BusError::NoRoute(_))
        ));
        let score = queue
            .receive("score", 10, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(score.is_empty());
    }
}
