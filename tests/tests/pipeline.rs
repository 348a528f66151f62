//! End to end through the embedded pipeline: the vertical slice of the cost path, duplicate
//! delivery, poison messages, FIFO order under failure, and a replay of a real dataset.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use dd0c_cli::pipeline::{EmbeddedPipeline, PipelineOptions, LOCAL_TENANT};
use dd0c_cli::replay::{replay, ReplayOptions};
use dd0c_cli::time_shift::TimeShift;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::chat::RecordingChat;
use dd0c_shared::domain::{FindingKind, Severity};
use dd0c_shared::entity::event;
use dd0c_shared::entity::finding::all as all_findings;
use dd0c_shared::governance::Policy;
use dd0c_shared::queue::{dlq_name, OutgoingMessage, Queue};
use dd0c_shared::store::query_all;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/public")
}

fn pipeline() -> (EmbeddedPipeline, Arc<RecordingChat>) {
    let chat = Arc::new(RecordingChat::default());
    let p = EmbeddedPipeline::new(PipelineOptions {
        start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        chat: chat.clone(),
        default_channel: "#alerts".into(),
        policy: Policy::demo().unwrap(),
    });
    (p, chat)
}

fn run_instances(event_id: &str, instance_type: &str, count: usize, time: &str) -> Value {
    let items: Vec<Value> = (0..count)
        .map(|i| json!({"instanceId": format!("i-{event_id}-{i}"), "instanceType": instance_type}))
        .collect();
    json!({
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances",
        "awsRegion": "us-east-1",
        "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.5",
        "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice", "accountId": "111122223333"},
        "requestParameters": {"instanceType": instance_type, "instancesSet": {"items": [{"minCount": count, "maxCount": count}]}},
        "responseElements": {"instancesSet": {"items": items}}
    })
}

fn envelope(envelope_id: &str, record: &Value) -> Value {
    json!({
        "version": "0", "id": envelope_id, "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": "111122223333", "time": record["eventTime"],
        "region": "us-east-1", "resources": [], "detail": record
    })
}

#[tokio::test]
async fn run_instances_is_priced_scored_and_alerted() {
    let (p, chat) = pipeline();
    // 4 × p3.8xlarge: 4 × $12.24/hr in us-east-1 — critical by the cold-start thresholds.
    let record = run_instances("evt-slice", "p3.8xlarge", 4, "2026-03-01T10:00:00Z");
    p.ingest
        .handle_eventbridge(envelope("env-1", &record))
        .await
        .unwrap();
    p.drain().await;
    let findings = all_findings(p.table.as_ref(), LOCAL_TENANT).await.unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    assert_eq!(f.kind, FindingKind::CostAnomaly);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.resource_ids.len(), 4);
    let unit = dd0c_shared::pricing::ec2_instance(
        "p3.8xlarge",
        "us-east-1",
        dd0c_shared::pricing::Platform::Linux,
        dd0c_shared::pricing::Tenancy::Shared,
        false,
    )
    .hourly_usd
    .unwrap();
    assert!((f.estimated_hourly_cost.unwrap() - 4.0 * unit).abs() < 1e-9);
    assert_eq!(f.actor.name, "alice");
    assert!(f.notified);
    let posted = chat.messages();
    assert_eq!(posted.len(), 1);
    assert!(posted[0].text.contains("p3") || posted[0].text.contains("RunInstances"));
}

#[tokio::test]
async fn a_small_launch_is_held_for_the_digest() {
    let (p, chat) = pipeline();
    // m5.xlarge ($0.192/hr): below the $0.50/hr info threshold → no finding at all.
    let small = run_instances("evt-small", "m5.xlarge", 1, "2026-03-01T10:00:00Z");
    // 2 × m5.2xlarge ($0.768/hr): info → recorded, held, not sent.
    let info = run_instances("evt-info", "m5.2xlarge", 2, "2026-03-01T10:01:00Z");
    for (i, r) in [small, info].iter().enumerate() {
        p.ingest
            .handle_eventbridge(envelope(&format!("env-{i}"), r))
            .await
            .unwrap();
        p.drain().await;
    }
    let findings = all_findings(p.table.as_ref(), LOCAL_TENANT).await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].severity, Severity::Info);
    assert!(!findings[0].notified);
    assert!(findings[0].suppressed_reason.is_some());
    assert!(chat.messages().is_empty());
}

