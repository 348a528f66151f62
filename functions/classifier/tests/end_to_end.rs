//! The demo pair end to end on the embedded adapters: ingest → normalizer → bus → classify
//! queue → classifier → finding stored and `dd0c.Finding` on the alerts queue; then a
//! Terraform apply resolves it and the stack score recovers. Also a drift report through the
//! same path.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dd0c_classifier::{Classifier, RuleEngine};
use dd0c_ingest::Ingest;
use dd0c_normalizer::{Normalizer, NormalizerConfig};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::bus::QueueBus;
use dd0c_shared::bus::RoutingTable;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::drift::Stack;
use dd0c_shared::domain::{FindingStatus, IngestMessage, Severity};
use dd0c_shared::entity::account::{set_drift_settings, DriftSettings};
use dd0c_shared::entity::finding::{all as all_findings, load as load_finding};
use dd0c_shared::entity::stack::{load_stack, put_stack};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::{OutgoingMessage, Queue};
use dd0c_shared::store::memory::MemoryTable;
use serde_json::{json, Value};

const TENANT: &str = "t-demo";

struct World {
    clock: Arc<ManualClock>,
    table: Arc<MemoryTable>,
    queue: Arc<MemoryQueue>,
    ingest: Ingest,
    normalizer: Normalizer,
    classifier: Classifier,
}

fn world() -> World {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap());
    let shared_clock: Arc<ManualClock> = Arc::new(clock);
    let routing = RoutingTable::builtin().clone();
    let table = MemoryTable::shared(shared_clock.clone());
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        shared_clock.clone(),
    ));
    let bus = Arc::new(QueueBus::new(routing, queue.clone(), shared_clock.clone()));
    World {
        clock: shared_clock.clone(),
        ingest: Ingest::new(queue.clone()),
        normalizer: Normalizer::new(
            table.clone(),
            bus.clone(),
            shared_clock.clone(),
            NormalizerConfig {
                auto_link_tenant: Some(TENANT.into()),
            },
        ),
        classifier: Classifier::new(
            table.clone(),
            bus,
            shared_clock,
            RuleEngine::builtin().unwrap(),
        ),
        table,
        queue,
    }
}

impl World {
    /// Delivers every message of a queue to its handler, in order; returns how many.
    async fn drain(&self, name: &str, handler: &dyn MessageHandler) -> usize {
        let mut n = 0;
        loop {
            let batch = self
                .queue
                .receive(name, 10, Duration::from_secs(30))
                .await
                .unwrap();
            if batch.is_empty() {
                return n;
            }
            for m in batch {
                handler
                    .handle(&m.body)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e:?}\n{}", m.body));
                self.queue.delete(name, &m.receipt_handle).await.unwrap();
                n += 1;
            }
        }
    }

    async fn run(&self) {
        self.drain("ingest", &self.normalizer).await;
        self.drain("classify", &self.classifier).await;
    }

    async fn alerts(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .queue
                .receive("alerts", 10, Duration::from_secs(30))
                .await
                .unwrap();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                let v: Value = serde_json::from_str(&m.body).unwrap();
                out.push(v["detail"].clone());
                self.queue
                    .delete("alerts", &m.receipt_handle)
                    .await
                    .unwrap();
            }
        }
    }
}

fn demo_envelopes() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/drift/terraform-sg-console-drift.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("demo fixture")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// A world whose account's Terraform workspace is `web-prod`, with the demo's drift pair
/// ingested (not yet normalized).
async fn demo_ingested() -> World {
    let w = world();
    set_drift_settings(
        w.table.as_ref(),
        TENANT,
        "111122223333",
        &DriftSettings {
            deployer_role_arns: vec![],
            terraform_workspace: Some("web-prod".into()),
        },
    )
    .await
    .unwrap();
    for envelope in demo_envelopes() {
        w.ingest.handle_eventbridge(envelope).await.unwrap();
    }
    w
}

