//! The accounts port's AWS adapter against moto, through the real SDK: AssumeRole with an
//! ExternalId, then describe instances, volumes, addresses, NAT gateways and DB instances on the
//! assumed credentials, and the zombie scan over them. (CloudWatch: see the note in the test.)
//!
//! Gap: moto does not enforce trust-policy conditions, so AssumeRole with a WRONG ExternalId
//! succeeds here. The mismatch path is tested with the scripted fake
//! (`functions/api/tests/api.rs::connection_failures_are_explained`).

use aws_sdk_ec2::types::{DomainType, InstanceType};
use chrono::{Duration, Utc};
use dd0c_shared::accounts::aws::AwsAccounts;
use dd0c_shared::accounts::zombie::{scan, ZombieKind};
use dd0c_shared::accounts::{Accounts, AccountsError, Metric};
use dd0c_tests::moto::MotoServer;

/// moto's default account: the test credentials and the assumed role land in the same one.
const ROLE: &str = "arn:aws:iam::123456789012:role/dd0c-readonly";
const EXTERNAL_ID: &str = "0b5e4c1a-8f2d-4e7b-9a3c-1d2e3f4a5b6c";

#[tokio::test]
async fn assume_describe_metrics_and_zombie_scan_on_moto() {
    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let rds = aws_sdk_rds::Client::new(&sdk);

    // Seed: one idle and one busy instance, an unattached and an attached volume, a free
    // Elastic IP, a stopped DB instance.
    let run = ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::M5Large)
        .min_count(2)
        .max_count(2)
        .send()
        .await
        .expect("run instances");
    let ids: Vec<String> = run
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 2);
    let free = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(100)
        .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
        .send()
        .await
        .expect("volume");
    let eip = ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .send()
        .await
        .expect("eip");
    rds.create_db_instance()
        .db_instance_identifier("orders-db")
        .db_instance_class("db.m5.large")
        .engine("postgres")
        .allocated_storage(200)
        .master_username("admin")
        .master_user_password("password123")
        .send()
        .await
        .expect("db");
    rds.stop_db_instance()
        .db_instance_identifier("orders-db")
        .send()
        .await
        .expect("stop db");
    let now = Utc::now();

    let accounts = AwsAccounts::new(sdk.clone());
    let session = accounts
        .assume_role(ROLE, EXTERNAL_ID)
        .await
        .expect("assume role");
    assert_eq!(session.account_id, "123456789012");
    // Known gap (see the module comment): moto accepts any ExternalId.
    assert!(accounts.assume_role(ROLE, "wrong").await.is_ok());
    assert!(matches!(
        accounts
            .assume_role("arn:aws:iam::123456789012:user/x", EXTERNAL_ID)
            .await,
        Err(AccountsError::InvalidRoleArn(_))
    ));

    let instances = accounts
        .instances(&session, "us-east-1")
        .await
        .expect("instances");
    assert_eq!(instances.len(), 2);
    assert!(
        instances
            .iter()
            .all(|i| i.instance_type == "m5.large" && i.state == "running"),
        "{instances:?}"
    );
    // By id (what StartInstances pricing asks): only the named, existing instance comes back,
    // and an unknown id does not fail the call.
    let by_id = accounts
        .instances_by_id(
            &session,
            "us-east-1",
            &[ids[0].clone(), "i-0000000000000dead".into()],
        )
        .await
        .expect("instances by id");
    assert_eq!(by_id.len(), 1, "{by_id:?}");
    assert_eq!(by_id[0].instance_id, ids[0]);
    assert_eq!(by_id[0].instance_type, "m5.large");
    assert_eq!(by_id[0].tenancy.as_deref(), Some("default"));
    assert!(!by_id[0].spot);
    let volumes = accounts
        .volumes(&session, "us-east-1")
        .await
        .expect("volumes");
    let free_id = free.volume_id().unwrap();
    let v = volumes
        .iter()
        .find(|v| v.volume_id == free_id)
        .expect("the created volume");
    assert_eq!(
        (v.size_gb, v.state.as_str(), v.volume_type.as_deref()),
        (100.0, "available", Some("gp3"))
    );
    let addresses = accounts
        .addresses(&session, "us-east-1")
        .await
        .expect("addresses");
    assert!(addresses
        .iter()
        .any(|a| a.allocation_id.as_deref() == eip.allocation_id() && a.association_id.is_none()));
    let dbs = accounts
        .db_instances(&session, "us-east-1")
        .await
        .expect("dbs");
    assert_eq!(dbs.len(), 1);
    assert_eq!(
        (
            dbs[0].identifier.as_str(),
            dbs[0].status.as_str(),
            dbs[0].allocated_storage_gb
        ),
        ("orders-db", "stopped", 200.0)
    );
    assert!(accounts
        .nat_gateways(&session, "us-east-1")
        .await
        .expect("nat")
        .is_empty());

    // CloudWatch: the current aws-sdk-cloudwatch speaks the Smithy RPC v2 CBOR protocol, which
    // moto 5.2's server does not route (404), so metrics cannot be read here; the call must
    // fail as "unavailable" (retryable), never as a permission problem. CPU-based idleness is
    // tested with the scripted fake (shared/src/accounts/zombie.rs).
    let cpu = accounts
        .metric(
            &session,
            "us-east-1",
            &Metric::InstanceCpu(ids[0].clone()),
            now - Duration::days(7),
            now,
        )
        .await;
    assert!(
        matches!(cpu, Ok(_) | Err(AccountsError::Unavailable(_))),
        "{cpu:?}"
    );

    // Stopped instances need no metrics: the scan covers everything else on moto.
    ec2.stop_instances()
        .set_instance_ids(Some(ids.clone()))
        .send()
        .await
        .expect("stop");
    let zombies = scan(&accounts, &session, "us-east-1", now)
        .await
        .expect("scan");
    let found = |kind: ZombieKind, id: &str| {
        zombies
            .iter()
            .any(|z| z.kind == kind && z.resource_id == id)
    };
    assert!(
        !zombies.iter().any(|z| z.kind == ZombieKind::IdleInstance),
        "stopped instances are not idle-instance zombies"
    );
    assert!(found(ZombieKind::UnattachedVolume, free_id));
    assert!(found(
        ZombieKind::UnassociatedAddress,
        eip.allocation_id().unwrap()
    ));
    assert!(found(ZombieKind::StoppedDbInstance, "orders-db"));
    assert!(
        zombies
            .iter()
            .all(|z| z.monthly_usd.is_some_and(|m| m > 0.0)),
        "{zombies:?}"
    );
}

