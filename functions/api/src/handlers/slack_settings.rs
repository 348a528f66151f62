//! The tenant's Slack settings and starting a Slack install.

use serde_json::json;

use dd0c_shared::http::HttpResponse;
use dd0c_shared::slack::install as slack_install;
use dd0c_shared::slack::settings::{
    self as slack_settings, valid_channel, InstallationStatus, SlackSettings,
};

use super::Ctx;
use crate::error::{json_body, ApiError};
use crate::model::*;

async fn slack_settings_view(
    ctx: &Ctx<'_>,
    s: SlackSettings,
) -> Result<SlackSettingsView, ApiError> {
    let (zone, hour) = s.digest_time();
    let installation = slack_settings::load_installation(ctx.table(), ctx.tenant()).await?;
    let installed = installation.as_ref().map(|i| SlackInstallationView {
        team_name: i.team_name.clone(),
        status: match i.status {
            InstallationStatus::Active => "active".into(),
            InstallationStatus::Broken => "broken".into(),
        },
        channel_id: i.channel_id.clone(),
        channel_name: i.channel_name.clone(),
        channel_problem: i.channel_problem.as_ref().map(|p| {
            format!("{p}. Invite the dd0c app to that channel (/invite @dd0c) or choose another; until then alerts go to the channel chosen at install.")
        }),
    });
    Ok(SlackSettingsView {
        default_channel: s.default_channel,
        account_channels: s.account_channels,
        digest_time_zone: zone.name().to_owned(),
        digest_hour: hour,
        channel_tag: s.channel_tag,
        tag_channels: s.tag_channels,
        mention_tag: s.mention_tag,
        remediators: s.remediators,
        installation: installed,
    })
}

/// A Slack user id: `U…` or `W…`, upper-case letters and digits.
fn is_slack_user_id(u: &str) -> bool {
    (9..=21).contains(&u.len())
        && (u.starts_with('U') || u.starts_with('W'))
        && u.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A tag key: 1-128 characters, none of them a control character.
fn valid_tag_key(k: &str) -> bool {
    (1..=128).contains(&k.chars().count()) && !k.chars().any(char::is_control)
}

fn channel_error(field: &str) -> ApiError {
    ApiError::bad_request(
        field,
        format!("{field} must name #channel-name (lower case, digits, - and _) or a channel id"),
    )
}

/// Applies `changes` (`None` removes the key) to `map`, each channel validated.
fn merged(
    field: &str,
    mut map: std::collections::BTreeMap<String, String>,
    changes: &std::collections::BTreeMap<String, Option<String>>,
    valid_key: impl Fn(&str) -> bool,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    for (k, channel) in changes {
        if !valid_key(k) {
            return Err(ApiError::bad_request(
                field,
                format!("{field}: {k:?} is not a valid key"),
            ));
        }
        match channel {
            Some(c) if valid_channel(c) => {
                map.insert(k.clone(), c.clone());
            }
            Some(_) => return Err(channel_error(field)),
            None => {
                map.remove(k);
            }
        }
    }
    Ok(map)
}

/// The routing after the patch, when it changes any of it.
fn routing_change(
    body: &SlackSettingsPatch,
    current: &SlackSettings,
) -> Result<Option<slack_settings::RoutingChange>, ApiError> {
    if body.account_channels.is_none()
        && body.channel_tag.is_none()
        && body.tag_channels.is_none()
        && body.mention_tag.is_none()
    {
        return Ok(None);
    }
    let tag = |field: &str, value: &Option<String>, now: &Option<String>| match value {
        None => Ok(now.clone()),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) if valid_tag_key(v) => Ok(Some(v.clone())),
        Some(_) => Err(ApiError::bad_request(
            field,
            format!("{field} must be a tag key of 1-128 characters"),
        )),
    };
    let account = |k: &str| k.len() == 12 && k.bytes().all(|b| b.is_ascii_digit());
    Ok(Some(slack_settings::RoutingChange {
        read_version: current.routing_version,
        account_channels: match &body.account_channels {
            Some(changes) => merged(
                "account_channels",
                current.account_channels.clone(),
                changes,
                account,
            )?,
            None => current.account_channels.clone(),
        },
        channel_tag: tag("channel_tag", &body.channel_tag, &current.channel_tag)?,
        tag_channels: match &body.tag_channels {
            Some(changes) => merged("tag_channels", current.tag_channels.clone(), changes, |v| {
                !v.is_empty() && v.chars().count() <= 256
            })?,
            None => current.tag_channels.clone(),
        },
        mention_tag: tag("mention_tag", &body.mention_tag, &current.mention_tag)?,
    }))
}

