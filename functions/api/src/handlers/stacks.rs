//! The IaC stacks drift detection watches.

use serde_json::json;

use dd0c_shared::accounts;
use dd0c_shared::http::HttpResponse;
use dd0c_shared::store::{
    from_item, keys, to_item, AttrValue, Condition, Item, Query, Update, PK, SK,
};
use dd0c_shared::tenancy;

use super::{decode_err, valid_region, valid_segment, Ctx};
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;

const IAC_TOOLS: [&str; 4] = ["terraform", "cloudformation", "cdk", "pulumi"];

pub(super) async fn stacks_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let partition = keys::stack(ctx.tenant(), "").pk;
    let start = pagination::decode(ctx.request.query.get("next"), "PK", &partition)?;
    let page = ctx
        .table()
        .query(
            Query::partition(partition)
                .begins_with("STACK#")
                .limit(limit)
                .start_after(start),
        )
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|i| from_item::<Stack>(i).map_err(decode_err))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::json(
        200,
        &StackPage {
            items,
            next: pagination::encode(&page.next),
        },
    ))
}

fn stack_item(tenant: &str, stack: &Stack) -> Result<Item, ApiError> {
    let mut item = to_item(stack).map_err(decode_err)?;
    let key = keys::stack(tenant, &stack.stack_id);
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("tenant_id".into(), AttrValue::S(tenant.to_owned()));
    item.insert("entity".into(), AttrValue::S("stack".into()));
    Ok(item)
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(ApiError::bad_request(
            "name",
            "name must be 1-128 characters",
        ));
    }
    Ok(())
}

fn validate_state_location(s: &Option<String>) -> Result<(), ApiError> {
    if s.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(ApiError::bad_request(
            "state_location",
            "state_location must be at most 1024 characters",
        ));
    }
    Ok(())
}

pub(super) async fn stacks_create(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: StackCreate = json_body(&ctx.request.body)?;
    validate_name(&body.name)?;
    if !IAC_TOOLS.contains(&body.iac_tool.as_str()) {
        return Err(ApiError::bad_request(
            "iac_tool",
            format!("iac_tool must be one of {}", IAC_TOOLS.join(", ")),
        ));
    }
    if !accounts::is_account_id(&body.account_id) {
        return Err(ApiError::bad_request(
            "account_id",
            "account_id must be 12 digits",
        ));
    }
    if !valid_region(&body.region) {
        return Err(ApiError::bad_request(
            "region",
            format!("{:?} is not an AWS region", body.region),
        ));
    }
    validate_state_location(&body.state_location)?;
    match tenancy::account_link(ctx.table(), &body.account_id).await? {
        Some(link) if link.tenant_id == ctx.tenant() => {}
        // Another tenant's account answers as one nobody connected (decision 0600).
        _ => {
            return Err(ApiError::bad_request(
                "account_id",
                "connect the account first (POST /v1/accounts)",
            ))
        }
    }
    let now = ctx.now();
    let stack = Stack {
        stack_id: uuid::Uuid::new_v4().to_string(),
        name: body.name,
        iac_tool: body.iac_tool,
        account_id: body.account_id,
        region: body.region,
        state_location: body.state_location,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    ctx.table()
        .put(
            stack_item(ctx.tenant(), &stack)?,
            Some(Condition::ItemNotExists),
        )
        .await?;
    ctx.audit(
        "stack.create",
        &stack.stack_id,
        json!({ "name": stack.name }),
    )
    .await?;
    Ok(HttpResponse::json(201, &stack))
}

pub(super) async fn stack_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: StackPatchBody = json_body(&ctx.request.body)?;
    let id = match (ctx.param("id"), &body.stack_id) {
        ("", Some(id)) => id.clone(),
        ("", None) => return Err(ApiError::bad_request("stack_id", "stack_id is required")),
        (path, Some(id)) if path != id => {
            return Err(ApiError::bad_request(
                "stack_id",
                "stack_id differs from the path",
            ))
        }
        (path, _) => path.to_owned(),
    };
    if !valid_segment(&id) {
        return Err(ApiError::bad_request("stack_id", "not a stack id"));
    }
    if let Some(name) = &body.name {
        validate_name(name)?;
    }
    validate_state_location(&body.state_location)?;
    let key = keys::stack(ctx.tenant(), &id);
    let mut update = Update::new()
        .set("updated_at", keys::time_key(&ctx.now()))
        .when(Condition::ItemExists);
    if let Some(name) = &body.name {
        update = update.set("name", name.as_str());
    }
    if let Some(loc) = &body.state_location {
        update = update.set("state_location", loc.as_str());
    }
    if let Some(enabled) = body.enabled {
        update = update.set("enabled", enabled);
    }
    let item = ctx.table().update(&key, update).await.map_err(|e| {
        if e.is_condition_failed() {
            ApiError::not_found(format!("no stack {id}"))
        } else {
            e.into()
        }
    })?;
    ctx.audit("stack.update", &id, json!({})).await?;
    Ok(HttpResponse::json(
        200,
        &from_item::<Stack>(item).map_err(decode_err)?,
    ))
}
