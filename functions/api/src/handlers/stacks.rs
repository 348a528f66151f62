//! The IaC stacks drift detection watches.

use std::collections::BTreeSet;

use serde_json::json;

use dd0c_shared::accounts;
use dd0c_shared::domain::drift::{
    imported_resource, ManagedBy, ManagedResource, STATE_IMPORT_IDENTITY,
};
use dd0c_shared::domain::IacTool;
use dd0c_shared::entity::{account_link, drift_event, resource, stack};
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

/// At most this many ownership tags per stack (each is one Resource Groups Tagging API
/// request per region when the account's stacks are read).
const MAX_OWNERSHIP_TAGS: usize = 10;

/// Tag keys and values as AWS allows them (1-128 and 0-256 characters); `aws:` keys are
/// AWS's own, and CloudFormation's stack tag needs no entry.
fn validate_ownership_tags(
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if tags.len() > MAX_OWNERSHIP_TAGS {
        return Err(ApiError::bad_request(
            "ownership_tags",
            format!("at most {MAX_OWNERSHIP_TAGS} ownership tags per stack"),
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || key.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "ownership_tags",
                "a tag key is 1-128 characters, no control characters",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::bad_request(
                "ownership_tags",
                format!("{key:?}: aws: tag keys are AWS's own (CloudFormation's stack tag is read without an entry)"),
            ));
        }
        if value.is_empty() || value.chars().count() > 256 || value.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "ownership_tags",
                format!("the value of {key:?} must be 1-256 characters, no control characters"),
            ));
        }
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
    validate_ownership_tags(&body.ownership_tags)?;
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
        ownership_tags: body.ownership_tags,
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
    if let Some(tags) = &body.ownership_tags {
        validate_ownership_tags(tags)?;
    }
    if let Some(owner) = &body.owner {
        if owner.len() > 128 || owner.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "owner",
                "at most 128 characters, no control characters",
            ));
        }
    }
    if let Some(channel) = &body.slack_channel {
        if !channel.is_empty() && !dd0c_shared::slack::settings::valid_channel(channel) {
            return Err(ApiError::bad_request(
                "slack_channel",
                "a channel name (#name: lowercase letters, digits, - and _) or a channel id (C…)",
            ));
        }
    }
    let change = stack::DeclarationChange {
        name: body.name,
        state_location: body.state_location,
        enabled: body.enabled,
        owner: body.owner,
        slack_channel: body.slack_channel,
        ownership_tags: body.ownership_tags,
    };
    let Some(changed) =
        stack::change_declaration(ctx.table(), ctx.tenant(), &id, &change, &ctx.now()).await?
    else {
        return Err(ApiError::not_found(format!("no stack {id}")));
    };
    ctx.audit("stack.update", &id, json!({})).await?;
    Ok(HttpResponse::json(200, &StackView::from(&changed)))
}

/// `GET /v1/stacks/{id}`: the stack with its owner, channel, drift score, resources and
/// latest drift.
pub(super) async fn stack_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("id");
    if !valid_segment(id) {
        return Err(ApiError::bad_request("id", "not a stack id"));
    }
    let Some(found) = stack::load_stack(ctx.table(), ctx.tenant(), id).await? else {
        return Err(ApiError::not_found(format!("no stack {id}")));
    };
    let recent = drift_event::recent_drift_for_stack(ctx.table(), ctx.tenant(), id, 20).await?;
    Ok(HttpResponse::json(
        200,
        &StackDetail {
            stack: StackView::from(&found),
            owner: found.owner.clone(),
            slack_channel: found.slack_channel.clone(),
            drift_score: found.drift_score,
            open_drift: found.open_drift.clone(),
            managed_resources: found.managed_resource_ids.len(),
            recent_drift: recent
                .into_iter()
                .map(|d| StackDrift {
                    id: d.event.id,
                    resource_type: d.event.resource_type,
                    resource_id: d.event.resource_id,
                    resource_address: d.event.resource_address,
                    status: d.status.as_str().to_owned(),
                    severity: d.severity.map(|s| s.as_str().to_owned()),
                    detected_at: d.event.detected_at,
                    actor: d.event.change.map(|c| c.actor.name),
                })
                .collect(),
            trend: super::drift_score::trend_of(&found, ctx.now().date_naive()),
        },
    ))
}

