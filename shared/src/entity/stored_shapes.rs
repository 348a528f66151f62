//! The table's schema is additive (docs/data-model.md): an item written by one version is read
//! by the next and the one before it. This test holds every stored entity's shape — each
//! attribute path with its DynamoDB type — against the committed snapshot
//! `shared/tests/fixtures/stored-shapes.json`: a removed or renamed attribute, or one whose type
//! changed, fails; a new one passes and is listed (`DD0C_UPDATE_SHAPES=1` records it in the
//! snapshot, so that its removal fails from then on).
//!
//! Shapes come from specimens: one value of each entity with every optional part present, made
//! into its item by the entity's own function, exactly as the adapters store it.

use std::collections::BTreeMap;

use serde_json::json;

use crate::auth::api_keys::ApiKey;
use crate::domain::actor::{ActorKind, IacTool, Source};
use crate::domain::drift::{
    AttributeChange, ChangeClass, ChangeEvent, DriftEvent, DriftEventKind, ManagedBy,
    ManagedResource, StackDeclaration,
};
use crate::finding_actions::AuditEntry;
use crate::slack::settings::{Installation, InstallationStatus, SlackSettings};
use crate::store::{AttrValue, Item};
use crate::tenancy::Membership;
use crate::testing::{self, noon};

use super::*;

/// Attribute path (`changes[].attribute`, `details.sku`) → DynamoDB type.
type Shape = BTreeMap<String, &'static str>;

fn type_of(value: &AttrValue) -> &'static str {
    match value {
        AttrValue::S(_) => "S",
        AttrValue::N(_) => "N",
        AttrValue::Bool(_) => "BOOL",
        AttrValue::Null => "NULL",
        AttrValue::L(_) => "L",
        AttrValue::M(_) => "M",
        AttrValue::Ss(_) => "SS",
        AttrValue::B(_) => "B",
    }
}

fn walk(path: &str, value: &AttrValue, shape: &mut Shape) {
    shape.insert(path.to_owned(), type_of(value));
    match value {
        AttrValue::M(fields) => {
            for (name, v) in fields {
                walk(&format!("{path}.{name}"), v, shape);
            }
        }
        AttrValue::L(items) => {
            for v in items {
                walk(&format!("{path}[]"), v, shape);
            }
        }
        // Packed attributes (decision 1250) are held like plain ones, under their binary one.
        AttrValue::B(_) => {
            let mut packed = Item::from([(path.to_owned(), value.clone())]);
            if crate::store::packed::unpack(&mut packed, path).is_ok() {
                for (name, v) in &packed {
                    walk(&format!("{path}.{name}"), v, shape);
                }
            }
        }
        _ => {}
    }
}

fn shape_of(item: &Item) -> Shape {
    let mut shape = Shape::new();
    for (name, value) in item {
        walk(name, value, &mut shape);
    }
    shape
}

/// What a newer shape breaks of an older one: paths gone, or of another type.
fn breaking_changes(entity: &str, before: &Shape, now: &Shape) -> Vec<String> {
    before
        .iter()
        .filter_map(|(path, was)| match now.get(path) {
            None => Some(format!("{entity}: `{path}` ({was}) was removed or renamed")),
            Some(is) if is != was => Some(format!("{entity}: `{path}` changed type {was} → {is}")),
            Some(_) => None,
        })
        .collect()
}

fn actor() -> crate::domain::Actor {
    crate::domain::Actor {
        ip: Some("203.0.113.9".into()),
        mfa: true,
        user_agent: Some("Mozilla/5.0".into()),
        kind: ActorKind::SsoUser,
        source: Source::Console,
        ..testing::console_user()
    }
}

fn managed_by() -> ManagedBy {
    ManagedBy {
        tool: Some(IacTool::Terraform),
        identity: "arn:aws:iam::123456789012:role/deployer".into(),
        stack: Some("network".into()),
    }
}

fn change() -> ChangeEvent {
    ChangeEvent {
        tenant_id: testing::TENANT.into(),
        account_id: testing::ACCOUNT.into(),
        region: "us-east-1".into(),
        event_id: "e-1".into(),
        event_time: noon(),
        action: "AuthorizeSecurityGroupIngress".into(),
        resource_type: "ec2:security-group".into(),
        resource_id: "sg-1".into(),
        changes: vec![AttributeChange {
            attribute: "ingress".into(),
            old: json!(null),
            new: json!({"cidr": "0.0.0.0/0", "from_port": 22}),
        }],
        actor: actor(),
        class: ChangeClass::Drift,
        managed_by: Some(managed_by()),
    }
}

