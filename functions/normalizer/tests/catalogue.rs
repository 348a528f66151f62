//! Every catalogue entry, parsed from a realistic record: real CloudTrail from
//! tests/fixtures/public where the call appears there, otherwise the records in
//! tests/fixtures/cloudtrail/ (see its README). Prices are computed through the pricing
//! module, so a wrong SKU, count, region or platform fails the test.

use std::path::PathBuf;

use dd0c_normalizer::catalogue::{self, Facts, Normalized};
use dd0c_shared::domain::cloudtrail::records_in;
use dd0c_shared::domain::{CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{self, Platform, Tenancy};
use serde_json::Value;

const TENANT: &str = "t-1";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_fixtures() -> PathBuf {
    repo().join("tests/fixtures/public/cloudtrail")
}

fn parse(text: &str, what: &str) -> CloudTrailRecord {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut records = records_in(value).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(records.len(), 1, "{what} holds one record");
    CloudTrailRecord::from_value(records.remove(0)).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A record written for this repo (tests/fixtures/cloudtrail/NAME.json).
fn fixture(name: &str) -> CloudTrailRecord {
    let path = repo().join(format!("tests/fixtures/cloudtrail/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    parse(&text, name)
}

/// A cloud-custodian test event (envelope or bare record).
fn custodian(file: &str) -> CloudTrailRecord {
    let path = shared_fixtures().join("cloud-custodian-cwe").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    parse(&text, file)
}

fn invictus_records() -> Vec<Value> {
    let dir = shared_fixtures().join("invictus-ir-aws-dataset/CloudTrail");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 50,
        "the invictus-ir dataset has 55 log files"
    );
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("log file");
            records_in(serde_json::from_str(&text).expect("log file JSON")).expect("Records")
        })
        .collect()
}

/// A real invictus-ir record, by eventID.
fn invictus(event_id: &str) -> CloudTrailRecord {
    let raw = invictus_records()
        .into_iter()
        .find(|r| r["eventID"] == event_id)
        .unwrap_or_else(|| panic!("no invictus record {event_id}"));
    CloudTrailRecord::from_value(raw).expect("record")
}

fn account(r: &CloudTrailRecord) -> String {
    r.account_id().expect("account").to_owned()
}

fn normalize(r: &CloudTrailRecord) -> Normalized {
    catalogue::normalize(r, TENANT, &account(r))
}

fn normalize_after(r: &CloudTrailRecord, earlier: &[&CloudTrailRecord]) -> Normalized {
    catalogue::normalize_with(r, TENANT, &account(r), &replay(earlier))
}

/// What dd0c would have remembered after processing `records` in order.
fn replay(records: &[&CloudTrailRecord]) -> Facts {
    let mut facts = Facts::default();
    for r in records {
        let learned = catalogue::learned(r, &facts);
        facts.learn(learned);
    }
    facts
}

fn one(n: Normalized) -> CostEvent {
    match n {
        Normalized::Cost(mut events) => {
            assert_eq!(events.len(), 1, "one cost event per record: {events:?}");
            events.remove(0)
        }
        other => panic!("expected a cost event, got {other:?}"),
    }
}

fn close(actual: Option<f64>, expected: Option<f64>) {
    let (a, e) = (
        actual.unwrap_or_else(|| panic!("price missing (expected {expected:?})")),
        expected.expect("the expected price is known"),
    );
    assert!((a - e).abs() < 1e-9, "price {a} != expected {e}");
}

fn ec2(t: &str, region: &str, spot: bool) -> Option<f64> {
    pricing::ec2_instance(t, region, Platform::Linux, Tenancy::Shared, spot).hourly_usd
}

fn times(h: Option<f64>, n: f64) -> Option<f64> {
    h.map(|h| h * n)
}

fn has_note(e: &CostEvent, needle: &str) -> bool {
    e.pricing_notes.iter().any(|n| n.contains(needle))
}

// ---------------------------------------------------------------------------------- EC2

#[test]
fn run_instances_real_terraform_launch() {
    let r = invictus("86eac0ac-8521-4126-aa32-a22f2b74d02e");
    let e = one(normalize(&r));
    assert_eq!(e.action, CostAction::Create);
    assert_eq!(e.sku.as_deref(), Some("t3.micro"));
    assert_eq!(e.count, 1);
    assert_eq!(e.resource_ids, vec!["i-0dbc91f429e48eeed"]);
    close(e.hourly_cost, ec2("t3.micro", "us-east-1", false));
    assert_eq!(e.actor.name, "bert-jan");
    assert_eq!(e.actor.source.label(), "Terraform");
}

#[test]
fn run_instances_real_failed_call_creates_nothing() {
    let r = invictus("4a131b73-a4cd-44ce-8757-e3ad55c22e43");
    assert_eq!(
        normalize(&r),
        Normalized::Failed {
            error_code: "Client.InvalidParameterValue".into()
        }
    );
    assert!(catalogue::learned(&r, &Facts::default()).is_empty());
}

#[test]
fn run_instances_real_autoscaling_launch_in_another_region() {
    let r = custodian("event-cloud-trail-run-instances.json");
    let e = one(normalize(&r));
    assert_eq!(e.region, "us-west-1");
    assert_eq!(e.sku.as_deref(), Some("t2.micro"));
    assert_eq!(e.count as usize, e.resource_ids.len());
    close(
        e.hourly_cost,
        times(ec2("t2.micro", "us-west-1", false), f64::from(e.count)),
    );
    assert!(has_note(&e, "EC2 Auto Scaling"));
}

#[test]
fn run_instances_from_launch_template_reads_type_and_count_from_the_response() {
    let e = one(normalize(&fixture("ec2-run-instances-launch-template")));
    assert_eq!(e.sku.as_deref(), Some("m5.xlarge"));
    assert_eq!(e.count, 3);
    assert_eq!(e.resource_ids.len(), 3);
    close(
        e.hourly_cost,
        times(ec2("m5.xlarge", "us-east-1", false), 3.0),
    );
    assert_eq!(e.actor.kind, dd0c_shared::domain::ActorKind::SsoUser);
}

#[test]
fn run_instances_launch_template_without_response_is_unknown_with_reason() {
    let mut r = fixture("ec2-run-instances-launch-template");
    r.response_elements = None;
    let e = one(normalize(&r));
    assert_eq!(e.hourly_cost, None);
    assert!(
        has_note(&e, "launch template batch-workers"),
        "{:?}",
        e.pricing_notes
    );
    assert_eq!(e.count, 3, "falls back to minCount");
}

#[test]
fn run_instances_spot_with_counts_as_strings() {
    let e = one(normalize(&fixture("ec2-run-instances-spot")));
    assert!(e.spot);
    assert_eq!(e.count, 2);
    close(
        e.hourly_cost,
        times(ec2("c5.2xlarge", "us-east-1", true), 2.0),
    );
    assert_ne!(
        e.hourly_cost,
        times(ec2("c5.2xlarge", "us-east-1", false), 2.0)
    );
}

#[test]
fn start_instances_uses_the_types_stored_at_launch() {
    let launch = fixture("ec2-run-instances-launch-template");
    let start = fixture("ec2-start-instances");
    let e = one(normalize_after(&start, &[&launch]));
    assert_eq!(e.action, CostAction::Start);
    assert_eq!(e.count, 2);
    assert_eq!(e.sku.as_deref(), Some("m5.xlarge"));
    close(
        e.hourly_cost,
        times(ec2("m5.xlarge", "us-east-1", false), 2.0),
    );
    assert_eq!(e.actor.source.label(), "console");

    let unknown = one(normalize(&start));
    assert_eq!(unknown.hourly_cost, None);
    assert!(has_note(&unknown, "i-0b5e1c2d3e4f5a6b0"));
}

#[test]
fn stop_instances_reports_what_stopped_costing() {
    let launch = fixture("ec2-run-instances-launch-template");
    let e = one(normalize_after(&fixture("ec2-stop-instances"), &[&launch]));
    assert_eq!(e.action, CostAction::Stop);
    close(
        e.hourly_cost,
        times(ec2("m5.xlarge", "us-east-1", false), 2.0),
    );
    assert_eq!(e.added_hourly_cost(), Some(0.0));
    assert_eq!(e.actor.kind, dd0c_shared::domain::ActorKind::IamUser);
    assert_eq!(e.actor.source.label(), "CLI");
}

#[test]
fn terminate_instances_real_after_real_launch() {
    let launch = invictus("86eac0ac-8521-4126-aa32-a22f2b74d02e");
    let terminate = invictus("2d893b1d-e8f2-499b-a558-cb927d9b48ea");
    let e = one(normalize_after(&terminate, &[&launch]));
    assert_eq!(e.action, CostAction::Delete);
    assert_eq!(e.resource_ids, vec!["i-0dbc91f429e48eeed"]);
    close(e.hourly_cost, ec2("t3.micro", "us-east-1", false));
    // Terminated instances are forgotten.
    assert!(replay(&[&launch, &terminate]).is_empty());
}

#[test]
fn modify_instance_attribute_type_change_is_a_delta() {
    let launch = fixture("ec2-run-instances-launch-template");
    let modify = fixture("ec2-modify-instance-attribute-type");
    let e = one(normalize_after(&modify, &[&launch]));
    assert_eq!(e.action, CostAction::Modify);
    assert_eq!(e.sku.as_deref(), Some("m5.4xlarge"));
    close(e.hourly_cost, ec2("m5.4xlarge", "us-east-1", false));
    close(e.previous_hourly_cost, ec2("m5.xlarge", "us-east-1", false));
    let delta = e.added_hourly_cost().expect("delta");
    assert!(delta > 0.0);
    // The new type is remembered for the next start.
    let start = fixture("ec2-start-instances");
    let started = one(normalize_after(&start, &[&launch, &modify]));
    close(
        started.hourly_cost,
        Some(
            ec2("m5.4xlarge", "us-east-1", false).unwrap()
                + ec2("m5.xlarge", "us-east-1", false).unwrap(),
        ),
    );
    // Without history: the new price, no delta, and a reason.
    let alone = one(normalize(&modify));
    assert_eq!(alone.previous_hourly_cost, None);
    assert!(has_note(&alone, "previous instance type unknown"));
}

#[test]
fn modify_instance_attribute_real_non_type_change_is_not_cost() {
    let r = invictus("1bb6c2f9-b96b-485d-92ad-380e4be8b1b1");
    assert_eq!(normalize(&r), Normalized::NonCost);
}

#[test]
fn request_spot_instances() {
    let e = one(normalize(&fixture("ec2-request-spot-instances")));
    assert!(e.spot);
    assert_eq!(e.count, 4);
    assert_eq!(e.resource_ids.len(), 4);
    assert_eq!(e.sku.as_deref(), Some("g4dn.xlarge"));
    close(
        e.hourly_cost,
        times(ec2("g4dn.xlarge", "us-east-1", true), 4.0),
    );
}

#[test]
fn request_spot_fleet() {
    let e = one(normalize(&fixture("ec2-request-spot-fleet")));
    assert_eq!(e.count, 5);
    assert_eq!(
        e.resource_ids,
        vec!["sfr-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"]
    );
    close(
        e.hourly_cost,
        times(ec2("r5.large", "us-east-1", true), 5.0),
    );
}

#[test]
fn create_fleet_instant_pascal_case() {
    let r = fixture("ec2-create-fleet-instant");
    let e = one(normalize(&r));
    assert_eq!(e.count, 2);
    assert_eq!(
        e.resource_ids,
        vec!["i-0f1ee70000000000a", "i-0f1ee70000000000b"]
    );
    assert_eq!(e.sku.as_deref(), Some("m6i.large"));
    assert!(e.spot);
    close(
        e.hourly_cost,
        times(ec2("m6i.large", "us-east-1", true), 2.0),
    );
    assert_eq!(replay(&[&r]).len(), 2, "fleet instances are remembered");
}

#[test]
fn create_fleet_maintain_with_several_types_is_unknown_with_reason() {
    let mut r = fixture("ec2-create-fleet-instant");
    r.response_elements = None;
    let e = one(normalize(&r));
    assert_eq!(e.count, 2);
    assert_eq!(e.hourly_cost, None);
    assert!(has_note(&e, "any of 2 types"), "{:?}", e.pricing_notes);
}

// ---------------------------------------------------------------------------------- VPC

#[test]
fn nat_gateway_real_create_and_delete() {
    let create = invictus("dbb3b16e-549e-48bc-bfa6-9ca4c2845e43");
    let e = one(normalize(&create));
    assert_eq!(e.resource_ids, vec!["nat-03575abbac42080d9"]);
    assert_eq!(e.action, CostAction::Create);
    close(e.hourly_cost, pricing::nat_gateway("us-east-1").hourly_usd);
    let delete = invictus("de095443-8389-4aa2-9bcb-d3295a255169");
    let d = one(normalize(&delete));
    assert_eq!(d.action, CostAction::Delete);
    assert_eq!(d.resource_ids, vec!["nat-0dd264ee104155137"]);
    close(d.hourly_cost, pricing::nat_gateway("us-east-1").hourly_usd);
}

#[test]
fn elastic_ip_real_allocate_and_release() {
    let e = one(normalize(&invictus("a4ff516f-8f9a-4c36-9700-b31a883c1a6e")));
    assert_eq!(e.resource_ids, vec!["eipalloc-08a083beb7e83dbc0"]);
    close(e.hourly_cost, pricing::elastic_ip("us-east-1").hourly_usd);
    let r = one(normalize(&invictus("540b0193-0d7f-4682-b665-9e6a6f734b1f")));
    assert_eq!(r.action, CostAction::Delete);
    assert_eq!(r.resource_ids, vec!["eipalloc-09d58d8a1fc361502"]);
    close(r.hourly_cost, pricing::elastic_ip("us-east-1").hourly_usd);
}

// ---------------------------------------------------------------------------------- EBS

#[test]
fn create_volume_real_size_as_string() {
    let e = one(normalize(&invictus("396f94bc-78ec-4b64-917d-aadc2260c81d")));
    assert_eq!(e.resource_ids, vec!["vol-0a2e548958718390d"]);
    assert_eq!(e.sku.as_deref(), Some("gp2"));
    close(
        e.hourly_cost,
        pricing::ebs_volume(Some("gp2"), 1.0, Some(100.0), None, "us-east-1").hourly_usd,
    );
}

#[test]
fn create_volume_real_from_snapshot_takes_size_from_the_response() {
    let e = one(normalize(&custodian(
        "event-cloud-trail-create-volume.json",
    )));
    assert_eq!(e.resource_ids, vec!["vol-97c02b3e"]);
    assert_eq!(e.sku.as_deref(), Some("standard"));
    close(
        e.hourly_cost,
        pricing::ebs_volume(Some("standard"), 100.0, None, None, "us-east-1").hourly_usd,
    );
    assert!(has_note(&e, "snap-37beda4c"));
}

#[test]
fn create_volume_without_type_uses_the_default() {
    let mut r = custodian("event-cloud-trail-create-volume.json");
    if let Some(Value::Object(resp)) = r.response_elements.as_mut() {
        resp.remove("volumeType");
    }
    let e = one(normalize(&r));
    close(
        e.hourly_cost,
        pricing::ebs_volume(None, 100.0, None, None, "us-east-1").hourly_usd,
    );
}

#[test]
fn create_volume_gp3_with_iops_and_throughput() {
    let e = one(normalize(&fixture("ec2-create-volume-gp3")));
    close(
        e.hourly_cost,
        pricing::ebs_volume(Some("gp3"), 2000.0, Some(6000.0), Some(500.0), "us-east-1").hourly_usd,
    );
    // The tags the call put on the volume travel with the event (routing by tag).
    assert_eq!(
        e.tags,
        [("Name".to_owned(), "warehouse-scratch".to_owned())].into()
    );
}

#[test]
fn modify_volume_delta_from_the_response() {
    let e = one(normalize(&fixture("ec2-modify-volume")));
    assert_eq!(e.action, CostAction::Modify);
    assert_eq!(e.resource_ids, vec!["vol-0a0b0c0d0e0f01234"]);
    close(
        e.hourly_cost,
        pricing::ebs_volume(Some("gp3"), 4000.0, Some(6000.0), Some(500.0), "us-east-1").hourly_usd,
    );
    close(
        e.previous_hourly_cost,
        pricing::ebs_volume(Some("gp3"), 2000.0, Some(6000.0), Some(500.0), "us-east-1").hourly_usd,
    );
}

#[test]
fn delete_volume_real_after_real_create() {
    let create = invictus("f0cce5bc-5f9e-4ee1-bb48-e20fecb32403");
    let delete = invictus("77a5e160-ad9e-419b-a329-2f8406054631");
    let e = one(normalize_after(&delete, &[&create]));
    assert_eq!(e.action, CostAction::Delete);
    assert_eq!(e.resource_ids, vec!["vol-0fc2e34e74650e145"]);
    close(
        e.hourly_cost,
        pricing::ebs_volume(Some("gp2"), 1.0, Some(100.0), None, "us-east-1").hourly_usd,
    );
    let unknown = one(normalize(&delete));
    assert_eq!(unknown.hourly_cost, None);
    assert!(!unknown.pricing_notes.is_empty());
}

// ---------------------------------------------------------------------------------- Auto Scaling

#[test]
fn create_auto_scaling_group_with_launch_template_is_unknown_with_reason() {
    let e = one(normalize(&fixture(
        "autoscaling-create-group-launch-template",
    )));
    assert_eq!(e.count, 4);
    assert_eq!(e.resource_ids, vec!["web-asg"]);
    assert_eq!(e.hourly_cost, None);
    assert!(
        has_note(&e, "launch template lt-0a1b2c3d4e5f60718"),
        "{:?}",
        e.pricing_notes
    );
    assert_eq!(e.actor.source.label(), "CDK");
}

#[test]
fn auto_scaling_group_create_update_and_set_desired_capacity() {
    let create = fixture("autoscaling-create-group-mixed");
    let e = one(normalize(&create));
    assert_eq!(e.count, 3, "no desired capacity: starts at minSize");
    assert_eq!(e.sku.as_deref(), Some("c6i.xlarge"));
    close(
        e.hourly_cost,
        times(ec2("c6i.xlarge", "us-east-1", false), 3.0),
    );

    let update = fixture("autoscaling-update-group");
    let u = one(normalize_after(&update, &[&create]));
    assert_eq!(u.action, CostAction::Modify);
    assert_eq!(u.count, 8);
    close(
        u.hourly_cost,
        times(ec2("c6i.xlarge", "us-east-1", false), 8.0),
    );
    close(
        u.previous_hourly_cost,
        times(ec2("c6i.xlarge", "us-east-1", false), 3.0),
    );

    let set = fixture("autoscaling-set-desired-capacity");
    let s = one(normalize_after(&set, &[&create, &update]));
    assert_eq!(s.count, 2);
    close(
        s.hourly_cost,
        times(ec2("c6i.xlarge", "us-east-1", false), 2.0),
    );
    close(
        s.previous_hourly_cost,
        times(ec2("c6i.xlarge", "us-east-1", false), 8.0),
    );
    assert!(s.added_hourly_cost().expect("delta") < 0.0);

    let blind = one(normalize(&set));
    assert_eq!(blind.hourly_cost, None);
    assert!(!blind.pricing_notes.is_empty());
}

// ---------------------------------------------------------------------------------- RDS

#[test]
fn create_db_instance_real_terraform() {
    let e = one(normalize(&invictus("fdc74c82-c299-4211-a08e-b5f125ee3b58")));
    assert_eq!(e.sku.as_deref(), Some("db.t3.micro"));
    assert_eq!(e.resource_ids, vec!["terraform-20230710121504061500000001"]);
    let expected = pricing::rds_instance("db.t3.micro", "mysql", "us-east-1", false)
        .hourly_usd
        .unwrap()
        + pricing::rds_storage_deployment("gp2", 10.0, None, "us-east-1", false)
            .hourly_usd
            .unwrap();
    close(e.hourly_cost, Some(expected));
}

#[test]
fn create_db_instance_real_cloudformation_magnetic() {
    let e = one(normalize(&custodian("event-cloud-trail-create-db.json")));
    assert_eq!(e.sku.as_deref(), Some("db.t2.micro"));
    let instance = pricing::rds_instance("db.t2.micro", "mysql", "us-east-1", false);
    let storage = pricing::rds_storage_deployment("standard", 5.0, None, "us-east-1", false);
    match (instance.hourly_usd, storage.hourly_usd) {
        (Some(i), Some(s)) => close(e.hourly_cost, Some(i + s)),
        _ => {
            assert_eq!(e.hourly_cost, None);
            assert!(!e.pricing_notes.is_empty());
        }
    }
    assert_eq!(e.actor.source.label(), "CloudFormation");
}

#[test]
fn create_db_instance_multi_az_doubles_instance_and_storage() {
    let e = one(normalize(&fixture("rds-create-db-instance-multi-az")));
    let expected = pricing::rds_instance("db.r6g.xlarge", "postgres", "us-east-1", true)
        .hourly_usd
        .unwrap()
        + pricing::rds_storage_deployment("gp3", 500.0, Some(12000.0), "us-east-1", true)
            .hourly_usd
            .unwrap();
    close(e.hourly_cost, Some(expected));
    let single = pricing::rds_instance("db.r6g.xlarge", "postgres", "us-east-1", false)
        .hourly_usd
        .unwrap();
    assert!(e.hourly_cost.unwrap() > 2.0 * single - 1e-9);
    // Instance and storage: one basis, the older table's date, the provenance in the notes.
    let basis = e
        .price_basis
        .as_ref()
        .expect("priced events carry their basis");
    assert_eq!(basis.as_of.as_deref(), Some("2021-08-03"));
    assert_eq!(basis.label, pricing::LIST_PRICE);
    assert!(has_note(&e, "Multi-AZ: storage doubled"));
}

#[test]
fn a_spot_launch_carries_its_short_basis_and_its_caveat() {
    let e = one(normalize(&fixture("ec2-run-instances-spot")));
    let basis = e.price_basis.as_ref().expect("basis");
    assert_eq!(basis.label, pricing::LIST_PRICE);
    assert_eq!(basis.caveats, ["spot: 70% below on-demand assumed"]);
    assert_eq!(basis.as_of.as_deref(), Some("2026-07-20"));
    // An event serialized before the basis existed still reads.
    let mut old = serde_json::to_value(&e).unwrap();
    old.as_object_mut().unwrap().remove("price_basis");
    let back: dd0c_shared::domain::CostEvent = serde_json::from_value(old).unwrap();
    assert_eq!(back.price_basis, None);
}

#[test]
fn create_db_cluster_aurora_has_no_hourly_charge_of_its_own() {
    let e = one(normalize(&fixture("rds-create-db-cluster-aurora")));
    assert_eq!(e.resource_ids, vec!["catalog"]);
    assert_eq!(e.hourly_cost, Some(0.0));
    assert!(has_note(&e, "CreateDBInstance"));
}

#[test]
fn restore_db_instance_from_snapshot_prices_the_response() {
    let e = one(normalize(&fixture("rds-restore-db-instance-from-snapshot")));
    let expected = pricing::rds_instance("db.m5.large", "postgres", "us-east-1", false)
        .hourly_usd
        .unwrap()
        + pricing::rds_storage_deployment("gp3", 500.0, Some(12000.0), "us-east-1", false)
            .hourly_usd
            .unwrap();
    close(e.hourly_cost, Some(expected));
    assert!(has_note(&e, "orders-prod-2026-11-21"));
    assert_eq!(e.actor.source.label(), "console");
}

#[test]
fn modify_db_instance_class_change_is_a_delta() {
    let modify = fixture("rds-modify-db-instance-class");
    let storage = pricing::rds_storage_deployment("gp3", 500.0, Some(12000.0), "us-east-1", true)
        .hourly_usd
        .unwrap();
    let new = pricing::rds_instance("db.r6g.2xlarge", "postgres", "us-east-1", true)
        .hourly_usd
        .unwrap();
    let old = pricing::rds_instance("db.r6g.xlarge", "postgres", "us-east-1", true)
        .hourly_usd
        .unwrap();
    for e in [
        one(normalize(&modify)),
        one(normalize_after(
            &modify,
            &[&fixture("rds-create-db-instance-multi-az")],
        )),
    ] {
        assert_eq!(e.action, CostAction::Modify);
        assert_eq!(e.sku.as_deref(), Some("db.r6g.2xlarge"));
        close(e.hourly_cost, Some(new + storage));
        close(e.previous_hourly_cost, Some(old + storage));
    }
}

#[test]
fn delete_db_instance_real_reports_what_it_cost() {
    let e = one(normalize(&invictus("b5232796-c668-4d71-a006-d9cabb3d607d")));
    assert_eq!(e.action, CostAction::Delete);
    assert_eq!(e.sku.as_deref(), Some("db.t3.micro"));
    let expected = pricing::rds_instance("db.t3.micro", "mysql", "us-east-1", false)
        .hourly_usd
        .unwrap()
        + pricing::rds_storage_deployment("gp2", 10.0, None, "us-east-1", false)
            .hourly_usd
            .unwrap();
    close(e.hourly_cost, Some(expected));
    // Through the console ("AWS Internal"), with MFA.
    assert_eq!(e.actor.source.label(), "console");
    assert!(e.actor.mfa);
    let failed = invictus("c704b1d0-d5a6-4eed-aaf6-caecd497993b");
    assert!(matches!(normalize(&failed), Normalized::Failed { .. }));
}

// ---------------------------------------------------------------------------------- Lambda

#[test]
fn create_function_real_has_no_hourly_cost_and_says_so() {
    let e = one(normalize(&invictus("2e15203f-d196-441a-adeb-794b195b4a28")));
    assert_eq!(e.hourly_cost, Some(0.0));
    assert_eq!(
        e.resource_ids,
        vec!["arn:aws:lambda:us-east-1:123837392027:function:stratus-red-team-backdoor-f-func"]
    );
    assert_eq!(e.pricing_notes, pricing::lambda_function().reasons);
    let failed = invictus("2b7c36ee-1525-45a4-b58a-dc1a828d2c7f");
    assert!(matches!(normalize(&failed), Normalized::Failed { .. }));
}

#[test]
fn provisioned_concurrency_uses_the_stored_memory() {
    let create = fixture("lambda-create-function-arm64");
    let put = fixture("lambda-put-provisioned-concurrency-config");
    let e = one(normalize_after(&put, &[&create]));
    assert_eq!(e.resource_ids, vec!["checkout-api:live"]);
    assert_eq!(e.count, 50);
    close(
        e.hourly_cost,
        pricing::lambda_provisioned_concurrency(1024.0, 50.0, "us-east-1", true).hourly_usd,
    );
    let blind = one(normalize(&put));
    assert_eq!(blind.hourly_cost, None);
    assert!(has_note(&blind, "memory size of checkout-api unknown"));
    let delete = one(normalize(&fixture(
        "lambda-delete-provisioned-concurrency-config",
    )));
    assert_eq!(delete.action, CostAction::Delete);
    assert_eq!(delete.resource_ids, vec!["checkout-api:live"]);
}

// ---------------------------------------------------------------------------------- ELB, EKS

#[test]
fn load_balancers_v2_and_classic() {
    let alb = one(normalize(&fixture("elbv2-create-load-balancer")));
    assert_eq!(alb.sku.as_deref(), Some("application"));
    assert!(alb.resource_ids[0].contains(":loadbalancer/app/web-alb/"));
    close(
        alb.hourly_cost,
        pricing::load_balancer("application", "us-east-1").hourly_usd,
    );
    let clb = one(normalize(&fixture("elb-classic-create-load-balancer")));
    assert_eq!(clb.sku.as_deref(), Some("classic"));
    assert_eq!(clb.resource_ids, vec!["legacy-web"]);
    close(
        clb.hourly_cost,
        pricing::load_balancer("classic", "us-east-1").hourly_usd,
    );
    let nlb = one(normalize(&fixture("elbv2-delete-load-balancer")));
    assert_eq!(nlb.action, CostAction::Delete);
    assert_eq!(nlb.sku.as_deref(), Some("network"));
    close(
        nlb.hourly_cost,
        pricing::load_balancer("network", "us-east-1").hourly_usd,
    );
}

#[test]
fn eks_cluster_and_nodegroup() {
    let c = one(normalize(&fixture("eks-create-cluster")));
    assert_eq!(
        c.resource_ids,
        vec!["arn:aws:eks:us-east-1:111122223333:cluster/platform"]
    );
    close(c.hourly_cost, pricing::eks_cluster("us-east-1").hourly_usd);
    let d = one(normalize(&fixture("eks-delete-cluster")));
    assert_eq!(d.action, CostAction::Delete);
    close(d.hourly_cost, pricing::eks_cluster("us-east-1").hourly_usd);
    let n = one(normalize(&fixture("eks-create-nodegroup")));
    assert_eq!(n.count, 3);
    assert_eq!(n.sku.as_deref(), Some("m6i.large"));
    close(
        n.hourly_cost,
        times(ec2("m6i.large", "us-east-1", false), 3.0),
    );
}

// ---------------------------------------------------------------------------------- data services

#[test]
fn elasticache_cluster_and_replication_group() {
    let c = one(normalize(&fixture("elasticache-create-cache-cluster")));
    assert_eq!(c.count, 2);
    assert_eq!(c.resource_ids, vec!["sessions"]);
    close(
        c.hourly_cost,
        times(
            pricing::elasticache_node("cache.r6g.large", "us-east-1").hourly_usd,
            2.0,
        ),
    );
    let g = one(normalize(&fixture("elasticache-create-replication-group")));
    assert_eq!(g.count, 6, "3 shards × (1 replica + 1 primary)");
    close(
        g.hourly_cost,
        times(
            pricing::elasticache_node("cache.m6g.large", "us-east-1").hourly_usd,
            6.0,
        ),
    );
}

#[test]
fn opensearch_domains_from_both_event_sources() {
    let es = one(normalize(&fixture("es-create-elasticsearch-domain")));
    assert_eq!(es.count, 2);
    assert_eq!(
        es.resource_ids,
        vec!["arn:aws:es:us-east-1:111122223333:domain/logs"]
    );
    close(
        es.hourly_cost,
        times(
            pricing::opensearch_instance("m5.large.elasticsearch", "us-east-1").hourly_usd,
            2.0,
        ),
    );
    let os = fixture("opensearch-create-domain");
    let expected = Some(
        pricing::opensearch_instance("r6g.large.search", "us-east-1")
            .hourly_usd
            .unwrap()
            * 3.0
            + pricing::opensearch_instance("m6g.large.search", "us-east-1")
                .hourly_usd
                .unwrap()
                * 3.0,
    );
    let e = one(normalize(&os));
    assert_eq!(e.count, 6);
    close(e.hourly_cost, expected);
    // The same call logged under the `es` event source.
    let mut as_es = os.clone();
    as_es.event_source = "es.amazonaws.com".into();
    close(one(normalize(&as_es)).hourly_cost, expected);
}

#[test]
fn redshift_cluster() {
    let e = one(normalize(&fixture("redshift-create-cluster")));
    assert_eq!(e.count, 2);
    assert_eq!(e.resource_ids, vec!["analytics"]);
    close(
        e.hourly_cost,
        times(
            pricing::redshift_node("ra3.4xlarge", "us-east-1").hourly_usd,
            2.0,
        ),
    );
}

#[test]
fn sagemaker_endpoint_priced_from_its_remembered_config() {
    let config = fixture("sagemaker-create-endpoint-config");
    assert_eq!(normalize(&config), Normalized::NonCost);
    let endpoint = fixture("sagemaker-create-endpoint");
    let e = one(normalize_after(&endpoint, &[&config]));
    assert_eq!(e.count, 2);
    assert_eq!(e.sku.as_deref(), Some("ml.m5.xlarge"));
    close(
        e.hourly_cost,
        times(
            pricing::sagemaker_instance("ml.m5.xlarge", "us-east-1").hourly_usd,
            2.0,
        ),
    );
    let blind = one(normalize(&endpoint));
    assert_eq!(blind.hourly_cost, None);
    assert!(has_note(&blind, "ranker-v7"));
}

// ---------------------------------------------------------------------------------- general

#[test]
fn every_catalogue_entry_has_a_tested_record() {
    let records = [
        invictus("86eac0ac-8521-4126-aa32-a22f2b74d02e"),
        fixture("ec2-start-instances"),
        fixture("ec2-stop-instances"),
        invictus("2d893b1d-e8f2-499b-a558-cb927d9b48ea"),
        fixture("ec2-modify-instance-attribute-type"),
        fixture("ec2-request-spot-instances"),
        fixture("ec2-request-spot-fleet"),
        fixture("ec2-create-fleet-instant"),
        invictus("dbb3b16e-549e-48bc-bfa6-9ca4c2845e43"),
        invictus("de095443-8389-4aa2-9bcb-d3295a255169"),
        invictus("a4ff516f-8f9a-4c36-9700-b31a883c1a6e"),
        invictus("540b0193-0d7f-4682-b665-9e6a6f734b1f"),
        invictus("396f94bc-78ec-4b64-917d-aadc2260c81d"),
        fixture("ec2-modify-volume"),
        invictus("77a5e160-ad9e-419b-a329-2f8406054631"),
        fixture("autoscaling-create-group-mixed"),
        fixture("autoscaling-update-group"),
        fixture("autoscaling-set-desired-capacity"),
        invictus("fdc74c82-c299-4211-a08e-b5f125ee3b58"),
        fixture("rds-create-db-cluster-aurora"),
        fixture("rds-restore-db-instance-from-snapshot"),
        fixture("rds-modify-db-instance-class"),
        invictus("b5232796-c668-4d71-a006-d9cabb3d607d"),
        invictus("2e15203f-d196-441a-adeb-794b195b4a28"),
        fixture("lambda-put-provisioned-concurrency-config"),
        fixture("lambda-delete-provisioned-concurrency-config"),
        fixture("elbv2-create-load-balancer"),
        fixture("elbv2-delete-load-balancer"),
        fixture("eks-create-cluster"),
        fixture("eks-delete-cluster"),
        fixture("eks-create-nodegroup"),
        fixture("elasticache-create-cache-cluster"),
        fixture("elasticache-create-replication-group"),
        fixture("es-create-elasticsearch-domain"),
        fixture("opensearch-create-domain"),
        fixture("redshift-create-cluster"),
        fixture("sagemaker-create-endpoint"),
    ];
    let mut covered = std::collections::BTreeSet::new();
    for r in &records {
        let e = one(normalize(r));
        assert!(
            e.hourly_cost.is_some() || !e.pricing_notes.is_empty(),
            "{}: a price or a reason",
            r.event_name
        );
        covered.insert(r.event_name.trim_end_matches("20150331").to_owned());
    }
    // The es-source CreateDomain is the opensearch fixture under another source (tested above).
    covered.insert("CreateDomain".into());
    let names = catalogue::catalogue();
    assert!(names.len() >= 25, "{} entries", names.len());
    for name in names {
        assert!(covered.contains(name), "no record for {name}");
    }
}

#[test]
fn unknown_event_names_are_not_cost_and_unknown_fields_are_ignored() {
    let mut r = fixture("redshift-create-cluster");
    r.event_name = "DescribeClusters".into();
    assert_eq!(normalize(&r), Normalized::NonCost);
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("tests/fixtures/cloudtrail/redshift-create-cluster.json"),
        )
        .unwrap(),
    )
    .unwrap();
    v["someFutureTopLevel"] = serde_json::json!({"x": [1, 2]});
    v["requestParameters"]["aNewParameter"] = serde_json::json!("whatever");
    let e = one(normalize(&CloudTrailRecord::from_value(v).unwrap()));
    assert_eq!(e.count, 2);
}

