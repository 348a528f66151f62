//! Baselines: what an account normally does, kept with `ADD` only so that concurrent
//! updates never race. Two per event: the service × resource type baseline and the
//! account-wide one (regions, actors, event count). Each is two items: the baseline and its
//! tally ([`baseline_entity::tally_key`]).
//!
//! Tally attributes, which every fold changes: `count`, `sum`, `sum_sq`, `iac_count`, `max`
//! (numbers) and `folded_event`. Baseline attributes, which a fold changes only when the event
//! brings something new: `actors`, `skus`, `regions` (string sets), `first_seen` and
//! `first_seen#<kind>#<value>` (RFC 3339, written once with `if_not_exists`, lowered by the
//! backfill, which reads history newest first), `history_since` (account-wide: the oldest
//! event the backfill read), and, written by users: `expected_actors`, `expected_types`,
//! `sensitivity`. A baseline item from before tallies also holds counts: they are added to
//! its tally's (decision 1080).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use dd0c_shared::entity::{baseline as baseline_entity, time_key};
use dd0c_shared::store::{AttrValue, Condition, Item, Key, StoreError, Table, Update};

use crate::config::Sensitivity;

pub const COUNT: &str = "count";
pub const SUM: &str = "sum";
pub const SUM_SQ: &str = "sum_sq";
pub const MAX: &str = "max";
pub const ACTORS: &str = "actors";
pub const SKUS: &str = "skus";
pub const REGIONS: &str = "regions";
pub const FIRST_SEEN: &str = "first_seen";
/// Account-wide: the oldest CloudTrail event of the account's history (the backfill), so an
/// account connected with months of history is not treated as new.
pub const HISTORY_SINCE: &str = "history_since";
/// Events an IaC tool made (of `count`): how much of the account IaC manages.
pub const IAC_COUNT: &str = "iac_count";
pub use dd0c_shared::feedback::{EXPECTED_ACTORS, EXPECTED_TYPES};
pub const SENSITIVITY: &str = "sensitivity";
/// The last event folded into the item by the live scorer: a redelivery of that event finds
/// it and folds nothing (the fold's condition), so each item counts an event once without a
/// transaction. One event suffices: an account's cost events come in order (one message group
/// per account), so a redelivery comes before the account's next event. The backfill's
/// history folds, in no order with the live ones, leave it alone (a transaction with their
/// marker keeps them once).
pub const FOLDED_EVENT: &str = "folded_event";

/// Names the first-seen attribute of one value of a set.
pub fn first_seen_attribute(kind: &str, value: &str) -> String {
    format!("{FIRST_SEEN}#{kind}#{value}")
}

/// Running sums of hourly costs, and what they say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub count: f64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl Moments {
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// Sample variance from the sums; clamped at zero (rounding can make it slightly negative).
    pub fn variance(&self) -> Option<f64> {
        if self.count < 2.0 {
            return None;
        }
        let v = (self.sum_sq - self.sum * self.sum / self.count) / (self.count - 1.0);
        Some(v.max(0.0))
    }

    pub fn add(&mut self, x: f64) {
        self.count += 1.0;
        self.sum += x;
        self.sum_sq += x * x;
    }
}

/// A baseline item as read (absent item = empty baseline).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    pub moments: Moments,
    pub max: Option<f64>,
    /// Of `moments.count`, the events an IaC tool made.
    pub iac_count: f64,
    pub actors: BTreeSet<String>,
    pub skus: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    pub first_seen: Option<DateTime<Utc>>,
    pub history_since: Option<DateTime<Utc>>,
    pub expected_actors: BTreeSet<String>,
    pub expected_types: BTreeSet<String>,
    pub sensitivity: Sensitivity,
    /// [`FOLDED_EVENT`].
    pub folded_event: Option<String>,
    item: Item,
}

