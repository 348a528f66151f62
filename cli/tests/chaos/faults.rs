//! Fault-injecting decorators over the pipeline's ports, driven by one seeded RNG so that a
//! run is reproducible from its seed (the embedded pipeline is sequential: the same seed
//! makes the same calls in the same order and so draws the same faults).
//!
//! Every fault is one the real services produce:
//! - the table: throttling before a write, throttling *after* it (the write happened but the
//!   caller saw an error, like a timeout), throttled reads, and the conditional-check race of a
//!   concurrent duplicate delivery (it wrote the same item first: the write is there, and ours
//!   fails its condition);
//! - the queue: duplicated sends (same deduplication id: FIFO deduplication must absorb
//!   them), redelivery of a handled message (its visibility timeout lapsed before the delete,
//!   so the delete is lost and the message comes back), batches reordered across message
//!   groups (never within one: FIFO keeps that order);
//! - the bus: PutEvents failing before, after, or halfway through a batch of events;
//! - a handler failing mid-batch, before or after doing its work;
//! - Slack answering 500, a transport failure, or 429 with Retry-After.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusError, BusEvent};
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink, Posted};
use dd0c_shared::queue::{OutgoingMessage, Queue, QueueError, ReceivedMessage, MAX_RECEIVE_COUNT};
use dd0c_shared::store::{
    Condition, Item, Key, Page, Query, StoreError, Table, TransactWrite, Update,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// The seeded dice and the tally of what was injected.
pub struct Faults {
    rng: Mutex<StdRng>,
    rate: f64,
    injected: Mutex<BTreeMap<&'static str, u64>>,
}

impl Faults {
    /// `rate`: the probability that any one port call (or handled message, or Slack post)
    /// is hit by a fault.
    pub fn new(seed: u64, rate: f64) -> Arc<Self> {
        Arc::new(Self {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            rate,
            injected: Mutex::new(BTreeMap::new()),
        })
    }

    fn hit(&self) -> bool {
        self.rate > 0.0 && self.rng.lock().unwrap().gen_bool(self.rate)
    }

    fn below(&self, n: usize) -> usize {
        self.rng.lock().unwrap().gen_range(0..n)
    }

    fn count(&self, kind: &'static str) {
        *self.injected.lock().unwrap().entry(kind).or_default() += 1;
    }

    pub fn injected(&self) -> BTreeMap<&'static str, u64> {
        self.injected.lock().unwrap().clone()
    }

    pub fn total(&self) -> u64 {
        self.injected.lock().unwrap().values().sum()
    }
}

fn throttled() -> StoreError {
    StoreError::Backend("throttled (injected)".into())
}

// ----------------------------------------------------------------------------------- table

pub struct FaultyTable {
    pub inner: Arc<dyn Table>,
    pub faults: Arc<Faults>,
}

/// What a write fault does.
enum WriteFault {
    None,
    ThrottleBefore,
    ThrottleAfter,
    Race,
}

impl FaultyTable {
    fn write_fault(&self, race_possible: bool) -> WriteFault {
        if !self.faults.hit() {
            return WriteFault::None;
        }
        let choices = if race_possible { 3 } else { 2 };
        match self.faults.below(choices) {
            0 => {
                self.faults.count("table.throttle_before_write");
                WriteFault::ThrottleBefore
            }
            1 => {
                self.faults.count("table.throttle_after_write");
                WriteFault::ThrottleAfter
            }
            _ => {
                self.faults.count("table.condition_race");
                WriteFault::Race
            }
        }
    }

    fn read_fault(&self) -> Result<(), StoreError> {
        if self.faults.hit() {
            self.faults.count("table.throttle_read");
            return Err(throttled());
        }
        Ok(())
    }
}

/// A conditional write a concurrent duplicate delivery could have won: one that creates the
/// item only if absent (after the other writer, the item exists and the condition fails).
fn creates_if_absent(condition: &Option<Condition>) -> bool {
    matches!(condition, Some(Condition::ItemNotExists))
}

