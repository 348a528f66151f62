//! The production table adapter over aws-sdk-dynamodb.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
    Update as SdkUpdate,
};
use aws_sdk_dynamodb::Client;

use super::memory::validate_update;
use super::{
    AttrValue, Condition, Index, Item, Key, Page, Query, SortKeyCondition, StoreError, Table,
    TransactWrite, Update, BATCH_GET_KEYS, PK, SK, TTL_ATTRIBUTE,
};
use crate::clock::SharedClock;
use crate::entity::key_of;

pub struct DynamoDbTable {
    client: Client,
    table_name: String,
    clock: SharedClock,
}

impl DynamoDbTable {
    pub fn new(client: Client, table_name: impl Into<String>, clock: SharedClock) -> Self {
        Self {
            client,
            table_name: table_name.into(),
            clock,
        }
    }

    fn now_value(&self) -> AttributeValue {
        AttributeValue::N(self.clock.now().timestamp().to_string())
    }

    /// The items an index query's entries name, in the entries' order: read in batches of
    /// [`BATCH_GET_KEYS`], eventually consistently as the index itself is. An entry whose item
    /// is gone, expired, or no longer carries the entry's index keys is stale and left out.
    async fn items_of_entries(
        &self,
        index: Index,
        entries: Vec<Item>,
    ) -> Result<Vec<Item>, StoreError> {
        let now = self.clock.now().timestamp();
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(entries.len());
        let keys: Vec<Key> = entries.iter().filter_map(key_of).collect();
        for batch in keys.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<HashMap<String, AttributeValue>> =
                batch.iter().map(key_map).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == BATCH_GET_ATTEMPTS {
                    return Err(StoreError::Backend(format!(
                        "{} keys still unprocessed after {attempt} BatchGetItem calls",
                        pending.len()
                    )));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                attempt += 1;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(
                        &self.table_name,
                        KeysAndAttributes::builder()
                            .set_keys(Some(std::mem::take(&mut pending)))
                            .consistent_read(false)
                            .build()
                            .map_err(backend)?,
                    )
                    .send()
                    .await
                    .map_err(call_failed)?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table_name))
                    .into_iter()
                    .flatten()
                {
                    if is_expired(item, now) {
                        continue;
                    }
                    let item = from_sdk_item(item)?;
                    if let Some(key) = key_of(&item) {
                        found.insert(key, item);
                    }
                }
                if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(&self.table_name)) {
                    pending = left.keys().to_vec();
                }
            }
        }
        Ok(entries
            .iter()
            .filter_map(|entry| {
                let item = found.remove(&key_of(entry)?)?;
                let same = |name: &str| entry.get(name) == item.get(name);
                (same(index.partition_attribute()) && same(index.sort_attribute())).then_some(item)
            })
            .collect())
    }

    async fn get_item(&self, key: &Key, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(key_map(key)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(call_failed)?;
        match out.item() {
            Some(item) if !is_expired(item, self.clock.now().timestamp()) => {
                Ok(Some(from_sdk_item(item)?))
            }
            _ => Ok(None),
        }
    }
}

fn to_sdk(v: &AttrValue) -> AttributeValue {
    match v {
        AttrValue::S(s) => AttributeValue::S(s.clone()),
        AttrValue::N(n) => AttributeValue::N(n.to_string()),
        AttrValue::Bool(b) => AttributeValue::Bool(*b),
        AttrValue::Null => AttributeValue::Null(true),
        AttrValue::L(l) => AttributeValue::L(l.iter().map(to_sdk).collect()),
        AttrValue::M(m) => AttributeValue::M(to_sdk_item(m)),
        AttrValue::Ss(s) => AttributeValue::Ss(s.iter().cloned().collect()),
        AttrValue::B(bytes) => {
            AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes.clone()))
        }
    }
}

fn to_sdk_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_sdk(v))).collect()
}

