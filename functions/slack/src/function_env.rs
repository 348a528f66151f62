//! What the slack Lambda reads at cold start: its variables (the contract in
//! `shared/function-env.json`) and the Slack app's credentials from `SLACK_SECRET_ARN`.

use dd0c_shared::secrets::{require, Lookup, SecretError, SecretJson};

use crate::app::SlackSecrets;
use crate::oauth::OAuthConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct SlackEnv {
    /// JSON: `signing_secret`, `client_id`, `client_secret`, optionally `redirect_uri`.
    pub secret_arn: String,
    /// The KMS key sealing bot tokens.
    pub token_key_id: String,
}

impl SlackEnv {
    pub fn read(env: Lookup<'_>) -> Result<Self, SecretError> {
        Ok(Self {
            secret_arn: require(env, "SLACK_SECRET_ARN")?,
            token_key_id: require(env, dd0c_shared::crypto::TOKEN_KMS_KEY_ENV)?,
        })
    }
}

/// The signing secret (required: without it no request verifies) and, when the app's client
/// id and secret are set, the OAuth install.
pub fn slack_credentials(
    secret: &SecretJson,
) -> Result<(SlackSecrets, Option<OAuthConfig>), SecretError> {
    let signing = SlackSecrets {
        signing_secret: secret.get("signing_secret")?,
    };
    let oauth = match (
        secret.optional("client_id"),
        secret.optional("client_secret"),
    ) {
        (Some(client_id), Some(client_secret)) => Some(OAuthConfig {
            client_id,
            client_secret,
            redirect_uri: secret.optional("redirect_uri").unwrap_or_default(),
        }),
        _ => None,
    };
    Ok((signing, oauth))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables `shared/function-env.json` promises the slack function.
    #[test]
    fn starts_with_exactly_the_contracted_environment() {
        let names = dd0c_shared::secrets::contracted_env("slack");
        let env = |n: &str| {
            names
                .iter()
                .any(|c| c == n)
                .then(|| format!("value-of-{n}"))
        };
        let read = SlackEnv::read(&env).expect("the contract is enough");
        assert_eq!(read.secret_arn, "value-of-SLACK_SECRET_ARN");
        for missing in ["SLACK_SECRET_ARN", "SLACK_TOKEN_KMS_KEY_ID"] {
            let env = |n: &str| (n != missing && names.iter().any(|c| c == n)).then(|| "x".into());
            assert_eq!(
                SlackEnv::read(&env),
                Err(SecretError::MissingEnv(missing.into()))
            );
        }
    }

    #[test]
    fn the_secret_gives_signing_and_optional_oauth() {
        let s = SecretJson::parse(
            "arn:slack",
            r#"{"signing_secret":"sig","client_id":"1.2","client_secret":"shh"}"#,
        )
        .unwrap();
        let (signing, oauth) = slack_credentials(&s).unwrap();
        assert_eq!(signing.signing_secret, "sig");
        let oauth = oauth.expect("oauth");
        assert_eq!(
            (oauth.client_id.as_str(), oauth.redirect_uri.as_str()),
            ("1.2", "")
        );
        // The stack's placeholders: no install until the operator puts the app's values.
        let s = SecretJson::parse(
            "arn:slack",
            r#"{"signing_secret":"sig","client_id":"REPLACE_ME","client_secret":"REPLACE_ME"}"#,
        )
        .unwrap();
        assert!(slack_credentials(&s).unwrap().1.is_none());
        let s = SecretJson::parse("arn:slack", r#"{"signing_secret":"REPLACE_ME"}"#).unwrap();
        assert!(matches!(
            slack_credentials(&s),
            Err(SecretError::Placeholder { .. })
        ));
    }
}
