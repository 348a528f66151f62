//! Why a drift probably happened and what to do about it: each cause heuristic in the order
//! it is tried, the business-hours window, and every recommendation.

use chrono::{DateTime, TimeZone, Utc};
use dd0c_classifier::cause::{cause, recommend, Action, Cause, CauseClass};
use dd0c_classifier::Classification;
use dd0c_shared::domain::drift::{
    AttributeChange, ChangeClass, ChangeEvent, DriftCategory, DriftEvent, DriftEventKind,
};
use dd0c_shared::domain::{Actor, IacTool, Severity, Source};
use dd0c_shared::testing::console_user;
use serde_json::{json, Value};

/// Wednesday 18 November 2026, `hour`:`minute` UTC.
fn wednesday(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 18, hour, minute, 0).unwrap()
}

fn jane(source: Source, mfa: bool) -> Actor {
    Actor {
        arn: "arn:aws:iam::111122223333:user/jane".into(),
        name: "jane".into(),
        source,
        mfa,
        ip: None,
        ..console_user()
    }
}

fn drift_by(actor: Actor, at: DateTime<Utc>, changes: Vec<(&str, Value, Value)>) -> DriftEvent {
    let changes: Vec<AttributeChange> = changes
        .into_iter()
        .map(|(a, o, n)| AttributeChange::new(a, o, n))
        .collect();
    DriftEvent {
        id: "drift-e1".into(),
        kind: DriftEventKind::Detected,
        tenant_id: "t".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        resource_type: "ec2:security-group".into(),
        resource_id: "sg-1".into(),
        resource_address: None,
        stack: None,
        managed_by: None,
        changes: changes.clone(),
        change: Some(ChangeEvent {
            tenant_id: "t".into(),
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
            event_id: "e1".into(),
            event_time: at,
            action: "AuthorizeSecurityGroupIngress".into(),
            resource_type: "ec2:security-group".into(),
            resource_id: "sg-1".into(),
            changes,
            actor,
            class: ChangeClass::Drift,
            managed_by: None,
        }),
        report_id: None,
        detected_at: at,
        resolves: vec![],
        resolution: None,
    }
}

fn classified(severity: Severity, category: DriftCategory) -> Classification {
    Classification {
        severity,
        category,
        reasons: vec!["a port is open to the whole internet".into()],
        rules: vec!["sg-world-ingress".into()],
    }
}

/// A network drift (neither a resize nor a configuration change).
fn network() -> Classification {
    classified(Severity::Medium, DriftCategory::Network)
}

fn rule(old: Value, new: Value) -> Vec<(&'static str, Value, Value)> {
    vec![("ingress", old, new)]
}

fn port_22() -> Value {
    json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"})
}

/// The class and confidence of a console change by jane on a Wednesday afternoon.
fn by_console(changes: Vec<(&str, Value, Value)>) -> (CauseClass, f64) {
    let c = cause(
        &drift_by(jane(Source::Console, false), wednesday(14, 0), changes),
        &network(),
    );
    (c.class, c.confidence)
}

const NOTHING_SPECIAL: (CauseClass, f64) = (CauseClass::ConfigurationError, 0.4);
const TIGHTENING: (CauseClass, f64) = (CauseClass::SecurityResponse, 0.7);

#[test]
fn a_drift_no_cloudtrail_change_explains_is_a_configuration_error_of_low_confidence() {
    let mut d = drift_by(jane(Source::Console, false), wednesday(14, 0), vec![]);
    d.change = None;
    assert_eq!(
        cause(&d, &network()),
        Cause {
            class: CauseClass::ConfigurationError,
            confidence: 0.3,
            evidence: vec![
                "reported by an agent; no CloudTrail change on the resource explains it".into()
            ],
        }
    );
}