/// A set attribute, taken out of the item (the baseline keeps the item for its first-seen
/// times only).
fn take_set(item: &mut Item, name: &str) -> BTreeSet<String> {
    match item.remove(name) {
        Some(AttrValue::Ss(set)) => set,
        _ => BTreeSet::new(),
    }
}

fn time_of(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    let s = item.get(name)?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Baseline {
    pub fn from_item(item: Option<Item>) -> Self {
        let Some(mut item) = item else {
            return Self::default();
        };
        let actors = take_set(&mut item, ACTORS);
        let skus = take_set(&mut item, SKUS);
        let regions = take_set(&mut item, REGIONS);
        let expected_actors = take_set(&mut item, EXPECTED_ACTORS);
        let expected_types = take_set(&mut item, EXPECTED_TYPES);
        let num = |name: &str| item.get(name).and_then(AttrValue::as_f64);
        Baseline {
            moments: Moments {
                count: num(COUNT).unwrap_or(0.0),
                sum: num(SUM).unwrap_or(0.0),
                sum_sq: num(SUM_SQ).unwrap_or(0.0),
            },
            max: num(MAX),
            iac_count: num(IAC_COUNT).unwrap_or(0.0),
            actors,
            skus,
            regions,
            first_seen: time_of(&item, FIRST_SEEN),
            history_since: time_of(&item, HISTORY_SINCE),
            expected_actors,
            expected_types,
            sensitivity: item
                .get(SENSITIVITY)
                .and_then(AttrValue::as_str)
                .and_then(Sensitivity::parse)
                .unwrap_or_default(),
            folded_event: item
                .get(FOLDED_EVENT)
                .and_then(AttrValue::as_str)
                .map(str::to_owned),
            item,
        }
    }

    /// A baseline as its two items hold it: the tally's counts added to any the baseline item
    /// kept from before tallies, the larger max, the tally's last folded event.
    pub fn from_items(baseline: Option<Item>, tally: Option<Item>) -> Self {
        let mut b = Self::from_item(baseline);
        let Some(tally) = tally else {
            return b;
        };
        let num = |name: &str| tally.get(name).and_then(AttrValue::as_f64);
        b.moments.count += num(COUNT).unwrap_or(0.0);
        b.moments.sum += num(SUM).unwrap_or(0.0);
        b.moments.sum_sq += num(SUM_SQ).unwrap_or(0.0);
        b.iac_count += num(IAC_COUNT).unwrap_or(0.0);
        b.max = match (b.max, num(MAX)) {
            (Some(a), Some(t)) => Some(a.max(t)),
            (a, t) => a.or(t),
        };
        if let Some(folded) = tally.get(FOLDED_EVENT).and_then(AttrValue::as_str) {
            b.folded_event = Some(folded.to_owned());
        }
        b
    }

    /// The baseline under `key` and its tally, read strongly.
    pub async fn load(table: &dyn Table, key: &Key) -> Result<Self, StoreError> {
        let baseline = table.get(key).await?;
        let tally = table.get(&baseline_entity::tally_key(key)).await?;
        Ok(Self::from_items(baseline, tally))
    }

    /// Whether folding `c` in would change none of the baseline item's sets and first-seen
    /// times (then only the tally is written).
    pub fn knows(&self, c: &Contribution<'_>) -> bool {
        self.actors.contains(c.actor)
            && self.regions.contains(c.region)
            && c.sku.is_none_or(|sku| self.skus.contains(sku))
            && first_seen_attributes(c)
                .iter()
                .all(|name| self.item.contains_key(name))
    }

    /// When a value of a set (`actor`, `sku`, `region`) was first seen.
    pub fn first_seen_of(&self, kind: &str, value: &str) -> Option<DateTime<Utc>> {
        time_of(&self.item, &first_seen_attribute(kind, value))
    }
}

/// What one event contributes to a baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution<'a> {
    pub hourly: f64,
    pub time: DateTime<Utc>,
    pub actor: &'a str,
    pub sku: Option<&'a str>,
    pub region: &'a str,
    /// Made by an IaC tool.
    pub by_iac: bool,
}

