use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use clap::Parser;
use dd0c_shared::auth;
use dd0c_shared::chat::RecordingChat;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_slack::OAuthConfig;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::assets;
use super::compose::{load_pipeline, table_path};
use super::http::{self, MAX_BODY_BYTES};
use super::routing::{Function, Mounts};
use super::secrets::{
    LocalSecrets, DEMO_SLACK_SIGNING_SECRET, DEMO_STRIPE_WEBHOOK_SECRET, LOCAL_SLACK_REDIRECT_URI,
};
use super::server::LocalServer;
use super::token::token;
use crate::args::{Cli, Command};
use crate::pipeline::{EmbeddedPipeline, PipelineOptions, LOCAL_TENANT};

fn quiet_pipeline() -> EmbeddedPipeline {
    EmbeddedPipeline::new(PipelineOptions {
        start: Utc::now(),
        chat: Arc::new(RecordingChat::default()),
        default_channel: "#test".into(),
        policy: dd0c_shared::governance::Policy::demo().unwrap(),
    })
}

fn server_over(pipeline: EmbeddedPipeline, table_path: Option<PathBuf>) -> LocalServer {
    let mounts = Mounts::local(&pipeline, &LocalSecrets::from_env());
    LocalServer::new(pipeline, mounts, table_path)
}

