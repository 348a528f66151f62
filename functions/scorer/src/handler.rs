use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusEvent, Envelope};
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::{
    CostEvent, Finding, FindingKind, FindingStatus, COST_EVENT_DETAIL_TYPE, FINDING_DETAIL_TYPE,
};
use dd0c_shared::finding_store::{mark_published, record_finding, Recorded};
use dd0c_shared::store::Table;
use dd0c_shared::telemetry;

use crate::signals;

pub struct Scorer {
    table: Arc<dyn Table>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
}

impl Scorer {
    pub fn new(table: Arc<dyn Table>, bus: Arc<dyn Bus>, clock: SharedClock) -> Self {
        Self { table, bus, clock }
    }

    pub async fn score(&self, event: &CostEvent) -> Result<Option<Finding>, HandlerError> {
        let Some(assessment) = signals::cold_start(event) else {
            return Ok(None);
        };
        let finding = Finding {
            id: Finding::id_for(FindingKind::CostAnomaly, &event.event_id),
            tenant_id: event.tenant_id.clone(),
            kind: FindingKind::CostAnomaly,
            event_id: event.event_id.clone(),
            account_id: event.account_id.clone(),
            region: event.region.clone(),
            event_time: event.event_time,
            event_name: event.event_name.clone(),
            actor: event.actor.clone(),
            severity: assessment.severity,
            score: assessment.score,
            reasons: assessment.reasons,
            resource_type: event.resource_type.clone(),
            resource_ids: event.resource_ids.clone(),
            estimated_hourly_cost: event.hourly_cost,
            category: None,
            notified: false,
            suppressed_reason: None,
            status: FindingStatus::Open,
            created_at: self.clock.now(),
            details: serde_json::json!({
                "sku": event.sku, "count": event.count, "spot": event.spot,
            }),
        };
        Ok(Some(finding))
    }
}

#[async_trait]
impl MessageHandler for Scorer {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != COST_EVENT_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let event: CostEvent =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        let Some(finding) = self.score(&event).await? else {
            return Ok(());
        };
        if record_finding(self.table.as_ref(), &finding)
            .await
            .map_err(HandlerError::transient)?
            == Recorded::AlreadyPublished
        {
            return Ok(());
        }
        self.bus
            .publish(vec![BusEvent {
                detail_type: FINDING_DETAIL_TYPE.into(),
                detail: serde_json::json!({"tenant_id": finding.tenant_id, "finding_id": finding.id}),
                account: finding.account_id.clone(),
                region: finding.region.clone(),
            }])
            .await
            .map_err(HandlerError::transient)?;
        mark_published(self.table.as_ref(), &finding)
            .await
            .map_err(HandlerError::transient)?;
        telemetry::metric("Findings", 1.0);
        Ok(())
    }
}
