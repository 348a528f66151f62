//! The meter: decorators over the embedded ports that count every operation AWS bills, as the
//! deployed pipeline would perform it (`dd0c replay --cost`). What depends on the volume —
//! how full a batch is, how many invocations and traces, what is fixed per month — is not
//! counted here but modelled from these counts (`dd0c_cli::cost`).
//!
//! DynamoDB's capacity units follow its published rules: a strongly consistent read is one
//! unit per 4 KB (rounded up, at least one), an eventually consistent read half that; a write
//! is one unit per 1 KB of the larger of the item before and after; a transaction doubles its
//! items' units; every write that adds, changes or removes an item's entry in a global
//! secondary index (its keys and TTL: [`Index::projects`]) is a write to that index too, of
//! the entry's size. SQS bills a request per 64 KB of payload.

mod handler;
mod queue;
mod table;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

pub use handler::{MeteredChat, MeteredHandler};
pub use queue::MeteredQueue;
pub use table::MeteredTable;

use crate::store::{item_size, AttrValue, Item};
use crate::store::{Index, TTL_ATTRIBUTE};

/// The function a table or queue call outside any queue consumer belongs to: the only
/// producer that is not a consumer is the ingest function (EventBridge invokes it).
pub const OUTSIDE_CONSUMERS: &str = "ingest";

/// Bytes DynamoDB adds to every stored item (and index entry) for storage billing.
pub const STORAGE_OVERHEAD_BYTES: usize = 100;
/// How long an item without a TTL is charged storage for: a year's horizon.
pub const UNEXPIRING_MONTHS: f64 = 12.0;
const SECONDS_PER_MONTH: f64 = 30.4375 * 86_400.0;
/// SQS bills one request per 64 KB chunk of a payload.
pub const SQS_CHUNK_BYTES: usize = 64 * 1024;

/// How a read is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Strong,
    Eventual,
}

/// Read request units for reading `bytes` in one request.
pub fn read_units(bytes: usize, consistency: Consistency) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    match consistency {
        Consistency::Strong => units,
        Consistency::Eventual => units / 2.0,
    }
}

/// Write request units for writing an item of `bytes`.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Write units of a base-table write whose item was `old` and is now `new` (either absent).
pub fn table_write_units(old: Option<&Item>, new: Option<&Item>) -> f64 {
    let size = |i: Option<&Item>| i.map(item_size).unwrap_or(0);
    write_units(size(old).max(size(new)))
}

fn index_key(item: &Item, index: Index) -> Option<(&AttrValue, Option<&AttrValue>)> {
    let pk = item.get(index.partition_attribute())?;
    Some((pk, item.get(index.sort_attribute())))
}

/// Write units the global secondary indexes consume when an item goes from `old` to `new`:
/// an entry added or removed is one write, a changed key is a removal and an addition, an
/// entry whose projected attributes all stay is not written.
pub fn index_write_units(old: Option<&Item>, new: Option<&Item>) -> f64 {
    Index::ALL
        .iter()
        .map(|&index| {
            let before = old.and_then(|i| IndexEntry::of(i, index));
            let after = new.and_then(|i| IndexEntry::of(i, index));
            match (before, after) {
                (None, None) => 0.0,
                (Some(b), None) => write_units(b.size),
                (None, Some(a)) => write_units(a.size),
                // The keys are projected too: equal entries have equal keys.
                (Some(b), Some(a)) if b.attributes == a.attributes => 0.0,
                (Some(b), Some(a)) if b.key == a.key => write_units(a.size),
                (Some(b), Some(a)) => write_units(b.size) + write_units(a.size),
            }
        })
        .sum()
}

/// An item's entry in an index: the attributes the index projects.
struct IndexEntry<'a> {
    key: (&'a AttrValue, Option<&'a AttrValue>),
    attributes: Vec<(&'a String, &'a AttrValue)>,
    size: usize,
}

