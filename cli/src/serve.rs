//! `dd0c serve` and `dd0c token`: the embedded pipeline behind a local HTTP server on
//! 127.0.0.1 that exposes every route API Gateway exposes in production, through the same
//! [`HttpHandler`]s, plus the static dashboard. See `../shared/CONTRACTS.md`.
//!
//! Local-only pieces (`/config.json` saying `local: true`, `GET /local/token`) exist here and
//! nowhere else: production serves the dashboard from S3 with a generated `config.json` and
//! signs users in through Cognito.

pub mod assets;
pub mod chat;
pub mod http;

use dd0c_shared::governance::Policy;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::Utc;
use dd0c_api::Api;
use dd0c_ingest::drift_reports::DriftReports;
use dd0c_shared::accounts::fake::ScriptedAccounts;
use dd0c_shared::auth;
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::crypto::LocalKeyProvider;
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_slack::deferred::{run_local, ChannelDeferrer, HttpPoster};
use dd0c_slack::{OAuthConfig, SlackApp, SlackOAuth, SlackSecrets};
use dd0c_stripe::StripeWebhook;
use serde_json::json;

use crate::pipeline::{EmbeddedPipeline, PipelineOptions, LOCAL_TENANT};

pub const DEFAULT_PORT: u16 = 8787;
/// Request bodies above this are refused with 413 (API Gateway's own limit is 10 MB; nothing
/// dd0c accepts comes close to 1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long `GET /local/token` tokens live (a working day of clicking around the dashboard).
pub const LOCAL_TOKEN_TTL_SECONDS: u64 = 8 * 3600;
/// `dd0c token`'s default lifetime.
pub const DEFAULT_TOKEN_TTL_SECONDS: u64 = 3600;
/// The longest token `dd0c token` issues.
pub const MAX_TOKEN_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// Demo defaults of the webhook secrets. Only `dd0c serve` reads them, on 127.0.0.1; the
/// Lambdas read theirs from Secrets Manager and have no default.
pub const DEMO_SLACK_SIGNING_SECRET: &str = "dd0c-local-demo-slack-signing-secret";
pub const DEMO_STRIPE_WEBHOOK_SECRET: &str = dd0c_stripe::DEMO_SECRET;
/// Where Slack sends the browser back after a local install (register it in the Slack app).
pub const LOCAL_SLACK_REDIRECT_URI: &str = "http://127.0.0.1:8787/v1/slack/oauth_redirect";

/// The secrets of the local mode, from the environment or the documented demo defaults.
#[derive(Clone)]
pub struct LocalSecrets {
    pub slack_signing_secret: String,
    pub stripe_webhook_secret: String,
    pub slack_webhook_url: Option<String>,
    /// `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET` (with `SLACK_REDIRECT_URI`, default the
    /// local server's redirect route): enables the OAuth install routes locally.
    pub slack_oauth: Option<OAuthConfig>,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets; say only where they came from.
        f.debug_struct("LocalSecrets")
            .field(
                "slack_signing_secret_is_demo",
                &(self.slack_signing_secret == DEMO_SLACK_SIGNING_SECRET),
            )
            .field(
                "stripe_webhook_secret_is_demo",
                &(self.stripe_webhook_secret == DEMO_STRIPE_WEBHOOK_SECRET),
            )
            .field("slack_webhook_url", &self.slack_webhook_url.is_some())
            .field("slack_oauth", &self.slack_oauth.is_some())
            .finish()
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl LocalSecrets {
    pub fn from_env() -> Self {
        LocalSecrets {
            slack_signing_secret: env_or("SLACK_SIGNING_SECRET", DEMO_SLACK_SIGNING_SECRET),
            stripe_webhook_secret: env_or("STRIPE_WEBHOOK_SECRET", DEMO_STRIPE_WEBHOOK_SECRET),
            slack_webhook_url: std::env::var("SLACK_WEBHOOK_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            slack_oauth: match (
                std::env::var("SLACK_CLIENT_ID")
                    .ok()
                    .filter(|v| !v.is_empty()),
                std::env::var("SLACK_CLIENT_SECRET")
                    .ok()
                    .filter(|v| !v.is_empty()),
            ) {
                (Some(client_id), Some(client_secret)) => Some(OAuthConfig {
                    client_id,
                    client_secret,
                    redirect_uri: env_or("SLACK_REDIRECT_URI", LOCAL_SLACK_REDIRECT_URI),
                }),
                _ => None,
            },
        }
    }
}

/// Which function answers a path (the route table of CONTRACTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Api,
    Slack,
    Stripe,
    DriftReports,
}

