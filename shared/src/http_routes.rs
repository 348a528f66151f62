//! The one HTTP route table (`shared/http-routes.json`): every route API Gateway exposes, the
//! function it reaches and how its caller is authenticated. The CDK app generates the HTTP
//! API's routes and authorizers from the file; the API's router and `dd0c serve`'s dispatcher
//! are checked against it here, so the three can never disagree.

use serde::Deserialize;

pub const HTTP_ROUTES_JSON: &str = include_str!("../http-routes.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// The gateway's Cognito JWT authorizer, and the function verifies again.
    Cognito,
    /// No gateway authorizer: the function accepts a Cognito ID token or an API key.
    CognitoOrApiKey,
    /// No gateway authorizer: the function checks the API key by hash.
    ApiKey,
    SlackSignature,
    StripeSignature,
    /// The single-use OAuth state is checked by the function.
    SlackOauth,
    Public,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
    pub function: String,
    pub auth: AuthKind,
}

#[derive(Deserialize)]
struct File {
    routes: Vec<HttpRoute>,
}

/// The table, parsed. It is compiled in and its own test proves it parses.
pub fn http_routes() -> Vec<HttpRoute> {
    serde_json::from_str::<File>(HTTP_ROUTES_JSON)
        .map(|f| f.routes)
        .unwrap_or_default()
}

/// The routes one function serves.
pub fn routes_of(function: &str) -> Vec<HttpRoute> {
    http_routes()
        .into_iter()
        .filter(|r| r.function == function)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_has_no_duplicates() {
        let file: File = serde_json::from_str(HTTP_ROUTES_JSON).expect("http-routes.json parses");
        assert!(file.routes.len() >= 30);
        let mut seen = std::collections::HashSet::new();
        for r in &file.routes {
            assert!(r.path.starts_with("/v1/"), "{r:?}");
            assert!(
                seen.insert((r.method.clone(), r.path.clone())),
                "twice: {r:?}"
            );
        }
        assert_eq!(http_routes(), file.routes);
        assert!(routes_of("ingest")
            .iter()
            .any(|r| r.path == "/v1/drift-reports" && r.auth == AuthKind::ApiKey));
    }
}
