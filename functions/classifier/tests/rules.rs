//! Every built-in rule (a test fails when its rule is removed or weakened), the default, and
//! validation errors naming the bad rule.

use chrono::{TimeZone, Utc};
use dd0c_classifier::rules::holds;
use dd0c_classifier::RuleEngine;
use dd0c_shared::domain::drift::{
    AttributeChange, ChangeClass, ChangeEvent, DriftCategory, DriftEvent, DriftEventKind,
    RuleCondition, RuleError,
};
use dd0c_shared::domain::{Actor, Severity};
use dd0c_shared::testing::console_user;
use serde_json::{json, Value};

fn drift(
    resource_type: &str,
    action: Option<&str>,
    changes: Vec<(&str, Value, Value)>,
) -> DriftEvent {
    let changes: Vec<AttributeChange> = changes
        .into_iter()
        .map(|(a, o, n)| AttributeChange::new(a, o, n))
        .collect();
    let t = Utc.with_ymd_and_hms(2026, 11, 18, 14, 0, 0).unwrap();
    DriftEvent {
        id: "drift-e1".into(),
        kind: DriftEventKind::Detected,
        tenant_id: "t".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        resource_type: resource_type.into(),
        resource_id: "r-1".into(),
        resource_address: None,
        stack: None,
        managed_by: None,
        changes: changes.clone(),
        change: action.map(|a| ChangeEvent {
            tenant_id: "t".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            event_id: "e1".into(),
            event_time: t,
            action: a.into(),
            resource_type: resource_type.into(),
            resource_id: "r-1".into(),
            changes,
            actor: Actor {
                arn: "arn:aws:iam::111122223333:user/jane".into(),
                name: "jane".into(),
                ip: Some("203.0.113.5".into()),
                mfa: true,
                ..console_user()
            },
            class: ChangeClass::Drift,
            managed_by: None,
        }),
        report_id: None,
        detected_at: t,
        resolves: vec![],
        resolution: None,
    }
}

fn engine() -> RuleEngine {
    RuleEngine::builtin().expect("built-in rules are valid")
}

fn sev_cat(d: &DriftEvent) -> (Severity, DriftCategory, Vec<String>) {
    let c = engine().classify(d);
    (c.severity, c.category, c.rules)
}

fn ingress(cidr: &str, from: i64, to: i64) -> Vec<(&'static str, Value, Value)> {
    vec![(
        "ingress",
        Value::Null,
        json!({"protocol": "tcp", "from_port": from, "to_port": to, "cidr": cidr}),
    )]
}

#[test]
fn world_on_admin_and_database_ports_is_critical_security() {
    for (cidr, port) in [
        ("0.0.0.0/0", 22),
        ("::/0", 3389),
        ("0.0.0.0/0", 5432),
        ("0.0.0.0/0", 3306),
    ] {
        let (s, c, r) = sev_cat(&drift(
            "ec2:security-group",
            Some("AuthorizeSecurityGroupIngress"),
            ingress(cidr, port, port),
        ));
        assert_eq!(
            (s, c),
            (Severity::Critical, DriftCategory::Security),
            "{cidr} {port}"
        );
        assert_eq!(r[0], "sg-world-admin-port");
    }
    // A range spanning 22, and all traffic.
    let (s, ..) = sev_cat(&drift(
        "ec2:security-group",
        Some("AuthorizeSecurityGroupIngress"),
        ingress("0.0.0.0/0", 0, 1024),
    ));
    assert_eq!(s, Severity::Critical);
    let all = vec![(
        "ingress",
        Value::Null,
        json!({"protocol": "-1", "from_port": null, "to_port": null, "cidr": "::/0"}),
    )];
    assert_eq!(
        sev_cat(&drift(
            "ec2:security-group",
            Some("AuthorizeSecurityGroupIngress"),
            all
        ))
        .0,
        Severity::Critical
    );
    // Terraform's shape in a drift report.
    let tf = vec![(
        "ingress",
        json!([]),
        json!([{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}]),
    )];
    assert_eq!(
        sev_cat(&drift("ec2:security-group", None, tf)).2[0],
        "sg-world-admin-port-reported"
    );
}