impl Function {
    pub fn for_path(path: &str) -> Option<Function> {
        if path == "/v1/stripe/webhook" {
            Some(Function::Stripe)
        } else if path == "/v1/drift-reports" {
            Some(Function::DriftReports)
        } else if path.starts_with("/v1/slack/") {
            Some(Function::Slack)
        } else if path == "/v1" || path.starts_with("/v1/") {
            Some(Function::Api)
        } else {
            None
        }
    }

    /// The component that implements it (named in the 503 while it is not mounted).
    pub fn component(self) -> &'static str {
        match self {
            Function::Api => "functions/api (dd0c_api::Api)",
            Function::Slack => "functions/slack (the Slack commands/actions/OAuth handler)",
            Function::Stripe => "functions/stripe (the Stripe webhook handler)",
            Function::DriftReports => "functions/ingest drift_reports (the drift-report handler)",
        }
    }
}

/// The HTTP functions mounted in the local server; `None` answers 503 naming the component.
#[derive(Default, Clone)]
pub struct Mounts {
    pub api: Option<Arc<dyn HttpHandler>>,
    pub slack: Option<Arc<dyn HttpHandler>>,
    pub stripe: Option<Arc<dyn HttpHandler>>,
    pub drift_reports: Option<Arc<dyn HttpHandler>>,
}

impl Mounts {
    fn get(&self, function: Function) -> Option<&Arc<dyn HttpHandler>> {
        match function {
            Function::Api => self.api.as_ref(),
            Function::Slack => self.slack.as_ref(),
            Function::Stripe => self.stripe.as_ref(),
            Function::DriftReports => self.drift_reports.as_ref(),
        }
    }

    /// Every production function built over the pipeline's ports, as its Lambda `main.rs`
    /// builds it over AWS adapters.
    pub fn local(pipeline: &EmbeddedPipeline, secrets: &LocalSecrets) -> Self {
        let clock: SharedClock = Arc::new(pipeline.clock.clone());
        let mut api = Api::local(
            pipeline.table.clone(),
            clock.clone(),
            Arc::new(ScriptedAccounts::new()),
        );
        if let Some(oauth) = &secrets.slack_oauth {
            api = api.with_slack_install(dd0c_api::SlackInstall {
                client_id: oauth.client_id.clone(),
                redirect_uri: Some(oauth.redirect_uri.clone()),
            });
        }
        // Comma-separated during a rotation, as on Lambda.
        let stripe_secrets = secrets
            .stripe_webhook_secret
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let stripe = StripeWebhook::new(pipeline.table.clone(), clock, stripe_secrets);
        // Reports go onto the pipeline's ingest queue; `handle` drains it after the request.
        let drift_reports = DriftReports::new(
            pipeline.table.clone(),
            pipeline.queue.clone(),
            Arc::new(pipeline.clock.clone()),
        );
        // Requests from a workspace no installation links belong to the local tenant. Replies
        // and alerts of the Slack app go to the terminal (and the incoming webhook, when set).
        let mut slack = SlackApp::new(
            pipeline.table.clone(),
            chat::local_chat(true, secrets.slack_webhook_url.clone()),
            Arc::new(pipeline.clock.clone()),
            SlackSecrets {
                signing_secret: secrets.slack_signing_secret.clone(),
            },
        )
        .with_default_tenant(LOCAL_TENANT)
        .allow_response_urls("http://127.0.0.1:")
        .allow_response_urls("http://localhost:");
        if let Some(config) = secrets.slack_oauth.clone() {
            // The bot token is sealed with the local key (`DD0C_LOCAL_KEY`); without one, a
            // key of this process only, so a token stored with `--data` opens until restart.
            let keys = dd0c_slack::key_provider_from_env().unwrap_or_else(|_| {
                tracing::warn!("DD0C_LOCAL_KEY is not set: Slack tokens are sealed with a key of this process only");
                Arc::new(LocalKeyProvider::ephemeral())
            });
            slack = slack.with_oauth(config, Arc::new(SlackOAuth::default()), keys);
        }
        // Slow commands are answered through `response_url` by a background task, as the
        // Lambda answers them from its `commands` queue.
        // Outside a runtime (no worker can run) slow commands are answered inline.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let (jobs, deferred) = tokio::sync::mpsc::unbounded_channel();
        if runtime.is_some() {
            slack = slack.with_deferrer(Arc::new(ChannelDeferrer(jobs)));
        }
        let slack = Arc::new(slack);
        if let Some(runtime) = runtime {
            runtime.spawn(run_local(
                slack.clone(),
                Arc::new(HttpPoster(dd0c_shared::slack::web::http_client())),
                deferred,
            ));
        }
        Mounts {
            api: Some(Arc::new(api)),
            slack: Some(slack),
            stripe: Some(Arc::new(stripe)),
            drift_reports: Some(Arc::new(drift_reports)),
        }
    }

