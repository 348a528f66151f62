//! A resource's history partition (`T#RESOURCE#<type>#<id>`): its managed-resource item
//! (`MANAGED`: what IaC owns it), its change events (`CHANGE#<time>#<eventID>`, TTL) and its
//! drift events (`DRIFT#…`, [`super::drift_event`]). A change of a stack's resource that is not
//! drift (an IaC apply, an AWS service acting) is also indexed by stack and time (GSI1
//! `T#STACK#<stack>#CHANGE`: the stack timeline; drift shows there as its drift event, which
//! carries its change). Tenant-wide (not per account) so that a
//! drift report, which names a resource but not always its account, finds the resource's
//! CloudTrail changes; one query reads a resource's whole history. Change and drift events are
//! kept as their JSON text (attribute `json`) so that values in diffs round-trip exactly (the
//! item mapping keeps numbers as f64); a change's JSON leaves out what its key says
//! ([`change_of`] puts it back).

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};

use crate::domain::drift::{ChangeClass, ChangeEvent, ManagedResource, STATE_IMPORT_EVENT_ID};
use crate::store::{
    put_if_absent, query_all, AttrValue, Condition, Index, Item, Key, Query, StoreError, Table,
    TTL_ATTRIBUTE,
};

use super::{decode, encode, indexed, key_of, keyed, tenant, time_key, time_window};

pub const MANAGED_ENTITY: &str = "managed_resource";
pub const CHANGE_ENTITY: &str = "change_event";

pub fn pk(tenant: &str, resource_type: &str, resource_id: &str) -> String {
    tenant::sub(tenant, &format!("RESOURCE#{resource_type}#{resource_id}"))
}

/// The tenant, resource type and resource id of a resource partition (a tenant id without
/// `#`; the type never has one, the id may).
pub fn parse_pk(pk: &str) -> Option<(&str, &str, &str)> {
    let tenant = tenant::tenant_of(pk)?;
    let rest = pk
        .strip_prefix(&tenant::pk(tenant))?
        .strip_prefix("#RESOURCE#")?;
    let (resource_type, id) = rest.split_once('#')?;
    Some((tenant, resource_type, id))
}

/// A resource's whole history, oldest first.
pub fn history(tenant: &str, resource_type: &str, resource_id: &str) -> Query {
    Query::partition(pk(tenant, resource_type, resource_id))
}

pub fn managed_key(tenant: &str, resource_type: &str, resource_id: &str) -> Key {
    Key::new(pk(tenant, resource_type, resource_id), "MANAGED")
}

pub fn change_key(
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
    time: &DateTime<Utc>,
    event_id: &str,
) -> Key {
    Key::new(
        pk(tenant, resource_type, resource_id),
        format!("CHANGE#{}#{event_id}", time_key(time)),
    )
}

pub(crate) fn json_of<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(crate) fn from_json_attr<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let text = item
        .get("json")
        .and_then(AttrValue::as_str)
        .ok_or_else(|| StoreError::Invalid("stored drift item has no json attribute".into()))?;
    serde_json::from_str(text).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub fn managed_item(resource: &ManagedResource) -> Result<Item, StoreError> {
    let key = managed_key(
        &resource.tenant_id,
        &resource.resource_type,
        &resource.resource_id,
    );
    Ok(keyed(encode(resource)?, key, MANAGED_ENTITY))
}

pub async fn managed_resource(
    table: &dyn Table,
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Option<ManagedResource>, StoreError> {
    let key = managed_key(tenant, resource_type, resource_id);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item).map(Some),
        None => Ok(None),
    }
}

pub async fn put_managed_resource(
    table: &dyn Table,
    resource: &ManagedResource,
) -> Result<(), StoreError> {
    table.put(managed_item(resource)?, None).await
}

/// Forgets that IaC owns a resource (after IaC deleted it): what is created under its id next
/// is owned by whoever creates it.
pub async fn forget_managed_resource(
    table: &dyn Table,
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<(), StoreError> {
    table
        .delete(&managed_key(tenant, resource_type, resource_id), None)
        .await
}

/// Marks a resource managed on the word of a state import (pattern 16): its managed item is
/// written unless an IaC change of it was already seen, whose item (with the deploying
/// identity) CloudTrail's evidence keeps. A re-import rewrites what an import wrote. Returns
/// whether the item was written.
pub async fn import_managed_resource(
    table: &dyn Table,
    resource: &ManagedResource,
) -> Result<bool, StoreError> {
    let only_imported = Condition::Or(vec![
        Condition::ItemNotExists,
        Condition::Equals(
            "last_iac_event_id".into(),
            AttrValue::S(STATE_IMPORT_EVENT_ID.into()),
        ),
    ]);
    match table
        .put(managed_item(resource)?, Some(only_imported))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// What a change item's key says of its change (tenant, resource, time, eventID), as the fields
/// of the change's JSON.
fn keyed_fields(key: &Key) -> Option<serde_json::Map<String, serde_json::Value>> {
    let (tenant, resource_type, resource_id) = parse_pk(&key.pk)?;
    let (time, event_id) = key.sk.strip_prefix("CHANGE#")?.split_once('#')?;
    Some(
        [
            ("tenant_id", tenant),
            ("resource_type", resource_type),
            ("resource_id", resource_id),
            ("event_time", time),
            ("event_id", event_id),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), serde_json::Value::from(value)))
        .collect(),
    )
}

