//! Cost events: what an API call started (or stopped) costing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::actor::Actor;

pub const COST_EVENT_DETAIL_TYPE: &str = "dd0c.CostEvent";

/// Whether the call adds cost, changes it or removes it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CostAction {
    Create,
    Start,
    Modify,
    Stop,
    Delete,
}

impl CostAction {
    pub fn adds_cost(self) -> bool {
        matches!(
            self,
            CostAction::Create | CostAction::Start | CostAction::Modify
        )
    }
}

/// A priced cost-relevant API call. `hourly_cost` is for everything the call created
/// (all `count` units), null when the price is unknown (`pricing_notes` says why).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CostEvent {
    pub tenant_id: String,
    pub account_id: String,
    pub region: String,
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    /// `ec2`, `rds`, `lambda`, …
    pub service: String,
    /// `ec2:instance`, `rds:db`, `ebs:volume`, …
    pub resource_type: String,
    pub resource_ids: Vec<String>,
    /// Instance type, DB class, volume type: what the price was looked up by.
    #[serde(default)]
    pub sku: Option<String>,
    pub count: u32,
    pub action: CostAction,
    #[serde(default)]
    pub hourly_cost: Option<f64>,
    /// For modifications: the hourly cost before the change, when known.
    #[serde(default)]
    pub previous_hourly_cost: Option<f64>,
    #[serde(default)]
    pub pricing_notes: Vec<String>,
    #[serde(default)]
    pub spot: bool,
    pub actor: Actor,
    /// The tags the call put on what it created (`key` → value), for routing by tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl CostEvent {
    /// The cost this event adds per hour (a modification adds only its delta).
    pub fn added_hourly_cost(&self) -> Option<f64> {
        let cost = self.hourly_cost?;
        Some(match (self.action, self.previous_hourly_cost) {
            (CostAction::Modify, Some(before)) => cost - before,
            (CostAction::Stop | CostAction::Delete, _) => 0.0,
            _ => cost,
        })
    }
}