pub(super) async fn slack_settings_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let s = slack_settings::load_settings(ctx.table(), ctx.tenant()).await?;
    Ok(HttpResponse::json(200, &slack_settings_view(ctx, s).await?))
}

pub(super) async fn slack_settings_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: SlackSettingsPatch = json_body(&ctx.request.body)?;
    let invalid =
        |e: slack_settings::DigestTimeError| ApiError::bad_request(e.field(), e.to_string());
    if let Some(c) = &body.default_channel {
        if !valid_channel(c) {
            return Err(ApiError::bad_request(
                "default_channel",
                "default_channel must be a #channel-name (lower case, digits, - and _) or a channel id",
            ));
        }
    }
    let zone = match &body.digest_time_zone {
        Some(z) => Some(slack_settings::parse_time_zone(z).map_err(invalid)?),
        None => None,
    };
    let hour = match body.digest_hour {
        Some(h) => Some(slack_settings::parse_digest_hour(h).map_err(invalid)?),
        None => None,
    };
    if let Some(users) = &body.remediators {
        if users.len() > 100 || !users.iter().all(|u| is_slack_user_id(u)) {
            return Err(ApiError::bad_request(
                "remediators",
                "remediators must be at most 100 Slack user ids (U… or W…, upper-case letters and digits)",
            ));
        }
    }
    let current = slack_settings::load_settings(ctx.table(), ctx.tenant()).await?;
    let routing = routing_change(&body, &current)?;
    let change = slack_settings::SettingsChange {
        default_channel: body.default_channel.clone(),
        digest_time_zone: zone.map(|z| z.name().to_owned()),
        digest_hour: hour,
        routing: routing.clone(),
        remediators: body.remediators.clone(),
    };
    let s = match slack_settings::update_settings(ctx.table(), ctx.tenant(), &change).await {
        Ok(s) => s,
        Err(e) if e.is_condition_failed() => {
            return Err(ApiError::new(
                409,
                "Conflict",
                "the alert routing changed while this change was made: reload the settings and apply it again",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    ctx.audit(
        "settings.slack",
        "slack",
        json!({
            "default_channel": change.default_channel,
            "digest_time_zone": change.digest_time_zone,
            "digest_hour": change.digest_hour,
            "remediators": change.remediators,
            "routing": routing.map(|r| json!({
                "account_channels": r.account_channels, "channel_tag": r.channel_tag,
                "tag_channels": r.tag_channels, "mention_tag": r.mention_tag,
            })),
        }),
    )
    .await?;
    Ok(HttpResponse::json(200, &slack_settings_view(ctx, s).await?))
}

/// Starts a Slack install for the caller's tenant: the link carries a single-use state bound
/// to the tenant the verified token names, so nobody can link their workspace to another
/// tenant. The dashboard sends the browser to the returned URL.
pub(super) async fn slack_install_url(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let Some(install) = &ctx.api.config.slack_install else {
        return Err(ApiError::new(
            409,
            "Not configured",
            "the Slack app is not configured: put its client_id in the Slack secret (docs/deploy.md); for dd0c serve, set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET",
        ));
    };
    let redirect_uri =
        slack_install::redirect_uri_for(install.redirect_uri.as_deref(), ctx.request).ok_or_else(
            || ApiError::bad_request("host", "the request has no usable host header"),
        )?;
    let link = slack_install::InstallLink {
        client_id: install.client_id.clone(),
        redirect_uri,
    };
    let url = slack_install::start_install(ctx.table(), ctx.now(), ctx.tenant(), &link).await?;
    ctx.audit("slack.install_started", "slack", json!({}))
        .await?;
    Ok(HttpResponse::json(200, &RedirectResponse { url }))
}
