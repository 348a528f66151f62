//! Connecting, listing, checking and disconnecting AWS accounts.

use chrono::Duration;
use serde_json::json;

use dd0c_shared::accounts::{self, AccountsError};
use dd0c_shared::domain::stack_discovery::StackDiscoveryStep;
use dd0c_shared::entity::backfill::{self as backfill_jobs, BackfillStep};
use dd0c_shared::entity::{account_link, tenant, time_key, zombie_scan};
use dd0c_shared::http::HttpResponse;
use dd0c_shared::store::{from_item, AttrValue, Condition, Update};
use dd0c_shared::tenancy::{AccountLink, AccountStatus, Plan, TenantProfile};

use super::{decode_err, valid_region, Ctx};
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;
use crate::zombie_scan::{run_zombie_scan, save_zombie_scan};

/// Accounts that count against the plan's limit.
fn counts_against_limit(link: &AccountLink) -> bool {
    matches!(link.status, AccountStatus::Active | AccountStatus::Pending)
}

pub(super) async fn usage(
    ctx: &Ctx<'_>,
) -> Result<(TenantProfile, Vec<AccountLink>, u32), ApiError> {
    let profile = tenant::load_profile(ctx.table(), ctx.tenant()).await?;
    let links = account_link::tenant_accounts(ctx.table(), ctx.tenant()).await?;
    let used = links.iter().filter(|l| counts_against_limit(l)).count() as u32;
    Ok((profile, links, used))
}

fn upgrade_required(used: u32, limit: u32, plan: Plan) -> ApiError {
    let detail = match plan {
        Plan::Free => format!(
            "the free plan includes {limit} connected AWS account ({used}/{limit} accounts used); upgrade to Pro (POST /v1/billing/checkout) to connect more"
        ),
        Plan::Pro => format!(
            "your subscription covers {limit} accounts ({used}/{limit} accounts used); add accounts in the billing portal (POST /v1/billing/portal)"
        ),
    };
    ApiError::forbidden(detail).with_code("upgrade_required")
}

fn quick_create_url(config: &crate::ApiConfig, external_id: &str, remediation: bool) -> String {
    let enc = |s: &str| {
        crate::billing::form_encode(&[("", s.to_owned())])
            .trim_start_matches('=')
            .to_owned()
    };
    format!(
        "https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/quickcreate?templateURL={template}&stackName={stack}&param_ExternalId={external_id}&param_Dd0cAccountId={account}&param_Dd0cRegion={region}&param_EnableRemediation={remediation}",
        region = config.region,
        template = enc(&config.template_url),
        stack = enc(&config.stack_name),
        account = config.dd0c_account_id,
    )
}

pub(super) async fn accounts_setup(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    // `?remediation=true`: the link creates the optional remediation role too.
    let remediation = match ctx.request.query.get("remediation").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "remediation",
                "remediation must be true or false",
            ))
        }
    };
    let (profile, _, used) = usage(ctx).await?;
    let limit = profile.account_limit();
    if used >= limit {
        return Err(upgrade_required(used, limit, profile.plan));
    }
    let external_id = uuid::Uuid::new_v4().to_string();
    let now = ctx.now();
    ctx.table()
        .update(
            &tenant::profile_key(ctx.tenant()),
            tenant::profile_update(
                Update::new()
                    .set("tenant_id", ctx.tenant())
                    .set_if_absent("plan", "free")
                    .set("external_id", external_id.as_str())
                    .set("external_id_created_at", time_key(&now)),
            ),
        )
        .await?;
    ctx.audit("account.setup", &external_id, json!({})).await?;
    let config = &ctx.api.config;
    Ok(HttpResponse::json(
        200,
        &SetupResponse {
            quick_create_url: quick_create_url(config, &external_id, remediation),
            external_id,
            template_url: config.template_url.clone(),
            stack_name: config.stack_name.clone(),
            dd0c_account_id: config.dd0c_account_id.clone(),
            region: config.region.clone(),
        },
    ))
}

