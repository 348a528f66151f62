//! JWT verification: Cognito ID tokens against the pool's JWKS (cached), or the local
//! issuer's HMAC key. The algorithm is pinned by the key material, so an HS256 token is never
//! accepted where RS256 keys are configured (and the other way round).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::AuthError;
use crate::clock::SharedClock;

/// The claims dd0c reads. Cognito ID tokens carry more; unknown claims are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    /// The app client id (ID tokens).
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub token_use: String,
    #[serde(
        rename = "custom:tenant_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the identity provider checked that the user owns `email`. Cognito sends a
    /// boolean; the string `"true"` (as some providers send it) is accepted too, anything
    /// else counts as unverified.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub email_verified: bool,
}

impl Claims {
    /// Who the audit trail names: the email only when it is verified (an unverified email is
    /// whatever the user typed, e.g. someone else's address), else the immutable `sub`.
    pub fn audit_user(&self) -> String {
        match &self.email {
            Some(email) if self.email_verified => email.clone(),
            _ => self.sub.clone(),
        }
    }
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s == "true",
        _ => false,
    })
}

/// Who a verified token names. `tenant` is set only for tokens dd0c signed itself (the local
/// issuer); a Cognito token's attributes are writable by its user, so they never choose a tenant:
/// the caller maps the immutable `subject` to one (`tenancy::tenant_of_user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// The user's verified email, else its `sub`.
    pub user: String,
    pub tenant: Option<String>,
}

/// Where the JWKS comes from (HTTPS to Cognito in production, a fixed set in tests).
#[async_trait]
pub trait JwksSource: Send + Sync {
    async fn fetch(&self) -> Result<JwkSet, AuthError>;
}

/// A fixed key set.
pub struct StaticJwks(pub JwkSet);

#[async_trait]
impl JwksSource for StaticJwks {
    async fn fetch(&self) -> Result<JwkSet, AuthError> {
        Ok(self.0.clone())
    }
}

/// The Cognito user pool's issuer URL, e.g. `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc`.
pub fn cognito_issuer(region: &str, user_pool_id: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
}

/// Keys are cached this long; an unknown `kid` refetches sooner (key rotation), at most
/// once per [`REFRESH_FLOOR`] so a flood of forged kids cannot hammer Cognito.
const CACHE_TTL: i64 = 3600;
const REFRESH_FLOOR: i64 = 60;

struct Cached {
    keys: JwkSet,
    fetched_at: DateTime<Utc>,
}

enum KeyMaterial {
    Jwks {
        source: Arc<dyn JwksSource>,
        cache: RwLock<Option<Cached>>,
    },
    Hmac(Vec<u8>),
}

pub struct JwtVerifier {
    issuer: String,
    client_id: String,
    keys: KeyMaterial,
    clock: SharedClock,
    /// Clock skew allowed on `exp`, in seconds.
    leeway: i64,
}

impl JwtVerifier {
    /// Production: RS256 tokens of `issuer` for `client_id`, keys from the JWKS source.
    pub fn rs256(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        source: Arc<dyn JwksSource>,
        clock: SharedClock,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            keys: KeyMaterial::Jwks {
                source,
                cache: RwLock::new(None),
            },
            clock,
            leeway: 30,
        }
    }

    /// The embedded mode: HS256 tokens from [`super::local`].
    pub fn hs256(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        secret: &[u8],
        clock: SharedClock,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            client_id: client_id.into(),
            keys: KeyMaterial::Hmac(secret.to_vec()),
            clock,
            leeway: 30,
        }
    }

    /// Verifies the signature, then `exp`, `iss`, `aud` (client id) and `token_use`; for the
    /// local issuer's tokens also the tenant claim.
    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        let (key, algorithm) = match &self.keys {
            KeyMaterial::Hmac(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            KeyMaterial::Jwks { source, cache } => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| AuthError::Malformed("the header has no kid".into()))?;
                (self.jwks_key(source, cache, kid).await?, Algorithm::RS256)
            }
        };
        if header.alg != algorithm {
            return Err(AuthError::BadSignature);
        }
        let mut validation = Validation::new(algorithm);
        // Claims are checked below against the injected clock, with errors of our own.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => AuthError::BadSignature,
            _ => AuthError::Malformed(e.to_string()),
        })?;
        let claims = data.claims;
        if claims.exp + self.leeway <= self.clock.now().timestamp() {
            return Err(AuthError::Expired);
        }
        if claims.iss != self.issuer {
            return Err(AuthError::WrongIssuer);
        }
        if claims.aud != self.client_id {
            return Err(AuthError::WrongAudience);
        }
        if claims.token_use != "id" {
            return Err(AuthError::WrongTokenUse);
        }
        let user = claims.audit_user();
        let tenant = match self.keys {
            KeyMaterial::Hmac(_) => Some(
                claims
                    .tenant_id
                    .filter(|t| valid_tenant_id(t))
                    .ok_or(AuthError::NoTenant)?,
            ),
            KeyMaterial::Jwks { .. } => None,
        };
        Ok(Identity {
            user,
            subject: claims.sub,
            tenant,
        })
    }

    async fn jwks_key(
        &self,
        source: &Arc<dyn JwksSource>,
        cache: &RwLock<Option<Cached>>,
        kid: &str,
    ) -> Result<DecodingKey, AuthError> {
        let now = self.clock.now();
        {
            let cached = cache.read().await;
            if let Some(c) = cached.as_ref() {
                let fresh = now - c.fetched_at < Duration::seconds(CACHE_TTL);
                if let Some(jwk) = c.keys.find(kid) {
                    if fresh {
                        return DecodingKey::from_jwk(jwk).map_err(|_| AuthError::UnknownKey);
                    }
                } else if now - c.fetched_at < Duration::seconds(REFRESH_FLOOR) {
                    return Err(AuthError::UnknownKey);
                }
            }
        }
        let keys = source.fetch().await?;
        let jwk = keys.find(kid).cloned();
        *cache.write().await = Some(Cached {
            keys,
            fetched_at: now,
        });
        let jwk = jwk.ok_or(AuthError::UnknownKey)?;
        DecodingKey::from_jwk(&jwk).map_err(|_| AuthError::UnknownKey)
    }
}

/// Tenant ids are used inside table keys: a restricted alphabet keeps `#` out.
pub fn valid_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use chrono::TimeZone;

    async fn user_of(extra: serde_json::Value) -> String {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let verifier = JwtVerifier::hs256("iss", "aud", b"k", Arc::new(ManualClock::new(now)));
        let mut claims = serde_json::json!({
            "sub": "0f1e2d3c", "iss": "iss", "aud": "aud", "token_use": "id",
            "iat": now.timestamp(), "exp": now.timestamp() + 60, "custom:tenant_id": "t1",
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        verifier.verify(&token).await.unwrap().user
    }

    #[tokio::test]
    async fn the_email_names_the_user_only_when_verified() {
        let email = "ceo@victim.example";
        assert_eq!(
            user_of(serde_json::json!({"email": email, "email_verified": true})).await,
            email
        );
        // The string form some providers send.
        assert_eq!(
            user_of(serde_json::json!({"email": email, "email_verified": "true"})).await,
            email
        );
        for unverified in [
            serde_json::json!({"email": email}),
            serde_json::json!({"email": email, "email_verified": false}),
            serde_json::json!({"email": email, "email_verified": "false"}),
        ] {
            assert_eq!(
                user_of(unverified.clone()).await,
                "0f1e2d3c",
                "{unverified}"
            );
        }
    }
}