#[test]
fn world_on_other_ports_is_high_and_private_ranges_medium() {
    let (s, c, _) = sev_cat(&drift(
        "ec2:security-group",
        Some("AuthorizeSecurityGroupIngress"),
        ingress("0.0.0.0/0", 443, 443),
    ));
    assert_eq!((s, c), (Severity::High, DriftCategory::Network));
    let (s, c, _) = sev_cat(&drift(
        "ec2:security-group",
        Some("AuthorizeSecurityGroupIngress"),
        ingress("10.0.0.0/8", 22, 22),
    ));
    assert_eq!((s, c), (Severity::Medium, DriftCategory::Network));
}

#[test]
fn database_made_public_is_critical() {
    let d = drift(
        "rds:db",
        Some("ModifyDBInstance"),
        vec![("publicly_accessible", Value::Null, json!(true))],
    );
    assert_eq!(sev_cat(&d).0, Severity::Critical);
    assert_eq!(sev_cat(&d).2[0], "db-made-public");
    let private = drift(
        "rds:db",
        Some("ModifyDBInstance"),
        vec![("publicly_accessible", Value::Null, json!(false))],
    );
    assert_ne!(sev_cat(&private).0, Severity::Critical);
}

#[test]
fn public_bucket_is_critical() {
    for attr in ["policy", "acl", "public_access_block"] {
        let d = drift(
            "s3:bucket",
            Some("PutBucketPolicy"),
            vec![(attr, Value::Null, json!({"public": true}))],
        );
        assert_eq!(
            (sev_cat(&d).0, sev_cat(&d).2[0].as_str()),
            (Severity::Critical, "bucket-made-public"),
            "{attr}"
        );
    }
    let private = drift(
        "s3:bucket",
        Some("PutBucketPolicy"),
        vec![("policy", Value::Null, json!({"public": false}))],
    );
    assert_eq!(sev_cat(&private).0, Severity::High);
}

#[test]
fn admin_policy_is_critical_other_iam_high() {
    let admin = drift(
        "iam:role",
        Some("AttachRolePolicy"),
        vec![(
            "managed_policy",
            Value::Null,
            json!({"arn": "arn:aws:iam::aws:policy/AdministratorAccess", "admin": true}),
        )],
    );
    assert_eq!(
        sev_cat(&admin),
        (
            Severity::Critical,
            DriftCategory::Iam,
            vec!["iam-admin-policy".into(), "iam-policy-changed".into()]
        )
    );
    let other = drift(
        "iam:user",
        Some("CreateAccessKey"),
        vec![("access_key", Value::Null, json!({"access_key_id": "AKIA"}))],
    );
    assert_eq!(sev_cat(&other).0, Severity::High);
    assert_eq!(sev_cat(&other).1, DriftCategory::Iam);
    // A console password, an MFA device taken away, a group joined, a boundary lifted: each
    // is a way in or a change of what the identity may do, not "configuration".
    for (action, attribute, old, new) in [
        (
            "CreateLoginProfile",
            "login_profile",
            Value::Null,
            json!({"password_reset_required": false}),
        ),
        (
            "UpdateLoginProfile",
            "login_profile",
            json!("set"),
            json!({"password_changed": true}),
        ),
        (
            "DeactivateMFADevice",
            "mfa_device",
            json!({"serial_number": "arn:aws:iam::1:mfa/u"}),
            Value::Null,
        ),
        (
            "AddUserToGroup",
            "group_membership",
            Value::Null,
            json!({"group": "admins"}),
        ),
        (
            "DeleteUserPermissionsBoundary",
            "permissions_boundary",
            json!("set"),
            Value::Null,
        ),
        (
            "UploadSSHPublicKey",
            "ssh_public_key",
            Value::Null,
            json!({"ssh_public_key_id": "APKA"}),
        ),
        (
            "CreateServiceSpecificCredential",
            "service_specific_credential",
            Value::Null,
            json!({"credential_id": "ACCA"}),
        ),
        (
            "UploadSigningCertificate",
            "signing_certificate",
            Value::Null,
            json!({"certificate_id": "C"}),
        ),
    ] {
        let d = drift("iam:user", Some(action), vec![(attribute, old, new)]);
        assert_eq!(
            sev_cat(&d),
            (
                Severity::High,
                DriftCategory::Iam,
                vec!["iam-policy-changed".into()]
            ),
            "{action}"
        );
    }
    // A customer managed policy: a version made the default is what it allows from then on.
    let in_force = drift(
        "iam:policy",
        Some("CreatePolicyVersion"),
        vec![(
            "policy_document",
            json!("set"),
            json!({"version": "v2", "admin": true}),
        )],
    );
    assert_eq!(
        sev_cat(&in_force),
        (
            Severity::Critical,
            DriftCategory::Iam,
            vec!["iam-admin-policy".into(), "iam-policy-changed".into()]
        )
    );
    let waiting = drift(
        "iam:policy",
        Some("CreatePolicyVersion"),
        vec![(
            "policy_version",
            Value::Null,
            json!({"version": "v3", "allows_admin": true}),
        )],
    );
    assert_eq!(sev_cat(&waiting).0, Severity::High);
}

