//! Stripe Checkout and customer-portal sessions.

use serde_json::json;

use dd0c_shared::entity::tenant;
use dd0c_shared::http::HttpResponse;

use super::Ctx;
use crate::billing::{BillingError, CheckoutSessionRequest};
use crate::error::{json_body, ApiError};
use crate::model::*;

fn billing_error(e: BillingError) -> ApiError {
    tracing::warn!(error = %e, "Stripe call failed");
    match e {
        BillingError::NotConfigured(m) => ApiError::new(
            501,
            "Not implemented",
            format!("billing is not configured: {m}"),
        )
        .with_code("billing_not_configured"),
        _ => ApiError::new(
            502,
            "Bad gateway",
            "Stripe could not create the session; try again",
        )
        .with_code("stripe_unavailable"),
    }
}

pub(super) async fn billing_checkout(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: CheckoutRequest = json_body(&ctx.request.body)?;
    if !(1..=1000).contains(&body.accounts) {
        return Err(ApiError::bad_request(
            "accounts",
            "accounts must be from 1 to 1000",
        ));
    }
    let profile = tenant::load_profile(ctx.table(), ctx.tenant()).await?;
    let base = ctx.api.config.app_url.trim_end_matches('/');
    let request = CheckoutSessionRequest {
        tenant_id: ctx.tenant().to_owned(),
        customer_id: profile.stripe_customer_id,
        price_id: ctx.api.config.stripe_price_id.clone(),
        quantity: body.accounts,
        success_url: format!("{base}/?billing=success"),
        cancel_url: format!("{base}/?billing=cancelled"),
    };
    let url = ctx
        .api
        .stripe
        .create_checkout_session(&request)
        .await
        .map_err(billing_error)?;
    ctx.audit(
        "billing.checkout",
        ctx.tenant(),
        json!({ "accounts": body.accounts }),
    )
    .await?;
    Ok(HttpResponse::json(200, &RedirectResponse { url }))
}

pub(super) async fn billing_portal(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let profile = tenant::load_profile(ctx.table(), ctx.tenant()).await?;
    let Some(customer) = profile.stripe_customer_id else {
        return Err(ApiError::new(
            409,
            "Conflict",
            "no subscription yet: start one with POST /v1/billing/checkout",
        )
        .with_code("no_customer"));
    };
    let return_url = format!("{}/", ctx.api.config.app_url.trim_end_matches('/'));
    let url = ctx
        .api
        .stripe
        .create_portal_session(&customer, &return_url)
        .await
        .map_err(billing_error)?;
    Ok(HttpResponse::json(200, &RedirectResponse { url }))
}