#[test]
fn an_aws_service_caller_is_an_automated_response_even_when_it_tightens() {
    let d = drift_by(
        jane(Source::AwsService, false),
        wednesday(14, 0),
        rule(port_22(), Value::Null),
    );
    let c = cause(&d, &network());
    assert_eq!(
        (c.class, c.confidence),
        (CauseClass::AutomatedResponse, 0.9)
    );
    assert!(c
        .evidence
        .contains(&"the caller is an AWS service".to_string()));
}

#[test]
fn removing_access_or_turning_protection_on_is_a_security_response() {
    for attribute in [
        "ingress",
        "egress",
        "managed_policy",
        "inline_policy",
        "permission",
        "access_key",
        "login_profile",
        "ssh_public_key",
        "service_specific_credential",
        "signing_certificate",
        "group_membership",
        "shared_with",
    ] {
        assert_eq!(
            by_console(vec![(attribute, json!({"id": "x"}), Value::Null)]),
            TIGHTENING,
            "{attribute} removed"
        );
    }
    // Removing MFA or a permissions boundary takes protection away.
    for attribute in ["mfa_device", "permissions_boundary"] {
        assert_eq!(
            by_console(vec![(attribute, json!({"id": "x"}), Value::Null)]),
            NOTHING_SPECIAL,
            "{attribute} removed"
        );
    }
    assert_eq!(
        by_console(vec![(
            "public_access_block",
            json!({"public": true}),
            json!({"public": false})
        )]),
        TIGHTENING
    );
    assert_eq!(
        by_console(vec![("logging", json!(false), json!(true))]),
        TIGHTENING
    );
    assert_eq!(
        by_console(vec![("publicly_accessible", json!(true), json!(false))]),
        TIGHTENING
    );
    // Every change must tighten.
    assert_eq!(
        by_console(vec![
            ("ingress", port_22(), Value::Null),
            ("logging", json!(true), json!(false)),
        ]),
        NOTHING_SPECIAL
    );
    let c = cause(
        &drift_by(
            jane(Source::Console, false),
            wednesday(14, 0),
            rule(port_22(), Value::Null),
        ),
        &network(),
    );
    assert!(c
        .evidence
        .contains(&"the change only removes access or turns protection on".to_string()));
}

#[test]
fn changes_that_loosen_or_only_look_like_tightening_are_not_a_security_response() {
    // No attribute changes at all.
    assert_eq!(by_console(vec![]), NOTHING_SPECIAL);
    // A removed tag takes no access away.
    assert_eq!(
        by_console(vec![("tags", json!({"team": "a"}), Value::Null)]),
        NOTHING_SPECIAL
    );
    // A rule changed in place is not removed.
    let wider = json!({"protocol": "tcp", "from_port": 22, "to_port": 23, "cidr": "10.0.0.0/8"});
    assert_eq!(by_console(rule(port_22(), wider)), NOTHING_SPECIAL);
    assert_eq!(
        by_console(vec![(
            "public_access_block",
            json!({"public": false}),
            json!({"public": true})
        )]),
        NOTHING_SPECIAL
    );
    assert_eq!(
        by_console(vec![("logging", json!(true), json!(false))]),
        NOTHING_SPECIAL
    );
    assert_eq!(
        by_console(vec![("publicly_accessible", json!(false), json!(true))]),
        NOTHING_SPECIAL
    );
    assert_eq!(
        by_console(vec![("encrypted", json!(true), json!(false))]),
        NOTHING_SPECIAL
    );
}

#[test]
fn an_emergency_identity_is_an_emergency_fix() {
    for (name, arn, word) in [
        (
            "breakglass-admin",
            "arn:aws:iam::111122223333:user/breakglass-admin",
            "breakglass",
        ),
        (
            "jane",
            "arn:aws:sts::111122223333:assumed-role/OnCall/jane",
            "oncall",
        ),
    ] {
        let actor = Actor {
            name: name.into(),
            arn: arn.into(),
            ..jane(Source::Console, false)
        };
        let c = cause(
            &drift_by(actor, wednesday(14, 0), rule(Value::Null, port_22())),
            &network(),
        );
        assert_eq!((c.class, c.confidence), (CauseClass::EmergencyFix, 0.7));
        assert!(c.evidence.contains(&format!(
            "the identity's name suggests an emergency role ({word})"
        )));
    }
}

