//! Golden Block Kit messages (`tests/fixtures/slack/*.json`) and Slack's limits.
//! `DD0C_UPDATE_GOLDEN=1 cargo test -p dd0c-shared slack::` rewrites the goldens.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::blocks::{self, validate_limits};
use crate::domain::{Actor, ActorKind, Finding, FindingKind, FindingStatus, Severity, Source};

fn golden_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/slack")
}

pub fn cost_finding() -> Finding {
    let t = Utc.with_ymd_and_hms(2026, 3, 14, 3, 12, 45).unwrap();
    Finding {
        id: "cost-3f2a9c1e-0b7d-4e55-9a61-2c8d1f0e4b7a".into(),
        tenant_id: "t1".into(),
        kind: FindingKind::CostAnomaly,
        event_id: "3f2a9c1e-0b7d-4e55-9a61-2c8d1f0e4b7a".into(),
        account_id: "111122223333".into(),
        region: "ap-southeast-2".into(),
        event_time: t,
        event_name: "RunInstances".into(),
        actor: Actor {
            arn: "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin/alice@example.com"
                .into(),
            name: "alice@example.com".into(),
            kind: ActorKind::SsoUser,
            source: Source::Console,
            ip: Some("203.0.113.7".into()),
            mfa: true,
            user_agent: None,
        },
        severity: Severity::Critical,
        score: 92.0,
        reasons: vec![
            "p5.48xlarge × 2: $196.64/hr, 41× this account's usual launch".into(),
            "new region for this account".into(),
            "launched at 03:12 UTC, outside working hours".into(),
        ],
        resource_type: "ec2:instance".into(),
        resource_ids: vec!["i-0a1b2c3d4e5f60718".into(), "i-0a1b2c3d4e5f60719".into()],
        estimated_hourly_cost: Some(196.64),
        category: None,
        notified: false,
        suppressed_reason: None,
        status: FindingStatus::Open,
        created_at: t,
        details: json!({"instance_type": "p5.48xlarge", "count": 2, "pricing": {
            "basis": "list price, ap-southeast-2 price by regional factor",
            "as_of": "2024-08",
            "caveats": [],
            "notes": [
                "p5.48xlarge Linux on-demand us-east-1 $98.32/hr",
                "ap-southeast-2 priced at 1.25× us-east-1 (regional factor from m5.large prices of 2024-08)",
                "× 2 units"
            ]
        }}),
    }
}