#[test]
fn a_snapshot_or_image_shared_is_data_drift_and_made_public_is_critical() {
    for kind in [
        "ec2:snapshot",
        "ec2:image",
        "rds:snapshot",
        "rds:cluster-snapshot",
    ] {
        let shared = drift(
            kind,
            Some("ModifySnapshotAttribute"),
            vec![(
                "shared_with",
                Value::Null,
                json!({"account": "012345678912"}),
            )],
        );
        assert_eq!(
            sev_cat(&shared),
            (
                Severity::High,
                DriftCategory::Data,
                vec!["snapshot-shared".into()]
            ),
            "{kind}"
        );
        let public = drift(
            kind,
            Some("ModifySnapshotAttribute"),
            vec![("shared_with", Value::Null, json!({"public": true}))],
        );
        assert_eq!(
            sev_cat(&public),
            (
                Severity::Critical,
                DriftCategory::Security,
                vec!["snapshot-made-public".into()]
            ),
            "{kind}"
        );
        // Taking a share back on its own is no share: medium, the default.
        let unshared = drift(
            kind,
            Some("ModifySnapshotAttribute"),
            vec![(
                "shared_with",
                json!({"account": "012345678912"}),
                Value::Null,
            )],
        );
        assert_eq!(sev_cat(&unshared).0, Severity::Medium, "{kind}");
    }
    let flow_logs = drift(
        "ec2:flow-log",
        Some("DeleteFlowLogs"),
        vec![("flow_log", json!("exists"), Value::Null)],
    );
    assert_eq!(
        sev_cat(&flow_logs),
        (
            Severity::High,
            DriftCategory::Security,
            vec!["flow-logs-deleted".into()]
        )
    );
    let backup_gone = drift(
        "ec2:snapshot",
        Some("DeleteSnapshot"),
        vec![("snapshot", json!("exists"), Value::Null)],
    );
    assert_eq!(
        sev_cat(&backup_gone),
        (
            Severity::High,
            DriftCategory::Data,
            vec!["data-store-deleted".into()]
        )
    );
}

