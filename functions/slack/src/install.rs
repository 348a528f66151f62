//! The install routes: `/v1/slack/install` (the embedded mode's tenant) and
//! `/v1/slack/oauth_redirect`, which consumes the single-use state, exchanges the code and
//! stores the bot token sealed with the tenant as context. A workspace already connected to
//! another tenant is refused, never rebound.

use dd0c_shared::crypto;
use dd0c_shared::entity::{audit, slack_oauth_state};
use dd0c_shared::http::{percent_decode, HttpRequest, HttpResponse};
use dd0c_shared::slack::install::{start_install, InstallLink};
use dd0c_shared::slack::settings::{self, Installation, InstallationError, InstallationStatus};
use dd0c_shared::store::{AttrValue, Condition};

use crate::app::SlackApp;
use crate::oauth::ChosenChannel;

/// Every page of the install flow: the text is escaped (it may echo Slack's query values).
fn html(status: u16, text: &str) -> HttpResponse {
    HttpResponse::html_page(status, text)
}

impl SlackApp {
    /// Starts an install for the embedded mode's tenant. In production this route knows no
    /// tenant (it is public, and nothing the browser sends can be trusted to name one): the
    /// dashboard asks the API for the install URL instead.
    pub(crate) async fn install(&self, request: HttpRequest) -> HttpResponse {
        let Some((config, _)) = &self.oauth else {
            return HttpResponse::problem(501, "Not configured", "Slack OAuth is not configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_REDIRECT_URI)", None);
        };
        let Some(tenant) = self.default_tenant() else {
            return HttpResponse::problem(
                401,
                "Unauthorized",
                "start the Slack install from the dd0c dashboard (GET /v1/settings/slack/install-url, signed in)",
                None,
            );
        };
        let config = match config.for_request(&request) {
            Ok(c) => c,
            Err(problem) => return problem,
        };
        let link = InstallLink {
            client_id: config.client_id.clone(),
            redirect_uri: config.redirect_uri.clone(),
        };
        match start_install(self.table.as_ref(), self.clock.now(), &tenant, &link).await {
            Ok(location) => {
                HttpResponse::text(302, "text/plain", "").with_header("location", &location)
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store the OAuth state");
                HttpResponse::problem(503, "Unavailable", "try again", None)
            }
        }
    }

