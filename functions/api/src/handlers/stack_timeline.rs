//! `GET /v1/stacks/{id}/timeline`: the stack's changes and drift, newest first, a page at a
//! time (two queries a page: `entity::stack_timeline`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use dd0c_shared::domain::drift::{AttributeChange, ChangeEvent};
use dd0c_shared::entity::stack;
use dd0c_shared::entity::stack_timeline::{self, TimelineEntry as Entry};
use dd0c_shared::http::HttpResponse;

use super::{valid_segment, Ctx};
use crate::error::ApiError;
use crate::model::{AttributeDiff, TimelineEntry, TimelinePage};
use crate::pagination;

fn diff(changes: &[AttributeChange]) -> Vec<AttributeDiff> {
    changes
        .iter()
        .map(|c| AttributeDiff {
            attribute: c.attribute.clone(),
            old: c.old.clone(),
            new: c.new.clone(),
        })
        .collect()
}

/// The who / how / from where of a CloudTrail change.
fn attributed(mut entry: TimelineEntry, change: Option<&ChangeEvent>) -> TimelineEntry {
    if let Some(c) = change {
        entry.action = Some(c.action.clone());
        entry.who = Some(c.actor.name.clone());
        entry.actor_arn = Some(c.actor.arn.clone());
        entry.via = Some(c.actor.source.label());
        entry.source_ip = c.actor.ip.clone();
        entry.mfa = Some(c.actor.mfa);
    }
    entry
}

fn view(entry: Entry) -> TimelineEntry {
    match entry {
        Entry::Change(c) => {
            let base = TimelineEntry {
                kind: "change".into(),
                time: c.event_time,
                resource_type: c.resource_type.clone(),
                resource_id: c.resource_id.clone(),
                resource_address: None,
                action: None,
                class: serde_json::to_value(c.class)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
                who: None,
                actor_arn: None,
                via: None,
                source_ip: None,
                mfa: None,
                changes: diff(&c.changes),
                finding_id: None,
                status: None,
                severity: None,
            };
            attributed(base, Some(c.as_ref()))
        }
        Entry::Drift(d) => {
            let base = TimelineEntry {
                kind: "drift".into(),
                time: d.event.detected_at,
                resource_type: d.event.resource_type.clone(),
                resource_id: d.event.resource_id.clone(),
                resource_address: d.event.resource_address.clone(),
                action: None,
                class: None,
                who: None,
                actor_arn: None,
                via: None,
                source_ip: None,
                mfa: None,
                changes: diff(&d.event.changes),
                finding_id: Some(d.event.id.clone()),
                status: Some(d.status.as_str().to_owned()),
                severity: d.severity.map(|s| s.as_str().to_owned()),
            };
            attributed(base, d.event.change.as_ref())
        }
    }
}

fn invalid_next() -> ApiError {
    ApiError::bad_request(
        "next",
        "the next token is not valid for this timeline (pass it back unchanged)",
    )
}

/// The position a `next` token names.
fn position(raw: Option<&String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .map_err(|_| invalid_next())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid_next())?;
    if !stack_timeline::valid_position(&text) {
        return Err(invalid_next());
    }
    Ok(Some(text))
}

pub(super) async fn stack_timeline(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("id");
    if !valid_segment(id) {
        return Err(ApiError::bad_request("id", "not a stack id"));
    }
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let before = position(ctx.request.query.get("next"))?;
    if stack::load_stack(ctx.table(), ctx.tenant(), id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no stack {id}")));
    }
    let page =
        stack_timeline::page(ctx.table(), ctx.tenant(), id, before.as_deref(), limit).await?;
    Ok(HttpResponse::json(
        200,
        &TimelinePage {
            items: page.entries.into_iter().map(view).collect(),
            next: page
                .next_before
                .map(|position| URL_SAFE_NO_PAD.encode(position)),
        },
    ))
}
