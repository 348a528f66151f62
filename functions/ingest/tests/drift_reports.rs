//! `POST /v1/drift-reports`: auth (401), validation naming the field (400), size limits
//! (413), gzip, multi-part reassembly, scrubbing, and what lands on the ingest queue.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use dd0c_ingest::drift_reports::{
    parse_part, redact_all, scrub, scrub_value, secret_name, secret_value, DriftReports,
    MAX_BODY_BYTES, PATH, REDACTED,
};
use dd0c_shared::auth::api_keys;
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::drift::{DriftReport, ReportedDrift};
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::Queue;
use dd0c_shared::store::memory::MemoryTable;
use serde_json::{json, Value};

struct Env {
    handler: DriftReports,
    queue: Arc<MemoryQueue>,
    key: String,
}

async fn env() -> Env {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0).unwrap(),
    ));
    let table = MemoryTable::shared(clock.clone());
    let queue = Arc::new(MemoryQueue::new(["ingest"], clock.clone()));
    let (_, key) = api_keys::create(table.as_ref(), "t-1", "agent", None, clock.now_for_test())
        .await
        .unwrap();
    Env {
        handler: DriftReports::new(table, queue.clone(), clock),
        queue,
        key,
    }
}

trait NowForTest {
    fn now_for_test(&self) -> chrono::DateTime<Utc>;
}
impl NowForTest for Arc<ManualClock> {
    fn now_for_test(&self) -> chrono::DateTime<Utc> {
        use dd0c_shared::clock::Clock;
        self.now()
    }
}

