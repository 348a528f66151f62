//! Storing findings: one per (kind, event), written once, published once.

use crate::domain::{Finding, FindingStatus};
use crate::store::{from_item, keys, to_item, AttrValue, Item, StoreError, Table, Update, PK, SK};

fn status_str(status: FindingStatus) -> &'static str {
    match status {
        FindingStatus::Open => "open",
        FindingStatus::Expected => "expected",
        FindingStatus::Snoozed => "snoozed",
        FindingStatus::Resolved => "resolved",
        FindingStatus::Accepted => "accepted",
    }
}

pub fn finding_item(finding: &Finding) -> Result<Item, StoreError> {
    let mut item = to_item(finding).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })?;
    let key = keys::finding(&finding.tenant_id, &finding.id);
    let (g1pk, g1sk) = keys::finding_gsi1(&finding.tenant_id, &finding.event_time, &finding.id);
    let (g2pk, g2sk) = keys::finding_gsi2(
        &finding.tenant_id,
        status_str(finding.status),
        &finding.event_time,
        &finding.id,
    );
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("GSI1PK".into(), AttrValue::S(g1pk));
    item.insert("GSI1SK".into(), AttrValue::S(g1sk));
    item.insert("GSI2PK".into(), AttrValue::S(g2pk));
    item.insert("GSI2SK".into(), AttrValue::S(g2sk));
    item.insert("entity".into(), AttrValue::S("finding".into()));
    Ok(item)
}

/// Whether a finding still has to be handed to the notifier.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// New, or stored earlier but never published (a crash between the two).
    ToPublish,
    /// Stored and published before: a redelivery.
    AlreadyPublished,
}

/// Writes a finding unless one exists for the same (kind, event).
pub async fn record_finding(table: &dyn Table, finding: &Finding) -> Result<Recorded, StoreError> {
    if crate::store::put_if_absent(table, finding_item(finding)?).await? {
        return Ok(Recorded::ToPublish);
    }
    let existing = table
        .get(&keys::finding(&finding.tenant_id, &finding.id))
        .await?;
    let published = existing.is_some_and(|i| i.get("published") == Some(&AttrValue::Bool(true)));
    Ok(if published {
        Recorded::AlreadyPublished
    } else {
        Recorded::ToPublish
    })
}

pub async fn mark_published(table: &dyn Table, finding: &Finding) -> Result<(), StoreError> {
    table
        .update(
            &keys::finding(&finding.tenant_id, &finding.id),
            Update::new().set("published", true),
        )
        .await
        .map(|_| ())
}

pub async fn load_finding(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<Option<Finding>, StoreError> {
    let key = keys::finding(tenant, id);
    match table.get(&key).await? {
        Some(item) => from_item(item).map(Some).map_err(|e| StoreError::Decode {
            key: Some(key),
            source: e,
        }),
        None => Ok(None),
    }
}

/// Records the notifier's decision on a finding.
pub async fn record_notification(
    table: &dyn Table,
    finding: &Finding,
    notified: bool,
    suppressed_reason: Option<&str>,
) -> Result<(), StoreError> {
    let mut update = Update::new().set("notified", notified);
    update = match suppressed_reason {
        Some(r) => update.set("suppressed_reason", r),
        None => update.remove("suppressed_reason"),
    };
    table
        .update(&keys::finding(&finding.tenant_id, &finding.id), update)
        .await
        .map(|_| ())
}

/// Every finding of a tenant, by event time (the replay's findings file, the API's list).
pub async fn all_findings(table: &dyn Table, tenant: &str) -> Result<Vec<Finding>, StoreError> {
    let query = crate::store::Query::partition(format!("{}#FINDINGS", keys::tenant_pk(tenant)))
        .on(crate::store::Index::Gsi1);
    crate::store::query_all(table, query)
        .await?
        .into_iter()
        .map(|item| {
            from_item(item).map_err(|e| StoreError::Decode {
                key: None,
                source: e,
            })
        })
        .collect()
}
