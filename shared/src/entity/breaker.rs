//! The notifier's circuit breaker, one item per tenant, detector and hour
//! (`T` / `BREAKER#<detector>#<YYYY-MM-DDTHH>`, expiring a day after the hour): the ids of the
//! hour's immediate alerts (a string set, so a redelivered finding counts once), the hour's
//! normal volume (computed once, from the hours before), and the claim and place of the one
//! "alerts held" notice.

use chrono::{DateTime, Duration, Utc};

use crate::store::{
    AttrValue, Condition, Item, Key, Query, SortKeyCondition, StoreError, Table, Update,
    TTL_ATTRIBUTE,
};

use super::{tenant, time_key, ENTITY};

pub const ENTITY_NAME: &str = "breaker_hour";
const PREFIX: &str = "BREAKER#";
const ALERTS: &str = "alerts";
const NORMAL: &str = "normal";
const NOTICE_CLAIMED_AT: &str = "notice_claimed_at";
const NOTICE_CHANNEL: &str = "notice_channel";
const NOTICE_TS: &str = "notice_ts";
/// Kept a day past the hour, and the history the breaker reads is a day long.
pub const KEEP_HOURS: i64 = 25;

/// An hour as the sort key spells it (`2026-03-02T10`: sorts chronologically).
pub fn hour_label(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H").to_string()
}

pub fn key(tenant_id: &str, detector: &str, hour: &DateTime<Utc>) -> Key {
    Key::new(
        tenant::pk(tenant_id),
        [PREFIX, detector, "#", &hour_label(hour)].concat(),
    )
}

/// One hour of a detector's immediate alerts for a tenant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BreakerHour {
    /// Immediate alerts counted this hour (sent or held).
    pub alerts: u32,
    /// The normal hourly volume this hour was judged against, once computed.
    pub normal: Option<f64>,
    pub notice_claimed: bool,
    /// Where the "held" notice went (channel, ts), once posted.
    pub notice: Option<(String, String)>,
}

impl BreakerHour {
    fn from_item(item: &Item) -> Self {
        let text = |name: &str| {
            item.get(name)
                .and_then(AttrValue::as_str)
                .map(str::to_owned)
        };
        BreakerHour {
            alerts: item
                .get(ALERTS)
                .and_then(AttrValue::as_set)
                .map_or(0, |s| s.len() as u32),
            normal: item.get(NORMAL).and_then(AttrValue::as_f64),
            notice_claimed: item.contains_key(NOTICE_CLAIMED_AT),
            notice: text(NOTICE_CHANNEL).zip(text(NOTICE_TS)),
        }
    }
}

/// Counts one immediate alert (once per finding) in its hour; the hour as it is afterwards.
pub async fn count_alert(
    table: &dyn Table,
    tenant_id: &str,
    detector: &str,
    hour: &DateTime<Utc>,
    finding_id: &str,
) -> Result<BreakerHour, StoreError> {
    let expires = (*hour + Duration::hours(KEEP_HOURS)).timestamp() as f64;
    let item = table
        .update(
            &key(tenant_id, detector, hour),
            Update::new()
                .add(
                    ALERTS,
                    AttrValue::Ss(std::iter::once(finding_id.to_owned()).collect()),
                )
                .set(ENTITY, ENTITY_NAME)
                .set(TTL_ATTRIBUTE, AttrValue::N(expires)),
        )
        .await?;
    Ok(BreakerHour::from_item(&item))
}

/// The `hours` hours before `hour`, oldest first; an hour without alerts has no item and is
/// not in the list (pattern 53).
pub async fn history(
    table: &dyn Table,
    tenant_id: &str,
    detector: &str,
    hour: &DateTime<Utc>,
    hours: i64,
) -> Result<Vec<BreakerHour>, StoreError> {
    let first = key(tenant_id, detector, &(*hour - Duration::hours(hours)));
    let last = key(tenant_id, detector, &(*hour - Duration::hours(1)));
    let items = crate::store::query_all(
        table,
        Query::partition(first.pk).sort(SortKeyCondition::Between(first.sk, last.sk)),
    )
    .await?;
    Ok(items.iter().map(BreakerHour::from_item).collect())
}

/// Fixes the hour's normal volume the first time it is computed; the hour afterwards.
pub async fn set_normal(
    table: &dyn Table,
    tenant_id: &str,
    detector: &str,
    hour: &DateTime<Utc>,
    normal: f64,
) -> Result<BreakerHour, StoreError> {
    let item = table
        .update(
            &key(tenant_id, detector, hour),
            Update::new().set_if_absent(NORMAL, AttrValue::N(normal)),
        )
        .await?;
    Ok(BreakerHour::from_item(&item))
}

