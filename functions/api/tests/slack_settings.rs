//! `GET/PATCH /v1/settings/slack`: the digest time zone and hour (and default channel), with
//! 400 problems naming the bad field.

use std::sync::Arc;

use chrono::Utc;
use dd0c_api::Api;
use dd0c_shared::accounts::fake::ScriptedAccounts;
use dd0c_shared::auth::local;
use dd0c_shared::clock::{ManualClock, SharedClock};
use dd0c_shared::http::{HttpHandler, HttpRequest};
use dd0c_shared::slack::settings;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use serde_json::{json, Value};

struct World {
    api: Api,
    table: Arc<MemoryTable>,
}

fn world() -> World {
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    let table = Arc::new(MemoryTable::new(clock.clone()));
    let api = Api::local(table.clone(), clock, Arc::new(ScriptedAccounts::new()));
    World { api, table }
}

impl World {
    async fn call(&self, method: &str, tenant: &str, body: Option<Value>) -> (u16, Value) {
        let token = local::issue(tenant, local::DEMO_USER, 300).unwrap();
        let mut request = HttpRequest::new(method, "/v1/settings/slack")
            .with_header("authorization", &format!("Bearer {token}"));
        if let Some(b) = body {
            request = request.with_header("content-type", "application/json");
            request.body = b.to_string().into_bytes();
        }
        let response = self.api.handle(request).await;
        let value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        (response.status, value)
    }
}

#[tokio::test]
async fn defaults_then_a_valid_change_is_stored_and_read_back() {
    let w = world();
    let (status, v) = w.call("GET", "t1", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["digest_time_zone"], "UTC");
    assert_eq!(v["digest_hour"], 9);
    assert_eq!(v["default_channel"], Value::Null);

    let (status, v) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({"digest_time_zone": "Europe/Berlin", "digest_hour": 7})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["digest_time_zone"].as_str(), v["digest_hour"].as_i64()),
        (Some("Europe/Berlin"), Some(7))
    );
    let stored = settings::load_settings(w.table.as_ref(), "t1")
        .await
        .unwrap();
    assert_eq!(stored.digest_time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(stored.digest_hour, Some(7));
    let (zone, hour) = stored.digest_time();
    assert_eq!((zone.name(), hour), ("Europe/Berlin", 7));

    // A partial change leaves the rest as it was; hour 0 and 23 are both fine.
    let (status, v) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({"default_channel": "#cost-alerts", "digest_hour": 0})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["digest_time_zone"], "Europe/Berlin");
    assert_eq!(v["digest_hour"], 0);
    assert_eq!(v["default_channel"], "#cost-alerts");
    let (status, v) = w
        .call("PATCH", "t1", Some(json!({"digest_hour": 23})))
        .await;
    assert_eq!((status, v["digest_hour"].as_i64()), (200, Some(23)));

    // Another tenant is untouched.
    let (_, other) = w.call("GET", "t2", None).await;
    assert_eq!(other["digest_time_zone"], "UTC");
    assert_eq!(other["digest_hour"], 9);
}

#[tokio::test]
async fn an_unknown_zone_or_an_hour_out_of_range_is_a_400_naming_the_field() {
    let w = world();
    let (status, v) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({"digest_time_zone": "Mars/Base"})),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["field"], "digest_time_zone");
    assert_eq!(
        v["detail"],
        "digest_time_zone: unknown time zone \"Mars/Base\""
    );

    for hour in [24, -1, 1000] {
        let (status, v) = w
            .call("PATCH", "t1", Some(json!({"digest_hour": hour})))
            .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["field"], "digest_hour");
        assert_eq!(v["detail"], "digest_hour must be 0-23");
    }

    let (status, v) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({"default_channel": "general chat"})),
        )
        .await;
    assert_eq!(
        (status, v["field"].as_str()),
        (400, Some("default_channel")),
        "{v}"
    );

    let (status, v) = w
        .call("PATCH", "t1", Some(json!({"digest_hour": "nine"})))
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = w
        .call("PATCH", "t1", Some(json!({"time_zone": "UTC"})))
        .await;
    assert_eq!(status, 400, "{v}");

    // Nothing was stored by the rejected requests: a valid zone with a bad hour is rejected
    // as a whole.
    let (status, _) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({"digest_time_zone": "Asia/Tokyo", "digest_hour": 24})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, v) = w.call("GET", "t1", None).await;
    assert_eq!(
        (v["digest_time_zone"].as_str(), v["digest_hour"].as_i64()),
        (Some("UTC"), Some(9))
    );
}