#[async_trait]
impl Table for FaultyTable {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let race = creates_if_absent(&condition);
        let key = dd0c_shared::entity::key_of(&item);
        match self.write_fault(race) {
            WriteFault::None => self.inner.put(item, condition).await,
            WriteFault::ThrottleBefore => Err(throttled()),
            WriteFault::ThrottleAfter => {
                self.inner.put(item, condition).await?;
                Err(throttled())
            }
            WriteFault::Race => {
                self.inner.put(item, condition).await?;
                Err(StoreError::ConditionFailed(
                    key.unwrap_or_else(|| Key::new("?", "?")),
                ))
            }
        }
    }

    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read_fault()?;
        self.inner.get(key).await
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        let race = creates_if_absent(&update.condition);
        match self.write_fault(race) {
            WriteFault::None => self.inner.update(key, update).await,
            WriteFault::ThrottleBefore => Err(throttled()),
            WriteFault::ThrottleAfter => {
                self.inner.update(key, update).await?;
                Err(throttled())
            }
            WriteFault::Race => {
                self.inner.update(key, update).await?;
                Err(StoreError::ConditionFailed(key.clone()))
            }
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        match self.write_fault(false) {
            WriteFault::None | WriteFault::Race => self.inner.delete(key, condition).await,
            WriteFault::ThrottleBefore => Err(throttled()),
            WriteFault::ThrottleAfter => {
                self.inner.delete(key, condition).await?;
                Err(throttled())
            }
        }
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.read_fault()?;
        self.inner.query(query).await
    }

    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        // The writes a concurrent copy of the same transaction makes fail: its puts-if-absent.
        let reasons: Vec<Option<String>> = writes
            .iter()
            .map(|w| match w {
                TransactWrite::Put { condition, .. } if creates_if_absent(condition) => {
                    Some("ConditionalCheckFailed".to_owned())
                }
                _ => None,
            })
            .collect();
        let race = reasons.iter().any(Option::is_some);
        match self.write_fault(race) {
            WriteFault::None => self.inner.transact_write(writes).await,
            WriteFault::ThrottleBefore => Err(throttled()),
            WriteFault::ThrottleAfter => {
                self.inner.transact_write(writes).await?;
                Err(throttled())
            }
            WriteFault::Race => {
                self.inner.transact_write(writes).await?;
                Err(StoreError::TransactionCanceled { reasons })
            }
        }
    }
}

// ----------------------------------------------------------------------------------- queue

pub struct FaultyQueue {
    pub inner: Arc<dyn Queue>,
    pub faults: Arc<Faults>,
    /// Receive count of each receipt handle in flight.
    in_flight: Mutex<HashMap<String, u32>>,
}

impl FaultyQueue {
    pub fn new(inner: Arc<dyn Queue>, faults: Arc<Faults>) -> Self {
        Self {
            inner,
            faults,
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

/// Reorders a batch across message groups, keeping each group's own order: the groups'
/// positions are shuffled, then each position takes its group's next message.
pub fn reorder_across_groups(batch: Vec<ReceivedMessage>, faults: &Faults) -> Vec<ReceivedMessage> {
    let mut slots: Vec<String> = batch.iter().map(|m| m.group_id.clone()).collect();
    {
        let mut rng = faults.rng.lock().unwrap();
        slots.shuffle(&mut *rng);
    }
    let mut by_group: BTreeMap<String, std::collections::VecDeque<ReceivedMessage>> =
        BTreeMap::new();
    for m in batch {
        by_group.entry(m.group_id.clone()).or_default().push_back(m);
    }
    slots
        .into_iter()
        .map(|g| {
            by_group
                .get_mut(&g)
                .and_then(|q| q.pop_front())
                .expect("one message per slot")
        })
        .collect()
}

#[async_trait]
impl Queue for FaultyQueue {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, QueueError> {
        if self.faults.hit() {
            self.faults.count("queue.duplicate_send");
            self.inner.send(queue, message.clone()).await?;
        }
        self.inner.send(queue, message).await
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let mut batch = self.inner.receive(queue, max, visibility_timeout).await?;
        let groups: std::collections::BTreeSet<&str> =
            batch.iter().map(|m| m.group_id.as_str()).collect();
        if groups.len() > 1 && self.faults.hit() {
            self.faults.count("queue.reorder_across_groups");
            batch = reorder_across_groups(batch, &self.faults);
        }
        let mut in_flight = self.in_flight.lock().unwrap();
        for m in &batch {
            in_flight.insert(m.receipt_handle.clone(), m.receive_count);
        }
        Ok(batch)
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        let receive_count = self.in_flight.lock().unwrap().remove(receipt_handle);
        // The handler ran past the visibility timeout: the message is visible again and the
        // delete is lost, so it will be received (and handled) again. Not on its last receive:
        // that would send a handled message to the dead-letter queue, which is a test of the
        // redrive policy, not of the handlers' idempotence.
        if receive_count.is_some_and(|c| c < MAX_RECEIVE_COUNT) && self.faults.hit() {
            self.faults.count("queue.redelivery");
            return self
                .inner
                .change_visibility(queue, receipt_handle, Duration::ZERO)
                .await;
        }
        self.inner.delete(queue, receipt_handle).await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.inner
            .change_visibility(queue, receipt_handle, timeout)
            .await
    }
}

// ------------------------------------------------------------------------------------- bus

pub struct FaultyBus {
    pub inner: Arc<dyn Bus>,
    pub faults: Arc<Faults>,
}

fn bus_down() -> BusError {
    BusError::Backend("PutEvents failed (injected)".into())
}

#[async_trait]
impl Bus for FaultyBus {
    async fn publish(&self, mut events: Vec<BusEvent>) -> Result<(), BusError> {
        if events.is_empty() || !self.faults.hit() {
            return self.inner.publish(events).await;
        }
        match self.faults.below(3) {
            0 => {
                self.faults.count("bus.fail_before");
                Err(bus_down())
            }
            1 => {
                self.faults.count("bus.fail_after");
                self.inner.publish(events).await?;
                Err(bus_down())
            }
            _ => {
                self.faults.count("bus.fail_halfway");
                let half = events.len().div_ceil(2);
                events.truncate(half);
                self.inner.publish(events).await?;
                Err(bus_down())
            }
        }
    }
}

// --------------------------------------------------------------------------------- handler

pub struct FaultyHandler {
    pub inner: Arc<dyn MessageHandler>,
    pub faults: Arc<Faults>,
}

#[async_trait]
impl MessageHandler for FaultyHandler {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        if !self.faults.hit() {
            return self.inner.handle(body).await;
        }
        if self.faults.below(2) == 0 {
            self.faults.count("handler.crash_before_work");
            return Err(HandlerError::transient(
                "handler crashed mid-batch (injected)",
            ));
        }
        self.faults.count("handler.crash_after_work");
        self.inner.handle(body).await?;
        Err(HandlerError::transient(
            "handler crashed mid-batch after its work (injected)",
        ))
    }
}

// ------------------------------------------------------------------------------------ chat

pub struct FaultyChat {
    pub inner: Arc<dyn ChatSink>,
    pub faults: Arc<Faults>,
}

#[async_trait]
impl ChatSink for FaultyChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        if self.faults.hit() {
            return Err(match self.faults.below(3) {
                0 => {
                    self.faults.count("slack.500");
                    ChatError::Api("500 internal_error (injected)".into())
                }
                1 => {
                    self.faults.count("slack.transport");
                    ChatError::Transport("connection reset (injected)".into())
                }
                _ => {
                    self.faults.count("slack.429");
                    ChatError::RateLimited {
                        retry_after_seconds: 1 + self.faults.below(60) as u64,
                    }
                }
            });
        }
        self.inner.post(message).await
    }

