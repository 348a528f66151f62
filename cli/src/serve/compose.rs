//! The composition root of `dd0c serve`: the pipeline over its store, every production function
//! over the pipeline's ports (as each Lambda's `main.rs` builds it over AWS adapters), the local
//! server over both, and the listener it runs on until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use dd0c_api::Api;
use dd0c_ingest::drift_reports::DriftReports;
use dd0c_shared::accounts::fake::ScriptedAccounts;
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::crypto::LocalKeyProvider;
use dd0c_shared::governance::Policy;
use dd0c_shared::remediation::embedded::EmbeddedRemediator;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_slack::deferred::{run_local, ChannelDeferrer, HttpPoster};
use dd0c_slack::{SlackApp, SlackOAuth, SlackSecrets};
use dd0c_stripe::StripeWebhook;

use super::chat::local_chat;
use super::http;
use super::routing::Mounts;
use super::secrets::LocalSecrets;
use super::server::LocalServer;
use crate::pipeline::{EmbeddedPipeline, PipelineOptions, LOCAL_TENANT};

pub const DEFAULT_PORT: u16 = 8787;

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

impl Mounts {
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
        let stripe = StripeWebhook::new(
            pipeline.table.clone(),
            clock,
            secrets.stripe_webhook_secrets(),
        );
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
            local_chat(true, secrets.slack_webhook_url.clone()),
            Arc::new(pipeline.clock.clone()),
            SlackSecrets {
                signing_secret: secrets.slack_signing_secret.clone(),
            },
        )
        .with_default_tenant(LOCAL_TENANT)
        // Remediation buttons answer from the embedded port: it knows no customer role, so a
        // click is recorded and refused as AWS would refuse an unknown role (decision 0520).
        .with_remediation(
            Arc::new(EmbeddedRemediator::new()),
            Policy::demo().expect("policy.demo.json is valid"),
        )
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
            api: Arc::new(api),
            slack,
            stripe: Arc::new(stripe),
            drift_reports: Arc::new(drift_reports),
        }
    }
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
        chat: local_chat(true, secrets.slack_webhook_url.clone()),
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
    if secrets.slack_signing_secret_is_demo() {
        eprintln!("  SLACK_SIGNING_SECRET not set: using the demo default");
    }
    if secrets.stripe_webhook_secret_is_demo() {
        eprintln!("  STRIPE_WEBHOOK_SECRET not set: using the demo default");
    }

    http::run(listener, server.clone(), http::shutdown_signal()).await;
    server.save().await.context("could not save the store")?;
    eprintln!("dd0c serve: stopped");
    Ok(())
}
