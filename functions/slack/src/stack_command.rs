//! `/dd0c stack <stack> owner|channel|watch …`: a stack's owner, alert channel and watching,
//! set from Slack as from the API (`PATCH /v1/stacks/{id}`), audited.

use dd0c_shared::entity::stack::{self, DeclarationChange};
use dd0c_shared::finding_actions;
use dd0c_shared::http::HttpResponse;
use dd0c_shared::slack::blocks::escape_mrkdwn;
use dd0c_shared::slack::settings::valid_channel;
use dd0c_shared::store::StoreError;
use serde_json::json;

use crate::app::SlackApp;
use crate::reply::{ephemeral, section, slack_actor};

pub const STACK_HELP: &str = "• `/dd0c stack <stack> owner @person|none`, `channel #channel|none`, `watch on|off`: who owns a stack, where its alerts go, whether its drift alerts";

/// Slack writes a mentioned user as `<@U0123|name>` and a channel as `<#C0123|name>`; plain
/// text (an e-mail, `#name`) is kept as typed.
fn unwrap_reference(word: &str, sigil: char) -> String {
    word.strip_prefix('<')
        .and_then(|w| w.strip_suffix('>'))
        .and_then(|w| w.strip_prefix(sigil))
        .map(|w| w.split('|').next().unwrap_or(w).to_owned())
        .unwrap_or_else(|| word.to_owned())
}

/// The change `words` (after the stack) ask for, or what is wrong with them.
pub fn parse_change(words: &[&str]) -> Result<DeclarationChange, String> {
    let value = words
        .get(1..)
        .map(|rest| rest.join(" "))
        .unwrap_or_default();
    let cleared = |v: &str| v.eq_ignore_ascii_case("none") || v.is_empty();
    match words.first().copied() {
        Some("owner") => {
            let owner = if cleared(&value) {
                String::new()
            } else {
                unwrap_reference(&value, '@')
            };
            if owner.chars().count() > 128 || owner.chars().any(char::is_control) {
                return Err("an owner is at most 128 characters".into());
            }
            Ok(DeclarationChange {
                owner: Some(owner),
                ..DeclarationChange::default()
            })
        }
        Some("channel") => {
            let channel = if cleared(&value) {
                String::new()
            } else {
                unwrap_reference(&value, '#')
            };
            if !channel.is_empty() && !valid_channel(&channel) {
                return Err(format!(
                    "`{}` is not a channel: name one with #, or pick it from the list",
                    escape_mrkdwn(&value)
                ));
            }
            Ok(DeclarationChange {
                slack_channel: Some(channel),
                ..DeclarationChange::default()
            })
        }
        Some("watch") => match value.as_str() {
            "on" => Ok(DeclarationChange {
                enabled: Some(true),
                ..DeclarationChange::default()
            }),
            "off" => Ok(DeclarationChange {
                enabled: Some(false),
                ..DeclarationChange::default()
            }),
            _ => Err("`watch` takes `on` or `off`".into()),
        },
        _ => Err(format!("Usage:\n{STACK_HELP}")),
    }
}

impl SlackApp {
    pub(crate) async fn stack(
        &self,
        tenant: &str,
        user: &str,
        words: &[&str],
    ) -> Result<HttpResponse, StoreError> {
        let reply = |text: &str| ephemeral("dd0c stack", json!([section(text)]));
        let Some((stack_id, rest)) = words.split_first() else {
            return Ok(reply(&format!("Usage:\n{STACK_HELP}")));
        };
        let change = match parse_change(rest) {
            Ok(c) => c,
            Err(problem) => return Ok(reply(&problem)),
        };
        let now = self.clock.now();
        let table = self.table.as_ref();
        let Some(changed) =
            stack::change_declaration(table, tenant, stack_id, &change, &now).await?
        else {
            return Ok(reply(&format!(
                "No stack `{}`: `/dd0c drift` lists them.",
                escape_mrkdwn(stack_id)
            )));
        };
        let who = slack_actor(user);
        finding_actions::append_audit(
            table,
            &finding_actions::audit_entry(
                tenant,
                &who,
                now,
                "stack.change",
                stack_id,
                json!({"owner": change.owner, "slack_channel": change.slack_channel, "enabled": change.enabled}),
            ),
        )
        .await?;
        let show = |v: &Option<String>| {
            v.as_deref()
                .map_or_else(|| "none".to_owned(), escape_mrkdwn)
        };
        Ok(reply(&format!(
            "*{}*: owner {}, alerts to {}, drift alerts {}.",
            escape_mrkdwn(if changed.name.is_empty() {
                &changed.stack_id
            } else {
                &changed.name
            }),
            show(&changed.owner),
            changed
                .slack_channel
                .as_deref()
                .map_or_else(|| "the account's channel".to_owned(), escape_mrkdwn),
            if changed.enabled { "on" } else { "off" }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_channel_links_become_ids_and_none_clears() {
        let owner = parse_change(&["owner", "<@U0123ABCDE|alice>"]).unwrap();
        assert_eq!(owner.owner.as_deref(), Some("U0123ABCDE"));
        let owner = parse_change(&["owner", "platform", "team"]).unwrap();
        assert_eq!(owner.owner.as_deref(), Some("platform team"));
        assert_eq!(
            parse_change(&["owner", "none"]).unwrap().owner.as_deref(),
            Some("")
        );
        let channel = parse_change(&["channel", "<#C0123ABCDE|payments>"]).unwrap();
        assert_eq!(channel.slack_channel.as_deref(), Some("C0123ABCDE"));
        assert_eq!(
            parse_change(&["channel", "#payments-alerts"])
                .unwrap()
                .slack_channel
                .as_deref(),
            Some("#payments-alerts")
        );
        assert!(parse_change(&["channel", "Payments Team"]).is_err());
        assert_eq!(
            parse_change(&["watch", "off"]).unwrap().enabled,
            Some(false)
        );
        assert!(parse_change(&["watch", "maybe"]).is_err());
        assert!(parse_change(&["colour", "red"])
            .unwrap_err()
            .contains("Usage"));
    }
}
