//! Building blocks of the app's answers: ephemeral messages, mrkdwn sections, and the
//! form bodies Slack posts.

use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::slack::blocks::{truncate, MAX_TEXT};
use serde_json::{json, Value};

pub(crate) fn ephemeral(text: &str, blocks: Value) -> HttpResponse {
    HttpResponse::json(
        200,
        &json!({"response_type": "ephemeral", "text": truncate(text, MAX_TEXT), "blocks": blocks}),
    )
}

pub(crate) fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_TEXT)}})
}

pub(crate) fn form(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    HttpRequest::parse_query(&String::from_utf8_lossy(body))
}

/// Who acted, for the audit trail: the Slack user who clicked or typed.
pub(crate) fn slack_actor(user: &str) -> dd0c_shared::finding_actions::Actor {
    dd0c_shared::finding_actions::Actor {
        user: if user.is_empty() {
            "slack user".into()
        } else {
            format!("slack:{user}")
        },
        via: "slack".into(),
    }
}
