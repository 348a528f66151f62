//! The Stripe API behind a small port (checkout and portal sessions), so the API is tested
//! with a fake and production speaks HTTPS.

use std::sync::Mutex;

use async_trait::async_trait;
use dd0c_shared::http::percent_encode;

#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutSessionRequest {
    pub tenant_id: String,
    pub customer_id: Option<String>,
    pub price_id: String,
    /// Accounts paid for (per-unit pricing).
    pub quantity: u32,
    pub success_url: String,
    pub cancel_url: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum BillingError {
    #[error("Stripe answered {status}: {message}")]
    Stripe { status: u16, message: String },
    #[error("Stripe could not be reached: {0}")]
    Unavailable(String),
    #[error("billing is not configured: {0}")]
    NotConfigured(String),
}

#[async_trait]
pub trait StripeApi: Send + Sync {
    /// Returns the Checkout page URL.
    async fn create_checkout_session(
        &self,
        request: &CheckoutSessionRequest,
    ) -> Result<String, BillingError>;
    /// Returns the billing portal URL.
    async fn create_portal_session(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, BillingError>;
}

/// Records requests and answers with made-up URLs (tests, `dd0c serve`).
#[derive(Default)]
pub struct FakeStripe {
    pub checkouts: Mutex<Vec<CheckoutSessionRequest>>,
    pub portals: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl StripeApi for FakeStripe {
    async fn create_checkout_session(
        &self,
        request: &CheckoutSessionRequest,
    ) -> Result<String, BillingError> {
        let mut all = self
            .checkouts
            .lock()
            .map_err(|_| BillingError::Unavailable("fake poisoned".into()))?;
        all.push(request.clone());
        Ok(format!(
            "https://checkout.stripe.test/c/pay/cs_test_{}",
            all.len()
        ))
    }
    async fn create_portal_session(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, BillingError> {
        let mut all = self
            .portals
            .lock()
            .map_err(|_| BillingError::Unavailable("fake poisoned".into()))?;
        all.push((customer_id.to_owned(), return_url.to_owned()));
        Ok(format!(
            "https://billing.stripe.test/p/session/{customer_id}"
        ))
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (Stripe's request format).
pub fn form_encode(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The form fields of a subscription Checkout Session with per-account quantity. The tenant
/// travels as `client_reference_id` and in the subscription's metadata, so the webhook can
/// attribute both the session and later subscription events.
pub fn checkout_form(request: &CheckoutSessionRequest) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("mode", "subscription".to_owned()),
        ("line_items[0][price]", request.price_id.clone()),
        ("line_items[0][quantity]", request.quantity.to_string()),
        ("client_reference_id", request.tenant_id.clone()),
        ("metadata[tenant_id]", request.tenant_id.clone()),
        (
            "subscription_data[metadata][tenant_id]",
            request.tenant_id.clone(),
        ),
        ("success_url", request.success_url.clone()),
        ("cancel_url", request.cancel_url.clone()),
    ];
    if let Some(customer) = &request.customer_id {
        form.push(("customer", customer.clone()));
    }
    form
}

/// Billing while the operator has not put Stripe's credentials into the secret: every call
/// answers [`BillingError::NotConfigured`] naming what to set, and the rest of the API serves.
pub struct UnconfiguredStripe {
    pub missing: String,
}

#[async_trait]
impl StripeApi for UnconfiguredStripe {
    async fn create_checkout_session(
        &self,
        _request: &CheckoutSessionRequest,
    ) -> Result<String, BillingError> {
        Err(BillingError::NotConfigured(self.missing.clone()))
    }
    async fn create_portal_session(
        &self,
        _customer_id: &str,
        _return_url: &str,
    ) -> Result<String, BillingError> {
        Err(BillingError::NotConfigured(self.missing.clone()))
    }
}

/// Stripe at `STRIPE_API_URL` when set (the local cloud's fake), else api.stripe.com; or
/// [`UnconfiguredStripe`] naming what the operator must set.
pub fn stripe_client(billing: Result<String, String>) -> std::sync::Arc<dyn StripeApi> {
    match billing {
        Ok(key) => match std::env::var("STRIPE_API_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(url) => std::sync::Arc::new(HttpStripe::with_base_url(key, url)),
            None => std::sync::Arc::new(HttpStripe::new(key)),
        },
        Err(missing) => {
            tracing::warn!(%missing, "billing is not configured; billing routes answer 501");
            std::sync::Arc::new(UnconfiguredStripe { missing })
        }
    }
}

/// Stripe over HTTPS.
pub struct HttpStripe {
    client: reqwest::Client,
    secret_key: String,
    base_url: String,
}

impl HttpStripe {
    pub fn new(secret_key: String) -> Self {
        Self::with_base_url(secret_key, "https://api.stripe.com".into())
    }

    pub fn with_base_url(secret_key: String, base_url: String) -> Self {
        Self {
            client: dd0c_shared::http::client(std::time::Duration::from_secs(10)),
            secret_key,
            base_url,
        }
    }

    async fn post(&self, path: &str, form: &[(&str, String)]) -> Result<String, BillingError> {
        let response = self
            .client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.secret_key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(form))
            .send()
            .await
            .map_err(|e| BillingError::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| BillingError::Unavailable(e.to_string()))?;
        if status >= 300 {
            return Err(BillingError::Stripe {
                status,
                message: body["error"]["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned(),
            });
        }
        body["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BillingError::Unavailable("Stripe's answer has no url".into()))
    }
}

#[async_trait]
impl StripeApi for HttpStripe {
    async fn create_checkout_session(
        &self,
        request: &CheckoutSessionRequest,
    ) -> Result<String, BillingError> {
        self.post("/v1/checkout/sessions", &checkout_form(request))
            .await
    }
    async fn create_portal_session(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, BillingError> {
        self.post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", customer_id.to_owned()),
                ("return_url", return_url.to_owned()),
            ],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_is_per_account_and_carries_the_tenant() {
        let form = checkout_form(&CheckoutSessionRequest {
            tenant_id: "t1".into(),
            customer_id: None,
            price_id: "price_1".into(),
            quantity: 3,
            success_url: "https://x/ok?a=1&b=2".into(),
            cancel_url: "https://x/cancel".into(),
        });
        let encoded = form_encode(&form);
        assert!(
            encoded.contains("line_items%5B0%5D%5Bquantity%5D=3"),
            "{encoded}"
        );
        assert!(encoded.contains("client_reference_id=t1"));
        assert!(encoded.contains("success_url=https%3A%2F%2Fx%2Fok%3Fa%3D1%26b%3D2"));
        assert!(!encoded.contains("customer="));
    }
}
