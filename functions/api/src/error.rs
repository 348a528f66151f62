//! API errors, each rendered as an RFC 7807 problem naming the field at fault.

use dd0c_shared::http::HttpResponse;
use dd0c_shared::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
    pub field: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            field: None,
            code: None,
        }
    }
    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        let mut e = Self::new(400, "Bad request", detail);
        e.field = Some(field.to_owned());
        e
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, "Not found", what)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", detail)
    }
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub fn into_response(self) -> HttpResponse {
        let mut response =
            HttpResponse::problem(self.status, self.title, &self.detail, self.field.as_deref());
        if let Some(code) = self.code {
            if let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&response.body) {
                body["code"] = serde_json::Value::String(code.to_owned());
                response.body = body.to_string();
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failed");
        ApiError::new(
            503,
            "Service unavailable",
            "the store is unavailable; try again",
        )
    }
}

/// Parses a JSON body, naming the field of a type or missing-field error when serde tells.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| message.contains("field"))
            .unwrap_or("body")
            .to_owned();
        ApiError::bad_request(&field, format!("the JSON body is not valid: {message}"))
    })
}