    /// The functions not mounted, for the startup message and the lead's checklist.
    pub fn missing(&self) -> Vec<Function> {
        [
            Function::Api,
            Function::Slack,
            Function::Stripe,
            Function::DriftReports,
        ]
        .into_iter()
        .filter(|f| self.get(*f).is_none())
        .collect()
    }
}

/// The local server's state: the pipeline (and its store), the mounted functions, and where
/// the store is kept between runs.
pub struct LocalServer {
    pipeline: EmbeddedPipeline,
    mounts: Mounts,
    table_path: Option<PathBuf>,
    /// Serialises saves (they write a temporary file, then rename).
    save_lock: tokio::sync::Mutex<()>,
    /// `Host` header values accepted (DNS-rebinding protection); empty accepts any.
    allowed_hosts: Vec<String>,
}

impl LocalServer {
    pub fn new(pipeline: EmbeddedPipeline, mounts: Mounts, table_path: Option<PathBuf>) -> Self {
        Self {
            pipeline,
            mounts,
            table_path,
            save_lock: tokio::sync::Mutex::new(()),
            allowed_hosts: Vec::new(),
        }
    }

    /// Accepts only requests whose `Host` is this server (`127.0.0.1:PORT`, `localhost:PORT`),
    /// so that a web page cannot reach it through a DNS name rebound to 127.0.0.1.
    pub fn allow_hosts_for_port(&mut self, port: u16) {
        self.allowed_hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    }

    pub fn pipeline(&self) -> &EmbeddedPipeline {
        &self.pipeline
    }