#[tokio::test]
async fn demo_pair_becomes_one_critical_security_drift_finding() {
    let w = demo_ingested().await;
    w.run().await;

    let findings = all_findings(w.table.as_ref(), TENANT).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let f = &findings[0];
    assert_eq!(f.id, "drift-c41e8f02-6a7b-4c8d-9e0f-1a2b3c4d5e02");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.category.as_deref(), Some("security"));
    assert_eq!(f.resource_type, "ec2:security-group");
    assert_eq!(f.resource_ids, vec!["sg-0123456789abcdef0".to_string()]);
    assert_eq!(f.details["recommendation"]["action"], "revert");
    // The rule that set the severity is the finding's detector (flags, circuit breaker).
    assert_eq!(f.details["detector"], "drift.sg-world-admin-port");
    assert_eq!(
        f.details["attribution"]["who"],
        "jane.doe@example.com (SSO AdministratorAccess)"
    );
    assert_eq!(f.details["attribution"]["via"], "console");
    assert_eq!(f.details["attribution"]["ip"], "203.0.113.77");
    assert_eq!(f.details["attribution"]["mfa"], true);
    assert_eq!(f.details["attribution"]["when"], "2026-11-21T23:47:31Z");
    assert_eq!(
        f.details["diff"][0],
        json!({"attribute": "ingress", "old": null, "new": {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}})
    );
    assert_eq!(f.details["stack"], "web-prod");
    // The tags Terraform gave the group route its alert.
    assert_eq!(
        f.details["tags"],
        json!({"Name": "web-prod-sg", "env": "prod"})
    );
    assert_eq!(f.details["codify"][0]["tool"], "Terraform");
    assert_eq!(f.details["codify"][0]["attribute"], "ingress");
    assert!(
        f.details["codify"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("cidr_blocks = [\"0.0.0.0/0\"]")),
        "{}",
        f.details["codify"]
    );
    assert!(
        f.details["cause"]["class"].is_string()
            && f.details["cause"]["confidence"].as_f64().unwrap() > 0.0
    );
    assert!(
        f.reasons
            .iter()
            .any(|r| r.contains("Terraform") && r.contains("console")),
        "{:?}",
        f.reasons
    );
    // The decision log (issue 14, item 3): why it is drift, on what evidence of ownership,
    // and the rules that set its severity.
    let log = &f.details["decision"];
    assert_eq!(log["stage"], "classifier");
    assert_eq!(log["verdict"], "drift: critical (security)");
    assert!(
        log["change_class"]
            .as_str()
            .is_some_and(|c| c.starts_with("drift: ") && c.contains("via console")),
        "{log}"
    );
    assert!(
        log["managed"]["evidence"]
            .as_str()
            .is_some_and(|e| e.starts_with("an IaC write by arn:aws:")),
        "{log}"
    );
    assert_eq!(log["managed"]["stack"], "web-prod");
    assert_eq!(log["rules"], f.details["rules"]);
    assert!(!log["rules"].as_array().unwrap().is_empty(), "{log}");
    let line = f.contract_json();
    assert_eq!(
        (line["kind"].as_str(), line["severity"].as_str()),
        (Some("drift"), Some("critical"))
    );

    let alerts = w.alerts().await;
    assert_eq!(
        alerts,
        vec![json!({"tenant_id": TENANT, "finding_id": f.id})]
    );

    let stack = load_stack(w.table.as_ref(), TENANT, "web-prod")
        .await
        .unwrap()
        .expect("stack");
    assert_eq!(stack.drift_score, 60.0);
    assert_eq!(stack.open_drift.get("critical"), Some(&1));

    // Redelivery of both records: nothing new.
    for envelope in demo_envelopes() {
        let record = envelope["detail"].to_string();
        w.queue
            .send(
                "ingest",
                OutgoingMessage::new(
                    IngestMessage::cloudtrail_body(&record),
                    "111122223333",
                    format!("again-{}", envelope["id"].as_str().unwrap()),
                ),
            )
            .await
            .unwrap();
    }
    w.run().await;
    assert_eq!(
        all_findings(w.table.as_ref(), TENANT).await.unwrap().len(),
        1
    );
    assert!(w.alerts().await.is_empty());

    // Terraform applies again: the drift resolves and the score recovers.
    let mut apply = demo_envelopes().remove(0);
    apply["detail"]["eventID"] = json!("tf-apply-2");
    apply["detail"]["eventTime"] = json!("2026-11-22T08:00:00Z");
    apply["detail"]["eventName"] = json!("RevokeSecurityGroupIngress");
    apply["detail"]["requestParameters"] = json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}});
    w.ingest.handle_eventbridge(apply).await.unwrap();
    w.run().await;
    let resolved = load_finding(w.table.as_ref(), TENANT, &f.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.status, FindingStatus::Resolved);
    let stack = load_stack(w.table.as_ref(), TENANT, "web-prod")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.drift_score, 100.0);
}

