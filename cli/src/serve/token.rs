//! Bearer tokens the local server accepts: `dd0c token` for scripts and `GET /local/token` for
//! the dashboard (local issuer, same claims as a Cognito ID token).

use dd0c_shared::auth;
use dd0c_shared::http::HttpResponse;
use serde_json::json;

use crate::pipeline::LOCAL_TENANT;

/// How long `GET /local/token` tokens live (a working day of clicking around the dashboard).
pub const LOCAL_TOKEN_TTL_SECONDS: u64 = 8 * 3600;
/// `dd0c token`'s default lifetime.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 3600;
/// The longest token `dd0c token` issues.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 30 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOptions {
    pub tenant: String,
    pub user: String,
    pub ttl_seconds: u64,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            tenant: LOCAL_TENANT.to_owned(),
            user: auth::local::DEMO_USER.to_owned(),
            ttl_seconds: DEFAULT_TOKEN_TTL_SECONDS,
        }
    }
}

/// `dd0c token`: a bearer token `dd0c serve` accepts.
pub fn token(options: &TokenOptions) -> anyhow::Result<String> {
    auth::local::issue(&options.tenant, &options.user, options.ttl_seconds)
        .map_err(|e| anyhow::anyhow!("could not issue a token: {e}"))
}

/// `GET /local/token`: the dashboard's sign-in, as the local tenant's demo user.
pub fn local_token_response() -> HttpResponse {
    match auth::local::issue(
        LOCAL_TENANT,
        auth::local::DEMO_USER,
        LOCAL_TOKEN_TTL_SECONDS,
    ) {
        Ok(token) => HttpResponse::json(
            200,
            &json!({
                "token": token,
                "tenant_id": LOCAL_TENANT,
                "user": auth::local::DEMO_USER,
                "expires_in": LOCAL_TOKEN_TTL_SECONDS,
            }),
        )
        .with_header("cache-control", "no-store"),
        Err(e) => HttpResponse::problem(
            500,
            "Internal error",
            &format!("could not issue a local token: {e}"),
            None,
        ),
    }
}
