//! The HTTP side of the functions behind API Gateway (api, slack, stripe, drift reports).
//! Handlers see these plain types; on Lambda they are converted from API Gateway's HTTP API
//! (payload v2) events, base64 bodies decoded (see `lambda.rs`); `dd0c serve` builds them
//! from real HTTP requests. One handler, three places.

use std::borrow::Cow;
use std::collections::BTreeMap;

use async_trait::async_trait;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    /// The path without the query string, e.g. `/v1/anomalies/cost-1`.
    pub path: String,
    /// Decoded query parameters (the last value wins when a name repeats).
    pub query: BTreeMap<String, String>,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body exactly as sent (API Gateway's base64 already decoded).
    pub body: Vec<u8>,
    /// The source IP, when known (rate limits, audit).
    pub source_ip: Option<String>,
}

impl HttpRequest {
    pub fn new(method: &str, path: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            ..Self::default()
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_owned());
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn with_query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The URL the client used to reach this service (`https://api.example.com`), from the
    /// `host` header; the scheme from `x-forwarded-proto` (API Gateway sets it), else `http`
    /// on loopback (`dd0c serve`) and `https` elsewhere. `None` without a usable host.
    pub fn public_base_url(&self) -> Option<String> {
        let host = self.header("host").filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })?;
        let loopback = host.starts_with("127.0.0.1") || host.starts_with("localhost");
        let scheme = match self.header("x-forwarded-proto") {
            Some("http") => "http",
            Some(_) => "https",
            None if loopback => "http",
            None => "https",
        };
        Some(format!("{scheme}://{host}"))
    }

    /// Parses `a=1&b=two%20words` into [`HttpRequest::query`] (form encoding: `+` is a
    /// space; a `%` not followed by two hex digits is kept as it is).
    pub fn parse_query(raw: &str) -> BTreeMap<String, String> {
        form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect()
    }
}

/// RFC 3986's unreserved characters: everything else is percent-encoded.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters (query values, form fields).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Decodes `%XX` escapes and `+` (form encoding); a `%` not followed by two hex digits is
/// kept, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let plus_as_space = if s.contains('+') {
        Cow::Owned(s.replace('+', " "))
    } else {
        Cow::Borrowed(s)
    };
    percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// How long any outside call may take to connect; a host that does not answer a SYN in this
/// time is down or blackholed, and waiting longer only spends the function's own timeout.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The one way dd0c builds an HTTP client: a connect timeout and an overall timeout per
/// request, so a hung peer (Slack, Stripe, the JWKS, the secrets extension, a webhook) fails
/// the call instead of holding a Lambda and its batch until the function times out.
pub fn client(overall: std::time::Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(overall))
        .timeout(overall)
        .build()
        // Building fails only if the TLS backend cannot start: nothing could be called anyway.
        .expect("the HTTP client's TLS backend starts")
}

/// The policy of the pages the API itself renders (the Slack install result): no script, no
/// fetch, no frame, nothing from elsewhere, so text that slips through unescaped stays inert.
pub const HTML_PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Text made safe to place in HTML element content or a quoted attribute value.
pub fn escape_html(text: &str) -> String {
    escape_entities(text, true)
}

/// `&`, `<`, `>` as entities (and the quotes too, with `quotes`): HTML needs all five; Slack's
/// mrkdwn exactly the first three, and would show `&quot;` as written.
pub fn escape_entities(text: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// `scheme://host[:port]` of an absolute http(s) URL.
pub fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl HttpResponse {
    pub fn json<T: Serialize>(status: u16, body: &T) -> Self {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".into(), "application/json".into());
        Self {
            status,
            headers,
            body: serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
        }
    }

    /// An RFC 7807 problem document naming what is wrong (and, when it is one field, which).
    pub fn problem(status: u16, title: &str, detail: &str, field: Option<&str>) -> Self {
        let mut body = json!({
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail,
        });
        if let Some(field) = field {
            body["field"] = Value::String(field.to_owned());
        }
        let mut response = Self::json(status, &body);
        response
            .headers
            .insert("content-type".into(), "application/problem+json".into());
        response
    }

    /// A minimal HTML page with one paragraph of plain text (escaped here), served with
    /// [`HTML_PAGE_CSP`] and `nosniff`.
    pub fn html_page(status: u16, text: &str) -> Self {
        Self::text(
            status,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><title>dd0c</title><p>{}</p>",
                escape_html(text)
            ),
        )
        .with_header("content-security-policy", HTML_PAGE_CSP)
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
    }

    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".into(), content_type.into());
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_owned());
        self
    }
}

#[async_trait]
pub trait HttpHandler: Send + Sync {
    async fn handle(&self, request: HttpRequest) -> HttpResponse;
}

