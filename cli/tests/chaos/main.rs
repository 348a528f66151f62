//! Chaos through the embedded pipeline: synthetic CloudTrail (`dd0c simulate`) with poison
//! records mixed in goes through ingest → normalizer → scorer/classifier → notifier while
//! faults are injected at random at every port (`faults.rs`), and once more without faults.
//! Then: every event is handled or dead-lettered with its reason, an event that produces
//! something (a cost event, a change) is stored exactly once — one that produces nothing (a
//! read, a failed call) leaves nothing to store — every finding is recorded once and the set
//! equals the fault-free run's, and no finding got two Slack messages.
//!
//! `CHAOS_EVENTS` (default 5000; `make chaos` runs 100000), `CHAOS_RATE` (the probability
//! that a port call is hit, default 0.05) and `CHAOS_SEED` (default 1) size and seed a run;
//! the same seed replays the same faults.

mod faults;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dd0c_cli::pipeline::{EmbeddedPipeline, PipelineOptions, PortDecorators, LOCAL_TENANT};
use dd0c_cli::simulate::{generate, SimulateOptions};
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::Bus;
use dd0c_shared::chat::ChatSink;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::Finding;
use dd0c_shared::entity::{event, finding, key_of};
use dd0c_shared::governance::Policy;
use dd0c_shared::queue::Queue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{
    query_all, AttrValue, Condition, Item, Key, Page, Query, StoreError, Table, TransactWrite,
    Update,
};
use serde_json::Value;

use faults::{
    CountingChat, Faults, FaultyBus, FaultyChat, FaultyHandler, FaultyQueue, FaultyTable,
};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One CloudTrail record of the input.
struct Event {
    id: String,
    time: DateTime<Utc>,
    raw: String,
    /// A record that can never be processed (it names no account): it must end in the
    /// ingest dead-letter queue with its reason.
    poison: bool,
}

/// About `n` events of simulated accounts over four weeks, sorted by time, one in 500 a
/// poison record.
fn input(n: usize, seed: u64) -> (Vec<Event>, Vec<String>) {
    let options = |accounts| SimulateOptions {
        seed,
        days: 28,
        accounts,
        noise_per_day: 40,
        history_days: 0,
    };
    let per_account = generate(&options(1)).records.len().max(1);
    let accounts = (n / per_account + 1).max(2) as u32;
    let sim = generate(&options(accounts));
    let mut events = Vec::with_capacity(n);
    for (i, r) in sim.records.iter().enumerate() {
        if events.len() >= n {
            break;
        }
        if i % 500 == 499 {
            let mut poison = r.record.clone();
            let id = format!("poison-{i}");
            poison["eventID"] = Value::String(id.clone());
            if let Some(o) = poison.as_object_mut() {
                o.remove("recipientAccountId");
            }
            if let Some(u) = poison["userIdentity"].as_object_mut() {
                u.remove("accountId");
            }
            events.push(Event {
                id,
                time: r.time,
                raw: poison.to_string(),
                poison: true,
            });
            continue;
        }
        events.push(Event {
            id: r.record["eventID"].as_str().expect("eventID").to_owned(),
            time: r.time,
            raw: r.record.to_string(),
            poison: false,
        });
    }
    (events, sim.accounts)
}

/// How many times the normalizer finished each CloudTrail record (by eventID): what shows
/// that a record which leaves nothing stored was handled.
#[derive(Default)]
struct Handled(Mutex<HashMap<String, u32>>);

impl Handled {
    fn of(&self, id: &str) -> u32 {
        let handled = self.0.lock().unwrap_or_else(|p| p.into_inner());
        handled.get(id).copied().unwrap_or(0)
    }
}

/// Counts into `handled` the records `inner` finished; faults are injected around it, so a
/// crash after the work counts as handled, as it was.
struct CountingHandler {
    inner: Arc<dyn MessageHandler>,
    handled: Arc<Handled>,
}

#[async_trait]
impl MessageHandler for CountingHandler {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        self.inner.handle(body).await?;
        let message: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        if let Some(id) = message["record"]["eventID"].as_str() {
            let mut handled = self.handled.0.lock().unwrap_or_else(|p| p.into_inner());
            *handled.entry(id.to_owned()).or_default() += 1;
        }
        Ok(())
    }
}

/// Counts, by eventID, the writes that marked a CloudTrail record published: what shows that
/// a record which produced something was stored once. Read from the writes, not from the
/// marks left at the end, since a mark expires 15 days after it is written (decision 1100)
/// and a run spans four weeks. It sits under the faults: a write the store made counts,
/// whatever the caller was told.
#[derive(Default)]
struct PublishedMarks(Mutex<HashMap<String, u32>>);

