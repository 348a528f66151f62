//! The embedded mode's token issuer: `dd0c token` prints a token from [`issue`], `dd0c serve`
//! verifies it with [`verifier`]. Same claims as a Cognito ID token; HS256 with a local
//! secret (`DD0C_LOCAL_JWT_SECRET`, with a documented demo default) so that the two
//! processes agree without a key file.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{EncodingKey, Header};

use super::jwt::{valid_tenant_id, Claims, JwtVerifier};
use super::AuthError;
use crate::clock::{SharedClock, SystemClock};

pub const ISSUER: &str = "dd0c-local";
pub const CLIENT_ID: &str = "dd0c-local";
pub const SECRET_ENV: &str = "DD0C_LOCAL_JWT_SECRET";
/// Demo default: the embedded mode serves 127.0.0.1 only.
pub const DEMO_SECRET: &str = "dd0c-local-demo-signing-key-not-for-production";
pub const DEMO_TENANT: &str = "demo";
pub const DEMO_USER: &str = "demo@dd0c.local";

/// The local secret: `DD0C_LOCAL_JWT_SECRET` or the demo default.
pub fn secret() -> Vec<u8> {
    std::env::var(SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEMO_SECRET.to_owned())
        .into_bytes()
}

/// Issues a token for `tenant`/`user` valid `ttl_seconds` from now, with the local secret.
pub fn issue(tenant: &str, user: &str, ttl_seconds: u64) -> Result<String, AuthError> {
    issue_with(&secret(), Utc::now(), tenant, user, ttl_seconds)
}

/// [`issue`] with an explicit secret and time (tests, replays).
pub fn issue_with(
    secret: &[u8],
    now: DateTime<Utc>,
    tenant: &str,
    user: &str,
    ttl_seconds: u64,
) -> Result<String, AuthError> {
    if !valid_tenant_id(tenant) {
        return Err(AuthError::NoTenant);
    }
    let ttl =
        i64::try_from(ttl_seconds).map_err(|_| AuthError::Malformed("ttl too large".into()))?;
    let claims = Claims {
        sub: format!("local-{user}"),
        iss: ISSUER.into(),
        aud: CLIENT_ID.into(),
        iat: now.timestamp(),
        exp: now.timestamp().saturating_add(ttl),
        token_use: "id".into(),
        tenant_id: Some(tenant.to_owned()),
        email: Some(user.to_owned()),
        // dd0c signs these itself for a user it names: nothing unverified to guard against.
        email_verified: true,
    };
    jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| AuthError::Malformed(e.to_string()))
}

/// The verifier `dd0c serve` uses, with the local secret and the system clock.
pub fn verifier() -> JwtVerifier {
    verifier_with(&secret(), Arc::new(SystemClock))
}

pub fn verifier_with(secret: &[u8], clock: SharedClock) -> JwtVerifier {
    JwtVerifier::hs256(ISSUER, CLIENT_ID, secret, clock)
}
