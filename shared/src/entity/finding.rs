//! A finding (`T` / `FINDING#<kind>-<eventID>`): one per (kind, event), written once,
//! published once, indexed by time (GSI1 `T#FINDINGS`) and by status and time (GSI2
//! `T#FINDINGS#<status>`). Its status changes only through a [`Transition`], each allowed from
//! the statuses [`Transition::allowed_from`] lists and written under the condition that the
//! status is still the one the change was decided on; every transition moves the GSI2 entry.
//! A closed finding (resolved, expected, accepted) expires [`CLOSED_FINDING_DAYS`] after it
//! closed; reopened or snoozed, it is kept again (decision 1080). An info finding, open or not,
//! expires [`INFO_FINDING_DAYS`] after it was recorded at the earliest (decision 1260).
//! People's changes go through `finding_actions`, which audits them.

use chrono::{DateTime, Duration, Utc};

use crate::domain::{Finding, FindingKind, FindingStatus, Severity};
use crate::store::{
    packed, put_if_absent, query_all, AttrValue, Condition, Index, Item, Key, Query, StoreError,
    Table, Update, TTL_ATTRIBUTE,
};

use super::{decode, encode, indexed, keyed, reindex, tenant, time_key, time_window};

pub const ENTITY: &str = "finding";
const SK_PREFIX: &str = "FINDING#";

pub fn key(tenant: &str, finding_id: &str) -> Key {
    Key::new(tenant::pk(tenant), format!("{SK_PREFIX}{finding_id}"))
}

/// The finding id of a finding key.
pub fn id_of(key: &Key) -> Option<&str> {
    key.sk.strip_prefix(SK_PREFIX)
}

fn by_time_partition(tenant: &str) -> String {
    tenant::sub(tenant, "FINDINGS")
}

fn status_partition(tenant: &str, status: &str) -> String {
    tenant::sub(tenant, &format!("FINDINGS#{status}"))
}

fn time_sort(time: &DateTime<Utc>, finding_id: &str) -> String {
    format!("{}#{finding_id}", time_key(time))
}

/// GSI1 of a finding: a tenant's findings by event time.
pub fn gsi1(tenant: &str, time: &DateTime<Utc>, finding_id: &str) -> (String, String) {
    (by_time_partition(tenant), time_sort(time, finding_id))
}

/// GSI2 of a finding: a tenant's findings in one status, by event time.
pub fn gsi2(
    tenant: &str,
    status: FindingStatus,
    time: &DateTime<Utc>,
    finding_id: &str,
) -> (String, String) {
    (
        status_partition(tenant, status.as_str()),
        time_sort(time, finding_id),
    )
}

/// What a finding's item packs into one binary attribute ([`PACKED`]): the narrative (why, who,
/// on what), read only whole with the finding and never named by a query, a condition or an
/// update. Deflated, the item is about a KB smaller, and DynamoDB bills every write of it
/// (recorded, notification decided, status changed) and its storage by size (decision 1250).
const PACKED_FIELDS: [&str; 4] = ["details", "reasons", "actor", "resource_ids"];
const PACKED: &str = "packed";

/// A finding's item, with its key, both index entries, entity name, its narrative packed and,
/// for an info finding, its expiry.
pub fn item(finding: &Finding) -> Result<Item, StoreError> {
    let (tenant, id, time) = (&finding.tenant_id, &finding.id, &finding.event_time);
    let mut item = encode(finding)?;
    if let Some(expires) = active_expiry(finding, None) {
        item.insert(
            TTL_ATTRIBUTE.into(),
            AttrValue::N(expires.timestamp() as f64),
        );
    }
    packed::pack(&mut item, &PACKED_FIELDS, PACKED).map_err(|source| StoreError::Decode {
        key: Some(key(tenant, id)),
        source,
    })?;
    let item = keyed(item, key(tenant, id), ENTITY);
    let item = indexed(item, Index::Gsi1, gsi1(tenant, time, id));
    Ok(indexed(
        item,
        Index::Gsi2,
        gsi2(tenant, finding.status, time, id),
    ))
}

/// A tenant's findings by event time (pattern 14); sort keys are `<time>#<id>`
/// (`entity::time_range`).
pub fn by_time(tenant: &str) -> Query {
    Query::partition(by_time_partition(tenant)).on(Index::Gsi1)
}

/// A tenant's findings with `since <= event time <= until` (the digest's day).
pub fn by_time_within(tenant: &str, since: &DateTime<Utc>, until: &DateTime<Utc>) -> Query {
    by_time(tenant).sort(time_window("", since, until))
}

/// A tenant's findings in one status, by event time (pattern 15).
pub fn in_status(tenant: &str, status: FindingStatus) -> Query {
    Query::partition(status_partition(tenant, status.as_str())).on(Index::Gsi2)
}

/// A stored finding with what lives on its item beside the finding: the snooze, the owner and
/// where its Slack alert is.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFinding {
    pub finding: Finding,
    pub snooze_until: Option<DateTime<Utc>>,
    pub owner: Option<String>,
    pub slack_channel: Option<String>,
    pub slack_ts: Option<String>,
    /// The incident it is in (decision 0530), once the notifier has put it in one: read from
    /// its incident link by [`load_stored`] and [`with_incident`]; [`stored`] alone sees only
    /// the one a finding linked before links had their own item names on itself.
    pub incident_id: Option<String>,
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name)
        .and_then(AttrValue::as_str)
        .map(str::to_owned)
}

