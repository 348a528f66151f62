//! CloudTrail records as processed, in the account partition `A` (`EVENT#…`): the normalizer's
//! idempotency, and what a record's cost events started, which the digest reads (pattern 7).
//! Keyed on the record's own time and eventID, so a redelivery (same eventID, another envelope)
//! hits the same key.

use chrono::{DateTime, Utc};

use crate::domain::CostEvent;
use crate::pricing::oldest_price;
use crate::store::{AttrValue, Item, Key, Query, Update, TTL_ATTRIBUTE};

use super::{account, time_key, time_window};

pub fn cloudtrail_key(tenant: &str, account: &str, time: &DateTime<Utc>, event_id: &str) -> Key {
    Key::new(
        account::pk(tenant, account),
        format!("EVENT#{}#{event_id}", time_key(time)),
    )
}

/// The event id of a CloudTrail record key.
pub fn event_id_of(key: &Key) -> Option<&str> {
    let rest = key.sk.strip_prefix("EVENT#")?;
    rest.split_once('#').map(|(_, id)| id)
}

/// An account's CloudTrail records with `from <= time <= to` (pattern 5).
pub fn cloudtrail_between(
    tenant: &str,
    account: &str,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Query {
    Query::partition(account::pk(tenant, account)).sort(time_window("EVENT#", from, to))
}

/// Every CloudTrail record of an account, oldest first.
pub fn cloudtrail_all(tenant: &str, account: &str) -> Query {
    account::items_starting(tenant, account, "EVENT#")
}

/// The update that marks a record processed, its domain events published (pattern 4), with what
/// its cost events started when it has any; kept until `ttl`.
pub fn processed_mark(
    event_name: &str,
    event_source: &str,
    outcome: &str,
    spend: Option<&RecordSpend>,
    ttl: i64,
) -> Update {
    let mark = Update::new()
        .set("published", true)
        .set("event_name", event_name)
        .set("event_source", event_source)
        .set("outcome", outcome)
        .set(TTL_ATTRIBUTE, ttl);
    match spend {
        Some(spend) => spend.on_mark(mark),
        None => mark,
    }
}

/// What a record's cost events started, as the digest sums it (pattern 7). It is kept on the
/// record's processed mark, which the normalizer writes anyway, instead of an item of its own
/// with an index entry (decision 1200). A record's cost events share its time and its actor.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSpend {
    pub cost_events: u32,
    /// USD per hour the record's cost events added (what a stop or delete saves counts 0).
    pub added_hourly: f64,
    /// The date of the oldest price behind `added_hourly`; `None` when no event added spend or
    /// none says.
    pub prices_as_of: Option<String>,
    pub actor: String,
}

const SPEND_EVENTS: &str = "spend_events";
const SPEND_HOURLY: &str = "spend_hourly";
const SPEND_PRICES_AS_OF: &str = "spend_prices_as_of";
const SPEND_ACTOR: &str = "spend_actor";

impl RecordSpend {
    /// The spend of a record's cost events; `None` when it has none.
    pub fn of(events: &[CostEvent]) -> Option<Self> {
        let first = events.first()?;
        let mut spend = RecordSpend {
            cost_events: events.len() as u32,
            added_hourly: 0.0,
            prices_as_of: None,
            actor: first.actor.name.clone(),
        };
        for event in events {
            let added = event.added_hourly_cost().unwrap_or(0.0).max(0.0);
            spend.added_hourly += added;
            if added > 0.0 {
                let as_of = event.price_basis.as_ref().and_then(|b| b.as_of.clone());
                spend.prices_as_of = oldest_price(spend.prices_as_of.take(), as_of);
            }
        }
        Some(spend)
    }

    fn on_mark(&self, update: Update) -> Update {
        let update = update
            .set(SPEND_EVENTS, self.cost_events as f64)
            .set(SPEND_HOURLY, self.added_hourly)
            .set(SPEND_ACTOR, self.actor.as_str());
        match &self.prices_as_of {
            Some(as_of) => update.set(SPEND_PRICES_AS_OF, as_of.as_str()),
            None => update,
        }
    }

