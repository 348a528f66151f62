//! The embedded FIFO queue, with SQS FIFO's semantics on an injected clock (a replay
//! fast-forwards the clock instead of sleeping through visibility timeouts).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    dlq_name, validate, OutgoingMessage, Queue, QueueError, ReceivedMessage, DEDUPLICATION_WINDOW,
    MAX_BATCH, REDRIVE_RECEIVE_COUNT,
};
use crate::clock::SharedClock;

#[derive(Debug, Clone)]
struct StoredMessage {
    message_id: String,
    body: String,
    group_id: String,
    deduplication_id: String,
    attributes: BTreeMap<String, String>,
    receive_count: u32,
    invisible_until: Option<DateTime<Utc>>,
    receipt_handle: Option<String>,
}

#[derive(Default)]
struct QueueState {
    messages: Vec<StoredMessage>,
    /// Deduplication id → when it was sent, and the message id it was sent as.
    dedup: HashMap<String, (DateTime<Utc>, String)>,
    /// The deduplication ids in the order sent, to forget them once out of the window
    /// without a look at every one on every send.
    dedup_order: VecDeque<(DateTime<Utc>, String)>,
}

impl QueueState {
    /// The message id a deduplication id was sent as within the window, forgetting the ids
    /// sent before it.
    fn deduplicated(&mut self, id: &str, now: DateTime<Utc>) -> Option<String> {
        let window = dedup_window();
        while let Some((at, _)) = self.dedup_order.front() {
            if now - *at < window {
                break;
            }
            let (at, old) = self.dedup_order.pop_front().expect("a front");
            if self.dedup.get(&old).is_some_and(|(sent, _)| *sent == at) {
                self.dedup.remove(&old);
            }
        }
        // A clock that went back may leave an older id behind a newer one: the window is
        // checked here as well.
        self.dedup
            .get(id)
            .filter(|(at, _)| now - *at < window)
            .map(|(_, original)| original.clone())
    }
}

pub struct MemoryQueue {
    queues: Mutex<HashMap<String, QueueState>>,
    clock: SharedClock,
    sequence: Mutex<u64>,
}

impl MemoryQueue {
    /// Creates each named queue and its dead-letter queue.
    pub fn new<I, S>(names: I, clock: SharedClock) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut queues = HashMap::new();
        for name in names {
            let name = name.into();
            queues.insert(dlq_name(&name), QueueState::default());
            queues.insert(name, QueueState::default());
        }
        Self {
            queues: Mutex::new(queues),
            clock,
            sequence: Mutex::new(0),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut s = self.sequence.lock().expect("sequence lock");
        *s += 1;
        format!("{prefix}-{:012}", *s)
    }

    /// Messages in a queue, visible or not (for tests, the CLI's summary and `dd0c dlq`).
    pub fn depth(&self, queue: &str) -> usize {
        self.queues
            .lock()
            .expect("queue lock")
            .get(queue)
            .map_or(0, |q| q.messages.len())
    }

    /// A copy of every message in a queue, without receiving it.
    pub fn peek_all(&self, queue: &str) -> Vec<ReceivedMessage> {
        let queues = self.queues.lock().expect("queue lock");
        queues
            .get(queue)
            .map(|q| q.messages.iter().map(to_received).collect())
            .unwrap_or_default()
    }

    /// When the next invisible message becomes visible, if any (the pipeline fast-forwards to it).
    pub fn next_visible_at(&self) -> Option<DateTime<Utc>> {
        let queues = self.queues.lock().expect("queue lock");
        queues
            .values()
            .flat_map(|q| q.messages.iter().filter_map(|m| m.invisible_until))
            .min()
    }
}

fn to_received(m: &StoredMessage) -> ReceivedMessage {
    ReceivedMessage {
        message_id: m.message_id.clone(),
        receipt_handle: m.receipt_handle.clone().unwrap_or_default(),
        body: m.body.clone(),
        group_id: m.group_id.clone(),
        deduplication_id: m.deduplication_id.clone(),
        receive_count: m.receive_count,
        attributes: m.attributes.clone(),
    }
}

