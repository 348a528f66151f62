//! The route table: the router matches on it and the OpenAPI test checks every entry is in
//! the generated document, so a route cannot be added without being documented.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    AccountsSetup,
    AccountsConnect,
    AccountsList,
    AccountHealth,
    AccountBackfill,
    AccountDelete,
    AnomaliesList,
    AnomalyGet,
    AnomalyPatch,
    IncidentsList,
    IncidentGet,
    IncidentPatch,
    BaselinePatch,
    StacksList,
    StacksCreate,
    StacksPatch,
    StackPatch,
    StackGet,
    StackTimeline,
    DriftScore,
    StackResourcesImport,
    DriftEventsList,
    EventDecision,
    PoliciesGet,
    PoliciesPut,
    FlagsList,
    FlagPut,
    FlagDelete,
    SlackSettingsGet,
    SlackSettingsPatch,
    SlackInstallUrl,
    ApiKeysCreate,
    ApiKeysList,
    ApiKeyDelete,
    Me,
    BillingCheckout,
    BillingPortal,
    OpenApi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    /// OpenAPI path template (`{name}` segments).
    pub path: &'static str,
    /// Whether an agent's API key is accepted (else only a user's token).
    pub api_key: bool,
}

const fn r(id: RouteId, method: &'static str, path: &'static str, api_key: bool) -> Route {
    Route {
        id,
        method,
        path,
        api_key,
    }
}

pub const ROUTES: &[Route] = &[
    r(RouteId::AccountsSetup, "POST", "/v1/accounts/setup", false),
    r(RouteId::AccountsConnect, "POST", "/v1/accounts", false),
    r(RouteId::AccountsList, "GET", "/v1/accounts", false),
    r(
        RouteId::AccountHealth,
        "GET",
        "/v1/accounts/{id}/health",
        false,
    ),
    r(
        RouteId::AccountBackfill,
        "GET",
        "/v1/accounts/{id}/backfill",
        false,
    ),
    r(RouteId::AccountDelete, "DELETE", "/v1/accounts/{id}", false),
    r(RouteId::AnomaliesList, "GET", "/v1/anomalies", true),
    r(RouteId::AnomalyGet, "GET", "/v1/anomalies/{id}", true),
    r(RouteId::AnomalyPatch, "PATCH", "/v1/anomalies/{id}", false),
    r(RouteId::IncidentsList, "GET", "/v1/incidents", true),
    r(RouteId::IncidentGet, "GET", "/v1/incidents/{id}", true),
    r(RouteId::IncidentPatch, "PATCH", "/v1/incidents/{id}", false),
    r(
        RouteId::BaselinePatch,
        "PATCH",
        "/v1/accounts/{id}/baselines/{service}/{type}",
        false,
    ),
    r(RouteId::StacksList, "GET", "/v1/stacks", true),
    r(RouteId::StacksCreate, "POST", "/v1/stacks", true),
    r(RouteId::StacksPatch, "PATCH", "/v1/stacks", true),
    r(RouteId::StackPatch, "PATCH", "/v1/stacks/{id}", true),
    r(RouteId::StackGet, "GET", "/v1/stacks/{id}", true),
    r(
        RouteId::StackTimeline,
        "GET",
        "/v1/stacks/{id}/timeline",
        true,
    ),
    r(RouteId::DriftScore, "GET", "/v1/drift-score", true),
    r(
        RouteId::StackResourcesImport,
        "POST",
        "/v1/stacks/{id}/resources",
        true,
    ),
    r(RouteId::DriftEventsList, "GET", "/v1/drift-events", true),
    r(
        RouteId::EventDecision,
        "GET",
        "/v1/events/{id}/decision",
        true,
    ),
    r(RouteId::PoliciesGet, "GET", "/v1/policies", false),
    r(RouteId::PoliciesPut, "PUT", "/v1/policies", false),
    r(RouteId::FlagsList, "GET", "/v1/flags", false),
    r(RouteId::FlagPut, "PUT", "/v1/flags/{detector}", false),
    r(RouteId::FlagDelete, "DELETE", "/v1/flags/{detector}", false),
    r(
        RouteId::SlackSettingsGet,
        "GET",
        "/v1/settings/slack",
        false,
    ),
    r(
        RouteId::SlackSettingsPatch,
        "PATCH",
        "/v1/settings/slack",
        false,
    ),
    r(
        RouteId::SlackInstallUrl,
        "GET",
        "/v1/settings/slack/install-url",
        false,
    ),
    r(RouteId::ApiKeysCreate, "POST", "/v1/api-keys", false),
    r(RouteId::ApiKeysList, "GET", "/v1/api-keys", false),
    r(RouteId::ApiKeyDelete, "DELETE", "/v1/api-keys/{id}", false),
    r(RouteId::Me, "GET", "/v1/me", false),
    r(
        RouteId::BillingCheckout,
        "POST",
        "/v1/billing/checkout",
        false,
    ),
    r(RouteId::BillingPortal, "POST", "/v1/billing/portal", false),
    r(RouteId::OpenApi, "GET", "/v1/openapi.json", false),
];