/// Turns a failed assume/describe into what the customer should do.
fn explain(e: &AccountsError, external_id: &str, dd0c_account: &str) -> ApiError {
    let (status, code, detail) = match e {
        AccountsError::ExternalIdMismatch => (
            422,
            "external_id_mismatch",
            format!("the role requires another ExternalId: update the stack's ExternalId parameter to {external_id} (or re-run the quick-create link from POST /v1/accounts/setup)"),
        ),
        AccountsError::AssumeRoleDenied(m) => (
            422,
            "assume_role_denied",
            format!("AWS refused sts:AssumeRole ({m}). Check that the role exists, that its trust policy allows account {dd0c_account}, and that it requires ExternalId {external_id}"),
        ),
        AccountsError::MissingPermission { action, .. } => (
            422,
            "missing_permissions",
            format!("the role was assumed but is not allowed to call {action}: update the stack to the current dd0c-readonly template"),
        ),
        AccountsError::InvalidRoleArn(m) => (400, "invalid_role_arn", format!("the role ARN is not valid: {m}")),
        AccountsError::Unavailable(m)
        | AccountsError::Throttled(m)
        | AccountsError::RegionNotEnabled(m)
        | AccountsError::NotFound(m) => {
            tracing::warn!(error = %m, "AWS unavailable");
            (502, "aws_unavailable", "AWS could not be reached; try again in a minute".to_owned())
        }
    };
    let mut err = ApiError::new(
        status,
        if status == 502 {
            "Bad gateway"
        } else {
            "Account not connected"
        },
        detail,
    )
    .with_code(code);
    if matches!(e, AccountsError::InvalidRoleArn(_)) {
        err = err.with_field("role_arn");
    }
    err
}

async fn store_scan(ctx: &Ctx<'_>, account: &str, scan: &ZombieScan) -> Result<(), ApiError> {
    Ok(save_zombie_scan(ctx.table(), ctx.tenant(), account, scan).await?)
}