#[test]
fn the_openapi_document_describes_the_settings() {
    let doc = dd0c_api::openapi::document();
    let patch = &doc["components"]["schemas"]["SlackSettingsPatch"]["properties"];
    assert!(patch["digest_time_zone"].is_object(), "{patch}");
    assert_eq!(patch["digest_hour"]["maximum"], 23, "{patch}");
    assert!(doc["paths"]["/v1/settings/slack"]["patch"].is_object());
}

async fn install_url(api: &Api, tenant: &str) -> (u16, Value) {
    let token = local::issue(tenant, local::DEMO_USER, 300).unwrap();
    let request = HttpRequest::new("GET", "/v1/settings/slack/install-url")
        .with_header("authorization", &format!("Bearer {token}"))
        .with_header("host", "abc.execute-api.us-east-1.amazonaws.com")
        .with_header("x-forwarded-proto", "https");
    let r = api.handle(request).await;
    (
        r.status,
        serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
    )
}

/// The install link names the caller's tenant through a single-use state; the slack
/// function's redirect then links the workspace to that tenant and no other.
#[tokio::test]
async fn the_install_url_is_bound_to_the_callers_tenant() {
    let w = world();
    // Not configured: 409 naming what is missing.
    let (status, v) = install_url(&w.api, "t1").await;
    assert_eq!(status, 409, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("client_id"), "{v}");

    let api = w.api.with_slack_install(dd0c_api::SlackInstall {
        client_id: "123.456".into(),
        redirect_uri: None,
    });
    let (status, v) = install_url(&api, "t1").await;
    assert_eq!(status, 200, "{v}");
    let url = v["url"].as_str().unwrap();
    assert!(url.starts_with("https://slack.com/oauth/v2/authorize?client_id=123.456&scope=chat%3Awrite%2Ccommands%2Cincoming-webhook&state="), "{url}");
    assert!(
        url.ends_with("&redirect_uri=https%3A%2F%2Fabc.execute-api.us-east-1.amazonaws.com%2Fv1%2Fslack%2Foauth_redirect"),
        "{url}"
    );
    let state = url
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let item = w
        .table
        .get(&dd0c_shared::entity::slack_oauth_state::key(state))
        .await
        .unwrap()
        .expect("state stored");
    assert_eq!(item["tenant_id"].as_str(), Some("t1"));

    // Without a sign-in there is no link.
    let r = api
        .handle(HttpRequest::new("GET", "/v1/settings/slack/install-url"))
        .await;
    assert_eq!(r.status, 401);
}

/// Routing through the API: per-account channels and the tag keys, merged key by key (`null`
/// removes one), read back, and refused with a 400 naming the field when malformed.
#[tokio::test]
async fn routing_by_account_and_by_tag_is_set_merged_and_validated() {
    let w = world();
    let (status, v) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({
                "account_channels": {"111122223333": "#prod-alerts", "444455556666": "#dev-alerts"},
                "channel_tag": "team",
                "tag_channels": {"payments": "#payments-alerts"},
                "mention_tag": "owner",
            })),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["account_channels"]["111122223333"], "#prod-alerts");
    assert_eq!(v["channel_tag"], "team");
    assert_eq!(v["tag_channels"]["payments"], "#payments-alerts");
    assert_eq!(v["mention_tag"], "owner");

    let (status, v) = w
        .call(
            "PATCH",
            "t1",
            Some(json!({"account_channels": {"444455556666": null}, "tag_channels": {"data": "#data-ops"}, "mention_tag": ""})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["account_channels"],
        json!({"111122223333": "#prod-alerts"})
    );
    assert_eq!(
        v["tag_channels"],
        json!({"payments": "#payments-alerts", "data": "#data-ops"})
    );
    assert_eq!(v["mention_tag"], Value::Null);
    assert_eq!(v["channel_tag"], "team");
    let stored = settings::load_settings(w.table.as_ref(), "t1")
        .await
        .unwrap();
    assert_eq!(stored.routing_version, 2);

    for (body, field) in [
        (
            json!({"account_channels": {"12345": "#x"}}),
            "account_channels",
        ),
        (
            json!({"account_channels": {"111122223333": "Not A Channel"}}),
            "account_channels",
        ),
        (
            json!({"tag_channels": {"payments": "#UPPER"}}),
            "tag_channels",
        ),
        (json!({"channel_tag": "x".repeat(129)}), "channel_tag"),
    ] {
        let (status, v) = w.call("PATCH", "t1", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
    }
    // Nothing of a refused change was written.
    let (_, v) = w.call("GET", "t1", None).await;
    assert_eq!(
        v["account_channels"],
        json!({"111122223333": "#prod-alerts"})
    );
}
