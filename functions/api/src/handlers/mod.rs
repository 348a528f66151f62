//! One function per route. Every read and write is scoped by the caller's tenant, which
//! comes from the token; path ids are validated before they touch a key.

mod accounts;
mod api_keys;
mod baselines;
mod billing;
mod decisions;
mod drift_score;
mod findings;
mod flags;
mod incidents;
mod me;
mod policies;
mod slack_settings;
mod stack_timeline;
mod stacks;

use chrono::{DateTime, Utc};
use dd0c_shared::auth::{AuthMethod, Principal};
use dd0c_shared::finding_actions;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::store::StoreError;

use crate::error::ApiError;
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
        RouteId::AccountsSetup => accounts::accounts_setup(&ctx).await,
        RouteId::AccountsConnect => accounts::accounts_connect(&ctx).await,
        RouteId::AccountsList => accounts::accounts_list(&ctx).await,
        RouteId::AccountHealth => accounts::account_health(&ctx).await,
        RouteId::AccountBackfill => accounts::account_backfill(&ctx).await,
        RouteId::AccountDelete => accounts::account_delete(&ctx).await,
        RouteId::AnomaliesList => findings::findings_list(&ctx, None).await,
        RouteId::AnomalyGet => findings::finding_get(&ctx).await,
        RouteId::AnomalyPatch => findings::finding_patch(&ctx).await,
        RouteId::EventDecision => decisions::event_decision(&ctx).await,
        RouteId::IncidentsList => incidents::incidents_list(&ctx).await,
        RouteId::IncidentGet => incidents::incident_get(&ctx).await,
        RouteId::IncidentPatch => incidents::incident_patch(&ctx).await,
        RouteId::BaselinePatch => baselines::baseline_patch(&ctx).await,
        RouteId::StacksList => stacks::stacks_list(&ctx).await,
        RouteId::StacksCreate => stacks::stacks_create(&ctx).await,
        RouteId::StacksPatch | RouteId::StackPatch => stacks::stack_patch(&ctx).await,
        RouteId::StackGet => stacks::stack_get(&ctx).await,
        RouteId::StackTimeline => stack_timeline::stack_timeline(&ctx).await,
        RouteId::DriftScore => drift_score::drift_score(&ctx).await,
        RouteId::StackResourcesImport => stacks::stack_resources_import(&ctx).await,
        RouteId::DriftEventsList => findings::findings_list(&ctx, Some("drift")).await,
        RouteId::PoliciesGet => policies::policies_get(&ctx).await,
        RouteId::PoliciesPut => policies::policies_put(&ctx).await,
        RouteId::FlagsList => flags::flags_list(&ctx).await,
        RouteId::FlagPut => flags::flag_put(&ctx).await,
        RouteId::FlagDelete => flags::flag_delete(&ctx).await,
        RouteId::SlackSettingsGet => slack_settings::slack_settings_get(&ctx).await,
        RouteId::SlackSettingsPatch => slack_settings::slack_settings_patch(&ctx).await,
        RouteId::SlackInstallUrl => slack_settings::slack_install_url(&ctx).await,
        RouteId::ApiKeysCreate => api_keys::api_keys_create(&ctx).await,
        RouteId::ApiKeysList => api_keys::api_keys_list(&ctx).await,
        RouteId::ApiKeyDelete => api_keys::api_key_delete(&ctx).await,
        RouteId::Me => me::me(&ctx).await,
        RouteId::BillingCheckout => billing::billing_checkout(&ctx).await,
        RouteId::BillingPortal => billing::billing_portal(&ctx).await,
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