/// The `ADD`-only update folding one event into a baseline's tally (`with_cost`: the
/// service/type baseline keeps cost moments; the account-wide one only counts).
pub fn tally(c: &Contribution<'_>, with_cost: bool) -> Update {
    let mut u = Update::new().add(COUNT, 1.0);
    if with_cost {
        u = u.add(SUM, c.hourly).add(SUM_SQ, c.hourly * c.hourly);
    }
    if c.by_iac {
        u = u.add(IAC_COUNT, 1.0);
    }
    u
}

/// The update folding one event's actor, region and SKU into a baseline item's sets and
/// first-seen times: `ADD` to sets and `if_not_exists`, so applying it again changes nothing.
pub fn members(c: &Contribution<'_>) -> Update {
    let t = time_key(&c.time);
    let mut u = Update::new()
        .add(ACTORS, AttrValue::string_set([c.actor]))
        .add(REGIONS, AttrValue::string_set([c.region]))
        .set_if_absent(FIRST_SEEN, t.as_str())
        .set_if_absent(first_seen_attribute("actor", c.actor), t.as_str())
        .set_if_absent(first_seen_attribute("region", c.region), t.as_str());
    if let Some(sku) = c.sku {
        u = u
            .add(SKUS, AttrValue::string_set([sku]))
            .set_if_absent(first_seen_attribute("sku", sku), t.as_str());
    }
    u
}

/// `update`, applied only when the item's last folded event is not `event_id`, and recording
/// that it now is (a failed condition means the event is already counted there).
pub fn once_per_event(update: Update, event_id: &str) -> Update {
    update.set(FOLDED_EVENT, event_id).when(Condition::Or(vec![
        Condition::AttributeNotExists(FOLDED_EVENT.into()),
        Condition::NotEquals(FOLDED_EVENT.into(), AttrValue::S(event_id.into())),
    ]))
}

/// The first-seen attributes [`fold`] writes for `c` (if absent).
pub fn first_seen_attributes(c: &Contribution<'_>) -> Vec<String> {
    let mut names = vec![
        FIRST_SEEN.to_owned(),
        first_seen_attribute("actor", c.actor),
        first_seen_attribute("region", c.region),
    ];
    if let Some(sku) = c.sku {
        names.push(first_seen_attribute("sku", sku));
    }
    names
}

/// `SET name = :t` only when it makes the time earlier: history arrives newest first, so the
/// backfill moves a first-seen time back (a conditional `SET` is safe to repeat).
pub fn lower_time(name: &str, t: DateTime<Utc>) -> Update {
    let t = time_key(&t);
    Update::new().set(name, t.as_str()).when(Condition::Or(vec![
        Condition::AttributeNotExists(name.into()),
        Condition::GreaterThan(name.into(), AttrValue::S(t)),
    ]))
}

/// `SET max = :v` only when it raises the max: `ADD` cannot take a maximum, and a conditional
/// `SET` is safe to repeat (a redelivery sets the same value or fails the condition).
pub fn raise_max(hourly: f64) -> Update {
    Update::new().set(MAX, hourly).when(Condition::Or(vec![
        Condition::AttributeNotExists(MAX.into()),
        Condition::LessThan(MAX.into(), AttrValue::N(hourly)),
    ]))
}

/// The keys of the baselines an event touches.
pub fn keys_for(tenant: &str, account: &str, service: &str, resource_type: &str) -> (Key, Key) {
    (
        baseline_entity::key(tenant, account, service, resource_type),
        baseline_entity::account_key(tenant, account),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_needs_two_events() {
        let mut m = Moments::default();
        assert_eq!(m.variance(), None);
        m.add(3.0);
        assert_eq!(m.mean(), Some(3.0));
        assert_eq!(m.variance(), None);
        m.add(5.0);
        assert_eq!(m.variance(), Some(2.0));
    }
}
