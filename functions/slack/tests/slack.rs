use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_shared::batch::HandlerError;
use dd0c_shared::chat::{ChatMessage, ChatSink, RecordingChat};
use dd0c_shared::clock::{Clock, ManualClock};
use dd0c_shared::crypto::LocalKeyProvider;
use dd0c_shared::domain::{Finding, FindingKind, FindingStatus, Severity};
use dd0c_shared::entity;
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::signatures::sign_slack;
use dd0c_shared::slack::settings;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{query_all, AttrValue, Query, Table, Update};
use dd0c_shared::testing::{cost_finding, drift_finding};
use dd0c_slack::deferred::{
    BusDeferrer, DeferredCommand, DeferredCommands, Deferrer, HttpPoster, PostError, ResponsePoster,
};
use dd0c_slack::oauth::ChosenChannel;
use dd0c_slack::{OAuthAccess, OAuthConfig, OAuthExchange, SlackApp, SlackSecrets};
use serde_json::{json, Value};

const FIXTURE_TS: i64 = 1531420618;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/public/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct World {
    table: Arc<MemoryTable>,
    chat: Arc<RecordingChat>,
    clock: ManualClock,
    app: SlackApp,
}

fn at(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).unwrap()
}

async fn world(secret: &str) -> World {
    let clock = ManualClock::new(at(FIXTURE_TS));
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    table
        .put(entity::slack_installation::team_item("T111", "t1"), None)
        .await
        .unwrap();
    let chat = Arc::new(RecordingChat::default());
    let app = SlackApp::new(
        table.clone(),
        chat.clone(),
        Arc::new(clock.clone()),
        SlackSecrets {
            signing_secret: secret.into(),
        },
    );
    World {
        table,
        chat,
        clock,
        app,
    }
}

fn signed(path: &str, secret: &str, ts: i64, body: &str) -> HttpRequest {
    HttpRequest::new("POST", path)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("x-slack-request-timestamp", &ts.to_string())
        .with_header(
            "x-slack-signature",
            &sign_slack(secret, &ts.to_string(), body.as_bytes()),
        )
        .with_body(body.as_bytes().to_vec())
}

