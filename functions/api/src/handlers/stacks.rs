//! The IaC stacks drift detection watches.

use serde_json::json;

use dd0c_shared::accounts;
use dd0c_shared::entity::{account_link, stack};
use dd0c_shared::http::HttpResponse;

use super::{valid_region, valid_segment, Ctx};
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;

const IAC_TOOLS: [&str; 4] = ["terraform", "cloudformation", "cdk", "pulumi"];

pub(super) async fn stacks_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let start = pagination::decode(
        ctx.request.query.get("next"),
        &stack::tenant_stacks_query(ctx.tenant()),
    )?;
    let (stacks, next) = stack::list_page(ctx.table(), ctx.tenant(), limit, start).await?;
    Ok(HttpResponse::json(
        200,
        &StackPage {
            items: stacks.iter().map(StackView::from).collect(),
            next: pagination::encode(&next),
        },
    ))
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
    match account_link::load(ctx.table(), &body.account_id).await? {
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
    let declaration = stack::StackDeclaration {
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
    stack::create(ctx.table(), ctx.tenant(), &declaration).await?;
    ctx.audit(
        "stack.create",
        &declaration.stack_id,
        json!({ "name": declaration.name }),
    )
    .await?;
    Ok(HttpResponse::json(201, &StackView::from(declaration)))
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
    let change = stack::DeclarationChange {
        name: body.name,
        state_location: body.state_location,
        enabled: body.enabled,
    };
    let Some(changed) =
        stack::change_declaration(ctx.table(), ctx.tenant(), &id, &change, &ctx.now()).await?
    else {
        return Err(ApiError::not_found(format!("no stack {id}")));
    };
    ctx.audit("stack.update", &id, json!({})).await?;
    Ok(HttpResponse::json(200, &StackView::from(&changed)))
}
