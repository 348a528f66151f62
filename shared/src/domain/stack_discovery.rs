//! The steps of reading what IaC owns in an account through its read-only role (the stack
//! discovery, decision 0430): CloudFormation stacks and their resources, and resources
//! carrying a stack's ownership tags. Each step is one message on the `backfill` queue, in
//! the account's message group (`shared/routing.json`).

use serde::{Deserialize, Serialize};

use crate::bus::BusEvent;

pub const STACK_DISCOVERY_DETAIL_TYPE: &str = "dd0c.StackDiscovery";

/// What one step reads: without `region`, start a step in every region; with `region` and
/// no `stack`, list the region's stacks (a step each) and its tagged resources; with both,
/// read that stack's resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackDiscoveryStep {
    pub tenant_id: String,
    pub account_id: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub stack: Option<String>,
}

impl StackDiscoveryStep {
    /// The step that reads every region of an account (sent on connect).
    pub fn start(tenant: &str, account: &str) -> Self {
        Self {
            tenant_id: tenant.to_owned(),
            account_id: account.to_owned(),
            region: None,
            stack: None,
        }
    }

    /// The step that reads one region, or one stack of it.
    pub fn of(tenant: &str, account: &str, region: &str, stack: Option<&str>) -> Self {
        Self {
            tenant_id: tenant.to_owned(),
            account_id: account.to_owned(),
            region: Some(region.to_owned()),
            stack: stack.map(str::to_owned),
        }
    }

    /// The bus event carrying this step.
    pub fn event(&self) -> BusEvent {
        BusEvent {
            detail_type: STACK_DISCOVERY_DETAIL_TYPE.into(),
            detail: serde_json::json!({
                "tenant_id": self.tenant_id,
                "account_id": self.account_id,
                "region": self.region,
                "stack": self.stack,
            }),
            tenant: self.tenant_id.clone(),
            account: self.account_id.clone(),
            region: self.region.clone().unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_round_trips_through_its_bus_event() {
        let step = StackDiscoveryStep::of("t1", "111122223333", "eu-west-1", Some("web"));
        let event = step.event();
        assert_eq!(event.detail_type, STACK_DISCOVERY_DETAIL_TYPE);
        assert_eq!(event.account, "111122223333");
        assert_eq!(event.region, "eu-west-1");
        let back: StackDiscoveryStep = serde_json::from_value(event.detail).unwrap();
        assert_eq!(back, step);
        let start: StackDiscoveryStep =
            serde_json::from_value(StackDiscoveryStep::start("t1", "1").event().detail).unwrap();
        assert_eq!((start.region, start.stack), (None, None));
    }
}
