//! What a Lambda reads at cold start besides its adapters: environment variables (the names
//! are a contract with the CDK stack, listed in `shared/function-env.json`) and JSON secrets
//! from Secrets Manager, through the Parameters and Secrets Lambda Extension
//! (`GET http://localhost:2773/secretsmanager/get?secretId=<ARN>` with the session token), which
//! caches them so a cold start costs no Secrets Manager call most of the time.

use serde_json::{Map, Value};

/// `shared/function-env.json`: the variables the CDK stack sets for each function.
pub const FUNCTION_ENV_JSON: &str = include_str!("../function-env.json");

/// The variables `function` is promised (its own and the common ones), for the loaders' tests.
pub fn contracted_env(function: &str) -> Vec<String> {
    let file: Value = serde_json::from_str(FUNCTION_ENV_JSON).unwrap_or_default();
    file["functions"][function]
        .as_array()
        .into_iter()
        .chain(file["common"].as_array())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The value the CDK stack writes into each secret until the operator puts the real one.
pub const PLACEHOLDER: &str = "REPLACE_ME";

/// The extension's port variable and its default.
pub const EXTENSION_PORT_ENV: &str = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT";
const DEFAULT_EXTENSION_PORT: &str = "2773";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
    #[error("secret {secret}: the secrets extension is unreachable: {reason}")]
    Unreachable { secret: String, reason: String },
    #[error("secret {secret}: the secrets extension answered HTTP {status}: {body}")]
    Refused {
        secret: String,
        status: u16,
        body: String,
    },
    #[error("secret {secret} is not a JSON object of strings")]
    NotJson { secret: String },
    #[error("secret {secret} has no {key:?} (see docs/deploy.md for the keys)")]
    MissingKey { secret: String, key: String },
    #[error("secret {secret}: {key:?} is still the placeholder {PLACEHOLDER}; put the real value (docs/deploy.md)")]
    Placeholder { secret: String, key: String },
}

/// A variable by name, or `None`: `std::env::var` on Lambda, a map in tests.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable that must be set (and not empty).
pub fn require(env: Lookup<'_>, name: &str) -> Result<String, SecretError> {
    env(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SecretError::MissingEnv(name.to_owned()))
}

/// A JSON secret's string values.
#[derive(Debug, Clone)]
pub struct SecretJson {
    id: String,
    values: Map<String, Value>,
}

impl SecretJson {
    /// From a `SecretString` (the secret's id names it in errors).
    pub fn parse(id: &str, secret_string: &str) -> Result<Self, SecretError> {
        match serde_json::from_str(secret_string) {
            Ok(Value::Object(values)) => Ok(Self {
                id: id.to_owned(),
                values,
            }),
            _ => Err(SecretError::NotJson { secret: id.into() }),
        }
    }

    /// A key that must be set to a real value.
    pub fn get(&self, key: &str) -> Result<String, SecretError> {
        let missing = || SecretError::MissingKey {
            secret: self.id.clone(),
            key: key.into(),
        };
        let value = self.values.get(key).ok_or_else(missing)?;
        let value = value
            .as_str()
            .filter(|v| !v.is_empty())
            .ok_or_else(missing)?;
        if value == PLACEHOLDER {
            return Err(SecretError::Placeholder {
                secret: self.id.clone(),
                key: key.into(),
            });
        }
        Ok(value.to_owned())
    }

    /// A key that may be absent (absent, empty or the placeholder: `None`).
    pub fn optional(&self, key: &str) -> Option<String> {
        self.get(key).ok()
    }
}

/// The Parameters and Secrets Lambda Extension's local HTTP endpoint.
pub struct SecretsExtension {
    http: reqwest::Client,
    base_url: String,
    session_token: String,
}

impl SecretsExtension {
    pub fn new(base_url: impl Into<String>, session_token: impl Into<String>) -> Self {
        Self {
            // The extension is local to the Lambda sandbox: seconds mean it is stuck.
            http: crate::http::client(std::time::Duration::from_secs(5)),
            base_url: base_url.into(),
            session_token: session_token.into(),
        }
    }