/// Every drift event delivered twice (the classify queue delivers at least once), the second
/// time after the alerts queue's deduplication window: the finding is handed to the notifier
/// once, the second delivery finding it published.
#[tokio::test]
async fn a_redelivered_drift_event_is_handed_to_the_notifier_once() {
    let w = demo_ingested().await;
    w.drain("ingest", &w.normalizer).await;
    let mut delivered = 0;
    loop {
        let batch = w
            .queue
            .receive("classify", 10, Duration::from_secs(30))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            w.classifier.handle(&m.body).await.unwrap();
            w.clock.advance(chrono::Duration::minutes(10));
            w.classifier.handle(&m.body).await.unwrap();
            w.queue.delete("classify", &m.receipt_handle).await.unwrap();
            delivered += 1;
        }
    }
    assert!(delivered > 0);
    let findings = all_findings(w.table.as_ref(), TENANT).await.unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(
        w.alerts().await,
        vec![json!({"tenant_id": TENANT, "finding_id": findings[0].id})]
    );
}

#[tokio::test]
async fn a_drift_report_is_classified_and_scores_its_stack() {
    let w = world();
    let mut declared = Stack::new(TENANT, "payments");
    declared.owner = Some("team-payments".into());
    put_stack(w.table.as_ref(), &declared, Utc::now())
        .await
        .unwrap();
    let report = json!({
        "tenant_id": TENANT, "report_id": "rep-9", "stack_id": "payments",
        "received_at": "2026-11-22T00:00:00Z", "tool": "terraform",
        "drifts": [
            {"resource_address": "aws_db_instance.main", "resource_type": "aws_db_instance", "resource_id": "payments-db",
             "attribute": "publicly_accessible", "old": false, "new": true, "sensitive": false},
            {"resource_address": "aws_instance.app", "resource_type": "aws_instance",
             "attribute": "tags.owner", "old": "a", "new": "b", "sensitive": false}
        ]
    });
    w.queue
        .send(
            "ingest",
            OutgoingMessage::new(
                IngestMessage::drift_report_body(&report.to_string()),
                "payments",
                "rep-9",
            ),
        )
        .await
        .unwrap();
    w.run().await;
    let findings = all_findings(w.table.as_ref(), TENANT).await.unwrap();
    let sev: Vec<(&str, Severity)> = findings
        .iter()
        .map(|f| (f.resource_type.as_str(), f.severity))
        .collect();
    assert!(sev.contains(&("rds:db", Severity::Critical)), "{sev:?}");
    assert!(sev.contains(&("ec2:instance", Severity::Low)), "{sev:?}");
    assert!(findings.iter().all(|f| f.id.starts_with("drift-r-")));
    let stack = load_stack(w.table.as_ref(), TENANT, "payments")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stack.drift_score, 100.0 - 40.0 - 2.0);
    assert_eq!(
        stack.owner.as_deref(),
        Some("team-payments"),
        "declared fields kept"
    );
}
