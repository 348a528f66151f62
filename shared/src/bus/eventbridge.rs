//! The production bus adapter over aws-sdk-eventbridge. Rules generated from the routing
//! table deliver each detail-type to its queue.

use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::{Bus, BusError, BusEvent, RoutingTable, MAX_EVENT_BYTES};

pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
    routing: RoutingTable,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>, routing: RoutingTable) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
            routing,
        }
    }
}

#[async_trait]
impl Bus for EventBridgeBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        let mut entries = Vec::with_capacity(events.len());
        for event in events {
            // EventBridge would drop an unmatched event silently; refuse it here as the
            // embedded bus does.
            if self.routing.route(&event.detail_type).is_none() {
                return Err(BusError::NoRoute(event.detail_type));
            }
            let detail = serde_json::to_string(&event.detail)
                .map_err(|e| BusError::Invalid(e.to_string()))?;
            if detail.len() > MAX_EVENT_BYTES {
                return Err(BusError::Invalid(format!(
                    "event of {} bytes exceeds EventBridge's 256 KiB",
                    detail.len()
                )));
            }
            entries.push(
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(&self.routing.internal_source)
                    .detail_type(event.detail_type)
                    .detail(detail)
                    .build(),
            );
        }
        // PutEvents takes at most ten entries per call.
        for chunk in entries.chunks(10) {
            let out = self
                .client
                .put_events()
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| BusError::Backend(DisplayErrorContext(e).to_string()))?;
            if out.failed_entry_count() > 0 {
                let reasons: Vec<String> = out
                    .entries()
                    .iter()
                    .filter_map(|e| e.error_message().map(str::to_owned))
                    .collect();
                return Err(BusError::Backend(format!(
                    "{} of {} events were not accepted: {}",
                    out.failed_entry_count(),
                    chunk.len(),
                    reasons.join("; ")
                )));
            }
        }
        Ok(())
    }
}
