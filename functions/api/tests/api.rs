//! The API through its real handler: requests are API Gateway v2 events (the upstream
//! fixture with method, path, query, headers and body replaced) converted by the same glue as
//! on Lambda.

use std::sync::Arc;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_api::billing::FakeStripe;
use dd0c_api::{Api, ApiConfig};
use dd0c_shared::accounts::fake::{ScriptedAccount, ScriptedAccounts};
use dd0c_shared::accounts::{AccountsError, Address, Instance, Metric, Volume};
use dd0c_shared::auth::jwt::{Claims, JwtVerifier, StaticJwks};
use dd0c_shared::auth::local;
use dd0c_shared::clock::{Clock, ManualClock, SharedClock};
use dd0c_shared::domain::{Finding, FindingKind, Severity};
use dd0c_shared::entity::{account_link, api_key, audit, baseline, finding, stack, tenant};
use dd0c_shared::http::{HttpHandler, HttpResponse};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::{AttrValue, Table};
use dd0c_shared::tenancy::{self, Membership};
use dd0c_shared::testing::{cost_finding, drift_finding};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/api");
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool";
const CLIENT: &str = "test-client-id";
const ROLE_A: &str = "arn:aws:iam::111111111111:role/dd0c-readonly";
const ROLE_A2: &str = "arn:aws:iam::333333333333:role/dd0c-readonly";
const ROLE_B: &str = "arn:aws:iam::222222222222:role/dd0c-readonly";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

struct World {
    api: Api,
    table: Arc<MemoryTable>,
    clock: ManualClock,
    accounts: Arc<ScriptedAccounts>,
    stripe: Arc<FakeStripe>,
}

fn world() -> World {
    let clock = ManualClock::new(start());
    let shared_clock: SharedClock = Arc::new(clock.clone());
    let table = Arc::new(MemoryTable::new(shared_clock.clone()));
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/jwks.json")).unwrap())
            .unwrap();
    let verifier = JwtVerifier::rs256(
        ISSUER,
        CLIENT,
        Arc::new(StaticJwks(jwks)),
        shared_clock.clone(),
    );
    let accounts = Arc::new(ScriptedAccounts::new());
    let stripe = Arc::new(FakeStripe::default());
    let api = Api::new(
        table.clone(),
        shared_clock,
        accounts.clone(),
        Arc::new(verifier),
        stripe.clone(),
        ApiConfig::local(),
    );
    World {
        api,
        table,
        clock,
        accounts,
        stripe,
    }
}

fn claims(tenant: &str) -> Claims {
    Claims {
        sub: format!("sub-{tenant}"),
        iss: ISSUER.into(),
        aud: CLIENT.into(),
        exp: (start() + Duration::hours(1)).timestamp(),
        iat: start().timestamp(),
        token_use: "id".into(),
        tenant_id: Some(tenant.into()),
        email: Some(format!("user@{tenant}.example")),
        email_verified: true,
    }
}

