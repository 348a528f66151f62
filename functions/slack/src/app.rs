//! The Slack app behind API Gateway (and `dd0c serve`): its ports and settings, and the
//! checks every request goes through (signature, tenant).

use std::sync::Arc;

use dd0c_shared::clock::SharedClock;
use dd0c_shared::governance::Policy;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use dd0c_shared::remediation::Remediator;
use dd0c_shared::signatures::verify_slack_signature;
use dd0c_shared::slack::settings::{self, ChatDirectory, SingleChat};
use dd0c_shared::store::Table;

use crate::deferral::{Deferrer, SLACK_RESPONSE_URL_PREFIX};
use crate::oauth::{OAuthConfig, OAuthExchange};

/// The secrets the app needs (`SLACK_SIGNING_SECRET` locally, Secrets Manager in production).
#[derive(Clone)]
pub struct SlackSecrets {
    pub signing_secret: String,
}

pub struct SlackApp {
    pub(crate) table: Arc<dyn Table>,
    pub(crate) chats: Arc<dyn ChatDirectory>,
    pub(crate) clock: SharedClock,
    secrets: SlackSecrets,
    /// The tenant of requests from a workspace no installation links (the embedded mode).
    default_tenant: Option<String>,
    pub(crate) oauth: Option<(OAuthConfig, Arc<dyn OAuthExchange>)>,
    pub(crate) keys: Option<Arc<dyn dd0c_shared::crypto::KeyProvider>>,
    pub(crate) deferrer: Option<Arc<dyn Deferrer>>,
    /// Response URLs the app will POST to (Slack's only, but for local tests).
    pub(crate) response_url_prefixes: Vec<String>,
    /// The remediation buttons' port and the system policy that governs them; `None`: the
    /// buttons are unknown actions.
    pub(crate) remediation: Option<(Arc<dyn Remediator>, Policy)>,
}

impl SlackApp {
    /// Built on ports, so `dd0c serve` runs it on embedded adapters.
    pub fn new(
        table: Arc<dyn Table>,
        chat: Arc<dyn dd0c_shared::chat::ChatSink>,
        clock: SharedClock,
        secrets: SlackSecrets,
    ) -> Self {
        Self {
            table,
            chats: Arc::new(SingleChat(chat)),
            clock,
            secrets,
            default_tenant: None,
            oauth: None,
            keys: None,
            deferrer: None,
            response_url_prefixes: vec![SLACK_RESPONSE_URL_PREFIX.to_owned()],
            remediation: None,
        }
    }

    /// Enables the remediation buttons: `remediator` acts in customers' accounts, `policy` is
    /// the system policy (its `remediation` field, tightened per tenant and account).
    pub fn with_remediation(mut self, remediator: Arc<dyn Remediator>, policy: Policy) -> Self {
        self.remediation = Some((remediator, policy));
        self
    }

    /// Slow commands are acknowledged at once and answered through `response_url`.
    pub fn with_deferrer(mut self, deferrer: Arc<dyn Deferrer>) -> Self {
        self.deferrer = Some(deferrer);
        self
    }

    /// Also accepts response URLs under `prefix` (local replays and tests).
    pub fn allow_response_urls(mut self, prefix: impl Into<String>) -> Self {
        self.response_url_prefixes.push(prefix.into());
        self
    }

    pub(crate) fn default_tenant(&self) -> Option<String> {
        self.default_tenant.clone()
    }

    pub fn with_default_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.default_tenant = Some(tenant.into());
        self
    }

    pub fn with_directory(mut self, chats: Arc<dyn ChatDirectory>) -> Self {
        self.chats = chats;
        self
    }

    /// Enables `/v1/slack/install` and `/v1/slack/oauth_redirect`.
    pub fn with_oauth(
        mut self,
        config: OAuthConfig,
        exchange: Arc<dyn OAuthExchange>,
        keys: Arc<dyn dd0c_shared::crypto::KeyProvider>,
    ) -> Self {
        self.oauth = Some((config, exchange));
        self.keys = Some(keys);
        self
    }

    pub(crate) fn verify(&self, request: &HttpRequest) -> Result<(), HttpResponse> {
        verify_slack_signature(
            &self.secrets.signing_secret,
            request.header("x-slack-request-timestamp"),
            request.header("x-slack-signature"),
            &request.body,
            self.clock.now().timestamp(),
        )
        .map_err(|e| {
            tracing::warn!(error = %e, "refused a Slack request");
            HttpResponse::problem(
                401,
                "Unauthorized",
                &e.to_string(),
                Some("x-slack-signature"),
            )
        })
    }

    pub(crate) async fn tenant_for(&self, team_id: Option<&str>) -> Result<String, HttpResponse> {
        if let Some(team) = team_id {
            match settings::tenant_for_team(self.table.as_ref(), team).await {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "team lookup failed");
                    return Err(HttpResponse::problem(503, "Unavailable", "try again", None));
                }
            }
        }
        self.default_tenant.clone().ok_or_else(|| {
            HttpResponse::problem(
                403,
                "Forbidden",
                "this Slack workspace is not linked to a dd0c tenant; install the app first",
                Some("team_id"),
            )
        })
    }
}