/// Checks an import's resources, naming the first one at fault (`resources[3].id`).
fn validate_imported(resources: &[ImportedResource]) -> Result<(), ApiError> {
    if resources.is_empty() {
        return Err(ApiError::bad_request(
            "resources",
            "resources must list at least one resource",
        ));
    }
    if resources.len() > MAX_IMPORTED_RESOURCES {
        return Err(ApiError::bad_request(
            "resources",
            format!(
                "{} resources in one request; at most {MAX_IMPORTED_RESOURCES}: send the rest in further requests",
                resources.len()
            ),
        ));
    }
    for (i, r) in resources.iter().enumerate() {
        let type_ok = !r.resource_type.is_empty()
            && r.resource_type.len() <= 128
            && r.resource_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !type_ok {
            return Err(ApiError::bad_request(
                &format!("resources[{i}].type"),
                "type must be 1-128 letters, digits or '_' (an IaC resource type)",
            ));
        }
        if r.address.trim().is_empty() || r.address.len() > 1024 {
            return Err(ApiError::bad_request(
                &format!("resources[{i}].address"),
                "address must be 1-1024 characters",
            ));
        }
        if r.id.trim().is_empty() || r.id.len() > 2048 {
            return Err(ApiError::bad_request(
                &format!("resources[{i}].id"),
                "id must be 1-2048 characters",
            ));
        }
    }
    Ok(())
}

/// `POST /v1/stacks/{id}/resources`: the resources a state file lists become managed by the
/// stack (created when absent), so that a console change to one is drift from its first event
/// (decision 0410). An upsert: a re-import rewrites what imports wrote and removes nothing.
pub(super) async fn stack_resources_import(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("id").to_owned();
    if !stack::valid_id(&id) {
        return Err(ApiError::bad_request(
            "stack_id",
            "a stack id is 1-64 letters, digits, '-', '_', ':' or '.'",
        ));
    }
    let body: StackResourcesImport = json_body(&ctx.request.body)?;
    let tool = match body.source.as_str() {
        "terraform" => IacTool::Terraform,
        "opentofu" => IacTool::OpenTofu,
        _ => {
            return Err(ApiError::bad_request(
                "source",
                "source must be terraform or opentofu",
            ))
        }
    };
    validate_imported(&body.resources)?;
    let now = ctx.now();
    let owner = stack::ensure_stack(ctx.table(), ctx.tenant(), &id, tool, now).await?;
    let declared = owner.iac_tool_name();
    if !matches!(declared.as_str(), "terraform" | "opentofu") {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!("stack {id} is declared as a {declared} stack, not a Terraform/OpenTofu one"),
        )
        .with_field("stack_id"));
    }
    let mut result = StackResourcesImported {
        stack_id: id.clone(),
        managed: 0,
        already_managed: 0,
        untracked: 0,
    };
    let mut seen = BTreeSet::new();
    for r in &body.resources {
        let Some((resource_type, resource_id)) = imported_resource(&r.resource_type, &r.id) else {
            result.untracked += 1;
            continue;
        };
        // A bucket and its policy, or one resource listed twice, own the same item once.
        if !seen.insert((resource_type, resource_id.clone())) {
            continue;
        }
        let managed_by = ManagedBy {
            tool: Some(tool),
            identity: STATE_IMPORT_IDENTITY.into(),
            stack: Some(id.clone()),
        };
        let managed = ManagedResource {
            address: Some(r.address.clone()),
            ..ManagedResource::imported(
                ctx.tenant(),
                &owner.account_id,
                resource_type,
                resource_id,
                managed_by,
                now,
            )
        };
        if resource::import_managed_resource(ctx.table(), &managed).await? {
            result.managed += 1;
        } else {
            result.already_managed += 1;
        }
    }
    ctx.audit(
        "stack.import",
        &id,
        json!({
            "source": body.source,
            "resources": body.resources.len(),
            "managed": result.managed,
            "already_managed": result.already_managed,
            "untracked": result.untracked,
        }),
    )
    .await?;
    Ok(HttpResponse::json(200, &result))
}
