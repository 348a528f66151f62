//! One suite, two adapters: the embedded FIFO queue and SQS (moto) must agree on order,
//! group locking, deduplication, visibility, receive counts and redrive to the DLQ.
//! Time: the embedded queue runs on a manual clock that the suite advances; moto runs on
//! real time, so the suite sleeps there (visibility timeouts are whole seconds).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dd0c_shared::bus::{Bus, BusError, BusEvent, Envelope, QueueBus, RoutingTable};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::sqs::SqsQueue;
use dd0c_shared::queue::{
    dlq_name, OutgoingMessage, Queue, ERROR_ATTRIBUTE, REDRIVE_RECEIVE_COUNT,
};
use dd0c_tests::{aws_setup, moto::MotoServer};

struct Env {
    queue: Arc<dyn Queue>,
    bus: Arc<dyn Bus>,
    clock: Option<ManualClock>,
    _moto: Option<MotoServer>,
}

impl Env {
    async fn wait(&self, d: Duration) {
        match &self.clock {
            Some(clock) => clock.advance(chrono::Duration::from_std(d).unwrap()),
            None => tokio::time::sleep(d).await,
        }
    }
}

async fn memory() -> Env {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
    let routing = RoutingTable::builtin().clone();
    let inbox_dlq = dlq_name(&routing.ingest_rule.inbox.name);
    let queue = Arc::new(MemoryQueue::new(
        routing
            .queue_names()
            .map(str::to_owned)
            .chain([inbox_dlq])
            .collect::<Vec<_>>(),
        Arc::new(clock.clone()),
    ));
    let bus = Arc::new(QueueBus::new(
        routing,
        queue.clone(),
        Arc::new(clock.clone()),
    ));
    Env {
        queue,
        bus,
        clock: Some(clock),
        _moto: None,
    }
}

async fn sqs() -> Env {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let routing = RoutingTable::builtin().clone();
    let urls: HashMap<String, String> = aws_setup::create_queues(&sdk, &routing).await;
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), urls));
    let bus = Arc::new(QueueBus::new(
        routing,
        queue.clone(),
        Arc::new(dd0c_shared::clock::SystemClock),
    ));
    Env {
        queue,
        bus,
        clock: None,
        _moto: Some(moto),
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test]
            async fn embedded() {
                super::$name(super::memory().await).await
            }
            #[tokio::test]
            async fn sqs_on_moto() {
                super::$name(super::sqs().await).await
            }
        })*
    };
}

conformance!(
    groups_are_delivered_in_order,
    a_group_in_flight_is_locked,
    deduplication_ids_are_honoured,
    visibility_timeout_and_receive_counts,
    redrive_to_the_dlq_after_the_redrive_count,
    delete_and_change_visibility,
    attributes_round_trip,
    bus_routes_by_detail_type,
    bus_refuses_unrouted_detail_types,
    batch_sends_keep_order_and_fail_alone,
);

const Q: &str = "ingest";
const VIS: Duration = Duration::from_secs(1);

fn msg(body: &str, group: &str, dedup: &str) -> OutgoingMessage {
    OutgoingMessage::new(body, group, dedup)
}

async fn groups_are_delivered_in_order(env: Env) {
    for i in 0..4 {
        env.queue
            .send(Q, msg(&format!("a{i}"), "A", &format!("a{i}")))
            .await
            .unwrap();
    }
    let got = env.queue.receive(Q, 10, VIS).await.unwrap();
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["a0", "a1", "a2", "a3"]);
    assert!(got
        .iter()
        .all(|m| m.group_id == "A" && m.receive_count == 1));
}

async fn a_group_in_flight_is_locked(env: Env) {
    env.queue.send(Q, msg("a0", "A", "a0")).await.unwrap();
    env.queue.send(Q, msg("a1", "A", "a1")).await.unwrap();
    env.queue.send(Q, msg("b0", "B", "b0")).await.unwrap();
    let first = env
        .queue
        .receive(Q, 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first[0].body, "a0");
    // a1 must wait while a0 is in flight; B is free.
    let mut rest = Vec::new();
    for _ in 0..3 {
        rest.extend(
            env.queue
                .receive(Q, 10, Duration::from_secs(30))
                .await
                .unwrap(),
        );
    }
    let bodies: Vec<&str> = rest.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["b0"]);
    env.queue.delete(Q, &first[0].receipt_handle).await.unwrap();
    let next = env
        .queue
        .receive(Q, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(next[0].body, "a1");
}

async fn deduplication_ids_are_honoured(env: Env) {
    env.queue
        .send(Q, msg("first", "A", "event-1"))
        .await
        .unwrap();
    env.queue
        .send(Q, msg("again", "A", "event-1"))
        .await
        .unwrap();
    env.queue
        .send(Q, msg("other", "A", "event-2"))
        .await
        .unwrap();
    let got = env.queue.receive(Q, 10, VIS).await.unwrap();
    let bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["first", "other"]);
}

async fn visibility_timeout_and_receive_counts(env: Env) {
    env.queue.send(Q, msg("m", "A", "m")).await.unwrap();
    let first = env.queue.receive(Q, 10, VIS).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(env.queue.receive(Q, 10, VIS).await.unwrap().is_empty());
    env.wait(Duration::from_millis(1500)).await;
    let again = env.queue.receive(Q, 10, VIS).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].receive_count, 2);
    assert_eq!(again[0].message_id, first[0].message_id);
}