pub fn drift_finding() -> Finding {
    let t = Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap();
    Finding {
        id: "drift-9b1c7d2e-5f3a-4c8b-8e6d-7a0f1b2c3d4e".into(),
        tenant_id: "t1".into(),
        kind: FindingKind::Drift,
        event_id: "9b1c7d2e-5f3a-4c8b-8e6d-7a0f1b2c3d4e".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        event_time: t,
        event_name: "AuthorizeSecurityGroupIngress".into(),
        actor: Actor {
            arn: "arn:aws:iam::111122223333:user/bob".into(),
            name: "bob".into(),
            kind: ActorKind::IamUser,
            source: Source::Cli,
            ip: Some("198.51.100.20".into()),
            mfa: false,
            user_agent: Some("aws-cli/2.15.0".into()),
        },
        severity: Severity::Critical,
        score: 95.0,
        reasons: vec![
            "managed by Terraform, changed from the CLI".into(),
            "opens port 22 to 0.0.0.0/0".into(),
        ],
        resource_type: "ec2:security-group".into(),
        resource_ids: vec!["sg-0123456789abcdef0".into()],
        estimated_hourly_cost: None,
        category: Some("security".into()),
        notified: false,
        suppressed_reason: None,
        status: FindingStatus::Open,
        created_at: t,
        details: json!({
            "stack": "payments-prod",
            "managed_by": {"tool": "terraform"},
            "cause": "out-of-band change by bob via CLI",
            "recommendation": "Revert the rule, or add it to the Terraform code and apply.",
            "diff": [
                {"attribute": "ingress[tcp/22]", "old": null, "new": "0.0.0.0/0"}
            ],
            "ip_permissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
            "codify": [{"tool": "Terraform", "resource": "aws_security_group.web", "attribute": "ingress",
                "value": {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"},
                "snippet": "# in aws_security_group.web\ningress {\n  from_port   = 22\n  to_port     = 22\n  protocol    = \"tcp\"\n  cidr_blocks = [\"0.0.0.0/0\"]\n}"}]
        }),
    }
}

fn check_golden(name: &str, actual: &Value) {
    let pretty = serde_json::to_string_pretty(actual).unwrap() + "\n";
    crate::testing::golden::check(&golden_dir().join(name), &pretty);
}

#[test]
fn cost_anomaly_alert_matches_golden() {
    let f = cost_finding();
    let blocks = blocks::finding_alert(&f);
    check_golden(
        "cost_anomaly_alert.json",
        &json!({"text": blocks::summary(&f), "blocks": blocks}),
    );
    let text = blocks.to_string();
    assert!(text.contains("aws ec2 stop-instances --region ap-southeast-2 --instance-ids i-0a1b2c3d4e5f60718 i-0a1b2c3d4e5f60719"));
    assert!(text.contains("$197/hr · $143547/month"));
    assert!(text.contains("alice@example.com via console"));
    let mut managed = cost_finding();
    managed.details["iac"] = json!({"managed": true, "tool": "Terraform",
        "summary": "managed by Terraform, changed outside it via console"});
    assert!(blocks::finding_alert(&managed)
        .to_string()
        .contains("*IaC*\\nmanaged by Terraform, changed outside it via console"));
    // Which price, and how old it was when the instances were launched; not its provenance.
    assert!(text.contains(
        "Price: list price, ap-southeast-2 price by regional factor · prices of 2024-08 (19 months old)"
    ));
    assert!(!text.contains("regional factor from"));
}

#[test]
fn an_alert_without_a_price_basis_has_no_price_line() {
    let mut f = cost_finding();
    f.details = json!({"instance_type": "p5.48xlarge", "count": 2});
    assert_eq!(blocks::price_line(&f), None);
    assert!(!blocks::finding_alert(&f).to_string().contains("Price:"));
    f.details["pricing"] = json!({"basis": "estimated from db.r5.16xlarge", "as_of": null});
    assert_eq!(
        blocks::price_line(&f).as_deref(),
        Some("Price: estimated from db.r5.16xlarge")
    );
}

#[test]
fn drift_alert_matches_golden() {
    let f = drift_finding();
    let blocks = blocks::finding_alert(&f);
    check_golden(
        "drift_alert.json",
        &json!({"text": blocks::summary(&f), "blocks": blocks}),
    );
    let text = blocks.to_string();
    assert!(text.contains("ingress[tcp/22]: (none) → 0.0.0.0/0"));
    assert!(text.contains(
        "aws ec2 revoke-security-group-ingress --region us-east-1 --group-id sg-0123456789abcdef0"
    ));
    assert!(text.contains("accept_drift"));
    assert!(text.contains("payments-prod"));
    assert!(text.contains("Revert the rule"));
    assert!(text.contains("*Codify in Terraform* (to keep the change"));
    assert!(text.contains("cidr_blocks = [\\\"0.0.0.0/0\\\"]"), "{text}");
    // The classifier writes its cause and recommendation as objects.
    let mut classified = drift_finding();
    classified.details["cause"] = json!({"class": "manual_troubleshooting", "confidence": 0.7,
        "evidence": ["outside working hours", "from the console"]});
    classified.details["recommendation"] = json!({"action": "codify_into_iac",
        "reason": "if the change is intended, codify it in Terraform"});
    let text = blocks::finding_alert(&classified).to_string();
    assert!(
        text.contains(
            "*Cause*\\nManual troubleshooting (70%): outside working hours; from the console"
        ),
        "{text}"
    );
    assert!(text.contains(
        "*Recommendation*\\nCodify into IaC: if the change is intended, codify it in Terraform"
    ));
    let mut without = drift_finding();
    without.details["codify"] = json!([]);
    assert!(!blocks::finding_alert(&without)
        .to_string()
        .contains("Codify"));
}

#[test]
fn every_golden_is_within_slack_limits() {
    let mut checked = 0;
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        validate_limits(&v["blocks"]).unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the goldens in {}",
        golden_dir().display()
    );
}

