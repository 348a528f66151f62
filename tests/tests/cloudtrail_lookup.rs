//! CloudTrail `LookupEvents` through the real AWS SDK adapter (`AwsAccounts`), and the
//! backfill driven by it.
//!
//! moto's gap (moto 5.2.5): CloudTrail's `LookupEvents` is not implemented at all: moto answers
//! HTTP 500 (`lookup_events` is missing from its CloudTrail backend), so neither paging, the
//! `ReadOnly` lookup attribute nor throttling can be exercised there. The test against moto
//! shows the adapter turns that into a clear, retryable error after assuming the role on moto;
//! paging, the request's shape and AWS's error answers (`ThrottlingException`,
//! `UnrecognizedClientException` in a region the account has not enabled, `AccessDeniedException`)
//! are exercised against a scripted CloudTrail endpoint below that speaks the service's JSON
//! protocol (the SDK serialises and parses for real; the endpoint answers as AWS documents).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{Duration, TimeZone, Utc};
use dd0c_normalizer::backfill::{start_event, Pause};
use dd0c_normalizer::{Backfill, BackfillLimits, NormalizerConfig};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::accounts::{Accounts, AccountsError};
use dd0c_shared::batch::MessageHandler;
use dd0c_shared::bus::{Bus, QueueBus, RoutingTable};
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::entity::backfill::{self as progress, BackfillStatus};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::Queue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};
use dd0c_tests::moto::MotoServer;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const ROLE: &str = "arn:aws:iam::123456789012:role/dd0c-readonly";
const EXTERNAL_ID: &str = "0b5e4c1a-8f2d-4e7b-9a3c-1d2e3f4a5b6c";

#[tokio::test]
async fn lookup_events_on_moto_is_a_clear_retryable_error() {
    let moto = MotoServer::start();
    let accounts = AwsAccounts::new(moto.sdk_config().await);
    let session = accounts
        .assume_role(ROLE, EXTERNAL_ID)
        .await
        .expect("assume");
    let now = Utc::now();
    let result = accounts
        .lookup_write_events(&session, "us-east-1", now - Duration::days(90), now, None)
        .await;
    // moto 5.2.5 has no LookupEvents (HTTP 500): the adapter says the call failed and that it
    // may be retried, rather than reading an empty history.
    match result {
        Err(AccountsError::Unavailable(m)) => assert!(m.contains("cloudtrail:LookupEvents"), "{m}"),
        other => panic!("expected Unavailable from moto, got {other:?}"),
    }
}

/// One request the scripted endpoint received.
#[derive(Debug, Clone)]
struct Received {
    target: String,
    region: String,
    body: Value,
}

