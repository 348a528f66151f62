//! Storage of the drift product: account drift settings, managed resources, change events,
//! drift events (with their status and severity), stacks and drift-report parts.
//!
//! A resource's managed-resource item, change events and drift events share one partition
//! (`keys::resource_pk`), so a resource's history is one query. Change and drift events are
//! kept as their JSON text (attribute `json`) so that values in diffs round-trip exactly
//! (the item mapping keeps numbers as f64).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::drift::{ChangeEvent, DriftEvent, DriftStatus, ManagedResource, Stack};
use crate::domain::Severity;
use crate::store::{
    from_item, keys, put_if_absent, query_all, to_item, AttrValue, Index, Item, Key, Query,
    SortKeyCondition, StoreError, Table, Update, PK, SK, TTL_ATTRIBUTE,
};

/// Per-account drift configuration (on the account's settings item).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DriftSettings {
    /// Role (or user) ARNs that apply IaC in this account; their changes are never drift.
    #[serde(default)]
    pub deployer_role_arns: Vec<String>,
    /// The Terraform workspace this account's Terraform changes belong to (the stack).
    #[serde(default)]
    pub terraform_workspace: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(key: Option<Key>, item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Decode { key, source: e })
}

fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    to_item(value).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })
}

fn json_of<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn from_json_attr<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let text = item
        .get("json")
        .and_then(AttrValue::as_str)
        .ok_or_else(|| StoreError::Invalid("stored drift item has no json attribute".into()))?;
    serde_json::from_str(text).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub async fn drift_settings(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<DriftSettings, StoreError> {
    let Some(item) = table.get(&keys::account_settings(tenant, account)).await? else {
        return Ok(DriftSettings::default());
    };
    let deployer_role_arns = match item.get("deployer_role_arns") {
        Some(AttrValue::L(l)) => l
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(AttrValue::Ss(s)) => s.iter().cloned().collect(),
        _ => Vec::new(),
    };
    Ok(DriftSettings {
        deployer_role_arns,
        terraform_workspace: item
            .get("terraform_workspace")
            .and_then(AttrValue::as_str)
            .map(str::to_owned),
    })
}

/// Writes the drift attributes of an account's settings item, leaving its other attributes.
pub async fn set_drift_settings(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    settings: &DriftSettings,
) -> Result<(), StoreError> {
    let arns = AttrValue::L(
        settings
            .deployer_role_arns
            .iter()
            .map(|a| AttrValue::S(a.clone()))
            .collect(),
    );
    let mut update = Update::new().set("deployer_role_arns", arns);
    update = match &settings.terraform_workspace {
        Some(w) => update.set("terraform_workspace", w.as_str()),
        None => update.remove("terraform_workspace"),
    };
    table
        .update(&keys::account_settings(tenant, account), update)
        .await
        .map(|_| ())
}

pub async fn managed_resource(
    table: &dyn Table,
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Option<ManagedResource>, StoreError> {
    let key = keys::managed_resource(tenant, resource_type, resource_id);
    match table.get(&key).await? {
        Some(item) => decode(Some(key), item).map(Some),
        None => Ok(None),
    }
}

pub async fn put_managed_resource(
    table: &dyn Table,
    resource: &ManagedResource,
) -> Result<(), StoreError> {
    let key = keys::managed_resource(
        &resource.tenant_id,
        &resource.resource_type,
        &resource.resource_id,
    );
    let mut item = encode(resource)?;
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("managed_resource".into()));
    table.put(item, None).await
}

/// Stores a change event once (a redelivered CloudTrail event is recognised); returns
/// whether it was new.
pub async fn record_change_event(
    table: &dyn Table,
    event: &ChangeEvent,
    ttl: i64,
) -> Result<bool, StoreError> {
    let key = keys::change_event(
        &event.tenant_id,
        &event.resource_type,
        &event.resource_id,
        &event.event_time,
        &event.event_id,
    );
    let mut item = Item::new();
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("change_event".into()));
    item.insert("json".into(), AttrValue::S(json_of(event)?));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    put_if_absent(table, item).await
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
    let query = Query::partition(keys::resource_pk(tenant, resource_type, resource_id)).sort(
        SortKeyCondition::Between(
            format!("CHANGE#{}", keys::time_key(from)),
            // `~` sorts after every event id character: the whole last second is included.
            format!("CHANGE#{}~", keys::time_key(to)),
        ),
    );
    query_all(table, query)
        .await?
        .iter()
        .map(from_json_attr)
        .collect()
}

/// A drift event as stored, with what the classifier decided about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDrift {
    pub event: DriftEvent,
    pub status: DriftStatus,
    pub severity: Option<Severity>,
}

