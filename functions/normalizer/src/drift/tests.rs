//! Change-event shapes (real CloudTrail from tests/fixtures/public where the call appears there),
//! and drift vs automated vs IaC-resolves on the embedded table.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::cloudtrail::records_in;
use dd0c_shared::domain::drift::{
    AttributeChange, ChangeClass, ChangeEvent, DriftEvent, DriftEventKind, DriftReport,
    DriftStatus, ReportedDrift, DRIFT_EVENT_DETAIL_TYPE,
};
use dd0c_shared::domain::{CloudTrailRecord, IacTool};
use dd0c_shared::entity::{self, account::DriftSettings};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::AccountLink;
use dd0c_shared::testing::active_account;
use serde_json::{json, Value};

use super::extract::{extract, Extracted};
use super::*;

const TENANT: &str = "t-1";
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn invictus() -> Vec<Value> {
    let dir = repo().join("tests/fixtures/public/cloudtrail/invictus-ir-aws-dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("log file");
            records_in(serde_json::from_str(&text).expect("json")).expect("Records")
        })
        .collect()
}

/// The first real record of `name` that satisfies `pred`.
fn real(name: &str, pred: impl Fn(&Value) -> bool) -> CloudTrailRecord {
    let v = invictus()
        .into_iter()
        .find(|r| r["eventName"] == name && r.get("errorCode").is_none() && pred(r))
        .unwrap_or_else(|| panic!("no real {name} record"));
    CloudTrailRecord::from_value(v).expect("record")
}