    async fn update(&self, channel: &str, ts: &str, message: ChatMessage) -> Result<(), ChatError> {
        self.inner.update(channel, ts, message).await
    }
}

/// Counts Slack posts per finding (an alert's actions block is `finding:<id>`), and the
/// posts about no finding (notices) by their channel and text; updates of a posted alert are
/// not posts.
#[derive(Default)]
pub struct CountingChat {
    posts: Mutex<Vec<Option<String>>>,
    notices: Mutex<Vec<String>>,
}

impl CountingChat {
    /// Posts per finding id (`None`: a post about no finding, e.g. the panic notice).
    pub fn posts_per_finding(&self) -> BTreeMap<Option<String>, u64> {
        let mut out = BTreeMap::new();
        for id in self.posts.lock().unwrap().iter() {
            *out.entry(id.clone()).or_default() += 1;
        }
        out
    }

    pub fn total(&self) -> usize {
        self.posts.lock().unwrap().len()
    }

    /// Posts about no finding, per channel and text: distinct notices (a circuit breaker's
    /// for each detector and hour) are not duplicates of each other.
    pub fn notices(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for notice in self.notices.lock().unwrap().iter() {
            *out.entry(notice.clone()).or_default() += 1;
        }
        out
    }
}

fn finding_of(blocks: &Value) -> Option<String> {
    blocks.as_array()?.iter().find_map(|b| {
        b.get("block_id")?
            .as_str()?
            .strip_prefix("finding:")
            .map(str::to_owned)
    })
}

#[async_trait]
impl ChatSink for CountingChat {
    async fn post(&self, message: ChatMessage) -> Result<Posted, ChatError> {
        let mut posts = self.posts.lock().unwrap();
        let finding = finding_of(&message.blocks);
        if finding.is_none() {
            let notice = format!("{}: {}", message.channel, message.text);
            self.notices.lock().unwrap().push(notice);
        }
        posts.push(finding);
        Ok(Posted {
            channel: message.channel,
            ts: format!("{}.000000", posts.len()),
        })
    }

    async fn update(
        &self,
        _channel: &str,
        _ts: &str,
        _message: ChatMessage,
    ) -> Result<(), ChatError> {
        Ok(())
    }
}