    /// The spend a processed mark carries; `None` for a record that started none.
    pub fn from_mark(item: &Item) -> Option<Self> {
        Some(RecordSpend {
            cost_events: item.get(SPEND_EVENTS)?.as_f64()? as u32,
            added_hourly: item.get(SPEND_HOURLY)?.as_f64()?,
            prices_as_of: item
                .get(SPEND_PRICES_AS_OF)
                .and_then(AttrValue::as_str)
                .map(str::to_owned),
            actor: item.get(SPEND_ACTOR)?.as_str()?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CostAction;
    use crate::pricing::PriceBasis;
    use crate::testing;

    #[test]
    fn event_keys() {
        let t = DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let k = cloudtrail_key("t1", "1", &t, "e-1");
        assert_eq!(
            k,
            Key::new("TENANT#t1#ACCOUNT#1", "EVENT#2026-11-22T09:00:00Z#e-1")
        );
        assert_eq!(event_id_of(&k), Some("e-1"));
    }

    /// The item an update of only `SET`s leaves on an absent key.
    fn written(update: Update) -> Item {
        assert!(update.add.is_empty() && update.remove.is_empty());
        update.set.into_iter().collect()
    }

    fn priced(
        id: &str,
        action: CostAction,
        hourly: f64,
        before: Option<f64>,
        as_of: &str,
    ) -> CostEvent {
        CostEvent {
            action,
            hourly_cost: Some(hourly),
            previous_hourly_cost: before,
            price_basis: Some(PriceBasis {
                label: "list price".into(),
                as_of: Some(as_of.into()),
                caveats: vec![],
            }),
            ..testing::cost_event(id)
        }
    }

    #[test]
    fn a_records_spend_is_what_its_events_added_priced_by_the_oldest_price_that_added() {
        let events = [
            priced("e", CostAction::Create, 2.0, None, "2026-05"),
            // A downsize adds nothing (not a negative amount), nor does its price count.
            priced("e", CostAction::Modify, 1.0, Some(3.0), "2025-01"),
            priced("e", CostAction::Modify, 1.5, Some(1.0), "2026-03"),
            priced("e", CostAction::Stop, 9.0, None, "2024-01"),
        ];
        let spend = RecordSpend::of(&events).unwrap();
        assert_eq!(spend.cost_events, 4);
        assert_eq!(spend.added_hourly, 2.5);
        assert_eq!(spend.prices_as_of.as_deref(), Some("2026-03"));
        assert_eq!(spend.actor, testing::console_user().name);
        assert_eq!(RecordSpend::of(&[]), None);
        let stopped = RecordSpend::of(&events[3..]).unwrap();
        assert_eq!((stopped.added_hourly, stopped.prices_as_of), (0.0, None));
    }

    #[test]
    fn the_mark_carries_the_spend_back_to_its_reader() {
        let spend = RecordSpend::of(&[priced("e", CostAction::Create, 2.0, None, "2026-05")]);
        let mark = written(processed_mark(
            "RunInstances",
            "ec2.amazonaws.com",
            "cost_events",
            spend.as_ref(),
            7,
        ));
        assert_eq!(RecordSpend::from_mark(&mark), spend);
        assert_eq!(mark.get("published"), Some(&AttrValue::Bool(true)));
        assert_eq!(mark.get(TTL_ATTRIBUTE), Some(&AttrValue::N(7.0)));
        let unpriced = RecordSpend {
            prices_as_of: None,
            ..spend.unwrap()
        };
        let mark = written(processed_mark(
            "RunInstances",
            "ec2.amazonaws.com",
            "cost_events",
            Some(&unpriced),
            7,
        ));
        assert_eq!(RecordSpend::from_mark(&mark), Some(unpriced));
        let no_cost = written(processed_mark(
            "PutBucketPolicy",
            "s3.amazonaws.com",
            "non_cost_event",
            None,
            7,
        ));
        assert_eq!(RecordSpend::from_mark(&no_cost), None);
    }
}