impl<'a> IndexEntry<'a> {
    /// The entry of `item` in `index`, if it is in it.
    fn of(item: &'a Item, index: Index) -> Option<Self> {
        let key = index_key(item, index)?;
        Some(Self {
            key,
            attributes: item
                .iter()
                .filter(|(name, _)| index.projects(name))
                .collect(),
            size: index_entry_size(item, index),
        })
    }
}

/// The size of an item's entry in an index: the attributes it projects.
pub fn index_entry_size(item: &Item, index: Index) -> usize {
    item.iter()
        .filter(|(name, _)| index.projects(name))
        .map(|(name, value)| name.len() + value.size())
        .sum()
}

/// Byte-months of storage a newly created item will be billed for: its size plus DynamoDB's
/// overhead in the table, and its entry's size plus the overhead in every index it is in,
/// until its TTL (`now` in epoch seconds), or [`UNEXPIRING_MONTHS`] without one.
pub fn storage_byte_months(item: &Item, now: i64) -> f64 {
    storage_byte_months_left(item, now, now)
}

/// Byte-months of storage an item created at `created` is billed for from `now` on: until its
/// TTL, or the end of the [`UNEXPIRING_MONTHS`] that began when it was created. A write that
/// moves the TTL (a finding that closes) or deletes the item re-bills what is left with it.
pub fn storage_byte_months_left(item: &Item, now: i64, created: i64) -> f64 {
    let horizon = (UNEXPIRING_MONTHS - (now - created) as f64 / SECONDS_PER_MONTH).max(0.0);
    let months = match ttl_of(item) {
        Some(ttl) => ((ttl - now as f64) / SECONDS_PER_MONTH).clamp(0.0, horizon),
        None => horizon,
    };
    let entries: usize = Index::ALL
        .iter()
        .filter_map(|&i| IndexEntry::of(item, i))
        .map(|entry| entry.size + STORAGE_OVERHEAD_BYTES)
        .sum();
    (item_size(item) + STORAGE_OVERHEAD_BYTES + entries) as f64 * months
}

fn ttl_of(item: &Item) -> Option<f64> {
    item.get(TTL_ATTRIBUTE).and_then(AttrValue::as_f64)
}

/// Whether a write from `old` to `new` changes how long the item is kept.
pub fn moves_expiry(old: &Item, new: Option<&Item>) -> bool {
    new.is_none_or(|new| ttl_of(old) != ttl_of(new))
}

/// SQS requests a message of `bytes` is billed as.
pub fn sqs_chunks(bytes: usize) -> u64 {
    bytes.div_ceil(SQS_CHUNK_BYTES).max(1) as u64
}

/// What one function did, summed over every message it handled.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FunctionUsage {
    /// Messages handed to the function (each receive of a message counts).
    pub messages: u64,
    /// Calls to DynamoDB, SQS and Slack made while handling them (they set the duration).
    pub table_calls: u64,
    pub queue_calls: u64,
    pub chat_calls: u64,
}

/// What one queue saw.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct QueueUsage {
    pub messages_sent: u64,
    /// Send requests as billed (one per 64 KB chunk of each message).
    pub send_requests: u64,
    /// Messages received, a redelivery each time.
    pub messages_received: u64,
    pub messages_deleted: u64,
    pub visibility_changes: u64,
}

/// DynamoDB's billable units.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TableUsage {
    pub read_units: f64,
    pub write_units: f64,
    /// Of `write_units`: what the indexes took.
    pub index_write_units: f64,
    pub storage_byte_months: f64,
    /// The same units by entity ([`entity_of_key`]: `EVENT`, `CHANGE`, `LINK`), which add up
    /// to the totals above.
    pub by_entity: BTreeMap<String, EntityUsage>,
}

/// DynamoDB's billable units spent on one entity.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EntityUsage {
    pub read_units: f64,
    pub write_units: f64,
    pub index_write_units: f64,
    pub storage_byte_months: f64,
    /// Items created (a put or update where there was none).
    pub items_created: u64,
}