impl PublishedMarks {
    fn note(&self, key: &Key, publishes: bool) {
        if let (true, Some(id)) = (publishes, event::event_id_of(key)) {
            let mut marks = self.0.lock().unwrap_or_else(|p| p.into_inner());
            *marks.entry(id.to_owned()).or_default() += 1;
        }
    }

    fn counts(&self) -> HashMap<String, u32> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn publishes(update: &Update) -> bool {
    update
        .set
        .iter()
        .any(|(name, value)| name == "published" && *value == AttrValue::Bool(true))
}

struct RecordingMarks {
    inner: Arc<dyn Table>,
    marks: Arc<PublishedMarks>,
}

#[async_trait]
impl Table for RecordingMarks {
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key = key_of(&item);
        let published = item.get("published") == Some(&AttrValue::Bool(true));
        self.inner.put(item, condition).await?;
        if let Some(key) = key {
            self.marks.note(&key, published);
        }
        Ok(())
    }
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get_eventually(key).await
    }
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        let published = publishes(&update);
        let item = self.inner.update(key, update).await?;
        self.marks.note(key, published);
        Ok(item)
    }
    async fn update_only(&self, key: &Key, update: Update) -> Result<(), StoreError> {
        let published = publishes(&update);
        self.inner.update_only(key, update).await?;
        self.marks.note(key, published);
        Ok(())
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner.delete(key, condition).await
    }
    fn discards(&self, key: &Key) -> bool {
        self.inner.discards(key)
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn transact_write(&self, writes: Vec<TransactWrite>) -> Result<(), StoreError> {
        self.inner.transact_write(writes).await
    }
}

fn counted(
    name: &str,
    inner: Arc<dyn MessageHandler>,
    handled: &Arc<Handled>,
) -> Arc<dyn MessageHandler> {
    if name != "normalizer" {
        return inner;
    }
    Arc::new(CountingHandler {
        inner,
        handled: handled.clone(),
    })
}

fn pipeline(
    start: DateTime<Utc>,
    faults: Option<Arc<Faults>>,
) -> (
    EmbeddedPipeline,
    Arc<CountingChat>,
    Arc<Handled>,
    Arc<PublishedMarks>,
) {
    let handled = Arc::new(Handled::default());
    let marks = Arc::new(PublishedMarks::default());
    let counting = Arc::new(CountingChat::default());
    let chat: Arc<dyn ChatSink> = match &faults {
        Some(f) => Arc::new(FaultyChat {
            inner: counting.clone(),
            faults: f.clone(),
        }),
        None => counting.clone(),
    };
    let recording = {
        let marks = marks.clone();
        move |inner| -> Arc<dyn Table> {
            Arc::new(RecordingMarks {
                inner,
                marks: marks.clone(),
            })
        }
    };
    let decorators = match faults {
        None => {
            let handled = handled.clone();
            PortDecorators {
                table: Some(Box::new(recording)),
                handler: Some(Box::new(move |name, inner| counted(name, inner, &handled))),
                ..PortDecorators::default()
            }
        }
        Some(f) => {
            let (t, q, b, h) = (f.clone(), f.clone(), f.clone(), f);
            let handled = handled.clone();
            PortDecorators {
                table: Some(Box::new(move |inner| {
                    Arc::new(FaultyTable {
                        inner: recording(inner),
                        faults: t.clone(),
                    }) as Arc<dyn Table>
                })),
                queue: Some(Box::new(move |inner| {
                    Arc::new(FaultyQueue::new(inner, q.clone())) as Arc<dyn Queue>
                })),
                bus: Some(Box::new(move |inner| {
                    Arc::new(FaultyBus {
                        inner,
                        faults: b.clone(),
                    }) as Arc<dyn Bus>
                })),
                handler: Some(Box::new(move |name, inner| {
                    Arc::new(FaultyHandler {
                        inner: counted(name, inner, &handled),
                        faults: h.clone(),
                    }) as Arc<dyn MessageHandler>
                })),
            }
        }
    };
    let clock = ManualClock::new(start);
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let p = EmbeddedPipeline::with_ports(
        PipelineOptions {
            start,
            chat,
            default_channel: "#dd0c-alerts".into(),
            policy: Policy::demo().expect("demo policy"),
        },
        clock,
        table,
        decorators,
    );
    (p, counting, handled, marks)
}

