//! Routes each request to commands, actions or the OAuth install; commands and actions are
//! signature-checked first.

use async_trait::async_trait;
use dd0c_shared::http::{HttpHandler, HttpRequest, HttpResponse};

use crate::app::SlackApp;

#[async_trait]
impl HttpHandler for SlackApp {
    async fn handle(&self, request: HttpRequest) -> HttpResponse {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/v1/slack/commands") => {
                if let Err(r) = self.verify(&request) {
                    return r;
                }
                self.command(request).await
            }
            ("POST", "/v1/slack/actions") => {
                if let Err(r) = self.verify(&request) {
                    return r;
                }
                self.action(request).await
            }
            ("GET", "/v1/slack/install") => self.install(request).await,
            ("GET", "/v1/slack/oauth_redirect") => self.oauth_redirect(request).await,
            (
                _,
                "/v1/slack/commands"
                | "/v1/slack/actions"
                | "/v1/slack/install"
                | "/v1/slack/oauth_redirect",
            ) => HttpResponse::problem(
                405,
                "Method not allowed",
                &format!("{} is not allowed here", request.method),
                None,
            ),
            _ => HttpResponse::problem(
                404,
                "Not found",
                &format!("no route {}", request.path),
                None,
            ),
        }
    }
}
