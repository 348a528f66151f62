//! Creating, listing and revoking the tenant's API keys.

use serde_json::json;

use dd0c_shared::auth::api_keys;
use dd0c_shared::entity::api_key;
use dd0c_shared::http::HttpResponse;

use super::{valid_segment, Ctx};
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;

pub(super) async fn api_keys_create(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: ApiKeyCreate = json_body(&ctx.request.body)?;
    if body.name.trim().is_empty() || body.name.len() > 64 {
        return Err(ApiError::bad_request(
            "name",
            "name must be 1-64 characters",
        ));
    }
    let (record, plain) = api_keys::create(
        ctx.table(),
        ctx.tenant(),
        &body.name,
        Some(&ctx.principal.user),
        ctx.now(),
    )
    .await?;
    ctx.audit(
        "api_key.create",
        &record.key_id,
        json!({ "name": record.name }),
    )
    .await?;
    Ok(HttpResponse::json(
        201,
        &ApiKeyCreated {
            key: ApiKeyView {
                key_id: record.key_id,
                name: record.name,
                prefix: record.prefix,
                created_at: record.created_at,
            },
            api_key: plain,
        },
    ))
}

pub(super) async fn api_keys_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let start = pagination::decode(
        ctx.request.query.get("next"),
        &api_key::tenant_keys_query(ctx.tenant()),
    )?;
    let (list, next) = api_key::tenant_keys_page(ctx.table(), ctx.tenant(), limit, start).await?;
    let items = list
        .into_iter()
        .map(|k| ApiKeyView {
            key_id: k.key_id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
        })
        .collect();
    Ok(HttpResponse::json(
        200,
        &ApiKeyPage {
            items,
            next: pagination::encode(&next),
        },
    ))
}

pub(super) async fn api_key_delete(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("id");
    if !valid_segment(id) {
        return Err(ApiError::bad_request("id", "not a key id"));
    }
    if !api_key::delete_by_id(ctx.table(), ctx.tenant(), id).await? {
        return Err(ApiError::not_found(format!("no API key {id}")));
    }
    ctx.audit("api_key.revoke", id, json!({})).await?;
    Ok(HttpResponse::text(204, "text/plain", ""))
}
