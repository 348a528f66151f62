use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::domain::{Actor, ActorKind, Source};

fn system() -> Policy {
    Policy::system().expect("policy.json is valid")
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 12, 0, 0).unwrap()
}

fn finding(kind: FindingKind, severity: Severity) -> Finding {
    Finding {
        id: "cost-e1".into(),
        tenant_id: "t1".into(),
        kind,
        event_id: "e1".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        event_time: at(20),
        event_name: "RunInstances".into(),
        actor: Actor {
            arn: "arn:aws:iam::111122223333:user/alice".into(),
            name: "alice".into(),
            kind: ActorKind::IamUser,
            source: Source::Console,
            ip: None,
            mfa: false,
            user_agent: None,
        },
        severity,
        score: 80.0,
        reasons: vec![],
        resource_type: "ec2:instance".into(),
        resource_ids: vec!["i-1".into()],
        estimated_hourly_cost: Some(3.0),
        category: None,
        notified: false,
        suppressed_reason: None,
        status: FindingStatus::Open,
        created_at: at(20),
        details: Value::Null,
    }
}

fn mature() -> AccountContext {
    AccountContext {
        connected_at: Some(at(1)),
        promoted_at: None,
    }
}

#[test]
fn shipped_policies_are_valid() {
    let s = system();
    assert_eq!(s.governance_mode, GovernanceMode::Audit);
    assert_eq!(s.new_account_strict_days, 14);
    assert!(!s.panic_mode);
    let demo = Policy::demo().unwrap();
    assert_eq!(demo.governance_mode, GovernanceMode::Audit);
    assert_eq!(demo.new_account_strict_days, 0);
}

#[test]
fn invalid_policy_names_the_field() {
    let cases = [
        (
            json!({"governance_mode": "loud", "panic_mode": false, "new_account_strict_days": 14, "immediate_severity": {"cost_anomaly": "warning", "drift": "high"}}),
            "governance_mode",
        ),
        (
            json!({"governance_mode": "audit", "panic_mode": "no", "new_account_strict_days": 14, "immediate_severity": {"cost_anomaly": "warning", "drift": "high"}}),
            "panic_mode",
        ),
        (
            json!({"governance_mode": "audit", "panic_mode": false, "new_account_strict_days": -1, "immediate_severity": {"cost_anomaly": "warning", "drift": "high"}}),
            "new_account_strict_days",
        ),
        (
            json!({"governance_mode": "audit", "panic_mode": false, "new_account_strict_days": 14, "immediate_severity": {"cost_anomaly": "high", "drift": "high"}}),
            "immediate_severity.cost_anomaly",
        ),
        (
            json!({"governance_mode": "audit", "panic_mode": false, "new_account_strict_days": 14, "immediate_severity": {"cost_anomaly": "warning"}}),
            "immediate_severity.drift",
        ),
        (
            json!({"governance_mode": "audit", "panic_mode": false, "new_account_strict_days": 14}),
            "immediate_severity",
        ),
        (json!({"governance_mode": "audit", "panic": true}), "panic"),
    ];
    for (doc, field) in cases {
        let err = Policy::from_value(&doc).unwrap_err();
        assert_eq!(err.field(), field, "{doc}: {err}");
        assert!(err.to_string().contains(field));
    }
    assert_eq!(Policy::parse("{").unwrap_err().field(), "(document)");
}