/// Feeds the events on event time, `CHUNK` at a time (so that batches hold several
/// messages and groups), draining after each chunk and at the end.
async fn run(p: &EmbeddedPipeline, events: &[Event]) {
    const CHUNK: usize = 100;
    for chunk in events.chunks(CHUNK) {
        for e in chunk {
            p.clock.advance_to(e.time);
            // EventBridge retries a target that failed.
            let mut tries = 0;
            while let Err(err) = p.ingest.forward_raw(&e.raw).await {
                tries += 1;
                assert!(tries < 100, "ingest keeps failing: {err}");
            }
        }
        p.drain().await;
    }
    p.drain().await;
}

/// What a run left behind.
struct Outcome {
    /// Writes that marked a CloudTrail record published, per event id (records that produced
    /// something).
    stored: HashMap<String, u32>,
    handled: Arc<Handled>,
    findings: Vec<Finding>,
    /// (queue, event or finding id, reason, body) of every dead letter.
    dead: Vec<(String, String, String, Value)>,
    posts: BTreeMap<Option<String>, u64>,
    /// The events counted into each baseline: (account, sort key) → `count`.
    baseline_counts: BTreeMap<(String, String), f64>,
    /// Posts about no finding, per channel and text.
    notices: BTreeMap<String, u64>,
    post_total: usize,
}

async fn outcome(
    p: &EmbeddedPipeline,
    chat: &CountingChat,
    handled: Arc<Handled>,
    marks: &PublishedMarks,
    accounts: &[String],
) -> Outcome {
    let table = p.table.as_ref();
    let stored = marks.counts();
    let mut baseline_counts = BTreeMap::new();
    for account in accounts {
        let partition = dd0c_shared::entity::account::pk(LOCAL_TENANT, account);
        // The counts are in each baseline's tally (decision 1080).
        let query = dd0c_shared::store::Query::partition(partition).begins_with("TALLY#");
        for item in query_all(table, query).await.expect("tallies") {
            let key = key_of(&item).expect("key");
            let count = item.get("count").and_then(AttrValue::as_f64).unwrap_or(0.0);
            baseline_counts.insert((account.clone(), key.sk), count);
        }
    }
    let findings = finding::all(table, LOCAL_TENANT).await.expect("findings");
    let dead = p
        .dead_letters()
        .into_iter()
        .map(|d| {
            let body: Value = serde_json::from_str(&d.body).unwrap_or(Value::Null);
            let id = body["record"]["eventID"]
                .as_str()
                .or(body["detail"]["finding_id"].as_str())
                .or(body["detail"]["event_id"].as_str())
                .or(body["detail"]["id"].as_str())
                .unwrap_or("?")
                .to_owned();
            (d.queue, id, d.reason, body)
        })
        .collect();
    Outcome {
        stored,
        handled,
        findings,
        dead,
        posts: chat.posts_per_finding(),
        baseline_counts,
        notices: chat.notices(),
        post_total: chat.total(),
    }
}

