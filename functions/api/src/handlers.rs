//! One function per route. Every read and write is scoped by the caller's tenant, which
//! comes from the token; path ids are validated before they touch a key.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use dd0c_shared::accounts::{self, zombie, AccountsError};
use dd0c_shared::auth::{api_keys, AuthMethod, Principal};
use dd0c_shared::domain::{Finding, FindingStatus, Severity};
use dd0c_shared::finding_actions::{self, ActionError, FindingAction};
use dd0c_shared::governance;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::slack::install as slack_install;
use dd0c_shared::slack::settings::{self as slack_settings, InstallationStatus, SlackSettings};
use dd0c_shared::store::{
    from_item, keys, to_item, AttrValue, Condition, Index, Item, Query, SortKeyCondition,
    StoreError, Update, PK, SK,
};
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus, Plan, TenantProfile};

use crate::billing::{BillingError, CheckoutSessionRequest};
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;
use crate::routes::RouteId;
use crate::Api;

pub struct Ctx<'a> {
    pub api: &'a Api,
    pub principal: &'a Principal,
    pub request: &'a HttpRequest,
    pub params: &'a [(String, String)],
}

impl Ctx<'_> {
    fn tenant(&self) -> &str {
        &self.principal.tenant_id
    }
    fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
    fn now(&self) -> DateTime<Utc> {
        self.api.clock.now()
    }
    fn table(&self) -> &dyn dd0c_shared::store::Table {
        self.api.table.as_ref()
    }
    fn actor(&self) -> finding_actions::Actor {
        finding_actions::Actor {
            user: self.principal.user.clone(),
            via: match self.principal.method {
                AuthMethod::Jwt => "dashboard".into(),
                AuthMethod::ApiKey => "api_key".into(),
            },
        }
    }
    async fn audit(
        &self,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let entry = finding_actions::audit_entry(
            self.tenant(),
            &self.actor(),
            self.now(),
            action,
            target,
            detail,
        );
        finding_actions::append_audit(self.table(), &entry).await?;
        Ok(())
    }
}

pub async fn dispatch(route: RouteId, ctx: Ctx<'_>) -> Result<HttpResponse, ApiError> {
    match route {
        RouteId::AccountsSetup => accounts_setup(&ctx).await,
        RouteId::AccountsConnect => accounts_connect(&ctx).await,
        RouteId::AccountsList => accounts_list(&ctx).await,
        RouteId::AccountHealth => account_health(&ctx).await,
        RouteId::AccountDelete => account_delete(&ctx).await,
        RouteId::AnomaliesList => findings_list(&ctx, None).await,
        RouteId::AnomalyGet => finding_get(&ctx).await,
        RouteId::AnomalyPatch => finding_patch(&ctx).await,
        RouteId::BaselinePatch => baseline_patch(&ctx).await,
        RouteId::StacksList => stacks_list(&ctx).await,
        RouteId::StacksCreate => stacks_create(&ctx).await,
        RouteId::StacksPatch | RouteId::StackPatch => stack_patch(&ctx).await,
        RouteId::DriftEventsList => findings_list(&ctx, Some("drift")).await,
        RouteId::PoliciesGet => policies_get(&ctx).await,
        RouteId::PoliciesPut => policies_put(&ctx).await,
        RouteId::SlackSettingsGet => slack_settings_get(&ctx).await,
        RouteId::SlackSettingsPatch => slack_settings_patch(&ctx).await,
        RouteId::SlackInstallUrl => slack_install_url(&ctx).await,
        RouteId::ApiKeysCreate => api_keys_create(&ctx).await,
        RouteId::ApiKeysList => api_keys_list(&ctx).await,
        RouteId::ApiKeyDelete => api_key_delete(&ctx).await,
        RouteId::Me => me(&ctx).await,
        RouteId::BillingCheckout => billing_checkout(&ctx).await,
        RouteId::BillingPortal => billing_portal(&ctx).await,
        RouteId::OpenApi => Ok(HttpResponse::json(200, &crate::openapi::document())),
    }
}

fn decode_err(e: dd0c_shared::store::ItemError) -> ApiError {
    ApiError::from(StoreError::Decode {
        key: None,
        source: e,
    })
}

fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
}

// ------------------------------------------------------------------------------------ accounts

/// Accounts that count against the plan's limit.
fn counts_against_limit(link: &AccountLink) -> bool {
    matches!(link.status, AccountStatus::Active | AccountStatus::Pending)
}