#[test]
fn load_reads_the_named_file_and_reports_its_path() {
    let dir = std::env::temp_dir().join(format!("dd0c-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("strict.json");
    std::fs::write(&good, SYSTEM_POLICY_JSON.replace("\"audit\"", "\"strict\"")).unwrap();
    assert_eq!(
        Policy::load(Some(&good)).unwrap().governance_mode,
        GovernanceMode::Strict
    );
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"governance_mode\": 3}").unwrap();
    let err = Policy::load(Some(&bad)).unwrap_err();
    assert_eq!(err.field(), "governance_mode");
    assert!(err.to_string().contains("bad.json"));
    assert!(matches!(
        Policy::load(Some(&dir.join("missing.json"))),
        Err(GovernanceError::Read { .. })
    ));
}

#[test]
fn without_a_path_the_file_named_in_dd0c_policy_wins_and_an_empty_name_means_the_system_policy() {
    let dir = std::env::temp_dir().join(format!("dd0c-policy-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let strict = dir.join("strict.json");
    std::fs::write(
        &strict,
        SYSTEM_POLICY_JSON.replace("\"audit\"", "\"strict\""),
    )
    .unwrap();
    let named = Some(strict.display().to_string());
    assert_eq!(
        Policy::load_with(None, named.clone())
            .unwrap()
            .governance_mode,
        GovernanceMode::Strict
    );
    // A path given (the CLI's --policy) goes before the environment.
    let demo = dir.join("demo.json");
    std::fs::write(&demo, DEMO_POLICY_JSON).unwrap();
    assert_eq!(
        Policy::load_with(Some(&demo), named).unwrap(),
        Policy::demo().unwrap()
    );
    assert_eq!(
        Policy::load_with(None, Some(String::new())).unwrap(),
        system()
    );
    assert_eq!(Policy::load_with(None, None).unwrap(), system());
}

#[test]
fn an_override_is_parsed_from_text_and_knows_when_it_changes_nothing() {
    let o =
        PolicyOverride::parse(r#"{"panic_mode": true, "new_account_strict_days": 30}"#).unwrap();
    assert_eq!(
        o,
        PolicyOverride {
            panic_mode: Some(true),
            new_account_strict_days: Some(30),
            ..Default::default()
        }
    );
    assert!(!o.is_empty());
    assert!(PolicyOverride::parse("{}").unwrap().is_empty());
    assert_eq!(
        PolicyOverride::parse("{").unwrap_err().field(),
        "(document)"
    );
    assert_eq!(
        PolicyOverride::parse(r#"{"panic_mode": "yes"}"#)
            .unwrap_err()
            .field(),
        "panic_mode"
    );
}

// The governance matrix: strict / audit / panic / new account / severity / overrides.
#[test]
fn audit_sends_immediate_severities_and_holds_the_rest() {
    let p = system();
    let now = at(20);
    assert_eq!(
        decide(
            &p,
            &finding(FindingKind::CostAnomaly, Severity::Critical),
            &mature(),
            now
        ),
        Verdict::Send
    );
    assert_eq!(
        decide(
            &p,
            &finding(FindingKind::CostAnomaly, Severity::Warning),
            &mature(),
            now
        ),
        Verdict::Send
    );
    assert!(matches!(
        decide(
            &p,
            &finding(FindingKind::CostAnomaly, Severity::Info),
            &mature(),
            now
        ),
        Verdict::Hold {
            code: HoldCode::Severity,
            ..
        }
    ));
    assert_eq!(
        decide(
            &p,
            &finding(FindingKind::Drift, Severity::High),
            &mature(),
            now
        ),
        Verdict::Send
    );
    assert!(matches!(
        decide(
            &p,
            &finding(FindingKind::Drift, Severity::Medium),
            &mature(),
            now
        ),
        Verdict::Hold {
            code: HoldCode::Severity,
            ..
        }
    ));
}

#[test]
fn strict_and_panic_hold_everything() {
    let critical = finding(FindingKind::CostAnomaly, Severity::Critical);
    let mut strict = system();
    strict.governance_mode = GovernanceMode::Strict;
    assert!(matches!(
        decide(&strict, &critical, &mature(), at(20)),
        Verdict::Hold {
            code: HoldCode::Strict,
            ..
        }
    ));
    let mut panic = system();
    panic.panic_mode = true;
    match decide(&panic, &critical, &mature(), at(20)) {
        Verdict::Hold { code, reason } => {
            assert_eq!(code, HoldCode::PanicMode);
            assert!(reason.contains("paused"));
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn new_accounts_are_strict_for_fourteen_days_unless_promoted() {
    let p = system();
    let mut noise = finding(FindingKind::CostAnomaly, Severity::Warning);
    noise.estimated_hourly_cost = Some(FAST_PATH_USD_PER_HOUR);
    let critical = noise.clone();
    let young = AccountContext {
        connected_at: Some(at(10)),
        promoted_at: None,
    };
    match decide(&p, &critical, &young, at(20)) {
        Verdict::Hold {
            code: HoldCode::NewAccount,
            reason,
        } => assert!(reason.contains("14 days"), "{reason}"),
        v => panic!("{v:?}"),
    }
    assert_eq!(
        decide(&p, &critical, &young, at(24) + Duration::hours(1)),
        Verdict::Send
    );
    let promoted = AccountContext {
        connected_at: Some(at(10)),
        promoted_at: Some(at(19)),
    };
    assert_eq!(decide(&p, &critical, &promoted, at(20)), Verdict::Send);
}

#[test]
fn the_new_account_period_ends_exactly_its_number_of_days_after_connecting() {
    let p = system();
    let noise = finding(FindingKind::CostAnomaly, Severity::Warning);
    let young = AccountContext {
        connected_at: Some(at(10)),
        promoted_at: None,
    };
    let fourteen_days = at(10) + Duration::days(14);
    assert!(in_new_account_period(
        &p,
        &young,
        fourteen_days - Duration::seconds(1)
    ));
    assert!(matches!(
        decide(&p, &noise, &young, fourteen_days - Duration::seconds(1)),
        Verdict::Hold {
            code: HoldCode::NewAccount,
            ..
        }
    ));
    assert!(!in_new_account_period(&p, &young, fourteen_days));
    assert_eq!(decide(&p, &noise, &young, fourteen_days), Verdict::Send);
    // Without a known connection (embedded mode) an account is mature.
    assert!(!in_new_account_period(
        &p,
        &AccountContext::default(),
        at(10)
    ));
}

/// The fast path is always on: a young account's critical findings, and its cost anomalies
/// above the fast-path cost, are posted at once; only the noise below is held.
#[test]
fn a_new_accounts_critical_and_fast_path_findings_are_never_held() {
    let p = system();
    let young = AccountContext {
        connected_at: Some(at(10)),
        promoted_at: None,
    };
    let mut critical = finding(FindingKind::CostAnomaly, Severity::Critical);
    critical.estimated_hourly_cost = Some(1.0);
    assert_eq!(decide(&p, &critical, &young, at(11)), Verdict::Send);
    let critical_drift = finding(FindingKind::Drift, Severity::Critical);
    assert_eq!(decide(&p, &critical_drift, &young, at(11)), Verdict::Send);
    let mut fast = finding(FindingKind::CostAnomaly, Severity::Warning);
    fast.estimated_hourly_cost = Some(FAST_PATH_USD_PER_HOUR + 0.01);
    assert_eq!(decide(&p, &fast, &young, at(11)), Verdict::Send);
    let mut slow = fast.clone();
    slow.estimated_hourly_cost = Some(FAST_PATH_USD_PER_HOUR);
    assert!(matches!(
        decide(&p, &slow, &young, at(11)),
        Verdict::Hold {
            code: HoldCode::NewAccount,
            ..
        }
    ));
    let mut cheap_info = fast.clone();
    cheap_info.severity = Severity::Info;
    assert!(matches!(
        decide(&p, &cheap_info, &young, at(11)),
        Verdict::Hold {
            code: HoldCode::NewAccount,
            ..
        }
    ));
    let high_drift = finding(FindingKind::Drift, Severity::High);
    assert!(matches!(
        decide(&p, &high_drift, &young, at(11)),
        Verdict::Hold {
            code: HoldCode::NewAccount,
            ..
        }
    ));
}

#[test]
fn closed_findings_are_not_sent() {
    let mut f = finding(FindingKind::CostAnomaly, Severity::Critical);
    f.status = FindingStatus::Snoozed;
    assert!(matches!(
        decide(&system(), &f, &mature(), at(20)),
        Verdict::Hold {
            code: HoldCode::Status,
            ..
        }
    ));
}

#[test]
fn stricter_overrides_are_accepted_and_applied() {
    let s = system();
    let account = PolicyOverride::from_value(&json!({"governance_mode": "strict", "immediate_severity": {"drift": "critical"}, "new_account_strict_days": 30})).unwrap();
    validate_override(&s, &account).unwrap();
    let eff = effective_policy(&s, None, Some(&account));
    assert_eq!(eff.governance_mode, GovernanceMode::Strict);
    assert_eq!(eff.immediate_severity.drift, Severity::Critical);
    assert_eq!(eff.immediate_severity.cost_anomaly, Severity::Warning);
    assert_eq!(eff.new_account_strict_days, 30);
    let tenant = PolicyOverride {
        panic_mode: Some(true),
        ..Default::default()
    };
    validate_override(&s, &tenant).unwrap();
    assert!(effective_policy(&s, Some(&tenant), None).panic_mode);
}

#[test]
fn an_override_equal_to_the_system_policy_is_accepted() {
    let s = system();
    let same = PolicyOverride::from_value(&json!({
        "governance_mode": "audit",
        "panic_mode": false,
        "new_account_strict_days": 14,
        "immediate_severity": {"cost_anomaly": "warning", "drift": "high"}
    }))
    .unwrap();
    assert_eq!(validate_override(&s, &same), Ok(()));
    assert_eq!(effective_policy(&s, Some(&same), Some(&same)), s);
}

#[test]
fn a_looser_override_is_refused_with_what_it_would_loosen() {
    let mut s = system();
    s.governance_mode = GovernanceMode::Strict;
    let cases = [
        (
            json!({"governance_mode": "audit"}),
            "audit is looser than strict",
        ),
        (json!({"new_account_strict_days": 3}), "3 is fewer than 14"),
        (
            json!({"immediate_severity": {"cost_anomaly": "info"}}),
            "info is lower than warning",
        ),
        (
            json!({"immediate_severity": {"drift": "medium"}}),
            "medium is lower than high",
        ),
    ];
    for (doc, message) in cases {
        let o = PolicyOverride::from_value(&doc).unwrap();
        let err = validate_override(&s, &o).unwrap_err();
        assert!(err.to_string().ends_with(message), "{doc}: {err}");
    }
}

#[test]
fn looser_overrides_are_rejected_and_never_applied() {
    let mut s = system();
    s.governance_mode = GovernanceMode::Strict;
    s.panic_mode = true;
    let cases = [
        (json!({"governance_mode": "audit"}), "governance_mode"),
        (json!({"panic_mode": false}), "panic_mode"),
        (
            json!({"new_account_strict_days": 3}),
            "new_account_strict_days",
        ),
        (
            json!({"immediate_severity": {"cost_anomaly": "info"}}),
            "immediate_severity.cost_anomaly",
        ),
        (
            json!({"immediate_severity": {"drift": "low"}}),
            "immediate_severity.drift",
        ),
    ];
    for (doc, field) in cases {
        let o = PolicyOverride::from_value(&doc).unwrap();
        let err = validate_override(&s, &o).unwrap_err();
        assert!(matches!(err, GovernanceError::Looser { .. }), "{doc}");
        assert_eq!(err.field(), field);
        // Even if such an override were stored, the effective policy stays as strict.
        let eff = effective_policy(&s, Some(&o), Some(&o));
        assert_eq!(eff, s, "{doc} loosened the policy");
    }
}

#[test]
fn override_shape_errors_name_the_field() {
    let err = PolicyOverride::from_value(&json!({"immediate_severity": {"drift": "warning"}}))
        .unwrap_err();
    assert_eq!(err.field(), "immediate_severity.drift");
    let err = PolicyOverride::from_value(&json!({"channel": "#x"})).unwrap_err();
    assert_eq!(err.field(), "channel");
}

#[tokio::test]
async fn overrides_round_trip_through_the_table() {
    use crate::store::memory::MemoryTable;
    let table = MemoryTable::new(std::sync::Arc::new(crate::clock::ManualClock::new(at(1))));
    let s = system();
    let stricter = PolicyOverride {
        governance_mode: Some(GovernanceMode::Strict),
        ..Default::default()
    };
    store::put_account_override(&table, &s, "t1", "111122223333", &stricter, "alice", at(1))
        .await
        .unwrap();
    let looser = PolicyOverride {
        new_account_strict_days: Some(1),
        ..Default::default()
    };
    let err = store::put_tenant_override(&table, &s, "t1", &looser, "alice", at(1))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        store::PolicyStoreError::Governance(GovernanceError::Looser { .. })
    ));
    assert_eq!(store::tenant_override(&table, "t1").await.unwrap(), None);
    let p = store::policy_for_account(&table, &s, "t1", "111122223333")
        .await
        .unwrap();
    assert_eq!(p.governance_mode, GovernanceMode::Strict);
    let other = store::policy_for_account(&table, &s, "t1", "444455556666")
        .await
        .unwrap();
    assert_eq!(other.governance_mode, GovernanceMode::Audit);
    store::promote_account(&table, "t1", "111122223333", at(15))
        .await
        .unwrap();
    store::promote_account(&table, "t1", "111122223333", at(16))
        .await
        .unwrap();
    let ctx = store::account_context(&table, "t1", "111122223333")
        .await
        .unwrap();
    assert_eq!(ctx.promoted_at, Some(at(15)));
}

/// Decision 0520: `remediation` is act → audit → off; overrides only tighten it, and a policy
/// file written before the field existed reads as off.
#[test]
fn remediation_only_tightens_and_is_off_when_absent() {
    let system = system();
    assert_eq!(system.remediation, RemediationMode::Act);
    let without = r#"{"governance_mode": "audit", "panic_mode": false, "new_account_strict_days": 14,
        "immediate_severity": {"cost_anomaly": "warning", "drift": "high"}}"#;
    assert_eq!(
        Policy::parse(without).unwrap().remediation,
        RemediationMode::Off
    );
    let audit = PolicyOverride::parse(r#"{"remediation": "audit"}"#).unwrap();
    validate_override(&system, &audit).unwrap();
    assert_eq!(
        effective_policy(&system, Some(&audit), None).remediation,
        RemediationMode::Audit
    );
    let off = PolicyOverride::parse(r#"{"remediation": "off"}"#).unwrap();
    assert_eq!(
        effective_policy(&system, Some(&audit), Some(&off)).remediation,
        RemediationMode::Off
    );
    let strict_system = Policy {
        remediation: RemediationMode::Audit,
        ..system.clone()
    };
    let act = PolicyOverride::parse(r#"{"remediation": "act"}"#).unwrap();
    let err = validate_override(&strict_system, &act).unwrap_err();
    assert_eq!(err.field(), "remediation");
    // Even an override stored before the system was tightened cannot loosen it.
    assert_eq!(
        effective_policy(&strict_system, Some(&act), None).remediation,
        RemediationMode::Audit
    );
    let bad = PolicyOverride::parse(r#"{"remediation": "yes"}"#).unwrap_err();
    assert_eq!(bad.field(), "remediation");
}