pub(super) async fn accounts_connect(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: ConnectAccountRequest = json_body(&ctx.request.body)?;
    if !accounts::is_account_id(&body.aws_account_id) {
        return Err(ApiError::bad_request(
            "aws_account_id",
            "aws_account_id must be 12 digits",
        ));
    }
    let role_account = accounts::role_arn_account(&body.role_arn).ok_or_else(|| {
        ApiError::bad_request(
            "role_arn",
            "role_arn must look like arn:aws:iam::123456789012:role/dd0c-readonly",
        )
    })?;
    if role_account != body.aws_account_id {
        return Err(ApiError::bad_request(
            "role_arn",
            format!(
                "the role is in account {role_account}, not {}",
                body.aws_account_id
            ),
        ));
    }
    if let Some(remediation) = &body.remediation_role_arn {
        match accounts::role_arn_account(remediation) {
            None => {
                return Err(ApiError::bad_request(
                    "remediation_role_arn",
                    "remediation_role_arn must look like arn:aws:iam::123456789012:role/dd0c-remediation",
                ))
            }
            Some(a) if a != body.aws_account_id => {
                return Err(ApiError::bad_request(
                    "remediation_role_arn",
                    format!("the remediation role is in account {a}, not {}", body.aws_account_id),
                ))
            }
            Some(_) if remediation == &body.role_arn => {
                return Err(ApiError::bad_request(
                    "remediation_role_arn",
                    "the remediation role must be the stack's RemediationRoleArn, not the read-only role",
                ))
            }
            Some(_) => {}
        }
    }
    let region = body
        .region
        .clone()
        .unwrap_or_else(|| ctx.api.config.region.clone());
    if !valid_region(&region) {
        return Err(ApiError::bad_request(
            "region",
            format!("{region:?} is not an AWS region"),
        ));
    }
    let (profile, links, used) = usage(ctx).await?;
    let Some(external_id) = profile.external_id.clone() else {
        return Err(ApiError::new(
            409,
            "Conflict",
            "no ExternalId yet: call POST /v1/accounts/setup and create the stack first",
        )
        .with_code("setup_required"));
    };
    let linked = account_link::load(ctx.table(), &body.aws_account_id).await?;
    let existing = linked.as_ref().filter(|l| l.tenant_id == ctx.tenant());
    let already_counted = links
        .iter()
        .any(|l| l.account_id == body.aws_account_id && counts_against_limit(l));
    let limit = profile.account_limit();
    if !already_counted && used >= limit {
        return Err(upgrade_required(used, limit, profile.plan));
    }
    let session = ctx
        .api
        .accounts
        .assume_role(&body.role_arn, &external_id)
        .await
        .map_err(|e| explain(&e, &external_id, &ctx.api.config.dd0c_account_id))?;
    // The remediation role is checked the same way (its trust, its ExternalId) before dd0c
    // relies on it; what it may do is only tried when someone asks for a remediation.
    if let Some(remediation) = &body.remediation_role_arn {
        ctx.api
            .accounts
            .assume_role(remediation, &external_id)
            .await
            .map_err(|e| {
                let mut err = explain(&e, &external_id, &ctx.api.config.dd0c_account_id);
                err.detail = format!("remediation role: {}", err.detail);
                err.with_field("remediation_role_arn")
            })?;
    }
    // Only now, with the account's role assumed under this tenant's ExternalId, may the caller
    // learn that another tenant has the account: before, the answer told anyone which account
    // ids are dd0c customers.
    let taken = || {
        ApiError::new(
            409,
            "Conflict",
            "this AWS account is connected to another dd0c tenant",
        )
        .with_code("account_taken")
    };
    if linked.is_some() && existing.is_none() {
        return Err(taken());
    }
    let now = ctx.now();
    let link = AccountLink {
        account_id: body.aws_account_id.clone(),
        tenant_id: ctx.tenant().to_owned(),
        status: AccountStatus::Active,
        role_arn: Some(body.role_arn.clone()),
        external_id: Some(external_id),
        remediation_role_arn: body.remediation_role_arn.clone(),
        connected_at: existing.map_or(now, |l| l.connected_at),
        status_changed_at: Some(now),
    };
    // Another tenant may have linked the account since the read: never overwrite theirs.
    let condition = Condition::Or(vec![
        Condition::ItemNotExists,
        Condition::Equals("tenant_id".into(), AttrValue::S(ctx.tenant().to_owned())),
    ]);
    match ctx
        .table()
        .put(account_link::item(&link)?, Some(condition))
        .await
    {
        Ok(()) => {}
        Err(e) if e.is_condition_failed() => return Err(taken()),
        Err(e) => return Err(e.into()),
    }
    ctx.audit(
        "account.connect",
        &link.account_id,
        json!({ "role_arn": body.role_arn, "remediation_role_arn": body.remediation_role_arn }),
    )
    .await?;
    // Baselines from day 0 and what IaC owns: the history and the stacks are read in the
    // background (nothing lost if this fails: connecting again starts both, a started backfill
    // is never started twice, and reading the stacks again rewrites what it wrote).
    let backfill_started = match &ctx.api.bus {
        Some(bus) => {
            bus.publish(vec![
                BackfillStep::start(ctx.tenant(), &link.account_id).event(),
                StackDiscoveryStep::start(ctx.tenant(), &link.account_id).event(),
            ])
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "backfill not started");
                    ApiError::new(
                        503,
                        "Service unavailable",
                        "the account is connected but reading its history could not be started: connect it again in a minute",
                    )
                })?;
            true
        }
        None => false,
    };
    let (zombie_scan, zombie_scan_error) =
        match run_zombie_scan(ctx.api.accounts.as_ref(), &session, &region, now).await {
            Ok(scan) => {
                store_scan(ctx, &link.account_id, &scan).await?;
                (Some(scan), None)
            }
            Err(e) => (
                None,
                Some(explain(&e, "", &ctx.api.config.dd0c_account_id).detail),
            ),
        };
    Ok(HttpResponse::json(
        201,
        &ConnectAccountResponse {
            account: AccountView::from(&link),
            zombie_scan,
            zombie_scan_error,
            backfill_started,
        },
    ))
}

