//! The dashboard/onboarding/billing REST API (`/v1/...`). One [`Api`] handler serves every
//! route of [`routes::ROUTES`] on Lambda and in `dd0c serve`; it sees ports only (table,
//! clock, accounts, token verifier, Stripe).

pub mod billing;
pub mod error;
pub mod function_env;
pub mod handlers;
pub mod model;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod zombie_scan;

pub mod jwks_http;

use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::accounts::Accounts;
use dd0c_shared::auth::{self, api_keys, AuthMethod, JwtVerifier, Principal};
use dd0c_shared::bus::Bus;
use dd0c_shared::clock::SharedClock;
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::store::Table;

use billing::StripeApi;
use dd0c_shared::governance::Policy;
use error::ApiError;
use routes::{match_route, Matched, Route};

/// Deployment settings the handlers need (from the environment on Lambda).
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// HTTPS URL of `cloudformation/dd0c-readonly.yaml` as published.
    pub template_url: String,
    pub dd0c_account_id: String,
    /// dd0c's region: the event bus the customer's rule forwards to, and the console region.
    pub region: String,
    pub stack_name: String,
    /// The Stripe per-account price.
    pub stripe_price_id: String,
    /// The dashboard's base URL (Checkout and portal return there).
    pub app_url: String,
    /// The system governance policy (`policy.json`): overrides may only be stricter.
    pub system_policy: Policy,
    /// The Slack app's public OAuth settings, when configured: `GET
    /// /v1/settings/slack/install-url` hands out install links bound to the caller's tenant.
    pub slack_install: Option<SlackInstall>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlackInstall {
    pub client_id: String,
    /// `None`: the URL the request reached + `/v1/slack/oauth_redirect`.
    pub redirect_uri: Option<String>,
}

impl ApiConfig {
    /// Settings for the embedded mode (`dd0c serve`).
    pub fn local() -> Self {
        ApiConfig {
            template_url: "https://dd0c-public.s3.amazonaws.com/dd0c-readonly.yaml".into(),
            dd0c_account_id: "000000000000".into(),
            region: "us-east-1".into(),
            stack_name: "dd0c-readonly".into(),
            stripe_price_id: "price_local_per_account".into(),
            app_url: "http://127.0.0.1:8787".into(),
            // The embedded policy.json is validated by its own tests; fall back to the
            // strictest reading rather than panic if it were ever broken.
            system_policy: Policy::system().unwrap_or_else(|_| strictest_policy()),
            slack_install: None,
        }
    }
}

fn strictest_policy() -> Policy {
    use dd0c_shared::domain::Severity;
    use dd0c_shared::governance::{GovernanceMode, ImmediateSeverity, RemediationMode};
    Policy {
        governance_mode: GovernanceMode::Strict,
        panic_mode: false,
        new_account_strict_days: 14,
        immediate_severity: ImmediateSeverity {
            cost_anomaly: Severity::Critical,
            drift: Severity::Critical,
        },
        remediation: RemediationMode::Off,
    }
}

pub struct Api {
    pub(crate) table: Arc<dyn Table>,
    pub(crate) clock: SharedClock,
    pub(crate) accounts: Arc<dyn Accounts>,
    pub(crate) verifier: Arc<JwtVerifier>,
    pub(crate) stripe: Arc<dyn StripeApi>,
    pub(crate) config: ApiConfig,
    /// Where the backfill of a newly connected account is started (`None`: not started, as
    /// in `dd0c serve`, which has no customer accounts to read).
    pub(crate) bus: Option<Arc<dyn Bus>>,
}

impl Api {
    pub fn new(
        table: Arc<dyn Table>,
        clock: SharedClock,
        accounts: Arc<dyn Accounts>,
        verifier: Arc<JwtVerifier>,
        stripe: Arc<dyn StripeApi>,
        config: ApiConfig,
    ) -> Self {
        Self {
            table,
            clock,
            accounts,
            verifier,
            stripe,
            config,
            bus: None,
        }
    }

