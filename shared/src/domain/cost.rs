//! Cost events: what an API call started (or stopped) costing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::actor::Actor;
use crate::pricing::PriceBasis;

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
    /// The full provenance of the price, in the order it was built (the finding's
    /// `details.pricing.notes`).
    #[serde(default)]
    pub pricing_notes: Vec<String>,
    /// The price's basis in a few words, the date of its oldest price and the caveats that
    /// change its meaning (what an alert shows). Absent on events priced before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_basis: Option<PriceBasis>,
    #[serde(default)]
    pub spot: bool,
    pub actor: Actor,
    /// The tags the call put on what it created (`key` → value), for routing by tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl CostEvent {
    /// What a finding's headline says of the price: its basis in a few words, then each
    /// caveat that changes what the number means. The provenance goes in
    /// [`CostEvent::pricing_details`].
    pub fn price_reasons(&self) -> Vec<String> {
        let Some(basis) = &self.price_basis else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(1 + basis.caveats.len());
        if !basis.label.is_empty() {
            out.push(format!("price: {}", basis.label));
        }
        out.extend(basis.caveats.iter().cloned());
        out
    }

    /// The finding's `details.pricing`: `{basis, as_of, caveats, notes}` (`basis` and `as_of`
    /// absent when the event predates them or its price has no date).
    pub fn pricing_details(&self) -> serde_json::Value {
        let basis = self.price_basis.clone().unwrap_or_default();
        let mut pricing = serde_json::Map::new();
        if !basis.label.is_empty() {
            pricing.insert("basis".into(), basis.label.into());
        }
        if let Some(as_of) = basis.as_of {
            pricing.insert("as_of".into(), as_of.into());
        }
        pricing.insert("caveats".into(), basis.caveats.into());
        pricing.insert("notes".into(), self.pricing_notes.clone().into());
        serde_json::Value::Object(pricing)
    }

    /// The cost this event adds per hour (a modification adds only its delta).
    pub fn added_hourly_cost(&self) -> Option<f64> {
        let cost = self.hourly_cost?;
        Some(match (self.action, self.previous_hourly_cost) {
            (CostAction::Modify, Some(before)) => cost - before,
            (CostAction::Stop | CostAction::Delete, _) => 0.0,
            _ => cost,
        })
    }

    /// The cost per hour this event adds, when it is known and above zero: what the scorer
    /// scores and folds into the baselines.
    pub fn scored_hourly_cost(&self) -> Option<f64> {
        let hourly = self.added_hourly_cost()?;
        (self.action.adds_cost() && hourly > 0.0).then_some(hourly)
    }

    /// Whether the event is known to add no cost (a stop, a deletion, a change to something no
    /// dearer): the scorer has nothing to do with it, so it is not sent there (decision 1240).
    /// An event of unknown price is sent.
    pub fn adds_nothing(&self) -> bool {
        !self.action.adds_cost() || self.added_hourly_cost().is_some_and(|h| h <= 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn event(action: CostAction, hourly: Option<f64>, before: Option<f64>) -> CostEvent {
        CostEvent {
            action,
            hourly_cost: hourly,
            previous_hourly_cost: before,
            ..testing::cost_event("e")
        }
    }

    #[test]
    fn the_scorer_gets_every_event_that_may_add_cost_and_scores_those_that_do() {
        use CostAction::*;
        // (event, what the scorer scores, known to add nothing)
        let cases = [
            (event(Create, Some(2.0), None), Some(2.0), false),
            (event(Start, Some(1.5), None), Some(1.5), false),
            (event(Modify, Some(3.0), Some(1.0)), Some(2.0), false),
            (event(Modify, Some(1.0), Some(3.0)), None, true),
            (event(Modify, Some(1.0), Some(1.0)), None, true),
            (event(Create, Some(0.0), None), None, true),
            (event(Stop, Some(4.0), None), None, true),
            (event(Delete, None, None), None, true),
            // An unknown price may add cost: sent, though not scored today.
            (event(Create, None, None), None, false),
        ];
        for (e, scored, nothing) in cases {
            assert_eq!(e.scored_hourly_cost(), scored, "{e:?}");
            assert_eq!(e.adds_nothing(), nothing, "{e:?}");
            assert!(
                scored.is_none() || !e.adds_nothing(),
                "a scored event is sent"
            );
        }
    }
}