/// One item of every stored entity, every optional part present.
fn specimens() -> Vec<(&'static str, Item)> {
    let mut incident_specimen =
        crate::domain::incident::Incident::open(&testing::cost_finding("f-1"));
    incident_specimen.stack = Some("web-prod".into());
    incident_specimen.snooze_until = Some(noon());
    incident_specimen.slack_channel = Some("C1".into());
    incident_specimen.slack_ts = Some("1.0".into());
    incident_specimen.root_finding = Some("f-1".into());
    let mut cost_finding = testing::cost_finding("cost-e-1");
    cost_finding.category = Some("compute".into());
    cost_finding.suppressed_reason = Some("held for the digest".into());
    cost_finding.estimated_hourly_cost = Some(1.5);
    cost_finding.details = json!({"sku": "m5.large", "count": 2, "spot": false, "service": "ec2", "detector": "cost.new_sku",
        "pricing": {"basis": "list price, eu-west-1 price by regional factor", "as_of": "2022",
            "caveats": ["spot: 70% below on-demand assumed"],
            "notes": ["m5.large Linux on-demand us-east-1 $0.096/hr"]}});
    let mut cost_event = testing::cost_event("e-1");
    cost_event.sku = Some("m5.large".into());
    cost_event.hourly_cost = Some(0.192);
    cost_event.previous_hourly_cost = Some(0.096);
    cost_event.pricing_notes = vec!["m5.large Linux on-demand us-east-1 $0.096/hr".into()];
    cost_event.price_basis = Some(crate::pricing::PriceBasis {
        label: "list price".into(),
        as_of: Some("2026-07-20".into()),
        caveats: vec!["spot: 70% below on-demand assumed".into()],
    });
    cost_event.actor = actor();
    let mut link = testing::active_account();
    link.status_changed_at = Some(noon());
    link.remediation_role_arn = Some(format!(
        "arn:aws:iam::{}:role/dd0c-remediation",
        testing::ACCOUNT
    ));
    let drift = DriftEvent {
        id: "drift-e-1".into(),
        kind: DriftEventKind::Detected,
        tenant_id: testing::TENANT.into(),
        account_id: testing::ACCOUNT.into(),
        region: "us-east-1".into(),
        resource_type: "ec2:security-group".into(),
        resource_id: "sg-1".into(),
        resource_address: Some("aws_security_group.web".into()),
        stack: Some("network".into()),
        managed_by: Some(managed_by()),
        changes: change().changes,
        change: Some(change()),
        report_id: Some("report-1".into()),
        detected_at: noon(),
        resolves: vec!["drift-e-0".into()],
        resolution: Some("reverted".into()),
    };
    let managed = ManagedResource {
        tenant_id: testing::TENANT.into(),
        account_id: testing::ACCOUNT.into(),
        resource_type: "ec2:security-group".into(),
        resource_id: "sg-1".into(),
        managed_by: managed_by(),
        managed_since: noon(),
        last_iac_event_id: "e-0".into(),
        last_iac_change_at: noon(),
        address: Some("aws_security_group.web".into()),
        tags: [("team".to_owned(), "payments".to_owned())].into(),
    };
    let installation = Installation {
        tenant_id: testing::TENANT.into(),
        team_id: "T1".into(),
        team_name: Some("Example".into()),
        bot_user_id: Some("U1".into()),
        scopes: vec!["chat:write".into()],
        token: json!({"key_id": "k", "nonce": "n", "ciphertext": "c"}),
        status: InstallationStatus::Active,
        broken_reason: Some("token_revoked".into()),
        broken_at: Some(noon()),
        installed_at: noon(),
        installed_by: Some("U2".into()),
        channel_id: Some("C1".into()),
        channel_name: Some("#ops".into()),
        webhook: Some(json!({"key_id": "k", "nonce": "n", "ciphertext": "c"})),
        channel_problem: Some("not_in_channel: #ops".into()),
        channel_problem_at: Some(noon()),
    };
    let settings = SlackSettings {
        default_channel: Some("C1".into()),
        account_channels: [(testing::ACCOUNT.to_owned(), "C2".to_owned())].into(),
        digest_time_zone: Some("Europe/Berlin".into()),
        digest_hour: Some(9),
        channel_tag: Some("team".into()),
        tag_channels: [("payments".to_owned(), "#payments-alerts".to_owned())].into(),
        mention_tag: Some("owner".into()),
        routing_version: 3,
        remediators: vec!["U3".into()],
    };
    let stack = StackDeclaration {
        stack_id: "stack-1".into(),
        name: "network".into(),
        iac_tool: "terraform".into(),
        account_id: testing::ACCOUNT.into(),
        region: "us-east-1".into(),
        state_location: Some("s3://state/network.tfstate".into()),
        enabled: true,
        ownership_tags: [("Stack".to_owned(), "network".to_owned())].into(),
        created_at: noon(),
        updated_at: noon(),
    };
    let key = ApiKey {
        key_id: "key-1".into(),
        tenant_id: testing::TENANT.into(),
        name: "agent".into(),
        prefix: "dd0c_ab".into(),
        created_at: noon(),
        created_by: Some("alice@example.com".into()),
    };
    let audit = AuditEntry {
        entry_id: "a-1".into(),
        tenant_id: testing::TENANT.into(),
        at: noon(),
        user: "alice@example.com".into(),
        via: "dashboard".into(),
        action: "finding.snooze".into(),
        target: "cost-e-1".into(),
        detail: json!({"hours": 24}),
    };
    let membership = Membership {
        subject: "sub-1".into(),
        tenant_id: testing::TENANT.into(),
        joined_at: noon(),
    };
    let scan = crate::accounts::zombie::AccountScan {
        scanned_at: noon(),
        region: crate::accounts::zombie::ALL_REGIONS.into(),
        zombies: vec![crate::accounts::zombie::Zombie {
            kind: crate::accounts::zombie::ZombieKind::UnattachedVolume,
            resource_id: "vol-1".into(),
            region: "eu-west-1".into(),
            reason: "100 GB volume attached to nothing".into(),
            monthly_usd: Some(8.8),
        }],
        monthly_waste_usd: 8.8,
        regions_scanned: vec!["us-east-1".into(), "eu-west-1".into()],
        regions_not_enabled: vec!["ap-east-1".into()],
        regions_failed: vec![crate::accounts::zombie::RegionFailure {
            region: "us-west-2".into(),
            error: "AWS throttled the call: Rate exceeded".into(),
        }],
    };
    let ok = |r: Result<Item, crate::store::StoreError>| r.expect("a specimen encodes");
    vec![
        ("finding (cost)", ok(finding::item(&cost_finding))),
        (
            "finding (drift)",
            ok(finding::item(&testing::drift_finding("drift-e-1"))),
        ),
        ("processed mark", processed_mark(&cost_event)),
        ("account link", ok(account_link::item(&link))),
        ("drift event", ok(drift_event::item(&drift))),
        ("managed resource", ok(resource::managed_item(&managed))),
        ("change event", ok(resource::change_item(&change(), 1))),
        (
            "change event (IaC, of a stack)",
            ok(resource::change_item(
                &ChangeEvent {
                    class: ChangeClass::Iac,
                    ..change()
                },
                1,
            )),
        ),
        (
            "slack installation",
            ok(slack_installation::item(&installation)),
        ),
        (
            "slack settings",
            ok(slack_settings::item(testing::TENANT, &settings)),
        ),
        ("stack", ok(stack::declared_item(testing::TENANT, &stack))),
        ("api key", ok(api_key::item(&key, "hash"))),
        ("audit entry", ok(audit::item(&audit))),
        ("membership", ok(membership::item(&membership))),
        (
            "scored marker",
            baseline::contribution_item(testing::TENANT, testing::ACCOUNT, "e-1", 1),
        ),
        ("notice", notice::item(testing::TENANT, "paused", &noon())),
        (
            "zombie scan",
            ok(zombie_scan::item(testing::TENANT, testing::ACCOUNT, &scan)),
        ),
        (
            "flag",
            ok(flag::item(
                &crate::flags::Flag {
                    detector: "cost.burst".into(),
                    scope: crate::flags::FlagScope::Tenant,
                    owner: "team".into(),
                    reason: "noisy".into(),
                    expires_at: noon(),
                    set_by: "alice".into(),
                    set_at: noon(),
                },
                testing::TENANT,
            )),
        ),
        (
            "breaker hour",
            breaker::specimen(testing::TENANT, "cost.burst", &noon()),
        ),
        ("incident", ok(incident::item(&incident_specimen))),
        (
            "finding alert claim",
            finding::alert_claim_item(
                testing::TENANT,
                "cost-e-1",
                &finding::AlertClaim::new(),
                &noon(),
            ),
        ),
        (
            "finding published mark",
            finding::published_mark_item(testing::TENANT, "cost-e-1", &noon()),
        ),
        (
            "finding incident link",
            finding::incident_link_item(&testing::cost_finding("cost-e-1"), "inc-cost-e-1"),
        ),
        (
            "incident group",
            incident::group_specimen(&incident_specimen),
        ),
        ("remediation", ok(remediation::item(&remediation_record()))),
    ]
}

