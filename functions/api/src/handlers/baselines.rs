//! Per-resource-type anomaly sensitivity of a connected account.

use serde_json::json;

use dd0c_shared::entity::{baseline, time_key};
use dd0c_shared::http::HttpResponse;
use dd0c_shared::store::Update;

use super::accounts::own_account;
use super::{valid_segment, Ctx};
use crate::error::{json_body, ApiError};
use crate::model::*;

pub(super) async fn baseline_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let link = own_account(ctx).await?;
    let (service, resource_type) = (ctx.param("service"), ctx.param("type"));
    if !valid_segment(service) {
        return Err(ApiError::bad_request(
            "service",
            "service must be 1-64 letters, digits, - _ : .",
        ));
    }
    if !valid_segment(resource_type) {
        return Err(ApiError::bad_request(
            "type",
            "type must be 1-64 letters, digits, - _ : .",
        ));
    }
    let body: BaselinePatch = json_body(&ctx.request.body)?;
    if !["low", "medium", "high"].contains(&body.sensitivity.as_str()) {
        return Err(ApiError::bad_request(
            "sensitivity",
            "sensitivity must be low, medium or high",
        ));
    }
    let now = ctx.now();
    ctx.table()
        .update(
            &baseline::key(ctx.tenant(), &link.account_id, service, resource_type),
            Update::new()
                .set("sensitivity", body.sensitivity.as_str())
                .set("sensitivity_updated_at", time_key(&now)),
        )
        .await?;
    let target = format!("{}/{service}/{resource_type}", link.account_id);
    ctx.audit(
        "baseline.sensitivity",
        &target,
        json!({ "sensitivity": body.sensitivity }),
    )
    .await?;
    Ok(HttpResponse::json(
        200,
        &BaselineView {
            account_id: link.account_id,
            service: service.to_owned(),
            resource_type: resource_type.to_owned(),
            sensitivity: body.sensitivity,
        },
    ))
}
