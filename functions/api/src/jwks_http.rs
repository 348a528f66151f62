//! The Cognito user pool's JWKS over HTTPS (cached by the verifier).

use async_trait::async_trait;
use dd0c_shared::auth::{AuthError, JwksSource};
use dd0c_shared::secrets::Lookup;
use jsonwebtoken::jwk::JwkSet;

pub struct HttpJwks {
    client: reqwest::Client,
    url: String,
}

impl HttpJwks {
    /// `{issuer}/.well-known/jwks.json`.
    pub fn for_issuer(issuer: &str) -> Self {
        Self::at(format!(
            "{}/.well-known/jwks.json",
            issuer.trim_end_matches('/')
        ))
    }

    pub fn at(url: String) -> Self {
        Self {
            client: dd0c_shared::http::client(std::time::Duration::from_secs(5)),
            url,
        }
    }

    /// The user pool's JWKS: at the issuer on AWS; where the SDK's endpoint override for
    /// Cognito points when one is set (`AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`, else
    /// `AWS_ENDPOINT_URL`), as in the local cloud, whose pool serves its keys at
    /// `{endpoint}/{pool}/.well-known/jwks.json` while its tokens name the real issuer.
    pub fn for_pool(issuer: &str, user_pool_id: &str, env: Lookup<'_>) -> Self {
        let endpoint = env("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .filter(|e| !e.is_empty());
        match endpoint {
            Some(e) => Self::at(format!(
                "{}/{user_pool_id}/.well-known/jwks.json",
                e.trim_end_matches('/')
            )),
            None => Self::for_issuer(issuer),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_issuer_unless_an_endpoint_override_is_set() {
        let issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool";
        let none = |_: &str| None;
        assert_eq!(
            HttpJwks::for_pool(issuer, "us-east-1_Pool", &none).url(),
            format!("{issuer}/.well-known/jwks.json")
        );
        let local =
            |n: &str| (n == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:5000/".to_owned());
        assert_eq!(
            HttpJwks::for_pool(issuer, "us-east-1_Pool", &local).url(),
            "http://127.0.0.1:5000/us-east-1_Pool/.well-known/jwks.json"
        );
    }
}