fn from_sdk(v: &AttributeValue) -> Result<AttrValue, StoreError> {
    Ok(match v {
        AttributeValue::S(s) => AttrValue::S(s.clone()),
        AttributeValue::N(n) => AttrValue::N(
            n.parse()
                .map_err(|_| StoreError::Backend(format!("unreadable number {n:?}")))?,
        ),
        AttributeValue::Bool(b) => AttrValue::Bool(*b),
        AttributeValue::Null(_) => AttrValue::Null,
        AttributeValue::L(l) => AttrValue::L(l.iter().map(from_sdk).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => AttrValue::M(from_sdk_item(m)?),
        AttributeValue::Ss(s) => AttrValue::Ss(s.iter().cloned().collect()),
        AttributeValue::B(bytes) => AttrValue::B(bytes.as_ref().to_vec()),
        other => {
            return Err(StoreError::Backend(format!(
                "unsupported attribute type {other:?}"
            )))
        }
    })
}

fn from_sdk_item(item: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    item.iter()
        .map(|(k, v)| Ok((k.clone(), from_sdk(v)?)))
        .collect()
}

/// Calls made for one batch before its unprocessed keys (throttling) fail the query.
const BATCH_GET_ATTEMPTS: u32 = 5;

fn key_map(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(DisplayErrorContext(e).to_string())
}

/// A call DynamoDB refused as invalid (an item over 400 KB, a malformed expression) fails
/// the same way every time; anything else (throttling, the network) may pass later.
fn call_failed<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let invalid = e.code() == Some("ValidationException");
    let text = DisplayErrorContext(e).to_string();
    if invalid {
        StoreError::Invalid(text)
    } else {
        StoreError::Backend(text)
    }
}