#[test]
fn a_function_given_another_role_or_an_instance_another_boot_script_is_high() {
    let role = drift(
        "lambda:function",
        Some("UpdateFunctionConfiguration"),
        vec![(
            "role",
            json!("arn:aws:iam::1:role/app"),
            json!("arn:aws:iam::1:role/admin"),
        )],
    );
    assert_eq!(
        sev_cat(&role),
        (
            Severity::High,
            DriftCategory::Iam,
            vec!["function-role-changed".into()]
        )
    );
    // A pipeline deploying code, layers or a handler outside IaC is everyday: medium.
    for attribute in ["code", "layers", "handler", "timeout"] {
        let d = drift(
            "lambda:function",
            Some("UpdateFunctionCode"),
            vec![(attribute, json!("set"), json!("new"))],
        );
        assert_eq!(sev_cat(&d).0, Severity::Medium, "{attribute}");
    }
    let boot = drift(
        "ec2:instance",
        Some("ModifyInstanceAttribute"),
        vec![("user_data", Value::Null, json!("IyEvYmluL3No"))],
    );
    assert_eq!(
        sev_cat(&boot),
        (
            Severity::High,
            DriftCategory::Security,
            vec!["instance-boot-script-changed".into()]
        )
    );
}

#[test]
fn bucket_settings_that_lose_or_copy_out_data_are_high_and_others_medium() {
    let cases = [
        (
            "PutBucketLifecycle",
            "lifecycle",
            json!({"deletes_objects": true, "expires_after_days": 1.0}),
            "bucket-objects-expire",
            DriftCategory::Data,
        ),
        (
            "PutBucketVersioning",
            "versioning",
            json!({"weakened": true, "status": "Suspended"}),
            "bucket-versioning-weakened",
            DriftCategory::Data,
        ),
        (
            "PutBucketEncryption",
            "encryption",
            json!({"weakened": true, "kms_key": "arn:aws:kms:us-east-1:9:key/k"}),
            "bucket-encryption-weakened",
            DriftCategory::Security,
        ),
        (
            "PutBucketReplication",
            "replication",
            json!({"copies_objects": true, "to_another_account": true}),
            "bucket-replicated-to-another-account",
            DriftCategory::Data,
        ),
        (
            "PutBucketLogging",
            "access_logging",
            json!({"enabled": false}),
            "bucket-access-logging-off",
            DriftCategory::Security,
        ),
    ];
    for (action, attribute, new, rule, category) in cases {
        let d = drift(
            "s3:bucket",
            Some(action),
            vec![(attribute, Value::Null, new)],
        );
        assert_eq!(
            sev_cat(&d),
            (Severity::High, category, vec![rule.to_string()]),
            "{action}"
        );
    }
    // The same settings made safer, or changed without losing data: medium.
    let everyday = [
        (
            "PutBucketLifecycle",
            "lifecycle",
            json!({"deletes_objects": false}),
        ),
        ("DeleteBucketLifecycle", "lifecycle", Value::Null),
        (
            "PutBucketVersioning",
            "versioning",
            json!({"weakened": false, "status": "Enabled"}),
        ),
        (
            "PutBucketEncryption",
            "encryption",
            json!({"weakened": false}),
        ),
        (
            "PutBucketReplication",
            "replication",
            json!({"copies_objects": true, "to_another_account": false}),
        ),
        (
            "PutBucketLogging",
            "access_logging",
            json!({"enabled": true}),
        ),
    ];
    for (action, attribute, new) in everyday {
        let d = drift(
            "s3:bucket",
            Some(action),
            vec![(attribute, json!("set"), new)],
        );
        assert_eq!(sev_cat(&d).0, Severity::Medium, "{action} {attribute}");
    }
}