fn body(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

async fn local_bearer(server: &LocalServer) -> String {
    let r = server.handle(HttpRequest::new("GET", "/local/token")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    format!("Bearer {}", body(&r)["token"].as_str().expect("token"))
}

#[tokio::test]
async fn serves_the_dashboard_with_content_types() {
    let server = server_over(quiet_pipeline(), None);
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
        ("/index.html", "text/html; charset=utf-8", "app.js"),
        ("/app.js", "text/javascript; charset=utf-8", "/local/token"),
        ("/style.css", "text/css; charset=utf-8", "--critical"),
        ("/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = server.handle(HttpRequest::new("GET", path)).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.headers["content-type"], content_type, "{path}");
        assert!(r.body.contains(marker), "{path} lacks {marker}");
        assert!(r.headers["content-security-policy"].contains("default-src 'self'"));
    }
}

#[tokio::test]
async fn no_path_reaches_outside_the_embedded_files() {
    let server = server_over(quiet_pipeline(), None);
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/dashboard/app.js",
        "//etc/passwd",
        "/app.js/",
        "/index.html%00",
        "/.git/config",
    ] {
        let r = server.handle(HttpRequest::new("GET", path)).await;
        assert_eq!(r.status, 404, "{path} answered {}", r.status);
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    let r = server.handle(HttpRequest::new("POST", "/app.js")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn config_says_local_and_points_the_api_at_this_origin() {
    let server = server_over(quiet_pipeline(), None);
    let r = server.handle(HttpRequest::new("GET", "/config.json")).await;
    assert_eq!(r.status, 200);
    assert_eq!(body(&r), serde_json::json!({"apiUrl": "", "local": true}));
}

#[tokio::test]
async fn the_local_token_and_dd0c_token_are_accepted_by_the_api() {
    let server = server_over(quiet_pipeline(), None);
    let bearer = local_bearer(&server).await;
    let r = server
        .handle(HttpRequest::new("GET", "/v1/me").with_header("Authorization", &bearer))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["tenant_id"], LOCAL_TENANT);

    let Command::Token(args) = Cli::try_parse_from([
        "dd0c",
        "token",
        "--tenant",
        "acme",
        "--user",
        "ops@acme.test",
    ])
    .expect("options")
    .command
    else {
        panic!("not the token command")
    };
    let printed = token(&args.options()).expect("token");
    let r = server
        .handle(
            HttpRequest::new("GET", "/v1/me")
                .with_header("authorization", &format!("Bearer {printed}")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["tenant_id"], "acme");
    assert_eq!(body(&r)["user"], "ops@acme.test");

    let r = server.handle(HttpRequest::new("GET", "/v1/me")).await;
    assert_eq!(r.status, 401);
    let r = server
        .handle(
            HttpRequest::new("GET", "/v1/me").with_header("authorization", "Bearer not.a.token"),
        )
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn openapi_is_served_without_a_token() {
    let server = server_over(quiet_pipeline(), None);
    let r = server
        .handle(HttpRequest::new("GET", "/v1/openapi.json"))
        .await;
    assert_eq!(r.status, 200);
    assert!(body(&r)["paths"]["/v1/anomalies"].is_object(), "{}", r.body);
}

#[test]
fn routes_follow_the_contract_table() {
    assert_eq!(
        Function::for_path("/v1/slack/commands"),
        Some(Function::Slack)
    );
    assert_eq!(
        Function::for_path("/v1/slack/actions"),
        Some(Function::Slack)
    );
    assert_eq!(
        Function::for_path("/v1/slack/install"),
        Some(Function::Slack)
    );
    assert_eq!(
        Function::for_path("/v1/slack/oauth_redirect"),
        Some(Function::Slack)
    );
    assert_eq!(
        Function::for_path("/v1/stripe/webhook"),
        Some(Function::Stripe)
    );
    assert_eq!(
        Function::for_path("/v1/drift-reports"),
        Some(Function::DriftReports)
    );
    assert_eq!(Function::for_path("/v1/openapi.json"), Some(Function::Api));
    assert_eq!(Function::for_path("/v1/anomalies/x"), Some(Function::Api));
    assert_eq!(Function::for_path("/v1stripe"), None);
    assert_eq!(Function::for_path("/index.html"), None);
}

/// `dd0c serve` dispatches every route of `shared/http-routes.json` (the table the CDK app
/// builds API Gateway from) to the function that serves it on AWS.
#[test]
fn the_dispatcher_matches_the_http_route_table() {
    let routes = dd0c_shared::http_routes::http_routes();
    assert!(!routes.is_empty());
    for r in routes {
        let expected = match r.function.as_str() {
            "api" => Function::Api,
            "slack" => Function::Slack,
            "stripe" => Function::Stripe,
            "ingest" => Function::DriftReports,
            other => panic!("http-routes.json names a function serve does not know: {other}"),
        };
        assert_eq!(
            Function::for_path(&r.path.replace('{', "x").replace('}', "")),
            Some(expected),
            "{} {}",
            r.method,
            r.path
        );
    }
}

#[tokio::test]
async fn a_foreign_host_header_is_refused() {
    let mut server = server_over(quiet_pipeline(), None);
    server.allow_hosts_for_port(8787);
    let r = server
        .handle(HttpRequest::new("GET", "/local/token").with_header("host", "evil.example:8787"))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(body(&r)["field"], "host");
    let r = server
        .handle(HttpRequest::new("GET", "/local/token").with_header("host", "localhost:8787"))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn with_a_data_dir_the_store_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("dd0c-serve-test-{}", uuid_like()));
    let secrets = LocalSecrets::from_env();
    let pipeline = load_pipeline(Some(&dir), &secrets).expect("pipeline");
    let server = server_over(pipeline, Some(table_path(&dir)));
    let bearer = local_bearer(&server).await;
    let r = server
        .handle(
            HttpRequest::new("POST", "/v1/api-keys")
                .with_header("authorization", &bearer)
                .with_header("content-type", "application/json")
                .with_body(r#"{"name":"agent"}"#),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        table_path(&dir).exists(),
        "the store was not saved after a mutating request"
    );
    drop(server);

    let pipeline = load_pipeline(Some(&dir), &secrets).expect("reloaded");
    let server = server_over(pipeline, Some(table_path(&dir)));
    let r = server
        .handle(HttpRequest::new("GET", "/v1/api-keys").with_header("authorization", &bearer))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(body(&r)["items"][0]["name"], "agent");
    let _ = std::fs::remove_dir_all(&dir);
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// Starts the real server on a free port; returns the port and a way to stop it.
async fn start_real_server() -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut server = server_over(quiet_pipeline(), None);
    server.allow_hosts_for_port(port);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(http::run(listener, Arc::new(server), async move {
        let _ = stopped.await;
    }));
    (port, stop, task)
}

async fn raw_request(port: u16, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn over_http_bodies_are_limited_queries_decoded_and_shutdown_is_graceful() {
    let (port, stop, task) = start_real_server().await;

    let big = format!(
        "POST /v1/api-keys HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        MAX_BODY_BYTES + 1
    );
    let answer = raw_request(port, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // A query reaches the handler decoded: an invalid filter is named in the 400.
    let token = auth::local::issue(LOCAL_TENANT, "t@dd0c.local", 60).expect("token");
    let get = format!(
        "GET /v1/anomalies?severity=not%20a%20level HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_request(port, get.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"field\":\"severity\""), "{answer}");

    let get =
        format!("GET /style.css HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    let answer = raw_request(port, get.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: text/css"),
        "{answer}"
    );

    stop.send(()).expect("stop");
    tokio::time::timeout(std::time::Duration::from_secs(10), task)
        .await
        .expect("the server stops on the shutdown signal")
        .expect("no panic");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "still listening"
    );
}

#[test]
fn every_dashboard_file_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboard");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("dashboard/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".md") {
            continue;
        }
        seen += 1;
        assert!(
            assets::find(&format!("/{name}")).is_some(),
            "dashboard/{name} is not in serve/assets.rs"
        );
    }
    assert_eq!(
        seen,
        assets::ASSETS.len(),
        "an embedded asset has no file in dashboard/"
    );
}

#[tokio::test]
async fn a_signed_stripe_event_upgrades_the_local_tenant_and_a_tampered_one_is_refused() {
    let server = server_over(quiet_pipeline(), None);
    let bearer = local_bearer(&server).await;
    let event = serde_json::json!({
        "id": "evt_local_1",
        "type": "checkout.session.completed",
        "created": Utc::now().timestamp(),
        "data": {"object": {
            "mode": "subscription",
            "client_reference_id": LOCAL_TENANT,
            "customer": "cus_local",
            "subscription": "sub_local",
        }},
    })
    .to_string();
    let signature = dd0c_shared::signatures::sign_stripe(
        event.as_bytes(),
        DEMO_STRIPE_WEBHOOK_SECRET,
        Utc::now().timestamp(),
    );
    let tampered = event.replace("cus_local", "cus_other");
    let r = server
        .handle(
            HttpRequest::new("POST", "/v1/stripe/webhook")
                .with_header("stripe-signature", &signature)
                .with_body(tampered),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(body(&r)["field"], "stripe-signature");

    let r = server
        .handle(
            HttpRequest::new("POST", "/v1/stripe/webhook")
                .with_header("stripe-signature", &signature)
                .with_body(event),
        )
        .await;
    assert!(r.status < 300, "{} {}", r.status, r.body);
    let me = server
        .handle(HttpRequest::new("GET", "/v1/me").with_header("authorization", &bearer))
        .await;
    assert_eq!(body(&me)["plan"], "pro", "{}", me.body);
}

#[tokio::test]
async fn a_drift_report_with_an_api_key_runs_through_the_pipeline() {
    let server = server_over(quiet_pipeline(), None);
    let bearer = local_bearer(&server).await;
    let r = server
        .handle(HttpRequest::new("POST", "/v1/drift-reports"))
        .await;
    assert_eq!(
        r.status, 401,
        "mounted, and refusing anonymous reports: {}",
        r.body
    );

    let created = server
        .handle(
            HttpRequest::new("POST", "/v1/api-keys")
                .with_header("authorization", &bearer)
                .with_body(r#"{"name":"agent"}"#),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = body(&created)["api_key"]
        .as_str()
        .expect("api_key")
        .to_owned();
    let report = serde_json::json!({
        "report_id": "rep-serve-1", "stack_id": "web-prod", "tool": "terraform", "account_id": "111122223333",
        "drifts": [{"resource_address": "aws_security_group.web", "resource_type": "aws_security_group",
                    "resource_id": "sg-1", "attribute": "ingress", "old": [], "new": [{"from_port": 22}]}]
    });
    let r = server
        .handle(
            HttpRequest::new("POST", "/v1/drift-reports")
                .with_header("authorization", &format!("Bearer {key}"))
                .with_header("content-type", "application/json")
                .with_body(report.to_string()),
        )
        .await;
    assert!(r.status < 300, "{} {}", r.status, r.body);
    // The request's message was consumed by the pipeline before the response, without failing.
    assert!(
        server.pipeline().queue.peek_all("ingest").is_empty(),
        "the report is still queued"
    );
    assert_eq!(server.pipeline().dead_letters(), Vec::new());
}

#[tokio::test]
async fn a_signed_slash_command_is_answered_and_an_unsigned_one_refused() {
    let server = server_over(quiet_pipeline(), None);
    let body = "command=%2Fdd0c&text=help&team_id=T0LOCAL&user_id=U1&channel_id=C1&response_url=";
    let r = server
        .handle(HttpRequest::new("POST", "/v1/slack/commands").with_body(body))
        .await;
    assert_eq!(r.status, 401, "{}", r.body);

    let timestamp = Utc::now().timestamp().to_string();
    let signature =
        dd0c_shared::signatures::sign_slack(DEMO_SLACK_SIGNING_SECRET, &timestamp, body.as_bytes());
    let r = server
        .handle(
            HttpRequest::new("POST", "/v1/slack/commands")
                .with_header("content-type", "application/x-www-form-urlencoded")
                .with_header("x-slack-request-timestamp", &timestamp)
                .with_header("x-slack-signature", &signature)
                .with_body(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("dd0c commands"), "{}", r.body);
}

fn signed_command(body: &str) -> HttpRequest {
    let timestamp = Utc::now().timestamp().to_string();
    let signature =
        dd0c_shared::signatures::sign_slack(DEMO_SLACK_SIGNING_SECRET, &timestamp, body.as_bytes());
    HttpRequest::new("POST", "/v1/slack/commands")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("x-slack-request-timestamp", &timestamp)
        .with_header("x-slack-signature", &signature)
        .with_body(body.to_owned())
}

#[tokio::test]
async fn a_slow_command_is_acknowledged_then_answered_at_its_response_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = socket.read(&mut buf).await.unwrap();
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).to_string();
            if let Some(split) = text.find("\r\n\r\n") {
                let length: usize = text[..split]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if raw.len() >= split + 4 + length {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    return text[split + 4..].to_owned();
                }
            }
            assert!(n > 0, "connection closed early");
        }
    });
    let server = server_over(quiet_pipeline(), None);
    let body = format!(
        "command=%2Fdd0c&text=digest&team_id=T0LOCAL&user_id=U1&channel_id=C1&response_url=http%3A%2F%2F127.0.0.1%3A{port}%2Fcommands%2F1"
    );
    let r = server.handle(signed_command(&body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Working on"), "{}", r.body);
    let answer: Value = serde_json::from_str(&received.await.unwrap()).unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(answer.to_string().contains("dd0c daily digest"), "{answer}");
}

#[tokio::test]
async fn the_oauth_install_routes_work_locally_when_a_slack_app_is_configured() {
    let pipeline = quiet_pipeline();
    let secrets = LocalSecrets {
        slack_oauth: Some(OAuthConfig {
            client_id: "123.456".into(),
            client_secret: "shh".into(),
            redirect_uri: LOCAL_SLACK_REDIRECT_URI.into(),
        }),
        ..LocalSecrets::from_env()
    };
    let mounts = Mounts::local(&pipeline, &secrets);
    let server = LocalServer::new(pipeline, mounts, None);
    let r = server
        .handle(HttpRequest::new("GET", "/v1/slack/install"))
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    let location = r.headers.get("location").cloned().unwrap_or_default();
    assert!(
        location.starts_with("https://slack.com/oauth/v2/authorize?client_id=123.456"),
        "{location}"
    );
    // A redirect without the state this server issued is refused.
    let r = server
        .handle(
            HttpRequest::new("GET", "/v1/slack/oauth_redirect")
                .with_query("code", "abc")
                .with_query("state", "forged"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

/// A console change to one of a CloudTrail record's security groups, by a person.
fn console_ingress(event_id: &str, group: &str) -> Value {
    let time = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let record = serde_json::json!({
        "eventVersion": "1.08", "eventID": event_id, "eventTime": time,
        "eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress",
        "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
        "sourceIPAddress": "203.0.113.5", "userAgent": "AWS Internal",
        "sessionCredentialFromConsole": "true",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/jane", "userName": "jane", "accountId": "111122223333"},
        "requestParameters": {"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        "responseElements": {"_return": true}
    });
    serde_json::json!({
        "version": "0", "id": format!("env-{event_id}"), "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2", "account": "111122223333", "time": time,
        "region": "us-east-1", "resources": [], "detail": record
    })
}

/// Issue 16: `dd0c stacks import` over HTTP to `dd0c serve`, then the first console change to
/// an imported security group is drift, attributed to the stack and the Terraform address. The
/// same change to a group no state lists is not.
#[tokio::test]
async fn a_console_change_to_an_imported_resource_is_drift_on_its_first_event() {
    use crate::stacks_import::{run, ImportOptions, StateSource};
    use dd0c_shared::domain::FindingKind;
    use dd0c_shared::entity::{finding, resource};

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut server = server_over(quiet_pipeline(), None);
    server.allow_hosts_for_port(port);
    let server = Arc::new(server);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(http::run(listener, server.clone(), async move {
        let _ = stopped.await;
    }));
    let bearer = local_bearer(&server).await;
    let created = server
        .handle(
            HttpRequest::new("POST", "/v1/api-keys")
                .with_header("authorization", &bearer)
                .with_body(r#"{"name":"ci"}"#),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let options = ImportOptions {
        state: StateSource::File(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/terraform/aws-modules.tfstate"),
        ),
        stack: Some("net-prod".into()),
        api: format!("http://127.0.0.1:{port}"),
        api_key: body(&created)["api_key"].as_str().map(str::to_owned),
        dry_run: false,
    };
    let done = run(&options, &mut Vec::new())
        .await
        .expect("imported")
        .expect("sent");
    // Group, DB, role, 2 instances, 2 buckets; the VPC, the rule and the other providers'
    // resources are not tracked from CloudTrail.
    assert_eq!(
        (done.managed, done.already_managed, done.untracked),
        (7, 0, 4),
        "{done:?}"
    );
    let table = server.pipeline().table.clone();
    let db = resource::managed_resource(table.as_ref(), LOCAL_TENANT, "rds:db", "orders-prod")
        .await
        .unwrap()
        .expect("the DB is managed by its identifier");
    assert_eq!(db.managed_by.stack.as_deref(), Some("net-prod"));
    // Importing again changes nothing but the time.
    let again = run(&options, &mut Vec::new()).await.unwrap().unwrap();
    assert_eq!(again, done);

    let pipeline = server.pipeline();
    for (event, group) in [
        ("evt-imported", "sg-0a1b2c3d4e5f60001"),
        ("evt-unlisted", "sg-0ffffffffffff0009"),
    ] {
        pipeline
            .ingest
            .handle_eventbridge(console_ingress(event, group))
            .await
            .unwrap();
        pipeline.drain().await;
    }
    assert_eq!(pipeline.dead_letters(), Vec::new());
    let drift: Vec<_> = finding::all(table.as_ref(), LOCAL_TENANT)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.kind == FindingKind::Drift)
        .collect();
    assert_eq!(drift.len(), 1, "{drift:#?}");
    let f = &drift[0];
    assert_eq!(f.event_id, "evt-imported");
    let shown = serde_json::to_string(f).unwrap();
    for expected in ["sg-0a1b2c3d4e5f60001", "net-prod", "aws_security_group.web"] {
        assert!(shown.contains(expected), "{expected} missing from {shown}");
    }
    let _ = stop.send(());
    task.await.unwrap();
}
