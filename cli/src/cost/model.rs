//! From what a replay counted to dollars per million events at a monthly volume.
//!
//! The replay counts what does not depend on the volume: messages per queue, capacity units,
//! calls each function makes per message, log bytes. The volume sets the rest: how full a
//! batch is (`rate × window`, at least one message, at most the batch size; without a
//! batching window, the messages that arrive while one is handled), and so how many
//! invocations, receives and deletes, traces (Lambda's X-Ray sampling: a reservoir per second
//! and a rate of the rest) and what fixed monthly work (idle polls) weighs per event.

use std::collections::BTreeMap;

use dd0c_shared::bus::RoutingTable;
use dd0c_shared::meter::Usage;
use dd0c_shared::queue::MAX_BATCH;
use serde::{Deserialize, Serialize};

pub const SECONDS_PER_MONTH: f64 = 30.4375 * 86_400.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

pub const PRICES_JSON: &str = include_str!("../../../pricing/aws-pipeline-prices.json");
pub const FUNCTIONS_JSON: &str = include_str!("../../../shared/functions.json");

#[derive(Debug, Clone, Deserialize)]
pub struct PriceFile {
    pub as_of: String,
    pub region: String,
    pub prices: Prices,
    pub assumptions: Assumptions,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Prices {
    pub lambda_request: f64,
    pub lambda_arm64_gb_second: f64,
    pub sqs_standard_request: f64,
    pub sqs_fifo_request: f64,
    pub kinesis_shard_hour: f64,
    pub kinesis_put_payload_unit: f64,
    pub dynamodb_write_request_unit: f64,
    pub dynamodb_read_request_unit: f64,
    pub dynamodb_storage_gb_month: f64,
    pub dynamodb_pitr_gb_month: f64,
    pub cloudwatch_logs_ingested_gb: f64,
    pub xray_trace_recorded: f64,
    pub eventbridge_cross_account_event_received: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Assumptions {
    pub lambda_invocation_overhead_ms: f64,
    pub dynamodb_call_ms: f64,
    pub sqs_call_ms: f64,
    pub slack_call_ms: f64,
    pub platform_log_bytes_per_invocation: f64,
    pub esm_idle_pollers_per_queue: f64,
    pub sqs_long_poll_seconds: f64,
    pub xray_sampling_reservoir_per_second: f64,
    pub xray_sampling_rate: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Tracing {
    Active,
    PassThrough,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionSettings {
    pub memory_mb: u32,
    pub tracing: Tracing,
    /// Lambda's own START/REPORT lines are INFO: a level above drops them.
    pub system_log_level: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionsFile {
    pub functions: BTreeMap<String, FunctionSettings>,
    /// Share of events whose trace the collector exports to X-Ray (decision 0710).
    #[serde(default)]
    pub trace_sample_percent: f64,
}

impl PriceFile {
    pub fn builtin() -> Self {
        serde_json::from_str(PRICES_JSON).expect("pricing/aws-pipeline-prices.json is valid")
    }
}

impl FunctionsFile {
    pub fn builtin() -> Self {
        serde_json::from_str(FUNCTIONS_JSON).expect("shared/functions.json is valid")
    }
}

/// What a replay measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// CloudTrail events forwarded to dd0c.
    pub events: u64,
    pub usage: Usage,
    /// Bytes the functions would log (JSON lines and metrics), platform lines excluded, but for
    /// the metric lines of queue consumers' batches, in `metric_bytes_by_queue`.
    pub log_bytes: u64,
    /// The metric lines written at the end of each batch, by queue: one line a batch, so the
    /// volume's batch size divides them (a replay's batches hold one message).
    pub metric_bytes_by_queue: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LineItem {
    pub item: String,
    pub per_event: f64,
    pub unit_price_usd: f64,
    pub unit: String,
    pub usd_per_million_events: f64,
}

/// The report `--cost FILE` writes (`../shared/CONTRACTS.md`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostReport {
    pub monthly_events: u64,
    pub events: u64,
    pub usd_per_million_events: f64,
    pub prices_as_of: String,
    pub items: Vec<LineItem>,
    /// The DynamoDB items (writes, reads, storage) shared out by entity, costliest first.
    pub dynamodb_by_entity: Vec<EntityCost>,
}

/// What one entity (an item's sort key up to its first `#`) costs in DynamoDB per event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EntityCost {
    pub entity: String,
    pub items_created_per_event: f64,
    pub write_units_per_event: f64,
    pub read_units_per_event: f64,
    pub storage_gb_months_per_event: f64,
    /// Writes, reads and storage together.
    pub usd_per_million_events: f64,
}

/// One function's invocations at the volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocations {
    pub function: String,
    pub per_event: f64,
    pub messages_per_batch: f64,
    pub ms_per_invocation: f64,
    pub gb_seconds_per_event: f64,
}

pub struct Model<'a> {
    pub prices: &'a PriceFile,
    pub functions: &'a FunctionsFile,
    pub routing: &'a RoutingTable,
}

impl Model<'_> {
    /// Messages that fill a batch: `rate × window` (the window, or one message's handling
    /// when there is none), between one and the batch size.
    pub fn batch_fill(rate_per_second: f64, window_seconds: f64, batch_size: usize) -> f64 {
        (rate_per_second * window_seconds).clamp(1.0, batch_size.max(1) as f64)
    }