impl TableUsage {
    /// Adds `units` to the totals and to `entity`'s share.
    fn add(&mut self, entity: &str, units: EntityUsage) {
        self.read_units += units.read_units;
        self.write_units += units.write_units;
        self.index_write_units += units.index_write_units;
        self.storage_byte_months += units.storage_byte_months;
        let e = self.by_entity.entry(entity.to_owned()).or_default();
        e.read_units += units.read_units;
        e.write_units += units.write_units;
        e.index_write_units += units.index_write_units;
        e.storage_byte_months += units.storage_byte_months;
        e.items_created += units.items_created;
    }
}

/// The entity an item's key names: its sort key up to the first `#` (`EVENT#…` is `EVENT`,
/// `LINK` is `LINK`), or, for a sort key that is a time (the audit trail's), the partition
/// key's last segment (`TENANT#t#AUDIT` is `AUDIT`).
pub fn entity_of_key<'a>(partition_key: &'a str, sort_key: &'a str) -> &'a str {
    let first = sort_key.split('#').next().unwrap_or(sort_key);
    if first.starts_with(|c: char| c.is_ascii_digit()) {
        partition_key.rsplit('#').next().unwrap_or(partition_key)
    } else {
        first
    }
}

/// Everything counted so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Usage {
    pub functions: BTreeMap<String, FunctionUsage>,
    pub queues: BTreeMap<String, QueueUsage>,
    pub table: TableUsage,
}

#[derive(Default)]
struct State {
    usage: Usage,
    /// The function whose handler is running (the embedded pipeline runs one at a time).
    current: Option<String>,
    /// Nothing is counted while paused: the replay runs records the customer's rule never
    /// forwards (decision 1080) with the meter paused.
    paused: bool,
}

/// The meter paused until this is dropped.
#[must_use = "the meter resumes when the pause is dropped"]
pub struct Pause {
    meter: Meter,
    was_paused: bool,
}

impl Drop for Pause {
    fn drop(&mut self) {
        self.meter.lock().paused = self.was_paused;
    }
}