    /// Starts the backfill of every newly connected account through `bus`.
    pub fn with_bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }

    /// The embedded mode: tokens of [`dd0c_shared::auth::local`] (env secret or demo default),
    /// a fake Stripe, [`ApiConfig::local`].
    pub fn local(table: Arc<dyn Table>, clock: SharedClock, accounts: Arc<dyn Accounts>) -> Self {
        let verifier = Arc::new(auth::local::verifier_with(
            &auth::local::secret(),
            clock.clone(),
        ));
        Self::new(
            table,
            clock,
            accounts,
            verifier,
            Arc::new(billing::FakeStripe::default()),
            ApiConfig::local(),
        )
    }

    /// Enables `GET /v1/settings/slack/install-url` (`dd0c serve` with a Slack app set).
    pub fn with_slack_install(mut self, install: SlackInstall) -> Self {
        self.config.slack_install = Some(install);
        self
    }

    async fn authenticate(
        &self,
        route: &Route,
        request: &HttpRequest,
    ) -> Result<Principal, ApiError> {
        let unauthorized = |detail: String| {
            let mut e = ApiError::new(401, "Unauthorized", detail);
            e.code = Some("unauthorized");
            e
        };
        let presented = request.header("x-api-key").map(str::to_owned).or_else(|| {
            auth::bearer(request.header("authorization"))
                .ok()
                .map(str::to_owned)
        });
        let Some(token) = presented else {
            return Err(unauthorized(auth::AuthError::Missing.to_string()));
        };
        if token.starts_with(api_keys::PREFIX) {
            let Some((tenant_id, key_id)) =
                api_keys::authenticate(self.table.as_ref(), &token).await?
            else {
                return Err(unauthorized("the API key is not valid".into()));
            };
            if !route.api_key {
                return Err(ApiError::forbidden(
                    "API keys cannot call this route; sign in to the dashboard",
                )
                .with_code("user_token_required"));
            }
            return Ok(Principal {
                tenant_id,
                user: format!("api-key:{key_id}"),
                subject: key_id,
                method: AuthMethod::ApiKey,
            });
        }
        let identity = self.verifier.verify(&token).await.map_err(|e| {
            if let auth::AuthError::KeysUnavailable(_) = e {
                tracing::error!(error = %e, "JWKS unavailable");
                ApiError::new(
                    503,
                    "Service unavailable",
                    "the sign-in keys could not be fetched; try again",
                )
            } else {
                unauthorized(e.to_string())
            }
        })?;
        let tenant_id = match identity.tenant {
            Some(tenant) => tenant,
            None => {
                dd0c_shared::tenancy::tenant_of_user(
                    self.table.as_ref(),
                    &identity.subject,
                    self.clock.now(),
                )
                .await?
            }
        };
        Ok(Principal {
            tenant_id,
            user: identity.user,
            subject: identity.subject,
            method: AuthMethod::Jwt,
        })
    }

    async fn route(&self, request: HttpRequest) -> Result<HttpResponse, ApiError> {
        let (route, params) = match match_route(&request.method, &request.path) {
            Matched::Route(route, params) => (route, params),
            Matched::MethodNotAllowed(allowed) => {
                let e = ApiError::new(
                    405,
                    "Method not allowed",
                    format!(
                        "{} is not allowed here; use {}",
                        request.method,
                        allowed.join(", ")
                    ),
                );
                return Ok(e.into_response().with_header("allow", &allowed.join(", ")));
            }
            Matched::NotFound => {
                return Err(ApiError::not_found(format!("no route {}", request.path)))
            }
        };
        if route.id == routes::RouteId::OpenApi {
            return Ok(HttpResponse::json(200, &openapi::document()));
        }
        let principal = self.authenticate(&route, &request).await?;
        let ctx = handlers::Ctx {
            api: self,
            principal: &principal,
            request: &request,
            params: &params,
        };
        handlers::dispatch(route.id, ctx).await
    }
}

#[async_trait]
impl HttpHandler for Api {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        match self.route(request).await {
            Ok(response) => response,
            Err(e) if e.status == 401 => {
                e.into_response().with_header("www-authenticate", "Bearer")
            }
            Err(e) => e.into_response(),
        }
    }
}