    /// One request, routed as API Gateway and CloudFront route it in production.
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        // The server lives in wall-clock time even when the store came from a replay of the past.
        self.pipeline.clock.advance_to(Utc::now());
        if !self.host_allowed(&request) {
            return HttpResponse::problem(
                403,
                "Forbidden",
                "this local server answers only to Host 127.0.0.1 or localhost",
                Some("host"),
            );
        }
        let mutating = !matches!(request.method.as_str(), "GET" | "HEAD" | "OPTIONS");
        let response = match Function::for_path(&request.path) {
            Some(function) => match self.mounts.get(function) {
                Some(handler) => handler.handle(request).await,
                None => not_mounted(function),
            },
            None => self.local_route(&request),
        };
        if mutating && response.status < 500 {
            // What the request enqueued (a drift report, a Slack action) runs now, as the
            // Lambdas behind the queues would, and the store is kept.
            self.pipeline.drain().await;
            if let Err(e) = self.save().await {
                tracing::error!(error = %e, "could not save the store");
            }
        }
        response
    }

    fn host_allowed(&self, request: &HttpRequest) -> bool {
        match request.header("host") {
            None => true,
            Some(host) => {
                self.allowed_hosts.is_empty()
                    || self
                        .allowed_hosts
                        .iter()
                        .any(|h| h.eq_ignore_ascii_case(host))
            }
        }
    }

    /// What is not a function: the dashboard, its local config and the local sign-in.
    fn local_route(&self, request: &HttpRequest) -> HttpResponse {
        let read = matches!(request.method.as_str(), "GET" | "HEAD");
        match request.path.as_str() {
            "/config.json" if read => {
                HttpResponse::json(200, &json!({"apiUrl": "", "local": true}))
                    .with_header("cache-control", "no-store")
            }
            "/local/token" if read => local_token(),
            path => match assets::find(path) {
                Some(asset) if read => asset.response(),
                Some(_) => HttpResponse::problem(
                    405,
                    "Method not allowed",
                    &format!("{} is not allowed on {path}; use GET", request.method),
                    None,
                )
                .with_header("allow", "GET, HEAD"),
                None if path == "/config.json" || path == "/local/token" => HttpResponse::problem(
                    405,
                    "Method not allowed",
                    &format!("{} is not allowed on {path}; use GET", request.method),
                    None,
                )
                .with_header("allow", "GET, HEAD"),
                None => HttpResponse::problem(404, "Not found", &format!("no page {path}"), None),
            },
        }
    }

    /// Writes the store to `DIR/table.json` when serving with `--data DIR`.
    pub async fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.table_path else {
            return Ok(());
        };
        let _guard = self.save_lock.lock().await;
        self.pipeline.table.save(path)
    }
}

fn not_mounted(function: Function) -> HttpResponse {
    let mut response = HttpResponse::problem(
        503,
        "Service unavailable",
        &format!(
            "this route is served by {}, which this build of dd0c serve does not mount yet",
            function.component()
        ),
        None,
    );
    // Machine-readable, for scripts that probe the local server.
    if let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&response.body) {
        body["component"] = json!(function.component());
        response.body = body.to_string();
    }
    response
}

fn local_token() -> HttpResponse {
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

// ------------------------------------------------------------------------------------ commands

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    pub port: u16,
    pub data: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            port: DEFAULT_PORT,
            data: None,
        }
    }
}

fn parse_port(value: Option<&String>) -> anyhow::Result<u16> {
    let value = value.context("--port needs a PORT")?;
    value
        .parse()
        .with_context(|| format!("--port must be a TCP port (0-65535), not {value:?}"))
}

/// Takes `--port` and `--data` out of `args`, leaving the rest (for `dd0c demo`'s replay flags).
pub fn take_serve_options(args: &[String]) -> anyhow::Result<(ServeOptions, Vec<String>)> {
    let mut options = ServeOptions::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => options.port = parse_port(it.next())?,
            "--data" => {
                options.data = Some(PathBuf::from(it.next().context("--data needs a DIR")?))
            }
            _ => rest.push(arg.clone()),
        }
    }
    Ok((options, rest))
}

pub fn parse_serve(args: &[String]) -> anyhow::Result<ServeOptions> {
    let (options, rest) = take_serve_options(args)?;
    if let Some(extra) = rest.first() {
        bail!("unknown argument {extra}; usage: dd0c serve [--port 8787] [--data DIR]");
    }
    Ok(options)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOptions {
    pub tenant: String,
    pub user: String,
    pub ttl_seconds: u64,
}

pub fn parse_token(args: &[String]) -> anyhow::Result<TokenOptions> {
    let mut options = TokenOptions {
        tenant: LOCAL_TENANT.to_owned(),
        user: auth::local::DEMO_USER.to_owned(),
        ttl_seconds: DEFAULT_TOKEN_TTL_SECONDS,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tenant" => options.tenant = it.next().context("--tenant needs an ID")?.clone(),
            "--user" => options.user = it.next().context("--user needs an EMAIL")?.clone(),
            "--ttl" => {
                let value = it.next().context("--ttl needs SECONDS")?;
                options.ttl_seconds = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=MAX_TOKEN_TTL_SECONDS).contains(s))
                    .with_context(|| {
                        format!("--ttl must be a number of seconds from 1 to {MAX_TOKEN_TTL_SECONDS}, not {value:?}")
                    })?;
            }
            other => bail!("unknown argument {other}; usage: dd0c token [--tenant ID] [--user EMAIL] [--ttl SECONDS]"),
        }
    }
    if !auth::jwt::valid_tenant_id(&options.tenant) {
        bail!(
            "--tenant must be 1-64 letters, digits, '-' or '_', not {:?}",
            options.tenant
        );
    }
    if options.user.trim().is_empty() || options.user.len() > 254 {
        bail!("--user must be an email address (1-254 characters)");
    }
    Ok(options)
}

