//! What the API Lambda reads at cold start: its variables (the contract in
//! `shared/function-env.json`) and, from Secrets Manager, the Stripe key and price and the Slack
//! app's client id.

use dd0c_shared::secrets::{require, Lookup, SecretError, SecretJson};

use crate::{ApiConfig, SlackInstall};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiEnv {
    pub user_pool_id: String,
    pub client_id: String,
    pub cognito_region: String,
    pub template_url: String,
    pub dd0c_account_id: String,
    pub dashboard_url: String,
    /// JSON: `api_key`, `price_id` (and the webhook's `webhook_secret`).
    pub stripe_secret_arn: String,
    /// JSON: `client_id` (the install link; the rest is the slack function's).
    pub slack_secret_arn: String,
}

impl ApiEnv {
    pub fn read(env: Lookup<'_>) -> Result<Self, SecretError> {
        Ok(Self {
            user_pool_id: require(env, "COGNITO_USER_POOL_ID")?,
            client_id: require(env, "COGNITO_CLIENT_ID")?,
            cognito_region: require(env, "COGNITO_REGION")?,
            template_url: require(env, "CUSTOMER_TEMPLATE_URL")?,
            dd0c_account_id: require(env, "DD0C_ACCOUNT_ID")?,
            dashboard_url: require(env, "DASHBOARD_URL")?,
            stripe_secret_arn: require(env, "STRIPE_SECRET_ARN")?,
            slack_secret_arn: require(env, "SLACK_SECRET_ARN")?,
        })
    }

    /// The API's settings, and how to reach Stripe: its API key (it goes to the Stripe client,
    /// not into the config), or what the operator still has to set. Billing is optional: until
    /// the Stripe secret holds real values, the billing routes answer 501 and everything else
    /// serves (a staging stack without billing still starts).
    pub fn config(
        &self,
        stripe: &SecretJson,
        slack: &SecretJson,
        system_policy: dd0c_shared::governance::Policy,
    ) -> Result<(ApiConfig, Result<String, String>), SecretError> {
        let billing = match (stripe.optional("api_key"), stripe.optional("price_id")) {
            (Some(key), Some(_)) => Ok(key),
            _ => Err(format!(
                "put api_key and price_id into the Stripe secret {} (docs/deploy.md)",
                self.stripe_secret_arn
            )),
        };
        let config = ApiConfig {
            template_url: self.template_url.clone(),
            dd0c_account_id: self.dd0c_account_id.clone(),
            region: self.cognito_region.clone(),
            stack_name: "dd0c-readonly".into(),
            stripe_price_id: stripe.optional("price_id").unwrap_or_default(),
            app_url: self.dashboard_url.clone(),
            system_policy,
            // Until the operator puts the Slack app's client id, installs are refused with
            // a 501 naming what is missing.
            slack_install: slack.optional("client_id").map(|client_id| SlackInstall {
                client_id,
                redirect_uri: slack.optional("redirect_uri"),
            }),
        };
        Ok((config, billing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_exactly_the_contracted_environment() {
        let names = dd0c_shared::secrets::contracted_env("api");
        let env = |n: &str| names.iter().any(|c| c == n).then(|| format!("v-{n}"));
        let read = ApiEnv::read(&env).expect("the contract is enough");
        assert_eq!(read.user_pool_id, "v-COGNITO_USER_POOL_ID");
        assert_eq!(read.dashboard_url, "v-DASHBOARD_URL");
        // Every variable the loader needs is in the contract: dropping any one is named.
        for missing in names
            .iter()
            .filter(|n| n.starts_with("COGNITO") || n.ends_with("_ARN"))
        {
            let env = |n: &str| (n != missing && names.iter().any(|c| c == n)).then(|| "x".into());
            assert_eq!(
                ApiEnv::read(&env),
                Err(SecretError::MissingEnv(missing.clone()))
            );
        }
    }

    #[test]
    fn secrets_fill_the_config() {
        let names = dd0c_shared::secrets::contracted_env("api");
        let env = |n: &str| names.iter().any(|c| c == n).then(|| format!("v-{n}"));
        let api_env = ApiEnv::read(&env).unwrap();
        let stripe = SecretJson::parse(
            "arn:stripe",
            r#"{"webhook_secret":"whsec","api_key":"sk_live_x","price_id":"price_1"}"#,
        )
        .unwrap();
        let slack = SecretJson::parse(
            "arn:slack",
            r#"{"signing_secret":"s","client_id":"123.456","client_secret":"c"}"#,
        )
        .unwrap();
        let policy = dd0c_shared::governance::Policy::system().unwrap();
        let (config, key) = api_env.config(&stripe, &slack, policy.clone()).unwrap();
        assert_eq!(key, Ok("sk_live_x".to_owned()));
        assert_eq!(config.stripe_price_id, "price_1");
        assert_eq!(config.app_url, "v-DASHBOARD_URL");
        assert_eq!(
            config.slack_install,
            Some(SlackInstall {
                client_id: "123.456".into(),
                redirect_uri: None
            })
        );
        let unset = SecretJson::parse("arn:slack", r#"{"client_id":"REPLACE_ME"}"#).unwrap();
        assert_eq!(
            api_env
                .config(&stripe, &unset, policy.clone())
                .unwrap()
                .0
                .slack_install,
            None
        );
        // Without Stripe the API still starts; billing says what to set.
        let placeholders = SecretJson::parse(
            "arn:stripe",
            r#"{"webhook_secret":"REPLACE_ME","api_key":"REPLACE_ME","price_id":"REPLACE_ME"}"#,
        )
        .unwrap();
        for stripe in [
            placeholders,
            SecretJson::parse("arn:stripe", r#"{"api_key":"sk"}"#).unwrap(),
        ] {
            let (config, billing) = api_env.config(&stripe, &slack, policy.clone()).unwrap();
            let missing = billing.unwrap_err();
            assert!(missing.contains("api_key and price_id"), "{missing}");
            assert!(missing.contains("v-STRIPE_SECRET_ARN"), "{missing}");
            assert_eq!(
                config.slack_install.map(|s| s.client_id),
                Some("123.456".into())
            );
        }
    }
}
