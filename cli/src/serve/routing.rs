//! Which production function answers a path (the route table of CONTRACTS.md), and the
//! handler mounted for each.

use std::sync::Arc;

use dd0c_shared::http::HttpHandler;

/// The HTTP functions API Gateway routes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Api,
    Slack,
    Stripe,
    DriftReports,
}

impl Function {
    /// The function that serves `path`; `None` for what is not under `/v1`.
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
}

/// One handler for each function.
#[derive(Clone)]
pub struct Mounts {
    pub api: Arc<dyn HttpHandler>,
    pub slack: Arc<dyn HttpHandler>,
    pub stripe: Arc<dyn HttpHandler>,
    pub drift_reports: Arc<dyn HttpHandler>,
}

impl Mounts {
    pub fn get(&self, function: Function) -> &Arc<dyn HttpHandler> {
        match function {
            Function::Api => &self.api,
            Function::Slack => &self.slack,
            Function::Stripe => &self.stripe,
            Function::DriftReports => &self.drift_reports,
        }
    }
}
