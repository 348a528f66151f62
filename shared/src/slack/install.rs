//! Starting a Slack OAuth v2 install: a single-use `state` bound to the installing tenant is
//! stored (10-minute TTL) and Slack's authorize URL is built around it. The tenant must come
//! from a verified dd0c identity (the API's `GET /v1/integrations/slack/install-url`) or the
//! embedded mode's own tenant; never from anything the browser could set.

use chrono::{DateTime, Duration, Utc};

use crate::entity::slack_oauth_state;
use crate::http::{percent_encode, HttpRequest};
use crate::store::{StoreError, Table};

/// The minimum scopes dd0c asks for. `incoming-webhook` makes Slack's consent page ask the
/// installer for a channel: alerts go there from the first one, and its webhook is the
/// fallback when the bot cannot post to a routed channel.
pub const SCOPES: &str = "chat:write,commands,incoming-webhook";
/// How long an install `state` stays valid.
pub const STATE_TTL_MINUTES: i64 = 10;

/// Where Slack sends the browser back (register `<API URL>` + this in the Slack app).
pub const OAUTH_REDIRECT_PATH: &str = "/v1/slack/oauth_redirect";

/// The redirect URI: the configured one (a custom domain), else the URL this request reached
/// plus [`OAUTH_REDIRECT_PATH`] — the API and the slack function sit behind the same API, so
/// the install URL and the code exchange agree without configuring the API's own URL.
pub fn redirect_uri_for(configured: Option<&str>, request: &HttpRequest) -> Option<String> {
    match configured.filter(|c| !c.is_empty()) {
        Some(c) => Some(c.to_owned()),
        None => Some(format!(
            "{}{OAUTH_REDIRECT_PATH}",
            request.public_base_url()?
        )),
    }
}

/// The public half of the Slack app's OAuth settings.
#[derive(Debug, Clone, PartialEq)]
pub struct InstallLink {
    pub client_id: String,
    pub redirect_uri: String,
}

/// Stores a fresh state for `tenant` and returns the URL that starts the install.
pub async fn start_install(
    table: &dyn Table,
    now: DateTime<Utc>,
    tenant: &str,
    link: &InstallLink,
) -> Result<String, StoreError> {
    let state = uuid::Uuid::new_v4().simple().to_string();
    let expires = (now + Duration::minutes(STATE_TTL_MINUTES)).timestamp();
    table
        .put(slack_oauth_state::item(&state, tenant, expires), None)
        .await?;
    Ok(format!(
        "https://slack.com/oauth/v2/authorize?client_id={}&scope={}&state={}&redirect_uri={}",
        percent_encode(&link.client_id),
        percent_encode(SCOPES),
        state,
        percent_encode(&link.redirect_uri)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::store::memory::MemoryTable;
    use std::sync::Arc;

    #[tokio::test]
    async fn binds_a_single_state_to_the_tenant() {
        let table = MemoryTable::new(Arc::new(SystemClock));
        let link = InstallLink {
            client_id: "123.456".into(),
            redirect_uri: "https://api.dd0c.dev/v1/slack/oauth_redirect".into(),
        };
        let url = start_install(&table, Utc::now(), "t9", &link)
            .await
            .unwrap();
        assert!(url.starts_with("https://slack.com/oauth/v2/authorize?client_id=123.456&scope=chat%3Awrite%2Ccommands%2Cincoming-webhook&state="), "{url}");
        assert!(
            url.ends_with("&redirect_uri=https%3A%2F%2Fapi.dd0c.dev%2Fv1%2Fslack%2Foauth_redirect")
        );
        let state = url
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let item = table
            .get(&slack_oauth_state::key(state))
            .await
            .unwrap()
            .expect("state stored");
        assert_eq!(item["tenant_id"].as_str(), Some("t9"));
        let again = start_install(&table, Utc::now(), "t9", &link)
            .await
            .unwrap();
        assert_ne!(again, url, "each install gets its own state");
    }

    #[test]
    fn the_redirect_uri_is_configured_or_where_the_request_came() {
        let request = HttpRequest::new("GET", "/x")
            .with_header("host", "abc.execute-api.eu-west-1.amazonaws.com")
            .with_header("x-forwarded-proto", "https");
        assert_eq!(
            redirect_uri_for(None, &request).as_deref(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/v1/slack/oauth_redirect")
        );
        assert_eq!(
            redirect_uri_for(
                Some("https://api.dd0c.dev/v1/slack/oauth_redirect"),
                &request
            )
            .as_deref(),
            Some("https://api.dd0c.dev/v1/slack/oauth_redirect")
        );
        assert_eq!(redirect_uri_for(None, &HttpRequest::new("GET", "/x")), None);
    }
}