/// When a stored finding's snooze ends (`snooze_until`).
pub fn snooze_until(item: &Item) -> Option<DateTime<Utc>> {
    item.get("snooze_until")
        .and_then(AttrValue::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Reads a finding's item (from a query or a get).
pub fn stored(key: Option<Key>, item: Item) -> Result<StoredFinding, StoreError> {
    let snooze_until = snooze_until(&item);
    let owner = text(&item, "owner");
    let slack_channel = text(&item, "slack_channel");
    let slack_ts = text(&item, "slack_ts");
    let incident_id = text(&item, INCIDENT);
    Ok(StoredFinding {
        finding: decode_finding(key, item)?,
        snooze_until,
        owner,
        slack_channel,
        slack_ts,
        incident_id,
    })
}

pub async fn load_stored(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<Option<StoredFinding>, StoreError> {
    let key = key(tenant, id);
    match table.get(&key).await? {
        Some(item) => Ok(Some(with_incident(table, stored(Some(key), item)?).await?)),
        None => Ok(None),
    }
}

pub async fn load(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<Option<Finding>, StoreError> {
    Ok(load_stored(table, tenant, id).await?.map(|s| s.finding))
}

/// Every finding of a tenant, by event time (the replay's findings file, Slack's lists).
pub async fn all(table: &dyn Table, tenant: &str) -> Result<Vec<Finding>, StoreError> {
    query_all(table, by_time(tenant))
        .await?
        .into_iter()
        .map(|item| decode_finding(None, item))
        .collect()
}

/// A finding from its item, packed ([`PACKED`]) or written before packing.
fn decode_finding(key: Option<Key>, mut item: Item) -> Result<Finding, StoreError> {
    if let Err(source) = packed::unpack(&mut item, PACKED) {
        return Err(StoreError::Decode { key, source });
    }
    decode(key, item)
}

/// Whether a finding still has to be handed to the notifier.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// New, or stored earlier but never published (a crash between the two).
    ToPublish,
    /// Stored and published before: a redelivery.
    AlreadyPublished,
}

/// Writes a finding unless one exists for the same (kind, event). For one that exists, whether
/// it was published: its published mark, or the flag a finding published before marks had their
/// own item carries on itself.
pub async fn record(table: &dyn Table, finding: &Finding) -> Result<Recorded, StoreError> {
    if put_if_absent(table, item(finding)?).await? {
        return Ok(Recorded::ToPublish);
    }
    let (tenant, id) = (&finding.tenant_id, &finding.id);
    let published = table.get(&published_mark_key(tenant, id)).await?.is_some()
        || table
            .get(&key(tenant, id))
            .await?
            .is_some_and(|i| i.get(PUBLISHED) == Some(&AttrValue::Bool(true)));
    Ok(if published {
        Recorded::AlreadyPublished
    } else {
        Recorded::ToPublish
    })
}

async fn touch(table: &dyn Table, finding: &Finding, update: Update) -> Result<(), StoreError> {
    table
        .update(&key(&finding.tenant_id, &finding.id), update)
        .await
        .map(|_| ())
}

/// The attribute of a finding published before published marks had their own item.
const PUBLISHED: &str = "published";
/// The sort key prefix of a finding's published mark.
const PUBLISHED_MARK_PREFIX: &str = "PUBLISHED#";
/// The entity name of a finding's published mark.
pub const PUBLISHED_MARK_ENTITY: &str = "finding_published";
/// How long a published mark is kept: its one reader is [`record`] on a redelivery of the
/// finding's event, which comes while SQS keeps the message (14 days at most, its DLQ too).
const PUBLISHED_MARK_TTL_SECONDS: i64 = 15 * 24 * 3600;

/// A finding's published mark (`T` / `PUBLISHED#<finding id>`, TTL 15 days): the scorer's and
/// the classifier's outbox flag, a small item of its own. On the finding's item, the flag
/// rewrote the whole finding for a value no reader of the finding needs (decision 1070).
pub fn published_mark_key(tenant: &str, finding_id: &str) -> Key {
    Key::new(
        tenant::pk(tenant),
        format!("{PUBLISHED_MARK_PREFIX}{finding_id}"),
    )
}

/// The item of a finding's published mark, written at `now`.
pub fn published_mark_item(tenant: &str, finding_id: &str, now: &DateTime<Utc>) -> Item {
    let mut item = keyed(
        Item::new(),
        published_mark_key(tenant, finding_id),
        PUBLISHED_MARK_ENTITY,
    );
    item.insert(
        crate::store::TTL_ATTRIBUTE.into(),
        AttrValue::N((now.timestamp() + PUBLISHED_MARK_TTL_SECONDS) as f64),
    );
    item
}

/// Records that the finding was handed to the notifier, so that a redelivery of its event
/// does not hand it over again (idempotent).
pub async fn mark_published(
    table: &dyn Table,
    finding: &Finding,
    now: &DateTime<Utc>,
) -> Result<(), StoreError> {
    table
        .put(
            published_mark_item(&finding.tenant_id, &finding.id, now),
            None,
        )
        .await
}

/// Records the notifier's decision on a finding.
pub async fn record_notification(
    table: &dyn Table,
    finding: &Finding,
    notified: bool,
    suppressed_reason: Option<&str>,
) -> Result<(), StoreError> {
    let update = Update::new().set("notified", notified);
    let update = match suppressed_reason {
        Some(r) => update.set("suppressed_reason", r),
        None => update.remove("suppressed_reason"),
    };
    touch(table, finding, update).await
}

/// Where the finding's Slack alert is, so that a button press can update it.
pub async fn record_alert_message(
    table: &dyn Table,
    finding: &Finding,
    channel: &str,
    ts: &str,
) -> Result<(), StoreError> {
    let update = Update::new()
        .set("slack_channel", channel)
        .set("slack_ts", ts);
    touch(table, finding, update).await
}

/// The attribute naming the incident a finding is in (decision 0530): on the finding's
/// incident link, and on findings linked before the link had its own item.
const INCIDENT: &str = "incident_id";
/// The sort key prefix of a finding's incident link.
const INCIDENT_LINK_PREFIX: &str = "INCIDENT_OF#";
/// The entity name of a finding's incident link.
pub const INCIDENT_LINK_ENTITY: &str = "incident_link";

/// A finding's incident link (`T` / `INCIDENT_OF#<finding id>`): which incident the finding is
/// in, a small item of its own. On the finding's item, naming the incident rewrote the whole
/// finding for a value that is not the finding's state (decision 1050).
pub fn incident_link_key(tenant: &str, finding_id: &str) -> Key {
    Key::new(
        tenant::pk(tenant),
        format!("{INCIDENT_LINK_PREFIX}{finding_id}"),
    )
}

/// The item of a finding's incident link.
pub fn incident_link_item(finding: &Finding, incident_id: &str) -> Item {
    let mut item = keyed(
        Item::new(),
        incident_link_key(&finding.tenant_id, &finding.id),
        INCIDENT_LINK_ENTITY,
    );
    item.insert(INCIDENT.into(), AttrValue::S(incident_id.into()));
    // An info finding's link goes with it (decision 1260).
    if let Some(expires) = active_expiry(finding, None) {
        item.insert(
            TTL_ATTRIBUTE.into(),
            AttrValue::N(expires.timestamp() as f64),
        );
    }
    item
}

/// The incident a stored finding is in, if it has been put in one (strongly consistent: the
/// notifier reads it back right after a claim).
pub async fn incident_of(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(table
        .get(&incident_link_key(tenant, id))
        .await?
        .and_then(|item| text(&item, INCIDENT)))
}

/// Fills in the incident of a finding read from its item: its link's, or the one a finding
/// linked before links had their own item names on itself.
pub async fn with_incident(
    table: &dyn Table,
    mut stored: StoredFinding,
) -> Result<StoredFinding, StoreError> {
    if stored.incident_id.is_none() {
        // Eventually consistent: a link is written once and never changes.
        let link = incident_link_key(&stored.finding.tenant_id, &stored.finding.id);
        stored.incident_id = table
            .get_eventually(&link)
            .await?
            .and_then(|item| text(&item, INCIDENT));
    }
    Ok(stored)
}

/// Names the finding's incident unless it names one already; the one it names, if that is
/// another.
pub async fn claim_incident(
    table: &dyn Table,
    finding: &Finding,
    incident_id: &str,
) -> Result<Option<String>, StoreError> {
    let link = incident_link_item(finding, incident_id);
    if put_if_absent(table, link).await? {
        return Ok(None);
    }
    incident_of(table, &finding.tenant_id, &finding.id).await
}

/// The attribute naming the delivery attempt that holds the right to post a finding's alert.
const ALERT_CLAIM: &str = "alert_claim";
/// The sort key prefix of a finding's alert claim.
const ALERT_CLAIM_PREFIX: &str = "ALERT_CLAIM#";
/// The entity name of a finding's alert claim.
pub const ALERT_CLAIM_ENTITY: &str = "alert_claim";
/// How long an alert claim is kept: longer than any delivery of the finding's message can
/// come (SQS keeps a message 14 days at most); after that the finding's `notified` answers.
const ALERT_CLAIM_TTL_SECONDS: i64 = 15 * 24 * 3600;

/// A finding's alert claim (`T` / `ALERT_CLAIM#<finding id>`, TTL 15 days): a small item of
/// its own, so that claiming and releasing do not rewrite the finding and both of its index
/// entries (decision 1050).
pub fn alert_claim_key(tenant: &str, finding_id: &str) -> Key {
    Key::new(
        tenant::pk(tenant),
        format!("{ALERT_CLAIM_PREFIX}{finding_id}"),
    )
}

/// One delivery attempt's claim on posting a finding's alert. A Slack post cannot be taken
/// back, and Slack has no idempotency key: the notifier claims the alert before posting,
/// releases the claim when the post failed (nothing went out), and records the post on the
/// finding in one write after. A later attempt that finds a claim and no record cannot tell
/// whether the alert went out, so it does not post (at most one message per finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertClaim(String);

impl AlertClaim {
    /// A claim for a new attempt (a fresh token, so that a redelivery is another attempt).
    pub fn new() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for AlertClaim {
    fn default() -> Self {
        Self::new()
    }
}

/// Takes the claim: granted when no attempt holds it, or this one does (so a claim whose
/// answer was lost can be taken again). `false`: another attempt holds it, on the claim's
/// item or, for a claim taken before claims had their own item, on the finding's.
pub async fn claim_alert(
    table: &dyn Table,
    finding: &Finding,
    claim: &AlertClaim,
    now: &DateTime<Utc>,
) -> Result<bool, StoreError> {
    let on_finding = table
        .get(&key(&finding.tenant_id, &finding.id))
        .await?
        .and_then(|item| text(&item, ALERT_CLAIM));
    if on_finding.is_some_and(|held| held != claim.0) {
        return Ok(false);
    }
    let condition = Condition::Or(vec![
        Condition::AttributeNotExists(ALERT_CLAIM.into()),
        Condition::Equals(ALERT_CLAIM.into(), AttrValue::S(claim.0.clone())),
    ]);
    let item = alert_claim_item(&finding.tenant_id, &finding.id, claim, now);
    match table.put(item, Some(condition)).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The item of a finding's alert claim, held by `claim` since `now`.
pub fn alert_claim_item(
    tenant: &str,
    finding_id: &str,
    claim: &AlertClaim,
    now: &DateTime<Utc>,
) -> Item {
    let mut item = keyed(
        Item::new(),
        alert_claim_key(tenant, finding_id),
        ALERT_CLAIM_ENTITY,
    );
    item.insert(ALERT_CLAIM.into(), AttrValue::S(claim.0.clone()));
    item.insert(
        crate::store::TTL_ATTRIBUTE.into(),
        AttrValue::N((now.timestamp() + ALERT_CLAIM_TTL_SECONDS) as f64),
    );
    item
}

/// Gives the claim back after a post that did not go out (idempotent).
pub async fn release_alert_claim(
    table: &dyn Table,
    finding: &Finding,
    claim: &AlertClaim,
) -> Result<(), StoreError> {
    let held_by_this = Condition::Equals(ALERT_CLAIM.into(), AttrValue::S(claim.0.clone()));
    match table
        .delete(
            &alert_claim_key(&finding.tenant_id, &finding.id),
            Some(held_by_this),
        )
        .await
    {
        Err(e) if e.is_condition_failed() => Ok(()),
        other => other,
    }
}

/// Records that the alert was posted, and where (so that a button press can update it), in
/// one write: a redelivery that sees it does not post again.
pub async fn record_alert_sent(
    table: &dyn Table,
    finding: &Finding,
    channel: &str,
    ts: &str,
) -> Result<(), StoreError> {
    let update = Update::new()
        .set("notified", true)
        .remove("suppressed_reason")
        .set("slack_channel", channel)
        .set("slack_ts", ts);
    touch(table, finding, update).await
}

// ---------------------------------------------------------------------------------- transitions

/// A change of a finding's status.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// "This was expected".
    MarkExpected,
    /// Quiet until the given time (the digest reopens it then).
    Snooze {
        until: DateTime<Utc>,
    },
    Resolve,
    /// Back to open (undo, or the end of a snooze).
    Reopen,
    /// A drift accepted as the new desired state (drift findings only).
    AcceptDrift,
}

impl Transition {
    /// The name people and the audit trail use (`finding.<name>`).
    pub fn name(&self) -> &'static str {
        match self {
            Transition::MarkExpected => "mark_expected",
            Transition::Snooze { .. } => "snooze",
            Transition::Resolve => "resolve",
            Transition::Reopen => "reopen",
            Transition::AcceptDrift => "accept_drift",
        }
    }

    /// The status after.
    pub fn to(&self) -> FindingStatus {
        match self {
            Transition::MarkExpected => FindingStatus::Expected,
            Transition::Snooze { .. } => FindingStatus::Snoozed,
            Transition::Resolve => FindingStatus::Resolved,
            Transition::Reopen => FindingStatus::Open,
            Transition::AcceptDrift => FindingStatus::Accepted,
        }
    }

    /// The statuses the change may start from: acting on a resolved finding as if it were
    /// open (or reopening an open one) is a stale page or a client bug, not an intent.
    pub fn allowed_from(&self) -> &'static [FindingStatus] {
        use FindingStatus::*;
        match self {
            Transition::MarkExpected | Transition::Snooze { .. } => &[Open, Snoozed],
            Transition::Resolve => &[Open, Snoozed, Expected, Accepted],
            Transition::Reopen => &[Snoozed, Expected, Resolved, Accepted],
            Transition::AcceptDrift => &[Open, Snoozed, Expected],
        }
    }
}

/// A transition the finding's status (or kind) does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{transition} is not allowed on a {what} finding")]
pub struct NotAllowed {
    pub transition: &'static str,
    pub from: FindingStatus,
    /// The status, or the kind when the kind is what forbids it.
    pub what: &'static str,
}

/// Whether `transition` may apply to `current`.
pub fn check(current: &Finding, transition: &Transition) -> Result<(), NotAllowed> {
    let refuse = |what: &'static str| NotAllowed {
        transition: transition.name(),
        from: current.status,
        what,
    };
    if *transition == Transition::AcceptDrift && current.kind != FindingKind::Drift {
        return Err(refuse(current.kind.as_str()));
    }
    if !transition.allowed_from().contains(&current.status) {
        return Err(refuse(current.status.as_str()));
    }
    Ok(())
}

/// How long a closed finding is kept after it closed: as long as AWS keeps a Cost Anomaly
/// Detection anomaly or a GuardDuty finding. Its audit trail is kept longer (decision 1080).
pub const CLOSED_FINDING_DAYS: i64 = 90;

/// How long an info finding is kept after it was recorded, whatever its status: by default an
/// info finding is not alerted but listed in the daily digest, and AWS Security Hub keeps a
/// finding no longer after its last update (decision 1260).
pub const INFO_FINDING_DAYS: i64 = 90;

/// When an active finding expires: never, unless it is an info finding, which expires
/// [`INFO_FINDING_DAYS`] after it was recorded, and not before a day past the end of its snooze
/// (`snoozed_until`), so that the digest can reopen it.
fn active_expiry(
    finding: &Finding,
    snoozed_until: Option<&DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    if finding.severity != Severity::Info {
        return None;
    }
    let kept = finding.created_at + Duration::days(INFO_FINDING_DAYS);
    Some(snoozed_until.map_or(kept, |until| kept.max(*until + Duration::days(1))))
}

/// The write of a transition decided on `current`: the status and its GSI2 entry, who and
/// when, the snooze (kept only by a snooze), an acceptance's author and when the finding
/// expires (a closed one after [`CLOSED_FINDING_DAYS`]; an active one never, unless it is an
/// info finding: [`active_expiry`]), under the condition that the stored status is still
/// `current.status`.
pub fn transition_update(
    current: &Finding,
    transition: &Transition,
    by: &str,
    now: &DateTime<Utc>,
) -> (Key, Update) {
    let to = transition.to();
    let (tenant, id) = (&current.tenant_id, &current.id);
    let mut update = reindex(
        Update::new().set("status", to.as_str()),
        Index::Gsi2,
        gsi2(tenant, to, &current.event_time, id),
    )
    .set("status_changed_at", time_key(now))
    .set("status_changed_by", by)
    .when(Condition::Equals(
        "status".into(),
        AttrValue::S(current.status.as_str().into()),
    ));
    update = match transition {
        Transition::Snooze { until } => update.set("snooze_until", time_key(until)),
        _ => update.remove("snooze_until"),
    };
    if *transition == Transition::AcceptDrift {
        update = update
            .set("accepted_by", by)
            .set("accepted_at", time_key(now));
    }
    let snoozed_until = match transition {
        Transition::Snooze { until } => Some(until),
        _ => None,
    };
    update = if to.is_active() {
        match active_expiry(current, snoozed_until) {
            Some(expires) => update.set(TTL_ATTRIBUTE, AttrValue::N(expires.timestamp() as f64)),
            None => update.remove(TTL_ATTRIBUTE),
        }
    } else {
        let expires = *now + Duration::days(CLOSED_FINDING_DAYS);
        update.set(TTL_ATTRIBUTE, AttrValue::N(expires.timestamp() as f64))
    };
    (key(tenant, id), update)
}

/// The write of an assignment (the owner is not a status: any finding may be assigned).
pub fn assignment(tenant: &str, id: &str, owner: &str, now: &DateTime<Utc>) -> (Key, Update) {
    (
        key(tenant, id),
        Update::new()
            .set("owner", owner)
            .set("assigned_at", time_key(now))
            .when(Condition::ItemExists),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn finding(kind: FindingKind, status: FindingStatus) -> Finding {
        Finding {
            kind,
            status,
            event_id: "e1".into(),
            region: "eu-west-1".into(),
            event_time: t("2026-01-15T09:00:00Z"),
            created_at: t("2026-01-15T09:00:01Z"),
            ..crate::testing::cost_finding("cost-e1")
        }
    }

    #[test]
    fn keys_and_indexes() {
        let k = key("t1", "cost-e1");
        assert_eq!(k, Key::new("TENANT#t1", "FINDING#cost-e1"));
        assert_eq!(id_of(&k), Some("cost-e1"));
        let time = t("2026-01-15T09:00:00Z");
        assert_eq!(
            gsi1("t1", &time, "x"),
            ("TENANT#t1#FINDINGS".into(), "2026-01-15T09:00:00Z#x".into())
        );
        assert_eq!(
            gsi2("t1", FindingStatus::Snoozed, &time, "x").0,
            "TENANT#t1#FINDINGS#snoozed"
        );
        assert_eq!(by_time("t1").partition, gsi1("t1", &time, "x").0);
        let q = in_status("t1", FindingStatus::Open);
        assert_eq!(
            (q.index, q.partition.as_str()),
            (Some(Index::Gsi2), "TENANT#t1#FINDINGS#open")
        );
        let item = item(&finding(FindingKind::CostAnomaly, FindingStatus::Open)).unwrap();
        assert_eq!(item["GSI2PK"].as_str(), Some("TENANT#t1#FINDINGS#open"));
        assert_eq!(
            item["GSI1SK"].as_str(),
            Some("2026-01-15T09:00:00Z#cost-e1")
        );
        assert_eq!(item["entity"].as_str(), Some("finding"));
        assert_eq!(item["status"].as_str(), Some("open"));
        let back = stored(Some(k), item).unwrap();
        assert_eq!(
            back.finding,
            finding(FindingKind::CostAnomaly, FindingStatus::Open)
        );
    }

    #[test]
    fn transitions_allowed_and_refused() {
        use FindingStatus::*;
        let until = t("2026-01-16T00:00:00Z");
        let all = [
            Transition::MarkExpected,
            Transition::Snooze { until },
            Transition::Resolve,
            Transition::Reopen,
            Transition::AcceptDrift,
        ];
        for tr in &all {
            for from in FindingStatus::ALL {
                let f = finding(FindingKind::Drift, from);
                let allowed = tr.allowed_from().contains(&from);
                assert_eq!(check(&f, tr).is_ok(), allowed, "{} from {from}", tr.name());
                // Never to itself (a repeated click is refused, not re-audited), except a new
                // snooze time.
                if from == tr.to() && from != Snoozed {
                    assert!(!allowed, "{} from {from}", tr.name());
                }
            }
        }
        let e = check(
            &finding(FindingKind::CostAnomaly, Resolved),
            &Transition::Snooze { until },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "snooze is not allowed on a resolved finding");
        let e = check(
            &finding(FindingKind::CostAnomaly, Open),
            &Transition::AcceptDrift,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "accept_drift is not allowed on a cost_anomaly finding"
        );
    }

    #[test]
    fn a_transition_moves_the_status_index_under_a_condition() {
        let now = t("2026-01-15T10:00:00Z");
        let until = t("2026-01-16T00:00:00Z");
        let f = finding(FindingKind::Drift, FindingStatus::Open);
        let (k, u) = transition_update(&f, &Transition::Snooze { until }, "u1", &now);
        assert_eq!(k, key("t1", "cost-e1"));
        let set: std::collections::BTreeMap<_, _> = u.set.iter().cloned().collect();
        assert_eq!(set["status"].as_str(), Some("snoozed"));
        assert_eq!(set["GSI2PK"].as_str(), Some("TENANT#t1#FINDINGS#snoozed"));
        assert_eq!(set["GSI2SK"].as_str(), Some("2026-01-15T09:00:00Z#cost-e1"));
        assert_eq!(set["snooze_until"].as_str(), Some("2026-01-16T00:00:00Z"));
        assert_eq!(set["status_changed_by"].as_str(), Some("u1"));
        assert_eq!(
            u.condition,
            Some(Condition::Equals(
                "status".into(),
                AttrValue::S("open".into())
            ))
        );
        let (_, u) = transition_update(&f, &Transition::AcceptDrift, "u1", &now);
        assert!(u.remove.contains(&"snooze_until".to_owned()));
        assert!(u
            .set
            .iter()
            .any(|(k, v)| k == "accepted_by" && v.as_str() == Some("u1")));
    }

    #[test]
    fn a_closed_finding_expires_after_it_closed_and_an_active_one_is_kept() {
        let now = t("2026-01-15T10:00:00Z");
        let expires = AttrValue::N(t("2026-04-15T10:00:00Z").timestamp() as f64);
        let ttl_of = |u: &Update| {
            u.set
                .iter()
                .find(|(k, _)| k == TTL_ATTRIBUTE)
                .map(|(_, v)| v.clone())
        };
        let open = finding(FindingKind::Drift, FindingStatus::Open);
        for closing in [
            Transition::Resolve,
            Transition::MarkExpected,
            Transition::AcceptDrift,
        ] {
            let (_, u) = transition_update(&open, &closing, "u1", &now);
            assert_eq!(ttl_of(&u), Some(expires.clone()), "{closing:?}");
            assert!(!u.remove.contains(&TTL_ATTRIBUTE.to_owned()));
        }
        let resolved = finding(FindingKind::Drift, FindingStatus::Resolved);
        let until = t("2026-03-01T00:00:00Z");
        for (from, keeping) in [
            (&resolved, Transition::Reopen),
            (&open, Transition::Snooze { until }),
        ] {
            let (_, u) = transition_update(from, &keeping, "u1", &now);
            assert_eq!(ttl_of(&u), None, "{keeping:?}");
            assert!(u.remove.contains(&TTL_ATTRIBUTE.to_owned()), "{keeping:?}");
        }
    }

    /// An info finding is kept 90 days after it was recorded, open, snoozed (and a day past the
    /// end of a longer snooze) or reopened; closed, 90 days after it closed. A warning is kept
    /// while it is open. Recorded, the info finding is gone from the table and its indexes once
    /// its 90 days are over (decision 1260).
    #[tokio::test]
    async fn an_info_finding_expires_90_days_after_it_was_recorded() {
        let recorded = t("2026-01-15T09:00:01Z");
        let kept = AttrValue::N(t("2026-04-15T09:00:01Z").timestamp() as f64);
        let info = Finding {
            severity: Severity::Info,
            ..finding(FindingKind::CostAnomaly, FindingStatus::Open)
        };
        assert_eq!(info.created_at, recorded);
        let ttl_of = |u: &Update| {
            u.set
                .iter()
                .find(|(k, _)| k == TTL_ATTRIBUTE)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(item(&info).unwrap().get(TTL_ATTRIBUTE), Some(&kept));
        let warning = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        assert_eq!(item(&warning).unwrap().get(TTL_ATTRIBUTE), None);

        let now = t("2026-02-01T10:00:00Z");
        let short = t("2026-02-02T00:00:00Z");
        let (_, u) = transition_update(&info, &Transition::Snooze { until: short }, "u1", &now);
        assert_eq!(ttl_of(&u), Some(kept.clone()), "snoozed");
        let long = t("2026-06-01T00:00:00Z");
        let (_, u) = transition_update(&info, &Transition::Snooze { until: long }, "u1", &now);
        assert_eq!(
            ttl_of(&u),
            Some(AttrValue::N(t("2026-06-02T00:00:00Z").timestamp() as f64)),
            "snoozed past its 90 days"
        );
        let resolved = Finding {
            status: FindingStatus::Resolved,
            ..info.clone()
        };
        let (_, u) = transition_update(&resolved, &Transition::Reopen, "u1", &now);
        assert_eq!(ttl_of(&u), Some(kept.clone()), "reopened");
        assert!(!u.remove.contains(&TTL_ATTRIBUTE.to_owned()));
        let (_, u) = transition_update(&info, &Transition::Resolve, "u1", &now);
        assert_eq!(
            ttl_of(&u),
            Some(AttrValue::N(t("2026-05-02T10:00:00Z").timestamp() as f64)),
            "closed: 90 days after it closed"
        );

        // Its incident link goes with it; a warning's stays.
        assert_eq!(
            incident_link_item(&info, "inc-1").get(TTL_ATTRIBUTE),
            Some(&kept)
        );
        assert_eq!(
            incident_link_item(&warning, "inc-2").get(TTL_ATTRIBUTE),
            None
        );

        let clock = crate::clock::ManualClock::new(recorded);
        let table = crate::store::memory::MemoryTable::new(std::sync::Arc::new(clock.clone()));
        record(&table, &info).await.unwrap();
        record(
            &table,
            &Finding {
                id: "warning-1".into(),
                ..warning
            },
        )
        .await
        .unwrap();
        clock.advance_to(t("2026-04-15T09:00:00Z"));
        assert_eq!(all(&table, "t1").await.unwrap().len(), 2);
        clock.advance_to(t("2026-04-15T09:00:02Z"));
        let left: Vec<String> = all(&table, "t1")
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(left, ["warning-1"]);
        assert_eq!(
            query_all(&table, in_status("t1", FindingStatus::Open))
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_resolved_finding_is_gone_from_the_table_and_its_indexes_once_expired() {
        let clock = crate::clock::ManualClock::new(t("2026-01-15T10:00:00Z"));
        let table = crate::store::memory::MemoryTable::new(std::sync::Arc::new(clock.clone()));
        let f = finding(FindingKind::Drift, FindingStatus::Open);
        table.put(item(&f).unwrap(), None).await.unwrap();
        let now = t("2026-01-15T10:00:00Z");
        let (k, u) = transition_update(&f, &Transition::Resolve, "dd0c", &now);
        table.update(&k, u).await.unwrap();
        clock.advance_to(t("2026-04-15T09:59:00Z"));
        assert!(table.get(&k).await.unwrap().is_some());
        assert_eq!(all(&table, "t1").await.unwrap().len(), 1);
        clock.advance_to(t("2026-04-15T10:01:00Z"));
        assert!(table.get(&k).await.unwrap().is_none());
        assert!(all(&table, "t1").await.unwrap().is_empty());
        let resolved = in_status("t1", FindingStatus::Resolved);
        assert!(table.query(resolved).await.unwrap().items.is_empty());
    }

    fn memory_table() -> crate::store::memory::MemoryTable {
        crate::store::memory::MemoryTable::new(std::sync::Arc::new(crate::clock::ManualClock::new(
            t("2026-01-15T10:00:00Z"),
        )))
    }

    /// Naming the incident writes the small link item only: the finding's item and its two
    /// index entries are not rewritten. Every reader sees the link; the first claim wins.
    #[tokio::test]
    async fn naming_the_incident_leaves_the_finding_item_untouched() {
        let table = memory_table();
        let f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        record(&table, &f).await.unwrap();
        let before = table.get(&key("t1", "cost-e1")).await.unwrap().unwrap();
        assert_eq!(claim_incident(&table, &f, "inc-1").await.unwrap(), None);
        assert_eq!(
            table.get(&key("t1", "cost-e1")).await.unwrap().unwrap(),
            before
        );
        assert_eq!(
            claim_incident(&table, &f, "inc-2")
                .await
                .unwrap()
                .as_deref(),
            Some("inc-1")
        );
        assert_eq!(
            incident_of(&table, "t1", "cost-e1")
                .await
                .unwrap()
                .as_deref(),
            Some("inc-1")
        );
        let stored = load_stored(&table, "t1", "cost-e1").await.unwrap().unwrap();
        assert_eq!(stored.incident_id.as_deref(), Some("inc-1"));
        let listed = query_all(&table, by_time("t1")).await.unwrap();
        assert_eq!(listed.len(), 1, "the link is not in the findings' index");
        let from_list = with_incident(&table, stored_of(listed)).await.unwrap();
        assert_eq!(from_list.incident_id.as_deref(), Some("inc-1"));
    }

    fn stored_of(mut items: Vec<Item>) -> StoredFinding {
        stored(None, items.remove(0)).unwrap()
    }

    /// A finding named its incident on its own item before links had theirs: still read.
    #[tokio::test]
    async fn a_finding_linked_on_its_own_item_still_names_its_incident() {
        let table = memory_table();
        let f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        let mut legacy = item(&f).unwrap();
        legacy.insert(INCIDENT.into(), AttrValue::S("inc-old".into()));
        table.put(legacy, None).await.unwrap();
        let stored = load_stored(&table, "t1", "cost-e1").await.unwrap().unwrap();
        assert_eq!(stored.incident_id.as_deref(), Some("inc-old"));
    }

    /// Claiming and releasing the alert write the claim's own item: the finding's item and
    /// its index entries are not rewritten. One attempt holds it at a time; a released claim
    /// can be taken by the next.
    #[tokio::test]
    async fn the_alert_claim_is_its_own_item() {
        let table = memory_table();
        let now = t("2026-01-15T10:00:00Z");
        let f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        record(&table, &f).await.unwrap();
        let before = table.get(&key("t1", "cost-e1")).await.unwrap().unwrap();
        let (first, second) = (AlertClaim::new(), AlertClaim::new());
        assert!(claim_alert(&table, &f, &first, &now).await.unwrap());
        assert!(
            claim_alert(&table, &f, &first, &now).await.unwrap(),
            "taken again"
        );
        assert!(!claim_alert(&table, &f, &second, &now).await.unwrap());
        release_alert_claim(&table, &f, &second).await.unwrap();
        assert!(!claim_alert(&table, &f, &second, &now).await.unwrap());
        release_alert_claim(&table, &f, &first).await.unwrap();
        assert!(claim_alert(&table, &f, &second, &now).await.unwrap());
        assert_eq!(
            table.get(&key("t1", "cost-e1")).await.unwrap().unwrap(),
            before
        );
        let claim_item = table
            .get(&alert_claim_key("t1", "cost-e1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            claim_item.get(crate::store::TTL_ATTRIBUTE),
            Some(&AttrValue::N(
                (now.timestamp() + ALERT_CLAIM_TTL_SECONDS) as f64
            ))
        );
    }

    /// A finding's narrative (details, reasons, actor, resources) is packed into one binary
    /// attribute: a scored cost anomaly's item goes from three write units to two, and the
    /// finding reads back whole, alone or listed. An item written plain, before packing, reads
    /// the same (decision 1250).
    #[tokio::test]
    async fn the_narrative_is_packed_and_an_item_written_plain_still_reads() {
        let table = memory_table();
        let mut f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        f.actor.arn =
            "arn:aws:sts::100004111107:assumed-role/batch-runner/nightly-4fad94c91019".into();
        f.actor.user_agent = Some("aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.150.0".into());
        f.actor.name = "batch-runner/nightly-4fad94c91019".into();
        f.resource_ids = (1..=5).map(|n| format!("i-0a1b2c3d4e5f6070{n}")).collect();
        f.reasons = vec![
            "$3.84/hr is above the $0.50/hr threshold for a new account (0 days, 0 cost events seen)".into(),
            "first m6i.4xlarge in this account".into(),
            "price: list price".into(),
        ];
        f.details = serde_json::json!({
            "sku": "m6i.4xlarge", "count": 5, "spot": false, "service": "ec2",
            "detector": "cost.cold_start", "tags": {},
            "iac": {"managed": false, "summary": "not IaC-managed: created outside IaC via SDK"},
            "pricing": {"as_of": "2026-07-20", "basis": "list price", "caveats": [],
                "notes": ["m6i.4xlarge Linux on-demand us-east-1 $0.768/hr", "× 5 units"]},
            "decision": {
                "baseline": {"account_age_days": 0.0, "account_cost_events": 0.0,
                    "known_principals": 0, "known_regions": 0, "recent_calls_by_actor": 0.0,
                    "sensitivity": "medium", "type_cost_events": 0.0,
                    "type_max_usd_per_hour": null, "type_mean_usd_per_hour": null},
                "floor": 30.0, "hourly_usd": 3.84, "learning": true,
                "novelties": ["instance type"], "points": 13.5,
                "price": {"as_of": "2026-07-20", "basis": "list price", "caveats": [],
                    "notes": ["m6i.4xlarge Linux on-demand us-east-1 $0.768/hr", "× 5 units"]},
                "routine": false, "score": 30.0, "severity": "info",
                "signals": [{"effect": "at_least", "name": "cold_start", "value": 30.0},
                    {"effect": "adds", "name": "new_sku", "value": 13.5}],
                "stage": "scorer",
                "thresholds": {"burst_min_calls": 3.0,
                    "cold_start_usd_per_hour": {"critical": 25.0, "info": 0.5, "warning": 5.0},
                    "fast_path_usd_per_hour": {"critical": 25.0, "warning": 5.0},
                    "learning": {"days": 14, "min_cost_events": 20.0},
                    "routine": {"automation_tolerance": 3.0, "familiar_days": 7, "max_tolerance": 1.5},
                    "scale_jump_factor": 10.0,
                    "score": {"critical": 80.0, "info": 20.0, "warning": 50.0}, "zscore": 3.0},
                "verdict": "score 30.0: info", "weight": 0.9},
        });
        record(&table, &f).await.unwrap();
        let stored = table.get(&key("t1", "cost-e1")).await.unwrap().unwrap();
        for name in PACKED_FIELDS {
            assert!(!stored.contains_key(name), "{name} is packed");
        }
        assert!(matches!(stored.get(PACKED), Some(AttrValue::B(_))));
        // As `item` wrote it before packing.
        let plain = indexed(
            indexed(
                keyed(encode(&f).unwrap(), key("t1", "plain-1"), ENTITY),
                Index::Gsi1,
                gsi1("t1", &f.event_time, "plain-1"),
            ),
            Index::Gsi2,
            gsi2("t1", f.status, &f.event_time, "plain-1"),
        );
        let units = |item: &Item| crate::store::item_size(item).div_ceil(1024);
        assert_eq!((units(&plain), units(&stored)), (3, 2), "write units");

        // Read back as the plain item reads (whole numbers come back whole either way).
        table.put(plain, None).await.unwrap();
        let old = load(&table, "t1", "plain-1").await.unwrap().unwrap();
        assert_eq!(old.reasons, f.reasons);
        let packed = load(&table, "t1", "cost-e1").await.unwrap().unwrap();
        assert_eq!(
            packed,
            Finding {
                id: "cost-e1".into(),
                ..old.clone()
            }
        );
        assert_eq!(
            (&packed.actor, &packed.resource_ids, &packed.reasons),
            (&f.actor, &f.resource_ids, &f.reasons)
        );
        assert_eq!(packed.details["decision"]["verdict"], "score 30.0: info");
        let listed = all(&table, "t1").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|l| l.details == old.details));
    }

    /// Marking a finding published writes its small mark only: the finding's item and its two
    /// index entries are not rewritten. A redelivery of its event finds the mark and does not
    /// publish again; a finding recorded and never marked is published again.
    #[tokio::test]
    async fn the_published_mark_is_its_own_item() {
        let table = memory_table();
        let now = t("2026-01-15T10:00:00Z");
        let f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        assert_eq!(record(&table, &f).await.unwrap(), Recorded::ToPublish);
        assert_eq!(
            record(&table, &f).await.unwrap(),
            Recorded::ToPublish,
            "stored, never published"
        );
        let before = table.get(&key("t1", "cost-e1")).await.unwrap().unwrap();
        mark_published(&table, &f, &now).await.unwrap();
        assert_eq!(
            table.get(&key("t1", "cost-e1")).await.unwrap().unwrap(),
            before
        );
        assert_eq!(
            record(&table, &f).await.unwrap(),
            Recorded::AlreadyPublished
        );
        let mark = table
            .get(&published_mark_key("t1", "cost-e1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            mark.get(crate::store::TTL_ATTRIBUTE),
            Some(&AttrValue::N(
                (now.timestamp() + PUBLISHED_MARK_TTL_SECONDS) as f64
            ))
        );
        let listed = query_all(&table, by_time("t1")).await.unwrap();
        assert_eq!(listed.len(), 1, "the mark is not in the findings' index");
    }

    /// A finding published before marks had their own item carries the flag on itself: a
    /// redelivery still does not publish it again.
    #[tokio::test]
    async fn a_finding_published_on_its_own_item_is_not_published_again() {
        let table = memory_table();
        let f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        let mut legacy = item(&f).unwrap();
        legacy.insert(PUBLISHED.into(), AttrValue::Bool(true));
        table.put(legacy, None).await.unwrap();
        assert_eq!(
            record(&table, &f).await.unwrap(),
            Recorded::AlreadyPublished
        );
    }

    /// A claim taken on the finding's item, before claims had their own, still holds.
    #[tokio::test]
    async fn a_claim_held_on_the_finding_item_still_holds() {
        let table = memory_table();
        let now = t("2026-01-15T10:00:00Z");
        let f = finding(FindingKind::CostAnomaly, FindingStatus::Open);
        let mut legacy = item(&f).unwrap();
        legacy.insert(
            ALERT_CLAIM.into(),
            AttrValue::S("an-earlier-attempt".into()),
        );
        table.put(legacy, None).await.unwrap();
        assert!(!claim_alert(&table, &f, &AlertClaim::new(), &now)
            .await
            .unwrap());
    }
}
