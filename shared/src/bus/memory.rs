//! The embedded bus: routes by detail-type through the routing table onto the embedded
//! queues, writing the envelope an EventBridge rule would deliver (a fresh event id that is
//! also the deduplication id, and the route's static message group).

use std::sync::Arc;

use async_trait::async_trait;

use super::{Bus, BusError, BusEvent, Envelope, RoutingTable, MAX_EVENT_BYTES};
use crate::clock::SharedClock;
use crate::queue::{OutgoingMessage, Queue};

pub struct MemoryBus {
    routing: RoutingTable,
    queue: Arc<dyn Queue>,
    clock: SharedClock,
}

impl MemoryBus {
    pub fn new(routing: RoutingTable, queue: Arc<dyn Queue>, clock: SharedClock) -> Self {
        Self {
            routing,
            queue,
            clock,
        }
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        for event in events {
            let route = self
                .routing
                .route(&event.detail_type)
                .ok_or_else(|| BusError::NoRoute(event.detail_type.clone()))?;
            let id = uuid::Uuid::new_v4().to_string();
            let envelope = Envelope {
                version: "0".into(),
                id: id.clone(),
                detail_type: event.detail_type,
                source: self.routing.internal_source.clone(),
                account: event.account,
                time: self
                    .clock
                    .now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                region: event.region,
                resources: vec![],
                detail: event.detail,
            };
            let body =
                serde_json::to_string(&envelope).map_err(|e| BusError::Invalid(e.to_string()))?;
            if body.len() > MAX_EVENT_BYTES {
                return Err(BusError::Invalid(format!(
                    "event of {} bytes exceeds EventBridge's 256 KiB",
                    body.len()
                )));
            }
            self.queue
                .send(
                    &route.queue,
                    OutgoingMessage::new(body, route.message_group.clone(), id),
                )
                .await
                .map_err(|e| BusError::Backend(e.to_string()))?;
        }
        Ok(())
    }
}
