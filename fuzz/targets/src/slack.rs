//! Slack's two signed doors through the Slack function's HTTP handler (`SlackApp`), on a
//! memory table where team `T111` is installed for tenant `t1` with two open findings
//! (`cost-1`, `drift-1`) whose alerts were posted:
//! - `slack_command`: the input is the form body of a slash command;
//! - `slack_interaction`: the first byte picks the form body as given (low bit 0) or the
//!   rest as the `payload` JSON, form-encoded by the target (low bit 1).
//!
//! Each request is signed as Slack signs it, so the parsing behind the signature is reached;
//! the same request with any one byte of its body changed must be refused (401).

use std::sync::Arc;

use dd0c_shared::chat::{ChatMessage, ChatSink, RecordingChat};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::{Finding, FindingKind, Severity};
use dd0c_shared::entity;
use dd0c_shared::http::{percent_encode, HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::signatures::sign_slack;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::testing::{cost_finding, drift_finding};
use dd0c_slack::{SlackApp, SlackSecrets};
use serde_json::json;

use crate::support::{block_on, json_body, now, one_byte_changed};

const SECRET: &str = "fuzz-slack-signing-secret";
pub const TEAM: &str = "T111";
pub const CHANNEL: &str = "C111";

pub fn slack_command(data: &[u8]) {
    block_on(async {
        let app = app().await;
        let response = app.handle(signed("/v1/slack/commands", data)).await;
        // 403: a team no installation links (no default tenant here).
        check(&response, &[200, 403]);
        if response.status == 200 {
            let body = json_body(&response.body);
            assert_eq!(body["response_type"], "ephemeral", "{body}");
        }
        refuses_a_changed_byte(&app, "/v1/slack/commands", data).await;
    });
}

pub fn slack_interaction(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode & 1 == 1 {
        format!("payload={}", percent_encode(&String::from_utf8_lossy(rest))).into_bytes()
    } else {
        rest.to_vec()
    };
    block_on(async {
        let app = app().await;
        let response = app.handle(signed("/v1/slack/actions", &body)).await;
        // 400 bad payload or unknown action, 403 unknown team, 404 no such finding, 409 a
        // change the finding's status does not allow.
        check(&response, &[200, 400, 403, 404, 409]);
        refuses_a_changed_byte(&app, "/v1/slack/actions", &body).await;
    });
}

async fn app() -> SlackApp {
    let clock = Arc::new(ManualClock::new(now()));
    let table = Arc::new(MemoryTable::new(clock.clone()));
    table
        .put(entity::slack_installation::team_item(TEAM, "t1"), None)
        .await
        .expect("the memory table takes the team");
    let chat = Arc::new(RecordingChat::default());
    for (id, kind) in [
        ("cost-1", FindingKind::CostAnomaly),
        ("drift-1", FindingKind::Drift),
    ] {
        let base = if kind == FindingKind::Drift {
            drift_finding(id)
        } else {
            cost_finding(id)
        };
        let finding = Finding {
            severity: Severity::Critical,
            notified: true,
            event_time: now() - chrono::Duration::hours(1),
            created_at: now() - chrono::Duration::hours(1),
            details: json!({"stack": "web", "sku": "p3.8xlarge", "service": "ec2"}),
            ..base
        };
        entity::finding::record(table.as_ref(), &finding)
            .await
            .expect("the memory table takes a finding");
        let posted = chat
            .post(ChatMessage {
                channel: CHANNEL.into(),
                text: id.into(),
                blocks: dd0c_shared::slack::blocks::finding_alert(&finding),
                thread_ts: None,
            })
            .await
            .expect("the recording chat takes a message");
        entity::finding::record_alert_message(table.as_ref(), &finding, CHANNEL, &posted.ts)
            .await
            .expect("the memory table takes the alert");
    }
    SlackApp::new(
        table,
        chat,
        clock,
        SlackSecrets {
            signing_secret: SECRET.into(),
        },
    )
}

fn signed(path: &str, body: &[u8]) -> HttpRequest {
    let ts = now().timestamp().to_string();
    HttpRequest::new("POST", path)
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_header("x-slack-request-timestamp", &ts)
        .with_header("x-slack-signature", &sign_slack(SECRET, &ts, body))
        .with_body(body.to_vec())
}

/// Signed, so never 401; otherwise one of `allowed`, and a refusal is a problem in JSON.
fn check(response: &HttpResponse, allowed: &[u16]) {
    assert!(
        allowed.contains(&response.status),
        "status {}: {}",
        response.status,
        response.body
    );
    if response.status >= 400 {
        let body = json_body(&response.body);
        assert_eq!(body["status"], response.status, "{body}");
    }
}

async fn refuses_a_changed_byte(app: &SlackApp, path: &str, body: &[u8]) {
    let signed = signed(path, body);
    let at = body.len() / 2 + body.first().map_or(0, |b| usize::from(*b));
    let Some(changed) = one_byte_changed(body, at, body.last().copied().unwrap_or(1)) else {
        return;
    };
    let response = app.handle(signed.with_body(changed)).await;
    assert_eq!(response.status, 401, "a changed body was accepted");
}