fn synthetic(
    source: &str,
    name: &str,
    req: Value,
    resp: Value,
    identity: Value,
    ua: &str,
) -> CloudTrailRecord {
    CloudTrailRecord::from_value(json!({
        "eventVersion": "1.09", "eventID": format!("ev-{name}-{}", NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
        "eventTime": "2026-11-21T12:00:00Z", "eventSource": format!("{source}.amazonaws.com"),
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.5",
        "userAgent": ua, "userIdentity": identity, "requestParameters": req,
        "responseElements": resp, "recipientAccountId": "111122223333", "readOnly": false
    }))
    .expect("record")
}

fn console_user() -> Value {
    json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/jane", "userName": "jane", "accountId": "111122223333"})
}

fn console(source: &str, name: &str, req: Value) -> CloudTrailRecord {
    let mut r = synthetic(
        source,
        name,
        req,
        Value::Null,
        console_user(),
        "AWS Internal",
    );
    r.session_credential_from_console = Some(json!("true"));
    r
}

fn one(record: &CloudTrailRecord) -> Extracted {
    let mut out = extract(record);
    assert_eq!(out.len(), 1, "{}: {out:?}", record.event_name);
    out.remove(0)
}

// ---- change-event shapes ----------------------------------------------------------------

#[test]
fn security_group_list_shape_real() {
    let r = real("AuthorizeSecurityGroupIngress", |r| {
        r["requestParameters"]["cidrIp"].is_null()
    });
    let e = one(&r);
    assert_eq!(e.resource_type, "ec2:security-group");
    assert_eq!(e.resource_id, "sg-04cfb7a4712d75b00");
    assert_eq!(e.changes[0].attribute, "ingress");
    assert_eq!(e.changes[0].old, Value::Null);
    assert_eq!(
        e.changes[0].new,
        json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"})
    );
}

#[test]
fn security_group_flat_shape_real() {
    let r = real("AuthorizeSecurityGroupIngress", |r| {
        r["requestParameters"]["cidrIp"].is_string()
    });
    let e = one(&r);
    assert_eq!(e.changes.len(), 1);
    assert_eq!(
        e.changes[0].new,
        json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"})
    );
}

#[test]
fn security_group_egress_ipv4_and_ipv6_real() {
    let e = one(&real("AuthorizeSecurityGroupEgress", |_| true));
    assert_eq!(e.changes.len(), 2);
    assert!(e.changes.iter().all(|c| c.attribute == "egress"));
    let cidrs: Vec<&Value> = e.changes.iter().map(|c| &c.new["cidr"]).collect();
    assert_eq!(cidrs, [&json!("0.0.0.0/0"), &json!("::/0")]);
    assert_eq!(e.changes[0].new["protocol"], "-1");
}

#[test]
fn security_group_revoke_flat_real_and_ipv6_flat() {
    let e = one(&real("RevokeSecurityGroupIngress", |_| true));
    assert_eq!(e.changes[0].new, Value::Null);
    assert_eq!(e.changes[0].old["cidr"], "0.0.0.0/0");
    assert_eq!(e.changes[0].old["from_port"], 22);
    let v6 = one(&console(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": "sg-1", "ipPermissions": {}, "ipProtocol": "tcp", "fromPort": "3389", "toPort": "3389", "cidrIpv6": "::/0"}),
    ));
    assert_eq!(v6.changes[0].new["cidr"], "::/0");
    assert_eq!(
        v6.changes[0].new["from_port"], 3389,
        "numbers given as strings"
    );
}

#[test]
fn create_security_group_real_is_a_creation() {
    let e = one(&real("CreateSecurityGroup", |_| true));
    assert!(e.creates);
    assert_eq!(e.resource_id, "sg-04cfb7a4712d75b00");
    assert_eq!(e.changes[0].new["name"], "stratus-red-team-open-sg-sg");
}

#[test]
fn instance_attribute_real_and_older_shape() {
    let e = one(&real("ModifyInstanceAttribute", |_| true));
    assert_eq!(e.resource_type, "ec2:instance");
    assert_eq!(e.changes[0].attribute, "disable_api_termination");
    assert_eq!(e.changes[0].new, json!(false));
    let old = one(&console(
        "ec2",
        "ModifyInstanceAttribute",
        json!({"instanceId": "i-1", "instanceType": {"value": "m5.4xlarge"}}),
    ));
    assert_eq!(old.changes[0].attribute, "instance_type");
    assert_eq!(old.changes[0].new, json!("m5.4xlarge"));
}

#[test]
fn tags_real_and_delete() {
    let e = one(&real("CreateTags", |_| true));
    assert_eq!(e.resource_type, "ec2:image");
    assert_eq!(e.changes[0].attribute, "tags.StratusRedTeam");
    let d = extract(&console(
        "ec2",
        "DeleteTags",
        json!({"resourcesSet": {"items": [{"resourceId": "i-1"}, {"resourceId": "sg-2"}]}, "tagSet": {"items": [{"key": "owner"}]}}),
    ));
    assert_eq!(d.len(), 2);
    assert_eq!(d[1].resource_type, "ec2:security-group");
    assert_eq!(d[0].changes[0].attribute, "tags.owner");
    assert_eq!(d[0].changes[0].new, Value::Null);
}

#[test]
fn rds_made_public() {
    let e = one(&console(
        "rds",
        "ModifyDBInstance",
        json!({"dBInstanceIdentifier": "orders", "publiclyAccessible": true, "applyImmediately": true, "dBInstanceClass": "db.r6g.large"}),
    ));
    assert_eq!(e.resource_type, "rds:db");
    let attrs: Vec<&str> = e.changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(attrs, ["instance_class", "publicly_accessible"]);
    assert_eq!(e.changes[1].new, json!(true));
}

#[test]
fn bucket_policy_real_is_not_public_and_star_is() {
    let e = one(&real("PutBucketPolicy", |_| true));
    assert_eq!(e.resource_type, "s3:bucket");
    assert_eq!(e.changes[0].attribute, "policy");
    assert_eq!(e.changes[0].new["public"], false);
    let p = one(&console(
        "s3",
        "PutBucketPolicy",
        json!({"bucketName": "b", "bucketPolicy": {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}}),
    ));
    assert_eq!(p.changes[0].new["public"], true);
}

#[test]
fn bucket_acl_and_public_access_block() {
    let acl = one(&console(
        "s3",
        "PutBucketAcl",
        json!({"bucketName": "b", "x-amz-acl": ["public-read"]}),
    ));
    assert_eq!(acl.changes[0].attribute, "acl");
    let grants = one(&console(
        "s3",
        "PutBucketAcl",
        json!({"bucketName": "b", "AccessControlPolicy": {"AccessControlList": {"Grant": [{"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}}}),
    ));
    assert_eq!(grants.changes[0].new["public"], true);
    let del = one(&console(
        "s3",
        "DeletePublicAccessBlock",
        json!({"bucketName": "b"}),
    ));
    assert_eq!(del.changes[0].attribute, "public_access_block");
    assert_eq!(del.changes[0].new["public"], true);
    let weak = one(&console(
        "s3",
        "PutBucketPublicAccessBlock",
        json!({"bucketName": "b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": false, "RestrictPublicBuckets": true}}),
    ));
    assert_eq!(weak.changes[0].new["public"], true);
    let strong = one(&console(
        "s3",
        "PutPublicAccessBlock",
        json!({"bucketName": "b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": true}}),
    ));
    assert_eq!(strong.changes[0].new["public"], false);
}

#[test]
fn iam_policies_real() {
    let admin = one(&real("AttachUserPolicy", |_| true));
    assert_eq!(admin.resource_type, "iam:user");
    assert_eq!(admin.changes[0].attribute, "managed_policy");
    assert_eq!(admin.changes[0].new["admin"], true);
    let role = one(&real("AttachRolePolicy", |r| {
        r["requestParameters"]["policyArn"]
            == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    }));
    assert_eq!(role.resource_type, "iam:role");
    assert_eq!(role.changes[0].new["admin"], false);
    let inline = one(&real("PutRolePolicy", |_| true));
    assert_eq!(inline.changes[0].attribute, "inline_policy");
    assert_eq!(inline.changes[0].new["admin"], false);
    assert!(
        inline.changes[0].new["document"]["Statement"].is_array(),
        "document parsed from text"
    );
    let star = one(&console(
        "iam",
        "PutUserPolicy",
        json!({"userName": "u", "policyName": "p", "policyDocument": "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"}),
    ));
    assert_eq!(star.changes[0].new["admin"], true);
    let detach = one(&console(
        "iam",
        "DetachRolePolicy",
        json!({"roleName": "r", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    ));
    assert_eq!(detach.changes[0].new, Value::Null);
    assert_eq!(
        detach.changes[0].old["arn"],
        "arn:aws:iam::aws:policy/ReadOnlyAccess"
    );
    let key = one(&real("CreateAccessKey", |_| true));
    assert_eq!(key.changes[0].attribute, "access_key");
    assert!(key.changes[0].new["access_key_id"]
        .as_str()
        .is_some_and(|k| k.starts_with("AKIA")));
}

/// Every call that adds, changes or removes a way to sign in as an IAM identity, or widens or
/// narrows what bounds it, with `(event name, requestParameters, responseElements)`, and the
/// attribute and direction it must come out as (`+` added, `-` removed, `~` changed).
fn credential_calls() -> Vec<(&'static str, Value, Value, &'static str, char)> {
    vec![
        (
            "CreateAccessKey",
            json!({"userName": "u"}),
            json!({"accessKey": {"accessKeyId": "AKIAEXAMPLE", "status": "Active"}}),
            "access_key",
            '+',
        ),
        (
            "UpdateAccessKey",
            json!({"userName": "u", "accessKeyId": "AKIAEXAMPLE", "status": "Active"}),
            Value::Null,
            "access_key",
            '~',
        ),
        (
            "DeleteAccessKey",
            json!({"userName": "u", "accessKeyId": "AKIAEXAMPLE"}),
            Value::Null,
            "access_key",
            '-',
        ),
        (
            "CreateLoginProfile",
            json!({"userName": "u", "passwordResetRequired": false}),
            json!({"loginProfile": {"userName": "u"}}),
            "login_profile",
            '+',
        ),
        (
            "UpdateLoginProfile",
            json!({"userName": "u"}),
            Value::Null,
            "login_profile",
            '~',
        ),
        (
            "DeleteLoginProfile",
            json!({"userName": "u"}),
            Value::Null,
            "login_profile",
            '-',
        ),
        (
            "EnableMFADevice",
            json!({"userName": "u", "serialNumber": "arn:aws:iam::111122223333:mfa/u"}),
            Value::Null,
            "mfa_device",
            '+',
        ),
        (
            "DeactivateMFADevice",
            json!({"userName": "u", "serialNumber": "arn:aws:iam::111122223333:mfa/u"}),
            Value::Null,
            "mfa_device",
            '-',
        ),
        (
            "AddUserToGroup",
            json!({"userName": "u", "groupName": "admins"}),
            Value::Null,
            "group_membership",
            '+',
        ),
        (
            "RemoveUserFromGroup",
            json!({"userName": "u", "groupName": "admins"}),
            Value::Null,
            "group_membership",
            '-',
        ),
        (
            "PutUserPermissionsBoundary",
            json!({"userName": "u", "permissionsBoundary": "arn:aws:iam::111122223333:policy/boundary"}),
            Value::Null,
            "permissions_boundary",
            '~',
        ),
        (
            "DeleteRolePermissionsBoundary",
            json!({"roleName": "r"}),
            Value::Null,
            "permissions_boundary",
            '-',
        ),
        (
            "UploadSSHPublicKey",
            json!({"userName": "u", "sSHPublicKeyBody": "ssh-rsa AAAA"}),
            json!({"sSHPublicKey": {"sSHPublicKeyId": "APKAEXAMPLE"}}),
            "ssh_public_key",
            '+',
        ),
        (
            "UpdateSSHPublicKey",
            json!({"userName": "u", "sSHPublicKeyId": "APKAEXAMPLE", "status": "Active"}),
            Value::Null,
            "ssh_public_key",
            '~',
        ),
        (
            "DeleteSSHPublicKey",
            json!({"userName": "u", "sSHPublicKeyId": "APKAEXAMPLE"}),
            Value::Null,
            "ssh_public_key",
            '-',
        ),
        (
            "CreateServiceSpecificCredential",
            json!({"userName": "u", "serviceName": "codecommit.amazonaws.com"}),
            json!({"serviceSpecificCredential": {"serviceSpecificCredentialId": "ACCAEXAMPLE"}}),
            "service_specific_credential",
            '+',
        ),
        (
            "ResetServiceSpecificCredential",
            json!({"userName": "u", "serviceSpecificCredentialId": "ACCAEXAMPLE"}),
            Value::Null,
            "service_specific_credential",
            '~',
        ),
        (
            "DeleteServiceSpecificCredential",
            json!({"userName": "u", "serviceSpecificCredentialId": "ACCAEXAMPLE"}),
            Value::Null,
            "service_specific_credential",
            '-',
        ),
        (
            "UploadSigningCertificate",
            json!({"userName": "u"}),
            json!({"certificate": {"certificateId": "CERTEXAMPLE"}}),
            "signing_certificate",
            '+',
        ),
        (
            "UpdateSigningCertificate",
            json!({"userName": "u", "certificateId": "CERTEXAMPLE", "status": "Inactive"}),
            Value::Null,
            "signing_certificate",
            '~',
        ),
        (
            "DeleteSigningCertificate",
            json!({"userName": "u", "certificateId": "CERTEXAMPLE"}),
            Value::Null,
            "signing_certificate",
            '-',
        ),
    ]
}

#[test]
fn each_way_to_sign_in_or_bound_an_iam_identity_is_one_credential_attribute() {
    for (name, req, resp, attribute, direction) in credential_calls() {
        let e = one(&synthetic(
            "iam",
            name,
            req.clone(),
            resp,
            console_user(),
            "AWS Internal",
        ));
        let expected_id = if req.get("roleName").is_some() {
            ("iam:role", "r")
        } else {
            ("iam:user", "u")
        };
        assert_eq!(
            (e.resource_type.as_str(), e.resource_id.as_str()),
            expected_id,
            "{name}"
        );
        assert_eq!(e.changes.len(), 1, "{name}: {:?}", e.changes);
        let c = &e.changes[0];
        assert_eq!(c.attribute, attribute, "{name}");
        let shape = match (c.old.is_null(), c.new.is_null()) {
            (true, false) => '+',
            (false, true) => '-',
            (false, false) => '~',
            (true, true) => '0',
        };
        assert_eq!(shape, direction, "{name}: {} → {}", c.old, c.new);
        assert!(!e.creates, "{name} does not create the identity");
    }
}

/// The classifier's rules file, whose rules read what the extractor names.
fn classifier_rules() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(repo().join("functions/classifier/rules.json"))
            .expect("rules.json"),
    )
    .expect("json")
}

/// The classifier's rule for IAM permissions and credentials names every credential attribute
/// the extractor makes: one it did not name would fall back to medium "configuration".
#[test]
fn the_classifiers_iam_rule_names_every_credential_attribute() {
    let rules = classifier_rules();
    let rule = rules["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["id"] == "iam-policy-changed")
        .expect("the iam-policy-changed rule");
    let named: Vec<&str> = rule["conditions"][0]["value"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (name, _, _, attribute, _) in credential_calls() {
        assert!(
            named.contains(&attribute),
            "{name}: {attribute} is not in {named:?}"
        );
    }
    for attribute in ["policy_document", "policy_version"] {
        assert!(
            named.contains(&attribute),
            "{attribute} is not in {named:?}"
        );
    }
    let types = &rule["resource_types"];
    assert!(
        types
            .as_array()
            .expect("types")
            .contains(&json!("iam:policy")),
        "{types}"
    );
}

#[test]
fn a_console_password_and_a_deleted_key_are_credential_changes_on_real_records() {
    let profile = one(&real("CreateLoginProfile", |_| true));
    assert_eq!(profile.resource_type, "iam:user");
    assert_eq!(profile.resource_id, "stratus-red-team-login-profile-user");
    assert_eq!(profile.changes[0].attribute, "login_profile");
    assert_eq!(
        profile.changes[0].new,
        json!({"password_reset_required": false})
    );
    let deleted = one(&real("DeleteAccessKey", |_| true));
    assert_eq!(deleted.changes[0].attribute, "access_key");
    assert_eq!(
        deleted.changes[0].old["access_key_id"],
        "AKIATFQR7NSCQLA2F4OD"
    );
    assert_eq!(deleted.changes[0].new, Value::Null);
    let own_key = one(&synthetic(
        "iam",
        "UploadSigningCertificate",
        json!({"certificateBody": "-----BEGIN CERTIFICATE-----"}),
        json!({"certificate": {"certificateId": "CERTEXAMPLE"}}),
        console_user(),
        "AWS Internal",
    ));
    assert_eq!(
        (own_key.resource_type.as_str(), own_key.resource_id.as_str()),
        ("iam:user", "jane")
    );
}

#[test]
fn event_selectors_that_drop_management_writes_are_named_so_on_real_records() {
    // Real: Stratus Red Team keeps the trail logging, but only data events and reads; then
    // puts the selectors back.
    let selectors = |pick: &str| {
        let e = one(&real("PutEventSelectors", |r| {
            r["requestParameters"].to_string().contains(pick)
        }));
        assert_eq!(
            (e.resource_type.as_str(), e.resource_id.as_str()),
            ("cloudtrail:trail", "stratus-red-team-ctes-trail-qyxyekjbtk")
        );
        assert_eq!(e.changes[0].attribute, "event_selectors");
        e.changes[0].new["logs_management_writes"].clone()
    };
    assert_eq!(selectors("ReadOnly"), json!(false));
    assert_eq!(selectors("\"All\""), json!(true));

    let put = |req: Value| {
        let mut req = req;
        req["trailName"] = json!("org");
        one(&console("cloudtrail", "PutEventSelectors", req)).changes[0].new
            ["logs_management_writes"]
            .clone()
    };
    assert_eq!(
        put(json!({"eventSelectors": [{"readWriteType": "WriteOnly"}]})),
        json!(true)
    );
    assert_eq!(
        put(
            json!({"eventSelectors": [{"readWriteType": "All", "includeManagementEvents": false}]})
        ),
        json!(false)
    );
    let advanced = |fields: Value| {
        put(json!({"advancedEventSelectors": [{"name": "m", "fieldSelectors": fields}]}))
    };
    assert_eq!(
        advanced(json!([{"field": "eventCategory", "equals": ["Management"]}])),
        json!(true)
    );
    assert_eq!(
        advanced(
            json!([{"field": "eventCategory", "equals": ["Management"]}, {"field": "readOnly", "equals": ["false"]}])
        ),
        json!(true)
    );
    assert_eq!(
        advanced(
            json!([{"field": "eventCategory", "equals": ["Management"]}, {"field": "readOnly", "equals": ["true"]}])
        ),
        json!(false)
    );
    assert_eq!(
        advanced(
            json!([{"field": "eventCategory", "equals": ["Data"]}, {"field": "resources.type", "equals": ["AWS::S3::Object"]}])
        ),
        json!(false)
    );
}

/// The one change an S3 write call on bucket `b` makes (by account 111122223333).
fn bucket_change(name: &str, req: Value) -> AttributeChange {
    let mut req = req;
    req["bucketName"] = json!("b");
    let e = one(&console("s3", name, req));
    assert_eq!(
        (e.resource_type.as_str(), e.resource_id.as_str()),
        ("s3:bucket", "b")
    );
    assert_eq!(e.changes.len(), 1, "{name}: {:?}", e.changes);
    e.changes[0].clone()
}

#[test]
fn bucket_settings_that_lose_or_copy_out_data_are_named_so() {
    // Real: Stratus Red Team's rule that deletes a trail's logs after a day.
    let real_rule = one(&real("PutBucketLifecycle", |_| true));
    let lifecycle = &real_rule.changes[0];
    assert_eq!(lifecycle.attribute, "lifecycle");
    assert_eq!(lifecycle.new["deletes_objects"], true);
    assert_eq!(lifecycle.new["expires_after_days"], 1.0);
    let removed = one(&real("DeleteBucketLifecycle", |_| true));
    assert_eq!(removed.changes[0].attribute, "lifecycle");
    assert!(removed.changes[0].new.is_null());
    // Archiving, cleaning up uploads and a disabled rule delete nothing; noncurrent versions
    // expiring do.
    let archive = bucket_change(
        "PutBucketLifecycleConfiguration",
        json!({"LifecycleConfiguration": {"Rule": [
            {"Status": "Enabled", "Transition": {"Days": 30, "StorageClass": "GLACIER"}},
            {"Status": "Disabled", "Expiration": {"Days": 1}},
            {"Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
             "Expiration": {"ExpiredObjectDeleteMarker": true}}
        ]}}),
    );
    assert_eq!(archive.new["deletes_objects"], false);
    let noncurrent = bucket_change(
        "PutBucketLifecycle",
        json!({"LifecycleConfiguration": {"Rule": [
            {"Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": "30"}},
            {"Status": "Enabled", "Expiration": {"Days": 400}}
        ]}}),
    );
    assert_eq!(noncurrent.new["deletes_objects"], true);
    assert_eq!(noncurrent.new["expires_after_days"], 30.0);

    let versioning = |status: &str, mfa: &str| {
        bucket_change(
            "PutBucketVersioning",
            json!({"VersioningConfiguration": {"Status": status, "MfaDelete": mfa}}),
        )
    };
    assert_eq!(versioning("Suspended", "Enabled").new["weakened"], true);
    assert_eq!(versioning("Enabled", "Disabled").new["weakened"], true);
    assert_eq!(versioning("Enabled", "Enabled").new["weakened"], false);
    assert_eq!(versioning("Enabled", "Enabled").attribute, "versioning");

    let encryption = |key: &str| {
        bucket_change(
            "PutBucketEncryption",
            json!({"ServerSideEncryptionConfiguration": {"Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}}}),
        )
    };
    let foreign = encryption("arn:aws:kms:us-east-1:999988887777:key/1234");
    assert_eq!(foreign.attribute, "encryption");
    assert_eq!(foreign.new["weakened"], true);
    assert_eq!(
        encryption("arn:aws:kms:us-east-1:111122223333:key/1234").new["weakened"],
        false
    );
    assert_eq!(encryption("alias/own-key").new["weakened"], false);
    let unencrypted = bucket_change("DeleteBucketEncryption", json!({"encryption": ""}));
    assert_eq!(unencrypted.new["weakened"], true);

    let replication = |account: &str, status: &str| {
        bucket_change(
            "PutBucketReplication",
            json!({"ReplicationConfiguration": {"Role": "arn:aws:iam::111122223333:role/r", "Rule": [{"Status": status, "Destination": {"Bucket": "arn:aws:s3:::copy", "Account": account}}]}}),
        )
    };
    let out = replication("999988887777", "Enabled");
    assert_eq!(out.attribute, "replication");
    assert_eq!(out.new["to_another_account"], true);
    assert_eq!(out.new["accounts"], json!(["999988887777"]));
    assert_eq!(
        replication("111122223333", "Enabled").new["to_another_account"],
        false
    );
    assert_eq!(
        replication("999988887777", "Disabled").new["to_another_account"],
        false
    );

    let off = bucket_change(
        "PutBucketLogging",
        json!({"BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}),
    );
    assert_eq!(off.attribute, "access_logging");
    assert_eq!(off.new["enabled"], false);
    let on = bucket_change(
        "PutBucketLogging",
        json!({"BucketLoggingStatus": {"LoggingEnabled": {"TargetBucket": "logs", "TargetPrefix": "b/"}}}),
    );
    assert_eq!(on.new["enabled"], true);
}

/// Each bucket setting the extractor flags has the classifier rule that reads its flag: a flag
/// no rule reads would leave the change at medium "configuration".
#[test]
fn the_classifier_reads_every_bucket_flag_the_extractor_sets() {
    let rules = classifier_rules();
    let flags = [
        ("lifecycle", "new.deletes_objects", json!(true)),
        ("versioning", "new.weakened", json!(true)),
        ("encryption", "new.weakened", json!(true)),
        ("replication", "new.to_another_account", json!(true)),
        ("access_logging", "new.enabled", json!(false)),
    ];
    for (attribute, path, value) in flags {
        let read = rules["rules"].as_array().expect("rules").iter().any(|r| {
            r["resource_types"] == json!(["s3:bucket"])
                && r["severity"] == "high"
                && r["conditions"]
                    == json!([
                        {"path": "attribute", "op": "equals", "value": attribute},
                        {"path": path, "op": "equals", "value": value}
                    ])
        });
        assert!(read, "no high rule reads {attribute} {path} = {value}");
    }
}

#[test]
fn lambda_versioned_event_names() {
    let cfg = one(&console(
        "lambda",
        "UpdateFunctionConfiguration20150331v2",
        json!({"functionName": "arn:aws:lambda:us-east-1:111122223333:function:billing:live", "memorySize": 3008, "timeout": 900}),
    ));
    assert_eq!(cfg.resource_id, "billing");
    let attrs: Vec<&str> = cfg.changes.iter().map(|c| c.attribute.as_str()).collect();
    assert_eq!(attrs, ["memory_size", "timeout"]);
    let perm = one(&console(
        "lambda",
        "AddPermission20150331v2",
        json!({"functionName": "billing", "statementId": "s", "action": "lambda:InvokeFunction", "principal": "*"}),
    ));
    assert_eq!(perm.changes[0].attribute, "permission");
    assert_eq!(perm.changes[0].new["public"], true);
}

#[test]
fn kms_and_cloudtrail() {
    let dis = one(&console(
        "kms",
        "DisableKey",
        json!({"keyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}),
    ));
    assert_eq!(dis.resource_id, "1234abcd-12ab-34cd-56ef-1234567890ab");
    assert_eq!(dis.changes[0].new, json!("Disabled"));
    let del = one(&console(
        "kms",
        "ScheduleKeyDeletion",
        json!({"keyId": "k", "pendingWindowInDays": 7}),
    ));
    assert_eq!(del.changes[0].new["state"], "PendingDeletion");
    let stop = one(&console(
        "cloudtrail",
        "StopLogging",
        json!({"name": "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"}),
    ));
    assert_eq!(
        (stop.resource_type.as_str(), stop.resource_id.as_str()),
        ("cloudtrail:trail", "org")
    );
    assert_eq!(stop.changes[0].new, json!(false));
    let deleted = one(&real("DeleteTrail", |_| true));
    assert_eq!(deleted.changes[0].attribute, "trail");
    assert_eq!(deleted.changes[0].new, Value::Null);
    let upd = one(&console(
        "cloudtrail",
        "UpdateTrail",
        json!({"name": "org", "isMultiRegionTrail": false}),
    ));
    assert_eq!(upd.changes[0].attribute, "is_multi_region_trail");
}

#[test]
fn load_balancer_listeners() {
    let arn = "arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
    let created = one(&synthetic(
        "elasticloadbalancing",
        "CreateListener",
        json!({"loadBalancerArn": "arn:lb", "protocol": "HTTP", "port": 80}),
        json!({"listeners": [{"listenerArn": arn}]}),
        console_user(),
        "Terraform/1.7.4",
    ));
    assert!(created.creates);
    assert_eq!(created.resource_id, arn);
    let modified = one(&console(
        "elasticloadbalancing",
        "ModifyListener",
        json!({"listenerArn": arn, "protocol": "HTTP", "port": 8080}),
    ));
    assert_eq!(modified.changes.len(), 2);
    let deleted = one(&console(
        "elasticloadbalancing",
        "DeleteListener",
        json!({"listenerArn": arn}),
    ));
    assert_eq!(deleted.changes[0].new, Value::Null);
}

#[test]
fn reads_and_failed_calls_change_nothing() {
    let failed = CloudTrailRecord::from_value(
        invictus()
            .into_iter()
            .find(|r| r["eventName"] == "StopLogging" && r.get("errorCode").is_some())
            .expect("a failed StopLogging"),
    )
    .expect("record");
    assert!(extract(&failed).is_empty());
    let mut read = console("ec2", "DescribeInstances", json!({"instanceId": "i-1"}));
    assert!(extract(&read).is_empty());
    read.event_name = "ModifyInstanceAttribute".into();
    read.read_only = Some(json!(true));
    assert!(extract(&read).is_empty());
}

/// Creating a resource from another (a snapshot of a volume, an image of an instance, a
/// snapshot of a database) or inside another (an interface in a subnet, a subnet in a VPC)
/// leaves the other as it was: no change to it, so never drift of it. What may come out is the
/// new resource, created.
#[test]
fn derived_and_child_creations_change_nothing_they_name() {
    for (source, name, req) in [
        (
            "ec2",
            "CreateSnapshot",
            json!({"volumeId": "vol-1", "description": "nightly"}),
        ),
        (
            "ec2",
            "CreateImage",
            json!({"instanceId": "i-1", "name": "golden", "noReboot": true}),
        ),
        (
            "ec2",
            "CopySnapshot",
            json!({"sourceSnapshotId": "snap-1", "sourceRegion": "us-east-1"}),
        ),
        (
            "ec2",
            "CreateNetworkInterface",
            json!({"subnetId": "subnet-1"}),
        ),
        (
            "ec2",
            "CreateNatGateway",
            json!({"subnetId": "subnet-1", "allocationId": "eipalloc-1"}),
        ),
        (
            "ec2",
            "CreateSubnet",
            json!({"vpcId": "vpc-1", "cidrBlock": "10.0.1.0/24"}),
        ),
        ("ec2", "CreateRouteTable", json!({"vpcId": "vpc-1"})),
        (
            "rds",
            "CreateDBSnapshot",
            json!({"dBInstanceIdentifier": "db-1", "dBSnapshotIdentifier": "s-1"}),
        ),
        (
            "rds",
            "CreateDBClusterSnapshot",
            json!({"dBClusterIdentifier": "c-1", "dBClusterSnapshotIdentifier": "s-1"}),
        ),
        (
            "rds",
            "CopyDBSnapshot",
            json!({"sourceDBSnapshotIdentifier": "s-1", "targetDBSnapshotIdentifier": "s-2"}),
        ),
        (
            "lambda",
            "PublishVersion20150331",
            json!({"functionName": "f"}),
        ),
        (
            "lambda",
            "CreateAlias20150331",
            json!({"functionName": "f", "name": "live", "functionVersion": "3"}),
        ),
    ] {
        let record = console(source, name, req.clone());
        // At most the new resource itself (a database snapshot is followed from its creation,
        // decision 1140), never what it was made from or in.
        const SOURCES_AND_CONTAINERS: [&str; 8] = [
            "vol-1", "i-1", "snap-1", "subnet-1", "vpc-1", "db-1", "c-1", "f",
        ];
        for e in extract(&record) {
            assert!(e.creates, "{name}: {e:?}");
            assert!(
                !SOURCES_AND_CONTAINERS.contains(&e.resource_id.as_str()),
                "{name}: {e:?}"
            );
        }
    }
    // Creating a public URL for a function does change who can reach it.
    let url = console(
        "lambda",
        "CreateFunctionUrlConfig20211031",
        json!({"functionName": "f", "authType": "NONE"}),
    );
    assert_eq!(one(&url).resource_id, "f");
}

// ---- tracking on the table --------------------------------------------------------------

fn link() -> AccountLink {
    AccountLink {
        tenant_id: TENANT.into(),
        connected_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ..active_account()
    }
}

fn setup() -> (Arc<MemoryTable>, ManualClock) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap());
    (MemoryTable::shared(Arc::new(clock.clone())), clock)
}

fn demo() -> Vec<CloudTrailRecord> {
    let text = std::fs::read_to_string(
        repo().join("tests/fixtures/drift/terraform-sg-console-drift.jsonl"),
    )
    .expect("demo fixture");
    text.lines()
        .map(|l| {
            let mut records = records_in(serde_json::from_str(l).expect("json")).expect("envelope");
            CloudTrailRecord::from_value(records.remove(0)).expect("record")
        })
        .collect()
}

impl AsRef<[BusEvent]> for Tracked {
    fn as_ref(&self) -> &[BusEvent] {
        &self.events
    }
}

fn drifts(events: impl AsRef<[BusEvent]>) -> Vec<DriftEvent> {
    events
        .as_ref()
        .iter()
        .filter(|e| e.detail_type == DRIFT_EVENT_DETAIL_TYPE)
        .map(|e| serde_json::from_value(e.detail.clone()).expect("drift event"))
        .collect()
}

fn changes(tracked: &Tracked) -> Vec<ChangeEvent> {
    assert!(
        tracked
            .events
            .iter()
            .all(|e| e.detail_type == DRIFT_EVENT_DETAIL_TYPE),
        "only drift events are published"
    );
    tracked.changes.clone()
}

#[tokio::test]
async fn demo_pair_terraform_then_console_is_drift() {
    let (table, clock) = setup();
    let records = demo();
    let created = track(table.as_ref(), &clock, &records[0], &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&created)[0].class, ChangeClass::Iac);
    assert!(drifts(&created).is_empty());
    let managed = entity::resource::managed_resource(
        table.as_ref(),
        TENANT,
        "ec2:security-group",
        "sg-0123456789abcdef0",
    )
    .await
    .unwrap()
    .expect("managed");
    assert_eq!(managed.managed_by.tool, Some(IacTool::Terraform));
    assert_eq!(
        managed.managed_by.identity,
        "arn:aws:iam::111122223333:role/terraform-deployer"
    );

    let events = track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&events)[0].class, ChangeClass::Drift);
    let drift = drifts(&events).remove(0);
    assert_eq!(drift.kind, DriftEventKind::Detected);
    assert_eq!(drift.id, "drift-c41e8f02-6a7b-4c8d-9e0f-1a2b3c4d5e02");
    assert_eq!(drift.changes[0].new["cidr"], "0.0.0.0/0");
    let actor = &drift.change.as_ref().unwrap().actor;
    assert!(actor.mfa);
    assert_eq!(actor.ip.as_deref(), Some("203.0.113.77"));
    // A redelivery finds the same drift, stored once.
    let again = track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(drifts(&again)[0].id, drift.id);
    let stored = entity::drift_event::drift_for_resource(
        table.as_ref(),
        TENANT,
        "ec2:security-group",
        "sg-0123456789abcdef0",
    )
    .await
    .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, DriftStatus::Open);
}

#[tokio::test]
async fn real_terraform_group_then_script_opening_ssh_is_drift() {
    let (table, clock) = setup();
    let create = real("CreateSecurityGroup", |_| true);
    let ssh = real("AuthorizeSecurityGroupIngress", |r| {
        r["requestParameters"]["cidrIp"].is_string()
    });
    track(table.as_ref(), &clock, &create, &link(), Tracking::Live)
        .await
        .unwrap();
    let events = track(table.as_ref(), &clock, &ssh, &link(), Tracking::Live)
        .await
        .unwrap();
    let drift = drifts(&events);
    assert_eq!(
        drift.len(),
        1,
        "stratus-red-team (no IaC user agent) changed a Terraform group"
    );
    assert_eq!(drift[0].changes[0].new["from_port"], 22);
}

#[test]
fn snapshots_images_and_flow_logs_are_followed_from_their_creation_on_real_records() {
    let snapshot = one(&real("CreateSnapshot", |r| {
        r["responseElements"]["snapshotId"] == "snap-083d3b857c13988bc"
    }));
    assert_eq!(
        (
            snapshot.resource_type.as_str(),
            snapshot.resource_id.as_str(),
            snapshot.creates
        ),
        ("ec2:snapshot", "snap-083d3b857c13988bc", true)
    );
    let image = one(&real("RegisterImage", |_| true));
    assert_eq!(
        (
            image.resource_type.as_str(),
            image.resource_id.as_str(),
            image.creates
        ),
        ("ec2:image", "ami-0aa1d83d0b0985c86", true)
    );
    let db_snapshot = one(&real("CreateDBSnapshot", |_| true));
    assert_eq!(
        (
            db_snapshot.resource_type.as_str(),
            db_snapshot.resource_id.as_str(),
            db_snapshot.creates
        ),
        ("rds:snapshot", "exfiltration", true)
    );
    // EC2's query-API shapes: `flowLogIdSet.item` and `DeleteFlowLogsRequest.FlowLogId.content`.
    let flow_log = one(&real("CreateFlowLogs", |_| true));
    assert_eq!(
        (
            flow_log.resource_type.as_str(),
            flow_log.resource_id.as_str(),
            flow_log.creates
        ),
        ("ec2:flow-log", "fl-064ed3a785e4a37ef", true)
    );
    // The backups Data Lifecycle Manager makes are not followed: no IaC owns them.
    let dlm = synthetic(
        "ec2",
        "CreateSnapshot",
        json!({"volumeId": "vol-1"}),
        json!({"snapshotId": "snap-dlm"}),
        json!({"type": "AssumedRole", "invokedBy": "dlm.amazonaws.com",
            "arn": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForEBSDLM/dlm"}),
        "dlm.amazonaws.com",
    );
    assert!(extract(&dlm).is_empty(), "{:?}", extract(&dlm));
    let backup = synthetic(
        "rds",
        "CreateDBSnapshot",
        json!({"dBInstanceIdentifier": "db-1", "dBSnapshotIdentifier": "awsbackup-1"}),
        Value::Null,
        json!({"type": "AssumedRole", "invokedBy": "backup.amazonaws.com",
            "arn": "arn:aws:sts::111122223333:assumed-role/AWSBackupDefaultServiceRole/b"}),
        "backup.amazonaws.com",
    );
    assert!(extract(&backup).is_empty(), "{:?}", extract(&backup));
    let deleted = one(&real("DeleteFlowLogs", |_| true));
    assert_eq!(deleted.resource_id, "fl-064ed3a785e4a37ef");
    assert_eq!(deleted.changes[0].old, json!("exists"));
    assert_eq!(deleted.changes[0].new, Value::Null);
}

#[test]
fn sharing_a_snapshot_or_an_image_is_shared_with_and_unsharing_is_its_exact_reverse() {
    for (name, kind, id) in [
        (
            "ModifySnapshotAttribute",
            "ec2:snapshot",
            "snap-083d3b857c13988bc",
        ),
        ("ModifyImageAttribute", "ec2:image", "ami-0aa1d83d0b0985c86"),
        ("ModifyDBSnapshotAttribute", "rds:snapshot", "exfiltration"),
    ] {
        let added =
            |r: &Value| r.to_string().contains("\"add\"") || r.to_string().contains("valuesToAdd");
        let share = one(&real(name, added));
        let unshare = one(&real(name, |r| !added(r)));
        assert_eq!(
            (share.resource_type.as_str(), share.resource_id.as_str()),
            (kind, id),
            "{name}"
        );
        assert_eq!(share.changes.len(), 1, "{name}: {:?}", share.changes);
        let (s, u) = (&share.changes[0], &unshare.changes[0]);
        assert_eq!(s.attribute, "shared_with", "{name}");
        assert_eq!(s.old, Value::Null, "{name}");
        assert!(
            s.new["account"].as_str().is_some_and(|a| a.len() == 12),
            "{name}: {}",
            s.new
        );
        assert_eq!(
            (&u.old, &u.new),
            (&s.new, &s.old),
            "{name}: the removal undoes the share"
        );
    }
    let public = one(&console(
        "ec2",
        "ModifySnapshotAttribute",
        json!({"snapshotId": "snap-1", "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [{"group": "all"}]}}}),
    ));
    assert_eq!(public.changes[0].new, json!({"public": true}));
    let public_db = one(&console(
        "rds",
        "ModifyDBClusterSnapshotAttribute",
        json!({"dBClusterSnapshotIdentifier": "nightly", "attributeName": "restore", "valuesToAdd": ["all"]}),
    ));
    assert_eq!(public_db.resource_type, "rds:cluster-snapshot");
    assert_eq!(public_db.changes[0].new, json!({"public": true}));
}

#[tokio::test]
async fn a_terraform_snapshot_shared_with_another_account_is_drift_until_unshared() {
    let (table, clock) = setup();
    let create = real("CreateSnapshot", |r| {
        r["responseElements"]["snapshotId"] == "snap-083d3b857c13988bc"
    });
    let share = real("ModifySnapshotAttribute", |r| {
        r["requestParameters"]["createVolumePermission"]["add"].is_object()
    });
    let unshare = real("ModifySnapshotAttribute", |r| {
        r["requestParameters"]["createVolumePermission"]["remove"].is_object()
    });
    track(table.as_ref(), &clock, &create, &link(), Tracking::Live)
        .await
        .unwrap();
    let shared = track(table.as_ref(), &clock, &share, &link(), Tracking::Live)
        .await
        .unwrap();
    let drift = drifts(&shared);
    assert_eq!(
        drift.len(),
        1,
        "stratus-red-team shared a Terraform snapshot"
    );
    assert_eq!(drift[0].kind, DriftEventKind::Detected);
    let unshared = track(table.as_ref(), &clock, &unshare, &link(), Tracking::Live)
        .await
        .unwrap();
    let resolved = drifts(&unshared);
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_ne!(
        resolved[0].kind,
        DriftEventKind::Detected,
        "the unshare reverts it"
    );
}

#[test]
fn new_code_for_a_function_and_a_new_boot_script_for_an_instance_are_named_so() {
    let code = one(&real("UpdateFunctionCode20150331v2", |_| true));
    assert_eq!(code.resource_type, "lambda:function");
    assert_eq!(code.resource_id, "stratus-red-team-olc-func-xhfgzaowxc");
    assert_eq!(code.changes.len(), 1, "{:?}", code.changes);
    assert_eq!(code.changes[0].attribute, "code");
    let image = one(&console(
        "lambda",
        "UpdateFunctionCode20150331v2",
        json!({"functionName": "f", "imageUri": "111122223333.dkr.ecr.us-east-1.amazonaws.com/f:evil"}),
    ));
    assert_eq!(
        image.changes[0].new["image_uri"],
        "111122223333.dkr.ecr.us-east-1.amazonaws.com/f:evil"
    );
    for req in [
        json!({"instanceId": "i-1", "userData": {"value": "IyEvYmluL3No"}}),
        json!({"instanceId": "i-1", "attribute": "userData", "value": "IyEvYmluL3No"}),
    ] {
        let boot = one(&console("ec2", "ModifyInstanceAttribute", req));
        assert_eq!(boot.changes[0].attribute, "user_data");
    }
}

#[test]
fn a_key_policy_that_lets_anyone_use_the_key_is_public() {
    let policy = |principal: Value| {
        json!({"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "policyName": "default",
            "policy": json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": principal, "Action": "kms:*", "Resource": "*"}]}).to_string()})
    };
    let open = one(&console("kms", "PutKeyPolicy", policy(json!({"AWS": "*"}))));
    assert_eq!(open.resource_type, "kms:key");
    assert_eq!(open.changes[0].attribute, "policy");
    assert_eq!(open.changes[0].new["public"], true);
    let account = one(&console(
        "kms",
        "PutKeyPolicy",
        policy(json!({"AWS": "arn:aws:iam::111122223333:root"})),
    ));
    assert_eq!(account.changes[0].new["public"], false);
}

const ADMIN_DOCUMENT: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

#[test]
fn a_managed_policy_is_followed_by_its_arn_and_its_default_version_is_what_it_allows() {
    let created = one(&real("CreatePolicy", |_| true));
    assert_eq!(created.resource_type, "iam:policy");
    assert_eq!(
        created.resource_id,
        "arn:aws:iam::123837392027:policy/stratus-red-team-ec2lui-policy-pcccexdthk"
    );
    assert!(created.creates);
    assert_eq!(created.changes[0].attribute, "policy_document");
    assert_eq!(created.changes[0].new["admin"], false);
    let arn = "arn:aws:iam::111122223333:policy/deploy";
    let version = |set_as_default: bool| {
        one(&synthetic(
            "iam",
            "CreatePolicyVersion",
            json!({"policyArn": arn, "policyDocument": ADMIN_DOCUMENT, "setAsDefault": set_as_default}),
            json!({"policyVersion": {"versionId": "v2", "isDefaultVersion": set_as_default}}),
            console_user(),
            "AWS Internal",
        ))
    };
    let in_force = version(true);
    assert_eq!(
        (
            in_force.resource_type.as_str(),
            in_force.resource_id.as_str()
        ),
        ("iam:policy", arn)
    );
    assert_eq!(in_force.changes[0].attribute, "policy_document");
    assert_eq!(in_force.changes[0].new["admin"], true);
    assert_eq!(in_force.changes[0].new["version"], "v2");
    let waiting = version(false);
    assert_eq!(waiting.changes[0].attribute, "policy_version");
    assert_eq!(waiting.changes[0].new["allows_admin"], true);
    assert!(
        waiting.changes[0].new.get("admin").is_none(),
        "not in force: no admin flag"
    );
    let made_default = one(&console(
        "iam",
        "SetDefaultPolicyVersion",
        json!({"policyArn": arn, "versionId": "v2"}),
    ));
    assert_eq!(made_default.changes[0].attribute, "policy_document");
    assert_eq!(made_default.changes[0].new["version"], "v2");
    // Attaching a policy still changes the identity it is attached to.
    let attach = one(&console(
        "iam",
        "AttachRolePolicy",
        json!({"roleName": "r", "policyArn": arn}),
    ));
    assert_eq!(attach.resource_type, "iam:role");
}

#[tokio::test]
async fn a_console_version_of_a_terraform_policy_granting_everything_is_drift() {
    let (table, clock) = setup();
    let create = real("CreatePolicy", |_| true);
    let arn = "arn:aws:iam::123837392027:policy/stratus-red-team-ec2lui-policy-pcccexdthk";
    let created = track(table.as_ref(), &clock, &create, &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&created)[0].class, ChangeClass::Iac);
    let escalation = synthetic(
        "iam",
        "CreatePolicyVersion",
        json!({"policyArn": arn, "policyDocument": ADMIN_DOCUMENT, "setAsDefault": true}),
        json!({"policyVersion": {"versionId": "v2", "isDefaultVersion": true}}),
        console_user(),
        "AWS Internal",
    );
    let events = track(table.as_ref(), &clock, &escalation, &link(), Tracking::Live)
        .await
        .unwrap();
    let drift = drifts(&events);
    assert_eq!(
        drift.len(),
        1,
        "a person changed what a Terraform policy allows"
    );
    assert_eq!(drift[0].resource_type, "iam:policy");
    assert_eq!(drift[0].changes[0].new["admin"], true);
}

#[tokio::test]
async fn aws_service_changes_are_automated_not_drift() {
    let (table, clock) = setup();
    let records = demo();
    track(table.as_ref(), &clock, &records[0], &link(), Tracking::Live)
        .await
        .unwrap();
    let asg = synthetic(
        "ec2",
        "CreateTags",
        json!({"resourcesSet": {"items": [{"resourceId": "sg-0123456789abcdef0"}]}, "tagSet": {"items": [{"key": "k", "value": "v"}]}}),
        Value::Null,
        json!({"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}),
        "autoscaling.amazonaws.com",
    );
    let events = track(table.as_ref(), &clock, &asg, &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&events)[0].class, ChangeClass::Automated);
    assert!(drifts(&events).is_empty());
}

#[tokio::test]
async fn console_change_to_console_resource_is_not_drift() {
    let (table, clock) = setup();
    let events = track(
        table.as_ref(),
        &clock,
        &console("ec2", "AuthorizeSecurityGroupIngress", json!({"groupId": "sg-9", "cidrIp": "0.0.0.0/0", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"})),
        &link(),
        Tracking::Live,
    )
    .await
    .unwrap();
    assert_eq!(changes(&events)[0].class, ChangeClass::Unmanaged);
    assert!(drifts(&events).is_empty());
}

#[tokio::test]
async fn iac_change_resolves_open_drift() {
    let (table, clock) = setup();
    let records = demo();
    track(table.as_ref(), &clock, &records[0], &link(), Tracking::Live)
        .await
        .unwrap();
    let opened = drifts(
        track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
            .await
            .unwrap(),
    )
    .remove(0);
    let mut apply = records[0].clone();
    apply.event_id = "tf-apply-2".into();
    apply.event_name = "RevokeSecurityGroupIngress".into();
    apply.request_parameters = Some(
        json!({"groupId": "sg-0123456789abcdef0", "cidrIp": "0.0.0.0/0", "fromPort": 22, "toPort": 22, "ipProtocol": "tcp"}),
    );
    let events = track(table.as_ref(), &clock, &apply, &link(), Tracking::Live)
        .await
        .unwrap();
    let resolved = drifts(&events).remove(0);
    assert_eq!(resolved.kind, DriftEventKind::Resolved);
    assert_eq!(resolved.resolves, vec![opened.id]);
    assert_eq!(resolved.resolution.as_deref(), Some("iac_reapplied"));
    let stored = entity::drift_event::drift_for_resource(
        table.as_ref(),
        TENANT,
        "ec2:security-group",
        "sg-0123456789abcdef0",
    )
    .await
    .unwrap();
    assert_eq!(stored[0].status, DriftStatus::Resolved);
}

#[tokio::test]
async fn console_revert_resolves_the_drift_it_undoes() {
    let (table, clock) = setup();
    let records = demo();
    track(table.as_ref(), &clock, &records[0], &link(), Tracking::Live)
        .await
        .unwrap();
    track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
        .await
        .unwrap();
    let revert = console(
        "ec2",
        "RevokeSecurityGroupIngress",
        json!({"groupId": "sg-0123456789abcdef0", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
    );
    let events = track(table.as_ref(), &clock, &revert, &link(), Tracking::Live)
        .await
        .unwrap();
    let d = drifts(&events);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].kind, DriftEventKind::Resolved);
    assert_eq!(d[0].resolution.as_deref(), Some("reverted"));
}

#[tokio::test]
async fn configured_deployer_role_owns_what_it_changes_and_stack_tags_name_the_stack() {
    let (table, clock) = setup();
    entity::account::set_drift_settings(
        table.as_ref(),
        TENANT,
        "111122223333",
        &DriftSettings {
            deployer_role_arns: vec!["arn:aws:iam::111122223333:role/ci/deployer".into()],
            terraform_workspace: Some("prod".into()),
        },
    )
    .await
    .unwrap();
    let deployer = json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/deployer/gh-actions-42", "accountId": "111122223333"});
    let create = synthetic(
        "ec2",
        "CreateSecurityGroup",
        json!({"groupName": "x"}),
        json!({"groupId": "sg-7"}),
        deployer,
        "aws-sdk-go-v2/1.25",
    );
    let events = track(table.as_ref(), &clock, &create, &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&events)[0].class, ChangeClass::Iac);
    let m =
        entity::resource::managed_resource(table.as_ref(), TENANT, "ec2:security-group", "sg-7")
            .await
            .unwrap()
            .expect("managed");
    assert_eq!(m.managed_by.tool, None);
    assert_eq!(
        m.managed_by.stack.as_deref(),
        Some("prod"),
        "the configured workspace"
    );

    let cfn = synthetic(
        "ec2",
        "CreateSecurityGroup",
        json!({"groupName": "y", "tagSpecificationSet": {"items": [{"resourceType": "security-group", "tags": [{"key": "aws:cloudformation:stack-name", "value": "payments"}]}]}}),
        json!({"groupId": "sg-8"}),
        json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/cfn-exec/AWSCloudFormation", "invokedBy": "cloudformation.amazonaws.com"}),
        "cloudformation.amazonaws.com",
    );
    track(table.as_ref(), &clock, &cfn, &link(), Tracking::Live)
        .await
        .unwrap();
    let m =
        entity::resource::managed_resource(table.as_ref(), TENANT, "ec2:security-group", "sg-8")
            .await
            .unwrap()
            .expect("managed");
    assert_eq!(m.managed_by.tool, Some(IacTool::CloudFormation));
    assert_eq!(m.managed_by.stack.as_deref(), Some("payments"));
}

#[test]
fn deployer_matching() {
    let s = DriftSettings {
        deployer_role_arns: vec!["arn:aws:iam::1:role/deployer".into()],
        terraform_workspace: None,
    };
    assert!(is_deployer(
        "x",
        "arn:aws:sts::1:assumed-role/deployer/s",
        &s
    ));
    assert!(is_deployer("arn:aws:iam::1:role/deployer", "y", &s));
    assert!(!is_deployer(
        "x",
        "arn:aws:sts::1:assumed-role/deployer-2/s",
        &s
    ));
    assert!(!is_deployer(
        "x",
        "arn:aws:sts::2:assumed-role/deployer/s",
        &s
    ));
}

// ---- drift reports ------------------------------------------------------------------------

fn report_json(received: &str, resource_id: Option<&str>) -> String {
    serde_json::to_string(&DriftReport {
        tenant_id: TENANT.into(),
        report_id: "rep-1".into(),
        stack_id: "web-prod".into(),
        account_id: None,
        region: None,
        tool: Some(IacTool::Terraform),
        received_at: received.parse().unwrap(),
        drifts: vec![ReportedDrift {
            resource_address: "aws_security_group.web".into(),
            resource_type: "aws_security_group".into(),
            resource_id: resource_id.map(str::to_owned),
            attribute: "ingress".into(),
            old: json!([]),
            new: json!([{"cidr_blocks": ["0.0.0.0/0"], "from_port": 22}]),
            sensitive: false,
        }],
    })
    .unwrap()
}

#[tokio::test]
async fn report_is_attributed_to_the_cloudtrail_change_within_the_window() {
    let (table, clock) = setup();
    let records = demo();
    track(table.as_ref(), &clock, &records[0], &link(), Tracking::Live)
        .await
        .unwrap();
    track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
        .await
        .unwrap();
    let raw = RawValue::from_string(report_json(
        "2026-11-22T06:00:00Z",
        Some("sg-0123456789abcdef0"),
    ))
    .unwrap();
    let events = report(table.as_ref(), Some(&raw)).await.unwrap();
    let d = drifts(&events).remove(0);
    assert_eq!(d.kind, DriftEventKind::Reported);
    assert_eq!(d.resource_type, "ec2:security-group");
    let change = d.change.expect("attributed");
    assert_eq!(change.event_id, "c41e8f02-6a7b-4c8d-9e0f-1a2b3c4d5e02");
    assert_eq!(
        d.id, "drift-c41e8f02-6a7b-4c8d-9e0f-1a2b3c4d5e02",
        "same finding as the agentless one"
    );
    assert_eq!(d.account_id, "111122223333");

    // Outside the window: not attributed, a stable report-derived id.
    let raw = RawValue::from_string(report_json(
        "2026-11-24T06:00:00Z",
        Some("sg-0123456789abcdef0"),
    ))
    .unwrap();
    let late = drifts(report(table.as_ref(), Some(&raw)).await.unwrap()).remove(0);
    assert!(late.change.is_none());
    assert!(late.id.starts_with("drift-r-"));
    assert_eq!(late.stack.as_deref(), Some("web-prod"));
}

/// When the item of `change` expires.
async fn change_expires(table: &MemoryTable, change: &ChangeEvent) -> Option<i64> {
    let key = entity::resource::change_key(
        TENANT,
        &change.resource_type,
        &change.resource_id,
        &change.event_time,
        &change.event_id,
    );
    let item = table.get(&key).await.unwrap()?;
    match item.get(dd0c_shared::store::TTL_ATTRIBUTE) {
        Some(dd0c_shared::store::AttrValue::N(ttl)) => Some(*ttl as i64),
        other => panic!("a change item expires: {other:?}"),
    }
}

#[tokio::test]
async fn a_change_is_kept_while_something_reads_it() {
    let (table, clock) = setup();
    let records = demo();
    let created = track(table.as_ref(), &clock, &records[0], &link(), Tracking::Live)
        .await
        .unwrap();
    let console = track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
        .await
        .unwrap();
    let drift_change = &changes(&console)[0];
    assert_eq!(drift_change.class, ChangeClass::Drift);
    let day = 86_400;
    // Off every stack timeline, a change's one reader is a drift report's correlation, which
    // passes over what IaC did: Terraform's own write, on no stack, is not stored at all.
    let iac_change = &changes(&created)[0];
    assert_eq!(iac_change.class, ChangeClass::Iac);
    assert_eq!(entity::resource::timeline_stack(iac_change), None);
    assert_eq!(change_expires(&table, iac_change).await, None);
    assert_eq!(entity::resource::timeline_stack(drift_change), None);
    assert_eq!(
        change_expires(&table, drift_change).await,
        Some(drift_change.event_time.timestamp() + 16 * day)
    );
    // A report that arrived 23 hours after the change and waited 14 days in the queues is
    // still attributed to it.
    let received = drift_change.event_time + Duration::hours(23);
    clock.set(received + Duration::days(14));
    let raw = RawValue::from_string(report_json(
        &received.to_rfc3339(),
        Some("sg-0123456789abcdef0"),
    ))
    .unwrap();
    let reported = drifts(report(table.as_ref(), Some(&raw)).await.unwrap()).remove(0);
    assert_eq!(
        reported.change.map(|c| c.event_id),
        Some(drift_change.event_id.clone())
    );

    // A change a stack's timeline shows is kept 90 days, and is still there after 30.
    let cfn = synthetic(
        "ec2",
        "CreateSecurityGroup",
        json!({"groupName": "y", "tagSpecificationSet": {"items": [{"resourceType": "security-group", "tags": [{"key": "aws:cloudformation:stack-name", "value": "payments"}]}]}}),
        json!({"groupId": "sg-8"}),
        json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/cfn-exec/AWSCloudFormation", "invokedBy": "cloudformation.amazonaws.com"}),
        "cloudformation.amazonaws.com",
    );
    clock.set(cfn.event_time);
    let applied = track(table.as_ref(), &clock, &cfn, &link(), Tracking::Live)
        .await
        .unwrap();
    let on_timeline = &changes(&applied)[0];
    assert_eq!(
        entity::resource::timeline_stack(on_timeline),
        Some("payments")
    );
    assert_eq!(
        change_expires(&table, on_timeline).await,
        Some(on_timeline.event_time.timestamp() + 90 * day)
    );
    clock.set(cfn.event_time + Duration::days(30));
    let timeline = entity::stack_timeline::page(table.as_ref(), TENANT, "payments", None, 10)
        .await
        .unwrap();
    assert_eq!(timeline.entries.len(), 1);
}

#[test]
fn correlation_prefers_the_change_to_the_reported_attribute() {
    let base: ChangeEvent = serde_json::from_value(json!({
        "tenant_id": "t", "account_id": "a", "region": "r", "event_id": "e1",
        "event_time": "2026-11-21T00:00:00Z", "action": "AuthorizeSecurityGroupIngress",
        "resource_type": "ec2:security-group", "resource_id": "sg-1",
        "changes": [{"attribute": "ingress", "old": null, "new": {}}],
        "actor": {"arn": "a", "name": "n", "kind": "iam_user", "source": {"via": "console"}},
        "class": "drift"
    }))
    .unwrap();
    let mut tags = base.clone();
    tags.event_id = "e2".into();
    tags.changes[0].attribute = "tags.owner".into();
    let mut iac = base.clone();
    iac.event_id = "e3".into();
    iac.class = ChangeClass::Iac;
    let all = vec![base, tags, iac];
    assert_eq!(correlate(&all, &["ingress".into()]).unwrap().event_id, "e1");
    assert_eq!(
        correlate(&all, &["tags.owner".into()]).unwrap().event_id,
        "e2"
    );
    assert_eq!(
        correlate(&all, &["description".into()]).unwrap().event_id,
        "e2",
        "latest non-IaC"
    );
    assert!(
        correlate(&all[2..], &["ingress".into()]).is_none(),
        "IaC changes are not drift"
    );
}

#[tokio::test]
async fn real_console_delete_of_a_terraform_database_is_drift() {
    let (table, clock) = setup();
    let db = "terraform-20230710121504061500000001";
    let create = real("CreateDBInstance", |r| {
        r["requestParameters"]["dBInstanceIdentifier"] == db
    });
    let delete = real("DeleteDBInstance", |r| {
        r["requestParameters"]["dBInstanceIdentifier"] == db
            && r["sessionCredentialFromConsole"] == "true"
    });
    let created = track(table.as_ref(), &clock, &create, &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&created)[0].class, ChangeClass::Iac);
    let events = track(table.as_ref(), &clock, &delete, &link(), Tracking::Live)
        .await
        .unwrap();
    let d = drifts(&events);
    assert_eq!(d.len(), 1, "the console deleted a Terraform database");
    assert_eq!(d[0].resource_type, "rds:db");
    assert_eq!(d[0].changes[0].new, Value::Null);
    assert_eq!(
        d[0].change.as_ref().unwrap().actor.source,
        dd0c_shared::domain::Source::Console
    );
}

#[test]
fn terminate_instances_removes_each_instance() {
    let e = extract(&console(
        "ec2",
        "TerminateInstances",
        json!({"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}}),
    ));
    assert_eq!(e.len(), 2);
    assert_eq!(e[1].resource_id, "i-2");
    assert_eq!(e[0].changes[0].old, json!("exists"));
}

/// History (the backfill) teaches what IaC owns: a Terraform creation before the connection
/// makes the group managed, so the first console change after it is drift. A change in the
/// history itself is neither drift nor kept as a change.
#[tokio::test]
async fn history_learns_what_iac_owns_and_nothing_else() {
    let (table, clock) = setup();
    let records = demo();
    let created = track(
        table.as_ref(),
        &clock,
        &records[0],
        &link(),
        Tracking::OwnershipOnly,
    )
    .await
    .unwrap();
    assert!(created.changes.is_empty() && created.events.is_empty());
    let managed = entity::resource::managed_resource(
        table.as_ref(),
        TENANT,
        "ec2:security-group",
        "sg-0123456789abcdef0",
    )
    .await
    .unwrap()
    .expect("ownership learnt from history");
    assert_eq!(managed.managed_by.tool, Some(IacTool::Terraform));
    assert_eq!(managed.tags.get("env").map(String::as_str), Some("prod"));
    let in_history = track(
        table.as_ref(),
        &clock,
        &records[1],
        &link(),
        Tracking::OwnershipOnly,
    )
    .await
    .unwrap();
    assert!(in_history.events.is_empty() && in_history.changes.is_empty());
    let live = track(table.as_ref(), &clock, &records[1], &link(), Tracking::Live)
        .await
        .unwrap();
    assert_eq!(changes(&live)[0].class, ChangeClass::Drift);
    assert_eq!(drifts(&live).len(), 1);
}

/// A resource IaC deleted is no longer IaC's: a bucket created again under the same name by
/// hand belongs to whoever created it, and a change to it is not drift (decision 1230).
#[tokio::test]
async fn a_resource_iac_deleted_is_no_longer_iacs() {
    let (table, clock) = setup();
    let by_terraform = |name: &str| {
        synthetic(
            "s3",
            name,
            json!({"bucketName": "acme-logs"}),
            Value::Null,
            console_user(),
            "APN/1.0 HashiCorp/1.0 Terraform/1.7.4",
        )
    };
    let owner = || async {
        entity::resource::managed_resource(table.as_ref(), TENANT, "s3:bucket", "acme-logs")
            .await
            .unwrap()
    };
    for (record, owned) in [
        (by_terraform("CreateBucket"), true),
        (by_terraform("DeleteBucket"), false),
    ] {
        let tracked = track(table.as_ref(), &clock, &record, &link(), Tracking::Live)
            .await
            .unwrap();
        assert_eq!(changes(&tracked)[0].class, ChangeClass::Iac);
        assert_eq!(
            owner().await.is_some(),
            owned,
            "after {}",
            record.event_name
        );
    }
    let by_hand = [
        console("s3", "CreateBucket", json!({"bucketName": "acme-logs"})),
        console(
            "s3",
            "PutBucketPolicy",
            json!({"bucketName": "acme-logs", "bucketPolicy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::acme-logs/*"}]}}),
        ),
    ];
    for record in &by_hand {
        let tracked = track(table.as_ref(), &clock, record, &link(), Tracking::Live)
            .await
            .unwrap();
        assert_eq!(
            changes(&tracked)[0].class,
            ChangeClass::Unmanaged,
            "{}",
            record.event_name
        );
        assert!(drifts(&tracked.events).is_empty());
    }
    // The backfill's history reads IaC's deletion the same way.
    let (table, clock) = setup();
    for record in [by_terraform("CreateBucket"), by_terraform("DeleteBucket")] {
        track(
            table.as_ref(),
            &clock,
            &record,
            &link(),
            Tracking::OwnershipOnly,
        )
        .await
        .unwrap();
    }
    assert!(
        entity::resource::managed_resource(table.as_ref(), TENANT, "s3:bucket", "acme-logs")
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn only_a_call_that_deletes_the_resource_itself_says_it_deletes() {
    let deletes = |source: &str, name: &str, req: Value| one(&console(source, name, req)).deletes;
    assert!(deletes("s3", "DeleteBucket", json!({"bucketName": "b"})));
    assert!(deletes(
        "ec2",
        "DeleteSecurityGroup",
        json!({"groupId": "sg-1"})
    ));
    assert!(deletes(
        "ec2",
        "TerminateInstances",
        json!({"instancesSet": {"items": [{"instanceId": "i-1"}]}})
    ));
    assert!(deletes(
        "lambda",
        "DeleteFunction20150331",
        json!({"functionName": "f"})
    ));
    assert!(!deletes(
        "s3",
        "DeleteBucketPolicy",
        json!({"bucketName": "b"})
    ));
    assert!(!deletes(
        "s3",
        "DeleteBucketEncryption",
        json!({"bucketName": "b"})
    ));
    assert!(!deletes(
        "ec2",
        "DeleteTags",
        json!({"resourcesSet": {"items": [{"resourceId": "sg-1"}]}, "tagSet": {"items": [{"key": "k"}]}})
    ));
    assert!(!deletes(
        "kms",
        "ScheduleKeyDeletion",
        json!({"keyId": "k-1"})
    ));
}
