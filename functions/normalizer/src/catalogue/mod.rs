//! The catalogue of cost-creating and cost-changing API calls: one pure function per call,
//! from a CloudTrail record to priced cost events.

mod ec2;

use dd0c_shared::domain::{Actor, CloudTrailRecord, CostAction, CostEvent};

/// What a record means for cost.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// The call created, changed or removed something that costs.
    Cost(Vec<CostEvent>),
    /// A call the catalogue does not price (most calls).
    NonCost,
    /// The call failed (`errorCode`): nothing was created, nothing costs.
    Failed { error_code: String },
}

/// Who and where, shared by every event a record yields.
pub struct Context<'a> {
    pub record: &'a CloudTrailRecord,
    pub tenant_id: &'a str,
    pub account_id: &'a str,
    pub actor: Actor,
}

impl Context<'_> {
    /// A cost event with the record's identity filled in.
    pub fn event(
        &self,
        service: &str,
        resource_type: &str,
        action: CostAction,
        resource_ids: Vec<String>,
        count: u32,
    ) -> CostEvent {
        CostEvent {
            tenant_id: self.tenant_id.to_owned(),
            account_id: self.account_id.to_owned(),
            region: self.record.aws_region.clone(),
            event_id: self.record.event_id.clone(),
            event_time: self.record.event_time,
            event_name: self.record.event_name.clone(),
            service: service.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_ids,
            sku: None,
            count,
            action,
            hourly_cost: None,
            previous_hourly_cost: None,
            pricing_notes: Vec::new(),
            spot: false,
            actor: self.actor.clone(),
        }
    }
}

/// The event names the catalogue prices.
pub fn catalogue() -> &'static [&'static str] {
    &["RunInstances"]
}

pub fn normalize(record: &CloudTrailRecord, tenant_id: &str, account_id: &str) -> Normalized {
    if let Some(code) = record.error_code.as_deref().filter(|c| !c.is_empty()) {
        return Normalized::Failed {
            error_code: code.to_owned(),
        };
    }
    let ctx = Context {
        record,
        tenant_id,
        account_id,
        actor: Actor::from_record(record),
    };
    let events = match (record.service(), record.event_name.as_str()) {
        ("ec2", "RunInstances") => ec2::run_instances(&ctx),
        _ => return Normalized::NonCost,
    };
    if events.is_empty() {
        Normalized::NonCost
    } else {
        Normalized::Cost(events)
    }
}
