//! Slack OAuth v2: the app's OAuth settings, the code exchange with Slack (the
//! [`OAuthExchange`] port) and opening a stored bot token. The install URL carries a
//! single-use `state` bound to the tenant (`dd0c_shared::slack::install`); the routes that
//! use all this are in `install.rs`.

use async_trait::async_trait;
use dd0c_shared::crypto;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::slack::install::redirect_uri_for;
use dd0c_shared::slack::settings::Installation;
use serde::Deserialize;

pub use dd0c_shared::slack::install::{SCOPES, STATE_TTL_MINUTES};

#[derive(Debug, Clone)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Empty: derived from each request (`install::redirect_uri_for`).
    pub redirect_uri: String,
}

impl OAuthConfig {
    /// This config with the redirect URI the request implies, when none is configured.
    pub(crate) fn for_request(&self, request: &HttpRequest) -> Result<OAuthConfig, HttpResponse> {
        let redirect_uri =
            redirect_uri_for(Some(&self.redirect_uri), request).ok_or_else(|| {
                HttpResponse::problem(
                    400,
                    "Bad request",
                    "the request has no usable host header",
                    Some("host"),
                )
            })?;
        Ok(OAuthConfig {
            redirect_uri,
            ..self.clone()
        })
    }
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
    /// The channel the installer chose (granted with the `incoming-webhook` scope).
    #[serde(default)]
    pub incoming_webhook: Option<ChosenChannel>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChosenChannel {
    pub channel_id: String,
    #[serde(default)]
    pub channel: Option<String>,
    pub url: String,
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
            http: dd0c_shared::slack::web::http_client(),
            base_url: dd0c_shared::slack::web::api_base_url(),
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
            incoming_webhook: serde_json::from_value(response["incoming_webhook"].clone()).ok(),
        })
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
