//! A stack's timeline: its resources' changes that are not drift (pattern 37,
//! [`super::resource::stack_changes_query`]) and its drift events (pattern 17,
//! [`super::drift_event::for_stack_query`]), merged newest first. Both indexes sort by
//! `<time>#<id>`, so a page is two backward queries below the previous page's last sort key,
//! each of at most a page: the newest `limit` of their union are the page's entries.

use crate::domain::drift::ChangeEvent;
use crate::store::{AttrValue, Index, Item, Query, SortKeyCondition, StoreError, Table};

use super::drift_event::{self, StoredDrift};
use super::resource;

/// One entry of a stack's timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineEntry {
    /// A change that is not drift: an IaC apply, an AWS service acting on the resource.
    Change(Box<ChangeEvent>),
    /// A drift (with the change that caused it, when CloudTrail saw one).
    Drift(Box<StoredDrift>),
}

/// A page of a timeline: its entries, newest first, and the sort key to continue below when
/// there may be more.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimelinePage {
    pub entries: Vec<TimelineEntry>,
    pub next_before: Option<String>,
}

/// Whether `before` can be a timeline position: `<RFC 3339 time>#<id>`.
pub fn valid_position(before: &str) -> bool {
    before.split_once('#').is_some_and(|(time, id)| {
        !id.is_empty() && chrono::DateTime::parse_from_rfc3339(time).is_ok()
    })
}

fn below(query: Query, before: Option<&str>, limit: usize) -> Query {
    let query = query.backward().limit(limit);
    match before {
        Some(b) => query.sort(SortKeyCondition::LessThan(b.to_owned())),
        None => query,
    }
}

fn sort_key(item: &Item) -> Result<String, StoreError> {
    item.get(Index::Gsi1.sort_attribute())
        .and_then(AttrValue::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Invalid("a timeline item has no GSI1 sort key".into()))
}