fn remediation_record() -> remediation::RemediationRecord {
    use crate::remediation::{IngressRule, RemediationKind, RemediationRequest};
    remediation::RemediationRecord {
        tenant_id: testing::TENANT.into(),
        finding_id: "drift-e-1".into(),
        kind: RemediationKind::RevokeIngress,
        account_id: testing::ACCOUNT.into(),
        request: RemediationRequest::RevokeIngress {
            region: "us-east-1".into(),
            group_id: "sg-1".into(),
            rule: IngressRule {
                protocol: "tcp".into(),
                from_port: Some(22),
                to_port: Some(22),
                cidr: "0.0.0.0/0".into(),
            },
        },
        requested_by: "slack:U3".into(),
        requested_at: noon(),
        status: remediation::RemediationStatus::Denied,
        reason: Some("AWS denied ec2:RevokeSecurityGroupIngress: protected".into()),
        finished_at: Some(noon()),
    }
}

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/stored-shapes.json"
);

/// A record's processed mark as its update leaves it on an absent key (it is only ever
/// written by that update, whose every part is a `SET`).
fn processed_mark(cost_event: &crate::domain::CostEvent) -> Item {
    let spend = event::RecordSpend::of(std::slice::from_ref(cost_event));
    let mark = event::processed_mark(
        "RunInstances",
        "ec2.amazonaws.com",
        "cost_events",
        spend.as_ref(),
        1,
    );
    assert!(mark.add.is_empty() && mark.remove.is_empty() && mark.set_if_absent.is_empty());
    let key = event::cloudtrail_key(testing::TENANT, testing::ACCOUNT, &noon(), "e-1");
    let mut item: Item = mark.set.into_iter().collect();
    item.extend(super::bare(key));
    item
}

