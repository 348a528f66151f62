//! Where an alert goes and whom it mentions, most specific rule first, for cost and drift
//! alerts alike:
//!
//! 1. the resource's tags, through the tag keys the tenant names: the channel tag (`team` →
//!    `payments` → `#payments-alerts` through the tenant's map, or a value that is itself a
//!    channel, `#payments-alerts` or a channel id) and the mention tag (`owner` →
//!    `alice@example.com` or a Slack user id);
//! 2. the stack's channel and owner;
//! 3. the AWS account's channel;
//! 4. the tenant's default channel, then dd0c's.
//!
//! Pure: the caller loads the settings and the stack. docs/decisions/0500.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::drift::Stack;
use crate::domain::Finding;

use super::settings::{valid_channel, SlackSettings};

/// The channel and the person to mention, and which rule chose each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub channel: String,
    pub channel_rule: RouteRule,
    pub mention: Option<String>,
    pub mention_rule: Option<RouteRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteRule {
    /// `key=value` of the resource's tags.
    Tag(String, String),
    Stack(String),
    Account(String),
    TenantDefault,
    Fallback,
}

/// The resource tags a finding carries (`details.tags`: `{key: value}`).
pub fn finding_tags(finding: &Finding) -> BTreeMap<String, String> {
    finding
        .details
        .get("tags")
        .and_then(Value::as_object)
        .map(|tags| {
            tags.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

pub fn route(
    settings: &SlackSettings,
    finding: &Finding,
    stack: Option<&Stack>,
    fallback: &str,
) -> Route {
    let tags = finding_tags(finding);
    let tag_channel = settings.channel_tag.as_ref().and_then(|key| {
        let value = tags.get(key)?;
        let channel = settings
            .tag_channels
            .get(value)
            .cloned()
            .or_else(|| valid_channel(value).then(|| value.clone()))?;
        Some((channel, RouteRule::Tag(key.clone(), value.clone())))
    });
    let stack_name = |s: &Stack| {
        if s.name.is_empty() {
            s.stack_id.clone()
        } else {
            s.name.clone()
        }
    };
    let (channel, channel_rule) = tag_channel
        .or_else(|| {
            let s = stack?;
            Some((s.slack_channel.clone()?, RouteRule::Stack(stack_name(s))))
        })
        .or_else(|| {
            let channel = settings.account_channels.get(&finding.account_id)?;
            Some((
                channel.clone(),
                RouteRule::Account(finding.account_id.clone()),
            ))
        })
        .or_else(|| Some((settings.default_channel.clone()?, RouteRule::TenantDefault)))
        .unwrap_or_else(|| (fallback.to_owned(), RouteRule::Fallback));
    let tag_mention = settings.mention_tag.as_ref().and_then(|key| {
        let value = tags.get(key).filter(|v| !v.trim().is_empty())?;
        Some((value.clone(), RouteRule::Tag(key.clone(), value.clone())))
    });
    let (mention, mention_rule) = match tag_mention.or_else(|| {
        let s = stack?;
        Some((s.owner.clone()?, RouteRule::Stack(stack_name(s))))
    }) {
        Some((m, r)) => (Some(m), Some(r)),
        None => (None, None),
    };
    Route {
        channel,
        channel_rule,
        mention,
        mention_rule,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing;

    fn settings() -> SlackSettings {
        SlackSettings {
            default_channel: Some("#alerts".into()),
            account_channels: [(testing::ACCOUNT.to_owned(), "#prod-account".to_owned())].into(),
            channel_tag: Some("team".into()),
            tag_channels: [("payments".to_owned(), "#payments-alerts".to_owned())].into(),
            mention_tag: Some("owner".into()),
            ..SlackSettings::default()
        }
    }

    fn stack() -> Stack {
        serde_json::from_value(json!({
            "stack_id": "s-1", "name": "payments-prod",
            "owner": "bruno@example.com", "slack_channel": "#payments-infra",
        }))
        .expect("a stack")
    }

    fn tagged(mut f: Finding, tags: serde_json::Value) -> Finding {
        f.details["tags"] = tags;
        f
    }

    #[test]
    fn a_tag_rule_beats_the_stack_which_beats_the_account_which_beats_the_default() {
        let s = settings();
        let drift = testing::drift_finding("drift-1");
        let by_tag = tagged(
            drift.clone(),
            json!({"team": "payments", "owner": "alice@example.com"}),
        );
        let r = route(&s, &by_tag, Some(&stack()), "#dd0c");
        assert_eq!(r.channel, "#payments-alerts");
        assert_eq!(
            r.channel_rule,
            RouteRule::Tag("team".into(), "payments".into())
        );
        assert_eq!(r.mention.as_deref(), Some("alice@example.com"));
        let r = route(&s, &drift, Some(&stack()), "#dd0c");
        assert_eq!(r.channel, "#payments-infra");
        assert_eq!(r.channel_rule, RouteRule::Stack("payments-prod".into()));
        assert_eq!(r.mention.as_deref(), Some("bruno@example.com"));
        let r = route(&s, &drift, None, "#dd0c");
        assert_eq!((r.channel.as_str(), r.mention), ("#prod-account", None));
        let mut other = drift.clone();
        other.account_id = "999999999999".into();
        assert_eq!(route(&s, &other, None, "#dd0c").channel, "#alerts");
        assert_eq!(
            route(&SlackSettings::default(), &other, None, "#dd0c").channel_rule,
            RouteRule::Fallback
        );
    }

    #[test]
    fn cost_alerts_route_by_tag_too_and_a_value_may_name_the_channel_itself() {
        let s = settings();
        let cost = tagged(
            testing::cost_finding("cost-1"),
            json!({"team": "#ml-spend"}),
        );
        assert_eq!(route(&s, &cost, None, "#dd0c").channel, "#ml-spend");
        // A value the map does not know and that is no channel falls through to the account.
        let unknown = tagged(testing::cost_finding("cost-1"), json!({"team": "data"}));
        assert_eq!(route(&s, &unknown, None, "#dd0c").channel, "#prod-account");
        // Tag keys the tenant did not name route nothing.
        let unnamed = SlackSettings {
            channel_tag: None,
            mention_tag: None,
            ..settings()
        };
        let r = route(
            &unnamed,
            &tagged(
                testing::cost_finding("c"),
                json!({"team": "payments", "owner": "x"}),
            ),
            None,
            "#dd0c",
        );
        assert_eq!((r.channel.as_str(), r.mention), ("#prod-account", None));
        assert!(valid_channel("C0123ABCD9") && !valid_channel("payments") && !valid_channel("Cat"));
    }
}
