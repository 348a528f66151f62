//! The remediation port's AWS adapter against moto, through the real SDK: AssumeRole of the
//! remediation role with the ExternalId, then StopInstances, RevokeSecurityGroupIngress and
//! ModifyDBInstance on its credentials, each answered as done, already done or not found.
//!
//! The second test runs moto with IAM enforced: the remediation role (its actions as the
//! template allows them) may stop instances and nothing else (TerminateInstances is refused),
//! and the read-only role may not stop anything. moto evaluates actions only: the trust's
//! ExternalId, the template's resource ARNs and its `dd0c:protect` tag Deny are checked by
//! `cloudformation/test_role_actions.py` (and the ExternalId refusal by the embedded adapter's
//! test), not here.

use std::time::Duration;

use aws_sdk_ec2::types::{InstanceStateName, InstanceType, IpPermission, IpRange};
use dd0c_shared::remediation::aws::AwsRemediator;
use dd0c_shared::remediation::{
    Applied, IngressRule, RemediationError, RemediationRequest, RemediationRole, Remediator,
};
use dd0c_tests::moto::MotoServer;

const ACCOUNT: &str = "123456789012";
const EXTERNAL_ID: &str = "0b5e4c1a-8f2d-4e7b-9a3c-1d2e3f4a5b6c";
const REGION: &str = "us-east-1";

async fn run_instances(ec2: &aws_sdk_ec2::Client, n: i32) -> Vec<String> {
    ec2.run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::M5Large)
        .min_count(n)
        .max_count(n)
        .send()
        .await
        .expect("run instances")
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect()
}

async fn state(ec2: &aws_sdk_ec2::Client, id: &str) -> InstanceStateName {
    ec2.describe_instances()
        .instance_ids(id)
        .send()
        .await
        .expect("describe")
        .reservations()[0]
        .instances()[0]
        .state()
        .and_then(|s| s.name())
        .cloned()
        .expect("a state")
}

fn role(name: &str) -> RemediationRole {
    RemediationRole {
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
        external_id: EXTERNAL_ID.into(),
    }
}

#[tokio::test]
async fn stops_revokes_and_makes_private_through_the_sdk() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let rds = aws_sdk_rds::Client::new(&sdk);
    let ids = run_instances(&ec2, 2).await;
    let group = ec2
        .create_security_group()
        .group_name("web")
        .description("web")
        .send()
        .await
        .expect("group")
        .group_id()
        .unwrap()
        .to_owned();
    ec2.authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("open ssh");
    rds.create_db_instance()
        .db_instance_identifier("orders-db")
        .db_instance_class("db.m5.large")
        .engine("postgres")
        .allocated_storage(200)
        .master_username("admin")
        .master_user_password("password123")
        .publicly_accessible(true)
        .send()
        .await
        .expect("db");

    let aws = AwsRemediator::new(sdk.clone());
    let role = role("dd0c-remediation");
    let stop = RemediationRequest::StopInstances {
        region: REGION.into(),
        instance_ids: ids.clone(),
    };
    assert_eq!(aws.remediate(&role, &stop).await, Ok(Applied::Done));
    for id in &ids {
        assert!(
            matches!(
                state(&ec2, id).await,
                InstanceStateName::Stopped | InstanceStateName::Stopping
            ),
            "{id}"
        );
    }
    assert_eq!(aws.remediate(&role, &stop).await, Ok(Applied::AlreadyDone));
    let unknown = RemediationRequest::StopInstances {
        region: REGION.into(),
        instance_ids: vec!["i-0000000000000dead".into()],
    };
    assert!(
        matches!(
            aws.remediate(&role, &unknown).await,
            Err(RemediationError::NotFound(_))
        ),
        "an unknown instance is not found"
    );

    let revoke = RemediationRequest::RevokeIngress {
        region: REGION.into(),
        group_id: group.clone(),
        rule: IngressRule {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidr: "0.0.0.0/0".into(),
        },
    };
    assert_eq!(aws.remediate(&role, &revoke).await, Ok(Applied::Done));
    let rules = ec2
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .expect("groups");
    assert!(
        rules.security_groups()[0].ip_permissions().is_empty(),
        "{rules:?}"
    );
    assert_eq!(
        aws.remediate(&role, &revoke).await,
        Ok(Applied::AlreadyDone)
    );

    let private = RemediationRequest::MakeDbPrivate {
        region: REGION.into(),
        db_instance: "orders-db".into(),
    };
    assert_eq!(aws.remediate(&role, &private).await, Ok(Applied::Done));
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("orders-db")
        .send()
        .await
        .expect("db");
    let db = &db.db_instances()[0];
    assert_eq!(db.publicly_accessible(), Some(false));
    // Nothing else of the instance changed.
    assert_eq!(db.db_instance_class(), Some("db.m5.large"));
    assert_eq!(db.allocated_storage(), Some(200));
    let gone = RemediationRequest::MakeDbPrivate {
        region: REGION.into(),
        db_instance: "no-such-db".into(),
    };
    assert!(matches!(
        aws.remediate(&role, &gone).await,
        Err(RemediationError::NotFound(_))
    ));
}