#[cfg(test)]
mod tests {
    #[test]
    fn public_base_url_follows_host_and_forwarded_proto() {
        use super::HttpRequest;
        let r = |headers: &[(&str, &str)]| {
            headers
                .iter()
                .fold(HttpRequest::new("GET", "/"), |r, (k, v)| {
                    r.with_header(k, v)
                })
                .public_base_url()
        };
        assert_eq!(
            r(&[
                ("host", "abc.execute-api.us-east-1.amazonaws.com"),
                ("x-forwarded-proto", "https")
            ])
            .as_deref(),
            Some("https://abc.execute-api.us-east-1.amazonaws.com")
        );
        assert_eq!(
            r(&[("host", "127.0.0.1:8787")]).as_deref(),
            Some("http://127.0.0.1:8787")
        );
        assert_eq!(
            r(&[("host", "api.dd0c.dev")]).as_deref(),
            Some("https://api.dd0c.dev")
        );
        assert_eq!(r(&[]), None);
        assert_eq!(r(&[("host", "evil.example/path?x=")]), None, "not a host");
    }

    use super::*;

    #[test]
    fn decodes_queries() {
        let q = HttpRequest::parse_query("a=1&b=two%20words&c=x+y&d");
        assert_eq!(q["b"], "two words");
        assert_eq!(q["c"], "x y");
        assert_eq!(q["d"], "");
        // A stray % before a multi-byte character is kept, not a panic.
        let q = HttpRequest::parse_query("x=%aé&y=%zz");
        assert_eq!(q["x"], "%aé");
        assert_eq!(q["y"], "%zz");
    }

    /// The decoder dd0c had before it used `percent-encoding`, kept as the reference the
    /// crate-based one must agree with.
    fn hand_written_percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |b: u8| (b as char).to_digit(16);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(hi), Some(lo)) => {
                            out.push((hi * 16 + lo) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    proptest::proptest! {
        #[test]
        fn percent_decode_agrees_with_the_hand_written_decoder(
            s in "(%|\\+|=|&|[0-9a-fA-F]|[g-zG-Z]|%[89a-fA-F][0-9a-fA-F]|\\PC){0,16}"
        ) {
            proptest::prop_assert_eq!(percent_decode(&s), hand_written_percent_decode(&s));
        }

        #[test]
        fn percent_decode_undoes_percent_encode(s in "\\PC*") {
            let encoded = percent_encode(&s);
            proptest::prop_assert!(
                encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)),
                "{encoded}"
            );
            proptest::prop_assert_eq!(percent_decode(&encoded), s);
        }

        #[test]
        fn parse_query_reads_what_percent_encode_wrote(
            pairs in proptest::collection::vec(("\\PC{1,8}", "\\PC{0,8}"), 0..6)
        ) {
            let raw = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            // The last value wins when a name repeats.
            let expected: BTreeMap<String, String> = pairs.into_iter().collect();
            proptest::prop_assert_eq!(HttpRequest::parse_query(&raw), expected);
        }
    }

    #[test]
    fn problem_names_the_field() {
        let r = HttpResponse::problem(400, "Bad request", "limit must be 1-100", Some("limit"));
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["field"], "limit");
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
}

#[cfg(test)]
mod origin_tests {
    use super::url_origin;

    #[test]
    fn the_origin_of_a_url() {
        assert_eq!(
            url_origin("http://127.0.0.1:4567/api").as_deref(),
            Some("http://127.0.0.1:4567")
        );
        assert_eq!(
            url_origin("https://slack.com").as_deref(),
            Some("https://slack.com")
        );
        assert_eq!(url_origin("ftp://x/y"), None);
        assert_eq!(url_origin("nothing"), None);
        assert_eq!(url_origin("http:///path"), None);
    }
}

#[cfg(test)]
mod client_tests {
    /// A client built anywhere else has no timeout unless someone remembered one: a hung
    /// connection then holds a Lambda (and its batch) until the function's own timeout.
    #[test]
    fn every_http_client_comes_from_the_one_constructor_with_timeouts() {
        let files = crate::testing::product_sources();
        assert!(files.len() > 20, "{files:?}");
        let this = std::path::Path::new(file!()).file_name().unwrap();
        let offenders: Vec<String> = files
            .iter()
            .filter(|f| {
                !(f.ends_with(std::path::Path::new("src").join(this))
                    && f.parent()
                        .and_then(|p| p.parent())
                        .is_some_and(|p| p.ends_with("shared")))
            })
            .filter_map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                let found = ["Client::new()", "Client::builder()", "Client::default()"]
                    .iter()
                    .any(|needle| text.contains(&format!("reqwest::{needle}")));
                found.then(|| f.display().to_string())
            })
            .collect();
        assert!(
            offenders.is_empty(),
            "use dd0c_shared::http::client: {offenders:?}"
        );
    }
}