fn drift_key(event: &DriftEvent) -> Key {
    keys::drift_event(
        &event.tenant_id,
        &event.resource_type,
        &event.resource_id,
        &event.detected_at,
        &event.id,
    )
}

fn status_of(item: &Item) -> DriftStatus {
    match item.get("status").and_then(AttrValue::as_str) {
        Some("resolved") => DriftStatus::Resolved,
        Some("accepted") => DriftStatus::Accepted,
        Some("snoozed") => DriftStatus::Snoozed,
        _ => DriftStatus::Open,
    }
}

fn stored_drift(item: &Item) -> Result<StoredDrift, StoreError> {
    Ok(StoredDrift {
        event: from_json_attr(item)?,
        status: status_of(item),
        severity: item
            .get("severity")
            .and_then(AttrValue::as_str)
            .and_then(Severity::parse),
    })
}

/// Stores an open drift once; returns whether it was new.
pub async fn record_drift_event(table: &dyn Table, event: &DriftEvent) -> Result<bool, StoreError> {
    let key = drift_key(event);
    let mut item = Item::new();
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("drift_event".into()));
    item.insert("drift_id".into(), AttrValue::S(event.id.clone()));
    item.insert(
        "status".into(),
        AttrValue::S(DriftStatus::Open.as_str().into()),
    );
    item.insert("json".into(), AttrValue::S(json_of(event)?));
    if let Some(stack) = &event.stack {
        let (g1pk, g1sk) =
            keys::drift_event_stack_gsi1(&event.tenant_id, stack, &event.detected_at, &event.id);
        item.insert("GSI1PK".into(), AttrValue::S(g1pk));
        item.insert("GSI1SK".into(), AttrValue::S(g1sk));
    }
    put_if_absent(table, item).await
}

pub async fn set_drift_severity(
    table: &dyn Table,
    event: &DriftEvent,
    severity: Severity,
) -> Result<(), StoreError> {
    table
        .update(
            &drift_key(event),
            Update::new().set("severity", severity.as_str()),
        )
        .await
        .map(|_| ())
}

pub async fn set_drift_status(
    table: &dyn Table,
    event: &DriftEvent,
    status: DriftStatus,
) -> Result<(), StoreError> {
    table
        .update(
            &drift_key(event),
            Update::new().set("status", status.as_str()),
        )
        .await
        .map(|_| ())
}