/// One IAM query-API call, sent while moto does not yet check signatures (the first
/// `INITIAL_NO_AUTH_ACTION_COUNT` requests): the test's setup of users and roles.
async fn iam(moto: &MotoServer, params: &[(&str, &str)]) -> String {
    let mut body = String::from("Version=2010-05-08");
    for (k, v) in params {
        body.push('&');
        body.push_str(k);
        body.push('=');
        body.push_str(&urlencode(v));
    }
    let response = dd0c_shared::http::client(Duration::from_secs(30))
        .post(moto.endpoint())
        .header("content-type", "application/x-www-form-urlencoded")
        // moto routes by the credential scope; the signature is not checked yet.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body)
        .send()
        .await
        .expect("iam call");
    let status = response.status();
    let text = response.text().await.expect("iam body");
    assert!(status.is_success(), "{params:?}: {status} {text}");
    text
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn between<'a>(text: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = text.find(&open).expect(tag) + open.len();
    let end = text[start..].find(&format!("</{tag}>")).expect(tag) + start;
    &text[start..end]
}

/// The remediation role's actions, as `cloudformation/dd0c-readonly.yaml` allows them.
const REMEDIATION_ACTIONS: [&str; 3] = [
    "ec2:StopInstances",
    "ec2:RevokeSecurityGroupIngress",
    "rds:ModifyDBInstance",
];

#[tokio::test]
async fn with_iam_enforced_the_role_does_its_actions_and_nothing_else() {
    // The setup below makes exactly this many requests before IAM is enforced.
    let moto = MotoServer::start_with_iam_after(7);
    let admin_policy =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    iam(&moto, &[("Action", "CreateUser"), ("UserName", "dd0c")]).await;
    iam(
        &moto,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "dd0c"),
            ("PolicyName", "all"),
            ("PolicyDocument", admin_policy),
        ],
    )
    .await;
    let key = iam(
        &moto,
        &[("Action", "CreateAccessKey"), ("UserName", "dd0c")],
    )
    .await;
    let (key_id, secret) = (
        between(&key, "AccessKeyId").to_owned(),
        between(&key, "SecretAccessKey").to_owned(),
    );
    // moto compares the trust's principal with the caller's ARN (dd0c's account root in the
    // template): here the caller is the user `dd0c`.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/dd0c"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"{EXTERNAL_ID}"}}}}}}]}}"#
    );
    let allow = |actions: &[&str]| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{},"Resource":"*"}}]}}"#,
            serde_json::to_string(actions).unwrap()
        )
    };
    for (name, actions) in [
        ("dd0c-remediation", allow(&REMEDIATION_ACTIONS)),
        (
            "dd0c-readonly",
            allow(&["ec2:DescribeInstances", "rds:DescribeDBInstances"]),
        ),
    ] {
        iam(
            &moto,
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", &trust),
            ],
        )
        .await;
        iam(
            &moto,
            &[
                ("Action", "PutRolePolicy"),
                ("RoleName", name),
                ("PolicyName", "dd0c"),
                ("PolicyDocument", &actions),
            ],
        )
        .await;
    }
    // From here on every request is authorized: dd0c's own credentials are the user's.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            key_id,
            secret,
            None,
            None,
            "moto-user",
        ))
        .endpoint_url(moto.endpoint())
        .load()
        .await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ids = run_instances(&ec2, 2).await;
    let aws = AwsRemediator::new(sdk.clone());
    let stop_first = RemediationRequest::StopInstances {
        region: REGION.into(),
        instance_ids: vec![ids[0].clone()],
    };

    // The read-only role may not stop anything.
    let refused = aws.remediate(&role("dd0c-readonly"), &stop_first).await;
    assert!(
        matches!(&refused, Err(RemediationError::Denied { action, .. }) if action == "ec2:StopInstances"),
        "{refused:?}"
    );
    assert_eq!(state(&ec2, &ids[0]).await, InstanceStateName::Running);
    // Known gap (as in accounts_moto.rs): moto does not check the trust's ExternalId on this
    // path, so a wrong one is not tested here; the embedded adapter's test covers the refusal.
    // The remediation role stops the instance...
    assert_eq!(
        aws.remediate(&role("dd0c-remediation"), &stop_first).await,
        Ok(Applied::Done)
    );
    assert_ne!(state(&ec2, &ids[0]).await, InstanceStateName::Running);

    // ...and can do nothing outside its actions: terminating, or reading, is refused.
    let sts = aws_sdk_sts::Client::new(&sdk);
    let assumed = sts
        .assume_role()
        .role_arn(role("dd0c-remediation").role_arn)
        .role_session_name("test")
        .external_id(EXTERNAL_ID)
        .send()
        .await
        .expect("assume");
    let c = assumed.credentials().expect("credentials");
    let as_role = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "assumed",
            ))
            .build(),
    );
    let terminate = as_role
        .terminate_instances()
        .instance_ids(&ids[1])
        .send()
        .await;
    let code = terminate
        .as_ref()
        .err()
        .and_then(|e| aws_sdk_ec2::error::ProvideErrorMetadata::code(e).map(str::to_owned));
    assert!(
        matches!(
            code.as_deref(),
            Some("AccessDenied" | "UnauthorizedOperation")
        ),
        "{terminate:?}"
    );
    assert!(as_role.describe_instances().send().await.is_err());
    assert_eq!(state(&ec2, &ids[1]).await, InstanceStateName::Running);
}