#[test]
fn an_sdk_call_without_mfa_is_automation_with_mfa_or_from_the_console_it_is_not() {
    let resize = || vec![("instance_type", json!("t3.small"), json!("t3.large"))];
    let c = cause(
        &drift_by(jane(Source::Sdk, false), wednesday(14, 0), resize()),
        &network(),
    );
    assert_eq!(
        (c.class, c.confidence),
        (CauseClass::AutomatedResponse, 0.5)
    );
    let with_mfa = cause(
        &drift_by(jane(Source::Sdk, true), wednesday(14, 0), resize()),
        &network(),
    );
    assert_eq!((with_mfa.class, with_mfa.confidence), NOTHING_SPECIAL);
    assert!(with_mfa
        .evidence
        .contains(&"the session used MFA".to_string()));
    assert_eq!(by_console(resize()), NOTHING_SPECIAL);
}

#[test]
fn a_hands_on_change_opening_access_or_reconfiguring_is_manual_troubleshooting() {
    // Opening access from the console or CLI, whatever the rules' category.
    assert_eq!(
        by_console(rule(Value::Null, port_22())),
        (CauseClass::ManualTroubleshooting, 0.6)
    );
    let cli = cause(
        &drift_by(
            jane(Source::Cli, false),
            wednesday(14, 0),
            rule(Value::Null, port_22()),
        ),
        &network(),
    );
    assert_eq!(cli.class, CauseClass::ManualTroubleshooting);
    // A configuration drift (a resize) from the console.
    let resize = drift_by(
        jane(Source::Console, false),
        wednesday(14, 0),
        vec![("instance_type", json!("t3.small"), json!("t3.large"))],
    );
    let c = cause(
        &resize,
        &classified(Severity::Medium, DriftCategory::Configuration),
    );
    assert_eq!(
        (c.class, c.confidence),
        (CauseClass::ManualTroubleshooting, 0.6)
    );
    // Less sure at night.
    let night = drift_by(
        jane(Source::Console, false),
        wednesday(23, 0),
        rule(Value::Null, port_22()),
    );
    let c = cause(&night, &network());
    assert_eq!(
        (c.class, c.confidence),
        (CauseClass::ManualTroubleshooting, 0.5)
    );
    // Only access being added counts as opening it: not a tag added, not a rule modified.
    assert_eq!(
        by_console(vec![("tags", Value::Null, json!({"team": "a"}))]),
        NOTHING_SPECIAL
    );
    assert_eq!(
        by_console(rule(
            port_22(),
            json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"})
        )),
        NOTHING_SPECIAL
    );
    // Neither console nor CLI (an unknown client): a configuration drift is not hands-on.
    let unknown = drift_by(
        jane(Source::Unknown, false),
        wednesday(14, 0),
        vec![("instance_type", json!("t3.small"), json!("t3.large"))],
    );
    let c = cause(
        &unknown,
        &classified(Severity::Medium, DriftCategory::Configuration),
    );
    assert_eq!((c.class, c.confidence), NOTHING_SPECIAL);
}