fn body(extra: Value) -> Value {
    let mut b = json!({
        "report_id": "rep-1", "stack_id": "web-prod", "tool": "terraform", "account_id": "111122223333",
        "drifts": [{"resource_address": "aws_security_group.web", "resource_type": "aws_security_group",
                    "resource_id": "sg-1", "attribute": "ingress", "old": [], "new": [{"from_port": 22}]}]
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
        b.extend(e);
    }
    b
}

impl Env {
    async fn post(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> HttpResponse {
        let mut req = HttpRequest::new("POST", PATH)
            .with_header("authorization", &format!("Bearer {}", self.key))
            .with_body(body);
        for (k, v) in headers {
            req = req.with_header(k, v);
        }
        self.handler.handle(req).await
    }
    async fn post_json(&self, v: &Value) -> HttpResponse {
        self.post(serde_json::to_vec(v).unwrap(), &[]).await
    }
    async fn queued(&self) -> Vec<(String, DriftReport)> {
        self.queue
            .receive("ingest", 10, Duration::from_secs(30))
            .await
            .unwrap()
            .into_iter()
            .map(|m| {
                let v: Value = serde_json::from_str(&m.body).unwrap();
                assert_eq!(v["type"], "drift_report");
                (
                    m.group_id,
                    serde_json::from_value(v["report"].clone()).unwrap(),
                )
            })
            .collect()
    }
}

fn problem(r: &HttpResponse) -> Value {
    assert_eq!(r.headers["content-type"], "application/problem+json");
    serde_json::from_str(&r.body).unwrap()
}

#[tokio::test]
async fn accepts_a_report_and_enqueues_it_grouped_by_stack() {
    let e = env().await;
    let r = e.post_json(&body(json!({}))).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let q = e.queued().await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, "stack-web-prod");
    let report = &q[0].1;
    assert_eq!(
        (
            report.tenant_id.as_str(),
            report.report_id.as_str(),
            report.stack_id.as_str()
        ),
        ("t-1", "rep-1", "web-prod")
    );
    assert_eq!(report.drifts[0].resource_id.as_deref(), Some("sg-1"));
}

#[tokio::test]
async fn unauthenticated_requests_get_401() {
    let e = env().await;
    let no_key = e
        .handler
        .handle(
            HttpRequest::new("POST", PATH).with_body(serde_json::to_vec(&body(json!({}))).unwrap()),
        )
        .await;
    assert_eq!(no_key.status, 401);
    let wrong = e
        .handler
        .handle(
            HttpRequest::new("POST", PATH)
                .with_header("authorization", "Bearer dd0c_0000")
                .with_body(b"{}".to_vec()),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(e.queue.depth("ingest"), 0);
}

#[tokio::test]
async fn validation_names_the_field() {
    let e = env().await;
    let cases = [
        (json!({"report_id": null}), "report_id"),
        (json!({"report_id": "has space"}), "report_id"),
        (json!({"stack_id": 5}), "stack_id"),
        (json!({"account_id": "12"}), "account_id"),
        (json!({"tool": "chef"}), "tool"),
        (json!({"drifts": "x"}), "drifts"),
        (json!({"part": 3, "parts": 2}), "part"),
        (json!({"parts": 0}), "parts"),
        (
            json!({"drifts": [{"resource_address": "a", "resource_type": "t", "old": 1}]}),
            "drifts[0].attribute",
        ),
        (
            json!({"drifts": [{"resource_address": "a", "resource_type": "t", "attribute": "x", "old": 1, "sensitive": "yes"}]}),
            "drifts[0].sensitive",
        ),
        (
            json!({"drifts": [{"resource_address": "a", "resource_type": "t", "attribute": "x"}]}),
            "drifts[0].new",
        ),
    ];
    for (extra, field) in cases {
        let r = e.post_json(&body(extra.clone())).await;
        assert_eq!(r.status, 400, "{extra}: {}", r.body);
        assert_eq!(problem(&r)["field"], field, "{extra}");
    }
    let r = e.post(b"not json".to_vec(), &[]).await;
    assert_eq!(
        (r.status, problem(&r)["field"].clone()),
        (400, json!("body"))
    );
    assert_eq!(e.queue.depth("ingest"), 0);
}

/// Errors deep in the body name the field by its path (`drifts[3].attribute`) and say what it
/// must be, whatever failed: the type (while deserializing) or the value (after).
#[test]
fn nested_errors_name_the_path_and_what_the_field_must_be() {
    let ok = drift("aws_instance.ok");
    let with = |i: usize, d: Value| {
        let mut drifts = vec![ok.clone(), ok.clone(), ok.clone(), ok.clone()];
        drifts[i] = d;
        serde_json::to_vec(&body(json!({ "drifts": drifts }))).unwrap()
    };
    let patched = |i: usize, patch: Value| {
        let mut d = ok.clone();
        d.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        with(i, d)
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            patched(3, json!({"attribute": 7})),
            "drifts[3].attribute",
            "drifts[3].attribute must be a string",
        ),
        (
            patched(1, json!({"attribute": null})),
            "drifts[1].attribute",
            "drifts[1].attribute is required",
        ),
        (
            patched(2, json!({"resource_type": " "})),
            "drifts[2].resource_type",
            "drifts[2].resource_type is required",
        ),
        (
            patched(2, json!({"resource_id": ["i-1"]})),
            "drifts[2].resource_id",
            "drifts[2].resource_id must be a string",
        ),
        (
            patched(1, json!({"sensitive": "yes"})),
            "drifts[1].sensitive",
            "drifts[1].sensitive must be true or false",
        ),
        (
            with(1, json!(["aws_instance.x", "aws_instance", null, "type"])),
            "drifts[1]",
            "drifts[1] must be an object",
        ),
        (
            with(0, Value::Null),
            "drifts[0]",
            "drifts[0] must be an object",
        ),
        (
            serde_json::to_vec(&body(json!({"part": -1}))).unwrap(),
            "part",
            "part must be a whole number ≥ 1",
        ),
        (
            serde_json::to_vec(&body(json!({"parts": 1.5}))).unwrap(),
            "parts",
            "parts must be a whole number ≥ 1",
        ),
        (
            serde_json::to_vec(&body(json!({"region": false}))).unwrap(),
            "region",
            "region must be a string",
        ),
        (b"[]".to_vec(), "body", "the body must be a JSON object"),
    ];
    for (bytes, field, detail) in cases {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let (status, got_detail, got_field) = parse_part(&bytes).expect_err(&text);
        assert_eq!(
            (status, got_field.as_deref(), got_detail.as_str()),
            (400, Some(field), detail),
            "{text}"
        );
    }
    // `null` is a value: `"old": null` with no `new` is a drift to null, not a missing one.
    let part = parse_part(&with(0, json!({"resource_address": "a", "resource_type": "t", "attribute": "x", "old": null, "sensitive": null})))
        .unwrap();
    assert_eq!(
        (
            part.drifts[0].old.clone(),
            part.drifts[0].new.clone(),
            part.drifts[0].sensitive
        ),
        (Value::Null, Value::Null, false)
    );
    let (status, detail, field) = parse_part(br#"{"report_id": "a"} x"#).unwrap_err();
    assert_eq!((status, field.as_deref()), (400, Some("body")));
    assert!(
        detail.starts_with("the body is not JSON: trailing characters"),
        "{detail}"
    );
    let (_, detail, field) = parse_part(br#"{"report_id": "a", "report_id": "b"}"#).unwrap_err();
    assert_eq!(
        (
            field.as_deref(),
            detail.contains("duplicate field `report_id`")
        ),
        (Some("body"), true),
        "{detail}"
    );
}

#[tokio::test]
async fn oversize_is_413() {
    let e = env().await;
    let r = e.post(vec![b' '; MAX_BODY_BYTES + 1], &[]).await;
    assert_eq!(r.status, 413);
    let r = e.post_json(&body(json!({"parts": 101, "part": 1}))).await;
    assert_eq!(r.status, 413);
    let many: Vec<Value> = (0..5001)
        .map(|i| json!({"resource_address": format!("a.{i}"), "resource_type": "t", "attribute": "x", "new": 1}))
        .collect();
    let r = e
        .post(
            serde_json::to_vec(&body(json!({"drifts": many}))).unwrap(),
            &[],
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = e
        .post(b"{}".to_vec(), &[("content-encoding", "gzip")])
        .await;
    assert_eq!(r.status, 400, "not gzip at all: {}", r.body);
    // A gzip bomb: small on the wire, beyond the decoded limit.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b' '; 9 * 1024 * 1024]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < MAX_BODY_BYTES);
    let r = e.post(bomb, &[("content-encoding", "gzip")]).await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = e.post(b"{}".to_vec(), &[("content-encoding", "br")]).await;
    assert_eq!(r.status, 415);
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let e = env().await;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&serde_json::to_vec(&body(json!({}))).unwrap())
        .unwrap();
    let r = e
        .post(enc.finish().unwrap(), &[("Content-Encoding", "gzip")])
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(e.queued().await[0].1.drifts.len(), 1);
}

fn drift(address: &str) -> Value {
    json!({"resource_address": address, "resource_type": "aws_instance", "attribute": "instance_type", "old": "t3.micro", "new": "m5.large"})
}

#[tokio::test]
async fn parts_are_reassembled_in_order_whatever_the_arrival_order() {
    let e = env().await;
    for (part, addr) in [(3, "c"), (1, "a")] {
        let r = e
            .post_json(&body(
                json!({"report_id": "multi", "part": part, "parts": 3, "drifts": [drift(addr)]}),
            ))
            .await;
        assert_eq!(r.status, 202);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["complete"], false);
    }
    assert_eq!(
        e.queue.depth("ingest"),
        0,
        "nothing queued before the last part"
    );
    // A repeated part does not count twice.
    let r = e
        .post_json(&body(
            json!({"report_id": "multi", "part": 1, "parts": 3, "drifts": [drift("a")]}),
        ))
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["parts_received"],
        2
    );
    let r = e
        .post_json(&body(
            json!({"report_id": "multi", "part": 2, "parts": 3, "drifts": [drift("b")]}),
        ))
        .await;
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (v["complete"].clone(), v["drifts"].clone()),
        (json!(true), json!(3))
    );
    let q = e.queued().await;
    assert_eq!(q.len(), 1);
    let order: Vec<&str> = q[0]
        .1
        .drifts
        .iter()
        .map(|d| d.resource_address.as_str())
        .collect();
    assert_eq!(order, ["a", "b", "c"]);
}