/// Claims the hour's one notice; `true` for the first caller only.
pub async fn claim_notice(
    table: &dyn Table,
    tenant_id: &str,
    detector: &str,
    hour: &DateTime<Utc>,
    now: &DateTime<Utc>,
) -> Result<bool, StoreError> {
    let update = Update::new()
        .set(NOTICE_CLAIMED_AT, time_key(now))
        .when(Condition::AttributeNotExists(NOTICE_CLAIMED_AT.into()));
    match table.update(&key(tenant_id, detector, hour), update).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Where the notice went, so later holds can edit its count.
pub async fn record_notice(
    table: &dyn Table,
    tenant_id: &str,
    detector: &str,
    hour: &DateTime<Utc>,
    channel: &str,
    ts: &str,
) -> Result<(), StoreError> {
    table
        .update(
            &key(tenant_id, detector, hour),
            Update::new()
                .set(NOTICE_CHANNEL, channel)
                .set(NOTICE_TS, ts),
        )
        .await
        .map(|_| ())
}

/// The item as the updates above leave it, every attribute present (the stored-shapes test).
#[cfg(test)]
pub(crate) fn specimen(tenant_id: &str, detector: &str, hour: &DateTime<Utc>) -> Item {
    let mut item = super::keyed(Item::new(), key(tenant_id, detector, hour), ENTITY_NAME);
    item.insert(
        ALERTS.into(),
        AttrValue::Ss(["f-1".to_owned()].into_iter().collect()),
    );
    item.insert(NORMAL.into(), AttrValue::N(2.0));
    item.insert(NOTICE_CLAIMED_AT.into(), AttrValue::S(time_key(hour)));
    item.insert(NOTICE_CHANNEL.into(), AttrValue::S("#alerts".into()));
    item.insert(NOTICE_TS.into(), AttrValue::S("1.0".into()));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(1.0));
    item
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryTable;
    use crate::testing::noon;
    use std::sync::Arc;

    #[test]
    fn breaker_keys_sort_by_hour_within_a_detector() {
        let k = key("t", "drift.sg-world-admin-port", &noon());
        assert_eq!(
            k,
            Key::new(
                "TENANT#t",
                "BREAKER#drift.sg-world-admin-port#2026-03-02T10"
            )
        );
        // A detector whose id extends another's never falls in the other's hour range.
        let longer = key("t", "drift.sg-world-admin-port-reported", &noon());
        let last = key(
            "t",
            "drift.sg-world-admin-port",
            &(noon() + Duration::days(400)),
        );
        assert!(longer.sk > last.sk);
    }

    #[tokio::test]
    async fn a_finding_counts_once_and_the_notice_is_claimed_once() {
        let table = MemoryTable::new(Arc::new(crate::clock::ManualClock::new(noon())));
        let hour = noon();
        for id in ["f1", "f2", "f1"] {
            count_alert(&table, "t", "cost.burst", &hour, id)
                .await
                .unwrap();
        }
        let h = count_alert(&table, "t", "cost.burst", &hour, "f2")
            .await
            .unwrap();
        assert_eq!(h.alerts, 2);
        assert_eq!(h.normal, None);
        let h = set_normal(&table, "t", "cost.burst", &hour, 2.5)
            .await
            .unwrap();
        assert_eq!(h.normal, Some(2.5));
        let h = set_normal(&table, "t", "cost.burst", &hour, 9.0)
            .await
            .unwrap();
        assert_eq!(h.normal, Some(2.5), "the hour's normal is fixed once");
        assert!(claim_notice(&table, "t", "cost.burst", &hour, &noon())
            .await
            .unwrap());
        assert!(!claim_notice(&table, "t", "cost.burst", &hour, &noon())
            .await
            .unwrap());
        record_notice(&table, "t", "cost.burst", &hour, "#ops", "1.0")
            .await
            .unwrap();
        let h = count_alert(&table, "t", "cost.burst", &hour, "f3")
            .await
            .unwrap();
        assert!(h.notice_claimed);
        assert_eq!(h.notice, Some(("#ops".into(), "1.0".into())));
        // The next hour reads this one as history; another detector's hours are apart.
        count_alert(&table, "t", "cost.burst-x", &hour, "g1")
            .await
            .unwrap();
        let next = hour + Duration::hours(1);
        let past = history(&table, "t", "cost.burst", &next, 24).await.unwrap();
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].alerts, 3);
        assert!(history(&table, "t", "cost.burst", &hour, 24)
            .await
            .unwrap()
            .is_empty());
    }
}
