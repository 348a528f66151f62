//! Every stage in one process on embedded adapters, with Lambda's SQS batch semantics:
//! batches of up to ten, partial batch failures, FIFO order kept within a group, and
//! dead-lettering (with the reason) after three receives. Time is a manual clock: replays
//! set it to each event's time, and the pipeline fast-forwards it through visibility
//! timeouts instead of sleeping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use dd0c_ingest::Ingest;
use dd0c_normalizer::{Normalizer, NormalizerConfig};
use dd0c_notifier::{Notifier, NotifierConfig};
use dd0c_scorer::Scorer;
use dd0c_shared::batch::{apply_visibility_delays, run_handler, BatchMessage, MessageHandler};
use dd0c_shared::bus::QueueBus;
use dd0c_shared::bus::{Bus, RoutingTable};
use dd0c_shared::chat::ChatSink;
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::governance::Policy;
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::{dlq_name, Queue, ReceivedMessage, ERROR_ATTRIBUTE};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;

/// The tenant a local replay attributes every account to.
pub const LOCAL_TENANT: &str = "local";

pub struct PipelineOptions {
    pub start: DateTime<Utc>,
    pub chat: Arc<dyn ChatSink>,
    pub default_channel: String,
    /// Governance (`--policy FILE`; the demo runs `policy.demo.json`).
    pub policy: Policy,
}

/// A decorator over one port.
pub type Decorate<T> = Box<dyn Fn(Arc<T>) -> Arc<T> + Send + Sync>;

/// Decorators over the ports the stages see (the chaos test injects faults through them).
/// The pipeline's own inspection (`table`, `queue`, `dead_letters`, the drain's clock) reads
/// the embedded adapters underneath, undecorated.
#[derive(Default)]
pub struct PortDecorators {
    pub table: Option<Decorate<dyn Table>>,
    /// The queue as ingest, the bus, the consumers and dead-lettering use it.
    pub queue: Option<Decorate<dyn Queue>>,
    pub bus: Option<Decorate<dyn Bus>>,
    /// Each stage's handler, by consumer name (`normalizer`, `scorer`, …).
    #[allow(clippy::type_complexity)]
    pub handler:
        Option<Box<dyn Fn(&str, Arc<dyn MessageHandler>) -> Arc<dyn MessageHandler> + Send + Sync>>,
}

fn decorate<T: ?Sized>(port: Arc<T>, with: &Option<Decorate<T>>) -> Arc<T> {
    match with {
        Some(f) => f(port),
        None => port,
    }
}

/// A stage: the queue it consumes and its handler.
struct Stage {
    queue: String,
    batch_size: usize,
    visibility: Duration,
    handler: Arc<dyn MessageHandler>,
}

pub struct EmbeddedPipeline {
    pub clock: ManualClock,
    pub table: Arc<MemoryTable>,
    pub queue: Arc<MemoryQueue>,
    pub bus: Arc<QueueBus>,
    pub ingest: Ingest,
    pub normalizer: Arc<Normalizer>,
    stages: Vec<Stage>,
    routing: RoutingTable,
    /// The queue as the consumers see it (decorated, or `queue` itself).
    consumer_queue: Arc<dyn Queue>,
    /// Whether the consumers see `queue` undecorated: a receive from an empty queue then
    /// does nothing, and the drain need not make it.
    consumers_see_queue: bool,
}

/// What happened while draining the queues.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    pub handled: usize,
    pub failed_attempts: usize,
    pub dead_lettered: usize,
}

/// A message that ended in a dead-letter queue, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub queue: String,
    pub body: String,
    pub reason: String,
}

impl EmbeddedPipeline {
    pub fn new(options: PipelineOptions) -> Self {
        let clock = ManualClock::new(options.start);
        Self::with_table(
            options,
            clock.clone(),
            Arc::new(MemoryTable::new(Arc::new(clock))),
        )
    }

    /// A pipeline over an existing table (e.g. one loaded from disk by `dd0c serve --data`).
    pub fn with_table(
        options: PipelineOptions,
        clock: ManualClock,
        table: Arc<MemoryTable>,
    ) -> Self {
        Self::with_ports(options, clock, table, PortDecorators::default())
    }