#[test]
fn numbers_given_as_strings_parse() {
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo().join("tests/fixtures/cloudtrail/elasticache-create-cache-cluster.json"),
        )
        .unwrap(),
    )
    .unwrap();
    v["requestParameters"]["numCacheNodes"] = serde_json::json!("3");
    let e = one(normalize(&CloudTrailRecord::from_value(v).unwrap()));
    assert_eq!(e.count, 3);
    close(
        e.hourly_cost,
        times(
            pricing::elasticache_node("cache.r6g.large", "us-east-1").hourly_usd,
            3.0,
        ),
    );
}

#[test]
fn error_coded_calls_of_every_entry_produce_nothing() {
    for name in [
        "ec2-run-instances-spot",
        "ec2-create-fleet-instant",
        "rds-create-db-instance-multi-az",
        "sagemaker-create-endpoint-config",
        "lambda-create-function-arm64",
    ] {
        let mut r = fixture(name);
        r.error_code = Some("Client.UnauthorizedOperation".into());
        assert_eq!(
            normalize(&r),
            Normalized::Failed {
                error_code: "Client.UnauthorizedOperation".into()
            },
            "{name}"
        );
        assert!(
            catalogue::learned(&r, &Facts::default()).is_empty(),
            "{name}"
        );
        assert!(catalogue::lookups(&r).is_empty(), "{name}");
    }
}

