//! The local server: one request at a time, routed as API Gateway and CloudFront route it in
//! production, with the store kept after every change.
//!
//! Local-only pieces (`/config.json` saying `local: true`, `GET /local/token`) exist here and
//! nowhere else: production serves the dashboard from S3 with a generated `config.json` and
//! signs users in through Cognito.

use std::path::PathBuf;

use chrono::Utc;
use dd0c_shared::http::{HttpRequest, HttpResponse};
use serde_json::json;

use super::assets;
use super::routing::{Function, Mounts};
use super::token::local_token_response;
use crate::pipeline::EmbeddedPipeline;

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
            Some(function) => self.mounts.get(function).handle(request).await,
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
            "/local/token" if read => local_token_response(),
            path => match assets::find(path) {
                Some(asset) if read => asset.response(),
                Some(_) => method_not_allowed(&request.method, path),
                None if path == "/config.json" || path == "/local/token" => {
                    method_not_allowed(&request.method, path)
                }
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

fn method_not_allowed(method: &str, path: &str) -> HttpResponse {
    HttpResponse::problem(
        405,
        "Method not allowed",
        &format!("{method} is not allowed on {path}; use GET"),
        None,
    )
    .with_header("allow", "GET, HEAD")
}
