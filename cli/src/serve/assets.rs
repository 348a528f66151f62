//! The dashboard (`dashboard/` at the repository root), embedded in the binary. Lookup is by
//! exact path in this table, so no request path can reach anything else on disk.

use dd0c_shared::http::HttpResponse;

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// Every file of the dashboard. A new file in `dashboard/` must be listed here (the test
/// `every_dashboard_file_is_embedded` fails otherwise).
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../../dashboard/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../dashboard/app.js"),
    },
    Asset {
        path: "/diff.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../dashboard/diff.js"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../dashboard/style.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../../dashboard/favicon.svg"),
    },
];

/// The same policy production's CloudFront response headers should send: everything from
/// this origin, nothing inline.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

impl Asset {
    pub fn response(&self) -> HttpResponse {
        HttpResponse::text(200, self.content_type, self.body)
            .with_header("content-security-policy", CSP)
            .with_header("x-content-type-options", "nosniff")
            .with_header("referrer-policy", "no-referrer")
            .with_header("x-frame-options", "DENY")
            .with_header("cache-control", "no-cache")
    }
}
