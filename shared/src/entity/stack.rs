//! A stack (`T#STACKS` / `STACK#<id>`): one item that the API declares (`POST /v1/stacks`:
//! name, tool, account, region, state location) and the drift side fills (owner, Slack
//! channel, tool seen, managed resources, drift score). One type, [`Stack`], reads it whole;
//! each side writes only its own attributes, so neither erases the other's. The API shows a
//! stack's [`StackDeclaration`].

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::actor::IacTool;
use crate::domain::drift::DriftStatus;
pub use crate::domain::drift::{Stack, StackDeclaration};
use crate::domain::Severity;
use crate::store::{query_all, AttrValue, Condition, Item, Key, Query, StoreError, Table, Update};

use super::{decode, drift_event, encode, keyed, tenant, time_key, ENTITY as ENTITY_ATTRIBUTE};

pub const ENTITY: &str = "stack";
const SK_PREFIX: &str = "STACK#";

fn partition(tenant: &str) -> String {
    tenant::sub(tenant, "STACKS")
}

pub fn key(tenant: &str, stack_id: &str) -> Key {
    Key::new(partition(tenant), format!("{SK_PREFIX}{stack_id}"))
}

/// Whether `id` can name a stack in a path (`/v1/stacks/{id}`): 1-64 letters, digits and
/// `-_:.`, the API's rule for path ids. A Terraform lineage (a UUID) is one.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
}

/// The stack id of a stack key.
pub fn id_of(key: &Key) -> Option<&str> {
    key.sk.strip_prefix(SK_PREFIX)
}

/// A tenant's stacks, by id (pattern 18).
pub fn tenant_stacks_query(tenant: &str) -> Query {
    Query::partition(partition(tenant)).begins_with(SK_PREFIX)
}

fn read(tenant: &str, key: Option<Key>, mut item: Item) -> Result<Stack, StoreError> {
    item.entry("tenant_id".into())
        .or_insert_with(|| AttrValue::S(tenant.to_owned()));
    decode(key, item)
}

/// Every stack of a tenant (bounded: the digest, the classifier).
pub async fn list_stacks(table: &dyn Table, tenant: &str) -> Result<Vec<Stack>, StoreError> {
    query_all(table, tenant_stacks_query(tenant))
        .await?
        .into_iter()
        .map(|item| read(tenant, None, item))
        .collect()
}

