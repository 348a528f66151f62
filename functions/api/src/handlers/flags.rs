//! Detector flags of the caller's tenant (`dd0c_shared::flags`): list (with the global flags
//! that apply and every detector id), set, delete. Every change is audited.

use std::sync::OnceLock;

use dd0c_shared::detector;
use dd0c_shared::domain::drift::RuleSet;
use dd0c_shared::entity::flag as flag_entity;
use dd0c_shared::flags::{Flag, FlagRequest, FlagScope};
use dd0c_shared::http::HttpResponse;
use serde_json::json;

use super::Ctx;
use crate::error::ApiError;
use crate::model::{FlagView, FlagsView};

/// The classifier's built-in rules: the drift detectors a flag may name.
const DRIFT_RULES: &str = include_str!("../../../classifier/rules.json");

fn drift_rule_ids() -> &'static [String] {
    static IDS: OnceLock<Vec<String>> = OnceLock::new();
    IDS.get_or_init(|| {
        RuleSet::parse(DRIFT_RULES)
            .map(|set| set.rules.into_iter().map(|r| r.id).collect())
            .unwrap_or_default()
    })
}

fn known_detector(id: &str) -> Result<(), ApiError> {
    if detector::is_known(id, drift_rule_ids().iter().map(String::as_str)) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "detector",
            format!(
                "unknown detector {id:?}: a detector is cost.<signal> or drift.<rule id>; GET /v1/flags lists them"
            ),
        ))
    }
}

fn view(flag: &Flag, now: chrono::DateTime<chrono::Utc>) -> FlagView {
    FlagView {
        detector: flag.detector.clone(),
        scope: flag.scope.as_str().to_owned(),
        owner: flag.owner.clone(),
        reason: flag.reason.clone(),
        expires_at: flag.expires_at,
        expired: flag.is_expired(now),
        set_by: flag.set_by.clone(),
        set_at: flag.set_at,
    }
}

pub(super) async fn flags_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let now = ctx.now();
    let own = flag_entity::load_all(ctx.table(), FlagScope::Tenant, ctx.tenant()).await?;
    let global = flag_entity::load_all(ctx.table(), FlagScope::Global, "").await?;
    Ok(HttpResponse::json(
        200,
        &FlagsView {
            flags: own.iter().chain(&global).map(|f| view(f, now)).collect(),
            detectors: detector::all(drift_rule_ids().iter().map(String::as_str)),
        },
    ))
}

pub(super) async fn flag_put(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("detector");
    known_detector(id)?;
    let body: serde_json::Value = crate::error::json_body(&ctx.request.body)?;
    let now = ctx.now();
    let request = FlagRequest::from_value(&body, now)
        .map_err(|e| ApiError::bad_request(&e.field, e.to_string()))?;
    let previous = flag_entity::load(ctx.table(), FlagScope::Tenant, ctx.tenant(), id).await?;
    let flag = request.into_flag(id, FlagScope::Tenant, &ctx.principal.user, now);
    flag_entity::put(ctx.table(), &flag, ctx.tenant()).await?;
    ctx.audit(
        "flag.set",
        id,
        json!({
            "owner": flag.owner, "reason": flag.reason, "expires_at": flag.expires_at,
            "previous": previous,
        }),
    )
    .await?;
    Ok(HttpResponse::json(200, &view(&flag, now)))
}

pub(super) async fn flag_delete(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("detector");
    known_detector(id)?;
    let Some(previous) =
        flag_entity::load(ctx.table(), FlagScope::Tenant, ctx.tenant(), id).await?
    else {
        return Err(ApiError::not_found(format!("no flag on detector {id}")));
    };
    flag_entity::delete(ctx.table(), FlagScope::Tenant, ctx.tenant(), id).await?;
    ctx.audit("flag.delete", id, json!({ "previous": previous }))
        .await?;
    Ok(HttpResponse::text(204, "text/plain", ""))
}