    pub(crate) async fn oauth_redirect(&self, request: HttpRequest) -> HttpResponse {
        let (Some((config, exchange)), Some(keys_provider)) = (&self.oauth, &self.keys) else {
            return HttpResponse::problem(
                501,
                "Not configured",
                "Slack OAuth is not configured",
                None,
            );
        };
        if let Some(error) = request.query.get("error") {
            return html(
                400,
                &format!("Slack install cancelled: {}", percent_decode(error)),
            );
        }
        let Some(state) = request.query.get("state").filter(|s| !s.is_empty()) else {
            return HttpResponse::problem(400, "Bad request", "state is missing", Some("state"));
        };
        let Some(code) = request.query.get("code").filter(|s| !s.is_empty()) else {
            return HttpResponse::problem(400, "Bad request", "code is missing", Some("code"));
        };
        let key = slack_oauth_state::key(state);
        // An expired state reads as absent.
        let tenant = match self.table.get(&key).await {
            Ok(Some(item)) => slack_oauth_state::tenant_of(&item).map(str::to_owned),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "state lookup failed");
                return HttpResponse::problem(503, "Unavailable", "try again", None);
            }
        };
        let state_refused = || {
            HttpResponse::problem(
                400,
                "Bad request",
                "state is unknown, used or expired; start the install again",
                Some("state"),
            )
        };
        let Some(tenant) = tenant else {
            return state_refused();
        };
        // Single use: consumed by a conditional delete, so of two redirects racing with the
        // same state only the one whose delete lands goes on to install.
        let consume = Condition::And(vec![
            Condition::ItemExists,
            Condition::Equals("tenant_id".into(), AttrValue::S(tenant.clone())),
        ]);
        match self.table.delete(&key, Some(consume)).await {
            Ok(()) => {}
            Err(e) if e.is_condition_failed() => return state_refused(),
            Err(e) => {
                tracing::error!(error = %e, "could not consume the OAuth state");
                return HttpResponse::problem(503, "Unavailable", "try again", None);
            }
        }
        let config = match config.for_request(&request) {
            Ok(c) => c,
            Err(problem) => return problem,
        };
        let access = match exchange.exchange(&config, code).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(tenant, error = %e, "OAuth code exchange failed");
                return HttpResponse::problem(
                    502,
                    "Bad gateway",
                    &format!("Slack refused the code: {e}"),
                    Some("code"),
                );
            }
        };
        let sealed = match crypto::seal(
            keys_provider.as_ref(),
            access.access_token.as_bytes(),
            &tenant,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(tenant, error = %e, "could not encrypt the bot token");
                return HttpResponse::problem(503, "Unavailable", "try again", None);
            }
        };
        let webhook = match &access.incoming_webhook {
            Some(chosen) => {
                match crypto::seal(keys_provider.as_ref(), chosen.url.as_bytes(), &tenant).await {
                    Ok(sealed) => Some(serde_json::to_value(&sealed).unwrap_or_default()),
                    Err(e) => {
                        tracing::error!(tenant, error = %e, "could not encrypt the webhook URL");
                        return HttpResponse::problem(503, "Unavailable", "try again", None);
                    }
                }
            }
            None => None,
        };
        let installation = Installation {
            tenant_id: tenant.clone(),
            team_id: access.team_id.clone(),
            team_name: access.team_name.clone(),
            bot_user_id: access.bot_user_id.clone(),
            scopes: access
                .scope
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            token: serde_json::to_value(&sealed).unwrap_or_default(),
            status: InstallationStatus::Active,
            broken_reason: None,
            broken_at: None,
            installed_at: self.clock.now(),
            installed_by: None,
            channel_id: access
                .incoming_webhook
                .as_ref()
                .map(|c| c.channel_id.clone()),
            channel_name: access
                .incoming_webhook
                .as_ref()
                .and_then(|c| c.channel.clone()),
            webhook,
            channel_problem: None,
            channel_problem_at: None,
        };
        match settings::put_installation(self.table.as_ref(), &installation).await {
            Ok(()) => {}
            Err(InstallationError::TeamOfAnotherTenant { team_id }) => {
                tracing::warn!(tenant, team = %team_id, "install refused: the workspace belongs to another tenant");
                return html(
                    409,
                    &format!(
                        "This Slack workspace ({}) is already connected to another dd0c account, \
                         so it was not connected to yours. Ask that account's owner to uninstall \
                         dd0c from the workspace, or contact dd0c support.",
                        access.team_name.as_deref().unwrap_or(&team_id)
                    ),
                );
            }
            Err(InstallationError::Store(e)) => {
                tracing::error!(tenant, error = %e, "could not store the installation");
                return HttpResponse::problem(503, "Unavailable", "try again", None);
            }
        }
        if let Some(chosen) = &access.incoming_webhook {
            if let Err(e) = choose_default_channel(self.table.as_ref(), &tenant, chosen).await {
                tracing::error!(tenant, error = %e, "could not store the chosen channel");
                return HttpResponse::problem(503, "Unavailable", "try again", None);
            }
        }
        let who = dd0c_shared::finding_actions::Actor {
            user: format!("slack-team:{}", access.team_id),
            via: "slack".into(),
        };
        let entry = dd0c_shared::finding_actions::audit_entry(
            &tenant,
            &who,
            self.clock.now(),
            "slack.install",
            &access.team_id,
            serde_json::json!({"scopes": installation.scopes}),
        );
        if let Err(e) = audit::append(self.table.as_ref(), &entry).await {
            tracing::warn!(tenant, error = %e, "could not audit the install");
        }
        tracing::info!(tenant, team = %access.team_id, "Slack installed");
        html(
            200,
            "dd0c is installed in your Slack workspace. You can close this tab.",
        )
    }
}

/// The channel chosen at install becomes the tenant's default unless the tenant already
/// chose one on the dashboard (a reinstall does not undo that choice).
async fn choose_default_channel(
    table: &dyn dd0c_shared::store::Table,
    tenant: &str,
    chosen: &ChosenChannel,
) -> Result<(), dd0c_shared::store::StoreError> {
    let current = settings::load_settings(table, tenant).await?;
    if current.default_channel.is_none() {
        let change = settings::SettingsChange {
            default_channel: Some(chosen.channel_id.clone()),
            ..Default::default()
        };
        settings::update_settings(table, tenant, &change).await?;
    }
    Ok(())
}