/// The newest `limit` entries of a stack's timeline below `before` (a previous page's
/// `next_before`), newest first.
pub async fn page(
    table: &dyn Table,
    tenant: &str,
    stack: &str,
    before: Option<&str>,
    limit: usize,
) -> Result<TimelinePage, StoreError> {
    let changes = table
        .query(below(
            resource::stack_changes_query(tenant, stack),
            before,
            limit,
        ))
        .await?;
    let drift = table
        .query(below(
            drift_event::for_stack_query(tenant, stack),
            before,
            limit,
        ))
        .await?;
    let mut more = changes.next.is_some() || drift.next.is_some();
    let mut merged = Vec::with_capacity(changes.items.len() + drift.items.len());
    for item in &changes.items {
        merged.push((
            sort_key(item)?,
            TimelineEntry::Change(Box::new(resource::change_of(item)?)),
        ));
    }
    for item in &drift.items {
        merged.push((
            sort_key(item)?,
            TimelineEntry::Drift(Box::new(drift_event::stored(item)?)),
        ));
    }
    merged.sort_by(|a, b| b.0.cmp(&a.0));
    if merged.len() > limit {
        merged.truncate(limit);
        more = true;
    }
    let next_before = if more {
        merged.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    Ok(TimelinePage {
        entries: merged.into_iter().map(|(_, e)| e).collect(),
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::domain::actor::{Actor, ActorKind, Source};
    use crate::domain::drift::{
        AttributeChange, ChangeClass, DriftEvent, DriftEventKind, ManagedBy,
    };
    use crate::store::memory::MemoryTable;
    use chrono::{DateTime, Duration, Utc};
    use serde_json::json;
    use std::sync::Arc;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::minutes(minutes)
    }

    fn change(id: &str, minutes: i64, class: ChangeClass, stack: &str) -> ChangeEvent {
        ChangeEvent {
            tenant_id: "t1".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            event_id: id.into(),
            event_time: at(minutes),
            action: "AuthorizeSecurityGroupIngress".into(),
            resource_type: "ec2:security-group".into(),
            resource_id: "sg-1".into(),
            changes: vec![AttributeChange::new(
                "ingress",
                json!(null),
                json!("0.0.0.0/0:22"),
            )],
            actor: Actor {
                arn: "arn:aws:iam::111122223333:user/jane".into(),
                name: "jane".into(),
                kind: ActorKind::IamUser,
                source: Source::Console,
                ip: Some("203.0.113.9".into()),
                mfa: true,
                user_agent: None,
            },
            class,
            managed_by: Some(ManagedBy {
                tool: None,
                identity: "arn:aws:iam::111122223333:role/deployer".into(),
                stack: Some(stack.into()),
            }),
        }
    }

    fn drift(id: &str, minutes: i64, stack: &str) -> DriftEvent {
        let cause = change(&format!("{id}-evt"), minutes, ChangeClass::Drift, stack);
        DriftEvent {
            id: id.into(),
            kind: DriftEventKind::Detected,
            tenant_id: "t1".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            resource_type: "ec2:security-group".into(),
            resource_id: "sg-1".into(),
            resource_address: Some("aws_security_group.web".into()),
            stack: Some(stack.into()),
            managed_by: cause.managed_by.clone(),
            changes: cause.changes.clone(),
            change: Some(cause),
            report_id: None,
            detected_at: at(minutes),
            resolves: Vec::new(),
            resolution: None,
        }
    }

    fn ids(page: &TimelinePage) -> Vec<String> {
        page.entries
            .iter()
            .map(|e| match e {
                TimelineEntry::Change(c) => c.event_id.clone(),
                TimelineEntry::Drift(d) => d.event.id.clone(),
            })
            .collect()
    }

    #[tokio::test]
    async fn changes_and_drift_interleave_newest_first_across_pages() {
        let table = MemoryTable::new(Arc::new(SystemClock));
        for (id, minutes) in [("apply-1", 0), ("apply-2", 20), ("apply-3", 40)] {
            resource::record_change_event(
                &table,
                &change(id, minutes, ChangeClass::Iac, "web"),
                i64::MAX,
            )
            .await
            .unwrap();
        }
        for (id, minutes) in [("drift-a", 10), ("drift-b", 30)] {
            drift_event::record_drift_event(&table, &drift(id, minutes, "web"))
                .await
                .unwrap();
        }
        // Drift-class changes show as their drift; another stack's changes not at all.
        resource::record_change_event(
            &table,
            &change("drift-a-evt", 10, ChangeClass::Drift, "web"),
            i64::MAX,
        )
        .await
        .unwrap();
        resource::record_change_event(
            &table,
            &change("other", 50, ChangeClass::Iac, "api"),
            i64::MAX,
        )
        .await
        .unwrap();

        let first = page(&table, "t1", "web", None, 2).await.unwrap();
        assert_eq!(ids(&first), ["apply-3", "drift-b"]);
        let before = first.next_before.clone().unwrap();
        assert!(valid_position(&before), "{before}");
        let second = page(&table, "t1", "web", Some(&before), 2).await.unwrap();
        assert_eq!(ids(&second), ["apply-2", "drift-a"]);
        let third = page(&table, "t1", "web", second.next_before.as_deref(), 2)
            .await
            .unwrap();
        assert_eq!(ids(&third), ["apply-1"]);
        assert_eq!(third.next_before, None);

        let all = page(&table, "t1", "web", None, 10).await.unwrap();
        assert_eq!(all.entries.len(), 5);
        assert_eq!(all.next_before, None);
    }

    #[test]
    fn positions_are_time_and_id() {
        assert!(valid_position("2026-11-20T10:00:00Z#evt-1"));
        assert!(!valid_position("2026-11-20T10:00:00Z#"));
        assert!(!valid_position("yesterday#evt-1"));
        assert!(!valid_position("no-hash"));
    }
}