fn reported(attribute: &str, old: Value, new: Value, sensitive: bool) -> ReportedDrift {
    ReportedDrift {
        resource_address: "x".into(),
        resource_type: "t".into(),
        resource_id: None,
        attribute: attribute.into(),
        old,
        new,
        sensitive,
    }
}

#[test]
fn scrubbing_keeps_structure_and_leaves_nothing_secret_looking() {
    let mut sensitive = reported("custom", json!({"a": [1, "b", null]}), json!("plain"), true);
    scrub(&mut sensitive);
    assert_eq!(sensitive.old, json!({"a": [REDACTED, REDACTED, null]}));
    assert_eq!(sensitive.new, json!(REDACTED));

    let mut named = reported("master_password", json!("hunter2"), json!("hunter3"), false);
    scrub(&mut named);
    assert_eq!(
        (named.old.clone(), named.new.clone()),
        (json!(REDACTED), json!(REDACTED))
    );

    let env = json!({"variables": {"DB_PASSWORD": "p@ss", "STRIPE": "sk_live_51HxYz", "AWS_KEY": "AKIAIOSFODNN7EXAMPLE",
        "SIGNING": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "JWT": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk",
        "PEM": "-----BEGIN RSA PRIVATE KEY-----\nMIIE", "GH": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "LOG_LEVEL": "debug", "REGION": "us-east-1", "QUEUE": "https://sqs.us-east-1.amazonaws.com/111122223333/q",
        "ROLE": "arn:aws:iam::111122223333:role/app", "ID": "3f1c2a4e-9b8d-4c7e-a6f5-0d1e2c3b4a59"}});
    let mut d = reported("environment", json!(null), env, false);
    scrub(&mut d);
    let v = &d.new["variables"];
    for k in [
        "DB_PASSWORD",
        "STRIPE",
        "AWS_KEY",
        "SIGNING",
        "JWT",
        "PEM",
        "GH",
    ] {
        assert_eq!(v[k], REDACTED, "{k}");
    }
    for (k, kept) in [
        ("LOG_LEVEL", "debug"),
        ("REGION", "us-east-1"),
        ("ROLE", "arn:aws:iam::111122223333:role/app"),
        ("ID", "3f1c2a4e-9b8d-4c7e-a6f5-0d1e2c3b4a59"),
    ] {
        assert_eq!(v[k], kept, "{k}");
    }
    assert!(v["QUEUE"].as_str().unwrap().starts_with("https://"));
    assert_eq!(d.old, Value::Null, "null stays null");
    // Tags lists keep their Key/Value shape.
    let tags = scrub_value(&json!([{"Key": "owner", "Value": "team-a"}]));
    assert_eq!(tags, json!([{"Key": "owner", "Value": "team-a"}]));
    assert_eq!(redact_all(&json!([[], {}])), json!([[], {}]));

    assert!(
        secret_name("tags.api_token")
            && secret_name("client_secret")
            && secret_name("private_key_pem")
    );
    assert!(
        !secret_name("kms_key_id") && !secret_name("secret_arn") && !secret_name("instance_type")
    );
    assert!(secret_value("ASIAY34FZKBOKMUTVV7A") && !secret_value("sg-0123456789abcdef0"));
}