    /// A pipeline whose stages see their ports through `decorators`.
    pub fn with_ports(
        options: PipelineOptions,
        clock: ManualClock,
        memory_table: Arc<MemoryTable>,
        decorators: PortDecorators,
    ) -> Self {
        let shared_clock: SharedClock = Arc::new(clock.clone());
        let routing = RoutingTable::builtin().clone();
        let queue = Arc::new(MemoryQueue::new(
            routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
            shared_clock.clone(),
        ));
        let consumers_see_queue = decorators.queue.is_none();
        let consumer_queue = decorate(queue.clone() as Arc<dyn Queue>, &decorators.queue);
        let queue_bus = Arc::new(QueueBus::new(
            routing.clone(),
            consumer_queue.clone(),
            shared_clock.clone(),
        ));
        let bus = decorate(queue_bus.clone() as Arc<dyn Bus>, &decorators.bus);
        let table = decorate(memory_table.clone() as Arc<dyn Table>, &decorators.table);
        let normalizer = Arc::new(Normalizer::new(
            table.clone(),
            bus.clone(),
            shared_clock.clone(),
            NormalizerConfig {
                auto_link_tenant: Some(LOCAL_TENANT.into()),
            },
        ));
        let scorer = Arc::new(Scorer::new(
            table.clone(),
            bus.clone(),
            shared_clock.clone(),
        ));
        let classifier = Arc::new(dd0c_classifier::Classifier::new(
            table.clone(),
            bus.clone(),
            shared_clock.clone(),
            dd0c_classifier::RuleEngine::builtin()
                .expect("the built-in classifier rules are valid"),
        ));
        let notifier = Arc::new(
            Notifier::new(
                table.clone(),
                options.chat.clone(),
                NotifierConfig::new(options.default_channel.clone()),
            )
            .with_policy(options.policy.clone())
            .with_clock(shared_clock.clone()),
        );
        let mut handlers: BTreeMap<&str, Arc<dyn MessageHandler>> = BTreeMap::from([
            ("normalizer", normalizer.clone() as Arc<dyn MessageHandler>),
            ("scorer", scorer as Arc<dyn MessageHandler>),
            ("classifier", classifier as Arc<dyn MessageHandler>),
            ("notifier", notifier as Arc<dyn MessageHandler>),
        ]);
        if let Some(wrap) = &decorators.handler {
            for (name, handler) in handlers.iter_mut() {
                *handler = wrap(name, handler.clone());
            }
        }
        let stages = routing
            .queues
            .iter()
            .filter_map(|spec| {
                let handler = handlers.get(spec.consumer.as_str())?.clone();
                Some(Stage {
                    queue: spec.name.clone(),
                    batch_size: spec.batch_size,
                    visibility: Duration::from_secs(spec.consumer_timeout_seconds * 6),
                    handler,
                })
            })
            .collect();
        Self {
            ingest: Ingest::new(consumer_queue.clone()),
            clock,
            table: memory_table,
            queue,
            bus: queue_bus,
            normalizer,
            stages,
            routing,
            consumer_queue,
            consumers_see_queue,
        }
    }

    /// Adds (or replaces) the consumer of a queue, e.g. the classifier of the drift product.
    pub fn set_consumer(&mut self, queue: &str, handler: Arc<dyn MessageHandler>) {
        let Some(spec) = self.routing.queue(queue) else {
            return;
        };
        let stage = Stage {
            queue: spec.name.clone(),
            batch_size: spec.batch_size,
            visibility: Duration::from_secs(spec.consumer_timeout_seconds * 6),
            handler,
        };
        match self.stages.iter_mut().find(|s| s.queue == queue) {
            Some(existing) => *existing = stage,
            None => self.stages.push(stage),
        }
    }

    /// Handles every message until all queues are empty, fast-forwarding the clock through
    /// visibility timeouts so that retries and dead-lettering happen as on AWS.
    pub async fn drain(&self) -> DrainReport {
        let mut report = DrainReport::default();
        loop {
            let mut progressed = false;
            for stage in &self.stages {
                loop {
                    // Most stages' queues are empty after an event: a receive would hand
                    // back nothing (a decorated queue is asked all the same, as a Lambda
                    // poller asks SQS).
                    if self.consumers_see_queue && self.queue.depth(&stage.queue) == 0 {
                        break;
                    }
                    let received = match self
                        .consumer_queue
                        .receive(&stage.queue, stage.batch_size, stage.visibility)
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!(queue = %stage.queue, error = %e, "receive failed");
                            break;
                        }
                    };
                    if received.is_empty() {
                        break;
                    }
                    progressed = true;
                    self.run_batch(stage, received, &mut report).await;
                }
            }
            if progressed {
                continue;
            }
            match self.queue.next_visible_at() {
                Some(at) => self.clock.advance_to(at),
                None => return report,
            }
        }
    }

    async fn run_batch(
        &self,
        stage: &Stage,
        received: Vec<ReceivedMessage>,
        report: &mut DrainReport,
    ) {
        // A batch of at most ten: its receipt handles are found by a look along it.
        let mut receipts: Vec<(String, String)> = Vec::with_capacity(received.len());
        let batch: Vec<BatchMessage> = received
            .into_iter()
            .map(|m| {
                receipts.push((m.message_id.clone(), m.receipt_handle));
                BatchMessage {
                    message_id: m.message_id,
                    body: m.body,
                    group_id: m.group_id,
                    receive_count: m.receive_count,
                }
            })
            .collect();
        let receipt_of = |id: &str| {
            receipts
                .iter()
                .find(|(message_id, _)| message_id == id)
                .map(|(_, receipt)| receipt.as_str())
        };
        let outcome = run_handler(
            stage.handler.as_ref(),
            &batch,
            &stage.queue,
            self.consumer_queue.as_ref(),
        )
        .await;
        apply_visibility_delays(
            self.consumer_queue.as_ref(),
            &stage.queue,
            &outcome,
            receipt_of,
        )
        .await;
        report.handled += outcome.succeeded.len();
        report.failed_attempts += outcome.failures.len();
        report.dead_lettered += outcome.dead_lettered.len();
        // Lambda deletes what the function did not report as failed.
        let done = outcome
            .succeeded
            .iter()
            .chain(outcome.dead_lettered.iter().map(|f| &f.message_id));
        for id in done {
            if let Some(receipt) = receipt_of(id) {
                if let Err(e) = self.consumer_queue.delete(&stage.queue, receipt).await {
                    tracing::error!(queue = %stage.queue, error = %e, "delete failed");
                }
            }
        }
    }

    /// Every message in every dead-letter queue, with the reason recorded.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.routing
            .queue_names()
            .flat_map(|q| {
                self.queue
                    .peek_all(&dlq_name(q))
                    .into_iter()
                    .map(move |m| DeadLetter {
                        queue: q.to_owned(),
                        reason: m
                            .attributes
                            .get(ERROR_ATTRIBUTE)
                            .cloned()
                            .unwrap_or_else(|| "exceeded maxReceiveCount".into()),
                        body: m.body,
                    })
            })
            .collect()
    }
}