/// A change's JSON without what its key says exactly: a change item is kept 90 days and there
/// are more of them than of anything else, and those fields were a fifth of it (decision 1080).
fn change_json(event: &ChangeEvent, key: &Key) -> Result<String, StoreError> {
    let mut value = serde_json::to_value(event).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if let (serde_json::Value::Object(fields), Some(from_key)) = (&mut value, keyed_fields(key)) {
        for (name, keyed) in from_key {
            if fields.get(&name) == Some(&keyed) {
                fields.remove(&name);
            }
        }
    }
    Ok(value.to_string())
}

/// The change event of a change item (its JSON, with what the key says filled in; a change
/// stored with every field reads the same).
pub fn change_of(item: &Item) -> Result<ChangeEvent, StoreError> {
    let mut value: serde_json::Value = from_json_attr(item)?;
    if let (serde_json::Value::Object(fields), Some(from_key)) =
        (&mut value, key_of(item).as_ref().and_then(keyed_fields))
    {
        for (name, keyed) in from_key {
            fields.entry(name).or_insert(keyed);
        }
    }
    serde_json::from_value(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The key of `event`'s change item.
fn change_key_of(event: &ChangeEvent) -> Key {
    change_key(
        &event.tenant_id,
        &event.resource_type,
        &event.resource_id,
        &event.event_time,
        &event.event_id,
    )
}

pub fn change_item(event: &ChangeEvent, ttl: i64) -> Result<Item, StoreError> {
    let key = change_key_of(event);
    let json = change_json(event, &key)?;
    let mut item = keyed(Item::new(), key, CHANGE_ENTITY);
    item.insert("json".into(), AttrValue::S(json));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    Ok(match timeline_stack(event) {
        Some(stack) => indexed(
            item,
            Index::Gsi1,
            stack_change_gsi1(&event.tenant_id, stack, &event.event_time, &event.event_id),
        ),
        None => item,
    })
}

/// The stack whose timeline shows `event`: a change of a stack's resource that is not drift
/// (drift shows there as its drift event, which carries its change).
pub fn timeline_stack(event: &ChangeEvent) -> Option<&str> {
    let stack = event.managed_by.as_ref().and_then(|m| m.stack.as_deref())?;
    (event.class != ChangeClass::Drift).then_some(stack)
}

/// Whether a drift report's correlation may attribute the reported drift to `event`: a change
/// by someone other than IaC or an AWS service acting on its own.
pub fn correlation_candidate(event: &ChangeEvent) -> bool {
    matches!(event.class, ChangeClass::Drift | ChangeClass::Unmanaged)
}

/// Whether anything reads `event` back once stored: a drift report's correlation or its
/// stack's timeline. A change nothing reads is not stored (decision 1210).
pub fn change_is_read(event: &ChangeEvent) -> bool {
    correlation_candidate(event) || timeline_stack(event).is_some()
}

fn stack_changes_partition(tenant: &str, stack: &str) -> String {
    tenant::sub(tenant, &format!("STACK#{stack}#CHANGE"))
}

/// GSI1 of a change event of a stack's resource that is not drift: the stack's changes by
/// time (the stack timeline).
pub fn stack_change_gsi1(
    tenant: &str,
    stack: &str,
    time: &DateTime<Utc>,
    event_id: &str,
) -> (String, String) {
    (
        stack_changes_partition(tenant, stack),
        format!("{}#{event_id}", time_key(time)),
    )
}

/// A stack's changes that are not drift, by time (pattern 37).
pub fn stack_changes_query(tenant: &str, stack: &str) -> Query {
    Query::partition(stack_changes_partition(tenant, stack)).on(Index::Gsi1)
}

/// Stores a change event once (a redelivered CloudTrail event is recognised); returns
/// whether it was new.
pub async fn record_change_event(
    table: &dyn Table,
    event: &ChangeEvent,
    ttl: i64,
) -> Result<bool, StoreError> {
    if table.discards(&change_key_of(event)) {
        return Ok(true);
    }
    put_if_absent(table, change_item(event, ttl)?).await
}

/// A resource's change events with `from <= event_time <= to` (pattern 16).
pub fn changes_between_query(
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Query {
    history(tenant, resource_type, resource_id).sort(time_window("CHANGE#", from, to))
}

/// A resource's change events with `from <= event_time <= to`, oldest first.
pub async fn changes_between(
    table: &dyn Table,
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
    from: &DateTime<Utc>,
    to: &DateTime<Utc>,
) -> Result<Vec<ChangeEvent>, StoreError> {
    let query = changes_between_query(tenant, resource_type, resource_id, from, to);
    query_all(table, query)
        .await?
        .iter()
        .map(change_of)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::domain::drift::{ManagedBy, STATE_IMPORT_IDENTITY};
    use crate::store::memory::MemoryTable;
    use crate::store::SortKeyCondition;
    use std::sync::Arc;

    fn imported(stack: &str) -> ManagedResource {
        let at = DateTime::parse_from_rfc3339("2026-01-15T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ManagedResource {
            tenant_id: "t1".into(),
            account_id: String::new(),
            resource_type: "ec2:security-group".into(),
            resource_id: "sg-1".into(),
            managed_by: ManagedBy {
                tool: None,
                identity: STATE_IMPORT_IDENTITY.into(),
                stack: Some(stack.into()),
            },
            managed_since: at,
            last_iac_event_id: STATE_IMPORT_EVENT_ID.into(),
            last_iac_change_at: at,
            address: Some("aws_security_group.web".into()),
            tags: Default::default(),
        }
    }

    #[tokio::test]
    async fn an_import_rewrites_an_import_but_never_what_cloudtrail_saw() {
        let table = MemoryTable::new(Arc::new(SystemClock));
        assert!(import_managed_resource(&table, &imported("a"))
            .await
            .unwrap());
        assert!(import_managed_resource(&table, &imported("b"))
            .await
            .unwrap());
        let stored = managed_resource(&table, "t1", "ec2:security-group", "sg-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored, imported("b"));
        let mut seen = imported("b");
        seen.last_iac_event_id = "evt-apply".into();
        seen.managed_by.identity = "arn:aws:iam::1:role/deployer".into();
        put_managed_resource(&table, &seen).await.unwrap();
        assert!(!import_managed_resource(&table, &imported("c"))
            .await
            .unwrap());
        let stored = managed_resource(&table, "t1", "ec2:security-group", "sg-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored, seen);
    }

    fn a_change(event_time: &str) -> ChangeEvent {
        ChangeEvent {
            tenant_id: "t1".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            event_id: "e-1".into(),
            event_time: DateTime::parse_from_rfc3339(event_time)
                .unwrap()
                .with_timezone(&Utc),
            action: "AuthorizeSecurityGroupIngress".into(),
            resource_type: "ec2:security-group".into(),
            resource_id: "sg-1#x".into(),
            changes: vec![crate::domain::drift::AttributeChange {
                attribute: "ingress".into(),
                old: serde_json::json!(null),
                new: serde_json::json!({"cidr": "0.0.0.0/0", "from_port": 22.5}),
            }],
            actor: crate::testing::console_user(),
            class: ChangeClass::Drift,
            managed_by: None,
        }
    }

    #[test]
    fn a_change_is_stored_without_what_its_key_says_and_reads_back_whole() {
        let change = a_change("2026-01-15T09:00:00Z");
        let item = change_item(&change, 1).unwrap();
        let json: serde_json::Value = serde_json::from_str(item["json"].as_str().unwrap()).unwrap();
        for keyed in [
            "tenant_id",
            "resource_type",
            "resource_id",
            "event_time",
            "event_id",
        ] {
            assert!(json.get(keyed).is_none(), "{keyed} stored twice");
        }
        assert_eq!(json["account_id"], "111122223333");
        assert_eq!(change_of(&item).unwrap(), change);
        // A time the key does not keep exactly (below the second) stays in the JSON.
        let precise = a_change("2026-01-15T09:00:00.250Z");
        let item = change_item(&precise, 1).unwrap();
        assert!(item["json"].as_str().unwrap().contains("09:00:00.250"));
        assert_eq!(change_of(&item).unwrap(), precise);
        // A change stored whole, before, reads the same.
        let mut whole = change_item(&change, 1).unwrap();
        whole.insert("json".into(), AttrValue::S(json_of(&change).unwrap()));
        assert_eq!(change_of(&whole).unwrap(), change);
        assert!(whole["json"].as_str().unwrap().len() > item["json"].as_str().unwrap().len());
    }

    #[test]
    fn resource_keys_round_trip() {
        let p = pk("t1", "ec2:security-group", "sg-1#x");
        assert_eq!(p, "TENANT#t1#RESOURCE#ec2:security-group#sg-1#x");
        assert_eq!(parse_pk(&p), Some(("t1", "ec2:security-group", "sg-1#x")));
        assert_eq!(managed_key("t1", "a", "b").sk, "MANAGED");
        let t = DateTime::parse_from_rfc3339("2026-01-15T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            change_key("t1", "a", "b", &t, "e").sk,
            "CHANGE#2026-01-15T09:00:00Z#e"
        );
        assert_eq!(
            changes_between_query("t1", "a", "b", &t, &t).sort,
            SortKeyCondition::Between(
                "CHANGE#2026-01-15T09:00:00Z".into(),
                "CHANGE#2026-01-15T09:00:00Z~".into()
            )
        );
    }
}