#[test]
fn every_stored_shape_keeps_what_the_snapshot_has() {
    let now: BTreeMap<String, Shape> = specimens()
        .into_iter()
        .map(|(name, item)| (name.to_owned(), shape_of(&item)))
        .collect();
    let text = std::fs::read_to_string(SNAPSHOT).unwrap_or_else(|_| "{}".into());
    let before: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&text).expect("the snapshot is JSON");
    let mut broken = Vec::new();
    let mut added = Vec::new();
    for (entity, shape) in &before {
        let Some(current) = now.get(entity) else {
            broken.push(format!("{entity}: no longer stored"));
            continue;
        };
        let shape: Shape = shape
            .iter()
            .map(|(p, t)| (p.clone(), type_name(t)))
            .collect();
        broken.extend(breaking_changes(entity, &shape, current));
        added.extend(
            current
                .keys()
                .filter(|p| !shape.contains_key(*p))
                .map(|p| format!("{entity}: {p}")),
        );
    }
    added.extend(
        now.keys()
            .filter(|e| !before.contains_key(*e))
            .map(|e| format!("{e}: (new entity)")),
    );
    assert!(
        broken.is_empty(),
        "stored shapes must only grow (docs/data-model.md):\n{}",
        broken.join("\n")
    );
    if std::env::var_os("DD0C_UPDATE_SHAPES").is_some() {
        let mut out = serde_json::to_string_pretty(&now).expect("JSON");
        out.push('\n');
        std::fs::write(SNAPSHOT, out).expect("snapshot written");
    } else if !added.is_empty() {
        // Additions are allowed; recording them makes their removal fail later.
        eprintln!(
            "new stored attributes (record them: DD0C_UPDATE_SHAPES=1 cargo test -p dd0c-shared stored_shapes):\n{}",
            added.join("\n")
        );
    }
}

fn type_name(t: &str) -> &'static str {
    ["S", "N", "BOOL", "NULL", "L", "M", "SS", "B"]
        .into_iter()
        .find(|known| *known == t)
        .unwrap_or("unknown")
}

#[test]
fn a_removed_renamed_or_retyped_attribute_breaks_and_an_added_one_does_not() {
    let shape = |paths: &[(&str, &'static str)]| -> Shape {
        paths.iter().map(|(p, t)| ((*p).to_owned(), *t)).collect()
    };
    let before: Shape = shape(&[("status", "S"), ("score", "N"), ("details.sku", "S")]);
    let renamed: Shape = shape(&[("state", "S"), ("score", "N"), ("details.sku", "S")]);
    let retyped: Shape = shape(&[("status", "S"), ("score", "S"), ("details.sku", "S")]);
    let grown = shape(&[
        ("status", "S"),
        ("score", "N"),
        ("details.sku", "S"),
        ("details.count", "N"),
    ]);
    assert_eq!(
        breaking_changes("finding", &before, &renamed),
        ["finding: `status` (S) was removed or renamed"]
    );
    assert_eq!(
        breaking_changes("finding", &before, &retyped),
        ["finding: `score` changed type N → S"]
    );
    assert!(breaking_changes("finding", &before, &grown).is_empty());
}

#[test]
fn shapes_follow_nested_maps_and_lists() {
    let mut item = Item::new();
    item.insert(
        "changes".into(),
        AttrValue::L(vec![AttrValue::M(
            [("attribute".to_owned(), AttrValue::S("ingress".into()))].into(),
        )]),
    );
    let shape = shape_of(&item);
    assert_eq!(shape.get("changes"), Some(&"L"));
    assert_eq!(shape.get("changes[].attribute"), Some(&"S"));
}