#[tokio::test]
async fn duplicate_delivery_yields_one_event_and_one_finding() {
    let (p, chat) = pipeline();
    let record = run_instances("evt-dup", "p3.16xlarge", 2, "2026-03-01T10:00:00Z");
    p.ingest
        .handle_eventbridge(envelope("envelope-a", &record))
        .await
        .unwrap();
    p.drain().await;
    // Within SQS's five-minute window the queue drops it; after it, the table must.
    p.ingest
        .handle_eventbridge(envelope("envelope-b", &record))
        .await
        .unwrap();
    p.drain().await;
    p.clock.advance(Duration::minutes(10));
    p.ingest
        .handle_eventbridge(envelope("envelope-c", &record))
        .await
        .unwrap();
    p.drain().await;
    let events = query_all(
        p.table.as_ref(),
        event::cloudtrail_all(LOCAL_TENANT, "111122223333"),
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    let findings = all_findings(p.table.as_ref(), LOCAL_TENANT).await.unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(chat.messages().len(), 1);
    assert_eq!(p.normalizer.stats.snapshot().get("duplicate"), Some(&1));
}

#[tokio::test]
async fn a_malformed_record_is_dead_lettered_with_its_reason_and_the_rest_proceed() {
    let (p, _chat) = pipeline();
    let good1 = run_instances("evt-good-1", "p3.16xlarge", 1, "2026-03-01T10:00:00Z");
    let mut bad = run_instances("evt-bad", "p3.16xlarge", 1, "2026-03-01T10:00:01Z");
    bad.as_object_mut().unwrap().remove("eventTime");
    let good2 = run_instances("evt-good-2", "p3.16xlarge", 1, "2026-03-01T10:00:02Z");
    // All three in one batch, one account, one message group.
    for r in [&good1, &bad, &good2] {
        p.ingest.forward_raw(&r.to_string()).await.unwrap();
    }
    let report = p.drain().await;
    assert_eq!(report.dead_lettered, 1);
    let dead = p.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].queue, "ingest");
    assert!(dead[0].reason.contains("eventTime"), "{}", dead[0].reason);
    assert!(dead[0].body.contains("evt-bad"));
    let findings = all_findings(p.table.as_ref(), LOCAL_TENANT).await.unwrap();
    let ids: Vec<&str> = findings.iter().map(|f| f.event_id.as_str()).collect();
    assert_eq!(ids, vec!["evt-good-1", "evt-good-2"]);
    // It can never succeed, so it was given up on its first receive: it held its group
    // for no retry, and the record behind it went through in the same pass.
    assert_eq!(report.failed_attempts, 0);
}

/// Records the order in which messages were handled; fails chosen bodies a number of times.
struct Flaky {
    handled: Mutex<Vec<String>>,
    failures_left: Mutex<BTreeMap<String, u32>>,
}