#[test]
fn huge_findings_are_cut_to_slack_limits_with_a_note() {
    let mut f = drift_finding();
    f.reasons = (0..500)
        .map(|i| format!("reason {i}: {}", "x".repeat(100)))
        .collect();
    f.resource_ids = (0..300).map(|i| format!("sg-{i:017}")).collect();
    f.actor.name = "n".repeat(5000);
    f.details["diff"] = Value::Array(
        (0..400)
            .map(|i| json!({"attribute": format!("tags.k{i}"), "old": "a".repeat(50), "new": "b".repeat(2000)}))
            .collect(),
    );
    f.details["recommendation"] = json!("r".repeat(10_000));
    f.id = format!("drift-{}", "z".repeat(3000));
    let blocks = blocks::finding_alert(&f);
    validate_limits(&blocks).unwrap_or_else(|p| panic!("{p:?}"));
    assert!(blocks
        .to_string()
        .contains("more change(s) cut to fit Slack"));
    validate_limits(&blocks::acted_alert(&f, &"s".repeat(9000))).unwrap();
}

#[test]
fn the_validator_catches_each_limit() {
    let long_button = json!([{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b".repeat(76)}, "action_id": "a", "value": "v".repeat(2001)}]}]);
    assert_eq!(validate_limits(&long_button).unwrap_err().len(), 2);
    let long_text =
        json!([{"type": "section", "text": {"type": "mrkdwn", "text": "t".repeat(3001)}}]);
    assert!(validate_limits(&long_text).is_err());
    let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
    assert!(validate_limits(&Value::Array(many)).unwrap_err()[0].contains("51 blocks"));
}

#[test]
fn acted_alert_shows_the_state_above_the_buttons() {
    let blocks = blocks::acted_alert(&cost_finding(), "Marked expected by <@U1>");
    let list = blocks.as_array().unwrap();
    let state = list
        .iter()
        .position(|b| b.to_string().contains("Marked expected by <@U1>"))
        .unwrap();
    assert_eq!(list[state + 1]["type"], "actions");
}

#[test]
fn terminal_view_shows_the_alert() {
    let out = super::terminal::render(&blocks::finding_alert(&drift_finding()));
    assert!(out.contains("CRITICAL"));
    assert!(out.contains("ingress[tcp/22]"));
    assert!(out.contains("[ Accept drift ]"));
}

/// Every mrkdwn text of a message, wherever it sits.
fn mrkdwn_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if o.get("type").and_then(Value::as_str) == Some("mrkdwn") {
                out.extend(o.get("text").and_then(Value::as_str).map(str::to_owned));
            }
            o.values().for_each(|v| mrkdwn_texts(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| mrkdwn_texts(v, out)),
        _ => {}
    }
}

#[test]
fn text_from_customers_cannot_mention_or_disguise_links() {
    let evil = "<!channel> <http://evil.example|aws.amazon.com> & co";
    let mut f = drift_finding();
    f.actor.name = evil.into();
    f.resource_type = evil.into();
    f.resource_ids = vec![evil.into()];
    f.region = evil.into();
    f.account_id = evil.into();
    f.event_name = evil.into();
    f.category = Some(evil.into());
    f.reasons = vec![evil.into()];
    f.details = json!({
        "stack": evil,
        "cause": evil,
        "recommendation": evil,
        "diff": [{"attribute": evil, "old": evil, "new": {"k": evil}}],
    });
    let mut texts = Vec::new();
    mrkdwn_texts(&blocks::finding_alert(&f), &mut texts);
    mrkdwn_texts(&blocks::acted_alert(&f, "Resolved"), &mut texts);
    texts.push(blocks::summary(&f));
    assert!(texts.len() > 5, "{texts:?}");
    for text in &texts {
        assert!(
            !text.contains('<') && !text.contains('>') && !text.contains("& "),
            "unescaped: {text}"
        );
    }
    assert!(texts.iter().any(
        |t| t.contains("&lt;!channel&gt; &lt;http://evil.example|aws.amazon.com&gt; &amp; co")
    ));
}