async fn usage(ctx: &Ctx<'_>) -> Result<(TenantProfile, Vec<AccountLink>, u32), ApiError> {
    let profile = tenancy::tenant_profile(ctx.table(), ctx.tenant()).await?;
    let links = tenancy::tenant_accounts(ctx.table(), ctx.tenant()).await?;
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

fn quick_create_url(config: &crate::ApiConfig, external_id: &str) -> String {
    let enc = |s: &str| {
        crate::billing::form_encode(&[("", s.to_owned())])
            .trim_start_matches('=')
            .to_owned()
    };
    format!(
        "https://console.aws.amazon.com/cloudformation/home?region={region}#/stacks/quickcreate?templateURL={template}&stackName={stack}&param_ExternalId={external_id}&param_Dd0cAccountId={account}&param_Dd0cRegion={region}",
        region = config.region,
        template = enc(&config.template_url),
        stack = enc(&config.stack_name),
        account = config.dd0c_account_id,
    )
}

async fn accounts_setup(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let (profile, _, used) = usage(ctx).await?;
    let limit = profile.account_limit();
    if used >= limit {
        return Err(upgrade_required(used, limit, profile.plan));
    }
    let external_id = uuid::Uuid::new_v4().to_string();
    let now = ctx.now();
    ctx.table()
        .update(
            &keys::tenant_profile(ctx.tenant()),
            Update::new()
                .set("tenant_id", ctx.tenant())
                .set_if_absent("plan", "free")
                .set("external_id", external_id.as_str())
                .set("external_id_created_at", keys::time_key(&now))
                .set("entity", "tenant"),
        )
        .await?;
    ctx.audit("account.setup", &external_id, json!({})).await?;
    let config = &ctx.api.config;
    Ok(HttpResponse::json(
        200,
        &SetupResponse {
            quick_create_url: quick_create_url(config, &external_id),
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
        AccountsError::Unavailable(m) => {
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

/// Stores an account's latest zombie scan (read by `GET /v1/accounts/{id}/health`).
pub async fn save_zombie_scan(
    table: &dyn dd0c_shared::store::Table,
    tenant: &str,
    account: &str,
    scan: &ZombieScan,
) -> Result<(), StoreError> {
    let key = keys::zombie_scan(tenant, account);
    let mut item = to_item(scan).map_err(|e| StoreError::Decode {
        key: None,
        source: e,
    })?;
    item.insert(PK.into(), AttrValue::S(key.pk));
    item.insert(SK.into(), AttrValue::S(key.sk));
    item.insert("entity".into(), AttrValue::S("zombie_scan".into()));
    table.put(item, None).await
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the account has no verified role")]
    NotVerified,
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The daily zombie scan of one connected account (for the digest job): assume the role
/// with the link's ExternalId, scan `region`, store the result.
pub async fn scan_account(
    table: &dyn dd0c_shared::store::Table,
    accounts_port: &dyn accounts::Accounts,
    link: &AccountLink,
    region: &str,
    now: DateTime<Utc>,
) -> Result<ZombieScan, ScanError> {
    let (Some(role), Some(external_id)) = (&link.role_arn, &link.external_id) else {
        return Err(ScanError::NotVerified);
    };
    let session = accounts_port.assume_role(role, external_id).await?;
    let scan = run_zombie_scan(accounts_port, &session, region, now).await?;
    save_zombie_scan(table, &link.tenant_id, &link.account_id, &scan).await?;
    Ok(scan)
}

/// Runs the zombie scan of one region through the accounts port.
pub async fn run_zombie_scan(
    accounts_port: &dyn accounts::Accounts,
    session: &accounts::Session,
    region: &str,
    now: DateTime<Utc>,
) -> Result<ZombieScan, AccountsError> {
    let zombies = zombie::scan(accounts_port, session, region, now).await?;
    let monthly_waste_usd = zombies.iter().filter_map(|z| z.monthly_usd).sum();
    Ok(ZombieScan {
        scanned_at: now,
        region: region.to_owned(),
        zombies: zombies.iter().map(ZombieView::from).collect(),
        monthly_waste_usd,
    })
}

async fn accounts_connect(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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
    let linked = tenancy::account_link(ctx.table(), &body.aws_account_id).await?;
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
        connected_at: existing.map_or(now, |l| l.connected_at),
        status_changed_at: Some(now),
    };
    // Another tenant may have linked the account since the read: never overwrite theirs.
    let condition = Condition::Or(vec![
        Condition::ItemNotExists,
        Condition::Equals("tenant_id".into(), AttrValue::S(ctx.tenant().to_owned())),
    ]);
    match ctx.table().put(link.to_item()?, Some(condition)).await {
        Ok(()) => {}
        Err(e) if e.is_condition_failed() => return Err(taken()),
        Err(e) => return Err(e.into()),
    }
    ctx.audit(
        "account.connect",
        &link.account_id,
        json!({ "role_arn": body.role_arn }),
    )
    .await?;
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
        },
    ))
}

async fn accounts_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let (partition, _) = keys::account_link_gsi1(ctx.tenant(), "");
    let start = pagination::decode(ctx.request.query.get("next"), "GSI1PK", &partition)?;
    let page = ctx
        .table()
        .query(
            Query::partition(partition)
                .on(Index::Gsi1)
                .limit(limit)
                .start_after(start),
        )
        .await?;
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
async fn own_account(ctx: &Ctx<'_>) -> Result<AccountLink, ApiError> {
    let id = ctx.param("id");
    if !accounts::is_account_id(id) {
        return Err(ApiError::bad_request(
            "id",
            "the account id must be 12 digits",
        ));
    }
    match tenancy::account_link(ctx.table(), id).await? {
        Some(link) if link.tenant_id == ctx.tenant() => Ok(link),
        _ => Err(not_your_account(id)),
    }
}

fn not_your_account(id: &str) -> ApiError {
    ApiError::not_found(format!("account {id} is not connected to your tenant"))
}

async fn account_health(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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
    let scan_key = keys::zombie_scan(ctx.tenant(), &link.account_id);
    let last_zombie_scan = match ctx.table().get(&scan_key).await? {
        Some(item) => Some(from_item::<ZombieScan>(item).map_err(decode_err)?),
        None => None,
    };
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

/// Hours after a disconnect before the digest job purges the account's data.
pub const PURGE_AFTER_HOURS: i64 = 72;

async fn account_delete(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let link = own_account(ctx).await?;
    let now = ctx.now();
    let item = ctx
        .table()
        .update(
            &keys::account_link(&link.account_id),
            Update::new()
                .set("status", "disconnecting")
                .set("status_changed_at", keys::time_key(&now))
                .set(
                    "purge_after",
                    keys::time_key(&(now + Duration::hours(PURGE_AFTER_HOURS))),
                )
                .when(Condition::Equals(
                    "tenant_id".into(),
                    AttrValue::S(ctx.tenant().to_owned()),
                )),
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

async fn baseline_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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
            &keys::baseline(ctx.tenant(), &link.account_id, service, resource_type),
            Update::new()
                .set("sensitivity", body.sensitivity.as_str())
                .set("sensitivity_updated_at", keys::time_key(&now)),
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

// ------------------------------------------------------------------------------------ findings

const STATUSES: [&str; 5] = ["open", "expected", "snoozed", "resolved", "accepted"];

fn parse_time(ctx: &Ctx<'_>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    ctx.request
        .query
        .get(name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(
                        name,
                        format!("{name} must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z"),
                    )
                })
        })
        .transpose()
}

fn snooze_until(item: &Item) -> Option<DateTime<Utc>> {
    item.get("snooze_until")
        .and_then(AttrValue::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The key attributes of an item as a `start_after` for the given index.
fn key_of(item: &Item, index: Index) -> Item {
    [PK, SK, index.partition_attribute(), index.sort_attribute()]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

async fn findings_list(ctx: &Ctx<'_>, forced_kind: Option<&str>) -> Result<HttpResponse, ApiError> {
    let q = &ctx.request.query;
    let limit = pagination::limit(q.get("limit"))?;
    let since = parse_time(ctx, "since")?;
    let until = parse_time(ctx, "until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(ApiError::bad_request("until", "until must be after since"));
        }
    }
    let status = q.get("status").map(String::as_str);
    if let Some(s) = status {
        if !STATUSES.contains(&s) {
            return Err(ApiError::bad_request(
                "status",
                format!("status must be one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let severity = match q.get("severity") {
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "severity",
                "severity must be info, low, medium, warning, high or critical",
            )
        })?),
        None => None,
    };
    let account = q.get("account").map(String::as_str);
    if account.is_some_and(|a| !accounts::is_account_id(a)) {
        return Err(ApiError::bad_request(
            "account",
            "account must be a 12-digit AWS account id",
        ));
    }
    let kind = match (forced_kind, q.get("kind").map(String::as_str)) {
        (Some(k), _) => Some(k),
        (None, Some(k @ ("cost_anomaly" | "drift"))) => Some(k),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "kind",
                "kind must be cost_anomaly or drift",
            ))
        }
        (None, None) => None,
    };
    let stack = q.get("stack").map(String::as_str);
    if stack.is_some_and(|s| !valid_segment(s)) {
        return Err(ApiError::bad_request("stack", "stack must be a stack id"));
    }

    let tenant = ctx.tenant();
    let (index, partition) = match status {
        Some(s) => (
            Index::Gsi2,
            format!("{}#FINDINGS#{s}", keys::tenant_pk(tenant)),
        ),
        None => (Index::Gsi1, format!("{}#FINDINGS", keys::tenant_pk(tenant))),
    };
    let sort = match (since, until) {
        (Some(s), Some(u)) => SortKeyCondition::Between(keys::time_key(&s), keys::time_key(&u)),
        (Some(s), None) => SortKeyCondition::GreaterOrEqual(keys::time_key(&s)),
        (None, Some(u)) => SortKeyCondition::LessThan(keys::time_key(&u)),
        (None, None) => SortKeyCondition::Any,
    };
    let mut start = pagination::decode(q.get("next"), index.partition_attribute(), &partition)?;
    let mut items = Vec::new();
    let mut next = None;
    // Filters apply after the key condition (as a DynamoDB FilterExpression would); a bounded
    // number of reads per request keeps a sparse filter from scanning a whole partition.
    for _ in 0..10 {
        let page = ctx
            .table()
            .query(
                Query::partition(partition.clone())
                    .on(index)
                    .sort(sort.clone())
                    .backward()
                    .limit(limit)
                    .start_after(start.take()),
            )
            .await?;
        let page_next = page.next.clone();
        let mut filled = false;
        for item in page.items {
            let key = key_of(&item, index);
            let snooze = snooze_until(&item);
            let finding: Finding = from_item(item).map_err(decode_err)?;
            let until_ok = until.is_none_or(|u| finding.event_time < u);
            let keep = until_ok
                && severity.is_none_or(|s| finding.severity == s)
                && account.is_none_or(|a| finding.account_id == a)
                && kind.is_none_or(|k| finding.kind.as_str() == k)
                && stack.is_none_or(|s| {
                    finding.details["stack_id"].as_str() == Some(s)
                        || finding.details["stack"].as_str() == Some(s)
                });
            if keep {
                items.push(FindingView::new(&finding, snooze));
            }
            if items.len() == limit {
                next = Some(key);
                filled = true;
                break;
            }
        }
        if filled {
            break;
        }
        match page_next {
            Some(k) => {
                next = Some(k.clone());
                start = Some(k);
            }
            None => {
                next = None;
                break;
            }
        }
    }
    // A full page that ended exactly at the partition's end still gets a token; the next
    // call answers an empty page, which clients handle.
    Ok(HttpResponse::json(
        200,
        &FindingPage {
            items,
            next: pagination::encode(&next),
        },
    ))
}

/// The finding id in the path, checked before it becomes part of a key.
fn finding_id<'a>(ctx: &'a Ctx<'_>) -> Result<&'a str, ApiError> {
    let id = ctx.param("id");
    // Longer than other segments: a finding id is its kind and the event id it came from.
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b));
    if !valid {
        return Err(ApiError::bad_request("id", "not a finding id"));
    }
    Ok(id)
}

