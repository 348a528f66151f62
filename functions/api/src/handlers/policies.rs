//! Governance policy overrides: the notifier's `governance::PolicyOverride`, validated and
//! stored by its own functions (only ever stricter than the system policy).

use dd0c_shared::accounts;
use dd0c_shared::entity::account_link;
use dd0c_shared::governance;
use dd0c_shared::http::HttpResponse;

use super::Ctx;
use crate::error::{json_body, ApiError};
use crate::model::*;

fn governance_error(prefix: &str, e: &governance::GovernanceError) -> ApiError {
    let field = match e.field() {
        "" | "(document)" => prefix.to_owned(),
        f => format!("{prefix}.{f}"),
    };
    ApiError::bad_request(&field, e.to_string())
}

async fn policies_view(ctx: &Ctx<'_>) -> Result<PoliciesView, ApiError> {
    let tenant = governance::store::tenant_override(ctx.table(), ctx.tenant()).await?;
    let mut accounts = std::collections::BTreeMap::new();
    for link in account_link::tenant_accounts(ctx.table(), ctx.tenant()).await? {
        if let Some(o) =
            governance::store::account_override(ctx.table(), ctx.tenant(), &link.account_id).await?
        {
            accounts.insert(link.account_id, serde_json::to_value(o).unwrap_or_default());
        }
    }
    Ok(PoliciesView {
        system: serde_json::to_value(&ctx.api.config.system_policy).unwrap_or_default(),
        overrides: PoliciesDocument {
            tenant: tenant.map(|t| serde_json::to_value(t).unwrap_or_default()),
            accounts,
        },
    })
}

pub(super) async fn policies_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::json(200, &policies_view(ctx).await?))
}

/// Sets the tenant override (when `tenant` is given) and each given account's override.
pub(super) async fn policies_put(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: PoliciesDocument = json_body(&ctx.request.body)?;
    let system = &ctx.api.config.system_policy;
    let tenant_override = match &body.tenant {
        Some(v) => {
            let o = governance::PolicyOverride::from_value(v)
                .map_err(|e| governance_error("tenant", &e))?;
            governance::validate_override(system, &o)
                .map_err(|e| governance_error("tenant", &e))?;
            Some(o)
        }
        None => governance::store::tenant_override(ctx.table(), ctx.tenant()).await?,
    };
    // Account overrides may not loosen the tenant's own either.
    let tenant_floor = governance::effective_policy(system, tenant_override.as_ref(), None);
    let mut account_overrides = Vec::new();
    for (account, value) in &body.accounts {
        let prefix = format!("accounts.{account}");
        if !accounts::is_account_id(account) {
            return Err(ApiError::bad_request(
                &prefix,
                "account keys must be 12-digit AWS account ids",
            ));
        }
        match account_link::load(ctx.table(), account).await? {
            Some(link) if link.tenant_id == ctx.tenant() => {}
            // Another tenant's account answers as one nobody connected (decision 0600).
            _ => {
                return Err(ApiError::bad_request(
                    &prefix,
                    format!("account {account} is not connected"),
                ))
            }
        }
        let o = governance::PolicyOverride::from_value(value)
            .map_err(|e| governance_error(&prefix, &e))?;
        governance::validate_override(&tenant_floor, &o)
            .map_err(|e| governance_error(&prefix, &e))?;
        account_overrides.push((account.clone(), o));
    }
    let (now, by) = (ctx.now(), ctx.principal.user.clone());
    let store_err = |prefix: &str, e: governance::store::PolicyStoreError| match e {
        governance::store::PolicyStoreError::Governance(g) => governance_error(prefix, &g),
        governance::store::PolicyStoreError::Store(s) => ApiError::from(s),
    };
    if let (Some(_), Some(o)) = (&body.tenant, &tenant_override) {
        governance::store::put_tenant_override(ctx.table(), system, ctx.tenant(), o, &by, now)
            .await
            .map_err(|e| store_err("tenant", e))?;
        // Resumed: the next pause announces itself in Slack again.
        if o.panic_mode != Some(true) {
            dd0c_shared::entity::notice::release(
                ctx.table(),
                ctx.tenant(),
                governance::store::PAUSED_NOTICE,
            )
            .await?;
        }
    }
    for (account, o) in &account_overrides {
        governance::store::put_account_override(
            ctx.table(),
            system,
            ctx.tenant(),
            account,
            o,
            &by,
            now,
        )
        .await
        .map_err(|e| store_err(&format!("accounts.{account}"), e))?;
    }
    ctx.audit(
        "policy.update",
        "policies",
        serde_json::to_value(&body).unwrap_or_default(),
    )
    .await?;
    Ok(HttpResponse::json(200, &policies_view(ctx).await?))
}