#[test]
fn cloudtrail_stopped_or_deleted_is_critical() {
    for action in ["StopLogging", "DeleteTrail"] {
        let d = drift(
            "cloudtrail:trail",
            Some(action),
            vec![("logging", json!(true), json!(false))],
        );
        assert_eq!(sev_cat(&d).0, Severity::Critical, "{action}");
        assert!(sev_cat(&d).2.contains(&"cloudtrail-stopped".to_string()));
    }
    let reported = drift(
        "cloudtrail:trail",
        None,
        vec![("enable_logging", json!(true), json!(false))],
    );
    assert_eq!(sev_cat(&reported).2[0], "cloudtrail-logging-off-reported");
    let unrecorded = drift(
        "cloudtrail:trail",
        Some("PutEventSelectors"),
        vec![(
            "event_selectors",
            Value::Null,
            json!({"logs_management_writes": false}),
        )],
    );
    assert_eq!(
        sev_cat(&unrecorded),
        (
            Severity::Critical,
            DriftCategory::Security,
            vec![
                "cloudtrail-writes-unrecorded".into(),
                "cloudtrail-changed".into()
            ]
        )
    );
    let recorded = drift(
        "cloudtrail:trail",
        Some("PutEventSelectors"),
        vec![(
            "event_selectors",
            Value::Null,
            json!({"logs_management_writes": true}),
        )],
    );
    assert_eq!(sev_cat(&recorded).0, Severity::High);
    let upd = drift(
        "cloudtrail:trail",
        Some("UpdateTrail"),
        vec![("is_multi_region_trail", Value::Null, json!(false))],
    );
    assert_eq!(sev_cat(&upd).0, Severity::High);
}

#[test]
fn a_kms_key_policy_changed_is_high_and_opened_to_anyone_is_critical() {
    let opened = drift(
        "kms:key",
        Some("PutKeyPolicy"),
        vec![(
            "policy",
            Value::Null,
            json!({"public": true, "document": {}}),
        )],
    );
    assert_eq!(
        sev_cat(&opened),
        (
            Severity::Critical,
            DriftCategory::Security,
            vec![
                "kms-key-policy-public".into(),
                "kms-key-policy-changed".into()
            ]
        )
    );
    let changed = drift(
        "kms:key",
        Some("PutKeyPolicy"),
        vec![(
            "policy",
            Value::Null,
            json!({"public": false, "document": {}}),
        )],
    );
    assert_eq!(
        sev_cat(&changed),
        (
            Severity::High,
            DriftCategory::Security,
            vec!["kms-key-policy-changed".into()]
        )
    );
}

#[test]
fn kms_disabled_or_deletion_is_high() {
    let d = drift(
        "kms:key",
        Some("DisableKey"),
        vec![("key_state", json!("Enabled"), json!("Disabled"))],
    );
    assert_eq!(
        sev_cat(&d),
        (
            Severity::High,
            DriftCategory::Security,
            vec!["kms-key-disabled".into()]
        )
    );
    let s = drift(
        "kms:key",
        Some("ScheduleKeyDeletion"),
        vec![(
            "key_state",
            json!("Enabled"),
            json!({"state": "PendingDeletion"}),
        )],
    );
    assert_eq!(sev_cat(&s).2, vec!["kms-key-deletion".to_string()]);
}

#[test]
fn size_changes_are_medium_configuration() {
    for (t, attr) in [
        ("ec2:instance", "instance_type"),
        ("rds:db", "instance_class"),
        ("lambda:function", "memory_size"),
    ] {
        let d = drift(t, Some("Modify"), vec![(attr, Value::Null, json!("big"))]);
        assert_eq!(
            sev_cat(&d),
            (
                Severity::Medium,
                DriftCategory::Configuration,
                vec!["size-changed".into()]
            ),
            "{attr}"
        );
    }
}

#[test]
fn tag_only_changes_are_low() {
    let d = drift(
        "ec2:instance",
        Some("CreateTags"),
        vec![
            ("tags.owner", Value::Null, json!("x")),
            ("tags.env", Value::Null, json!("y")),
        ],
    );
    assert_eq!(
        sev_cat(&d),
        (Severity::Low, DriftCategory::Tags, vec!["tags-only".into()])
    );
    let mixed = drift(
        "ec2:instance",
        Some("X"),
        vec![
            ("tags.owner", Value::Null, json!("x")),
            ("instance_type", Value::Null, json!("y")),
        ],
    );
    assert_eq!(sev_cat(&mixed).0, Severity::Medium);
}

