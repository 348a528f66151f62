//! The secrets of the local mode: from the environment, else documented demo defaults.

use dd0c_slack::OAuthConfig;

/// Demo defaults of the webhook secrets. Only `dd0c serve` reads them, on 127.0.0.1; the
/// Lambdas read theirs from Secrets Manager and have no default.
pub const DEMO_SLACK_SIGNING_SECRET: &str = "dd0c-local-demo-slack-signing-secret";
pub const DEMO_STRIPE_WEBHOOK_SECRET: &str = dd0c_stripe::DEMO_SECRET;
/// Where Slack sends the browser back after a local install (register it in the Slack app).
pub const LOCAL_SLACK_REDIRECT_URI: &str = "http://127.0.0.1:8787/v1/slack/oauth_redirect";

/// The secrets of the local mode, from the environment or the documented demo defaults.
#[derive(Clone)]
pub struct LocalSecrets {
    pub slack_signing_secret: String,
    pub stripe_webhook_secret: String,
    pub slack_webhook_url: Option<String>,
    /// `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` (with `SLACK_REDIRECT_URI`, default the
    /// local server's redirect route): enables the OAuth install routes locally.
    pub slack_oauth: Option<OAuthConfig>,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets; say only where they came from.
        f.debug_struct("LocalSecrets")
            .field(
                "slack_signing_secret_is_demo",
                &(self.slack_signing_secret == DEMO_SLACK_SIGNING_SECRET),
            )
            .field(
                "stripe_webhook_secret_is_demo",
                &(self.stripe_webhook_secret == DEMO_STRIPE_WEBHOOK_SECRET),
            )
            .field("slack_webhook_url", &self.slack_webhook_url.is_some())
            .field("slack_oauth", &self.slack_oauth.is_some())
            .finish()
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl LocalSecrets {
    pub fn from_env() -> Self {
        LocalSecrets {
            slack_signing_secret: env_or("SLACK_SIGNING_SECRET", DEMO_SLACK_SIGNING_SECRET),
            stripe_webhook_secret: env_or("STRIPE_WEBHOOK_SECRET", DEMO_STRIPE_WEBHOOK_SECRET),
            slack_webhook_url: std::env::var("SLACK_WEBHOOK_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            slack_oauth: match (
                std::env::var("SLACK_CLIENT_ID")
                    .ok()
                    .filter(|v| !v.is_empty()),
                std::env::var("SLACK_CLIENT_SECRET")
                    .ok()
                    .filter(|v| !v.is_empty()),
            ) {
                (Some(client_id), Some(client_secret)) => Some(OAuthConfig {
                    client_id,
                    client_secret,
                    redirect_uri: env_or("SLACK_REDIRECT_URI", LOCAL_SLACK_REDIRECT_URI),
                }),
                _ => None,
            },
        }
    }

    /// Whether the Slack signing secret is the demo default (said at startup).
    pub fn slack_signing_secret_is_demo(&self) -> bool {
        self.slack_signing_secret == DEMO_SLACK_SIGNING_SECRET
    }

    /// Whether the Stripe webhook secret is the demo default (said at startup).
    pub fn stripe_webhook_secret_is_demo(&self) -> bool {
        self.stripe_webhook_secret == DEMO_STRIPE_WEBHOOK_SECRET
    }

    /// The Stripe webhook secrets: comma-separated during a rotation, as on Lambda.
    pub fn stripe_webhook_secrets(&self) -> Vec<String> {
        self.stripe_webhook_secret
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