/// Collects expression attribute names and values behind placeholders.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, name: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn condition(&mut self, c: &Condition, now: &AttributeValue) -> String {
        match c {
            // Expired items read as absent, so they also count as absent for conditions.
            Condition::ItemNotExists => {
                let pk = self.name(PK);
                let ttl = self.name(TTL_ATTRIBUTE);
                let now = self.value(now.clone());
                format!("(attribute_not_exists({pk}) OR {ttl} < {now})")
            }
            Condition::ItemExists => {
                let pk = self.name(PK);
                let ttl = self.name(TTL_ATTRIBUTE);
                let now = self.value(now.clone());
                format!(
                    "(attribute_exists({pk}) AND (attribute_not_exists({ttl}) OR {ttl} >= {now}))"
                )
            }
            Condition::AttributeExists(a) => format!("attribute_exists({})", self.name(a)),
            Condition::AttributeNotExists(a) => format!("attribute_not_exists({})", self.name(a)),
            Condition::Equals(a, v) => self.comparison(a, "=", v),
            Condition::NotEquals(a, v) => self.comparison(a, "<>", v),
            Condition::LessThan(a, v) => self.comparison(a, "<", v),
            Condition::GreaterThan(a, v) => self.comparison(a, ">", v),
            Condition::And(cs) => self.join(cs, " AND ", now),
            Condition::Or(cs) => self.join(cs, " OR ", now),
        }
    }

    fn comparison(&mut self, a: &str, op: &str, v: &AttrValue) -> String {
        let n = self.name(a);
        let v = self.value(to_sdk(v));
        format!("{n} {op} {v}")
    }

    fn join(&mut self, cs: &[Condition], sep: &str, now: &AttributeValue) -> String {
        let parts: Vec<String> = cs.iter().map(|c| self.condition(c, now)).collect();
        format!("({})", parts.join(sep))
    }

    fn update(&mut self, u: &Update) -> String {
        let mut sets: Vec<String> = Vec::new();
        for (name, value) in &u.set {
            let n = self.name(name);
            let v = self.value(to_sdk(value));
            sets.push(format!("{n} = {v}"));
        }
        for (name, value) in &u.set_if_absent {
            let n = self.name(name);
            let v = self.value(to_sdk(value));
            sets.push(format!("{n} = if_not_exists({n}, {v})"));
        }
        let mut clauses = Vec::new();
        if !sets.is_empty() {
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !u.add.is_empty() {
            let adds: Vec<String> = u
                .add
                .iter()
                .map(|(name, value)| {
                    let n = self.name(name);
                    let v = self.value(to_sdk(value));
                    format!("{n} {v}")
                })
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !u.remove.is_empty() {
            let removes: Vec<String> = u.remove.iter().map(|n| self.name(n)).collect();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        clauses.join(" ")
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn require_key(item: &Item) -> Result<Key, StoreError> {
    match (
        item.get(PK).and_then(AttrValue::as_str),
        item.get(SK).and_then(AttrValue::as_str),
    ) {
        (Some(pk), Some(sk)) if !pk.is_empty() && !sk.is_empty() => Ok(Key::new(pk, sk)),
        _ => Err(StoreError::Invalid(
            "item needs non-empty string attributes PK and SK".into(),
        )),
    }
}

fn is_expired(item: &HashMap<String, AttributeValue>, now: i64) -> bool {
    matches!(item.get(TTL_ATTRIBUTE), Some(AttributeValue::N(n)) if n.parse::<f64>().is_ok_and(|t| t < now as f64))
}

#[async_trait]
impl Table for DynamoDbTable {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = require_key(&item)?;
        let mut expr = Expr::default();
        let condition_expression = condition
            .as_ref()
            .map(|c| expr.condition(c, &self.now_value()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(to_sdk_item(&item)))
            .set_condition_expression(condition_expression)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::ConditionFailed(key))
            }
            Err(e) => Err(call_failed(e)),
        }
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get_item(key, true).await
    }

    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get_item(key, false).await
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        validate_update(&update)?;
        let mut expr = Expr::default();
        let update_expression = expr.update(&update);
        let condition_expression = update
            .condition
            .as_ref()
            .map(|c| expr.condition(c, &self.now_value()));
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(key_map(key)))
            .set_condition_expression(condition_expression)
            .return_values(ReturnValue::AllNew);
        if !update_expression.is_empty() {
            request = request.update_expression(update_expression);
        }
        let result = request
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes() {
                Some(attributes) => from_sdk_item(attributes),
                None => {
                    let mut item = Item::new();
                    item.insert(PK.into(), AttrValue::S(key.pk.clone()));
                    item.insert(SK.into(), AttrValue::S(key.sk.clone()));
                    Ok(item)
                }
            },
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::ConditionFailed(key.clone()))
            }
            Err(e) => Err(call_failed(e)),
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition_expression = condition
            .as_ref()
            .map(|c| expr.condition(c, &self.now_value()));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(key_map(key)))
            .set_condition_expression(condition_expression)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(StoreError::ConditionFailed(key.clone()))
            }
            Err(e) => Err(call_failed(e)),
        }
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        if query.limit == Some(0) {
            return Err(StoreError::Invalid("limit must be at least 1".into()));
        }
        let (pk_attr, sk_attr) = match query.index {
            None => (PK, SK),
            Some(index) => (index.partition_attribute(), index.sort_attribute()),
        };
        let mut expr = Expr::default();
        let p = expr.name(pk_attr);
        let pv = expr.value(AttributeValue::S(query.partition.clone()));
        let mut key_condition = format!("{p} = {pv}");
        let comparison = |op: &str, v: &str, expr: &mut Expr| {
            let s = expr.name(sk_attr);
            let v = expr.value(AttributeValue::S(v.to_owned()));
            format!(" AND {s} {op} {v}")
        };
        match &query.sort {
            SortKeyCondition::Any => {}
            SortKeyCondition::Equals(v) => key_condition += &comparison("=", v, &mut expr),
            SortKeyCondition::LessThan(v) => key_condition += &comparison("<", v, &mut expr),
            SortKeyCondition::LessOrEqual(v) => key_condition += &comparison("<=", v, &mut expr),
            SortKeyCondition::GreaterThan(v) => key_condition += &comparison(">", v, &mut expr),
            SortKeyCondition::GreaterOrEqual(v) => key_condition += &comparison(">=", v, &mut expr),
            SortKeyCondition::BeginsWith(v) => {
                let s = expr.name(sk_attr);
                let v = expr.value(AttributeValue::S(v.clone()));
                key_condition += &format!(" AND begins_with({s}, {v})");
            }
            SortKeyCondition::Between(a, b) => {
                let s = expr.name(sk_attr);
                let a = expr.value(AttributeValue::S(a.clone()));
                let b = expr.value(AttributeValue::S(b.clone()));
                key_condition += &format!(" AND {s} BETWEEN {a} AND {b}");
            }
        }
        let ttl = expr.name(TTL_ATTRIBUTE);
        let now = expr.value(self.now_value());
        let filter = format!("attribute_not_exists({ttl}) OR {ttl} >= {now}");
        let out = self
            .client
            .query()
            .table_name(&self.table_name)
            .set_index_name(query.index.map(|i| i.name().to_owned()))
            .key_condition_expression(key_condition)
            .filter_expression(filter)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(query.forward)
            .set_limit(query.limit.map(|l| l.min(i32::MAX as usize) as i32))
            .set_exclusive_start_key(query.start_after.as_ref().map(to_sdk_item))
            .send()
            .await
            .map_err(call_failed)?;
        let entries = out
            .items()
            .iter()
            .map(from_sdk_item)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key().map(from_sdk_item).transpose()?;
        let items = match query.index {
            None => entries,
            Some(index) => self.items_of_entries(index, entries).await?,
        };
        Ok(Page { items, next })
    }

    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        if writes.is_empty() || writes.len() > 100 {
            return Err(StoreError::Invalid(
                "a transaction holds between 1 and 100 writes".into(),
            ));
        }
        let now = self.now_value();
        let mut items = Vec::with_capacity(writes.len());
        for w in &writes {
            let mut expr = Expr::default();
            let built = match w {
                TransactWrite::Put { item, condition } => {
                    require_key(item)?;
                    let c = condition.as_ref().map(|c| expr.condition(c, &now));
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(&self.table_name)
                                .set_item(Some(to_sdk_item(item)))
                                .set_condition_expression(c)
                                .set_expression_attribute_names(expr.names())
                                .set_expression_attribute_values(expr.values())
                                .build()
                                .map_err(backend)?,
                        )
                        .build()
                }
                TransactWrite::Update { key, update } => {
                    validate_update(update)?;
                    let u = expr.update(update);
                    let c = update.condition.as_ref().map(|c| expr.condition(c, &now));
                    TransactWriteItem::builder()
                        .update(
                            SdkUpdate::builder()
                                .table_name(&self.table_name)
                                .set_key(Some(key_map(key)))
                                .update_expression(u)
                                .set_condition_expression(c)
                                .set_expression_attribute_names(expr.names())
                                .set_expression_attribute_values(expr.values())
                                .build()
                                .map_err(backend)?,
                        )
                        .build()
                }
                TransactWrite::Delete { key, condition } => {
                    let c = condition.as_ref().map(|c| expr.condition(c, &now));
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table_name)
                                .set_key(Some(key_map(key)))
                                .set_condition_expression(c)
                                .set_expression_attribute_names(expr.names())
                                .set_expression_attribute_values(expr.values())
                                .build()
                                .map_err(backend)?,
                        )
                        .build()
                }
                TransactWrite::ConditionCheck { key, condition } => {
                    let c = expr.condition(condition, &now);
                    TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name(&self.table_name)
                                .set_key(Some(key_map(key)))
                                .condition_expression(c)
                                .set_expression_attribute_names(expr.names())
                                .set_expression_attribute_values(expr.values())
                                .build()
                                .map_err(backend)?,
                        )
                        .build()
                }
            };
            items.push(built);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(t) => {
                    let reasons = t
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().filter(|c| *c != "None").map(str::to_owned))
                        .collect();
                    Err(StoreError::TransactionCanceled { reasons })
                }
                _ => Err(call_failed(SdkError::ServiceError(e))),
            },
            Err(e) => Err(call_failed(e)),
        }
    }
}