/// The outcome of matching a request line.
#[derive(Debug, PartialEq)]
pub enum Matched {
    Route(Route, Vec<(String, String)>),
    /// The path exists with other methods.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            params.push((name.to_owned(), dd0c_shared::http::percent_decode(ps)));
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

/// Literal templates win over templated ones (`/v1/accounts/setup` before `/v1/accounts/{id}`).
pub fn match_route(method: &str, path: &str) -> Matched {
    let mut allowed = Vec::new();
    let mut best: Option<(Route, Vec<(String, String)>)> = None;
    for route in ROUTES {
        if let Some(params) = match_template(route.path, path) {
            if route.method.eq_ignore_ascii_case(method) {
                let better = best.as_ref().is_none_or(|(_, p)| params.len() < p.len());
                if better {
                    best = Some((*route, params));
                }
            } else {
                allowed.push(route.method);
            }
        }
    }
    match best {
        Some((route, params)) => Matched::Route(route, params),
        None if !allowed.is_empty() => Matched::MethodNotAllowed(allowed),
        None => Matched::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A concrete path for a template, to check the router reaches every route.
    pub fn example_path(template: &str) -> String {
        template
            .split('/')
            .map(|s| if s.starts_with('{') { "x1" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_route_is_reachable() {
        for route in ROUTES {
            match match_route(route.method, &example_path(route.path)) {
                Matched::Route(found, _) => assert_eq!(found.id, route.id, "{}", route.path),
                other => panic!("{} {} → {other:?}", route.method, route.path),
            }
        }
    }

    /// The router and `shared/http-routes.json` (from which the CDK app builds the gateway's
    /// routes and authorizers) list the same routes, and a route takes API keys exactly when
    /// the gateway lets them through to the function.
    #[test]
    fn the_router_matches_the_http_route_table() {
        use dd0c_shared::http_routes::{routes_of, AuthKind};
        let table = routes_of("api");
        for entry in &table {
            let route = ROUTES
                .iter()
                .find(|r| r.method == entry.method && r.path == entry.path)
                .unwrap_or_else(|| {
                    panic!(
                        "{} {} is in http-routes.json but not routed",
                        entry.method, entry.path
                    )
                });
            assert_eq!(
                route.api_key,
                entry.auth == AuthKind::CognitoOrApiKey,
                "{} {}: api_key vs auth {:?}",
                entry.method,
                entry.path,
                entry.auth
            );
            let public = route.id == RouteId::OpenApi;
            assert_eq!(
                public,
                entry.auth == AuthKind::Public,
                "{} {}",
                entry.method,
                entry.path
            );
        }
        for route in ROUTES {
            assert!(
                table
                    .iter()
                    .any(|e| e.method == route.method && e.path == route.path),
                "{} {} is routed but missing from shared/http-routes.json",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn literal_segments_win_and_methods_are_checked() {
        assert!(
            matches!(match_route("POST", "/v1/accounts/setup"), Matched::Route(r, _) if r.id == RouteId::AccountsSetup)
        );
        assert!(
            matches!(match_route("PUT", "/v1/me"), Matched::MethodNotAllowed(m) if m == vec!["GET"])
        );
        assert_eq!(match_route("GET", "/v1/nothing"), Matched::NotFound);
    }
}