/// The counters the metered ports share.
#[derive(Clone, Default)]
pub struct Meter {
    state: Arc<Mutex<State>>,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn usage(&self) -> Usage {
        self.lock().usage.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Stops counting until the returned [`Pause`] is dropped.
    pub fn pause(&self) -> Pause {
        let was_paused = std::mem::replace(&mut self.lock().paused, true);
        Pause {
            meter: self.clone(),
            was_paused,
        }
    }

    fn record(&self, f: impl FnOnce(&mut Usage, &str)) {
        let mut state = self.lock();
        if state.paused {
            return;
        }
        let function = state
            .current
            .clone()
            .unwrap_or_else(|| OUTSIDE_CONSUMERS.to_owned());
        f(&mut state.usage, &function);
    }

    fn function_call(&self, count: impl FnOnce(&mut FunctionUsage)) {
        self.record(|usage, function| {
            count(usage.functions.entry(function.to_owned()).or_default())
        });
    }

    fn enter(&self, function: &str) -> Option<String> {
        let mut state = self.lock();
        if !state.paused {
            state
                .usage
                .functions
                .entry(function.to_owned())
                .or_default()
                .messages += 1;
        }
        state.current.replace(function.to_owned())
    }

    fn leave(&self, previous: Option<String>) {
        self.lock().current = previous;
    }

    fn queue(&self, queue: &str, count: impl FnOnce(&mut QueueUsage)) {
        let mut state = self.lock();
        if !state.paused {
            count(state.usage.queues.entry(queue.to_owned()).or_default());
        }
    }

    fn table(&self, count: impl FnOnce(&mut TableUsage)) {
        let mut state = self.lock();
        if !state.paused {
            count(&mut state.usage.table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entity_is_its_sort_keys_first_segment_or_what_a_time_is_kept_under() {
        assert_eq!(
            entity_of_key("TENANT#t#ACCOUNT#1", "EVENT#2026-01-01T00:00:00Z#e1"),
            "EVENT"
        );
        assert_eq!(entity_of_key("ACCOUNT#1", "LINK"), "LINK");
        assert_eq!(
            entity_of_key("TENANT#t#AUDIT", "2026-01-01T00:00:00Z#a1"),
            "AUDIT"
        );
    }

    fn item(pairs: &[(&str, AttrValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn text(n: usize) -> AttrValue {
        AttrValue::from("x".repeat(n))
    }

    #[test]
    fn storage_left_runs_to_the_ttl_or_the_rest_of_the_horizon() {
        let month = SECONDS_PER_MONTH as i64;
        let created = 1_700_000_000;
        let now = created + 2 * month;
        let size = |i: &Item| (item_size(i) + STORAGE_OVERHEAD_BYTES) as f64;
        let kept = item(&[("PK", "a".into()), ("SK", "b".into())]);
        let ttl = |at: i64| AttrValue::N(at as f64);
        let closing = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            (TTL_ATTRIBUTE, ttl(now + 3 * month)),
        ]);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-6, "{a} != {b}");
        // Without a TTL: the ten months left of the year that began at its creation.
        close(
            storage_byte_months_left(&kept, now, created),
            size(&kept) * 10.0,
        );
        close(
            storage_byte_months_left(&closing, now, created),
            size(&closing) * 3.0,
        );
        // A TTL beyond the horizon does not extend it; an item past its horizon costs nothing.
        let late = item(&[("PK", "a".into()), (TTL_ATTRIBUTE, ttl(now + 20 * month))]);
        close(
            storage_byte_months_left(&late, now, created),
            size(&late) * 10.0,
        );
        assert_eq!(
            storage_byte_months_left(&kept, created + 13 * month, created),
            0.0
        );
        assert!(moves_expiry(&kept, Some(&closing)));
        assert!(moves_expiry(&kept, None));
        assert!(!moves_expiry(&kept, Some(&kept)));
    }

    #[test]
    fn nothing_is_counted_while_paused_and_counting_resumes_after() {
        let meter = Meter::new();
        let count = |m: &Meter| {
            let previous = m.enter("scorer");
            m.function_call(|f| f.table_calls += 1);
            m.queue("q.fifo", |q| q.messages_sent += 1);
            m.table(|t| t.read_units += 1.0);
            m.leave(previous);
        };
        {
            let _paused = meter.pause();
            count(&meter);
            {
                let _again = meter.pause();
            }
            // A nested pause ending does not resume the outer one.
            count(&meter);
        }
        assert_eq!(meter.usage(), Usage::default());
        count(&meter);
        let usage = meter.usage();
        assert_eq!(usage.functions["scorer"].messages, 1);
        assert_eq!(usage.functions["scorer"].table_calls, 1);
        assert_eq!(usage.queues["q.fifo"].messages_sent, 1);
        assert_eq!(usage.table.read_units, 1.0);
    }

    #[test]
    fn reads_are_billed_per_4kb_and_eventual_reads_at_half() {
        assert_eq!(read_units(0, Consistency::Strong), 1.0);
        assert_eq!(read_units(4096, Consistency::Strong), 1.0);
        assert_eq!(read_units(4097, Consistency::Strong), 2.0);
        assert_eq!(read_units(4097, Consistency::Eventual), 1.0);
        assert_eq!(read_units(100, Consistency::Eventual), 0.5);
    }

    #[test]
    fn writes_are_billed_per_kb_of_the_larger_image() {
        assert_eq!(write_units(1), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        // PK (2) + 1 + SK (2) + 1 = 6 bytes, then "d" + 3,000 bytes.
        let small = item(&[("PK", "a".into()), ("SK", "b".into())]);
        let big = item(&[("PK", "a".into()), ("SK", "b".into()), ("d", text(3000))]);
        assert_eq!(table_write_units(Some(&big), Some(&small)), 3.0);
        assert_eq!(table_write_units(None, Some(&small)), 1.0);
        assert_eq!(table_write_units(None, None), 1.0);
    }

    #[test]
    fn index_writes_follow_the_entry() {
        let plain = item(&[("PK", "a".into()), ("SK", "b".into())]);
        let in_gsi1 = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI1PK", "t".into()),
            ("GSI1SK", "1".into()),
            ("d", text(2000)),
        ]);
        let moved = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI1PK", "t".into()),
            ("GSI1SK", "2".into()),
            ("d", text(2000)),
        ]);
        let rewritten = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI1PK", "t".into()),
            ("GSI1SK", "1".into()),
            ("d", text(3000)),
        ]);
        let expiring = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI1PK", "t".into()),
            ("GSI1SK", "1".into()),
            ("d", text(2000)),
            ("ttl", AttrValue::from(1_800_000_000.0)),
        ]);
        assert_eq!(index_write_units(Some(&plain), Some(&plain)), 0.0);
        // Added: one write of the entry (its keys), whatever the item's size.
        assert_eq!(index_write_units(None, Some(&in_gsi1)), 1.0);
        // Keys and TTL unchanged: the entry is not written, however the item changed.
        assert_eq!(index_write_units(Some(&in_gsi1), Some(&in_gsi1)), 0.0);
        assert_eq!(index_write_units(Some(&in_gsi1), Some(&rewritten)), 0.0);
        // A new TTL is projected: the entry is rewritten.
        assert_eq!(index_write_units(Some(&in_gsi1), Some(&expiring)), 1.0);
        // New sort key: removed and added.
        assert_eq!(index_write_units(Some(&in_gsi1), Some(&moved)), 2.0);
        // Left the index.
        assert_eq!(index_write_units(Some(&in_gsi1), Some(&plain)), 1.0);
        assert_eq!(index_write_units(Some(&in_gsi1), None), 1.0);
    }

    #[test]
    fn storage_lasts_until_the_ttl_and_counts_every_index_entry() {
        let now = 1_700_000_000;
        let month = SECONDS_PER_MONTH as i64;
        // 2 + 1 + 2 + 1 + 3 + 10 = 19 bytes, +100 overhead.
        let expiring = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("ttl", AttrValue::from((now + 3 * month) as f64)),
        ]);
        let ttl_size = item_size(&expiring);
        assert_eq!(
            storage_byte_months(&expiring, now),
            (ttl_size + 100) as f64 * 3.0
        );
        let forever = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI2PK", "x".into()),
        ]);
        let size = item_size(&forever);
        assert_eq!(
            storage_byte_months(&forever, now),
            ((size + 100) * 2) as f64 * UNEXPIRING_MONTHS
        );
        // The index holds the keys, not the 2,000 bytes of "d".
        let indexed = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI1PK", "x".into()),
            ("d", text(2000)),
        ]);
        let entry = item(&[
            ("PK", "a".into()),
            ("SK", "b".into()),
            ("GSI1PK", "x".into()),
        ]);
        assert_eq!(
            storage_byte_months(&indexed, now),
            (item_size(&indexed) + 100 + item_size(&entry) + 100) as f64 * UNEXPIRING_MONTHS
        );
        let expired = item(&[("PK", "a".into()), ("ttl", AttrValue::from(1.0))]);
        assert_eq!(storage_byte_months(&expired, now), 0.0);
    }

    #[test]
    fn sqs_bills_a_request_per_64kb_chunk() {
        assert_eq!(sqs_chunks(0), 1);
        assert_eq!(sqs_chunks(65_536), 1);
        assert_eq!(sqs_chunks(65_537), 2);
        assert_eq!(sqs_chunks(256 * 1024), 4);
    }
}