/// The statuses each dashboard action may start from: acting on a resolved finding as if it
/// were open (or reopening an open one) is a stale page or a client bug, not an intent.
fn allowed_from(action: &FindingAction) -> &'static [FindingStatus] {
    use FindingStatus::*;
    match action {
        FindingAction::MarkExpected | FindingAction::Snooze { .. } => &[Open, Snoozed],
        FindingAction::Resolve => &[Open, Snoozed, Expected, Accepted],
        FindingAction::Reopen => &[Snoozed, Expected, Resolved, Accepted],
    }
}

async fn finding_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = finding_id(ctx)?;
    let key = keys::finding(ctx.tenant(), id);
    let item = ctx
        .table()
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no finding {id}")))?;
    let snooze = snooze_until(&item);
    let finding: Finding = from_item(item).map_err(decode_err)?;
    Ok(HttpResponse::json(200, &FindingView::new(&finding, snooze)))
}

async fn finding_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = finding_id(ctx)?;
    let body: FindingPatch = json_body(&ctx.request.body)?;
    let action = match (body.action.as_str(), body.snooze_until) {
        ("mark_expected", None) => FindingAction::MarkExpected,
        ("resolve", None) => FindingAction::Resolve,
        ("reopen", None) => FindingAction::Reopen,
        ("snooze", Some(until)) => FindingAction::Snooze { until },
        ("snooze", None) => {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze needs snooze_until (RFC 3339)",
            ))
        }
        ("mark_expected" | "resolve" | "reopen", Some(_)) => {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze_until only goes with the snooze action",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "action",
                "action must be mark_expected, snooze, resolve or reopen",
            ))
        }
    };
    if let FindingAction::Snooze { until } = &action {
        // Checked here as well as in `apply`: a bad body is named before the finding's state.
        if *until <= ctx.now() {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze_until must be in the future",
            ));
        }
        if *until > ctx.now() + Duration::days(90) {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze for at most 90 days",
            ));
        }
    }
    let current: Finding = match ctx.table().get(&keys::finding(ctx.tenant(), id)).await? {
        Some(item) => from_item(item).map_err(decode_err)?,
        None => return Err(ApiError::not_found(format!("no finding {id}"))),
    };
    if !allowed_from(&action).contains(&current.status) {
        let status = format!("{:?}", current.status).to_lowercase();
        return Err(ApiError::bad_request(
            "action",
            format!("{} is not allowed on a {status} finding", body.action),
        ));
    }
    let finding = finding_actions::apply(
        ctx.table(),
        ctx.tenant(),
        id,
        &action,
        &ctx.actor(),
        ctx.now(),
    )
    .await
    .map_err(|e| match e {
        ActionError::NotFound(id) => ApiError::not_found(format!("no finding {id}")),
        ActionError::SnoozeInPast => {
            ApiError::bad_request("snooze_until", "snooze_until must be in the future")
        }
        ActionError::Store(e) => e.into(),
    })?;
    let snooze = match &action {
        FindingAction::Snooze { until } => Some(*until),
        _ => None,
    };
    Ok(HttpResponse::json(200, &FindingView::new(&finding, snooze)))
}