/// A scripted AWS endpoint: STS `AssumeRole` (query protocol, XML) and CloudTrail
/// `LookupEvents` (JSON 1.1) answered from a script, in order.
struct ScriptedCloudTrail {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

/// What the endpoint answers to one LookupEvents request.
enum Answer {
    Page(Vec<Value>, Option<&'static str>),
    Error(&'static str),
}

fn region_of(authorization: &str) -> String {
    // Credential=AKID/20261201/us-east-1/cloudtrail/aws4_request
    authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_owned()
}

const ASSUME_ROLE_XML: &str = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/dd0c-readonly/dd0c</Arn><AssumedRoleId>AROAEXAMPLE:dd0c</AssumedRoleId></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></AssumeRoleResponse>"#;

const EC2_AUTH_FAILURE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors><RequestID>r-2</RequestID></Response>"#;
const EC2_NO_VOLUMES_XML: &str = r#"<DescribeVolumesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-3</requestId><volumeSet/></DescribeVolumesResponse>"#;

impl ScriptedCloudTrail {
    /// Answers LookupEvents in `region` from `script` (in order); any other region answers
    /// `UnrecognizedClientException` (not enabled), except those in `empty` (an empty page).
    async fn start(
        region: &'static str,
        script: Vec<Answer>,
        empty: &'static [&'static str],
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, script) = (log.clone(), script.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut headers = Vec::new();
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            headers.push(line.trim_end().to_owned());
                        }
                        let header = |name: &str| {
                            headers
                                .iter()
                                .find_map(|h| {
                                    let (k, v) = h.split_once(':')?;
                                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                                })
                                .unwrap_or_default()
                        };
                        let length: usize = header("content-length").parse().unwrap_or(0);
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let target = header("x-amz-target");
                        let req_region = region_of(&header("authorization"));
                        let query = String::from_utf8_lossy(&body).into_owned();
                        let (status, content_type, answer) = if query
                            .contains("Action=DescribeVolumes")
                        {
                            // EC2 answers a region the account has not enabled with AuthFailure.
                            if req_region == "ap-east-1" {
                                (401, "text/xml", EC2_AUTH_FAILURE_XML.to_owned())
                            } else {
                                (200, "text/xml", EC2_NO_VOLUMES_XML.to_owned())
                            }
                        } else if target.is_empty() {
                            (200, "text/xml", ASSUME_ROLE_XML.to_owned())
                        } else {
                            log.lock().unwrap().push(Received {
                                target: target.clone(),
                                region: req_region.clone(),
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            });
                            let next = if req_region == region {
                                script.lock().unwrap().pop_front()
                            } else if empty.contains(&req_region.as_str()) {
                                Some(Answer::Page(Vec::new(), None))
                            } else {
                                Some(Answer::Error("UnrecognizedClientException"))
                            };
                            match next {
                                Some(Answer::Page(events, token)) => {
                                    let events: Vec<Value> = events
                                        .iter()
                                        .map(|e| json!({
                                            "EventId": e["eventID"], "EventName": e["eventName"],
                                            "ReadOnly": "false", "EventTime": 1.7e9,
                                            "CloudTrailEvent": e.to_string(),
                                        }))
                                        .collect();
                                    let mut out = json!({ "Events": events });
                                    if let Some(t) = token {
                                        out["NextToken"] = json!(t);
                                    }
                                    (200, "application/x-amz-json-1.1", out.to_string())
                                }
                                Some(Answer::Error(code)) => (
                                    400,
                                    "application/x-amz-json-1.1",
                                    json!({"__type": code, "message": format!("scripted {code}")})
                                        .to_string(),
                                ),
                                None => (
                                    400,
                                    "application/x-amz-json-1.1",
                                    json!({"__type": "InvalidNextTokenException", "message": "script ended"})
                                        .to_string(),
                                ),
                            }
                        };
                        let response = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nx-amzn-requestid: r-1\r\n\r\n{answer}",
                            answer.len()
                        );
                        if write.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { port, received }
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "testing", "testing", None, None, "static",
            ))
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .load()
            .await
    }

    fn lookups(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn launch(id: &str, days_before: i64) -> Value {
    let at = connected() - Duration::days(days_before);
    json!({
        "eventVersion": "1.08", "eventID": id,
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
        "awsRegion": "eu-west-1", "recipientAccountId": "123456789012",
        "readOnly": false, "managementEvent": true, "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                          "userName": "alice", "accountId": "123456789012"},
        "requestParameters": {"instanceType": "m5.large",
                              "instancesSet": {"items": [{"minCount": 1, "maxCount": 1}]}},
        "responseElements": {"instancesSet": {"items": [
            {"instanceId": format!("i-{id}"), "instanceType": "m5.large"}]}}
    })
}

fn connected() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

#[tokio::test]
async fn the_sdk_adapter_pages_asks_for_writes_only_and_tells_throttling_apart() {
    let endpoint = ScriptedCloudTrail::start(
        "eu-west-1",
        vec![
            Answer::Page(vec![launch("a", 1), launch("b", 2)], Some("token-2")),
            Answer::Error("ThrottlingException"),
            Answer::Page(vec![launch("c", 3)], None),
            Answer::Error("AccessDeniedException"),
        ],
        &[],
    )
    .await;
    let accounts = AwsAccounts::new(endpoint.sdk().await);
    let session = accounts
        .assume_role(ROLE, EXTERNAL_ID)
        .await
        .expect("assume");
    let (start, end) = (connected() - Duration::days(90), connected());

    let first = accounts
        .lookup_write_events(&session, "eu-west-1", start, end, None)
        .await
        .expect("page 1");
    assert_eq!(first.events.len(), 2);
    assert_eq!(first.next_token.as_deref(), Some("token-2"));
    let record: Value = serde_json::from_str(&first.events[0]).expect("CloudTrail JSON");
    assert_eq!(record["eventID"], "a");

    // Throttling is its own error (the SDK does not retry it behind the backfill's back).
    let throttled = accounts
        .lookup_write_events(&session, "eu-west-1", start, end, Some("token-2"))
        .await;
    assert!(
        matches!(throttled, Err(AccountsError::Throttled(_))),
        "{throttled:?}"
    );
    let last = accounts
        .lookup_write_events(&session, "eu-west-1", start, end, Some("token-2"))
        .await
        .expect("page 2");
    assert_eq!((last.events.len(), last.next_token), (1, None));
    let denied = accounts
        .lookup_write_events(&session, "eu-west-1", start, end, None)
        .await;
    assert!(
        matches!(&denied, Err(AccountsError::MissingPermission { action, .. }) if action == "cloudtrail:LookupEvents"),
        "{denied:?}"
    );
    let disabled = accounts
        .lookup_write_events(&session, "ap-east-1", start, end, None)
        .await;
    assert_eq!(
        disabled.unwrap_err(),
        AccountsError::RegionNotEnabled("ap-east-1".into())
    );
    // EC2 says it another way (AuthFailure): the same typed error, for the zombie scan.
    assert_eq!(
        accounts.volumes(&session, "ap-east-1").await.unwrap_err(),
        AccountsError::RegionNotEnabled("ap-east-1".into())
    );
    assert_eq!(
        accounts.volumes(&session, "eu-west-1").await,
        Ok(Vec::new())
    );

    // What the SDK sent: LookupEvents with ReadOnly=false, the window, 50 a page, the token.
    let sent = endpoint.lookups();
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(sent.iter().all(|r| r.target.ends_with(".LookupEvents")));
    assert_eq!(
        sent[0].body["LookupAttributes"],
        json!([{"AttributeKey": "ReadOnly", "AttributeValue": "false"}])
    );
    assert_eq!(
        sent[0].body["StartTime"].as_f64(),
        Some(start.timestamp() as f64)
    );
    assert_eq!(
        sent[0].body["EndTime"].as_f64(),
        Some(end.timestamp() as f64)
    );
    assert_eq!(sent[0].body["MaxResults"], json!(50));
    assert!(sent[0].body.get("NextToken").is_none());
    assert_eq!(sent[1].body["NextToken"], json!("token-2"));
    assert_eq!(sent[0].region, "eu-west-1");
}

struct ClockPause(ManualClock);

#[async_trait::async_trait]
impl Pause for ClockPause {
    async fn pause(&self, duration: Duration) {
        self.0.advance(duration);
    }
}

#[tokio::test]
async fn a_backfill_through_the_sdk_adapter_reads_every_page_and_survives_throttling() {
    let endpoint = ScriptedCloudTrail::start(
        "eu-west-1",
        vec![
            Answer::Page(vec![launch("a", 1), launch("b", 20)], Some("token-2")),
            Answer::Error("ThrottlingException"),
            Answer::Page(vec![launch("c", 40)], Some("token-3")),
            Answer::Page(vec![launch("d", 80)], None),
        ],
        &["us-east-1", "us-east-2", "us-west-2"],
    )
    .await;
    let clock = ManualClock::new(connected() + Duration::seconds(5));
    let shared: SharedClock = Arc::new(clock.clone());
    let routing = RoutingTable::builtin().clone();
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        shared.clone(),
    ));
    let bus = Arc::new(QueueBus::new(routing, queue.clone(), shared.clone()));
    let table = Arc::new(MemoryTable::new(shared.clone()));
    let link = AccountLink {
        account_id: "123456789012".into(),
        tenant_id: "t-1".into(),
        status: AccountStatus::Active,
        role_arn: Some(ROLE.into()),
        external_id: Some(EXTERNAL_ID.into()),
        remediation_role_arn: None,
        connected_at: connected(),
        status_changed_at: None,
    };
    tenancy::link_account_if_absent(table.as_ref(), &link)
        .await
        .unwrap();
    let backfill = Backfill::new(
        table.clone(),
        bus.clone(),
        shared,
        Arc::new(AwsAccounts::new(endpoint.sdk().await)),
        NormalizerConfig {
            auto_link_tenant: None,
        },
    )
    .with_limits(BackfillLimits::default())
    .with_pause(Arc::new(ClockPause(clock.clone())));
    bus.publish(vec![start_event("t-1", "123456789012")])
        .await
        .unwrap();
    for _ in 0..200 {
        let Some(m) = queue
            .receive("backfill", 1, std::time::Duration::from_secs(30))
            .await
            .unwrap()
            .pop()
        else {
            break;
        };
        backfill.handle(&m.body).await.expect("step");
        queue.delete("backfill", &m.receipt_handle).await.unwrap();
    }
    assert_eq!(queue.depth("backfill"), 0);
    let euw1 = progress::load(table.as_ref(), "t-1", "123456789012", "eu-west-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(euw1.status, BackfillStatus::Done);
    assert_eq!(
        (
            euw1.pages,
            euw1.requests,
            euw1.throttled,
            euw1.events,
            euw1.cost_events
        ),
        (3, 4, 1, 4, 4)
    );
    assert_eq!(euw1.oldest_event, Some(connected() - Duration::days(80)));
    let use1 = progress::load(table.as_ref(), "t-1", "123456789012", "us-east-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((use1.status, use1.events), (BackfillStatus::Done, 0));
    let ape1 = progress::load(table.as_ref(), "t-1", "123456789012", "ap-east-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ape1.status, BackfillStatus::RegionNotEnabled);
    let tokens: Vec<Option<String>> = endpoint
        .lookups()
        .iter()
        .filter(|r| r.region == "eu-west-1")
        .map(|r| {
            r.body
                .get("NextToken")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        tokens,
        vec![
            None,
            Some("token-2".into()),
            Some("token-2".into()),
            Some("token-3".into())
        ]
    );
}