/// `dd0c token`: a bearer token `dd0c serve` accepts (local issuer, same claims as Cognito).
pub fn token(options: &TokenOptions) -> anyhow::Result<String> {
    auth::local::issue(&options.tenant, &options.user, options.ttl_seconds)
        .map_err(|e| anyhow::anyhow!("could not issue a token: {e}"))
}

/// The store file of `--data DIR`.
pub fn table_path(dir: &Path) -> PathBuf {
    dir.join("table.json")
}

/// Builds the pipeline `dd0c serve` runs: over `DIR/table.json` when given, else in memory.
pub fn load_pipeline(
    data: Option<&Path>,
    secrets: &LocalSecrets,
) -> anyhow::Result<EmbeddedPipeline> {
    let clock = ManualClock::new(Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    let table = match data {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
            let path = table_path(dir);
            MemoryTable::load(&path, shared)
                .with_context(|| format!("could not load the store {}", path.display()))?
        }
        None => MemoryTable::new(shared),
    };
    Ok(EmbeddedPipeline::with_table(
        pipeline_options(secrets),
        clock,
        Arc::new(table),
    ))
}

/// The chat sink and channel the local pipeline notifies through.
pub fn pipeline_options(secrets: &LocalSecrets) -> PipelineOptions {
    PipelineOptions {
        start: Utc::now(),
        chat: chat::local_chat(true, secrets.slack_webhook_url.clone()),
        default_channel: "#dd0c-alerts".into(),
        policy: Policy::demo().expect("policy.demo.json is valid"),
    }
}

/// Serves `pipeline` until Ctrl-C or SIGTERM, then saves the store.
pub async fn serve(
    pipeline: EmbeddedPipeline,
    options: &ServeOptions,
    secrets: &LocalSecrets,
) -> anyhow::Result<()> {
    if let Some(dir) = &options.data {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{}", options.port))?;
    let port = listener.local_addr()?.port();
    let mounts = Mounts::local(&pipeline, secrets);
    let missing = mounts.missing();
    let mut server = LocalServer::new(pipeline, mounts, options.data.as_deref().map(table_path));
    server.allow_hosts_for_port(port);
    let server = Arc::new(server);
    server.save().await.context("could not write the store")?;

    eprintln!("dd0c serve: dashboard and API on http://127.0.0.1:{port}/ (Ctrl-C to stop)");
    eprintln!("  token for scripts: dd0c token   (tenant {LOCAL_TENANT})");
    match &options.data {
        Some(dir) => eprintln!("  store: {}", table_path(dir).display()),
        None => eprintln!("  store: in memory (use --data DIR to keep it)"),
    }
    if secrets.slack_signing_secret == DEMO_SLACK_SIGNING_SECRET {
        eprintln!("  SLACK_SIGNING_SECRET not set: using the demo default");
    }
    if secrets.stripe_webhook_secret == DEMO_STRIPE_WEBHOOK_SECRET {
        eprintln!("  STRIPE_WEBHOOK_SECRET not set: using the demo default");
    }
    for function in missing {
        eprintln!("  not mounted yet (answers 503): {}", function.component());
    }

    http::run(listener, server.clone(), http::shutdown_signal()).await;
    server.save().await.context("could not save the store")?;
    eprintln!("dd0c serve: stopped");
    Ok(())
}

#[cfg(test)]
mod tests;
