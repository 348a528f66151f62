//! The assign modal's view (its submission is handled with the other interactive payloads).

use dd0c_shared::domain::Finding;
use dd0c_shared::slack::blocks::summary;
use serde_json::{json, Value};

use crate::reply::section;

/// The modal's callback id, and its one input.
pub(crate) const ASSIGN_VIEW: &str = "assign";
pub(crate) const OWNER_BLOCK: &str = "owner";

/// "Assign": a modal with a user select. The finding and the alert's message travel in
/// `private_metadata` so the submission can set the owner and update the alert.
pub(crate) fn assign_modal(finding: &Finding, channel: Option<&str>, ts: Option<&str>) -> Value {
    json!({
        "type": "modal",
        "callback_id": ASSIGN_VIEW,
        "private_metadata": json!({"finding_id": finding.id, "channel": channel, "ts": ts}).to_string(),
        "title": {"type": "plain_text", "text": "Assign an owner"},
        "submit": {"type": "plain_text", "text": "Assign"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(&format!("*{}*\n`{}`", summary(finding), finding.id)),
            {"type": "input", "block_id": OWNER_BLOCK, "label": {"type": "plain_text", "text": "Owner"},
             "element": {"type": "users_select", "action_id": "assign_to",
                         "placeholder": {"type": "plain_text", "text": "Pick an owner"}}}
        ]
    })
}