    /// What a function waits for per message it handles (`messages`: how many it handled;
    /// `sent_together`: how many of its sends one request carries).
    fn message_ms(&self, usage: &Usage, function: &str, messages: u64, sent_together: f64) -> f64 {
        let a = &self.prices.assumptions;
        let Some(f) = usage.functions.get(function) else {
            return 0.0;
        };
        let messages = messages.max(1) as f64;
        (f.table_calls as f64 * a.dynamodb_call_ms
            + f.queue_calls as f64 * a.sqs_call_ms / sent_together.max(1.0)
            + f.chat_calls as f64 * a.slack_call_ms)
            / messages
    }

    fn memory_gb(&self, function: &str) -> f64 {
        self.functions
            .functions
            .get(function)
            .map(|f| f.memory_mb as f64 / 1024.0)
            .unwrap_or(0.0)
    }

    /// Records in each batch the ingest function drains from the inbox stream at
    /// `monthly_events`: the ingest rule puts every event there, spread over its shards, and
    /// each shard is read one batch at a time (decision 1060).
    pub fn inbox_fill(&self, monthly_events: u64) -> f64 {
        let inbox = &self.routing.ingest_rule.inbox;
        Self::batch_fill(
            monthly_events as f64 / SECONDS_PER_MONTH / inbox.shards.max(1) as f64,
            inbox.batching_window_seconds,
            inbox.batch_size,
        )
    }

    /// Messages per SendMessageBatch when the ingest function forwards a batch of `fill`.
    fn send_batch_of(fill: f64) -> f64 {
        fill.min(MAX_BATCH as f64)
    }

    /// Every function's invocations per event at `monthly_events`.
    pub fn invocations(&self, measured: &Measured, monthly_events: u64) -> Vec<Invocations> {
        let a = &self.prices.assumptions;
        let events = measured.events.max(1) as f64;
        let events_per_second = monthly_events as f64 / SECONDS_PER_MONTH;
        let mut out = Vec::new();
        // The ingest function drains the inbox stream: one invocation a batch, whose records it
        // forwards ten to a SendMessageBatch (the replay sends them one by one).
        let ingest = &self.routing.ingest_rule.function;
        let inbox_fill = self.inbox_fill(monthly_events);
        let forwarded_together = Self::send_batch_of(inbox_fill);
        let ms = a.lambda_invocation_overhead_ms
            + inbox_fill
                * self.message_ms(&measured.usage, ingest, measured.events, forwarded_together);
        let per_event = 1.0 / inbox_fill;
        out.push(Invocations {
            function: ingest.clone(),
            per_event,
            messages_per_batch: inbox_fill,
            ms_per_invocation: ms,
            gb_seconds_per_event: per_event * self.memory_gb(ingest) * ms.ceil() / 1000.0,
        });
        let mut counted = std::collections::BTreeSet::new();
        for queue in &self.routing.queues {
            // A function's messages are measured together: a second queue it consumes (the
            // normalizer's backfill, which carries no per-event traffic) adds no invocations.
            if !counted.insert(queue.consumer.as_str()) {
                continue;
            }
            let Some(f) = measured.usage.functions.get(&queue.consumer) else {
                continue;
            };
            let messages_per_event = f.messages as f64 / events;
            let message_ms = self.message_ms(&measured.usage, &queue.consumer, f.messages, 1.0);
            let window = if queue.batching_window_seconds > 0.0 {
                queue.batching_window_seconds
            } else {
                (a.lambda_invocation_overhead_ms + message_ms) / 1000.0
            };
            let mut fill = Self::batch_fill(
                messages_per_event * events_per_second,
                window,
                queue.batch_size,
            );
            if queue.name == self.routing.ingest_rule.queue {
                // Messages sent in one request become visible together: one receive takes them.
                fill = fill.max(forwarded_together.min(queue.batch_size.max(1) as f64));
            }
            let per_event = messages_per_event / fill;
            let ms = a.lambda_invocation_overhead_ms + fill * message_ms;
            out.push(Invocations {
                function: queue.consumer.clone(),
                per_event,
                messages_per_batch: fill,
                ms_per_invocation: ms,
                gb_seconds_per_event: per_event * self.memory_gb(&queue.consumer) * ms.ceil()
                    / 1000.0,
            });
        }
        out
    }