#[tokio::test]
async fn secrets_never_reach_the_queue() {
    let e = env().await;
    let drifts = json!([{"resource_address": "aws_db_instance.main", "resource_type": "aws_db_instance", "attribute": "password",
                          "old": "old-pass", "new": "new-pass"},
                         {"resource_address": "aws_lambda_function.f", "resource_type": "aws_lambda_function", "attribute": "environment",
                          "old": {}, "new": {"variables": {"TOKEN": "abc", "KEY": "AKIAIOSFODNN7EXAMPLE"}}, "sensitive": false}]);
    let r = e.post_json(&body(json!({"drifts": drifts}))).await;
    assert_eq!(r.status, 202);
    let (_, report) = e.queued().await.remove(0);
    let text = serde_json::to_string(&report).unwrap();
    for secret in ["old-pass", "new-pass", "AKIAIOSFODNN7EXAMPLE", "\"abc\""] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert_eq!(report.drifts[1].new["variables"]["TOKEN"], REDACTED);
}

#[tokio::test]
async fn wrong_method_and_path() {
    let e = env().await;
    let r = e.handler.handle(HttpRequest::new("GET", PATH)).await;
    assert_eq!(r.status, 405);
    let r = e
        .handler
        .handle(HttpRequest::new("POST", "/v1/other"))
        .await;
    assert_eq!(r.status, 404);
}

/// A part may be far larger than a DynamoDB item (400 KB) once decoded: it is kept in
/// pieces that fit, and the report comes out whole and in order.
#[tokio::test]
async fn a_part_larger_than_a_table_item_is_kept_and_reassembled() {
    let e = env().await;
    let big = |prefix: &str| -> Vec<Value> {
        (0..300)
            .map(|i| {
                json!({"resource_address": format!("{prefix}{i:03}"), "resource_type": "aws_instance",
                       "attribute": "description", "old": "x".repeat(2_000), "new": "y".repeat(2_000)})
            })
            .collect()
    };
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(
        &serde_json::to_vec(&body(
            json!({"report_id": "large", "part": 1, "parts": 2, "drifts": big("a")}),
        ))
        .unwrap(),
    )
    .unwrap();
    let r = e
        .post(enc.finish().unwrap(), &[("Content-Encoding", "gzip")])
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["complete"],
        false
    );
    let r = e
        .post_json(&body(
            json!({"report_id": "large", "part": 2, "parts": 2, "drifts": [drift("b")]}),
        ))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (v["complete"].clone(), v["drifts"].clone()),
        (json!(true), json!(301))
    );
    let mut addresses = Vec::new();
    loop {
        let batch = e.queued().await;
        if batch.is_empty() {
            break;
        }
        addresses.extend(
            batch
                .into_iter()
                .flat_map(|(_, r)| r.drifts)
                .map(|d| d.resource_address),
        );
    }
    let expected: Vec<String> = (0..300)
        .map(|i| format!("a{i:03}"))
        .chain(["b".to_owned()])
        .collect();
    assert_eq!(addresses, expected);
}
