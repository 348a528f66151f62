use chrono::{TimeZone, Utc};
use dd0c_shared::domain::drift::{DriftEventKind, ManagedBy};
use serde_json::json;

use super::*;

fn drift(resource_type: &str, tool: Option<IacTool>, changes: Vec<AttributeChange>) -> DriftEvent {
    DriftEvent {
        id: "drift-1".into(),
        kind: DriftEventKind::Detected,
        tenant_id: "t1".into(),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        resource_type: resource_type.into(),
        resource_id: "sg-0123".into(),
        resource_address: None,
        stack: None,
        managed_by: Some(ManagedBy {
            tool,
            identity: "arn:aws:iam::111122223333:role/deployer".into(),
            stack: None,
        }),
        changes,
        change: None,
        report_id: None,
        detected_at: Utc.with_ymd_and_hms(2026, 11, 21, 23, 47, 31).unwrap(),
        resolves: Vec::new(),
        resolution: None,
    }
}

fn change(attribute: &str, old: Value, new: Value) -> AttributeChange {
    AttributeChange {
        attribute: attribute.into(),
        old,
        new,
    }
}

fn ssh_to_the_world() -> AttributeChange {
    change(
        "ingress",
        Value::Null,
        json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}),
    )
}

#[test]
fn an_opened_port_becomes_the_terraform_ingress_block_at_its_address() {
    let mut d = drift(
        "ec2:security-group",
        Some(IacTool::Terraform),
        vec![ssh_to_the_world()],
    );
    d.resource_address = Some("module.web.aws_security_group.web".into());
    let s = suggest(&d);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].tool, "Terraform");
    assert_eq!(s[0].resource, "module.web.aws_security_group.web");
    assert_eq!(s[0].attribute, "ingress");
    assert_eq!(
        s[0].snippet,
        "# in module.web.aws_security_group.web\ningress {\n  from_port   = 22\n  to_port     = 22\n  protocol    = \"tcp\"\n  cidr_blocks = [\"0.0.0.0/0\"]\n}"
    );
}

#[test]
fn cdk_and_cloudformation_get_the_template_property() {
    let d = drift(
        "ec2:security-group",
        Some(IacTool::Cdk),
        vec![ssh_to_the_world()],
    );
    let s = suggest(&d);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].tool, "CloudFormation");
    assert_eq!(
        s[0].snippet,
        "# Properties of the AWS::EC2::SecurityGroup for sg-0123\nSecurityGroupIngress:\n  - IpProtocol: tcp\n    FromPort: 22\n    ToPort: 22\n    CidrIp: 0.0.0.0/0"
    );
}

#[test]
fn an_unknown_tool_gets_both_and_scalars_keep_their_type() {
    let d = drift(
        "rds:db",
        None,
        vec![change("publicly_accessible", json!(false), json!(true))],
    );
    let snippets: Vec<String> = suggest(&d).into_iter().map(|c| c.snippet).collect();
    assert_eq!(snippets.len(), 2);
    assert!(
        snippets[0].ends_with("\npublicly_accessible = true"),
        "{snippets:?}"
    );
    assert!(snippets[0].contains("aws_db_instance of sg-0123 (its address is unknown"));
    assert!(
        snippets[1].ends_with("\nPubliclyAccessible: true"),
        "{snippets:?}"
    );
    let resized = drift(
        "ec2:instance",
        Some(IacTool::OpenTofu),
        vec![change("instance_type", Value::Null, json!("m5.2xlarge"))],
    );
    assert!(suggest(&resized)[0]
        .snippet
        .ends_with("\ninstance_type = \"m5.2xlarge\""));
}

#[test]
fn a_tag_becomes_one_entry_of_the_tags_map_and_yaml_quotes_what_it_would_misread() {
    let d = drift(
        "ec2:instance",
        None,
        vec![change("tags.cost-center", Value::Null, json!("0042"))],
    );
    let s = suggest(&d);
    assert!(
        s[0].snippet
            .ends_with("tags = {\n  cost-center = \"0042\"\n}"),
        "{s:?}"
    );
    assert!(s[1]
        .snippet
        .ends_with("Tags:\n  - Key: cost-center\n    Value: \"0042\""));
}

#[test]
fn a_revoked_rule_says_to_remove_it() {
    let d = drift(
        "ec2:security-group",
        Some(IacTool::Terraform),
        vec![change(
            "egress",
            json!({"protocol": "-1", "from_port": null, "to_port": null, "cidr": "::/0"}),
            Value::Null,
        )],
    );
    let s = suggest(&d);
    assert_eq!(s[0].value, Value::Null);
    assert!(s[0].snippet.contains("# remove what follows"));
    assert!(s[0].snippet.contains("protocol    = \"-1\""));
    assert!(s[0].snippet.contains("ipv6_cidr_blocks = [\"::/0\"]"));
    assert!(s[0].snippet.contains("from_port   = 0"));
}

#[test]
fn attributes_the_table_does_not_know_and_pulumi_get_nothing() {
    let unknown = drift(
        "ec2:security-group",
        Some(IacTool::Terraform),
        vec![change("group", json!("exists"), Value::Null)],
    );
    assert!(suggest(&unknown).is_empty());
    let pulumi = drift(
        "ec2:security-group",
        Some(IacTool::Pulumi),
        vec![ssh_to_the_world()],
    );
    assert!(suggest(&pulumi).is_empty());
    let bucket = drift(
        "s3:bucket",
        Some(IacTool::Terraform),
        vec![ssh_to_the_world()],
    );
    assert!(suggest(&bucket).is_empty());
}

/// The table parses, every resource type with attributes names its IaC types, and every
/// attribute names both languages.
#[test]
fn the_table_is_complete() {
    let t: Table = serde_json::from_str(CODIFY_TABLE).expect("codify.json parses");
    for (resource_type, attributes) in &t.attributes {
        assert!(t.resources.contains_key(resource_type), "{resource_type}");
        for (name, a) in attributes {
            assert!(
                !a.terraform.is_empty() && !a.cloudformation.is_empty(),
                "{name}"
            );
        }
    }
}