/// From when each account's history differs from the fault-free run's: the earliest event
/// time of a dead-lettered event, cost event or drift event of the account. A read-only call
/// changes nothing dd0c keeps (no price, no baseline, no resource), nor does an alert.
fn tainted_since(dead: &[(String, String, String, Value)]) -> HashMap<String, DateTime<Utc>> {
    let mut out: HashMap<String, DateTime<Utc>> = HashMap::new();
    for (queue, id, _, body) in dead {
        let read_only = body["record"]["readOnly"] == Value::Bool(true);
        if id.starts_with("poison-") || queue == "alerts" || read_only {
            continue;
        }
        let (account, time) = match queue.as_str() {
            "ingest" => (
                &body["record"]["recipientAccountId"],
                &body["record"]["eventTime"],
            ),
            _ => (&body["detail"]["account_id"], &body["detail"]["event_time"]),
        };
        let time = time
            .as_str()
            .or(body["detail"]["change"]["event_time"].as_str())
            .or(body["detail"]["detected_at"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        let (Some(account), Some(time)) = (account.as_str(), time) else {
            panic!("dead letter of {queue} names no account and time: {body}");
        };
        let since = out.entry(account.to_owned()).or_insert(time);
        *since = (*since).min(time);
    }
    out
}

fn short_reason(reason: &str) -> String {
    let r = reason.split(':').next().unwrap_or(reason);
    r.chars().take(40).collect()
}

#[tokio::test]
async fn every_event_stored_once_every_finding_once_at_most_one_slack_message_under_faults() {
    let events_wanted: usize = env_or("CHAOS_EVENTS", 5000);
    let rate: f64 = env_or("CHAOS_RATE", 0.05);
    let seed: u64 = env_or("CHAOS_SEED", 1);
    let started = Instant::now();
    let (events, accounts) = input(events_wanted, seed);
    let start = events.first().expect("events").time;

    let (clean, clean_chat, clean_handled, clean_marks) = pipeline(start, None);
    run(&clean, &events).await;
    let clean = outcome(&clean, &clean_chat, clean_handled, &clean_marks, &accounts).await;

    let faults = Faults::new(seed, rate);
    let (chaos, chaos_chat, chaos_handled, chaos_marks) = pipeline(start, Some(faults.clone()));
    run(&chaos, &events).await;
    let chaos = outcome(&chaos, &chaos_chat, chaos_handled, &chaos_marks, &accounts).await;

    let mut problems: Vec<String> = Vec::new();

    // Events: handled, and stored exactly once when they produce something (as in the
    // fault-free run), or dead-lettered from the ingest queue with a reason.
    let mut ingest_dead: HashMap<&str, u32> = HashMap::new();
    for (queue, id, reason, _) in &chaos.dead {
        // `dead_letters` says "exceeded maxReceiveCount" when the message carries no reason:
        // the redrive policy moved it, not the consumer.
        if reason.trim().is_empty() || reason == "exceeded maxReceiveCount" {
            problems.push(format!("dead letter without a reason in {queue}: {id}"));
        }
        if queue == "ingest" {
            *ingest_dead.entry(id.as_str()).or_default() += 1;
        }
    }
    let unique: BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(unique.len(), events.len(), "input event ids are unique");
    let (mut stored, mut losses, mut duplicates, mut poison_dead) = (0, 0, 0, 0);
    // Handled, and producing nothing to store (in both runs).
    let mut handled_only = 0;
    // Handled, then dead-lettered all the same (a crash after the work on the last receive).
    let mut stored_and_dead = 0;
    for e in &events {
        let n = chaos.stored.get(&e.id).copied().unwrap_or(0);
        let dead = ingest_dead.get(e.id.as_str()).copied().unwrap_or(0);
        if n > 1 || dead > 1 {
            duplicates += 1;
            problems.push(format!("event {} stored {n}×, dead-lettered {dead}×", e.id));
        }
        if e.poison {
            if n > 0 || dead == 0 {
                problems.push(format!(
                    "poison event {} stored {n}×, dead-lettered {dead}×",
                    e.id
                ));
            } else {
                poison_dead += 1;
            }
            continue;
        }
        let clean_stored = clean.stored.get(&e.id).copied().unwrap_or(0);
        if n >= 1 {
            stored += 1;
            if dead > 0 {
                stored_and_dead += 1;
            }
        } else if dead == 0 {
            if clean_stored > 0 || chaos.handled.of(&e.id) == 0 {
                losses += 1;
                problems.push(format!(
                    "event {} lost: neither stored (fault-free run: {clean_stored}×) nor \
                     handled nor dead-lettered",
                    e.id
                ));
            } else {
                handled_only += 1;
            }
        }
        // The fault-free run handles every good event, storing it at most once.
        if clean_stored > 1 || clean_stored == 0 && clean.handled.of(&e.id) == 0 {
            problems.push(format!(
                "event {} stored {clean_stored}× and handled {}× by the fault-free run",
                e.id,
                clean.handled.of(&e.id)
            ));
        }
    }

    // Findings: once each, the same set (and scores) as the fault-free run's, except where a
    // message on their path was dead-lettered.
    let ids = |fs: &[Finding]| -> BTreeMap<String, f64> {
        fs.iter().map(|f| (f.id.clone(), f.score)).collect()
    };
    let (clean_ids, chaos_ids) = (ids(&clean.findings), ids(&chaos.findings));
    if chaos_ids.len() != chaos.findings.len() {
        problems.push("a finding is recorded twice".into());
    }
    let missing: Vec<&String> = clean_ids
        .keys()
        .filter(|k| !chaos_ids.contains_key(*k))
        .collect();
    let extra: Vec<&String> = chaos_ids
        .keys()
        .filter(|k| !clean_ids.contains_key(*k))
        .collect();
    let rescored: Vec<&String> = chaos_ids
        .iter()
        .filter(|(k, s)| clean_ids.get(*k).is_some_and(|c| (c - *s).abs() > 1e-9))
        .map(|(k, _)| k)
        .collect();
    // A dead-lettered event changes its account's baselines from its time on, so the
    // findings of that account from then on may differ; any other difference is a bug.
    let tainted = tainted_since(&chaos.dead);
    let account_of: HashMap<&str, (&str, DateTime<Utc>)> = clean
        .findings
        .iter()
        .chain(chaos.findings.iter())
        .map(|f| (f.id.as_str(), (f.account_id.as_str(), f.event_time)))
        .collect();
    let explained = |id: &&String| {
        account_of
            .get(id.as_str())
            .is_some_and(|(a, t)| tainted.get(*a).is_some_and(|since| since <= t))
    };
    let unexplained: Vec<String> = missing
        .iter()
        .filter(|id| !explained(id))
        .map(|id| format!("missing {id}"))
        .chain(
            extra
                .iter()
                .filter(|id| !explained(id))
                .map(|id| format!("extra {id}")),
        )
        .chain(
            rescored
                .iter()
                .filter(|id| !explained(id))
                .map(|id| format!("rescored {id}: {} vs {}", clean_ids[*id], chaos_ids[*id])),
        )
        .collect();
    // Baselines: no event counted twice (a fold stopped half way and redelivered adds nothing
    // again): never more events than the fault-free run counted, and exactly as many in an
    // account no dead letter changed (a dead-lettered event is counted in neither run, or in
    // the items its fold reached before it stopped for good).
    for ((account, sk), clean_count) in &clean.baseline_counts {
        let count = chaos
            .baseline_counts
            .get(&(account.clone(), sk.clone()))
            .copied()
            .unwrap_or(0.0);
        if count > *clean_count || !tainted.contains_key(account) && count != *clean_count {
            problems.push(format!(
                "baseline {sk} of {account} counts {count} events (fault-free run: {clean_count})"
            ));
        }
    }
    if clean.baseline_counts.values().all(|count| *count == 0.0) {
        problems.push("the fault-free run folded no event into a baseline".into());
    }
    // The findings held to the fault-free run's exactly (id and score).
    let checked = clean.findings.iter().filter(|f| !explained(&&f.id)).count();
    for u in &unexplained {
        problems.push(format!("finding differs from the fault-free run: {u}"));
    }

    // Slack: at most one message per finding and per notice, and one for each finding marked
    // notified.
    let mut slack_duplicates = 0;
    for (id, n) in &chaos.posts {
        if let (Some(id), 2..) = (id, n) {
            slack_duplicates += 1;
            problems.push(format!("{n} Slack messages for finding {id}"));
        }
    }
    // A notice's text names no day (a circuit breaker's names the hour its alerts resume), so
    // two days' notices can read the same: no more than the fault-free run posted.
    for (notice, n) in &chaos.notices {
        let clean_n = clean.notices.get(notice).copied().unwrap_or(0);
        if *n > clean_n.max(1) {
            slack_duplicates += 1;
            problems.push(format!(
                "the same notice posted {n}× (fault-free run: {clean_n}×): {notice}"
            ));
        }
    }
    let notified = chaos.findings.iter().filter(|f| f.notified).count();
    let clean_notified = clean.findings.iter().filter(|f| f.notified).count();
    for f in chaos.findings.iter().filter(|f| f.notified) {
        if !chaos.posts.contains_key(&Some(f.id.clone())) {
            problems.push(format!("finding {} marked notified but never posted", f.id));
        }
    }

    let mut dead_by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (queue, _, reason, _) in &chaos.dead {
        *dead_by_reason
            .entry(format!("{queue}: {}", short_reason(reason)))
            .or_default() += 1;
    }
    println!(
        "chaos seed={seed} rate={rate}: events in {} ({} poison), stored {stored} ({stored_and_dead} of them also dead-lettered), \
         handled with nothing to store {handled_only}, \
         findings {} (clean {}; missing {}, extra {}, rescored {}; {checked} held to the clean run, the rest in {} of {} accounts after a dead letter), Slack posts {} for {notified} \
         notified findings (clean {} for {clean_notified}), duplicates {} (Slack {slack_duplicates}), \
         losses {losses}, dead-lettered {} ({poison_dead} poison) {:?}, faults injected {} {:?}, {:.1}s",
        events.len(),
        events.iter().filter(|e| e.poison).count(),
        chaos.findings.len(),
        clean.findings.len(),
        missing.len(),
        extra.len(),
        rescored.len(),
        tainted.len(),
        accounts.len(),
        chaos.post_total,
        clean.post_total,
        duplicates + slack_duplicates,
        chaos.dead.len(),
        dead_by_reason,
        faults.total(),
        faults.injected(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        problems.is_empty(),
        "{} problems, first ones:\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