    pub fn report(&self, measured: &Measured, monthly_events: u64) -> CostReport {
        let p = &self.prices.prices;
        let a = &self.prices.assumptions;
        let events = measured.events.max(1) as f64;
        let monthly = monthly_events.max(1) as f64;
        let usage = &measured.usage;
        let invocations = self.invocations(measured, monthly_events);
        let fill_of = |queue: &str| {
            self.routing
                .queue(queue)
                .and_then(|q| invocations.iter().find(|i| i.function == q.consumer))
                .map(|i| i.messages_per_batch)
                .unwrap_or(1.0)
        };

        let mut items = Vec::new();
        let mut item = |name: &str, per_event: f64, unit_price: f64, unit: &str| {
            items.push(LineItem {
                item: name.to_owned(),
                per_event,
                unit_price_usd: unit_price,
                unit: unit.to_owned(),
                usd_per_million_events: per_event * unit_price * 1e6,
            })
        };

        item(
            "eventbridge_events_received",
            1.0,
            p.eventbridge_cross_account_event_received,
            "event (cross-account: billed to the sending account)",
        );
        item(
            "lambda_requests",
            invocations.iter().map(|i| i.per_event).sum(),
            p.lambda_request,
            "request",
        );
        item(
            "lambda_gb_seconds",
            invocations.iter().map(|i| i.gb_seconds_per_event).sum(),
            p.lambda_arm64_gb_second,
            "GB-second (arm64)",
        );

        // The inbox is a Kinesis stream: EventBridge puts each event on it (one PUT payload unit
        // of 25 KB: EventBridge's events are far smaller), the shards are paid by the hour, and
        // Lambda's reads of a stream are not billed (decision 1060).
        let inbox_fill = self.inbox_fill(monthly_events);
        let idle_polls_per_queue =
            a.esm_idle_pollers_per_queue * SECONDS_PER_MONTH / a.sqs_long_poll_seconds / monthly;
        item(
            "kinesis_put_payload_units",
            1.0,
            p.kinesis_put_payload_unit,
            "25 KB PUT payload unit",
        );
        item(
            "kinesis_shard_hours",
            self.routing.ingest_rule.inbox.shards as f64 * SECONDS_PER_MONTH / 3600.0 / monthly,
            p.kinesis_shard_hour,
            "shard-hour",
        );

        // The pipeline's queues are FIFO; a dead-letter queue is written to, never polled.
        let (mut sends, mut receives) = (0.0, 0.0);
        for (queue, q) in &usage.queues {
            let sent_together = if queue == &self.routing.ingest_rule.queue {
                Self::send_batch_of(inbox_fill)
            } else {
                1.0
            };
            sends +=
                (q.send_requests as f64 / sent_together + q.visibility_changes as f64) / events;
            // A receive returns at most ten messages; a DeleteMessageBatch deletes ten.
            let per_request = fill_of(queue).min(MAX_BATCH as f64);
            receives +=
                (q.messages_received as f64 + q.messages_deleted as f64) / per_request / events;
        }
        item("sqs_fifo_sends", sends, p.sqs_fifo_request, "request");
        item(
            "sqs_fifo_receives_and_deletes",
            receives,
            p.sqs_fifo_request,
            "request",
        );
        item(
            "sqs_fifo_idle_polls",
            self.routing.queues.len() as f64 * idle_polls_per_queue,
            p.sqs_fifo_request,
            "request",
        );

        item(
            "dynamodb_write_request_units",
            usage.table.write_units / events,
            p.dynamodb_write_request_unit,
            "write request unit",
        );
        item(
            "dynamodb_read_request_units",
            usage.table.read_units / events,
            p.dynamodb_read_request_unit,
            "read request unit",
        );
        item(
            "dynamodb_storage",
            usage.table.storage_byte_months / events / GIB,
            p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month,
            "GB-month (with point-in-time recovery)",
        );

        let platform_bytes: f64 = invocations
            .iter()
            .filter(|i| self.platform_logs(&i.function))
            .map(|i| i.per_event * a.platform_log_bytes_per_invocation)
            .sum();
        let metric_bytes: f64 = measured
            .metric_bytes_by_queue
            .iter()
            .map(|(queue, bytes)| *bytes as f64 / fill_of(queue))
            .sum();
        item(
            "cloudwatch_logs",
            ((measured.log_bytes as f64 + metric_bytes) / events + platform_bytes) / GIB,
            p.cloudwatch_logs_ingested_gb,
            "GB ingested",
        );

        let traces: f64 = invocations
            .iter()
            .filter(|i| {
                self.functions
                    .functions
                    .get(&i.function)
                    .is_some_and(|f| f.tracing == Tracing::Active)
            })
            .map(|i| {
                let rate = i.per_event * monthly / SECONDS_PER_MONTH;
                let reservoir = a.xray_sampling_reservoir_per_second;
                let sampled =
                    rate.min(reservoir) + a.xray_sampling_rate * (rate - reservoir).max(0.0);
                sampled * SECONDS_PER_MONTH / monthly
            })
            .fold(0.0, |sum, t| sum + t);
        // OpenTelemetry: one trace per sampled event, whatever its number of hops.
        let traces = traces + self.functions.trace_sample_percent / 100.0;
        item(
            "xray_traces",
            traces,
            p.xray_trace_recorded,
            "trace recorded",
        );

        CostReport {
            monthly_events,
            events: measured.events,
            usd_per_million_events: items.iter().map(|i| i.usd_per_million_events).sum(),
            prices_as_of: self.prices.as_of.clone(),
            items,
            dynamodb_by_entity: self.by_entity(measured),
        }
    }

