//! Who is calling: Cognito ID tokens (RS256, verified against the user pool's JWKS), tokens
//! of the embedded mode's local issuer (HS256, same claims), and API keys for agents.
//!
//! The tenant never comes from the request nor from anything a user can write: a Cognito user's
//! tenant is looked up by the token's immutable `sub` (created at the first sign-in), a local
//! token's from the claim dd0c signed itself, an API key's from its stored hash
//! (docs/decisions/0610-tenant-from-subject.md).

pub mod api_keys;
pub mod jwt;
pub mod local;

pub use jwt::{Claims, Identity, JwksSource, JwtVerifier, StaticJwks};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: String,
    /// The user's verified email, else its `sub`; the key id for API keys.
    pub user: String,
    pub subject: String,
    pub method: AuthMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Jwt,
    ApiKey,
}

/// Why a credential was refused. The API answers 401 with this text; it never says more
/// than a client can act on (no key material, no expected values).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token in the Authorization header")]
    Missing,
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token was signed with a key this service does not know")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token was issued for another client")]
    WrongAudience,
    #[error("the token is not an ID token (token_use must be \"id\")")]
    WrongTokenUse,
    #[error("the token carries no tenant (custom:tenant_id)")]
    NoTenant,
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

/// The bearer token of an `Authorization: Bearer …` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token.trim())
}