/// The daily scan over several regions through the real adapter: unattached volumes and a free
/// Elastic IP are found in each region they are in, each with its region; a region whose read
/// fails on moto (a running instance needs CloudWatch, which moto's server does not route for
/// this SDK) is recorded without stopping the others.
#[tokio::test]
async fn the_daily_scan_reads_each_region_through_the_real_adapter() {
    use dd0c_shared::accounts::zombie::scan_regions;

    let moto = MotoServer::start();
    let sdk = moto.sdk_config().await;
    let in_region = |region: &'static str| {
        aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .region(aws_sdk_ec2::config::Region::new(region))
                .build(),
        )
    };
    let mut volumes = Vec::new();
    for (region, zone, size) in [
        ("us-east-1", "us-east-1a", 100),
        ("eu-west-1", "eu-west-1b", 50),
    ] {
        let v = in_region(region)
            .create_volume()
            .availability_zone(zone)
            .size(size)
            .volume_type(aws_sdk_ec2::types::VolumeType::Gp3)
            .send()
            .await
            .expect("volume");
        volumes.push((region, v.volume_id().unwrap().to_owned()));
    }
    let eip = in_region("eu-west-1")
        .allocate_address()
        .domain(DomainType::Vpc)
        .send()
        .await
        .expect("eip");
    // A running instance in a third region: its CPU must be read from CloudWatch.
    in_region("ap-southeast-2")
        .run_instances()
        .image_id("ami-12c6146b")
        .instance_type(InstanceType::M5Large)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .expect("run instance");

    let accounts = AwsAccounts::new(sdk.clone());
    let session = accounts
        .assume_role(ROLE, EXTERNAL_ID)
        .await
        .expect("assume role");
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1"];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let scan = scan_regions(&accounts, &session, &regions, Utc::now(), deadline).await;

    for (region, id) in &volumes {
        let z = scan
            .zombies
            .iter()
            .find(|z| &z.resource_id == id)
            .unwrap_or_else(|| panic!("{id} in {region} not found: {scan:?}"));
        assert_eq!(
            (z.kind, z.region.as_str()),
            (ZombieKind::UnattachedVolume, *region)
        );
    }
    assert!(scan
        .zombies
        .iter()
        .any(|z| z.kind == ZombieKind::UnassociatedAddress
            && z.resource_id == eip.allocation_id().unwrap()
            && z.region == "eu-west-1"));
    assert_eq!(scan.zombies.len(), 3, "{:?}", scan.zombies);
    assert!(
        ["us-east-1", "eu-west-1", "sa-east-1"]
            .iter()
            .all(|r| scan.regions_scanned.iter().any(|s| s == r)),
        "{scan:?}"
    );
    // ap-southeast-2: read (no CPU datapoints is no evidence of idleness) or failed on the
    // metric, named; never a zombie, and never holding the other regions back.
    let failed: Vec<&str> = scan
        .regions_failed
        .iter()
        .map(|f| f.region.as_str())
        .collect();
    assert!(
        failed.is_empty() || failed == ["ap-southeast-2"],
        "{failed:?}"
    );
    assert!(scan
        .regions_failed
        .iter()
        .all(|f| f.error.contains("cloudwatch")));
    assert!(scan.regions_not_enabled.is_empty());
    let expected: f64 = scan.zombies.iter().filter_map(|z| z.monthly_usd).sum();
    assert!(scan.monthly_waste_usd > 0.0 && (scan.monthly_waste_usd - expected).abs() < 1e-9);
}
