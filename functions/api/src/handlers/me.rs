//! The caller, their tenant's plan and its usage.

use dd0c_shared::http::HttpResponse;
use dd0c_shared::tenancy::Plan;

use super::accounts::usage;
use super::Ctx;
use crate::error::ApiError;
use crate::model::*;

pub(super) async fn me(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let (profile, _, used) = usage(ctx).await?;
    let limit = profile.account_limit();
    Ok(HttpResponse::json(
        200,
        &Me {
            tenant_id: ctx.tenant().to_owned(),
            user: ctx.principal.user.clone(),
            plan: match profile.plan {
                Plan::Free => "free".into(),
                Plan::Pro => "pro".into(),
            },
            usage: Usage {
                accounts_used: used,
                accounts_limit: limit,
                summary: format!("{used}/{limit} accounts used"),
            },
            stripe_customer: profile.stripe_customer_id.is_some(),
        },
    ))
}