/// Every drift of a resource (any status), oldest first.
pub async fn drift_for_resource(
    table: &dyn Table,
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Vec<StoredDrift>, StoreError> {
    let query = Query::partition(keys::resource_pk(tenant, resource_type, resource_id))
        .begins_with("DRIFT#");
    query_all(table, query)
        .await?
        .iter()
        .map(stored_drift)
        .collect()
}

/// Every drift of a stack (any status), oldest first.
pub async fn drift_for_stack(
    table: &dyn Table,
    tenant: &str,
    stack: &str,
) -> Result<Vec<StoredDrift>, StoreError> {
    let (g1pk, _) = keys::drift_event_stack_gsi1(tenant, stack, &Utc::now(), "");
    let query = Query::partition(g1pk).on(Index::Gsi1);
    query_all(table, query)
        .await?
        .iter()
        .map(stored_drift)
        .collect()
}

/// The attributes the API's stack listing needs, written only when dd0c learns a stack from
/// CloudTrail or a report before anyone declared it (`POST /v1/stacks` writes the same item).
fn stack_defaults(update: Update, stack: &Stack, now: DateTime<Utc>) -> Update {
    let tool = stack
        .tool
        .map(|t| t.label().to_ascii_lowercase())
        .unwrap_or_else(|| "terraform".into());
    update
        .set_if_absent("stack_id", stack.stack_id.as_str())
        .set_if_absent("tenant_id", stack.tenant_id.as_str())
        .set_if_absent("name", stack.name.as_str())
        .set_if_absent("iac_tool", tool)
        .set_if_absent("account_id", "")
        .set_if_absent("region", "")
        .set_if_absent("enabled", true)
        .set_if_absent("created_at", keys::time_key(&now))
        .set_if_absent("updated_at", keys::time_key(&now))
        .set_if_absent("entity", "stack")
}

fn ids_attr(ids: &std::collections::BTreeSet<String>) -> AttrValue {
    AttrValue::L(ids.iter().map(|i| AttrValue::S(i.clone())).collect())
}

/// Writes the drift side of a stack (owner, Slack channel, tool, managed resources) without
/// touching what the API stores on the same item.
pub async fn put_stack(
    table: &dyn Table,
    stack: &Stack,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut update = stack_defaults(Update::new(), stack, now).set(
        "managed_resource_ids",
        ids_attr(&stack.managed_resource_ids),
    );
    if let Some(owner) = &stack.owner {
        update = update.set("owner", owner.as_str());
    }
    if let Some(channel) = &stack.slack_channel {
        update = update.set("slack_channel", channel.as_str());
    }
    if let Some(tool) = stack.tool {
        update = update.set("tool", encode_value(&tool)?);
    }
    table
        .update(&keys::stack(&stack.tenant_id, &stack.stack_id), update)
        .await
        .map(|_| ())
}

fn encode_value<T: Serialize>(value: &T) -> Result<AttrValue, StoreError> {
    let v = serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
    match v {
        serde_json::Value::String(s) => Ok(AttrValue::S(s)),
        other => Err(StoreError::Invalid(format!(
            "expected a string, got {other}"
        ))),
    }
}

pub async fn load_stack(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
) -> Result<Option<Stack>, StoreError> {
    let key = keys::stack(tenant, stack_id);
    match table.get(&key).await? {
        Some(mut item) => {
            item.entry("tenant_id".into())
                .or_insert_with(|| AttrValue::S(tenant.to_owned()));
            decode(Some(key), item).map(Some)
        }
        None => Ok(None),
    }
}

pub async fn list_stacks(table: &dyn Table, tenant: &str) -> Result<Vec<Stack>, StoreError> {
    let query = Query::partition(keys::stack(tenant, "").pk).begins_with("STACK#");
    query_all(table, query)
        .await?
        .into_iter()
        .map(|mut item| {
            item.entry("tenant_id".into())
                .or_insert_with(|| AttrValue::S(tenant.to_owned()));
            decode(None, item)
        })
        .collect()
}

/// Recomputes a stack's drift score from its open drift (creating the stack item the first
/// time a stack is seen) and returns the stack as stored.
pub async fn refresh_stack_score(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
    now: DateTime<Utc>,
) -> Result<Stack, StoreError> {
    let drift = drift_for_stack(table, tenant, stack_id).await?;
    let mut stack = load_stack(table, tenant, stack_id)
        .await?
        .unwrap_or_else(|| Stack::new(tenant, stack_id));
    let open: Vec<Severity> = drift
        .iter()
        .filter(|d| d.status == DriftStatus::Open)
        .map(|d| d.severity.unwrap_or(Severity::Medium))
        .collect();
    stack.open_drift.clear();
    for s in &open {
        *stack.open_drift.entry(s.as_str().to_owned()).or_default() += 1;
    }
    for d in &drift {
        stack
            .managed_resource_ids
            .insert(d.event.resource_id.clone());
    }
    stack.drift_score = crate::domain::drift::stack_drift_score(open);
    stack.updated_at = Some(now);
    let open_attr = AttrValue::M(
        stack
            .open_drift
            .iter()
            .map(|(k, v)| (k.clone(), AttrValue::N(f64::from(*v))))
            .collect(),
    );
    let update = stack_defaults(Update::new(), &stack, now)
        .set("drift_score", stack.drift_score)
        .set("open_drift", open_attr)
        .set(
            "managed_resource_ids",
            ids_attr(&stack.managed_resource_ids),
        )
        .set("drift_updated_at", keys::time_key(&now));
    table.update(&keys::stack(tenant, stack_id), update).await?;
    Ok(stack)
}

/// Stores one part of a multi-part drift report until the report is complete.
pub async fn put_report_part(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
    part: u32,
    of: u32,
    body: &str,
    ttl: i64,
) -> Result<(), StoreError> {
    let key = keys::drift_report_part(tenant, report_id, part);
    let mut item = Item::new();
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("drift_report_part".into()));
    item.insert("part".into(), AttrValue::N(f64::from(part)));
    item.insert("parts".into(), AttrValue::N(f64::from(of)));
    item.insert("json".into(), AttrValue::S(body.to_owned()));
    item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(ttl as f64));
    table.put(item, None).await
}

/// The stored parts of a report, in order: (part number, JSON text).
pub async fn report_parts(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
) -> Result<Vec<(u32, String)>, StoreError> {
    let key = keys::drift_report_part(tenant, report_id, 0);
    let items = query_all(table, Query::partition(key.pk).begins_with("PART#")).await?;
    Ok(items
        .iter()
        .filter_map(|i| {
            let part = i.get("part").and_then(AttrValue::as_f64)? as u32;
            let text = i.get("json").and_then(AttrValue::as_str)?.to_owned();
            Some((part, text))
        })
        .collect())
}

pub async fn delete_report_parts(
    table: &dyn Table,
    tenant: &str,
    report_id: &str,
    parts: u32,
) -> Result<(), StoreError> {
    for part in 1..=parts {
        table
            .delete(&keys::drift_report_part(tenant, report_id, part), None)
            .await?;
    }
    Ok(())
}