// ------------------------------------------------------------------------------------ stacks

const IAC_TOOLS: [&str; 4] = ["terraform", "cloudformation", "cdk", "pulumi"];

async fn stacks_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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

async fn stacks_create(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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

async fn stack_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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

// ------------------------------------------------------------------------------------ policies
// Overrides are the notifier's `governance::PolicyOverride`, validated and stored by its own
// functions (only ever stricter than the system policy).

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
    for link in tenancy::tenant_accounts(ctx.table(), ctx.tenant()).await? {
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

async fn policies_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::json(200, &policies_view(ctx).await?))
}

/// Sets the tenant override (when `tenant` is given) and each given account's override.
async fn policies_put(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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
        match tenancy::account_link(ctx.table(), account).await? {
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

// ------------------------------------------------------------------------------------ API keys

async fn api_keys_create(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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

async fn api_keys_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(ctx.request.query.get("limit"))?;
    let (partition, _) = keys::api_key_gsi1(ctx.tenant(), "");
    let start = pagination::decode(ctx.request.query.get("next"), "GSI1PK", &partition)?;
    let (list, next) = api_keys::list(ctx.table(), ctx.tenant(), limit, start).await?;
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

async fn api_key_delete(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("id");
    if !valid_segment(id) {
        return Err(ApiError::bad_request("id", "not a key id"));
    }
    if !api_keys::revoke(ctx.table(), ctx.tenant(), id).await? {
        return Err(ApiError::not_found(format!("no API key {id}")));
    }
    ctx.audit("api_key.revoke", id, json!({})).await?;
    Ok(HttpResponse::text(204, "text/plain", ""))
}

// ------------------------------------------------------------------------------------ me, billing

// ------------------------------------------------------------------------------ Slack settings

async fn slack_settings_view(
    ctx: &Ctx<'_>,
    s: SlackSettings,
) -> Result<SlackSettingsView, ApiError> {
    let (zone, hour) = s.digest_time();
    let installation = slack_settings::load_installation(ctx.table(), ctx.tenant()).await?;
    let installed = installation.as_ref().map(|i| SlackInstallationView {
        team_name: i.team_name.clone(),
        status: match i.status {
            InstallationStatus::Active => "active".into(),
            InstallationStatus::Broken => "broken".into(),
        },
        channel_id: i.channel_id.clone(),
        channel_name: i.channel_name.clone(),
        channel_problem: i.channel_problem.as_ref().map(|p| {
            format!("{p}. Invite the dd0c app to that channel (/invite @dd0c) or choose another; until then alerts go to the channel chosen at install.")
        }),
    });
    Ok(SlackSettingsView {
        default_channel: s.default_channel,
        account_channels: s.account_channels,
        digest_time_zone: zone.name().to_owned(),
        digest_hour: hour,
        installation: installed,
    })
}

/// `#name` (Slack's rules: lower case, digits, `-`, `_`, at most 80) or a channel id.
fn valid_channel(c: &str) -> bool {
    match c.strip_prefix('#') {
        Some(name) => {
            !name.is_empty()
                && name.len() <= 80
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
        }
        None => {
            (9..=20).contains(&c.len())
                && matches!(c.as_bytes()[0], b'C' | b'G')
                && c.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
    }
}

async fn slack_settings_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let s = slack_settings::load_settings(ctx.table(), ctx.tenant()).await?;
    Ok(HttpResponse::json(200, &slack_settings_view(ctx, s).await?))
}

async fn slack_settings_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: SlackSettingsPatch = json_body(&ctx.request.body)?;
    let invalid =
        |e: slack_settings::DigestTimeError| ApiError::bad_request(e.field(), e.to_string());
    if let Some(c) = &body.default_channel {
        if !valid_channel(c) {
            return Err(ApiError::bad_request(
                "default_channel",
                "default_channel must be a #channel-name (lower case, digits, - and _) or a channel id",
            ));
        }
    }
    let zone = match &body.digest_time_zone {
        Some(z) => Some(slack_settings::parse_time_zone(z).map_err(invalid)?),
        None => None,
    };
    let hour = match body.digest_hour {
        Some(h) => Some(slack_settings::parse_digest_hour(h).map_err(invalid)?),
        None => None,
    };
    let change = slack_settings::SettingsChange {
        default_channel: body.default_channel.clone(),
        digest_time_zone: zone.map(|z| z.name().to_owned()),
        digest_hour: hour,
    };
    let s = slack_settings::update_settings(ctx.table(), ctx.tenant(), &change).await?;
    ctx.audit(
        "settings.slack",
        "slack",
        json!({
            "default_channel": change.default_channel,
            "digest_time_zone": change.digest_time_zone,
            "digest_hour": change.digest_hour,
        }),
    )
    .await?;
    Ok(HttpResponse::json(200, &slack_settings_view(ctx, s).await?))
}

/// Starts a Slack install for the caller's tenant: the link carries a single-use state bound
/// to the tenant the verified token names, so nobody can link their workspace to another
/// tenant. The dashboard sends the browser to the returned URL.
async fn slack_install_url(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let Some(install) = &ctx.api.config.slack_install else {
        return Err(ApiError::new(
            409,
            "Not configured",
            "the Slack app is not configured: put its client_id in the Slack secret (docs/deploy.md); for dd0c serve, set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET",
        ));
    };
    let redirect_uri =
        slack_install::redirect_uri_for(install.redirect_uri.as_deref(), ctx.request).ok_or_else(
            || ApiError::bad_request("host", "the request has no usable host header"),
        )?;
    let link = slack_install::InstallLink {
        client_id: install.client_id.clone(),
        redirect_uri,
    };
    let url = slack_install::start_install(ctx.table(), ctx.now(), ctx.tenant(), &link).await?;
    ctx.audit("slack.install_started", "slack", json!({}))
        .await?;
    Ok(HttpResponse::json(200, &RedirectResponse { url }))
}

async fn me(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
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

async fn billing_checkout(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let body: CheckoutRequest = json_body(&ctx.request.body)?;
    if !(1..=1000).contains(&body.accounts) {
        return Err(ApiError::bad_request(
            "accounts",
            "accounts must be from 1 to 1000",
        ));
    }
    let profile = tenancy::tenant_profile(ctx.table(), ctx.tenant()).await?;
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

async fn billing_portal(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let profile = tenancy::tenant_profile(ctx.table(), ctx.tenant()).await?;
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