    fn by_entity(&self, measured: &Measured) -> Vec<EntityCost> {
        let p = &self.prices.prices;
        let events = measured.events.max(1) as f64;
        let storage_price = p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month;
        let mut out: Vec<EntityCost> = measured
            .usage
            .table
            .by_entity
            .iter()
            .map(|(entity, u)| {
                let writes = u.write_units / events;
                let reads = u.read_units / events;
                let storage = u.storage_byte_months / events / GIB;
                EntityCost {
                    entity: entity.clone(),
                    items_created_per_event: u.items_created as f64 / events,
                    write_units_per_event: writes,
                    read_units_per_event: reads,
                    storage_gb_months_per_event: storage,
                    usd_per_million_events: (writes * p.dynamodb_write_request_unit
                        + reads * p.dynamodb_read_request_unit
                        + storage * storage_price)
                        * 1e6,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.usd_per_million_events
                .total_cmp(&a.usd_per_million_events)
                .then_with(|| a.entity.cmp(&b.entity))
        });
        out
    }

    fn platform_logs(&self, function: &str) -> bool {
        self.functions
            .functions
            .get(function)
            .is_some_and(|f| matches!(f.system_log_level.as_str(), "DEBUG" | "INFO"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dd0c_shared::meter::{EntityUsage, FunctionUsage, QueueUsage, TableUsage};

    fn functions() -> FunctionsFile {
        serde_json::from_value(serde_json::json!({"functions": {
            "ingest": {"memory_mb": 256, "tracing": "active", "system_log_level": "INFO"},
            "normalizer": {"memory_mb": 512, "tracing": "pass_through", "system_log_level": "INFO"}
        }}))
        .unwrap()
    }

    /// Ten events: ingest sends each to the ingest queue; the normalizer reads it with two
    /// table calls (two write units and one read unit per event in all).
    fn ten_events() -> Measured {
        let mut usage = Usage::default();
        usage.functions.insert(
            "ingest".into(),
            FunctionUsage {
                queue_calls: 10,
                ..Default::default()
            },
        );
        usage.functions.insert(
            "normalizer".into(),
            FunctionUsage {
                messages: 10,
                table_calls: 20,
                ..Default::default()
            },
        );
        usage.queues.insert(
            "ingest".into(),
            QueueUsage {
                messages_sent: 10,
                send_requests: 10,
                messages_received: 10,
                messages_deleted: 10,
                visibility_changes: 0,
            },
        );
        usage.table = TableUsage {
            read_units: 10.0,
            write_units: 20.0,
            index_write_units: 0.0,
            storage_byte_months: 0.0,
            by_entity: [
                (
                    "EVENT".to_owned(),
                    EntityUsage {
                        read_units: 10.0,
                        write_units: 10.0,
                        items_created: 10,
                        ..Default::default()
                    },
                ),
                (
                    "COST".to_owned(),
                    EntityUsage {
                        write_units: 10.0,
                        items_created: 5,
                        storage_byte_months: GIB,
                        ..Default::default()
                    },
                ),
            ]
            .into(),
        };
        Measured {
            events: 10,
            usage,
            log_bytes: 0,
            metric_bytes_by_queue: BTreeMap::new(),
        }
    }

    fn item<'a>(report: &'a CostReport, name: &str) -> &'a LineItem {
        report.items.iter().find(|i| i.item == name).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn the_price_file_is_dated_and_sourced() {
        let file = PriceFile::builtin();
        assert!(chrono::NaiveDate::parse_from_str(&file.as_of, "%Y-%m-%d").is_ok());
        assert_eq!(file.region, "us-east-1");
        let raw: serde_json::Value = serde_json::from_str(PRICES_JSON).unwrap();
        let sources = raw["sources"].as_array().unwrap();
        assert!(sources.len() >= 5);
        assert!(sources
            .iter()
            .all(|s| s.as_str().unwrap().starts_with("https://")));
        assert!(file.prices.lambda_request > 0.0 && file.prices.sqs_fifo_request > 0.0);
    }

    #[test]
    fn a_batch_fills_with_what_arrives_in_its_window_within_its_size() {
        assert_eq!(Model::batch_fill(19.0, 1.0, 10), 10.0);
        assert_eq!(Model::batch_fill(3.0, 1.0, 10), 3.0);
        assert_eq!(Model::batch_fill(0.1, 1.0, 10), 1.0);
        assert_eq!(Model::batch_fill(5.0, 1.0, 0), 1.0);
    }

    #[test]
    fn ten_events_at_a_million_a_month_cost_what_the_prices_say() {
        let prices = PriceFile::builtin();
        let functions = functions();
        let model = Model {
            prices: &prices,
            functions: &functions,
            routing: RoutingTable::builtin(),
        };
        let report = model.report(&ten_events(), 1_000_000);
        // 0.38 events/s: ingest drains one record a batch (the window holds no more) and sends
        // it alone: 2 ms + one 10 ms send, at 256 MB; the normalizer: 2 ms + two 5 ms calls,
        // at 512 MB, one message a batch.
        assert!(close(item(&report, "lambda_requests").per_event, 2.0));
        assert!(close(
            item(&report, "lambda_gb_seconds").per_event,
            0.25 * 0.012 + 0.5 * 0.012
        ));
        assert!(close(item(&report, "sqs_fifo_sends").per_event, 1.0));
        assert!(close(
            item(&report, "sqs_fifo_receives_and_deletes").per_event,
            2.0
        ));
        // Seven queues, five pollers each, a 20 s poll, over a month of 2,629,800 s.
        assert!(close(
            item(&report, "sqs_fifo_idle_polls").per_event,
            4.60215
        ));
        assert!(close(
            item(&report, "dynamodb_write_request_units").usd_per_million_events,
            1.25
        ));
        assert!(close(
            item(&report, "dynamodb_read_request_units").usd_per_million_events,
            0.125
        ));
        // Two invocations' START/REPORT lines: 1,120 bytes.
        assert!(close(
            item(&report, "cloudwatch_logs").usd_per_million_events,
            1120.0 / GIB * 0.5 * 1e6
        ));
        // Only ingest traces: 0.38 invocations/s, all within the reservoir.
        assert!(close(item(&report, "xray_traces").per_event, 1.0));
        // The inbox stream: a shard for 730.5 hours over a million events.
        assert!(close(
            item(&report, "kinesis_shard_hours").usd_per_million_events,
            SECONDS_PER_MONTH / 3600.0 * 0.015
        ));
        let total: f64 = report.items.iter().map(|i| i.usd_per_million_events).sum();
        assert!(close(report.usd_per_million_events, total));
        assert_eq!(report.monthly_events, 1_000_000);
        assert_eq!(report.events, 10);
        assert_eq!(report.prices_as_of, prices.as_of);
        // By entity, costliest first: a unit read and written per event, against a unit
        // written and a tenth of a GB-month stored.
        let entities: Vec<&str> = report
            .dynamodb_by_entity
            .iter()
            .map(|e| e.entity.as_str())
            .collect();
        assert_eq!(entities, ["COST", "EVENT"]);
        let event = &report.dynamodb_by_entity[1];
        assert!(close(event.items_created_per_event, 1.0));
        assert!(close(event.usd_per_million_events, 0.625 + 0.125));
        let cost = &report.dynamodb_by_entity[0];
        assert!(close(cost.items_created_per_event, 0.5));
        assert!(close(cost.storage_gb_months_per_event, 0.1));
        let p = &prices.prices;
        assert!(close(
            cost.usd_per_million_events,
            0.625 + 0.1 * (p.dynamodb_storage_gb_month + p.dynamodb_pitr_gb_month) * 1e6
        ));
    }

    #[test]
    fn a_batchs_metric_line_is_written_once_per_batch_of_the_volume() {
        let prices = PriceFile::builtin();
        let functions = functions();
        let model = Model {
            prices: &prices,
            functions: &functions,
            routing: RoutingTable::builtin(),
        };
        let mut measured = ten_events();
        // The replay wrote one 220-byte line for each of the ten messages of `ingest`.
        measured.metric_bytes_by_queue = [("ingest".to_owned(), 2_200)].into();
        let logs = |monthly: u64| {
            let mut without = measured.clone();
            without.metric_bytes_by_queue.clear();
            item(&model.report(&measured, monthly), "cloudwatch_logs").per_event
                - item(&model.report(&without, monthly), "cloudwatch_logs").per_event
        };
        // A batch of one at a million a month; of ten (what a SendMessageBatch of the ingest
        // function carries) at fifty million.
        assert!(close(logs(1_000_000) * GIB, 220.0));
        assert!(close(logs(50_000_000) * GIB, 22.0));
    }

    #[test]
    fn volume_spreads_fixed_polls_and_samples_traces() {
        let prices = PriceFile::builtin();
        let functions = functions();
        let model = Model {
            prices: &prices,
            functions: &functions,
            routing: RoutingTable::builtin(),
        };
        let report = model.report(&ten_events(), 50_000_000);
        assert!(close(
            item(&report, "sqs_fifo_idle_polls").per_event,
            4.60215 / 50.0
        ));
        // 19.01 events/s on one shard: ingest drains 19.01 a batch, one invocation a second,
        // within X-Ray's reservoir; it forwards them ten to a request, and a receive of the
        // normalizer's takes those ten.
        let per_second = 50_000_000.0 / SECONDS_PER_MONTH;
        let traces = item(&report, "xray_traces").per_event;
        assert!(close(traces, 1.0 / per_second), "{traces}");
        assert!(close(
            item(&report, "lambda_requests").per_event,
            1.0 / per_second + 0.1
        ));
        assert!(close(item(&report, "sqs_fifo_sends").per_event, 0.1));
        assert!(close(
            item(&report, "sqs_fifo_receives_and_deletes").per_event,
            0.2
        ));
        // One shard all month, and a PUT payload unit per event.
        assert!(close(
            item(&report, "kinesis_shard_hours").per_event,
            SECONDS_PER_MONTH / 3600.0 / 50_000_000.0
        ));
        assert!(close(
            item(&report, "kinesis_put_payload_units").usd_per_million_events,
            0.014
        ));
    }
}

#[cfg(test)]
mod parity {
    use super::*;

    /// `shared/functions.json` names exactly the functions built for Lambda
    /// (`functions/lambdas/src/bin`), every queue consumer and the ingest function among them;
    /// the CDK side checks the template against the same file (infra-cdk/test/pipeline.test.ts).
    #[test]
    fn functions_json_names_every_lambda_binary() {
        let bin = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/lambdas/src/bin");
        let mut built: Vec<String> = std::fs::read_dir(bin)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        built.sort();
        let settings = FunctionsFile::builtin();
        let named: Vec<String> = settings.functions.keys().cloned().collect();
        assert_eq!(named, built);
        let routing = RoutingTable::builtin();
        for consumer in routing.queues.iter().map(|q| &q.consumer) {
            assert!(settings.functions.contains_key(consumer), "{consumer}");
        }
        assert!(settings
            .functions
            .contains_key(&routing.ingest_rule.function));
        assert!(settings.functions.values().all(|f| f.memory_mb >= 128));
    }
}
