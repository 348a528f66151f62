//! OAuth v2 install: `/v1/slack/install` hands out a single-use `state` and redirects to
//! Slack; `/v1/slack/oauth_redirect` checks the state, exchanges the code for a bot token and
//! stores it sealed (envelope encryption) with the tenant as context.

use async_trait::async_trait;
use chrono::Duration;
use dd0c_shared::crypto;
use dd0c_shared::http::{percent_decode, HttpRequest, HttpResponse};
use dd0c_shared::slack::settings::{self, Installation, InstallationStatus};
use dd0c_shared::store::{keys, AttrValue, Item, TTL_ATTRIBUTE};
use serde::Deserialize;

use crate::app::SlackApp;

/// The minimum scopes dd0c asks for.
pub const SCOPES: &str = "chat:write,commands";
/// How long an install `state` stays valid.
pub const STATE_TTL_MINUTES: i64 = 10;

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
}

/// What `oauth.v2.access` returns that dd0c keeps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OAuthAccess {
    pub access_token: String,
    pub team_id: String,
    #[serde(default)]
    pub team_name: Option<String>,
    #[serde(default)]
    pub bot_user_id: Option<String>,
    #[serde(default)]
    pub scope: String,
}

/// The code-for-token exchange (Slack's `oauth.v2.access` in production, a fake in tests).
#[async_trait]
pub trait OAuthExchange: Send + Sync {
    async fn exchange(&self, config: &OAuthConfig, code: &str) -> Result<OAuthAccess, String>;
}

/// `oauth.v2.access` over HTTPS.
pub struct SlackOAuth {
    pub http: reqwest::Client,
    pub base_url: String,
}

impl Default for SlackOAuth {
    fn default() -> Self {
        Self {
            http: reqwest::Client::new(),
            base_url: "https://slack.com/api".into(),
        }
    }
}

#[async_trait]
impl OAuthExchange for SlackOAuth {
    async fn exchange(&self, config: &OAuthConfig, code: &str) -> Result<OAuthAccess, String> {
        let response: serde_json::Value = self
            .http
            .post(format!("{}/oauth.v2.access", self.base_url))
            .form(&[
                ("client_id", config.client_id.as_str()),
                ("client_secret", config.client_secret.as_str()),
                ("code", code),
                ("redirect_uri", config.redirect_uri.as_str()),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if response["ok"] != true {
            return Err(response["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned());
        }
        Ok(OAuthAccess {
            access_token: response["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            team_id: response["team"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            team_name: response["team"]["name"].as_str().map(str::to_owned),
            bot_user_id: response["bot_user_id"].as_str().map(str::to_owned),
            scope: response["scope"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html(status: u16, text: &str) -> HttpResponse {
    HttpResponse::text(
        status,
        "text/html; charset=utf-8",
        format!("<!doctype html><title>dd0c</title><p>{text}</p>"),
    )
}

impl SlackApp {
    /// The tenant installing: set by the authorizer in front of the route (`x-dd0c-tenant`),
    /// else the embedded mode's tenant.
    fn installing_tenant(&self, request: &HttpRequest) -> Option<String> {
        request
            .header("x-dd0c-tenant")
            .map(str::to_owned)
            .or_else(|| self.default_tenant())
    }

    pub(crate) async fn install(&self, request: HttpRequest) -> HttpResponse {
        let Some((config, _)) = &self.oauth else {
            return HttpResponse::problem(501, "Not configured", "Slack OAuth is not configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_REDIRECT_URI)", None);
        };
        let Some(tenant) = self.installing_tenant(&request) else {
            return HttpResponse::problem(401, "Unauthorized", "sign in to dd0c first", None);
        };
        let state = uuid::Uuid::new_v4().simple().to_string();
        let key = keys::slack_oauth_state(&state);
        let expires = (self.clock.now() + Duration::minutes(STATE_TTL_MINUTES)).timestamp() as f64;
        let mut item = Item::new();
        item.insert("PK".into(), AttrValue::S(key.pk));
        item.insert("SK".into(), AttrValue::S(key.sk));
        item.insert("tenant_id".into(), AttrValue::S(tenant));
        item.insert(TTL_ATTRIBUTE.into(), AttrValue::N(expires));
        if let Err(e) = self.table.put(item, None).await {
            tracing::error!(error = %e, "could not store the OAuth state");
            return HttpResponse::problem(503, "Unavailable", "try again", None);
        }
        let location = format!(
            "https://slack.com/oauth/v2/authorize?client_id={}&scope={}&state={}&redirect_uri={}",
            url_encode(&config.client_id),
            url_encode(SCOPES),
            state,
            url_encode(&config.redirect_uri)
        );
        HttpResponse::text(302, "text/plain", "").with_header("location", &location)
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
        let key = keys::slack_oauth_state(state);
        // Single use: the state is deleted as it is read (an expired one reads as absent).
        let tenant = match self.table.get(&key).await {
            Ok(Some(item)) => item
                .get("tenant_id")
                .and_then(AttrValue::as_str)
                .map(str::to_owned),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "state lookup failed");
                return HttpResponse::problem(503, "Unavailable", "try again", None);
            }
        };
        let Some(tenant) = tenant else {
            return HttpResponse::problem(
                400,
                "Bad request",
                "state is unknown, used or expired; start the install again",
                Some("state"),
            );
        };
        if let Err(e) = self.table.delete(&key, None).await {
            tracing::warn!(error = %e, "could not delete a used OAuth state");
        }
        let access = match exchange.exchange(config, code).await {
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
        };
        if let Err(e) = settings::put_installation(self.table.as_ref(), &installation).await {
            tracing::error!(tenant, error = %e, "could not store the installation");
            return HttpResponse::problem(503, "Unavailable", "try again", None);
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
        if let Err(e) =
            dd0c_shared::finding_actions::append_audit(self.table.as_ref(), &entry).await
        {
            tracing::warn!(tenant, error = %e, "could not audit the install");
        }
        tracing::info!(tenant, team = %access.team_id, "Slack installed");
        html(
            200,
            "dd0c is installed in your Slack workspace. You can close this tab.",
        )
    }
}

/// The bot token of a tenant's installation, opened with the key provider.
pub async fn bot_token(
    installation: &Installation,
    keys_provider: &dyn crypto::KeyProvider,
) -> Result<String, crypto::CryptoError> {
    let sealed: crypto::Sealed = serde_json::from_value(installation.token.clone())
        .map_err(|_| crypto::CryptoError::Open)?;
    let plain = crypto::open(keys_provider, &sealed, &installation.tenant_id).await?;
    String::from_utf8(plain).map_err(|_| crypto::CryptoError::Open)
}