fn dedup_window() -> chrono::Duration {
    chrono::Duration::from_std(DEDUPLICATION_WINDOW).expect("window fits")
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> Result<String, QueueError> {
        validate(&message)?;
        let now = self.clock.now();
        let message_id = self.next_id("msg");
        let mut queues = self.queues.lock().expect("queue lock");
        let state = queues
            .get_mut(queue)
            .ok_or_else(|| QueueError::UnknownQueue(queue.to_owned()))?;
        if let Some(original) = state.deduplicated(&message.deduplication_id, now) {
            return Ok(original);
        }
        state
            .dedup
            .insert(message.deduplication_id.clone(), (now, message_id.clone()));
        state
            .dedup_order
            .push_back((now, message.deduplication_id.clone()));
        state.messages.push(StoredMessage {
            message_id: message_id.clone(),
            body: message.body,
            group_id: message.group_id,
            deduplication_id: message.deduplication_id,
            attributes: message.attributes,
            receive_count: 0,
            invisible_until: None,
            receipt_handle: None,
        });
        Ok(message_id)
    }

    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if max == 0 || max > MAX_BATCH {
            return Err(QueueError::Invalid(format!(
                "max_number_of_messages should be between 1 and {MAX_BATCH}"
            )));
        }
        let now = self.clock.now();
        let visibility = chrono::Duration::from_std(visibility_timeout)
            .map_err(|_| QueueError::Invalid("visibility timeout too large".into()))?;
        let mut queues = self.queues.lock().expect("queue lock");
        match queues.get(queue) {
            None => return Err(QueueError::UnknownQueue(queue.to_owned())),
            // An empty queue has nothing to deliver or to redrive: the pipeline polls every
            // stage's queue after each event, most of them empty.
            Some(state) if state.messages.is_empty() => return Ok(Vec::new()),
            Some(_) => {}
        }
        let dlq = dlq_name(queue);
        let has_dlq = queues.contains_key(&dlq);
        let state = queues.get_mut(queue).expect("checked");
        for m in &mut state.messages {
            if m.invisible_until.is_some_and(|t| t <= now) {
                m.invisible_until = None;
                m.receipt_handle = None;
            }
        }
        // The redrive policy: a visible message that was received maxReceiveCount times moves
        // on (dead-letter queues have no redrive of their own).
        let redriven = |m: &StoredMessage| {
            has_dlq && m.invisible_until.is_none() && m.receive_count >= REDRIVE_RECEIVE_COUNT
        };
        let exhausted = if state.messages.iter().any(redriven) {
            let (exhausted, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut state.messages)
                .into_iter()
                .partition(redriven);
            state.messages = kept;
            exhausted
        } else {
            Vec::new()
        };
        let mut blocked: HashSet<&str> = state
            .messages
            .iter()
            .filter(|m| m.invisible_until.is_some())
            .map(|m| m.group_id.as_str())
            .collect();
        let mut picked: Vec<(usize, &str)> = Vec::new();
        for (i, m) in state.messages.iter().enumerate() {
            if picked.len() == max {
                break;
            }
            let group = m.group_id.as_str();
            if blocked.contains(group) && !picked.iter().any(|(_, g)| *g == group) {
                continue;
            }
            // Within a group only the head run can be delivered: stop at the first message of a
            // group that is blocked.
            picked.push((i, group));
            blocked.insert(group);
        }
        let picked: Vec<usize> = picked.into_iter().map(|(i, _)| i).collect();
        let mut out = Vec::with_capacity(picked.len());
        for i in picked {
            let receipt = self.next_id("rh");
            let m = &mut state.messages[i];
            m.receive_count += 1;
            m.invisible_until = Some(now + visibility);
            m.receipt_handle = Some(receipt);
            out.push(to_received(m));
        }
        if !exhausted.is_empty() {
            let dlq = queues
                .get_mut(&dlq)
                .ok_or_else(|| QueueError::UnknownQueue(dlq.clone()))?;
            for mut m in exhausted {
                m.receipt_handle = None;
                dlq.messages.push(m);
            }
        }
        Ok(out)
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        let mut queues = self.queues.lock().expect("queue lock");
        let state = queues
            .get_mut(queue)
            .ok_or_else(|| QueueError::UnknownQueue(queue.to_owned()))?;
        let before = state.messages.len();
        state
            .messages
            .retain(|m| m.receipt_handle.as_deref() != Some(receipt_handle));
        if state.messages.len() == before {
            return Err(QueueError::InvalidReceipt);
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        let now = self.clock.now();
        let timeout = chrono::Duration::from_std(timeout)
            .map_err(|_| QueueError::Invalid("visibility timeout too large".into()))?;
        let mut queues = self.queues.lock().expect("queue lock");
        let state = queues
            .get_mut(queue)
            .ok_or_else(|| QueueError::UnknownQueue(queue.to_owned()))?;
        let m = state
            .messages
            .iter_mut()
            .find(|m| m.receipt_handle.as_deref() == Some(receipt_handle))
            .ok_or(QueueError::InvalidReceipt)?;
        m.invisible_until = Some(now + timeout);
        Ok(())
    }
}
