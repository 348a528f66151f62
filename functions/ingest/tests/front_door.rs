//! The ingest function's two doors as the template wires them: CloudTrail events from the bus
//! (any account may put them; only connected accounts get through, attributed to the account
//! EventBridge names) and `POST /v1/drift-reports` from API Gateway, both through one `main`.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dd0c_ingest::drift_reports::DriftReports;
use dd0c_ingest::Ingest;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::entity::account_link;
use dd0c_shared::lambda::{http_or_event_function, is_http_api_request};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::{AccountLink, AccountStatus};
use dd0c_shared::testing::active_account;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/api");

fn envelope(sender: &str, recipient: &str, event_id: &str) -> Value {
    json!({
        "version": "0", "id": format!("env-{event_id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": sender, "time": "2026-11-22T05:00:00Z", "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08", "eventID": event_id, "eventName": "RunInstances",
            "eventSource": "ec2.amazonaws.com", "eventTime": "2026-11-22T05:00:00Z",
            "awsRegion": "us-east-1", "recipientAccountId": recipient,
            "userIdentity": {"type": "IAMUser", "accountId": recipient, "arn": format!("arn:aws:iam::{recipient}:user/alice")}
        }
    })
}

struct World {
    ingest: Ingest,
    queue: Arc<MemoryQueue>,
    table: Arc<MemoryTable>,
}

fn world() -> World {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap(),
    ));
    let table = MemoryTable::shared(clock.clone());
    let queue = Arc::new(MemoryQueue::new(["ingest"], clock));
    World {
        ingest: Ingest::new(queue.clone()).with_account_gate(table.clone()),
        queue,
        table,
    }
}

async fn connect(table: &MemoryTable, account: &str, status: AccountStatus) {
    let link = AccountLink {
        account_id: account.into(),
        tenant_id: "t-1".into(),
        status,
        connected_at: Utc::now(),
        ..active_account()
    };
    account_link::link_if_absent(table, &link).await.unwrap();
}

#[tokio::test]
async fn only_connected_accounts_get_through_the_open_bus() {
    let w = world();
    connect(&w.table, "111111111111", AccountStatus::Active).await;
    connect(&w.table, "333333333333", AccountStatus::Paused).await;
    let n = w
        .ingest
        .handle_eventbridge(envelope("111111111111", "111111111111", "e-1"))
        .await
        .unwrap();
    assert_eq!(n, 1);
    for (account, id) in [("222222222222", "e-2"), ("333333333333", "e-3")] {
        let n = w
            .ingest
            .handle_eventbridge(envelope(account, account, id))
            .await
            .unwrap();
        assert_eq!(n, 0, "{account} is not an active connected account");
    }
    let queued = w.queue.peek_all("ingest");
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].group_id, "111111111111");
}

#[tokio::test]
async fn a_record_naming_another_account_than_its_sender_is_dropped() {
    let w = world();
    connect(&w.table, "111111111111", AccountStatus::Active).await;
    connect(&w.table, "222222222222", AccountStatus::Active).await;
    // Account 2 forwards a record that claims to be account 1's.
    let n = w
        .ingest
        .handle_eventbridge(envelope("222222222222", "111111111111", "e-forged"))
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(w.queue.depth("ingest"), 0);
}

#[tokio::test]
async fn one_main_serves_api_gateway_requests_and_bus_events() {
    let w = world();
    connect(&w.table, "111111111111", AccountStatus::Active).await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap(),
    ));
    let reports = DriftReports::new(w.table.clone(), w.queue.clone(), clock);
    let mut request: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{FIXTURES}/example-apigw-v2-request-no-authorizer.json"
        ))
        .unwrap(),
    )
    .unwrap();
    request["rawPath"] = json!("/v1/drift-reports");
    request["requestContext"]["http"]["method"] = json!("POST");
    request["requestContext"]["http"]["path"] = json!("/v1/drift-reports");
    request["body"] = json!("{}");
    assert!(is_http_api_request(&request));
    let bus_event = envelope("111111111111", "111111111111", "e-1");
    assert!(!is_http_api_request(&bus_event));

    let answer = http_or_event_function(
        &reports,
        LambdaEvent::new(request, Context::default()),
        |_| async { panic!("an API Gateway request must not reach the bus handler") },
    )
    .await
    .unwrap();
    // The drift-report handler answered (no API key: 401), not a 500 from the wrong handler.
    assert_eq!(answer["statusCode"], 401, "{answer}");

    let ingest = &w.ingest;
    let answer = http_or_event_function(
        &reports,
        LambdaEvent::new(bus_event, Context::default()),
        |event| async move {
            let n = ingest.handle_eventbridge(event.payload).await.unwrap();
            Ok(json!({ "forwarded": n }))
        },
    )
    .await
    .unwrap();
    assert_eq!(answer["forwarded"], 1);
    assert_eq!(w.queue.depth("ingest"), 1);
}