fn sign_with(claims: &Claims, der: &str, kid: &str) -> String {
    let key = EncodingKey::from_rsa_der(&std::fs::read(format!("{FIXTURES}/{der}")).unwrap());
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn token(tenant: &str) -> String {
    sign_with(&claims(tenant), "test_signing_key.der", "test-key-1")
}

/// An API Gateway v2 event from the upstream fixture, converted as on Lambda.
fn event(
    method: &str,
    path_and_query: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> dd0c_shared::http::HttpRequest {
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{FIXTURES}/example-apigw-v2-request-no-authorizer.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    v["rawPath"] = json!(path);
    v["rawQueryString"] = json!(query);
    v["requestContext"]["http"]["method"] = json!(method);
    v["requestContext"]["http"]["path"] = json!(path);
    if let Some(a) = auth {
        v["headers"]["authorization"] = json!(a);
    }
    if let Some(b) = body {
        v["body"] = json!(b.to_string());
        v["headers"]["content-type"] = json!("application/json");
    }
    let event: ApiGatewayV2httpRequest = serde_json::from_value(v).unwrap();
    dd0c_shared::lambda::http_request(&event)
}

impl World {
    async fn call(
        &self,
        method: &str,
        path: &str,
        tenant: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        if let Some(t) = tenant {
            self.member(&format!("sub-{t}"), t).await;
        }
        let auth = tenant.map(|t| format!("Bearer {}", token(t)));
        self.raw(method, path, auth.as_deref(), body).await
    }

    /// The user with this Cognito `sub` has signed in before and belongs to `tenant`.
    async fn member(&self, subject: &str, tenant: &str) {
        let membership = Membership {
            subject: subject.into(),
            tenant_id: tenant.into(),
            joined_at: start(),
        };
        tenancy::add_member(self.table.as_ref(), &membership)
            .await
            .unwrap();
    }
    async fn raw(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let response: HttpResponse = self.api.handle(event(method, path, auth, body)).await;
        let value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        (response.status, value)
    }

    fn role(&self, arn: &str, external_id: &str) {
        let mut account = ScriptedAccount {
            external_id: external_id.into(),
            ..Default::default()
        };
        account.instances = vec![Instance {
            instance_id: "i-idle".into(),
            instance_type: "m5.large".into(),
            state: "running".into(),
            platform: None,
            launch_time: None,
            tenancy: None,
            spot: false,
        }];
        account
            .metrics
            .insert(Metric::InstanceCpu("i-idle".into()), 0.7);
        account.volumes = vec![Volume {
            volume_id: "vol-1".into(),
            volume_type: Some("gp3".into()),
            size_gb: 50.0,
            iops: None,
            state: "available".into(),
        }];
        account.addresses = vec![Address {
            allocation_id: Some("eipalloc-1".into()),
            public_ip: "203.0.113.9".into(),
            association_id: None,
        }];
        self.accounts.add_role(arn, account);
    }

    /// Setup + connect through the API; returns the connect response.
    async fn connect(&self, tenant: &str, account: &str, arn: &str) -> (u16, Value) {
        let (status, setup) = self
            .call("POST", "/v1/accounts/setup", Some(tenant), None)
            .await;
        assert_eq!(status, 200, "{setup}");
        self.role(arn, setup["external_id"].as_str().unwrap());
        self.call(
            "POST",
            "/v1/accounts",
            Some(tenant),
            Some(json!({ "aws_account_id": account, "role_arn": arn })),
        )
        .await
    }

    async fn seed_finding(
        &self,
        tenant: &str,
        n: u32,
        severity: Severity,
        kind: FindingKind,
    ) -> String {
        let event_id = format!("evt-{tenant}-{n:03}");
        let id = Finding::id_for(kind, &event_id);
        let typical = match kind {
            FindingKind::Drift => drift_finding(&id),
            FindingKind::CostAnomaly => cost_finding(&id),
        };
        let finding = Finding {
            tenant_id: tenant.into(),
            event_id,
            account_id: "111111111111".into(),
            event_time: start() - Duration::minutes(i64::from(n)),
            severity,
            created_at: start(),
            details: json!({ "stack_id": "stack-1" }),
            ..typical
        };
        finding::record(self.table.as_ref(), &finding)
            .await
            .unwrap();
        finding.id
    }
}

// ------------------------------------------------------------------------------------ auth

#[tokio::test]
async fn auth_cases() {
    let w = world();
    let (s, body) = w.raw("GET", "/v1/me", None, None).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(body["status"], 401);

    let ok = w.call("GET", "/v1/me", Some("tenant-a"), None).await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(ok.1["tenant_id"], "tenant-a");

    let cases: Vec<(&str, Claims, &str, &str)> = vec![
        (
            "expired",
            Claims {
                exp: (start() - Duration::minutes(5)).timestamp(),
                ..claims("tenant-a")
            },
            "test_signing_key.der",
            "expired",
        ),
        (
            "wrong issuer",
            Claims {
                iss: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other".into(),
                ..claims("tenant-a")
            },
            "test_signing_key.der",
            "another issuer",
        ),
        (
            "wrong client",
            Claims {
                aud: "other-client".into(),
                ..claims("tenant-a")
            },
            "test_signing_key.der",
            "another client",
        ),
        (
            "access token",
            Claims {
                token_use: "access".into(),
                ..claims("tenant-a")
            },
            "test_signing_key.der",
            "token_use",
        ),
        (
            "forged with another key",
            claims("tenant-a"),
            "other_key.der",
            "signature",
        ),
    ];
    for (name, c, key, expect) in cases {
        let t = sign_with(&c, key, "test-key-1");
        let (s, body) = w
            .raw("GET", "/v1/me", Some(&format!("Bearer {t}")), None)
            .await;
        assert_eq!(s, 401, "{name}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(expect),
            "{name}: {body}"
        );
    }

    // Tampered payload: the tenant swapped after signing.
    let good = token("tenant-a");
    let parts: Vec<&str> = good.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    payload["custom:tenant_id"] = json!("tenant-b");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(payload.to_string()),
        parts[2]
    );
    let (s, body) = w
        .raw("GET", "/v1/me", Some(&format!("Bearer {tampered}")), None)
        .await;
    assert_eq!(s, 401, "{body}");

    // Unknown kid, HS256 with the public key material (algorithm confusion), garbage.
    let (s, _) = w
        .raw(
            "GET",
            "/v1/me",
            Some(&format!(
                "Bearer {}",
                sign_with(&claims("tenant-a"), "test_signing_key.der", "nope")
            )),
            None,
        )
        .await;
    assert_eq!(s, 401);
    let hs = local::issue_with(b"whatever", start(), "tenant-a", "x@y", 60).unwrap();
    let (s, _) = w
        .raw("GET", "/v1/me", Some(&format!("Bearer {hs}")), None)
        .await;
    assert_eq!(s, 401);
    let (s, _) = w.raw("GET", "/v1/me", Some("Bearer not.a.jwt"), None).await;
    assert_eq!(s, 401);
    let (s, _) = w
        .raw("GET", "/v1/me", Some("Basic dXNlcjpwYXNz"), None)
        .await;
    assert_eq!(s, 401);
}

/// A user's tenant comes from dd0c's own membership record, keyed by the immutable `sub`:
/// the first sign-in creates a tenant, and a `custom:tenant_id` attribute (which a Cognito user
/// can write) chooses nothing.
#[tokio::test]
async fn a_new_user_gets_a_new_tenant_and_a_tenant_claim_chooses_nothing() {
    let w = world();
    w.seed_finding("tenant-a", 1, Severity::Critical, FindingKind::CostAnomaly)
        .await;
    let as_user = |sub: &str, tenant_claim: Option<&str>| {
        let c = Claims {
            sub: sub.into(),
            tenant_id: tenant_claim.map(str::to_owned),
            ..claims("ignored")
        };
        format!(
            "Bearer {}",
            sign_with(&c, "test_signing_key.der", "test-key-1")
        )
    };
    let first = as_user("new-user-1", None);
    let (s, me1) = w.raw("GET", "/v1/me", Some(&first), None).await;
    assert_eq!(s, 200, "{me1}");
    let tenant1 = me1["tenant_id"].as_str().unwrap().to_owned();
    assert!(tenant1.starts_with("t-"), "{me1}");
    let (_, again) = w.raw("GET", "/v1/me", Some(&first), None).await;
    assert_eq!(
        again["tenant_id"],
        tenant1.as_str(),
        "the same user keeps their tenant"
    );

    let intruder = as_user("new-user-2", Some("tenant-a"));
    let (s, me2) = w.raw("GET", "/v1/me", Some(&intruder), None).await;
    assert_eq!(s, 200, "{me2}");
    assert_ne!(me2["tenant_id"], "tenant-a", "{me2}");
    assert_ne!(me2["tenant_id"], tenant1.as_str(), "{me2}");
    let (s, list) = w.raw("GET", "/v1/anomalies", Some(&intruder), None).await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
}

#[tokio::test]
async fn a_token_signed_by_openssl_verifies() {
    let w = world();
    w.clock
        .set(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
    w.member("1f2e3d4c-0000-4000-8000-000000000001", "tenant-a")
        .await;
    let t = std::fs::read_to_string(format!("{FIXTURES}/openssl_signed_id_token.txt")).unwrap();
    let (s, body) = w
        .raw("GET", "/v1/me", Some(&format!("Bearer {}", t.trim())), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["tenant_id"], "tenant-a");
    // The fixture's token has an email but no `email_verified`: the user is named by `sub`
    // (an unverified email is whatever the user typed; issue 17).
    assert_eq!(body["user"], "1f2e3d4c-0000-4000-8000-000000000001");
}

#[tokio::test]
async fn local_tokens_work_on_the_local_api() {
    let clock: SharedClock = Arc::new(ManualClock::new(Utc::now()));
    let table = Arc::new(MemoryTable::new(clock.clone()));
    let api = Api::local(table, clock, Arc::new(ScriptedAccounts::new()));
    let t = local::issue("demo", local::DEMO_USER, 300).unwrap();
    let r = api
        .handle(event("GET", "/v1/me", Some(&format!("Bearer {t}")), None))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let other = local::issue_with(b"another secret", Utc::now(), "demo", "x", 300).unwrap();
    let r = api
        .handle(event(
            "GET",
            "/v1/me",
            Some(&format!("Bearer {other}")),
            None,
        ))
        .await;
    assert_eq!(r.status, 401);
}

// ------------------------------------------------------------------------------------ accounts

#[tokio::test]
async fn onboarding_connects_scans_and_enforces_the_free_tier() {
    let w = world();
    let (s, setup) = w
        .call("POST", "/v1/accounts/setup", Some("tenant-a"), None)
        .await;
    assert_eq!(s, 200, "{setup}");
    let ext = setup["external_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(ext).is_ok_and(|u| u.get_version_num() == 4));
    let url = setup["quick_create_url"].as_str().unwrap();
    assert!(url.starts_with("https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/quickcreate?templateURL=https%3A%2F%2F"), "{url}");
    assert!(
        url.contains(&format!("&param_ExternalId={ext}"))
            && url.contains("&stackName=dd0c-readonly")
            && url.contains("&param_Dd0cAccountId="),
        "{url}"
    );

    w.role(ROLE_A, ext);
    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-a"),
            Some(json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A })),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["account"]["status"], "active");
    let kinds: Vec<&str> = body["zombie_scan"]["zombies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["idle_instance", "unattached_volume", "unassociated_address"]
    );
    assert!(
        body["zombie_scan"]["monthly_waste_usd"].as_f64().unwrap() > 70.0,
        "{body}"
    );
    assert_eq!(
        w.accounts.calls.lock().unwrap().last().unwrap(),
        &(ROLE_A.to_owned(), ext.to_owned())
    );

    let (s, me) = w.call("GET", "/v1/me", Some("tenant-a"), None).await;
    assert_eq!(s, 200);
    assert_eq!(me["usage"]["summary"], "1/1 accounts used");
    assert_eq!(me["plan"], "free");

    let (s, body) = w
        .call("POST", "/v1/accounts/setup", Some("tenant-a"), None)
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["code"], "upgrade_required");
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .contains("1/1 accounts used"));

    let (s, health) = w
        .call(
            "GET",
            "/v1/accounts/111111111111/health",
            Some("tenant-a"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{health}");
    assert_eq!(health["role_ok"], true);
    assert_eq!(
        health["last_zombie_scan"]["zombies"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // The digest job's daily rescan goes through the same port and storage.
    let link = dd0c_shared::tenancy::account_link(w.table.as_ref(), "111111111111")
        .await
        .unwrap()
        .unwrap();
    w.clock.advance(Duration::days(1));
    let scan = dd0c_api::zombie_scan::scan_account(
        w.table.as_ref(),
        w.accounts.as_ref(),
        &link,
        &["us-east-1", "eu-west-1"],
        w.clock.now(),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(scan.zombies.len(), 6);
    w.clock.set(start()); // the test tokens expire an hour after start
    let (_, health) = w
        .call(
            "GET",
            "/v1/accounts/111111111111/health",
            Some("tenant-a"),
            None,
        )
        .await;
    assert_eq!(
        health["last_zombie_scan"]["scanned_at"],
        "2026-03-02T12:00:00Z"
    );
    // The daily scan's regions, added to the health's answer.
    assert_eq!(health["last_zombie_scan"]["region"], "all");
    assert_eq!(
        health["last_zombie_scan"]["regions_scanned"],
        json!(["us-east-1", "eu-west-1"])
    );
    assert_eq!(
        health["last_zombie_scan"]["zombies"][5]["region"],
        "eu-west-1"
    );

    let (s, list) = w.call("GET", "/v1/accounts", Some("tenant-a"), None).await;
    assert_eq!(s, 200);
    assert_eq!(list["items"][0]["account_id"], "111111111111");

    let (s, gone) = w
        .call(
            "DELETE",
            "/v1/accounts/111111111111",
            Some("tenant-a"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{gone}");
    assert_eq!(gone["status"], "disconnecting");
    let item = w
        .table
        .get(&account_link::key("111111111111"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        item["purge_after"],
        AttrValue::S("2026-03-04T12:00:00Z".into())
    );
    // A disconnected account frees the slot.
    let (s, _) = w
        .call("POST", "/v1/accounts/setup", Some("tenant-a"), None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn connection_failures_are_explained() {
    let w = world();
    let (_, setup) = w
        .call("POST", "/v1/accounts/setup", Some("tenant-a"), None)
        .await;
    let ext = setup["external_id"].as_str().unwrap().to_owned();

    w.role(ROLE_A, "an-older-external-id");
    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-a"),
            Some(json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A })),
        )
        .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (422, Some("external_id_mismatch")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains(&ext));

    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-a"),
            Some(json!({ "aws_account_id": "333333333333", "role_arn": ROLE_A2 })),
        )
        .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (422, Some("assume_role_denied")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("trust policy"));

    let mut denied = ScriptedAccount {
        external_id: ext.clone(),
        ..Default::default()
    };
    denied.denied_actions = vec!["ec2:DescribeInstances".into()];
    w.accounts.add_role(ROLE_A, denied);
    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-a"),
            Some(json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A })),
        )
        .await;
    // Connected (the role works), but the scan names the missing permission.
    assert_eq!(s, 201, "{body}");
    assert!(
        body["zombie_scan_error"]
            .as_str()
            .unwrap()
            .contains("ec2:DescribeInstances"),
        "{body}"
    );

    let bad = [
        (
            json!({ "aws_account_id": "1234", "role_arn": ROLE_A }),
            "aws_account_id",
        ),
        (
            json!({ "aws_account_id": "111111111111", "role_arn": "arn:aws:iam::111111111111:user/x" }),
            "role_arn",
        ),
        (
            json!({ "aws_account_id": "111111111111", "role_arn": ROLE_B }),
            "role_arn",
        ),
        (
            json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A, "region": "moon-1" }),
            "region",
        ),
        (json!({ "aws_account_id": "111111111111" }), "role_arn"),
        (
            json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A, "extra": 1 }),
            "extra",
        ),
    ];
    for (body, field) in bad {
        let (s, p) = w
            .call("POST", "/v1/accounts", Some("tenant-a"), Some(body.clone()))
            .await;
        assert_eq!(s, 400, "{body} → {p}");
        assert_eq!(p["field"], field, "{body} → {p}");
    }
    let r = w
        .api
        .handle(
            event(
                "POST",
                "/v1/accounts",
                Some(&format!("Bearer {}", token("tenant-a"))),
                None,
            )
            .with_body("{not json"),
        )
        .await;
    assert_eq!(r.status, 400);

    // A tenant without setup gets told to run it.
    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-c"),
            Some(json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A })),
        )
        .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (409, Some("setup_required")),
        "{body}"
    );

    // The assume-role calls carried the ExternalId.
    let sts_error = AccountsError::ExternalIdMismatch;
    assert!(!sts_error.to_string().is_empty());
}

// ------------------------------------------------------------------------------------ isolation