fn body_json(r: &HttpResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_bolt_slash_command_with_its_derived_signature_is_accepted() {
    let vectors: Value = serde_json::from_str(&fixture("slack_derived_vectors.json")).unwrap();
    let body = fixture("slack_slash_command_body_bolt.txt");
    let body = body.trim_end_matches('\n');
    let w = world(vectors["signing_secret"].as_str().unwrap()).await;
    let request = HttpRequest::new("POST", "/v1/slack/commands")
        .with_header(
            "X-Slack-Request-Timestamp",
            vectors["timestamp"].as_str().unwrap(),
        )
        .with_header(
            "X-Slack-Signature",
            vectors["slash_command"]["signature"].as_str().unwrap(),
        )
        .with_body(body.as_bytes().to_vec());
    let r = w.app.handle(request.clone()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body_json(&r);
    assert_eq!(v["response_type"], "ephemeral");
    // The text is "Hi": not a dd0c command, so the help comes back.
    assert!(v["blocks"].to_string().contains("Unknown command `Hi`"));

    // Tampered body, stale timestamp, wrong secret.
    let tampered = request
        .clone()
        .with_body(body.replace("text=Hi", "text=status").into_bytes());
    assert_eq!(w.app.handle(tampered).await.status, 401);
    w.clock.set(at(FIXTURE_TS + 301));
    let stale = w.app.handle(request.clone()).await;
    assert_eq!(stale.status, 401);
    assert!(stale.body.contains("more than 300 s"));
    assert_eq!(body_json(&stale)["field"], "x-slack-signature");
    w.clock.set(at(FIXTURE_TS));
    let wrong = world("not-the-secret").await;
    assert_eq!(wrong.app.handle(request).await.status, 401);
}

#[tokio::test]
async fn a_base64_body_from_api_gateway_verifies_after_conversion() {
    let vectors: Value = serde_json::from_str(&fixture("slack_derived_vectors.json")).unwrap();
    let body = fixture("slack_block_actions_body.txt");
    let body = body.trim_end_matches('\n');
    let w = world("secret").await;
    let event: ApiGatewayV2httpRequest = serde_json::from_value(json!({
        "version": "2.0", "routeKey": "POST /v1/slack/actions", "rawPath": "/v1/slack/actions", "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": vectors["timestamp"],
            "x-slack-signature": vectors["block_actions"]["signature"]
        },
        "requestContext": {"accountId": "123", "apiId": "api", "domainName": "x", "domainPrefix": "x",
            "http": {"method": "POST", "path": "/v1/slack/actions", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4", "userAgent": "Slackbot"},
            "requestId": "r", "routeKey": "POST /v1/slack/actions", "stage": "$default", "time": "12/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390_i64},
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    }))
    .unwrap();
    let request = dd0c_shared::lambda::http_request(&event);
    assert_eq!(request.body, body.as_bytes());
    let r = w.app.handle(request).await;
    // Signature accepted; the bolt fixture's action "a" is not one of ours.
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("unknown action"));
    assert_eq!(body_json(&r)["field"], "payload.actions[0].action_id");
}

fn finding(id: &str, kind: FindingKind) -> Finding {
    let t = at(FIXTURE_TS) - Duration::hours(1);
    let (base, details) = if kind == FindingKind::Drift {
        (
            drift_finding(id),
            json!({"stack": "web", "diff": [{"attribute": "tags.env", "old": "prod", "new": "dev"}]}),
        )
    } else {
        // What the scorer records on a cost finding.
        (
            cost_finding(id),
            json!({"sku": "p3.8xlarge", "count": 1, "spot": false, "service": "ec2"}),
        )
    };
    Finding {
        severity: Severity::Critical,
        notified: true,
        event_time: t,
        created_at: t,
        details,
        ..base
    }
}

/// Records a finding and posts its alert as the notifier would.
async fn alerted(w: &World, f: &Finding) -> String {
    entity::finding::record(w.table.as_ref(), f).await.unwrap();
    let posted = w
        .chat
        .post(ChatMessage {
            channel: "C111".into(),
            text: "x".into(),
            blocks: dd0c_shared::slack::blocks::finding_alert(f),
            thread_ts: None,
        })
        .await
        .unwrap();
    entity::finding::record_alert_message(w.table.as_ref(), f, "C111", &posted.ts)
        .await
        .unwrap();
    posted.ts
}

fn action_body(action: Value, ts: &str) -> String {
    let payload = json!({
        "type": "block_actions", "user": {"id": "U42", "team_id": "T111"}, "team": {"id": "T111"},
        "container": {"type": "message", "message_ts": ts, "channel_id": "C111"}, "trigger_id": "1.2.3",
        "actions": [action]
    });
    format!("payload={}", url_encode(&payload.to_string()))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn press(w: &World, action: Value, ts: &str) -> HttpResponse {
    w.app
        .handle(signed(
            "/v1/slack/actions",
            "secret",
            w.clock.now().timestamp(),
            &action_body(action, ts),
        ))
        .await
}

async fn audit(w: &World) -> Vec<Value> {
    query_all(w.table.as_ref(), entity::audit::trail("t1"))
        .await
        .unwrap()
        .into_iter()
        .map(|i| json!({"action": i["action"].as_str(), "user": i["user"].as_str(), "target": i["target"].as_str()}))
        .collect()
}

#[tokio::test]
async fn each_action_changes_state_updates_the_message_and_is_audited() {
    let w = world("secret").await;
    let cost = finding("cost-1", FindingKind::CostAnomaly);
    let drift = finding("drift-1", FindingKind::Drift);
    let ts_cost = alerted(&w, &cost).await;
    let ts_drift = alerted(&w, &drift).await;

    let r = press(
        &w,
        json!({"action_id": "snooze_24h", "value": "cost-1", "type": "button"}),
        &ts_cost,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let f = entity::finding::load(w.table.as_ref(), "t1", "cost-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.status, FindingStatus::Snoozed);
    let item = w
        .table
        .get(&entity::finding::key("t1", "cost-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["snooze_until"].as_str(), Some("2018-07-13T18:36:58Z"));
    assert!(w.chat.messages()[0]
        .blocks
        .to_string()
        .contains("Snoozed until 2018-07-13 18:36 UTC by <@U42>"));

    let r = press(
        &w,
        json!({"action_id": "mark_expected", "value": "cost-1", "type": "button"}),
        &ts_cost,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        entity::finding::load(w.table.as_ref(), "t1", "cost-1")
            .await
            .unwrap()
            .unwrap()
            .status,
        FindingStatus::Expected
    );
    assert!(w.chat.messages()[0]
        .blocks
        .to_string()
        .contains("Marked expected by <@U42>"));
    let baseline = w
        .table
        .get(&entity::baseline::key(
            "t1",
            "111122223333",
            "ec2",
            "ec2:instance",
        ))
        .await
        .unwrap()
        .unwrap();
    // The button taught the baseline the scorer reads: this actor and type are now expected.
    let set = |name: &str| match &baseline[name] {
        AttrValue::Ss(values) => values.iter().cloned().collect::<Vec<String>>(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(
        set(dd0c_shared::feedback::EXPECTED_ACTORS),
        ["arn:aws:iam::111122223333:user/alice"]
    );
    assert_eq!(set(dd0c_shared::feedback::EXPECTED_TYPES), ["p3.8xlarge"]);

    let r = press(
        &w,
        json!({"action_id": "accept_drift", "value": "drift-1", "type": "button"}),
        &ts_drift,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let item = w
        .table
        .get(&entity::finding::key("t1", "drift-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["status"].as_str(), Some("accepted"));
    assert_eq!(item["accepted_by"].as_str(), Some("slack:U42"));
    assert!(w.chat.messages()[1]
        .blocks
        .to_string()
        .contains("Drift accepted by <@U42>"));

    // Assign: a modal with a user select; submitting it sets the owner and updates the alert.
    let r = press(
        &w,
        json!({"action_id": "assign", "value": "drift-1", "type": "button"}),
        &ts_drift,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (trigger, view) = w.chat.views().last().cloned().expect("a modal");
    assert_eq!(trigger, "1.2.3");
    assert_eq!(view["type"], "modal");
    assert_eq!(view["blocks"][1]["element"]["type"], "users_select");
    let messages_before = w.chat.messages().len();
    let submit = |selected: Option<&str>| {
        let mut values = json!({});
        if let Some(user) = selected {
            values =
                json!({"owner": {"assign_to": {"type": "users_select", "selected_user": user}}});
        }
        let payload = json!({
            "type": "view_submission", "user": {"id": "U42", "team_id": "T111"}, "team": {"id": "T111"},
            "view": {"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                     "state": {"values": values}}
        });
        let body = format!("payload={}", url_encode(&payload.to_string()));
        w.app.handle(signed(
            "/v1/slack/actions",
            "secret",
            w.clock.now().timestamp(),
            &body,
        ))
    };
    // Submitted without a pick: the modal shows the error, nothing changes.
    let r = submit(None).await;
    assert_eq!(r.status, 200);
    assert_eq!(body_json(&r)["errors"]["owner"], "Pick an owner");
    let r = submit(Some("U7")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.is_empty(),
        "an empty answer closes the modal: {}",
        r.body
    );
    let item = w
        .table
        .get(&entity::finding::key("t1", "drift-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["owner"].as_str(), Some("U7"));
    assert_eq!(w.chat.messages().len(), messages_before, "no thread picker");
    assert!(w.chat.messages()[1]
        .blocks
        .to_string()
        .contains("Assigned to <@U7> by <@U42>"));

    let trail = audit(&w).await;
    let actions: Vec<&str> = trail
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "finding.snooze",
        "finding.mark_expected",
        "finding.accept_drift",
        "finding.assign",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    assert!(trail.iter().all(|e| e["user"] == "slack:U42"));

    // Accepting a cost anomaly as drift, an unknown finding: refused, nothing audited.
    let before = audit(&w).await.len();
    assert_eq!(
        press(
            &w,
            json!({"action_id": "accept_drift", "value": "cost-1"}),
            &ts_cost
        )
        .await
        .status,
        400
    );
    assert_eq!(
        press(
            &w,
            json!({"action_id": "snooze_1h", "value": "cost-404"}),
            &ts_cost
        )
        .await
        .status,
        404
    );
    assert_eq!(audit(&w).await.len(), before);
}

/// The finding's status decides which changes apply: a repeated click (or a click on a stale
/// alert) is refused with 409 and changes and audits nothing.
#[tokio::test]
async fn a_change_the_status_does_not_allow_is_refused_and_not_audited() {
    let w = world("secret").await;
    let ts_cost = alerted(&w, &finding("cost-1", FindingKind::CostAnomaly)).await;
    let ts_drift = alerted(&w, &finding("drift-1", FindingKind::Drift)).await;
    let expected = json!({"action_id": "mark_expected", "value": "cost-1", "type": "button"});
    assert_eq!(press(&w, expected.clone(), &ts_cost).await.status, 200);
    let accept = json!({"action_id": "accept_drift", "value": "drift-1", "type": "button"});
    assert_eq!(press(&w, accept.clone(), &ts_drift).await.status, 200);
    let before = audit(&w).await.len();
    let r = press(&w, expected, &ts_cost).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body
            .contains("mark_expected is not allowed on a expected finding"),
        "{}",
        r.body
    );
    let r = press(&w, accept, &ts_drift).await;
    assert_eq!(r.status, 409, "{}", r.body);
    let snooze = json!({"action_id": "snooze_1h", "value": "drift-1", "type": "button"});
    assert_eq!(press(&w, snooze, &ts_drift).await.status, 409);
    assert_eq!(audit(&w).await.len(), before);
    let drift = entity::finding::load(w.table.as_ref(), "t1", "drift-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(drift.status, FindingStatus::Accepted);
}

async fn command(w: &World, text: &str) -> Value {
    let body = format!("team_id=T111&user_id=U42&command=%2Fdd0c&text={}&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1", url_encode(text));
    let r = w
        .app
        .handle(signed(
            "/v1/slack/commands",
            "secret",
            w.clock.now().timestamp(),
            &body,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = body_json(&r);
    assert_eq!(v["response_type"], "ephemeral");
    dd0c_shared::slack::blocks::validate_limits(&v["blocks"]).unwrap();
    v
}

#[tokio::test]
async fn slash_commands_answer_from_the_store() {
    let w = world("secret").await;
    alerted(&w, &finding("cost-1", FindingKind::CostAnomaly)).await;
    let mut other = finding("cost-2", FindingKind::CostAnomaly);
    other.account_id = "444455556666".into();
    other.status = FindingStatus::Resolved;
    entity::finding::record(w.table.as_ref(), &other)
        .await
        .unwrap();
    alerted(&w, &finding("drift-1", FindingKind::Drift)).await;

    let status = command(&w, "status").await.to_string();
    assert!(
        status.contains("Open cost anomalies: 1") && status.contains("Open drift: 1"),
        "{status}"
    );
    let open = command(&w, "anomalies").await.to_string();
    assert!(
        open.contains("1 open cost anomalies")
            && open.contains("cost-1")
            && !open.contains("cost-2")
    );
    let all = command(&w, "anomalies all 444455556666").await.to_string();
    assert!(
        all.contains("1 all cost anomalies* in 444455556666") && all.contains("cost-2"),
        "{all}"
    );
    let drift = command(&w, "drift web").await.to_string();
    assert!(drift.contains("Open drift in web") && drift.contains("drift-1"));
    assert!(command(&w, "drift")
        .await
        .to_string()
        .contains("No stacks known yet"));
    assert!(command(&w, "digest")
        .await
        .to_string()
        .contains("dd0c daily digest"));
    assert!(command(&w, "help")
        .await
        .to_string()
        .contains("/dd0c anomalies"));
    assert!(command(&w, "").await.to_string().contains("/dd0c status"));
}

#[tokio::test]
async fn an_unlinked_workspace_is_refused_unless_a_default_tenant_is_set() {
    let w = world("secret").await;
    let body = "team_id=T999&text=status";
    let r = w
        .app
        .handle(signed("/v1/slack/commands", "secret", FIXTURE_TS, body))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(body_json(&r)["field"], "team_id");
    let local = SlackApp::new(
        w.table.clone(),
        w.chat.clone(),
        Arc::new(w.clock.clone()),
        SlackSecrets {
            signing_secret: "secret".into(),
        },
    )
    .with_default_tenant("t1");
    assert_eq!(
        local
            .handle(signed("/v1/slack/commands", "secret", FIXTURE_TS, body))
            .await
            .status,
        200
    );
    assert_eq!(
        w.app
            .handle(HttpRequest::new("GET", "/v1/slack/commands"))
            .await
            .status,
        405
    );
}

struct FakeExchange;

#[async_trait]
impl OAuthExchange for FakeExchange {
    async fn exchange(&self, _config: &OAuthConfig, code: &str) -> Result<OAuthAccess, String> {
        if code != "good-code" {
            return Err("invalid_code".into());
        }
        Ok(OAuthAccess {
            access_token: "xoxb-123-secret".into(),
            team_id: "T222".into(),
            team_name: Some("Acme".into()),
            bot_user_id: Some("B1".into()),
            scope: "chat:write,commands,incoming-webhook".into(),
            incoming_webhook: Some(ChosenChannel {
                channel_id: "C0ALERTS".into(),
                channel: Some("#alerts".into()),
                url: "https://hooks.slack.com/services/T222/B1/secretpart".into(),
            }),
        })
    }
}

#[tokio::test]
async fn oauth_install_checks_state_and_stores_the_token_encrypted() {
    let w = world("secret").await;
    let keys_provider = Arc::new(LocalKeyProvider::from_hex(&"11".repeat(32), "local").unwrap());
    let config = OAuthConfig {
        client_id: "123.456".into(),
        client_secret: "shh".into(),
        redirect_uri: "https://api.dd0c.dev/v1/slack/oauth_redirect".into(),
    };
    let app = SlackApp::new(
        w.table.clone(),
        w.chat.clone(),
        Arc::new(w.clock.clone()),
        SlackSecrets {
            signing_secret: "secret".into(),
        },
    )
    .with_oauth(config, Arc::new(FakeExchange), keys_provider.clone());
    // The public route knows no tenant in production, whatever the browser claims.
    assert_eq!(
        app.handle(HttpRequest::new("GET", "/v1/slack/install"))
            .await
            .status,
        401
    );
    assert_eq!(
        app.handle(HttpRequest::new("GET", "/v1/slack/install").with_header("x-dd0c-tenant", "t9"))
            .await
            .status,
        401,
        "a header must not pick the tenant a workspace is linked to"
    );
    // The signed-in API call starts it (GET /v1/settings/slack/install-url).
    let link = dd0c_shared::slack::install::InstallLink {
        client_id: "123.456".into(),
        redirect_uri: "https://api.dd0c.dev/v1/slack/oauth_redirect".into(),
    };
    let start = || async {
        dd0c_shared::slack::install::start_install(w.table.as_ref(), w.clock.now(), "t9", &link)
            .await
            .unwrap()
    };
    let location = &start().await;
    let state = location
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let redirect = |state: &str, code: &str| {
        HttpRequest::new("GET", "/v1/slack/oauth_redirect")
            .with_query("state", state)
            .with_query("code", code)
    };
    let bad = app.handle(redirect("forged", "good-code")).await;
    assert_eq!(bad.status, 400);
    assert_eq!(body_json(&bad)["field"], "state");
    let r = app.handle(redirect(&state, "good-code")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let installation = settings::load_installation(w.table.as_ref(), "t9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(installation.team_id, "T222");
    assert_eq!(
        installation.scopes,
        ["chat:write", "commands", "incoming-webhook"]
    );
    // The channel chosen on Slack's consent page is where alerts go from the first one.
    assert_eq!(installation.channel_id.as_deref(), Some("C0ALERTS"));
    assert_eq!(
        settings::load_settings(w.table.as_ref(), "t9")
            .await
            .unwrap()
            .default_channel
            .as_deref(),
        Some("C0ALERTS")
    );
    let webhook = installation
        .webhook
        .as_ref()
        .expect("webhook kept")
        .to_string();
    assert!(
        !webhook.contains("secretpart"),
        "webhook URL stored in clear"
    );
    assert!(
        !installation.token.to_string().contains("xoxb"),
        "token stored in clear"
    );
    assert_eq!(
        dd0c_slack::oauth::bot_token(&installation, keys_provider.as_ref())
            .await
            .unwrap(),
        "xoxb-123-secret"
    );
    assert_eq!(
        settings::tenant_for_team(w.table.as_ref(), "T222")
            .await
            .unwrap()
            .as_deref(),
        Some("t9")
    );
    // The state is single-use.
    assert_eq!(app.handle(redirect(&state, "good-code")).await.status, 400);
    // An expired state is refused.
    let state = start()
        .await
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    w.clock.advance(Duration::minutes(11));
    assert_eq!(app.handle(redirect(&state, "good-code")).await.status, 400);
}

/// A sink that cannot open modals (an incoming webhook, say).
struct NoViews(Arc<RecordingChat>);

#[async_trait]
impl ChatSink for NoViews {
    async fn post(
        &self,
        message: ChatMessage,
    ) -> Result<dd0c_shared::chat::Posted, dd0c_shared::chat::ChatError> {
        self.0.post(message).await
    }
    async fn update(
        &self,
        channel: &str,
        ts: &str,
        message: ChatMessage,
    ) -> Result<(), dd0c_shared::chat::ChatError> {
        self.0.update(channel, ts, message).await
    }
}

#[tokio::test]
async fn without_a_modal_assign_falls_back_to_a_picker_in_the_thread() {
    let w = world("secret").await;
    let ts_drift = alerted(&w, &finding("drift-1", FindingKind::Drift)).await;
    let w = World {
        app: w
            .app
            .with_directory(Arc::new(settings::SingleChat(Arc::new(NoViews(
                w.chat.clone(),
            ))))),
        ..w
    };
    let r = press(
        &w,
        json!({"action_id": "assign", "value": "drift-1", "type": "button"}),
        &ts_drift,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let picker = w.chat.messages().last().cloned().unwrap();
    assert_eq!(picker.thread_ts.as_deref(), Some(ts_drift.as_str()));
    assert!(picker.blocks.to_string().contains("users_select"));
    let r = press(&w, json!({"action_id": "assign_to", "block_id": "assign:drift-1", "selected_user": "U7", "type": "users_select"}), &ts_drift).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let item = w
        .table
        .get(&entity::finding::key("t1", "drift-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["owner"].as_str(), Some("U7"));
}

// ---- deferred slash commands -----------------------------------------------------------

#[derive(Default)]
struct RecordingDeferrer(std::sync::Mutex<Vec<DeferredCommand>>);

#[async_trait]
impl Deferrer for RecordingDeferrer {
    async fn defer(&self, job: DeferredCommand) -> Result<(), String> {
        self.0.lock().unwrap().push(job);
        Ok(())
    }
}

/// Answers every post with `answer`, recording what was posted where.
struct ScriptedPoster {
    answer: fn() -> Result<(), PostError>,
    posted: std::sync::Mutex<Vec<(String, Value)>>,
}

#[async_trait]
impl ResponsePoster for ScriptedPoster {
    async fn post(&self, url: &str, message: &Value) -> Result<(), PostError> {
        self.posted
            .lock()
            .unwrap()
            .push((url.to_owned(), message.clone()));
        (self.answer)()
    }
}

fn poster(answer: fn() -> Result<(), PostError>) -> ScriptedPoster {
    ScriptedPoster {
        answer,
        posted: std::sync::Mutex::new(Vec::new()),
    }
}

#[tokio::test]
async fn slow_commands_are_acknowledged_at_once_and_answered_through_response_url() {
    let w = world("secret").await;
    alerted(&w, &finding("cost-1", FindingKind::CostAnomaly)).await;
    let deferrer = Arc::new(RecordingDeferrer::default());
    let w = World {
        app: w.app.with_deferrer(deferrer.clone()),
        ..w
    };

    // Quick commands are still answered inline.
    assert!(command(&w, "status")
        .await
        .to_string()
        .contains("Open cost anomalies: 1"));
    assert!(deferrer.0.lock().unwrap().is_empty());

    let ack = command(&w, "digest").await.to_string();
    assert!(ack.contains("Working on `/dd0c digest`"), "{ack}");
    assert!(command(&w, "anomalies all")
        .await
        .to_string()
        .contains("Working on"));
    let jobs = deferrer.0.lock().unwrap().clone();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        jobs[0],
        DeferredCommand {
            tenant_id: "t1".into(),
            text: "digest".into(),
            response_url: "https://hooks.slack.com/commands/1".into(),
            user_id: "U42".into(),
        }
    );

    // The answer goes to the response URL as the ephemeral message the inline path returns.
    let ok = poster(|| Ok(()));
    w.app.run_deferred(&jobs[0], &ok).await.unwrap();
    w.app.run_deferred(&jobs[1], &ok).await.unwrap();
    let posted = ok.posted.lock().unwrap().clone();
    assert_eq!(posted[0].0, "https://hooks.slack.com/commands/1");
    assert_eq!(posted[0].1["response_type"], "ephemeral");
    assert!(posted[0].1.to_string().contains("dd0c daily digest"));
    assert!(posted[1].1.to_string().contains("cost-1"));
    dd0c_shared::slack::blocks::validate_limits(&posted[1].1["blocks"]).unwrap();

    // A URL that is not Slack's is never posted to: dead-lettered with the reason.
    let elsewhere = DeferredCommand {
        response_url: "https://attacker.example/collect".into(),
        ..jobs[0].clone()
    };
    let refused = poster(|| Ok(()));
    match w.app.run_deferred(&elsewhere, &refused).await {
        Err(HandlerError::Malformed(why)) => assert!(why.contains("not a Slack response URL")),
        other => panic!("expected a malformed job, got {other:?}"),
    }
    assert!(refused.posted.lock().unwrap().is_empty());

    // An expired URL (Slack answers 404) is dropped; Slack unreachable is retried.
    assert!(w
        .app
        .run_deferred(&jobs[0], &poster(|| Err(PostError::Rejected(404))))
        .await
        .is_ok());
    assert!(matches!(
        w.app
            .run_deferred(
                &jobs[0],
                &poster(|| Err(PostError::Unavailable("timeout".into())))
            )
            .await,
        Err(HandlerError::Transient(_))
    ));
}

/// Reads one HTTP request on `listener`, answers 200 and returns the request body.
async fn capture_one_post(listener: tokio::net::TcpListener) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(split) = text.find("\r\n\r\n") {
            let length = text[..split]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if raw.len() >= split + 4 + length {
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                return text[split + 4..].to_owned();
            }
        }
        if n == 0 {
            panic!("connection closed early");
        }
    }
}

/// The production path on embedded adapters: the slash command publishes on the bus, the
/// route puts it on the `commands` queue, the slack function's consumer answers over HTTP.
#[tokio::test]
async fn a_deferred_command_travels_bus_queue_and_http() {
    use dd0c_shared::batch::MessageHandler;
    use dd0c_shared::bus::QueueBus;
    use dd0c_shared::bus::RoutingTable;
    use dd0c_shared::queue::memory::MemoryQueue;
    use dd0c_shared::queue::Queue;

    let w = world("secret").await;
    alerted(&w, &finding("cost-1", FindingKind::CostAnomaly)).await;
    let clock: dd0c_shared::clock::SharedClock = Arc::new(w.clock.clone());
    let routing = RoutingTable::builtin().clone();
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        clock.clone(),
    ));
    let bus = Arc::new(QueueBus::new(routing, queue.clone(), clock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(capture_one_post(listener));

    let app = Arc::new(
        w.app
            .with_deferrer(Arc::new(BusDeferrer(bus)))
            .allow_response_urls("http://127.0.0.1:"),
    );
    let response_url = format!("http://127.0.0.1:{port}/commands/1");
    let body = format!(
        "team_id=T111&user_id=U42&command=%2Fdd0c&text=digest&response_url={}",
        url_encode(&response_url)
    );
    let r = app
        .handle(signed(
            "/v1/slack/commands",
            "secret",
            w.clock.now().timestamp(),
            &body,
        ))
        .await;
    assert!(r.body.contains("Working on"), "{}", r.body);

    let received = queue
        .receive("commands", 10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(received.len(), 1);
    let consumer = DeferredCommands {
        app: app.clone(),
        poster: Arc::new(HttpPoster(reqwest::Client::new())),
    };
    consumer.handle(&received[0].body).await.unwrap();
    let posted: Value = serde_json::from_str(&server.await.unwrap()).unwrap();
    assert_eq!(posted["response_type"], "ephemeral");
    assert!(posted.to_string().contains("dd0c daily digest"));
}

/// An app with OAuth configured over `table`, and a way to start installs for any tenant.
fn oauth_app(w: &World, table: Arc<dyn Table>) -> SlackApp {
    let keys_provider = Arc::new(LocalKeyProvider::from_hex(&"11".repeat(32), "local").unwrap());
    let config = OAuthConfig {
        client_id: "123.456".into(),
        client_secret: "shh".into(),
        redirect_uri: "https://api.dd0c.dev/v1/slack/oauth_redirect".into(),
    };
    SlackApp::new(
        table,
        w.chat.clone(),
        Arc::new(w.clock.clone()),
        SlackSecrets {
            signing_secret: "secret".into(),
        },
    )
    .with_oauth(config, Arc::new(FakeExchange), keys_provider)
}

async fn install_state(w: &World, tenant: &str) -> String {
    let link = dd0c_shared::slack::install::InstallLink {
        client_id: "123.456".into(),
        redirect_uri: "https://api.dd0c.dev/v1/slack/oauth_redirect".into(),
    };
    let location =
        dd0c_shared::slack::install::start_install(w.table.as_ref(), w.clock.now(), tenant, &link)
            .await
            .unwrap();
    location
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

fn oauth_redirect(state: &str) -> HttpRequest {
    HttpRequest::new("GET", "/v1/slack/oauth_redirect")
        .with_query("state", state)
        .with_query("code", "good-code")
}

#[tokio::test]
async fn a_workspace_connected_to_one_tenant_cannot_be_taken_by_another() {
    let w = world("secret").await;
    let app = oauth_app(&w, w.table.clone());
    let first = install_state(&w, "t9").await;
    assert_eq!(app.handle(oauth_redirect(&first)).await.status, 200);
    // Tenant t1 gets an admin of the same workspace (T222) to complete its install link.
    let second = install_state(&w, "t1").await;
    let r = app.handle(oauth_redirect(&second)).await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(
        r.body.contains("connected to another dd0c account"),
        "{}",
        r.body
    );
    assert_eq!(
        settings::tenant_for_team(w.table.as_ref(), "T222")
            .await
            .unwrap()
            .as_deref(),
        Some("t9")
    );
    assert!(settings::load_installation(w.table.as_ref(), "t1")
        .await
        .unwrap()
        .is_none());
    // The tenant that owns the workspace may reinstall.
    let again = install_state(&w, "t9").await;
    assert_eq!(app.handle(oauth_redirect(&again)).await.status, 200);
}

/// A table whose reads return before anyone else's writes land: two requests that read the
/// same item both see it, as two Lambdas racing would.
struct ReadThenYield(Arc<MemoryTable>);

#[async_trait]
impl Table for ReadThenYield {
    async fn put(
        &self,
        item: dd0c_shared::store::Item,
        condition: Option<dd0c_shared::store::Condition>,
    ) -> Result<(), dd0c_shared::store::StoreError> {
        self.0.put(item, condition).await
    }
    async fn get(
        &self,
        key: &dd0c_shared::store::Key,
    ) -> Result<Option<dd0c_shared::store::Item>, dd0c_shared::store::StoreError> {
        let read = self.0.get(key).await;
        tokio::task::yield_now().await;
        read
    }
    async fn update(
        &self,
        key: &dd0c_shared::store::Key,
        update: Update,
    ) -> Result<dd0c_shared::store::Item, dd0c_shared::store::StoreError> {
        self.0.update(key, update).await
    }
    async fn delete(
        &self,
        key: &dd0c_shared::store::Key,
        condition: Option<dd0c_shared::store::Condition>,
    ) -> Result<(), dd0c_shared::store::StoreError> {
        self.0.delete(key, condition).await
    }
    async fn query(
        &self,
        query: Query,
    ) -> Result<dd0c_shared::store::Page, dd0c_shared::store::StoreError> {
        self.0.query(query).await
    }
    async fn transact_write(
        &self,
        writes: Vec<dd0c_shared::store::TransactWrite>,
    ) -> Result<(), dd0c_shared::store::StoreError> {
        self.0.transact_write(writes).await
    }
}

#[tokio::test]
async fn an_oauth_state_installs_once_even_when_two_redirects_race() {
    let w = world("secret").await;
    let app = oauth_app(&w, Arc::new(ReadThenYield(w.table.clone())));
    let state = install_state(&w, "t9").await;
    let (a, b) = tokio::join!(
        app.handle(oauth_redirect(&state)),
        app.handle(oauth_redirect(&state))
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{} / {}", a.body, b.body);
}

#[tokio::test]
async fn oauth_pages_escape_what_they_echo_and_forbid_scripts() {
    let w = world("secret").await;
    let app = oauth_app(&w, w.table.clone());
    let r = app
        .handle(
            HttpRequest::new("GET", "/v1/slack/oauth_redirect")
                .with_query("error", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(r.body.contains("&lt;script&gt;alert(1)"), "{}", r.body);
    let state = install_state(&w, "t9").await;
    for page in [r, app.handle(oauth_redirect(&state)).await] {
        assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
        let csp = page
            .headers
            .get("content-security-policy")
            .map(String::as_str)
            .unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{:?}", page.headers);
        assert!(csp.contains("frame-ancestors 'none'"), "{:?}", page.headers);
        assert_eq!(
            page.headers
                .get("x-content-type-options")
                .map(String::as_str),
            Some("nosniff")
        );
    }
}

/// `/dd0c stack`: a stack's owner, channel and watching set from Slack, audited, with a
/// clear answer for a stack that does not exist or a value that is not a channel.
#[tokio::test]
async fn the_stack_command_sets_owner_channel_and_watching() {
    use dd0c_shared::domain::drift::Stack;
    let w = world("secret").await;
    entity::stack::put_stack(w.table.as_ref(), &Stack::new("t1", "web"), w.clock.now())
        .await
        .unwrap();
    let owner = command(&w, "stack web owner <@U0123ABCDE|alice>")
        .await
        .to_string();
    assert!(owner.contains("owner U0123ABCDE"), "{owner}");
    let channel = command(&w, "stack web channel <#C0123ABCDE|payments>")
        .await
        .to_string();
    assert!(channel.contains("alerts to C0123ABCDE"), "{channel}");
    let off = command(&w, "stack web watch off").await.to_string();
    assert!(off.contains("drift alerts off"), "{off}");
    let stored = entity::stack::load_stack(w.table.as_ref(), "t1", "web")
        .await
        .unwrap()
        .expect("the stack");
    assert_eq!(stored.owner.as_deref(), Some("U0123ABCDE"));
    assert_eq!(stored.slack_channel.as_deref(), Some("C0123ABCDE"));
    assert!(!stored.enabled);
    let trail = audit(&w).await;
    assert_eq!(
        trail
            .iter()
            .filter(|e| e["action"] == "stack.change" && e["user"] == "slack:U42")
            .count(),
        3,
        "{trail:?}"
    );
    assert!(command(&w, "stack nope watch on")
        .await
        .to_string()
        .contains("No stack `nope`"));
    assert!(command(&w, "stack web channel Payments Team")
        .await
        .to_string()
        .contains("is not a channel"));
}

/// `/dd0c pause` holds every alert (panic mode in the tenant's override) and `/dd0c resume`
/// lets them through again and forgets the "alerting paused" notice; both are audited.
#[tokio::test]
async fn pause_and_resume_hold_and_release_all_alerts() {
    use dd0c_shared::governance;
    let w = world("secret").await;
    let paused = command(&w, "pause").await.to_string();
    assert!(paused.contains("All dd0c alerts are paused"), "{paused}");
    let o = governance::store::tenant_override(w.table.as_ref(), "t1")
        .await
        .unwrap()
        .expect("an override");
    assert_eq!(o.panic_mode, Some(true));
    entity::notice::claim(
        w.table.as_ref(),
        "t1",
        governance::store::PAUSED_NOTICE,
        &w.clock.now(),
    )
    .await
    .unwrap();
    let resumed = command(&w, "resume").await.to_string();
    assert!(resumed.contains("alerts are back on"), "{resumed}");
    let o = governance::store::tenant_override(w.table.as_ref(), "t1")
        .await
        .unwrap()
        .expect("an override");
    assert_eq!(o.panic_mode, None);
    assert!(
        entity::notice::claim(
            w.table.as_ref(),
            "t1",
            governance::store::PAUSED_NOTICE,
            &w.clock.now()
        )
        .await
        .unwrap(),
        "the next pause announces itself again"
    );
    let trail = audit(&w).await;
    assert!(trail
        .iter()
        .any(|e| e["action"] == "alerts.pause" && e["user"] == "slack:U42"));
    assert!(trail.iter().any(|e| e["action"] == "alerts.resume"));
}

/// "Why?" (issue 14, item 3): the alert's button opens a modal with the finding's decision
/// log and the policy's word; without a modal the same goes to the alert's thread. The alert
/// itself is left as it is.
#[tokio::test]
async fn why_opens_the_decision_log() {
    let w = world("secret").await;
    let mut cost = finding("cost-9", FindingKind::CostAnomaly);
    cost.details["decision"] = json!({
        "stage": "scorer", "verdict": "score 92.0: critical", "hourly_usd": 12.24,
        "signals": [{"name": "new_region", "effect": "adds", "value": 40.0},
                    {"name": "fast_path", "effect": "at_least", "value": 85.0}],
        "learning": false, "routine": false,
        "baseline": {"account_age_days": 31.0, "account_cost_events": 40.0, "known_regions": 1,
                     "known_principals": 1, "type_cost_events": 40.0, "type_mean_usd_per_hour": 0.096,
                     "type_max_usd_per_hour": 0.096, "recent_calls_by_actor": 0.0},
        "thresholds": {"score": {"info": 20.0, "warning": 50.0, "critical": 80.0},
                       "fast_path_usd_per_hour": {"warning": 5.0}, "zscore": 3.0, "scale_jump_factor": 10.0},
        "price": {"basis": "list price", "as_of": "2024-08-06"},
    });
    let ts = alerted(&w, &cost).await;
    let alert = w.chat.messages().last().cloned().unwrap();
    assert!(
        alert.blocks.to_string().contains("\"action_id\":\"why\""),
        "the alert has a Why? button"
    );
    let messages = w.chat.messages().len();

    let r = press(
        &w,
        json!({"action_id": "why", "value": "cost-9", "type": "button"}),
        &ts,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, view) = w.chat.views().last().cloned().expect("a modal");
    assert_eq!(view["title"]["text"], "Why dd0c decided");
    let text = view["blocks"].to_string();
    for expected in [
        "score 92.0: critical",
        "`new_region` adds 40 points",
        "`fast_path` sets the score to at least 85",
        "40 cost events",
        "critical ≥ 80",
        "list price",
        "sent at once",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert_eq!(
        w.chat.messages().len(),
        messages,
        "nothing posted, the alert untouched"
    );

    // A drift finding held for the digest, from a sink without modals: the thread.
    let mut drift = finding("drift-9", FindingKind::Drift);
    drift.notified = false;
    drift.suppressed_reason = Some("new account (strict for 14 days)".into());
    drift.details["decision"] = json!({
        "stage": "classifier", "verdict": "drift: high (tags)",
        "change_class": "drift: jane changed an IaC-managed resource via console",
        "managed": {"evidence": "the account's stacks, read through the read-only role", "stack": "web"},
        "rules": ["tags-changed"],
    });
    let ts = alerted(&w, &drift).await;
    let w = World {
        app: w
            .app
            .with_directory(Arc::new(settings::SingleChat(Arc::new(NoViews(
                w.chat.clone(),
            ))))),
        ..w
    };
    let r = press(
        &w,
        json!({"action_id": "why", "value": "drift-9", "type": "button"}),
        &ts,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reply = w.chat.messages().last().cloned().unwrap();
    assert_eq!(reply.thread_ts.as_deref(), Some(ts.as_str()));
    let text = reply.blocks.to_string();
    for expected in [
        "drift: high (tags)",
        "read through the read-only role",
        "`tags-changed`",
        "held for the digest: new account",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[tokio::test]
async fn an_incident_button_acts_on_every_finding_and_says_so_in_the_thread() {
    let w = world("secret").await;
    let mut ids = Vec::new();
    let mut root_ts = String::new();
    for (i, id) in ["cost-1", "cost-2", "cost-3"].into_iter().enumerate() {
        let mut f = finding(id, FindingKind::CostAnomaly);
        f.event_time += Duration::minutes(i as i64);
        let ts = alerted(&w, &f).await;
        let assigned = dd0c_shared::incidents::assign(w.table.as_ref(), &f, w.clock.now())
            .await
            .unwrap();
        if i == 0 {
            root_ts = ts.clone();
            w.table
                .update(
                    &entity::incident::key("t1", &assigned.incident.id),
                    entity::incident::thread_update("C111", &ts, id),
                )
                .await
                .unwrap();
        }
        ids.push(assigned.incident.id);
    }
    assert!(ids.iter().all(|i| i == "inc-cost-1"));
    // One was acted on alone first: the incident leaves it as it is.
    let r = press(
        &w,
        json!({"action_id": "snooze_24h", "value": "cost-3", "type": "button"}),
        "3.000000",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let all =
        json!({"action_id": "incident_mark_expected", "value": "inc-cost-1", "type": "button"});
    let r = press(&w, all.clone(), &root_ts).await;
    assert_eq!(r.status, 200, "{}", r.body);
    for (id, status) in [
        ("cost-1", FindingStatus::Expected),
        ("cost-2", FindingStatus::Expected),
        ("cost-3", FindingStatus::Snoozed),
    ] {
        let f = entity::finding::load(w.table.as_ref(), "t1", id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.status, status, "{id}");
    }
    let m = w.chat.messages();
    let root = m[0].blocks.to_string();
    assert!(
        root.contains("2 findings marked expected by <@U42> (1 already acted on alone"),
        "{root}"
    );
    assert!(
        !root.contains("incident_mark_expected"),
        "the header's buttons are gone: {root}"
    );
    assert!(m[1]
        .blocks
        .to_string()
        .contains("marked expected by <@U42>"));
    let trail = audit(&w).await;
    assert!(trail.contains(&json!({"action": "incident.mark_expected", "user": "slack:U42", "target": "inc-cost-1"})), "{trail:?}");
    assert_eq!(
        trail
            .iter()
            .filter(|e| e["action"] == "finding.mark_expected")
            .count(),
        2
    );
    // A double click is refused and changes nothing.
    let again = press(&w, all, &root_ts).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(body_json(&again)["detail"]
        .as_str()
        .unwrap()
        .contains("not allowed on a expected incident"));
    let unknown = press(
        &w,
        json!({"action_id": "incident_resolve", "value": "inc-nope", "type": "button"}),
        &root_ts,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(body_json(&unknown)["detail"]
        .as_str()
        .unwrap()
        .contains("no incident inc-nope"));
}

const REMEDIATION_ROLE: &str = "arn:aws:iam::111122223333:role/dd0c-remediation";

/// The world with remediation on: `aws` standing for the customer's account (it knows
/// [`REMEDIATION_ROLE`]), the account connected with that role, and U42 a remediator.
async fn with_remediation(
    w: World,
    aws: Arc<dd0c_shared::remediation::embedded::EmbeddedRemediator>,
) -> World {
    let w = World {
        app: w
            .app
            .with_remediation(aws, dd0c_shared::governance::Policy::system().unwrap()),
        ..w
    };
    let link = dd0c_shared::tenancy::AccountLink {
        remediation_role_arn: Some(REMEDIATION_ROLE.into()),
        ..dd0c_shared::testing::active_account()
    };
    w.table.put(link.to_item().unwrap(), None).await.unwrap();
    settings::put_settings(
        w.table.as_ref(),
        "t1",
        &settings::SlackSettings {
            remediators: vec!["U42".into()],
            ..settings::SlackSettings::default()
        },
    )
    .await
    .unwrap();
    w
}

/// Issue 14, item 1, through the slack function: a drift that opened SSH to the world offers
/// "Revoke this rule"; the tenant's remediator's click revokes exactly that rule (the embedded
/// port standing for AWS), the alert shows the result where the button was, a second click
/// changes nothing more, and the audit trail has the one remediation.
#[tokio::test]
async fn a_remediators_click_revokes_the_opened_rule_once() {
    use dd0c_shared::remediation::embedded::EmbeddedRemediator;
    use dd0c_shared::remediation::IngressRule;

    let w = world("secret").await;
    let ssh = IngressRule {
        protocol: "tcp".into(),
        from_port: Some(22),
        to_port: Some(22),
        cidr: "0.0.0.0/0".into(),
    };
    let aws = Arc::new(
        EmbeddedRemediator::new()
            .with_role(REMEDIATION_ROLE, "ext-1")
            .with_rule("sg-1", ssh.clone()),
    );
    let w = with_remediation(w, aws.clone()).await;
    // What the classifier records of a console AuthorizeSecurityGroupIngress.
    let opened = Finding {
        details: json!({"diff": [{"attribute": "ingress", "old": null,
            "new": {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}}]}),
        ..finding("drift-9", FindingKind::Drift)
    };
    let ts = alerted(&w, &opened).await;
    let click =
        json!({"action_id": "remediate_revoke_ingress", "value": "drift-9", "type": "button"});

    let r = press(&w, click.clone(), &ts).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!aws.has_rule("sg-1", &ssh), "the rule is revoked");
    let message = w.chat.messages().last().unwrap().blocks.to_string();
    assert!(
        message.contains(&format!(
            "Revoked tcp 22 from 0.0.0.0/0 on sg-1 in {} (asked by <@U42>)",
            opened.region
        )),
        "{message}"
    );
    assert!(
        !message.contains("remediate_revoke_ingress"),
        "the result replaces the button"
    );
    assert!(message.contains("mark_expected"), "the other buttons stay");

    let again = press(&w, click, &ts).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(w
        .chat
        .messages()
        .last()
        .unwrap()
        .blocks
        .to_string()
        .contains("already handled"));
    assert_eq!(aws.calls().len(), 1, "AWS was asked once");
    let remediations: Vec<Value> = audit(&w)
        .await
        .into_iter()
        .filter(|e| e["action"] == "remediation.revoke_ingress")
        .collect();
    assert_eq!(
        remediations,
        vec![
            json!({"action": "remediation.revoke_ingress", "user": "slack:U42", "target": "drift-9"})
        ]
    );
}

/// A click on the first alert of an incident edits the thread's root: the incident's header
/// stays above it.
#[tokio::test]
async fn acting_on_the_root_alert_keeps_its_incidents_header() {
    let w = world("secret").await;
    let mut root_ts = String::new();
    for (i, id) in ["cost-1", "cost-2"].into_iter().enumerate() {
        let mut f = finding(id, FindingKind::CostAnomaly);
        f.event_time += Duration::minutes(i as i64);
        let ts = alerted(&w, &f).await;
        let assigned = dd0c_shared::incidents::assign(w.table.as_ref(), &f, w.clock.now())
            .await
            .unwrap();
        if i == 0 {
            root_ts = ts.clone();
            w.table
                .update(
                    &entity::incident::key("t1", &assigned.incident.id),
                    entity::incident::thread_update("C111", &ts, id),
                )
                .await
                .unwrap();
        }
    }
    let r = press(
        &w,
        json!({"action_id": "mark_expected", "value": "cost-1", "type": "button"}),
        &root_ts,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let root = w.chat.messages()[0].blocks.to_string();
    assert!(root.contains("Marked expected by <@U42>"), "{root}");
    assert!(
        root.contains("Incident: 2 cost anomalies"),
        "the header is gone: {root}"
    );
}

/// *Stop all instances* on an incident's header: each finding's own governed *Stop instances*
/// runs (its alert shows its result, its audit entry is written), and the root says what came
/// of all of them; a second click stops nothing more.
#[tokio::test]
async fn stop_all_stops_every_findings_instances_once() {
    use dd0c_shared::remediation::embedded::EmbeddedRemediator;

    let w = world("secret").await;
    let aws = Arc::new(
        EmbeddedRemediator::new()
            .with_role(REMEDIATION_ROLE, "ext-1")
            .with_instance("i-1", "running")
            .with_instance("i-2", "running"),
    );
    let w = with_remediation(w, aws.clone()).await;
    let mut root_ts = String::new();
    let mut incident_id = String::new();
    for (i, id) in ["cost-1", "cost-2"].into_iter().enumerate() {
        let mut f = finding(id, FindingKind::CostAnomaly);
        f.event_time += Duration::minutes(i as i64);
        f.resource_ids = vec![format!("i-{}", i + 1)];
        let ts = alerted(&w, &f).await;
        let assigned = dd0c_shared::incidents::assign(w.table.as_ref(), &f, w.clock.now())
            .await
            .unwrap();
        incident_id = assigned.incident.id.clone();
        if i == 0 {
            root_ts = ts.clone();
            w.table
                .update(
                    &entity::incident::key("t1", &incident_id),
                    entity::incident::thread_update("C111", &ts, id),
                )
                .await
                .unwrap();
        }
    }
    let click = json!({"action_id": "incident_stop_all", "value": incident_id, "type": "button"});
    let r = press(&w, click.clone(), &root_ts).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(aws.instance_state("i-1").as_deref(), Some("stopped"));
    assert_eq!(aws.instance_state("i-2").as_deref(), Some("stopped"));
    let m = w.chat.messages();
    let root = m[0].blocks.to_string();
    assert!(
        root.contains(
            "Stop all by <@U42>: 2 findings' instances stopped, 0 already stopped, 0 not stopped"
        ),
        "{root}"
    );
    assert!(root.contains("Incident: 2 cost anomalies"), "{root}");
    assert!(
        m[1].blocks.to_string().contains("Stopped i-2"),
        "{}",
        m[1].blocks
    );
    let trail = audit(&w).await;
    assert_eq!(
        trail
            .iter()
            .filter(|e| e["action"] == "remediation.stop_instances")
            .count(),
        2,
        "{trail:?}"
    );
    let again = press(&w, click, &root_ts).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(w.chat.messages()[0]
        .blocks
        .to_string()
        .contains("0 findings' instances stopped, 2 already stopped"));
    assert_eq!(aws.calls().len(), 2, "nothing was asked of AWS twice");
}