    /// On Lambda: `localhost` on the extension's port, authenticated with the function's
    /// session token.
    pub fn from_env(env: Lookup<'_>) -> Result<Self, SecretError> {
        let port = env(EXTENSION_PORT_ENV)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_EXTENSION_PORT.into());
        Ok(Self::new(
            format!("http://localhost:{port}"),
            require(env, "AWS_SESSION_TOKEN")?,
        ))
    }

    /// Fetches and parses a JSON secret.
    pub async fn json(&self, secret_id: &str) -> Result<SecretJson, SecretError> {
        let unreachable = |e: reqwest::Error| SecretError::Unreachable {
            secret: secret_id.into(),
            reason: e.to_string(),
        };
        let response = self
            .http
            .get(format!("{}/secretsmanager/get", self.base_url))
            .query(&[("secretId", secret_id)])
            .header("X-Aws-Parameters-Secrets-Token", &self.session_token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(unreachable)?;
        if status != 200 {
            return Err(SecretError::Refused {
                secret: secret_id.into(),
                status,
                body: body.chars().take(200).collect(),
            });
        }
        // The extension answers GetSecretValue's JSON: the value is in `SecretString`.
        let answer: Value = serde_json::from_str(&body).map_err(|_| SecretError::NotJson {
            secret: secret_id.into(),
        })?;
        let secret_string =
            answer["SecretString"]
                .as_str()
                .ok_or_else(|| SecretError::NotJson {
                    secret: secret_id.into(),
                })?;
        SecretJson::parse(secret_id, secret_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_required_and_placeholders_refused() {
        let s = SecretJson::parse(
            "arn:slack",
            r#"{"signing_secret":"abc","client_id":"REPLACE_ME","client_secret":""}"#,
        )
        .unwrap();
        assert_eq!(s.get("signing_secret").unwrap(), "abc");
        assert_eq!(
            s.get("client_id"),
            Err(SecretError::Placeholder {
                secret: "arn:slack".into(),
                key: "client_id".into()
            })
        );
        assert!(matches!(
            s.get("client_secret"),
            Err(SecretError::MissingKey { .. })
        ));
        assert!(matches!(s.get("nope"), Err(SecretError::MissingKey { .. })));
        assert_eq!(s.optional("client_id"), None);
        assert!(matches!(
            SecretJson::parse("arn:x", "[1]"),
            Err(SecretError::NotJson { .. })
        ));
        let err = s.get("client_id").unwrap_err().to_string();
        assert!(
            err.contains("client_id") && err.contains("REPLACE_ME"),
            "{err}"
        );
    }

    #[test]
    fn the_contract_file_parses_and_lists_every_function() {
        for f in [
            "ingest",
            "normalizer",
            "scorer",
            "classifier",
            "notifier",
            "digest",
            "slack",
            "stripe",
            "api",
        ] {
            let names = contracted_env(f);
            assert!(names.iter().any(|n| n == "TABLE_NAME"), "{f}: {names:?}");
        }
        assert!(contracted_env("api")
            .iter()
            .any(|n| n == "COGNITO_USER_POOL_ID"));
    }

    #[test]
    fn required_variables_are_named() {
        let env = |n: &str| (n == "SET").then(|| "v".to_owned());
        assert_eq!(require(&env, "SET").unwrap(), "v");
        assert_eq!(
            require(&env, "UNSET"),
            Err(SecretError::MissingEnv("UNSET".into()))
        );
        assert!(matches!(
            SecretsExtension::from_env(&env),
            Err(SecretError::MissingEnv(n)) if n == "AWS_SESSION_TOKEN"
        ));
    }

    /// The extension's protocol against a local stand-in: the token header is sent, the
    /// secret id is a query parameter, `SecretString` is parsed.
    #[tokio::test]
    async fn reads_a_secret_through_the_extension_protocol() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut requests = Vec::new();
            for answer in [
                (
                    200,
                    r#"{"Name":"s","SecretString":"{\"webhook_secret\":\"whsec_1\"}"}"#,
                ),
                (400, "not authorized"),
            ] {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap();
                requests.push(String::from_utf8_lossy(&buf[..n]).to_string());
                let reply = format!(
                    "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    answer.0,
                    answer.1.len(),
                    answer.1
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
            requests
        });
        let env = move |n: &str| match n {
            "AWS_SESSION_TOKEN" => Some("session-token".to_owned()),
            EXTENSION_PORT_ENV => Some(port.to_string()),
            _ => None,
        };
        let ext = SecretsExtension::from_env(&env).unwrap();
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:dd0c/stripe";
        let secret = ext.json(arn).await.unwrap();
        assert_eq!(secret.get("webhook_secret").unwrap(), "whsec_1");
        match ext.json(arn).await {
            Err(SecretError::Refused { status: 400, .. }) => {}
            other => panic!("expected a refusal, got {other:?}"),
        }
        let requests = server.await.unwrap();
        let first = requests[0].to_ascii_lowercase();
        assert!(
            first.starts_with("get /secretsmanager/get?secretid=arn%3aaws%3asecretsmanager"),
            "{first}"
        );
        assert!(first.contains("x-aws-parameters-secrets-token: session-token"));
    }
}