#[tokio::test]
async fn tenant_a_can_never_read_or_change_tenant_b() {
    let w = world();
    assert_eq!(w.connect("tenant-b", "222222222222", ROLE_B).await.0, 201);
    let b_finding = w
        .seed_finding("tenant-b", 1, Severity::Critical, FindingKind::CostAnomaly)
        .await;
    let (s, key) = w
        .call(
            "POST",
            "/v1/api-keys",
            Some("tenant-b"),
            Some(json!({ "name": "agent" })),
        )
        .await;
    assert_eq!(s, 201);
    let b_key_id = key["key"]["key_id"].as_str().unwrap().to_owned();

    let a = Some("tenant-a");
    // B's account answers as one nobody connected (404, 400 where a body names it): a 403
    // told anyone which accounts are customers (issue 17).
    assert_eq!(
        w.call("GET", "/v1/accounts/222222222222/health", a, None)
            .await
            .0,
        404
    );
    assert_eq!(
        w.call("DELETE", "/v1/accounts/222222222222", a, None)
            .await
            .0,
        404
    );
    assert_eq!(
        w.call(
            "PATCH",
            "/v1/accounts/222222222222/baselines/ec2/instance",
            a,
            Some(json!({ "sensitivity": "low" }))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        w.call("GET", &format!("/v1/anomalies/{b_finding}"), a, None)
            .await
            .0,
        404
    );
    assert_eq!(
        w.call(
            "PATCH",
            &format!("/v1/anomalies/{b_finding}"),
            a,
            Some(json!({ "action": "resolve" }))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        w.call("DELETE", &format!("/v1/api-keys/{b_key_id}"), a, None)
            .await
            .0,
        404
    );
    assert_eq!(
        w.call(
            "PUT",
            "/v1/policies",
            a,
            Some(json!({ "accounts": { "222222222222": { "governance_mode": "strict" } } }))
        )
        .await
        .0,
        400
    );
    assert_eq!(w.call("POST", "/v1/stacks", a, Some(json!({ "name": "s", "iac_tool": "terraform", "account_id": "222222222222", "region": "us-east-1" }))).await.0, 400);
    // A's setup and connect cannot take B's account.
    let (_, setup) = w.call("POST", "/v1/accounts/setup", a, None).await;
    w.role(ROLE_B, setup["external_id"].as_str().unwrap());
    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            a,
            Some(json!({ "aws_account_id": "222222222222", "role_arn": ROLE_B })),
        )
        .await;
    assert_eq!((s, body["code"].as_str()), (409, Some("account_taken")));

    for path in [
        "/v1/accounts",
        "/v1/anomalies",
        "/v1/drift-events",
        "/v1/stacks",
        "/v1/api-keys",
    ] {
        let (s, list) = w.call("GET", path, a, None).await;
        assert_eq!(s, 200, "{path}");
        assert_eq!(list["items"].as_array().unwrap().len(), 0, "{path}: {list}");
    }
    // B's things are untouched.
    let (_, bf) = w
        .call(
            "GET",
            &format!("/v1/anomalies/{b_finding}"),
            Some("tenant-b"),
            None,
        )
        .await;
    assert_eq!(bf["status"], "open");
    let (_, bl) = w.call("GET", "/v1/accounts", Some("tenant-b"), None).await;
    assert_eq!(bl["items"][0]["status"], "active");
    // B's next token is useless to A.
    for n in 2..5 {
        w.seed_finding("tenant-b", n, Severity::Info, FindingKind::CostAnomaly)
            .await;
    }
    let (_, page) = w
        .call("GET", "/v1/anomalies?limit=2", Some("tenant-b"), None)
        .await;
    let next = page["next"].as_str().unwrap();
    let (s, body) = w
        .call(
            "GET",
            &format!("/v1/anomalies?limit=2&next={next}"),
            a,
            None,
        )
        .await;
    assert_eq!((s, body["field"].as_str()), (400, Some("next")));
}

// ------------------------------------------------------------------------------------ findings

#[tokio::test]
async fn anomalies_list_filter_paginate_and_change_state() {
    let w = world();
    let t = Some("tenant-a");
    for n in 0..7 {
        let sev = if n % 2 == 0 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        w.seed_finding("tenant-a", n, sev, FindingKind::CostAnomaly)
            .await;
    }
    w.seed_finding("tenant-a", 50, Severity::High, FindingKind::Drift)
        .await;

    // Pages of 3 over 8 findings, newest first, no duplicates.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..5 {
        let path = match &next {
            Some(n) => format!("/v1/anomalies?limit=3&next={n}"),
            None => "/v1/anomalies?limit=3".into(),
        };
        let (s, page) = w.call("GET", &path, t, None).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        next = page["next"].as_str().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(seen[0], "cost-evt-tenant-a-000");
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 8);

    let (_, crit) = w
        .call("GET", "/v1/anomalies?severity=critical&limit=2", t, None)
        .await;
    assert_eq!(crit["items"].as_array().unwrap().len(), 2);
    assert!(crit["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["severity"] == "critical"));
    let (_, drift) = w
        .call("GET", "/v1/drift-events?stack=stack-1", t, None)
        .await;
    assert_eq!(drift["items"].as_array().unwrap().len(), 1);
    assert_eq!(drift["items"][0]["kind"], "drift");
    let since = (start() - Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, recent) = w
        .call("GET", &format!("/v1/anomalies?since={since}"), t, None)
        .await;
    assert_eq!(recent["items"].as_array().unwrap().len(), 3, "{recent}");

    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("severity=huge", "severity"),
        ("status=gone", "status"),
        ("since=yesterday", "since"),
        ("account=12", "account"),
        ("kind=x", "kind"),
        ("next=%21%21", "next"),
    ] {
        let (s, p) = w.call("GET", &format!("/v1/anomalies?{q}"), t, None).await;
        assert_eq!((s, p["field"].as_str()), (400, Some(field)), "{q}: {p}");
    }

    let id = "cost-evt-tenant-a-001";
    let (s, f) = w.call("GET", &format!("/v1/anomalies/{id}"), t, None).await;
    assert_eq!((s, f["status"].as_str()), (200, Some("open")));
    let until = (start() + Duration::days(1)).to_rfc3339();
    let (s, f) = w
        .call(
            "PATCH",
            &format!("/v1/anomalies/{id}"),
            t,
            Some(json!({ "action": "snooze", "snooze_until": until })),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["status"], "snoozed");
    assert_eq!(f["snooze_until"], "2026-03-02T12:00:00Z");
    let (_, snoozed) = w.call("GET", "/v1/anomalies?status=snoozed", t, None).await;
    assert_eq!(snoozed["items"].as_array().unwrap().len(), 1);
    let (s, f) = w
        .call(
            "PATCH",
            &format!("/v1/anomalies/{id}"),
            t,
            Some(json!({ "action": "mark_expected" })),
        )
        .await;
    assert_eq!((s, f["status"].as_str()), (200, Some("expected")));
    let (s, f) = w
        .call(
            "PATCH",
            &format!("/v1/anomalies/{id}"),
            t,
            Some(json!({ "action": "resolve" })),
        )
        .await;
    assert_eq!((s, f["status"].as_str()), (200, Some("resolved")));
    let (_, snoozed) = w.call("GET", "/v1/anomalies?status=snoozed", t, None).await;
    assert_eq!(snoozed["items"].as_array().unwrap().len(), 0);

    let past = (start() - Duration::hours(1)).to_rfc3339();
    for (body, field, status) in [
        (json!({ "action": "snooze" }), "snooze_until", 400),
        (
            json!({ "action": "snooze", "snooze_until": past }),
            "snooze_until",
            400,
        ),
        (json!({ "action": "explode" }), "action", 400),
        (
            json!({ "action": "resolve", "snooze_until": until }),
            "snooze_until",
            400,
        ),
    ] {
        let (s, p) = w
            .call(
                "PATCH",
                &format!("/v1/anomalies/{id}"),
                t,
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (status, Some(field)),
            "{body}: {p}"
        );
    }
    assert_eq!(
        w.call(
            "PATCH",
            "/v1/anomalies/cost-nope",
            t,
            Some(json!({ "action": "resolve" }))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        w.call("GET", "/v1/anomalies/cost-nope", t, None).await.0,
        404
    );

    // Every state change left an audit entry.
    let audit = dd0c_shared::store::query_all(w.table.as_ref(), audit::trail("tenant-a"))
        .await
        .unwrap();
    let mut actions: Vec<&str> = audit
        .iter()
        .filter_map(|i| i.get("action").and_then(AttrValue::as_str))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        ["finding.mark_expected", "finding.resolve", "finding.snooze"]
    );
}

// ------------------------------------------------------------------------------------ the rest

#[tokio::test]
async fn baselines_stacks_policies_keys_and_billing() {
    let w = world();
    let t = Some("tenant-a");
    assert_eq!(w.connect("tenant-a", "111111111111", ROLE_A).await.0, 201);

    let (s, b) = w
        .call(
            "PATCH",
            "/v1/accounts/111111111111/baselines/ec2/instance",
            t,
            Some(json!({ "sensitivity": "high" })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let item = w
        .table
        .get(&baseline::key(
            "tenant-a",
            "111111111111",
            "ec2",
            "instance",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item["sensitivity"], AttrValue::S("high".into()));
    let (s, p) = w
        .call(
            "PATCH",
            "/v1/accounts/111111111111/baselines/ec2/instance",
            t,
            Some(json!({ "sensitivity": "extreme" })),
        )
        .await;
    assert_eq!((s, p["field"].as_str()), (400, Some("sensitivity")));
    assert_eq!(
        w.call(
            "PATCH",
            "/v1/accounts/999999999999/baselines/ec2/instance",
            t,
            Some(json!({ "sensitivity": "low" }))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        w.call(
            "PATCH",
            "/v1/accounts/abc/baselines/ec2/instance",
            t,
            Some(json!({ "sensitivity": "low" }))
        )
        .await
        .0,
        400
    );

    let (s, stack) = w.call("POST", "/v1/stacks", t, Some(json!({ "name": "network", "iac_tool": "terraform", "account_id": "111111111111", "region": "us-east-1", "state_location": "s3://state/network.tfstate" }))).await;
    assert_eq!(s, 201, "{stack}");
    let id = stack["stack_id"].as_str().unwrap();
    let (s, p) = w
        .call(
            "PATCH",
            &format!("/v1/stacks/{id}"),
            t,
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!((s, p["enabled"].as_bool()), (200, Some(false)), "{p}");
    let (s, p) = w
        .call(
            "PATCH",
            "/v1/stacks",
            t,
            Some(json!({ "stack_id": id, "name": "net" })),
        )
        .await;
    assert_eq!((s, p["name"].as_str()), (200, Some("net")), "{p}");
    assert_eq!(
        w.call("PATCH", "/v1/stacks", t, Some(json!({ "name": "x" })))
            .await
            .0,
        400
    );
    assert_eq!(
        w.call("PATCH", "/v1/stacks/nope", t, Some(json!({ "name": "x" })))
            .await
            .0,
        404
    );
    let (s, p) = w.call("POST", "/v1/stacks", t, Some(json!({ "name": "x", "iac_tool": "ansible", "account_id": "111111111111", "region": "us-east-1" }))).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("iac_tool")));
    let (_, stacks) = w.call("GET", "/v1/stacks", t, None).await;
    assert_eq!(stacks["items"][0]["name"], "net");
    // Ownership tags: a Terraform default_tags pair makes the resources carrying it the
    // stack's (decision 0430); set on create or patch, replaced whole, `{}` removes them.
    let (s, p) = w
        .call(
            "PATCH",
            &format!("/v1/stacks/{id}"),
            t,
            Some(json!({ "ownership_tags": { "Stack": "network", "team": "net" } })),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        p["ownership_tags"],
        json!({ "Stack": "network", "team": "net" })
    );
    let (s, p) = w
        .call(
            "PATCH",
            &format!("/v1/stacks/{id}"),
            t,
            Some(json!({ "ownership_tags": { "Stack": "network" } })),
        )
        .await;
    assert_eq!(
        (s, &p["ownership_tags"]),
        (200, &json!({ "Stack": "network" }))
    );
    let (_, p) = w.call("GET", &format!("/v1/stacks/{id}"), t, None).await;
    assert_eq!(
        p["stack"]["ownership_tags"],
        json!({ "Stack": "network" }),
        "{p}"
    );
    let too_many: serde_json::Map<String, serde_json::Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (tags, why) in [
        (json!({ "aws:cloudformation:stack-name": "net" }), "aws:"),
        (json!({ "": "net" }), "tag key"),
        (json!({ "Stack": "" }), "value"),
        (json!(too_many), "at most 10"),
    ] {
        let (s, p) = w
            .call(
                "PATCH",
                &format!("/v1/stacks/{id}"),
                t,
                Some(json!({ "ownership_tags": tags })),
            )
            .await;
        assert_eq!(
            (s, p["field"].as_str()),
            (400, Some("ownership_tags")),
            "{p}"
        );
        assert!(p.to_string().contains(why), "{why}: {p}");
    }
    let (s, created) = w.call("POST", "/v1/stacks", t, Some(json!({ "name": "payments", "iac_tool": "terraform", "account_id": "111111111111", "region": "us-east-1", "ownership_tags": { "Project": "payments" } }))).await;
    assert_eq!(
        (s, &created["ownership_tags"]),
        (201, &json!({ "Project": "payments" })),
        "{created}"
    );
    let (s, p) = w.call("POST", "/v1/stacks", t, Some(json!({ "name": "bad", "iac_tool": "terraform", "account_id": "111111111111", "region": "us-east-1", "ownership_tags": { "aws:x": "y" } }))).await;
    assert_eq!(
        (s, p["field"].as_str()),
        (400, Some("ownership_tags")),
        "{p}"
    );
    // Owner and channel are set through the API; GET shows them with the drift score.
    let (s, p) = w
        .call(
            "PATCH",
            &format!("/v1/stacks/{id}"),
            t,
            Some(json!({ "owner": "U0123ABCDE", "slack_channel": "#network-alerts" })),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let (s, detail) = w.call("GET", &format!("/v1/stacks/{id}"), t, None).await;
    assert_eq!(s, 200, "{detail}");
    assert_eq!(detail["stack"]["name"], "net");
    assert_eq!(detail["owner"], "U0123ABCDE");
    assert_eq!(detail["slack_channel"], "#network-alerts");
    assert_eq!(detail["drift_score"], 100.0);
    assert_eq!(detail["managed_resources"], 0);
    assert_eq!(detail["recent_drift"], json!([]));
    for (body, field) in [
        (json!({ "slack_channel": "general" }), "slack_channel"),
        (json!({ "slack_channel": "#Bad Name" }), "slack_channel"),
        (json!({ "owner": "x".repeat(129) }), "owner"),
    ] {
        let (s, p) = w
            .call("PATCH", &format!("/v1/stacks/{id}"), t, Some(body))
            .await;
        assert_eq!((s, p["field"].as_str()), (400, Some(field)), "{p}");
    }
    // Empty removes.
    w.call(
        "PATCH",
        &format!("/v1/stacks/{id}"),
        t,
        Some(json!({ "slack_channel": "" })),
    )
    .await;
    let (_, detail) = w.call("GET", &format!("/v1/stacks/{id}"), t, None).await;
    assert_eq!(detail["slack_channel"], serde_json::Value::Null);
    assert_eq!(w.call("GET", "/v1/stacks/nope", t, None).await.0, 404);

    let (s, pol) = w.call("PUT", "/v1/policies", t, Some(json!({ "tenant": { "governance_mode": "strict" }, "accounts": { "111111111111": { "panic_mode": true } } }))).await;
    assert_eq!(s, 200, "{pol}");
    assert_eq!(pol["overrides"]["tenant"]["governance_mode"], "strict");
    assert_eq!(
        pol["overrides"]["accounts"]["111111111111"]["panic_mode"],
        true
    );
    // Looser than the tenant's own strict override, and looser than the system (audit → nothing looser exists, so use the tenant floor).
    let (s, p) = w
        .call(
            "PUT",
            "/v1/policies",
            t,
            Some(json!({ "accounts": { "111111111111": { "governance_mode": "audit" } } })),
        )
        .await;
    assert_eq!(
        (s, p["field"].as_str()),
        (400, Some("accounts.111111111111.governance_mode")),
        "{p}"
    );
    let (s, p) = w
        .call(
            "PUT",
            "/v1/policies",
            t,
            Some(json!({ "tenant": { "governance_mode": "sometimes" } })),
        )
        .await;
    assert_eq!(s, 400, "{p}");
    assert!(p["field"].as_str().unwrap().starts_with("tenant"), "{p}");
    let (_, got) = w.call("GET", "/v1/policies", t, None).await;
    assert_eq!(got["system"]["governance_mode"], "audit");
    assert_eq!(got["overrides"]["tenant"]["governance_mode"], "strict");

    // API keys: shown once, stored as a hash, usable on agent routes only, revocable.
    let (s, created) = w
        .call(
            "POST",
            "/v1/api-keys",
            t,
            Some(json!({ "name": "ci agent" })),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let plain = created["api_key"].as_str().unwrap().to_owned();
    let key_id = created["key"]["key_id"].as_str().unwrap().to_owned();
    let stored = w
        .table
        .get(&api_key::key(&dd0c_shared::auth::api_keys::hash_key(
            &plain,
        )))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.values().any(|v| v.as_str() == Some(plain.as_str())),
        "the plain key is never stored"
    );
    assert_eq!(
        dd0c_shared::auth::api_keys::authenticate(w.table.as_ref(), &format!("Bearer {plain}"))
            .await
            .unwrap(),
        Some(("tenant-a".to_owned(), key_id.clone()))
    );
    let (s, _) = w
        .raw(
            "GET",
            "/v1/anomalies",
            Some(&format!("Bearer {plain}")),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let (s, p) = w
        .raw(
            "POST",
            "/v1/api-keys",
            Some(&format!("Bearer {plain}")),
            Some(json!({ "name": "escalate" })),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (403, Some("user_token_required")));
    let (_, keys_page) = w.call("GET", "/v1/api-keys", t, None).await;
    assert_eq!(keys_page["items"][0]["key_id"], key_id.as_str());
    assert!(keys_page.to_string().find(&plain).is_none());
    assert_eq!(
        w.call("POST", "/v1/api-keys", t, Some(json!({ "name": "" })))
            .await
            .0,
        400
    );
    let r = w
        .api
        .handle(event(
            "DELETE",
            &format!("/v1/api-keys/{key_id}"),
            Some(&format!("Bearer {}", token("tenant-a"))),
            None,
        ))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        w.raw(
            "GET",
            "/v1/anomalies",
            Some(&format!("Bearer {plain}")),
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        w.call("DELETE", &format!("/v1/api-keys/{key_id}"), t, None)
            .await
            .0,
        404
    );

    // Billing: portal needs a customer; checkout is per account.
    let (s, p) = w.call("POST", "/v1/billing/portal", t, None).await;
    assert_eq!((s, p["code"].as_str()), (409, Some("no_customer")));
    let (s, c) = w
        .call(
            "POST",
            "/v1/billing/checkout",
            t,
            Some(json!({ "accounts": 3 })),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    assert!(c["url"]
        .as_str()
        .unwrap()
        .starts_with("https://checkout.stripe.test/"));
    let sent = w.stripe.checkouts.lock().unwrap().last().cloned().unwrap();
    assert_eq!((sent.quantity, sent.tenant_id.as_str()), (3, "tenant-a"));
    assert_eq!(
        w.call(
            "POST",
            "/v1/billing/checkout",
            t,
            Some(json!({ "accounts": 0 }))
        )
        .await
        .1["field"],
        "accounts"
    );
    w.table
        .update(
            &tenant::profile_key("tenant-a"),
            dd0c_shared::store::Update::new().set("stripe_customer_id", "cus_1"),
        )
        .await
        .unwrap();
    let (s, p) = w.call("POST", "/v1/billing/portal", t, None).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(w.stripe.portals.lock().unwrap()[0].0, "cus_1");
}

/// One stored stack: the drift side's attributes never hide the declaration, and a stack the
/// drift side learnt before anyone declared it lists like a declared one.
#[tokio::test]
async fn the_api_and_the_drift_side_share_one_stack() {
    let w = world();
    let t = Some("tenant-a");
    assert_eq!(w.connect("tenant-a", "111111111111", ROLE_A).await.0, 201);
    let (s, declared) = w.call("POST", "/v1/stacks", t, Some(json!({ "name": "network", "iac_tool": "cloudformation", "account_id": "111111111111", "region": "us-east-1" }))).await;
    assert_eq!(s, 201, "{declared}");
    let id = declared["stack_id"].as_str().unwrap();
    let mut drift_side = stack::Stack::new("tenant-a", id);
    drift_side.owner = Some("team-network".into());
    stack::put_stack(w.table.as_ref(), &drift_side, start())
        .await
        .unwrap();
    stack::refresh_stack_score(w.table.as_ref(), "tenant-a", "learnt", start())
        .await
        .unwrap();
    let (s, list) = w.call("GET", "/v1/stacks", t, None).await;
    assert_eq!(s, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let by_id = |id: &str| items.iter().find(|i| i["stack_id"] == id).unwrap().clone();
    assert_eq!(by_id(id), declared, "{list}");
    assert_eq!(by_id("learnt")["iac_tool"], "terraform");
    let (s, changed) = w
        .call(
            "PATCH",
            &format!("/v1/stacks/{id}"),
            t,
            Some(json!({ "name": "net" })),
        )
        .await;
    assert_eq!(
        (s, changed["name"].as_str()),
        (200, Some("net")),
        "{changed}"
    );
    assert_eq!(changed["iac_tool"], "cloudformation");
    let stored = stack::load_stack(w.table.as_ref(), "tenant-a", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.owner.as_deref(), Some("team-network"));
    assert_eq!(stored.name, "net");
}

#[tokio::test]
async fn openapi_unknown_routes_and_methods() {
    let w = world();
    let (s, doc) = w.raw("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/accounts/setup"]["post"].is_object());
    let (s, _) = w.call("GET", "/v1/nothing", Some("tenant-a"), None).await;
    assert_eq!(s, 404);
    let r = w
        .api
        .handle(event(
            "PUT",
            "/v1/me",
            Some(&format!("Bearer {}", token("tenant-a"))),
            None,
        ))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET");
}

#[tokio::test]
async fn finding_ids_and_patches_are_validated_naming_the_field() {
    let w = world();
    let t = Some("tenant-a");
    let id = w
        .seed_finding("tenant-a", 1, Severity::High, FindingKind::CostAnomaly)
        .await;
    // Not a finding id, however long.
    let bad_id = "!".repeat(200);
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({ "action": "resolve" }))),
    ] {
        let (s, p) = w
            .call(method, &format!("/v1/anomalies/{bad_id}"), t, body)
            .await;
        assert_eq!((s, p["field"].as_str()), (400, Some("id")), "{method}: {p}");
    }
    // Only transitions that mean something: an open finding cannot be reopened, a resolved
    // one not snoozed or marked expected.
    let path = format!("/v1/anomalies/{id}");
    let (s, p) = w
        .call("PATCH", &path, t, Some(json!({ "action": "reopen" })))
        .await;
    assert_eq!((s, p["field"].as_str()), (400, Some("action")), "{p}");
    let (s, _) = w
        .call("PATCH", &path, t, Some(json!({ "action": "resolve" })))
        .await;
    assert_eq!(s, 200);
    let until = (start() + Duration::hours(1)).to_rfc3339();
    for body in [
        json!({ "action": "snooze", "snooze_until": until }),
        json!({ "action": "mark_expected" }),
        json!({ "action": "resolve" }),
    ] {
        let (s, p) = w.call("PATCH", &path, t, Some(body.clone())).await;
        assert_eq!(
            (s, p["field"].as_str()),
            (400, Some("action")),
            "{body}: {p}"
        );
        assert_eq!(
            p["detail"].as_str().unwrap_or_default(),
            format!(
                "{} is not allowed on a resolved finding",
                body["action"].as_str().unwrap()
            ),
            "{body}: {p}"
        );
    }
    let (s, p) = w
        .call("PATCH", &path, t, Some(json!({ "action": "reopen" })))
        .await;
    assert_eq!((s, p["status"].as_str()), (200, Some("open")), "{p}");
    // Unknown fields are named.
    let (s, p) = w
        .call(
            "PATCH",
            &path,
            t,
            Some(json!({ "action": "resolve", "status": "resolved" })),
        )
        .await;
    assert_eq!(s, 400, "{p}");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("status"),
        "{p}"
    );
}

#[tokio::test]
async fn another_tenants_account_answers_like_an_account_nobody_connected() {
    let w = world();
    assert_eq!(w.connect("tenant-b", "222222222222", ROLE_B).await.0, 201);
    let a = Some("tenant-a");
    let (_, setup) = w.call("POST", "/v1/accounts/setup", a, None).await;
    assert!(setup["external_id"].is_string(), "{setup}");
    // 333333333333 has a dd0c role (for some other ExternalId) but no tenant.
    w.role(ROLE_A2, "someone-elses-external-id");
    // The field may name the account (`accounts.<id>`): compared with the id taken out.
    let answer = |(s, body): (u16, Value), account: &str| {
        (
            s,
            body["code"].clone(),
            body["field"].as_str().map(|f| f.replace(account, "{}")),
        )
    };
    for (method, path, body) in [
        ("GET", "/v1/accounts/{}/health", None),
        ("DELETE", "/v1/accounts/{}", None),
        (
            "PATCH",
            "/v1/accounts/{}/baselines/ec2/instance",
            Some(json!({ "sensitivity": "low" })),
        ),
        (
            "POST",
            "/v1/stacks",
            Some(
                json!({ "name": "s", "iac_tool": "terraform", "account_id": "{}", "region": "us-east-1" }),
            ),
        ),
        (
            "PUT",
            "/v1/policies",
            Some(json!({ "accounts": { "{}": { "governance_mode": "strict" } } })),
        ),
        (
            "POST",
            "/v1/accounts",
            Some(
                json!({ "aws_account_id": "{}", "role_arn": "arn:aws:iam::{}:role/dd0c-readonly" }),
            ),
        ),
    ] {
        let for_account = |account: &str| {
            (
                path.replace("{}", account),
                body.as_ref().map(|b| {
                    serde_json::from_str::<Value>(&b.to_string().replace("{}", account)).unwrap()
                }),
            )
        };
        let (p_theirs, b_theirs) = for_account("222222222222");
        let (p_none, b_none) = for_account("333333333333");
        let theirs = answer(w.call(method, &p_theirs, a, b_theirs).await, "222222222222");
        let nobodys = answer(w.call(method, &p_none, a, b_none).await, "333333333333");
        assert_eq!(theirs, nobodys, "{method} {path}");
        assert_ne!(theirs.0, 403, "{method} {path}");
    }
}

/// `POST /v1/stacks/{id}/resources` (issue 16): a state's resources become managed by the
/// stack, by an API key as by a user; bad bodies are refused naming the field at fault.
#[tokio::test]
async fn a_state_import_makes_resources_managed_by_the_stack() {
    use dd0c_shared::domain::drift::{STATE_IMPORT_EVENT_ID, STATE_IMPORT_IDENTITY};
    use dd0c_shared::entity::resource;

    let w = world();
    let t = Some("tenant-a");
    let (s, created) = w
        .call("POST", "/v1/api-keys", t, Some(json!({ "name": "ci" })))
        .await;
    assert_eq!(s, 201, "{created}");
    let key = format!("Bearer {}", created["api_key"].as_str().unwrap());
    let import = |resources: Value| json!({ "source": "terraform", "resources": resources });
    let sg = json!({ "type": "aws_security_group", "address": "module.net.aws_security_group.web", "id": "sg-0abc" });
    let body = import(json!([
        sg,
        { "type": "aws_s3_bucket", "address": "aws_s3_bucket.logs[\"a\"]", "id": "acme-logs" },
        { "type": "aws_s3_bucket", "address": "aws_s3_bucket.logs[\"a\"]", "id": "acme-logs" },
        { "type": "aws_vpc", "address": "aws_vpc.main", "id": "vpc-1" },
    ]));
    let (s, done) = w
        .raw(
            "POST",
            "/v1/stacks/net-prod/resources",
            Some(&key),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(
        done,
        json!({ "stack_id": "net-prod", "managed": 2, "already_managed": 0, "untracked": 1 })
    );
    let managed = resource::managed_resource(
        w.table.as_ref(),
        "tenant-a",
        "ec2:security-group",
        "sg-0abc",
    )
    .await
    .unwrap()
    .expect("managed");
    assert_eq!(managed.managed_by.stack.as_deref(), Some("net-prod"));
    assert_eq!(managed.managed_by.identity, STATE_IMPORT_IDENTITY);
    assert_eq!(managed.last_iac_event_id, STATE_IMPORT_EVENT_ID);
    assert_eq!(
        managed.address.as_deref(),
        Some("module.net.aws_security_group.web")
    );
    // The stack was created and lists; the import is audited; another tenant sees nothing.
    let (_, stacks) = w.call("GET", "/v1/stacks", t, None).await;
    assert_eq!(stacks["items"][0]["stack_id"], "net-prod", "{stacks}");
    assert_eq!(stacks["items"][0]["iac_tool"], "terraform", "{stacks}");
    assert!(
        dd0c_shared::store::query_all(w.table.as_ref(), audit::trail("tenant-a"))
            .await
            .unwrap()
            .iter()
            .any(|i| i.get("action").and_then(AttrValue::as_str) == Some("stack.import"))
    );
    assert!(resource::managed_resource(
        w.table.as_ref(),
        "tenant-b",
        "ec2:security-group",
        "sg-0abc"
    )
    .await
    .unwrap()
    .is_none());
    // Idempotent: the same import again writes the same items.
    let (s, again) = w
        .raw(
            "POST",
            "/v1/stacks/net-prod/resources",
            Some(&key),
            Some(body),
        )
        .await;
    assert_eq!((s, &again), (200, &done));

    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "type": "aws_instance", "address": format!("aws_instance.x[{i}]"), "id": format!("i-{i}") }))
        .collect();
    let long_id = "x".repeat(2049);
    for (path, body, field) in [
        (
            "/v1/stacks/net-prod/resources",
            import(json!([])),
            "resources",
        ),
        (
            "/v1/stacks/net-prod/resources",
            import(json!(many)),
            "resources",
        ),
        (
            "/v1/stacks/net-prod/resources",
            json!({ "source": "pulumi", "resources": [sg] }),
            "source",
        ),
        (
            "/v1/stacks/net-prod/resources",
            json!({ "resources": "all" }),
            "body",
        ),
        // Attribute values are refused, not ignored.
        (
            "/v1/stacks/net-prod/resources",
            import(
                json!([{ "type": "aws_db_instance", "address": "aws_db_instance.a", "id": "a", "attributes": { "password": "x" } }]),
            ),
            "attributes",
        ),
        (
            "/v1/stacks/net-prod/resources",
            import(json!([sg, { "type": "aws instance", "address": "a", "id": "i-1" }])),
            "resources[1].type",
        ),
        (
            "/v1/stacks/net-prod/resources",
            import(json!([{ "type": "aws_instance", "address": " ", "id": "i-1" }])),
            "resources[0].address",
        ),
        (
            "/v1/stacks/net-prod/resources",
            import(json!([{ "type": "aws_instance", "address": "a", "id": long_id }])),
            "resources[0].id",
        ),
        (
            "/v1/stacks/a%2Fb/resources",
            import(json!([sg])),
            "stack_id",
        ),
    ] {
        let (s, p) = w.raw("POST", path, Some(&key), Some(body)).await;
        assert_eq!(s, 400, "{field}: {p}");
        assert_eq!(p["field"], field, "{p}");
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
    }
    // A stack declared for another tool takes no Terraform state.
    assert_eq!(w.connect("tenant-a", "111111111111", ROLE_A).await.0, 201);
    let (s, cfn) = w.call("POST", "/v1/stacks", t, Some(json!({ "name": "app", "iac_tool": "cloudformation", "account_id": "111111111111", "region": "us-east-1" }))).await;
    assert_eq!(s, 201, "{cfn}");
    let path = format!("/v1/stacks/{}/resources", cfn["stack_id"].as_str().unwrap());
    let (s, p) = w
        .raw("POST", &path, Some(&key), Some(import(json!([sg]))))
        .await;
    assert_eq!((s, p["field"].as_str()), (409, Some("stack_id")), "{p}");
    // Anonymous callers are refused.
    assert_eq!(
        w.raw(
            "POST",
            "/v1/stacks/net-prod/resources",
            None,
            Some(import(json!([sg])))
        )
        .await
        .0,
        401
    );
}

/// `GET /v1/stacks/{id}/timeline` (issue 16): the stack's IaC changes and drift, newest
/// first, a page at a time, with who made them, how and from where; `GET /v1/drift-score`:
/// the organisation's score and each stack's 14-day trend.
#[tokio::test]
async fn a_stacks_timeline_and_the_organisations_drift_score() {
    use dd0c_shared::domain::actor::{Actor, ActorKind, IacTool, Source};
    use dd0c_shared::domain::drift::{
        AttributeChange, ChangeClass, ChangeEvent, DriftEvent, DriftEventKind, ManagedBy,
    };
    use dd0c_shared::entity::{drift_event, resource};

    let w = world();
    let t = Some("tenant-a");
    let managed_by = ManagedBy {
        tool: Some(IacTool::Terraform),
        identity: "arn:aws:iam::111111111111:role/terraform".into(),
        stack: Some("web".into()),
    };
    let apply = ChangeEvent {
        tenant_id: "tenant-a".into(),
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        event_id: "evt-apply".into(),
        event_time: start() - Duration::days(2),
        action: "CreateSecurityGroup".into(),
        resource_type: "ec2:security-group".into(),
        resource_id: "sg-1".into(),
        changes: vec![AttributeChange::new(
            "group",
            json!(null),
            json!({"name": "web"}),
        )],
        actor: Actor {
            arn: "arn:aws:sts::111111111111:assumed-role/terraform/ci".into(),
            name: "terraform/ci".into(),
            kind: ActorKind::AssumedRole,
            source: Source::Iac(IacTool::Terraform),
            ip: Some("198.51.100.24".into()),
            mfa: false,
            user_agent: Some("Terraform/1.7.4".into()),
        },
        class: ChangeClass::Iac,
        managed_by: Some(managed_by.clone()),
    };
    resource::record_change_event(w.table.as_ref(), &apply, i64::MAX)
        .await
        .unwrap();
    let console = ChangeEvent {
        event_id: "evt-console".into(),
        event_time: start() - Duration::days(1),
        action: "AuthorizeSecurityGroupIngress".into(),
        changes: vec![AttributeChange::new(
            "ingress",
            json!(null),
            json!({"cidr": "0.0.0.0/0", "from_port": 22}),
        )],
        actor: Actor {
            arn: "arn:aws:iam::111111111111:user/jane".into(),
            name: "jane".into(),
            kind: ActorKind::IamUser,
            source: Source::Console,
            ip: Some("203.0.113.77".into()),
            mfa: true,
            user_agent: None,
        },
        class: ChangeClass::Drift,
        ..apply.clone()
    };
    resource::record_change_event(w.table.as_ref(), &console, i64::MAX)
        .await
        .unwrap();
    let drift = DriftEvent {
        id: "drift-evt-console".into(),
        kind: DriftEventKind::Detected,
        tenant_id: "tenant-a".into(),
        account_id: "111111111111".into(),
        region: "us-east-1".into(),
        resource_type: "ec2:security-group".into(),
        resource_id: "sg-1".into(),
        resource_address: Some("aws_security_group.web".into()),
        stack: Some("web".into()),
        managed_by: Some(managed_by),
        changes: console.changes.clone(),
        change: Some(console.clone()),
        report_id: None,
        detected_at: console.event_time,
        resolves: Vec::new(),
        resolution: None,
    };
    // Scored clean three days ago, before the console change.
    stack::refresh_stack_score(
        w.table.as_ref(),
        "tenant-a",
        "web",
        start() - Duration::days(3),
    )
    .await
    .unwrap();
    drift_event::record_drift_event(w.table.as_ref(), &drift)
        .await
        .unwrap();
    drift_event::set_drift_severity(w.table.as_ref(), &drift, Severity::High)
        .await
        .unwrap();
    stack::refresh_stack_score(
        w.table.as_ref(),
        "tenant-a",
        "web",
        start() - Duration::days(1),
    )
    .await
    .unwrap();

    // Newest first, one entry a page: the drift (the console change shows only as its drift),
    // then the Terraform apply.
    let mut entries = Vec::new();
    let mut path = "/v1/stacks/web/timeline?limit=1".to_owned();
    for _ in 0..4 {
        let (s, page) = w.call("GET", &path, t, None).await;
        assert_eq!(s, 200, "{page}");
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/stacks/web/timeline?limit=1&next={next}"),
            None => break,
        }
    }
    assert_eq!(entries.len(), 2, "{entries:?}");
    let (d, c) = (&entries[0], &entries[1]);
    assert_eq!(
        (
            d["kind"].as_str(),
            d["finding_id"].as_str(),
            d["status"].as_str(),
            d["severity"].as_str()
        ),
        (
            Some("drift"),
            Some("drift-evt-console"),
            Some("open"),
            Some("high")
        )
    );
    assert_eq!(
        (
            d["who"].as_str(),
            d["via"].as_str(),
            d["source_ip"].as_str(),
            d["mfa"].as_bool()
        ),
        (
            Some("jane"),
            Some("console"),
            Some("203.0.113.77"),
            Some(true)
        )
    );
    assert_eq!(d["resource_address"], "aws_security_group.web");
    assert_eq!(d["changes"][0]["attribute"], "ingress");
    assert_eq!(d["changes"][0]["old"], Value::Null);
    assert_eq!(d["changes"][0]["new"]["cidr"], "0.0.0.0/0");
    assert_eq!(d["time"], "2026-02-28T12:00:00Z");
    assert_eq!(
        (
            c["kind"].as_str(),
            c["class"].as_str(),
            c["action"].as_str(),
            c["via"].as_str()
        ),
        (
            Some("change"),
            Some("iac"),
            Some("CreateSecurityGroup"),
            Some("Terraform")
        )
    );
    assert_eq!(c["finding_id"], Value::Null);

    let (s, all) = w.call("GET", "/v1/stacks/web/timeline", t, None).await;
    assert_eq!((s, all["items"].as_array().map(Vec::len)), (200, Some(2)));
    assert_eq!(all["next"], Value::Null);

    // Bad input names its field; another tenant has no such stack.
    for (query, field) in [
        ("next=%%%", "next"),
        ("next=bm90LWEtcG9zaXRpb24", "next"),
        ("limit=0", "limit"),
    ] {
        let (s, p) = w
            .call("GET", &format!("/v1/stacks/web/timeline?{query}"), t, None)
            .await;
        assert_eq!((s, p["field"].as_str()), (400, Some(field)), "{query}: {p}");
    }
    assert_eq!(
        w.call("GET", "/v1/stacks/a%20b/timeline", t, None).await.0,
        400
    );
    assert_eq!(
        w.call("GET", "/v1/stacks/nope/timeline", t, None).await.0,
        404
    );
    assert_eq!(
        w.call("GET", "/v1/stacks/web/timeline", Some("tenant-b"), None)
            .await
            .0,
        404
    );

    // One high drift: 80; the trend knows 100 before it and nothing before the first score.
    let (s, score) = w.call("GET", "/v1/drift-score", t, None).await;
    assert_eq!(s, 200, "{score}");
    assert_eq!(score["score"], 80.0);
    assert_eq!(score["stacks_watched"], 1);
    assert_eq!(score["open_drift"]["high"], 1);
    let trend: Vec<Value> = score["trend"].as_array().unwrap().clone();
    assert_eq!(trend.len(), 14);
    assert_eq!(trend[13]["day"], "2026-03-01");
    let last: Vec<&Value> = trend[9..].iter().map(|d| &d["score"]).collect();
    assert_eq!(
        last,
        [
            &Value::Null,
            &json!(100.0),
            &json!(100.0),
            &json!(80.0),
            &json!(80.0)
        ]
    );
    assert_eq!(score["stacks"][0]["stack_id"], "web");
    assert_eq!(score["stacks"][0]["trend"], score["trend"]);
    let (_, detail) = w.call("GET", "/v1/stacks/web", t, None).await;
    assert_eq!(detail["trend"], score["trend"]);

    // Watching off leaves the stack out of the organisation's score.
    let (s, _) = w
        .call(
            "PATCH",
            "/v1/stacks/web",
            t,
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(s, 200);
    let (_, score) = w.call("GET", "/v1/drift-score", t, None).await;
    assert_eq!(
        (score["score"].as_f64(), score["stacks_watched"].as_u64()),
        (Some(100.0), Some(0))
    );
    let (_, other) = w
        .call("GET", "/v1/drift-score", Some("tenant-b"), None)
        .await;
    assert_eq!(other["stacks"], json!([]));
}

/// Issue 12, item 5: connecting an account starts the backfill of its history (one start
/// step on the backfill queue, nothing for an operator to do), and
/// `GET /v1/accounts/{id}/backfill` shows its progress and cost region by region.
#[tokio::test]
async fn connecting_starts_the_backfill_and_its_progress_is_shown() {
    use dd0c_shared::bus::{QueueBus, RoutingTable};
    use dd0c_shared::entity::backfill::{self as jobs, BackfillProgress, BackfillStatus};
    use dd0c_shared::queue::memory::MemoryQueue;

    let w = world();
    let shared: SharedClock = Arc::new(w.clock.clone());
    let routing = RoutingTable::builtin().clone();
    let queue = Arc::new(MemoryQueue::new(
        routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
        shared.clone(),
    ));
    let w = World {
        api: w
            .api
            .with_bus(Arc::new(QueueBus::new(routing, queue.clone(), shared))),
        ..w
    };
    let (_, setup) = w
        .call("POST", "/v1/accounts/setup", Some("tenant-a"), None)
        .await;
    let ext = setup["external_id"].as_str().unwrap().to_owned();
    w.role(ROLE_A, &ext);
    let (s, body) = w
        .call(
            "GET",
            "/v1/accounts/111111111111/backfill",
            Some("tenant-a"),
            None,
        )
        .await;
    assert_eq!(s, 404, "not connected yet: {body}");

    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-a"),
            Some(json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A })),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["backfill_started"], true);
    // Both jobs that read the account start: its history and its stacks (decision 0430).
    let steps = queue.peek_all("backfill");
    assert_eq!(steps.len(), 2);
    let step: Value = serde_json::from_str(&steps[0].body).unwrap();
    assert_eq!(step["detail-type"], "dd0c.BackfillStep");
    assert_eq!(
        step["detail"],
        json!({"tenant_id": "tenant-a", "account_id": "111111111111", "region": null, "page": 0})
    );
    let discovery: Value = serde_json::from_str(&steps[1].body).unwrap();
    assert_eq!(discovery["detail-type"], "dd0c.StackDiscovery");
    assert_eq!(
        discovery["detail"],
        json!({"tenant_id": "tenant-a", "account_id": "111111111111", "region": null, "stack": null})
    );

    let (s, view) = w
        .call(
            "GET",
            "/v1/accounts/111111111111/backfill",
            Some("tenant-a"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["status"], "not_started");

    // Two regions: one read to the end, one still going.
    let end = start();
    let mut done = BackfillProgress::new(
        "tenant-a",
        "111111111111",
        "us-east-1",
        end - Duration::days(90),
        end,
        end,
    );
    (
        done.pages,
        done.requests,
        done.throttled,
        done.events,
        done.cost_events,
    ) = (4, 5, 1, 180, 12);
    done.oldest_event = Some(end - Duration::days(88));
    done.finish(BackfillStatus::Done, end + Duration::minutes(3));
    let mut running = BackfillProgress::new(
        "tenant-a",
        "111111111111",
        "eu-west-1",
        end - Duration::days(90),
        end,
        end,
    );
    (running.pages, running.requests, running.events) = (2, 2, 100);
    running.oldest_event = Some(end - Duration::days(20));
    for job in [&done, &running] {
        assert!(jobs::create_if_absent(w.table.as_ref(), job).await.unwrap());
    }
    let (s, view) = w
        .call(
            "GET",
            "/v1/accounts/111111111111/backfill",
            Some("tenant-a"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["status"], "running");
    assert_eq!(
        (
            view["regions_total"].as_u64(),
            view["regions_finished"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(view["requests"], 7);
    assert_eq!(view["throttled"], 1);
    assert_eq!(view["pages"], 6);
    assert_eq!(view["events"], 280);
    assert_eq!(view["cost_events"], 12);
    assert_eq!(view["history_since"], "2025-12-03T12:00:00Z");
    let regions = view["regions"].as_array().unwrap();
    let euw1 = regions.iter().find(|r| r["region"] == "eu-west-1").unwrap();
    assert_eq!(euw1["status"], "running");
    let use1 = regions.iter().find(|r| r["region"] == "us-east-1").unwrap();
    assert_eq!(use1["status"], "done");
    assert_eq!(use1["window_start"], "2025-12-01T12:00:00Z");

    // Another tenant sees nothing of it.
    let (s, _) = w
        .call(
            "GET",
            "/v1/accounts/111111111111/backfill",
            Some("tenant-b"),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

// ------------------------------------------------------------------------------ decisions

/// `GET /v1/events/{id}/decision` (issue 14, item 3): a finding's decision log with the
/// policy's word on it; a cost event that made no finding explained from its marker; an event
/// dd0c made nothing of answered 404 with a JSON error naming it; another tenant's event is
/// not found.
#[tokio::test]
async fn an_events_decision_is_explained_on_demand() {
    let w = world();
    let t = Some("tenant-a");
    let (s, body) = w.connect("tenant-a", "111111111111", ROLE_A).await;
    assert_eq!(s, 201, "{body}");
    let id = Finding::id_for(FindingKind::CostAnomaly, "evt-tenant-a-001");
    let log = json!({"stage": "scorer", "verdict": "score 90.0: critical",
                     "signals": [{"name": "new_region", "effect": "adds", "value": 40.0}]});
    let seeded = Finding {
        tenant_id: "tenant-a".into(),
        event_id: "evt-tenant-a-001".into(),
        account_id: "111111111111".into(),
        severity: Severity::Critical,
        details: json!({ "decision": log }),
        ..cost_finding(&id)
    };
    finding::record(w.table.as_ref(), &seeded).await.unwrap();
    let (s, d) = w
        .call("GET", "/v1/events/evt-tenant-a-001/decision", t, None)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["event_id"], "evt-tenant-a-001");
    let f = &d["findings"][0];
    assert_eq!(
        (f["finding_id"].as_str(), f["kind"].as_str()),
        (Some(id.as_str()), Some("cost_anomaly"))
    );
    assert_eq!(f["decision"]["verdict"], log["verdict"]);
    assert_eq!(f["decision"]["signals"][0]["name"], "new_region");
    assert_eq!(f["decision"]["signals"][0]["value"].as_f64(), Some(40.0));
    assert_eq!(f["policy"]["notified"], false);
    assert_eq!(f["policy"]["immediate_severity"], "warning");
    assert_eq!(f["policy"]["immediate"], true);
    assert_eq!(f["policy"]["decision"], "not decided yet");
    assert!(d["scored"].is_null());

    // Scored, no finding: the contribution marker's verdict.
    let mut marker = dd0c_shared::entity::baseline::contribution_item(
        "tenant-a",
        "111111111111",
        "evt-quiet",
        i64::MAX / 2,
    );
    marker.insert(
        dd0c_shared::entity::baseline::DECISION_ATTRIBUTE.into(),
        dd0c_shared::store::AttrValue::S(
            json!({"verdict": "score 8.0: below 20, no finding (routine for this principal)"})
                .to_string(),
        ),
    );
    w.table.put(marker, None).await.unwrap();
    let (s, d) = w
        .call("GET", "/v1/events/evt-quiet/decision", t, None)
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["findings"], json!([]));
    assert_eq!(d["scored"]["account_id"], "111111111111");
    assert!(
        d["scored"]["decision"]["verdict"]
            .as_str()
            .unwrap()
            .contains("routine"),
        "{d}"
    );

    let (s, e) = w
        .call("GET", "/v1/events/evt-unknown/decision", t, None)
        .await;
    assert_eq!(s, 404, "{e}");
    assert!(e.to_string().contains("evt-unknown"), "{e}");
    let (s, _) = w
        .call(
            "GET",
            "/v1/events/evt-tenant-a-001/decision",
            Some("tenant-b"),
            None,
        )
        .await;
    assert_eq!(s, 404, "another tenant's event is not found");
    let (s, e) = w.call("GET", "/v1/events/bad%20id/decision", t, None).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("id")), "{e}");
}

#[tokio::test]
async fn detector_flags_are_set_listed_expired_and_deleted_per_tenant_with_an_audit_trail() {
    let w = world();
    let t = Some("tenant-a");
    let until = (start() + Duration::minutes(30)).to_rfc3339();

    let (s, listed) = w.call("GET", "/v1/flags", t, None).await;
    assert_eq!(s, 200, "{listed}");
    assert_eq!(listed["flags"], json!([]));
    let detectors = listed["detectors"].as_array().unwrap();
    assert!(detectors.contains(&json!("cost.burst")));
    assert!(detectors.contains(&json!("drift.sg-world-ingress")));

    let (s, set) = w
        .call(
            "PUT",
            "/v1/flags/cost.burst",
            t,
            Some(json!({"owner": "team-platform", "expires_at": until, "reason": "migration"})),
        )
        .await;
    assert_eq!(s, 200, "{set}");
    assert_eq!(set["scope"], "tenant");
    assert_eq!(set["owner"], "team-platform");
    assert_eq!(set["expired"], false);

    // Bad requests name the field.
    for (path, body, field) in [
        (
            "/v1/flags/cost.nope",
            json!({"owner": "x", "expires_at": until}),
            "detector",
        ),
        (
            "/v1/flags/cost.burst",
            json!({"expires_at": until}),
            "owner",
        ),
        (
            "/v1/flags/cost.burst",
            json!({"owner": "x", "expires_at": "2020-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            "/v1/flags/drift.sg-world-ingress",
            json!({"owner": "x", "expires_at": until, "enabled": false}),
            "enabled",
        ),
    ] {
        let (s, e) = w.call("PUT", path, t, Some(body)).await;
        assert_eq!(s, 400, "{path}: {e}");
        assert_eq!(e["field"], field, "{e}");
    }

    // Another tenant sees none of it; the tenant sees its flag, expired once the time passes.
    let (_, other) = w.call("GET", "/v1/flags", Some("tenant-b"), None).await;
    assert_eq!(other["flags"], json!([]));
    w.clock.advance(Duration::minutes(31));
    let (_, listed) = w.call("GET", "/v1/flags", t, None).await;
    assert_eq!(listed["flags"][0]["detector"], "cost.burst");
    assert_eq!(listed["flags"][0]["expired"], true);

    assert_eq!(
        w.call("DELETE", "/v1/flags/cost.burst", t, None).await.0,
        204
    );
    assert_eq!(
        w.call("DELETE", "/v1/flags/cost.burst", t, None).await.0,
        404
    );
    let audit = dd0c_shared::store::query_all(w.table.as_ref(), audit::trail("tenant-a"))
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .filter_map(|i| {
            Some((
                i.get("action").and_then(AttrValue::as_str)?,
                i.get("target").and_then(AttrValue::as_str)?,
            ))
        })
        .collect();
    assert_eq!(
        actions,
        [("flag.set", "cost.burst"), ("flag.delete", "cost.burst")]
    );
}

// -------------------------------------------------------------------------------- incidents

#[tokio::test]
async fn incidents_are_listed_shown_and_acted_on_as_one_and_stay_in_their_tenant() {
    let w = world();
    let t = Some("tenant-a");
    // A burst of four launches by one principal (one incident), and one drift alone.
    let mut burst = Vec::new();
    for n in 0..4 {
        let id = w
            .seed_finding("tenant-a", n, Severity::Critical, FindingKind::CostAnomaly)
            .await;
        let f = finding::load(w.table.as_ref(), "tenant-a", &id)
            .await
            .unwrap()
            .unwrap();
        dd0c_shared::incidents::assign(w.table.as_ref(), &f, start())
            .await
            .unwrap();
        burst.push(id);
    }
    let drift = w
        .seed_finding("tenant-a", 90, Severity::High, FindingKind::Drift)
        .await;
    let f = finding::load(w.table.as_ref(), "tenant-a", &drift)
        .await
        .unwrap()
        .unwrap();
    dd0c_shared::incidents::assign(w.table.as_ref(), &f, start())
        .await
        .unwrap();

    let (s, page) = w.call("GET", "/v1/incidents", t, None).await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let incident = items.iter().find(|i| i["kind"] == "cost_anomaly").unwrap();
    assert_eq!(incident["count"], 4);
    assert_eq!(incident["grouping"], "burst");
    assert_eq!(incident["status"], "open");
    let cost = cost_finding("x").estimated_hourly_cost.unwrap();
    assert!((incident["hourly_cost"].as_f64().unwrap() - 4.0 * cost).abs() < 1e-9);
    assert_eq!(
        incident["lead"]["id"],
        json!(burst[0]),
        "the first to join leads"
    );
    let id = incident["id"].as_str().unwrap().to_owned();
    // Filters name their field when wrong, and narrow when right.
    let (s, bad) = w.call("GET", "/v1/incidents?severity=loud", t, None).await;
    assert_eq!((s, bad["field"].as_str()), (400, Some("severity")));
    let (_, drifts) = w.call("GET", "/v1/incidents?kind=drift", t, None).await;
    assert_eq!(drifts["items"].as_array().unwrap().len(), 1);

    let (s, one) = w.call("GET", &format!("/v1/incidents/{id}"), t, None).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["findings"].as_array().unwrap().len(), 4);
    assert!(one["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["incident_id"] == json!(id)));
    // The finding's own routes name its incident too (read from the finding's incident link).
    let (s, one_finding) = w
        .call("GET", &format!("/v1/anomalies/{}", burst[1]), t, None)
        .await;
    assert_eq!((s, &one_finding["incident_id"]), (200, &json!(id)));
    let (s, listed) = w
        .call("GET", "/v1/anomalies?kind=cost_anomaly", t, None)
        .await;
    assert_eq!(s, 200, "{listed}");
    let listed = listed["items"].as_array().unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed.iter().all(|f| f["incident_id"] == json!(id)));

    let (s, acted) = w
        .call(
            "PATCH",
            &format!("/v1/incidents/{id}"),
            t,
            Some(json!({"action": "mark_expected"})),
        )
        .await;
    assert_eq!(s, 200, "{acted}");
    assert_eq!(acted["status"], "expected");
    assert!(acted["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["status"] == "expected"));
    let (s, again) = w
        .call(
            "PATCH",
            &format!("/v1/incidents/{id}"),
            t,
            Some(json!({"action": "mark_expected"})),
        )
        .await;
    assert_eq!(
        (s, again["field"].as_str()),
        (400, Some("action")),
        "{again}"
    );
    let (_, expected) = w
        .call("GET", "/v1/incidents?status=expected", t, None)
        .await;
    assert_eq!(expected["items"].as_array().unwrap().len(), 1);
    // A one-finding incident shows its finding's status.
    let (s, _) = w
        .call(
            "PATCH",
            &format!("/v1/anomalies/{drift}"),
            t,
            Some(json!({"action": "resolve"})),
        )
        .await;
    assert_eq!(s, 200);
    let (_, resolved) = w
        .call("GET", "/v1/incidents?status=resolved", t, None)
        .await;
    assert_eq!(resolved["items"][0]["lead"]["id"], json!(drift));

    // Bad ids and bodies name the problem; another tenant sees nothing.
    let (s, bad) = w.call("GET", "/v1/incidents/cost-1", t, None).await;
    assert_eq!((s, bad["field"].as_str()), (400, Some("id")));
    let (s, _) = w.call("GET", "/v1/incidents/inc-nope", t, None).await;
    assert_eq!(s, 404);
    let (s, bad) = w
        .call(
            "PATCH",
            &format!("/v1/incidents/{id}"),
            t,
            Some(json!({"action": "snooze"})),
        )
        .await;
    assert_eq!((s, bad["field"].as_str()), (400, Some("snooze_until")));
    let b = Some("tenant-b");
    assert_eq!(
        w.call("GET", &format!("/v1/incidents/{id}"), b, None)
            .await
            .0,
        404
    );
    assert_eq!(
        w.call(
            "PATCH",
            &format!("/v1/incidents/{id}"),
            b,
            Some(json!({"action": "resolve"}))
        )
        .await
        .0,
        404
    );
    let (_, theirs) = w.call("GET", "/v1/incidents", b, None).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 0);
}

/// Issue 14, item 1: the remediation role is connected with the account (checked like the
/// read-only role, with the same ExternalId) and shown on it; a role of another account, the
/// read-only role again, or a role dd0c cannot assume is refused naming the field; the
/// quick-create link carries the stack's EnableRemediation choice.
#[tokio::test]
async fn the_remediation_role_is_verified_and_kept_with_the_account() {
    const REMEDIATION: &str = "arn:aws:iam::111111111111:role/dd0c-remediation";
    let w = world();
    let (_, setup) = w
        .call("POST", "/v1/accounts/setup", Some("tenant-a"), None)
        .await;
    assert!(
        setup["quick_create_url"]
            .as_str()
            .unwrap()
            .ends_with("&param_EnableRemediation=false"),
        "{setup}"
    );
    let (_, setup) = w
        .call(
            "POST",
            "/v1/accounts/setup?remediation=true",
            Some("tenant-a"),
            None,
        )
        .await;
    assert!(
        setup["quick_create_url"]
            .as_str()
            .unwrap()
            .ends_with("&param_EnableRemediation=true"),
        "{setup}"
    );
    let ext = setup["external_id"].as_str().unwrap().to_owned();
    w.role(ROLE_A, &ext);
    let connect = |remediation: &str| json!({ "aws_account_id": "111111111111", "role_arn": ROLE_A, "remediation_role_arn": remediation });
    for (remediation, status) in [
        ("arn:aws:iam::222222222222:role/dd0c-remediation", 400),
        (ROLE_A, 400),
        ("not-an-arn", 400),
        // Not deployed (or another ExternalId): refused before anything is stored.
        (REMEDIATION, 422),
    ] {
        let (s, body) = w
            .call(
                "POST",
                "/v1/accounts",
                Some("tenant-a"),
                Some(connect(remediation)),
            )
            .await;
        assert_eq!(
            (s, body["field"].as_str()),
            (status, Some("remediation_role_arn")),
            "{remediation}: {body}"
        );
    }
    let (_, listed) = w.call("GET", "/v1/accounts", Some("tenant-a"), None).await;
    assert_eq!(listed["items"], json!([]), "nothing stored: {listed}");

    w.role(REMEDIATION, &ext);
    let (s, body) = w
        .call(
            "POST",
            "/v1/accounts",
            Some("tenant-a"),
            Some(connect(REMEDIATION)),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        body["account"]["remediation_role_arn"], REMEDIATION,
        "{body}"
    );
    let link = dd0c_shared::tenancy::account_link(w.table.as_ref(), "111111111111")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.remediation_role_arn.as_deref(), Some(REMEDIATION));
}
