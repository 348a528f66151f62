//! The Cognito user pool's JWKS over HTTPS (cached by the verifier).

use async_trait::async_trait;
use dd0c_shared::auth::{AuthError, JwksSource};
use jsonwebtoken::jwk::JwkSet;

pub struct HttpJwks {
    client: reqwest::Client,
    url: String,
}

impl HttpJwks {
    /// `{issuer}/.well-known/jwks.json`.
    pub fn for_issuer(issuer: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            url: format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/')),
        }
    }
}

#[async_trait]
impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(AuthError::KeysUnavailable(format!(
                "{} answered {}",
                self.url,
                response.status()
            )));
        }
        response
            .json::<JwkSet>()
            .await
            .map_err(|e| AuthError::KeysUnavailable(e.to_string()))
    }
}