/// One page of a tenant's stacks (the API's list): the stacks and the page's `next`.
pub async fn list_page(
    table: &dyn Table,
    tenant: &str,
    limit: usize,
    start_after: Option<Item>,
) -> Result<(Vec<Stack>, Option<Item>), StoreError> {
    let page = table
        .query(
            tenant_stacks_query(tenant)
                .limit(limit)
                .start_after(start_after),
        )
        .await?;
    let stacks = page
        .items
        .into_iter()
        .map(|item| read(tenant, None, item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((stacks, page.next))
}

pub async fn load_stack(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
) -> Result<Option<Stack>, StoreError> {
    let key = key(tenant, stack_id);
    match table.get(&key).await? {
        Some(item) => read(tenant, Some(key.clone()), item).map(Some),
        None => Ok(None),
    }
}

/// The item `POST /v1/stacks` writes: the declaration, the tenant, key and entity name.
pub fn declared_item(tenant: &str, declaration: &StackDeclaration) -> Result<Item, StoreError> {
    let mut item = encode(declaration)?;
    item.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    Ok(keyed(item, key(tenant, &declaration.stack_id), ENTITY))
}

/// Declares a new stack (its id is new: the write fails if it exists).
pub async fn create(
    table: &dyn Table,
    tenant: &str,
    declaration: &StackDeclaration,
) -> Result<(), StoreError> {
    table
        .put(
            declared_item(tenant, declaration)?,
            Some(Condition::ItemNotExists),
        )
        .await
}

/// A change of a declaration; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclarationChange {
    pub name: Option<String>,
    pub state_location: Option<String>,
    pub enabled: Option<bool>,
    /// `Some("")` removes the owner.
    pub owner: Option<String>,
    /// `Some("")` removes the channel.
    pub slack_channel: Option<String>,
    /// Replaces the ownership tags (an empty map removes them all).
    pub ownership_tags: Option<std::collections::BTreeMap<String, String>>,
}

/// Changes an existing stack's declaration; `None` when the tenant has no such stack.
pub async fn change_declaration(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
    change: &DeclarationChange,
    now: &DateTime<Utc>,
) -> Result<Option<Stack>, StoreError> {
    let key = key(tenant, stack_id);
    let mut update = Update::new()
        .set("updated_at", time_key(now))
        .when(Condition::ItemExists);
    if let Some(name) = &change.name {
        update = update.set("name", name.as_str());
    }
    if let Some(loc) = &change.state_location {
        update = update.set("state_location", loc.as_str());
    }
    if let Some(enabled) = change.enabled {
        update = update.set("enabled", enabled);
    }
    if let Some(tags) = &change.ownership_tags {
        update = update.set(
            "ownership_tags",
            AttrValue::M(
                tags.iter()
                    .map(|(k, v)| (k.clone(), AttrValue::S(v.clone())))
                    .collect(),
            ),
        );
    }
    for (attribute, value) in [
        ("owner", &change.owner),
        ("slack_channel", &change.slack_channel),
    ] {
        update = match value.as_deref() {
            None => update,
            Some("") => update.remove(attribute),
            Some(v) => update.set(attribute, v),
        };
    }
    match table.update(&key, update).await {
        Ok(item) => read(tenant, Some(key), item).map(Some),
        Err(e) if e.is_condition_failed() => Ok(None),
        Err(e) => Err(e),
    }
}

/// The attributes the API's stack listing needs, written only when dd0c learns a stack from
/// CloudTrail or a report before anyone declared it (`POST /v1/stacks` writes the same item).
fn defaults(update: Update, stack: &Stack, now: &DateTime<Utc>) -> Update {
    let tool = stack
        .tool
        .map(|t| t.label().to_ascii_lowercase())
        .unwrap_or_else(|| "terraform".into());
    update
        .set_if_absent("stack_id", stack.stack_id.as_str())
        .set_if_absent("tenant_id", stack.tenant_id.as_str())
        .set_if_absent("name", stack.name.as_str())
        .set_if_absent("iac_tool", tool)
        .set_if_absent("account_id", stack.account_id.as_str())
        .set_if_absent("region", stack.region.as_str())
        .set_if_absent("enabled", true)
        .set_if_absent("created_at", time_key(now))
        .set_if_absent("updated_at", time_key(now))
        .set_if_absent(ENTITY_ATTRIBUTE, ENTITY)
}

/// A stack by id, created as a learnt stack (named by its id, no account or region) when the
/// tenant has none: a state import names its stack and needs no declaration first. A declared
/// stack is returned as it is.
pub async fn ensure_stack(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
    tool: IacTool,
    now: DateTime<Utc>,
) -> Result<Stack, StoreError> {
    let mut stack = Stack::new(tenant, stack_id);
    stack.tool = Some(tool);
    let update = defaults(Update::new(), &stack, &now).set_if_absent("tool", encode_value(&tool)?);
    let key = key(tenant, stack_id);
    let item = table.update(&key, update).await?;
    read(tenant, Some(key), item)
}

/// A CloudFormation stack read from the account (stack discovery), created when the tenant
/// has no stack of that id, with the account and region it was read in. An existing stack
/// (declared, or learnt from CloudTrail) is returned as it is.
pub async fn ensure_discovered_stack(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
    account: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<Stack, StoreError> {
    let mut stack = Stack::new(tenant, stack_id);
    stack.tool = Some(IacTool::CloudFormation);
    stack.account_id = account.to_owned();
    stack.region = region.to_owned();
    let update = defaults(Update::new(), &stack, &now)
        .set_if_absent("tool", encode_value(&IacTool::CloudFormation)?);
    let key = key(tenant, stack_id);
    let item = table.update(&key, update).await?;
    read(tenant, Some(key), item)
}

fn ids_attr(ids: &BTreeSet<String>) -> AttrValue {
    AttrValue::L(ids.iter().map(|i| AttrValue::S(i.clone())).collect())
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

/// Writes the drift side of a stack (owner, Slack channel, tool, managed resources) without
/// touching what the API stores on the same item.
pub async fn put_stack(
    table: &dyn Table,
    stack: &Stack,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut update = defaults(Update::new(), stack, &now).set(
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
        .update(&key(&stack.tenant_id, &stack.stack_id), update)
        .await
        .map(|_| ())
}

/// Recomputes a stack's drift score from its open drift (creating the stack item the first
/// time a stack is seen) and returns the stack as stored.
pub async fn refresh_stack_score(
    table: &dyn Table,
    tenant: &str,
    stack_id: &str,
    now: DateTime<Utc>,
) -> Result<Stack, StoreError> {
    let drift = drift_event::drift_for_stack(table, tenant, stack_id).await?;
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
    stack.drift_updated_at = Some(now);
    stack.record_day_score(now, stack.drift_score);
    let open_attr = AttrValue::M(
        stack
            .open_drift
            .iter()
            .map(|(k, v)| (k.clone(), AttrValue::N(f64::from(*v))))
            .collect(),
    );
    let update = defaults(Update::new(), &stack, &now)
        .set("drift_score", stack.drift_score)
        .set("open_drift", open_attr)
        .set(
            "managed_resource_ids",
            ids_attr(&stack.managed_resource_ids),
        )
        .set("drift_updated_at", time_key(&now))
        .set(
            "score_days",
            AttrValue::M(
                stack
                    .score_days
                    .iter()
                    .map(|(day, score)| (day.clone(), AttrValue::N(*score)))
                    .collect(),
            ),
        );
    table.update(&key(tenant, stack_id), update).await?;
    Ok(stack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::store::memory::MemoryTable;
    use std::sync::Arc;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn stack_keys_round_trip() {
        let k = key("t1", "web-prod");
        assert_eq!(k, Key::new("TENANT#t1#STACKS", "STACK#web-prod"));
        assert_eq!(id_of(&k), Some("web-prod"));
        let q = tenant_stacks_query("t1");
        assert_eq!(q.partition, k.pk);
        assert_eq!(q.index, None);
    }

    fn declaration() -> StackDeclaration {
        StackDeclaration {
            stack_id: "s1".into(),
            name: "payments".into(),
            iac_tool: "cloudformation".into(),
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            state_location: None,
            enabled: true,
            ownership_tags: Default::default(),
            created_at: t("2026-01-15T09:00:00Z"),
            updated_at: t("2026-01-15T09:00:00Z"),
        }
    }

    #[test]
    fn the_declared_item_is_what_the_api_wrote() {
        let item = declared_item("t1", &declaration()).unwrap();
        let names: Vec<&str> = item.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "PK",
                "SK",
                "account_id",
                "created_at",
                "enabled",
                "entity",
                "iac_tool",
                "name",
                "region",
                "stack_id",
                "tenant_id",
                "updated_at"
            ]
        );
        assert_eq!(item["created_at"].as_str(), Some("2026-01-15T09:00:00Z"));
    }

    #[tokio::test]
    async fn both_sides_share_one_stack() {
        let table = MemoryTable::new(Arc::new(SystemClock));
        create(&table, "t1", &declaration()).await.unwrap();
        assert!(create(&table, "t1", &declaration())
            .await
            .unwrap_err()
            .is_condition_failed());
        // The drift side adds its attributes and keeps the declaration.
        let mut drift_side = Stack::new("t1", "s1");
        drift_side.owner = Some("team-payments".into());
        put_stack(&table, &drift_side, t("2026-01-16T00:00:00Z"))
            .await
            .unwrap();
        let stack = load_stack(&table, "t1", "s1").await.unwrap().unwrap();
        assert_eq!(stack.owner.as_deref(), Some("team-payments"));
        assert_eq!(stack.declaration(), declaration());
        let scored = refresh_stack_score(&table, "t1", "s1", t("2026-01-16T01:00:00Z"))
            .await
            .unwrap();
        assert_eq!(scored.drift_score, 100.0);
        let (page, next) = list_page(&table, "t1", 10, None).await.unwrap();
        assert_eq!((page.len(), next), (1, None));
        assert_eq!(page[0].declaration().name, "payments");
        let changed = change_declaration(
            &table,
            "t1",
            "s1",
            &DeclarationChange {
                enabled: Some(false),
                ..DeclarationChange::default()
            },
            &t("2026-01-17T00:00:00Z"),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(!changed.enabled);
        assert_eq!(changed.updated_at, Some(t("2026-01-17T00:00:00Z")));
        assert_eq!(changed.drift_updated_at, Some(t("2026-01-16T01:00:00Z")));
        let absent = change_declaration(
            &table,
            "t1",
            "nope",
            &DeclarationChange::default(),
            &t("2026-01-17T00:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(absent, None);
        // A stack learnt before anyone declared it still reads as a declaration.
        refresh_stack_score(&table, "t1", "learnt", t("2026-01-16T01:00:00Z"))
            .await
            .unwrap();
        let learnt = load_stack(&table, "t1", "learnt").await.unwrap().unwrap();
        assert_eq!(learnt.declaration().iac_tool, "terraform");
        assert_eq!(list_stacks(&table, "t1").await.unwrap().len(), 2);
        // An import's stack: a declared one is kept as declared, an unknown one is learnt.
        let declared = ensure_stack(
            &table,
            "t1",
            "s1",
            IacTool::Terraform,
            t("2026-01-18T00:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(declared.declaration(), changed.declaration());
        let learnt = ensure_stack(
            &table,
            "t1",
            "net-prod",
            IacTool::OpenTofu,
            t("2026-01-18T00:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(
            (learnt.name.as_str(), learnt.tool, learnt.iac_tool_name()),
            ("net-prod", Some(IacTool::OpenTofu), "opentofu".into())
        );
        assert!(valid_id("3f2a8c1e-0b7d-4c55-9a61-2d4e8f0c1b23"));
        assert!(!valid_id("a/b") && !valid_id("") && !valid_id(&"x".repeat(65)));
    }

    /// Each refresh records the day's score; the trend reads it back per day, carrying a
    /// day's score forward and knowing nothing before the first record.
    #[tokio::test]
    async fn a_refresh_records_the_days_score_for_the_trend() {
        use crate::domain::drift::{DriftEvent, DriftEventKind, SCORE_DAYS_KEPT};
        let table = MemoryTable::new(Arc::new(SystemClock));
        refresh_stack_score(&table, "t1", "web", t("2026-11-18T08:00:00Z"))
            .await
            .unwrap();
        let drift = DriftEvent {
            id: "drift-1".into(),
            kind: DriftEventKind::Detected,
            tenant_id: "t1".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            resource_type: "ec2:security-group".into(),
            resource_id: "sg-1".into(),
            resource_address: None,
            stack: Some("web".into()),
            managed_by: None,
            changes: Vec::new(),
            change: None,
            report_id: None,
            detected_at: t("2026-11-20T09:00:00Z"),
            resolves: Vec::new(),
            resolution: None,
        };
        drift_event::record_drift_event(&table, &drift)
            .await
            .unwrap();
        drift_event::set_drift_severity(&table, &drift, Severity::High)
            .await
            .unwrap();
        refresh_stack_score(&table, "t1", "web", t("2026-11-20T09:00:00Z"))
            .await
            .unwrap();
        let stack = load_stack(&table, "t1", "web").await.unwrap().unwrap();
        assert_eq!(stack.drift_score, 80.0);
        let trend = stack.score_trend(t("2026-11-21T12:00:00Z").date_naive(), 5);
        let scores: Vec<Option<f64>> = trend.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            scores,
            [None, Some(100.0), Some(100.0), Some(80.0), Some(80.0)]
        );
        assert_eq!(trend[0].0.to_string(), "2026-11-17");
        // Old days are forgotten.
        let later = t("2026-11-18T08:00:00Z") + chrono::Duration::days(SCORE_DAYS_KEPT);
        refresh_stack_score(&table, "t1", "web", later)
            .await
            .unwrap();
        let stack = load_stack(&table, "t1", "web").await.unwrap().unwrap();
        assert_eq!(
            stack.score_days.keys().cloned().collect::<Vec<_>>(),
            ["2026-11-20", &later.date_naive().to_string()]
        );
    }
}