#[test]
fn lambda_permissions_and_listeners() {
    let public = drift(
        "lambda:function",
        Some("AddPermission"),
        vec![(
            "permission",
            Value::Null,
            json!({"principal": "*", "public": true}),
        )],
    );
    assert_eq!(sev_cat(&public).0, Severity::Critical);
    let scoped = drift(
        "lambda:function",
        Some("AddPermission"),
        vec![(
            "permission",
            Value::Null,
            json!({"principal": "s3.amazonaws.com", "public": false}),
        )],
    );
    assert_eq!(sev_cat(&scoped).0, Severity::High);
    let listener = drift(
        "elasticloadbalancing:listener",
        Some("ModifyListener"),
        vec![("port", Value::Null, json!(8080))],
    );
    assert_eq!(
        sev_cat(&listener),
        (
            Severity::Medium,
            DriftCategory::Network,
            vec!["listener-changed".into()]
        )
    );
}

#[test]
fn no_rule_is_medium_configuration() {
    let d = drift(
        "sqs:queue",
        Some("SetQueueAttributes"),
        vec![("visibility_timeout", Value::Null, json!(60))],
    );
    let c = engine().classify(&d);
    assert_eq!(
        (c.severity, c.category),
        (Severity::Medium, DriftCategory::Configuration)
    );
    assert!(c.rules.is_empty());
}