async fn redrive_to_the_dlq_after_the_redrive_count(env: Env) {
    env.queue.send(Q, msg("poison", "A", "p")).await.unwrap();
    for attempt in 1..=REDRIVE_RECEIVE_COUNT {
        let got = env.queue.receive(Q, 10, VIS).await.unwrap();
        assert_eq!(got.len(), 1, "attempt {attempt}");
        assert_eq!(got[0].receive_count, attempt);
        env.wait(Duration::from_millis(1500)).await;
    }
    assert!(env.queue.receive(Q, 10, VIS).await.unwrap().is_empty());
    let dead = env.queue.receive(&dlq_name(Q), 10, VIS).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

async fn delete_and_change_visibility(env: Env) {
    env.queue.send(Q, msg("m1", "A", "m1")).await.unwrap();
    env.queue.send(Q, msg("m2", "B", "m2")).await.unwrap();
    let got = env
        .queue
        .receive(Q, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    env.queue.delete(Q, &got[0].receipt_handle).await.unwrap();
    env.queue
        .change_visibility(Q, &got[1].receipt_handle, Duration::ZERO)
        .await
        .unwrap();
    let again = env
        .queue
        .receive(Q, 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].body, "m2");
}

async fn attributes_round_trip(env: Env) {
    env.queue
        .send(
            &dlq_name(Q),
            msg("bad", "A", "x")
                .with_attribute(ERROR_ATTRIBUTE, "malformed record: missing eventTime"),
        )
        .await
        .unwrap();
    let got = env.queue.receive(&dlq_name(Q), 10, VIS).await.unwrap();
    assert_eq!(
        got[0].attributes.get(ERROR_ATTRIBUTE).map(String::as_str),
        Some("malformed record: missing eventTime")
    );
}

async fn bus_routes_by_detail_type(env: Env) {
    let routing = RoutingTable::builtin();
    for route in &routing.routes {
        env.bus
            .publish(vec![BusEvent {
                detail_type: route.detail_type.clone(),
                detail: serde_json::json!({"probe": route.detail_type}),
                tenant: "tenant-1".into(),
                account: "111122223333".into(),
                region: "us-east-1".into(),
            }])
            .await
            .unwrap();
    }
    for spec in &routing.queues {
        let expected: Vec<&str> = routing
            .routes
            .iter()
            .filter(|r| r.queue == spec.name)
            .map(|r| r.detail_type.as_str())
            .collect();
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(
                env.queue
                    .receive(&spec.name, 10, Duration::from_secs(30))
                    .await
                    .unwrap(),
            );
        }
        let mut types: Vec<String> = got
            .iter()
            .map(|m| {
                let envelope: Envelope = serde_json::from_str(&m.body).unwrap();
                assert_eq!(envelope.source, routing.internal_source);
                assert_eq!(envelope.detail["probe"], envelope.detail_type.as_str());
                let route = routing.route(&envelope.detail_type).unwrap();
                assert_eq!(
                    m.group_id,
                    route.ordered_by.group("tenant-1", "111122223333")
                );
                envelope.detail_type
            })
            .collect();
        types.sort();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(types, expected, "queue {}", spec.name);
    }
}

async fn bus_refuses_unrouted_detail_types(env: Env) {
    let err = env
        .bus
        .publish(vec![BusEvent {
            detail_type: "dd0c.Unknown".into(),
            detail: serde_json::json!({}),
            tenant: "tenant-1".into(),
            account: "111122223333".into(),
            region: "us-east-1".into(),
        }])
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::NoRoute(_)), "{err}");
}

/// SendMessageBatch: ten entries a request, results in order, a refused entry fails alone,
/// a repeated deduplication id is accepted and dropped; a standard queue (the ingest inbox's
/// dead-letter queue) takes the same messages without using their group and id.
async fn batch_sends_keep_order_and_fail_alone(env: Env) {
    let mut batch: Vec<OutgoingMessage> = (0..13)
        .map(|i| {
            msg(
                &format!("b{i}"),
                if i % 2 == 0 { "A" } else { "B" },
                &format!("b{i}"),
            )
        })
        .collect();
    batch[4] = msg("", "A", "empty-body");
    batch[12] = msg("b12", "A", "b0");
    let results = env.queue.send_batch(Q, batch).await;
    assert_eq!(results.len(), 13);
    assert!(
        matches!(results[4], Err(dd0c_shared::queue::QueueError::Invalid(_))),
        "{:?}",
        results[4]
    );
    assert!(
        results.iter().enumerate().all(|(i, r)| i == 4 || r.is_ok()),
        "{results:?}"
    );
    let mut bodies = Vec::new();
    for _ in 0..4 {
        for m in env.queue.receive(Q, 10, VIS).await.unwrap() {
            env.queue.delete(Q, &m.receipt_handle).await.unwrap();
            bodies.push(m.body);
        }
    }
    bodies.sort_by_key(|b| b[1..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..12)
        .filter(|i| *i != 4)
        .map(|i| format!("b{i}"))
        .collect();
    assert_eq!(bodies, expected, "b12 repeats b0's deduplication id");

    for name in [dlq_name(&RoutingTable::builtin().ingest_rule.inbox.name)] {
        let results = env
            .queue
            .send_batch(
                &name,
                vec![msg("{}", "m-1", "m-1"), msg("{}", "m-2", "m-2")],
            )
            .await;
        assert!(results.iter().all(Result::is_ok), "{name}: {results:?}");
        env.queue
            .send(
                &name,
                msg("{}", "m-3", "m-3").with_attribute(ERROR_ATTRIBUTE, "why"),
            )
            .await
            .unwrap();
        let got = env.queue.receive(&name, 10, VIS).await.unwrap();
        assert_eq!(got.len(), 3, "{name}");
    }
}