pub(super) async fn accounts_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let query = account_link::tenant_accounts_query(ctx.tenant()).limit(limit);
    let start = pagination::decode(ctx.request.query.get("next"), &query)?;
    let page = ctx.table().query(query.start_after(start)).await?;
    let items = page
        .items
        .into_iter()
        .map(|i| {
            from_item::<AccountLink>(i)
                .map(|l| AccountView::from(&l))
                .map_err(decode_err)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::json(
        200,
        &AccountPage {
            items,
            next: pagination::encode(&page.next),
        },
    ))
}

/// The tenant's link of the account in the path: 404 both if nobody's and if another
/// tenant's, so the answer never tells whether an account is a dd0c customer.
pub(super) async fn own_account(ctx: &Ctx<'_>) -> Result<AccountLink, ApiError> {
    let id = ctx.param("id");
    if !accounts::is_account_id(id) {
        return Err(ApiError::bad_request(
            "id",
            "the account id must be 12 digits",
        ));
    }
    match account_link::load(ctx.table(), id).await? {
        Some(link) if link.tenant_id == ctx.tenant() => Ok(link),
        _ => Err(not_your_account(id)),
    }
}

fn not_your_account(id: &str) -> ApiError {
    ApiError::not_found(format!("account {id} is not connected to your tenant"))
}

pub(super) async fn account_health(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let link = own_account(ctx).await?;
    let now = ctx.now();
    let (role_ok, problem, detail) = match (&link.status, &link.role_arn, &link.external_id) {
        (AccountStatus::Disconnecting, _, _) => (false, Some("disconnecting".to_owned()), None),
        (_, Some(role), Some(external_id)) => {
            match ctx.api.accounts.assume_role(role, external_id).await {
                Ok(_) => (true, None, None),
                Err(e) => {
                    let explained = explain(&e, external_id, &ctx.api.config.dd0c_account_id);
                    (
                        false,
                        explained.code.map(str::to_owned),
                        Some(explained.detail),
                    )
                }
            }
        }
        _ => (
            false,
            Some("not_verified".to_owned()),
            Some("the role was never verified: POST /v1/accounts".to_owned()),
        ),
    };
    let last_zombie_scan: Option<ZombieScan> =
        zombie_scan::load(ctx.table(), ctx.tenant(), &link.account_id).await?;
    Ok(HttpResponse::json(
        200,
        &AccountHealth {
            account_id: link.account_id.clone(),
            status: AccountView::from(&link).status,
            role_ok,
            problem,
            detail,
            checked_at: now,
            last_zombie_scan,
        },
    ))
}

/// `GET /v1/accounts/{id}/backfill`: the backfill's progress and cost, region by region.
pub(super) async fn account_backfill(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let link = own_account(ctx).await?;
    let jobs = backfill_jobs::of_account(ctx.table(), ctx.tenant(), &link.account_id).await?;
    Ok(HttpResponse::json(
        200,
        &BackfillView::of(&link.account_id, &jobs),
    ))
}

/// Hours after a disconnect before the digest job purges the account's data.
pub const PURGE_AFTER_HOURS: i64 = 72;

pub(super) async fn account_delete(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let link = own_account(ctx).await?;
    let now = ctx.now();
    let item = ctx
        .table()
        .update(
            &account_link::key(&link.account_id),
            account_link::disconnect(
                ctx.tenant(),
                &now,
                &(now + Duration::hours(PURGE_AFTER_HOURS)),
            ),
        )
        .await
        .map_err(|e| {
            if e.is_condition_failed() {
                not_your_account(&link.account_id)
            } else {
                e.into()
            }
        })?;
    ctx.audit("account.disconnect", &link.account_id, json!({}))
        .await?;
    let link: AccountLink = from_item(item).map_err(decode_err)?;
    Ok(HttpResponse::json(200, &AccountView::from(&link)))
}