#[test]
fn business_hours_are_seven_to_twenty_utc_on_weekdays() {
    let at = |t: DateTime<Utc>| {
        let c = cause(
            &drift_by(
                jane(Source::Iac(IacTool::Terraform), false),
                t,
                vec![("instance_type", json!("t3.small"), json!("t3.large"))],
            ),
            &network(),
        );
        let flagged = c
            .evidence
            .iter()
            .any(|e| e.starts_with("made outside business hours"));
        (c.class, c.confidence, flagged)
    };
    let off = (CauseClass::EmergencyFix, 0.5, true);
    let on = (CauseClass::ConfigurationError, 0.4, false);
    assert_eq!(at(wednesday(6, 59)), off);
    assert_eq!(at(wednesday(7, 0)), on);
    assert_eq!(at(wednesday(19, 59)), on);
    assert_eq!(at(wednesday(20, 0)), off);
    // Saturday and Sunday afternoons.
    assert_eq!(at(wednesday(14, 0) + chrono::Duration::days(3)), off);
    assert_eq!(at(wednesday(14, 0) + chrono::Duration::days(4)), off);
    assert_eq!(at(wednesday(14, 0) + chrono::Duration::days(5)), on);
    let c = cause(
        &drift_by(
            jane(Source::Iac(IacTool::Terraform), false),
            wednesday(22, 30),
            vec![],
        ),
        &network(),
    );
    assert!(
        c.evidence
            .contains(&"made outside business hours (Wed 22:30 UTC)".to_string()),
        "{c:?}"
    );
}

fn recommendation(severity: Severity, class: CauseClass) -> (Action, String) {
    let mut c = classified(severity, DriftCategory::Network);
    c.reasons = vec!["an administrative or database port is open to the whole internet".into()];
    let cause = Cause {
        class,
        confidence: 0.5,
        evidence: vec![],
    };
    let r = recommend(&c, &cause, "Terraform");
    (r.action, r.reason)
}

#[test]
fn a_tightening_is_codified_whatever_its_severity() {
    for severity in [Severity::Low, Severity::Critical] {
        assert_eq!(
            recommendation(severity, CauseClass::SecurityResponse),
            (
                Action::CodifyIntoIac,
                "the change tightens security; codify it in Terraform so the next apply does not undo it".into()
            )
        );
    }
}

#[test]
fn low_impact_automation_is_accepted_high_impact_automation_is_not() {
    for severity in [Severity::Low, Severity::Medium] {
        assert_eq!(
            recommendation(severity, CauseClass::AutomatedResponse).0,
            Action::AcceptAsException,
            "{severity:?}"
        );
    }
    assert_eq!(
        recommendation(Severity::High, CauseClass::AutomatedResponse).0,
        Action::EscalateForReview
    );
    assert_eq!(
        recommendation(Severity::Critical, CauseClass::AutomatedResponse).0,
        Action::Revert
    );
}

#[test]
fn the_recommendation_follows_the_severity() {
    assert_eq!(
        recommendation(Severity::Critical, CauseClass::ManualTroubleshooting),
        (
            Action::Revert,
            "an administrative or database port is open to the whole internet; revert to the state Terraform declares now, then change it through Terraform if it is needed".into()
        )
    );
    assert_eq!(
        recommendation(Severity::High, CauseClass::EmergencyFix),
        (
            Action::EscalateForReview,
            "a high-risk change outside review; have the resource owner or security review it"
                .into()
        )
    );
    assert_eq!(
        recommendation(Severity::Medium, CauseClass::ConfigurationError),
        (
            Action::CodifyIntoIac,
            "if the change is intended, codify it in Terraform; otherwise revert it (the next apply will)".into()
        )
    );
    assert_eq!(
        recommendation(Severity::Low, CauseClass::ConfigurationError),
        (
            Action::CodifyIntoIac,
            "harmless on its own; codify it in Terraform or the next apply reverts it".into()
        )
    );
    // A critical drift without a reason still says why.
    let bare = Classification {
        reasons: vec![],
        ..classified(Severity::Critical, DriftCategory::Security)
    };
    let cause = Cause {
        class: CauseClass::ConfigurationError,
        confidence: 0.4,
        evidence: vec![],
    };
    assert!(recommend(&bare, &cause, "Pulumi")
        .reason
        .starts_with("critical exposure; revert to the state Pulumi declares now"));
}