fn err(text: &str) -> String {
    RuleEngine::from_json(text)
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn validation_errors_name_the_rule() {
    let ok =
        r#"{"id": "a", "severity": "high", "category": "iam", "actions": ["X"], "reason": "r"}"#;
    assert!(RuleEngine::from_json(&format!(r#"{{"rules": [{ok}]}}"#)).is_ok());
    let e = err(&format!(
        r#"{{"rules": [{ok}, {{"id": "bad-sev", "severity": "urgent", "category": "iam", "actions": ["X"], "reason": "r"}}]}}"#
    ));
    assert!(
        e.contains("rule #1") && e.contains("bad-sev") && e.contains("urgent"),
        "{e}"
    );
    let e = err(
        r#"{"rules": [{"id": "warn", "severity": "warning", "category": "iam", "actions": ["X"], "reason": "r"}]}"#,
    );
    assert!(
        e.contains("\"warn\"") && e.contains("not a drift severity"),
        "{e}"
    );
    let e = err(
        r#"{"rules": [{"id": "cat", "severity": "low", "category": "finance", "actions": ["X"], "reason": "r"}]}"#,
    );
    assert!(e.contains("\"cat\"") && e.contains("finance"), "{e}");
    let e = err(
        r#"{"rules": [{"id": "op", "severity": "low", "category": "tags", "conditions": [{"path": "new", "op": "near", "value": 1}], "reason": "r"}]}"#,
    );
    assert!(e.contains("\"op\"") && e.contains("near"), "{e}");
    let e = err(
        r#"{"rules": [{"id": "port", "severity": "low", "category": "tags", "conditions": [{"path": "new", "op": "covers_port", "value": [70000]}], "reason": "r"}]}"#,
    );
    assert!(e.contains("\"port\"") && e.contains("conditions[0]"), "{e}");
    let e = err(
        r#"{"rules": [{"id": "path", "severity": "low", "category": "tags", "conditions": [{"path": "cidr", "op": "exists"}], "reason": "r"}]}"#,
    );
    assert!(e.contains("must start with attribute, old or new"), "{e}");
    let e = err(&format!(r#"{{"rules": [{ok}, {ok}]}}"#));
    assert!(e.contains("duplicate"), "{e}");
    let e =
        err(r#"{"rules": [{"id": "all", "severity": "low", "category": "tags", "reason": "r"}]}"#);
    assert!(e.contains("matches everything"), "{e}");
    let e = err(
        r#"{"rules": [{"severity": "low", "category": "tags", "actions": ["X"], "reason": "r"}]}"#,
    );
    assert!(e.contains("<no id>") && e.contains("id"), "{e}");
    let e = err(
        r#"{"rules": [{"id": "typo", "severity": "low", "category": "tags", "action": ["X"], "reason": "r"}]}"#,
    );
    assert!(e.contains("\"typo\"") && e.contains("action"), "{e}");
    assert!(matches!(
        RuleEngine::from_json("[]"),
        Err(RuleError::File(_))
    ));
}

#[test]
fn deleting_managed_resources_is_high() {
    let db = drift(
        "rds:db",
        Some("DeleteDBInstance"),
        vec![("instance", json!("exists"), Value::Null)],
    );
    assert_eq!(
        sev_cat(&db),
        (
            Severity::High,
            DriftCategory::Data,
            vec!["data-store-deleted".into()]
        )
    );
    let vm = drift(
        "ec2:instance",
        Some("TerminateInstances"),
        vec![("instance", json!("exists"), Value::Null)],
    );
    assert_eq!(
        sev_cat(&vm),
        (
            Severity::High,
            DriftCategory::Configuration,
            vec!["managed-resource-deleted".into()]
        )
    );
}

// ---------------------------------------------------------------------------------------
// The rule language, on small rules of its own.

fn engine_of(rules: Value) -> RuleEngine {
    RuleEngine::from_json(&json!({ "rules": rules }).to_string()).expect("valid rules")
}

fn condition(path: &str, op: &str, value: Value) -> RuleCondition {
    serde_json::from_value(json!({"path": path, "op": op, "value": value})).unwrap()
}

fn change(attribute: &str, old: Value, new: Value) -> AttributeChange {
    AttributeChange::new(attribute, old, new)
}

#[test]
fn the_builtin_engine_keeps_every_rule_of_the_file_in_order() {
    let file: Value = serde_json::from_str(dd0c_classifier::rules::BUILTIN_RULES).unwrap();
    let ids: Vec<&str> = file["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let engine = engine();
    let loaded: Vec<&str> = engine.rules().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(loaded, ids);
}

#[test]
fn every_matching_rules_reason_is_listed_once_most_severe_first() {
    let engine = engine_of(json!([
        {"id": "low", "severity": "low", "category": "tags", "actions": ["Act"], "reason": "second"},
        {"id": "high", "severity": "high", "category": "network", "actions": ["Act"], "reason": "first"},
        {"id": "high-too", "severity": "high", "category": "network", "actions": ["Act"], "reason": "first"},
    ]));
    let c = engine.classify(&drift("ec2:instance", Some("Act"), vec![]));
    assert_eq!(c.severity, Severity::High);
    assert_eq!(c.category, DriftCategory::Network);
    assert_eq!(c.rules, ["high", "high-too", "low"]);
    assert_eq!(c.reasons, ["first", "second"]);
}

#[test]
fn only_attributes_are_exact_names_or_prefixes_ending_in_a_star() {
    let engine = engine_of(json!([
        {"id": "exact", "severity": "low", "category": "tags", "only_attributes": ["tags"], "reason": "exact"},
        {"id": "prefix", "severity": "low", "category": "tags", "only_attributes": ["tag*"], "reason": "prefix"},
    ]));
    let rules = |attribute: &str| {
        engine
            .classify(&drift(
                "ec2:instance",
                Some("Act"),
                vec![(attribute, json!("a"), json!("b"))],
            ))
            .rules
    };
    assert_eq!(rules("tags"), ["exact", "prefix"]);
    assert_eq!(rules("tags_all"), ["prefix"]);
    assert!(rules("instance_type").is_empty());
}

#[test]
fn conditions_read_the_old_or_the_new_value() {
    let was_public = condition("old.public", "equals", json!(true));
    let is_public = condition("new.public", "equals", json!(true));
    let made_private = change(
        "public_access_block",
        json!({"public": true}),
        json!({"public": false}),
    );
    assert!(holds(&was_public, &made_private));
    assert!(!holds(&is_public, &made_private));
    // Lists on the way are searched element by element.
    let any_world = condition("new.rules.cidr", "equals", json!("0.0.0.0/0"));
    let rules = json!({"rules": [{"cidr": "10.0.0.0/8"}, [{"cidr": "0.0.0.0/0"}]]});
    assert!(holds(&any_world, &change("ingress", Value::Null, rules)));
}

#[test]
fn equality_is_loose_as_cloudtrail_writes_values() {
    let equals = |value: Value, new: Value| {
        holds(
            &condition("new", "equals", value),
            &change("x", Value::Null, new),
        )
    };
    // Strings compare without case.
    assert!(equals(json!("Enabled"), json!("ENABLED")));
    assert!(!equals(json!("Enabled"), json!("Disabled")));
    // Booleans may arrive as strings, either side.
    assert!(equals(json!(true), json!("True")));
    assert!(equals(json!("false"), json!(false)));
    assert!(!equals(json!(true), json!("false")));
    // Numbers may arrive as strings, and 22 is 22.0.
    assert!(equals(json!(22), json!("22")));
    assert!(equals(json!("22"), json!(22.0)));
    assert!(!equals(json!(22), json!("23")));
    // The attribute name is compared the same way.
    assert!(holds(
        &condition("attribute", "equals", json!("Ingress")),
        &change("ingress", Value::Null, json!(1))
    ));
}

#[test]
fn contains_and_exists_look_at_the_value_at_the_path() {
    let star = condition("new.action", "contains", json!("S3:*"));
    assert!(holds(
        &star,
        &change("policy", Value::Null, json!({"action": "s3:* on *"}))
    ));
    assert!(!holds(
        &star,
        &change("policy", Value::Null, json!({"action": "s3:GetObject"}))
    ));
    let has_kms = condition("new.kms_key", "exists", Value::Null);
    assert!(holds(
        &has_kms,
        &change("encryption", Value::Null, json!({"kms_key": "k-1"}))
    ));
    assert!(!holds(
        &has_kms,
        &change(
            "encryption",
            json!({"kms_key": "k-1"}),
            json!({"kms_key": null})
        )
    ));
}

#[test]
fn a_port_is_covered_by_a_range_a_single_port_or_every_port_of_the_protocol() {
    let ssh = condition("new", "covers_port", json!([22]));
    let covers = |rule: Value| holds(&ssh, &change("ingress", Value::Null, rule));
    assert!(covers(
        json!({"protocol": "tcp", "from_port": 20, "to_port": 23})
    ));
    assert!(!covers(
        json!({"protocol": "tcp", "from_port": 23, "to_port": 80})
    ));
    assert!(covers(json!({"protocol": "tcp", "port": 22})));
    assert!(!covers(json!({"protocol": "tcp", "port": 2222})));
    assert!(covers(json!({"protocol": "-1"})));
    // -1 at both ends: every port of the protocol; ICMP (also as protocol 1) has no ports.
    assert!(covers(
        json!({"protocol": "tcp", "from_port": -1, "to_port": -1})
    ));
    assert!(!covers(
        json!({"protocol": "icmp", "from_port": -1, "to_port": -1})
    ));
    assert!(!covers(
        json!({"protocol": 1, "from_port": -1, "to_port": -1})
    ));
    assert!(!covers(
        json!({"protocol": "1", "from_port": -1, "to_port": -1})
    ));
    // -1 at one end only is not "every port".
    assert!(!covers(
        json!({"protocol": "tcp", "from_port": 0, "to_port": -1})
    ));
    assert!(!covers(
        json!({"protocol": "tcp", "from_port": -1, "to_port": 0})
    ));
}