#[async_trait]
impl MessageHandler for Flaky {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let mut left = self.failures_left.lock().unwrap();
        if let Some(n) = left.get_mut(body) {
            if *n > 0 {
                *n -= 1;
                return Err(HandlerError::transient("simulated outage"));
            }
        }
        self.handled.lock().unwrap().push(body.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn fifo_order_holds_within_a_group_when_a_message_fails() {
    let (mut p, _chat) = pipeline();
    let flaky = Arc::new(Flaky {
        handled: Mutex::new(Vec::new()),
        failures_left: Mutex::new(BTreeMap::from([("a2".to_owned(), 2)])),
    });
    p.set_consumer("score", flaky.clone());
    for (body, group) in [
        ("a1", "A"),
        ("a2", "A"),
        ("b1", "B"),
        ("a3", "A"),
        ("b2", "B"),
    ] {
        p.queue
            .send("score", OutgoingMessage::new(body, group, body))
            .await
            .unwrap();
    }
    let report = p.drain().await;
    let handled = flaky.handled.lock().unwrap().clone();
    let order_of = |b: &str| handled.iter().position(|h| h == b).unwrap();
    assert_eq!(handled.len(), 5);
    assert!(order_of("a1") < order_of("a2"));
    assert!(
        order_of("a2") < order_of("a3"),
        "a3 overtook the failed a2: {handled:?}"
    );
    assert!(order_of("b1") < order_of("b2"));
    // Group B was not held back by group A's failure.
    assert!(order_of("b2") < order_of("a2"), "{handled:?}");
    assert_eq!(report.dead_lettered, 0);
    assert!(p.queue.peek_all(&dlq_name("score")).is_empty());
}

#[tokio::test]
async fn replay_of_a_real_dataset_completes_and_counts_every_skip() {
    let dir = fixtures().join("cloudtrail/invictus-ir-aws-dataset/CloudTrail");
    let findings_file =
        std::env::temp_dir().join(format!("dd0c-findings-{}.jsonl", std::process::id()));
    let options = ReplayOptions {
        paths: vec![dir.clone()],
        findings: Some(findings_file.clone()),
        policy: Policy::system().unwrap(),
        quiet: true,
        cost: None,
        demo_stacks: false,
        history: None,
        time_shift: TimeShift::NONE,
    };
    let summary = replay(&options, Arc::new(RecordingChat::default()))
        .await
        .unwrap()
        .expect("input was read");
    // Count independently what the dataset holds.
    let mut total = 0;
    let mut failed = std::collections::HashSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let v: Value =
            serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        for r in v["Records"].as_array().unwrap() {
            total += 1;
            if r.get("errorCode").is_some() {
                failed.insert(r["eventID"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(summary.events_read, total);
    let counted: u64 = summary.outcomes.values().sum();
    assert_eq!(counted as usize, total, "{:?}", summary.outcomes);
    assert_eq!(
        summary.outcomes.get("failed_call").copied().unwrap_or(0) as usize,
        failed.len()
    );
    assert!(summary.outcomes.contains_key("cost_event"));
    let lines = std::fs::read_to_string(&findings_file).unwrap();
    for line in lines.lines() {
        let f: Value = serde_json::from_str(line).unwrap();
        assert!(
            !failed.contains(f["event_id"].as_str().unwrap()),
            "a failed call produced a finding"
        );
        for field in [
            "kind",
            "event_id",
            "account_id",
            "region",
            "event_time",
            "event_name",
            "actor",
            "severity",
            "score",
            "reasons",
            "resource_type",
            "resource_ids",
            "estimated_hourly_cost",
            "category",
            "notified",
            "suppressed_reason",
        ] {
            assert!(f.get(field).is_some(), "findings line lacks {field}");
        }
    }
    let _ = std::fs::remove_file(findings_file);
}

/// Slack answers 429 with Retry-After: 30 to the first post, then accepts.
struct RateLimitedOnce {
    clock: Mutex<Option<dd0c_shared::clock::ManualClock>>,
    attempts: Mutex<Vec<(chrono::DateTime<Utc>, bool)>>,
}

#[async_trait]
impl dd0c_shared::chat::ChatSink for RateLimitedOnce {
    async fn post(
        &self,
        _message: dd0c_shared::chat::ChatMessage,
    ) -> Result<dd0c_shared::chat::Posted, dd0c_shared::chat::ChatError> {
        use dd0c_shared::clock::Clock;
        let now = self.clock.lock().unwrap().as_ref().expect("clock").now();
        let mut attempts = self.attempts.lock().unwrap();
        let first = attempts.is_empty();
        attempts.push((now, !first));
        if first {
            return Err(dd0c_shared::chat::ChatError::RateLimited {
                retry_after_seconds: 30,
            });
        }
        Ok(dd0c_shared::chat::Posted {
            channel: "#alerts".into(),
            ts: "1.0".into(),
        })
    }

    async fn update(
        &self,
        _channel: &str,
        _ts: &str,
        _message: dd0c_shared::chat::ChatMessage,
    ) -> Result<(), dd0c_shared::chat::ChatError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_rate_limited_alert_waits_for_retry_after_then_goes_out_once() {
    let chat = Arc::new(RateLimitedOnce {
        clock: Mutex::new(None),
        attempts: Mutex::new(Vec::new()),
    });
    let p = EmbeddedPipeline::new(PipelineOptions {
        start: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        chat: chat.clone(),
        default_channel: "#alerts".into(),
        policy: Policy::demo().unwrap(),
    });
    *chat.clock.lock().unwrap() = Some(p.clock.clone());
    let record = run_instances("evt-429", "p3.8xlarge", 4, "2026-03-01T10:00:00Z");
    p.ingest
        .handle_eventbridge(envelope("env-429", &record))
        .await
        .unwrap();
    let report = p.drain().await;
    let attempts = chat.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(!attempts[0].1 && attempts[1].1);
    let waited = attempts[1].0 - attempts[0].0;
    assert!(
        waited >= Duration::seconds(30),
        "retried after {waited} instead of Retry-After's 30s"
    );
    // Shorter than the queue's visibility timeout: the delay, not the timeout, decided it.
    assert!(waited < Duration::seconds(60), "retried after {waited}");
    assert_eq!(report.dead_lettered, 0);
    let findings = all_findings(p.table.as_ref(), LOCAL_TENANT).await.unwrap();
    assert!(findings[0].notified);
}