/// Every record of the invictus-ir dataset: no panic, and every cost event has a price or
/// a reason; failed calls never yield cost.
#[test]
fn the_whole_invictus_dataset_normalizes() {
    let mut facts = Facts::default();
    let (mut cost, mut failed, mut non_cost) = (0, 0, 0);
    for raw in invictus_records() {
        let r = CloudTrailRecord::from_value(raw).expect("every real record parses");
        let account = r.account_id().expect("account").to_owned();
        match catalogue::normalize_with(&r, TENANT, &account, &facts) {
            Normalized::Cost(events) => {
                assert!(!r.failed());
                for e in events {
                    assert!(
                        e.hourly_cost.is_some() || !e.pricing_notes.is_empty(),
                        "{} {}: neither a price nor a reason",
                        r.event_name,
                        r.event_id
                    );
                    assert!(e.hourly_cost.is_none_or(|h| h.is_finite() && h >= 0.0));
                    cost += 1;
                }
            }
            Normalized::Failed { .. } => failed += 1,
            Normalized::NonCost => non_cost += 1,
        }
        let learned = catalogue::learned(&r, &facts);
        facts.learn(learned);
    }
    // 8 RunInstances (6 succeeded), 2 CreateVolume, 2 DeleteVolume, 2+2 NAT, 3+3 EIP,
    // 2 Terminate, 1 CreateDBInstance, 1 DeleteDBInstance that succeeded, 2 CreateFunction.
    assert!(cost >= 20, "{cost} cost events");
    assert!(failed > 100, "{failed} failed calls");
    assert!(non_cost > 2000, "{non_cost} non-cost events");
}

/// Every CloudTrail record among the cloud-custodian test events (envelopes and bare
/// records; other event types are skipped as not CloudTrail).
#[test]
fn the_cloud_custodian_events_normalize() {
    let dir = shared_fixtures().join("cloud-custodian-cwe");
    let mut cost = Vec::new();
    let mut records = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("file"))
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let Ok(raws) = records_in(value) else {
            continue;
        };
        for raw in raws {
            let Ok(r) = CloudTrailRecord::from_value(raw) else {
                continue;
            };
            records += 1;
            let account = r.account_id().unwrap_or("000000000000").to_owned();
            if let Normalized::Cost(events) = catalogue::normalize(&r, TENANT, &account) {
                for e in events {
                    assert!(e.hourly_cost.is_some() || !e.pricing_notes.is_empty());
                    cost.push(e.event_name);
                }
            }
        }
    }
    assert!(records >= 9, "{records} CloudTrail records");
    for name in ["RunInstances", "CreateVolume", "CreateDBInstance"] {
        assert!(cost.iter().any(|n| n == name), "{name} in {cost:?}");
    }
}
