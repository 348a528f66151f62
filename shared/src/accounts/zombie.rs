//! The zombie scan: resources a customer pays for and does not use, each with its monthly
//! cost. Thresholds in docs/decisions/0600-api-auth-and-tenancy.md; the daily scan of every
//! enabled region ([`scan_regions`]) in docs/decisions/0620-daily-zombie-scan.md.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Accounts, AccountsError, Metric, Session};
use crate::pricing;

/// An EC2 instance averaging less CPU than this over the window is idle.
pub const IDLE_CPU_PERCENT: f64 = 5.0;
pub const WINDOW_DAYS: i64 = 7;
/// A NAT gateway moving less than this over the window is idle.
pub const IDLE_NAT_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZombieKind {
    IdleInstance,
    UnattachedVolume,
    UnassociatedAddress,
    StoppedDbInstance,
    IdleNatGateway,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Zombie {
    pub kind: ZombieKind,
    pub resource_id: String,
    pub region: String,
    pub reason: String,
    /// USD per month; `None` when the price is unknown.
    pub monthly_usd: Option<f64>,
}

/// The `region` of a scan that covered every enabled region (the connect-time scan names
/// the one region it read).
pub const ALL_REGIONS: &str = "all";

/// Regions read at the same time by [`scan_regions`] (its workers).
pub const PARALLEL_REGIONS: usize = 6;

enum RegionOutcome {
    Scanned(Vec<Zombie>),
    NotEnabled,
    Failed(String),
}

/// A region the scan could not read, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionFailure {
    pub region: String,
    pub error: String,
}

/// An account's latest zombie scan as stored (`A` / `ZOMBIES`, `entity::zombie_scan`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountScan {
    pub scanned_at: DateTime<Utc>,
    /// The region read, or [`ALL_REGIONS`] for the daily scan of every enabled region.
    pub region: String,
    /// Each with its region.
    pub zombies: Vec<Zombie>,
    /// USD per month at stake: the sum of the priced zombies.
    pub monthly_waste_usd: f64,
    /// Regions read to the end.
    #[serde(default)]
    pub regions_scanned: Vec<String>,
    /// Regions the account has not enabled (one refused request each).
    #[serde(default)]
    pub regions_not_enabled: Vec<String>,
    /// Regions that could not be read (throttled, a permission missing, out of time).
    #[serde(default)]
    pub regions_failed: Vec<RegionFailure>,
}

impl AccountScan {
    /// Whether this is a scan of every enabled region (not the connect-time one-region scan).
    pub fn is_all_regions(&self) -> bool {
        self.region == ALL_REGIONS
    }
}

/// Whether an error says the region is not enabled in the account (the AWS adapter tells
/// each service's answer apart: `accounts::aws::REGION_NOT_ENABLED_CODES`).
pub fn is_region_not_enabled(error: &AccountsError) -> bool {
    matches!(error, AccountsError::RegionNotEnabled(_))
}

/// Scans `regions` of an assumed account, [`PARALLEL_REGIONS`] at a time, until `deadline`:
/// a region not enabled is skipped after its first refused request, a region that fails
/// (throttling, a missing permission, no answer before the deadline) is recorded with its
/// error, and neither stops the others.
pub async fn scan_regions(
    accounts: &dyn Accounts,
    session: &Session,
    regions: &[&str],
    now: DateTime<Utc>,
    deadline: tokio::time::Instant,
) -> AccountScan {
    let queue: Mutex<VecDeque<&str>> = Mutex::new(regions.iter().copied().collect());
    let results: Mutex<Vec<(String, RegionOutcome)>> = Mutex::new(Vec::new());
    let worker = || async {
        loop {
            let Some(region) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                return;
            };
            let outcome =
                match tokio::time::timeout_at(deadline, scan(accounts, session, region, now)).await
                {
                    Ok(Ok(zombies)) => RegionOutcome::Scanned(zombies),
                    Ok(Err(e)) if is_region_not_enabled(&e) => RegionOutcome::NotEnabled,
                    Ok(Err(e)) => RegionOutcome::Failed(e.to_string()),
                    Err(_) => RegionOutcome::Failed(
                        "no answer before the scan's time budget ran out".to_owned(),
                    ),
                };
            if let Ok(mut r) = results.lock() {
                r.push((region.to_owned(), outcome));
            }
        }
    };
    // PARALLEL_REGIONS workers.
    tokio::join!(worker(), worker(), worker(), worker(), worker(), worker());
    let mut results = results.into_inner().unwrap_or_default();
    // The partition's order, whatever order the workers finished in.
    results.sort_by_key(|(r, _)| regions.iter().position(|x| x == r));
    let mut out = AccountScan {
        scanned_at: now,
        region: ALL_REGIONS.to_owned(),
        zombies: Vec::new(),
        monthly_waste_usd: 0.0,
        regions_scanned: Vec::new(),
        regions_not_enabled: Vec::new(),
        regions_failed: Vec::new(),
    };
    for (region, outcome) in results {
        match outcome {
            RegionOutcome::Scanned(zombies) => {
                out.regions_scanned.push(region);
                out.zombies.extend(zombies);
            }
            RegionOutcome::NotEnabled => out.regions_not_enabled.push(region),
            RegionOutcome::Failed(error) => {
                out.regions_failed.push(RegionFailure { region, error })
            }
        }
    }
    out.monthly_waste_usd = out.zombies.iter().filter_map(|z| z.monthly_usd).sum();
    out
}

/// Scans one region of an assumed account.
pub async fn scan(
    accounts: &dyn Accounts,
    session: &Session,
    region: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Zombie>, AccountsError> {
    let start = now - Duration::days(WINDOW_DAYS);
    let mut found = Vec::new();

    for instance in accounts.instances(session, region).await? {
        if instance.state != "running" {
            continue;
        }
        let cpu = accounts
            .metric(
                session,
                region,
                &Metric::InstanceCpu(instance.instance_id.clone()),
                start,
                now,
            )
            .await?;
        // No datapoints (a new instance, detailed monitoring off) is not evidence of idleness.
        if let Some(cpu) = cpu.filter(|c| *c < IDLE_CPU_PERCENT) {
            let platform = instance
                .platform
                .as_deref()
                .map(pricing::Platform::from_platform_details)
                .unwrap_or(pricing::Platform::Linux);
            let price = pricing::ec2_instance(
                &instance.instance_type,
                region,
                platform,
                pricing::Tenancy::Shared,
                false,
            );
            found.push(Zombie {
                kind: ZombieKind::IdleInstance,
                resource_id: instance.instance_id,
                region: region.to_owned(),
                reason: format!(
                    "{} averaged {cpu:.1}% CPU over {WINDOW_DAYS} days (under {IDLE_CPU_PERCENT}%)",
                    instance.instance_type
                ),
                monthly_usd: price.monthly_usd,
            });
        }
    }

    for volume in accounts.volumes(session, region).await? {
        if volume.state != "available" {
            continue;
        }
        let price = pricing::ebs_volume(
            volume.volume_type.as_deref(),
            volume.size_gb,
            volume.iops,
            None,
            region,
        );
        found.push(Zombie {
            kind: ZombieKind::UnattachedVolume,
            resource_id: volume.volume_id,
            region: region.to_owned(),
            reason: format!("{} GB volume attached to nothing", volume.size_gb),
            monthly_usd: price.monthly_usd,
        });
    }

    for address in accounts.addresses(session, region).await? {
        if address.association_id.is_some() {
            continue;
        }
        found.push(Zombie {
            kind: ZombieKind::UnassociatedAddress,
            resource_id: address
                .allocation_id
                .unwrap_or_else(|| address.public_ip.clone()),
            region: region.to_owned(),
            reason: format!("Elastic IP {} is not associated", address.public_ip),
            monthly_usd: pricing::elastic_ip(region).monthly_usd,
        });
    }

    for db in accounts.db_instances(session, region).await? {
        if db.status != "stopped" {
            continue;
        }
        let price = pricing::rds_storage_deployment(
            db.storage_type.as_deref().unwrap_or("gp2"),
            db.allocated_storage_gb,
            None,
            region,
            db.multi_az,
        );
        found.push(Zombie {
            kind: ZombieKind::StoppedDbInstance,
            resource_id: db.identifier,
            region: region.to_owned(),
            reason: format!(
                "stopped {} instance still paying for {} GB of storage",
                db.engine, db.allocated_storage_gb
            ),
            monthly_usd: price.monthly_usd,
        });
    }

    for nat in accounts.nat_gateways(session, region).await? {
        if nat.state != "available" {
            continue;
        }
        let bytes = accounts
            .metric(
                session,
                region,
                &Metric::NatBytesOut(nat.nat_gateway_id.clone()),
                start,
                now,
            )
            .await?
            .unwrap_or(0.0);
        if bytes < IDLE_NAT_BYTES {
            found.push(Zombie {
                kind: ZombieKind::IdleNatGateway,
                resource_id: nat.nat_gateway_id,
                region: region.to_owned(),
                reason: format!("moved {:.0} MB in {WINDOW_DAYS} days", bytes / 1_048_576.0),
                monthly_usd: pricing::nat_gateway(region).monthly_usd,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::fake::{ScriptedAccount, ScriptedAccounts};
    use crate::accounts::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/dd0c-readonly";

    fn account() -> ScriptedAccount {
        let mut a = ScriptedAccount {
            external_id: "ext".into(),
            ..Default::default()
        };
        a.instances = vec![
            Instance {
                instance_id: "i-idle".into(),
                instance_type: "m5.large".into(),
                state: "running".into(),
                platform: None,
                launch_time: None,
                tenancy: None,
                spot: false,
            },
            Instance {
                instance_id: "i-busy".into(),
                instance_type: "m5.large".into(),
                state: "running".into(),
                platform: None,
                launch_time: None,
                tenancy: None,
                spot: false,
            },
            Instance {
                instance_id: "i-nodata".into(),
                instance_type: "m5.large".into(),
                state: "running".into(),
                platform: None,
                launch_time: None,
                tenancy: None,
                spot: false,
            },
        ];
        a.metrics.insert(Metric::InstanceCpu("i-idle".into()), 1.2);
        a.metrics.insert(Metric::InstanceCpu("i-busy".into()), 40.0);
        a.volumes = vec![
            Volume {
                volume_id: "vol-free".into(),
                volume_type: Some("gp3".into()),
                size_gb: 100.0,
                iops: None,
                state: "available".into(),
            },
            Volume {
                volume_id: "vol-used".into(),
                volume_type: Some("gp3".into()),
                size_gb: 100.0,
                iops: None,
                state: "in-use".into(),
            },
        ];
        a.addresses = vec![
            Address {
                allocation_id: Some("eipalloc-1".into()),
                public_ip: "203.0.113.1".into(),
                association_id: None,
            },
            Address {
                allocation_id: Some("eipalloc-2".into()),
                public_ip: "203.0.113.2".into(),
                association_id: Some("eipassoc-2".into()),
            },
        ];
        a.db_instances = vec![DbInstance {
            identifier: "db-stopped".into(),
            class: "db.m5.large".into(),
            engine: "postgres".into(),
            status: "stopped".into(),
            storage_type: Some("gp2".into()),
            allocated_storage_gb: 200.0,
            multi_az: false,
        }];
        a.nat_gateways = vec![NatGateway {
            nat_gateway_id: "nat-idle".into(),
            state: "available".into(),
        }];
        a
    }

    #[tokio::test]
    async fn finds_each_kind_with_its_cost() {
        let fake = ScriptedAccounts::new().with_role(ROLE, account());
        let session = fake.assume_role(ROLE, "ext").await.unwrap();
        let zombies = scan(&fake, &session, "us-east-1", Utc::now())
            .await
            .unwrap();
        let ids: Vec<&str> = zombies.iter().map(|z| z.resource_id.as_str()).collect();
        assert_eq!(
            ids,
            ["i-idle", "vol-free", "eipalloc-1", "db-stopped", "nat-idle"]
        );
        for z in &zombies {
            assert!(z.monthly_usd.is_some_and(|m| m > 0.0), "{z:?} has a cost");
        }
        // gp3 is $0.08/GB-month in us-east-1.
        let vol = &zombies[1];
        assert!((vol.monthly_usd.unwrap() - 8.0).abs() < 0.01, "{vol:?}");
    }

    #[tokio::test]
    async fn a_missing_permission_is_named() {
        let mut a = account();
        a.denied_actions = vec!["ec2:DescribeVolumes".into()];
        let fake = ScriptedAccounts::new().with_role(ROLE, a);
        let session = fake.assume_role(ROLE, "ext").await.unwrap();
        let err = scan(&fake, &session, "us-east-1", Utc::now())
            .await
            .unwrap_err();
        assert!(
            matches!(err, AccountsError::MissingPermission { ref action, .. } if action == "ec2:DescribeVolumes")
        );
    }
}

#[cfg(test)]
mod all_regions {
    use super::*;
    use crate::accounts::fake::{ScriptedAccount, ScriptedAccounts};
    use crate::accounts::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/dd0c-readonly";
    const ENABLED: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

    /// One unattached 100 GB gp3 volume and one free Elastic IP (the fake answers every
    /// enabled region alike); only `ENABLED` regions are enabled.
    fn account() -> ScriptedAccount {
        ScriptedAccount {
            external_id: "ext".into(),
            volumes: vec![Volume {
                volume_id: "vol-free".into(),
                volume_type: Some("gp3".into()),
                size_gb: 100.0,
                iops: None,
                state: "available".into(),
            }],
            addresses: vec![Address {
                allocation_id: Some("eipalloc-1".into()),
                public_ip: "203.0.113.1".into(),
                association_id: None,
            }],
            disabled_regions: COMMERCIAL_REGIONS
                .iter()
                .filter(|r| !ENABLED.contains(r))
                .map(|r| r.to_string())
                .collect(),
            ..Default::default()
        }
    }

    async fn scan_all(a: ScriptedAccount) -> AccountScan {
        let fake = ScriptedAccounts::new().with_role(ROLE, a);
        let session = fake.assume_role(ROLE, "ext").await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        scan_regions(&fake, &session, COMMERCIAL_REGIONS, Utc::now(), deadline).await
    }

    #[tokio::test]
    async fn every_enabled_region_is_read_and_the_others_skipped() {
        let scan = scan_all(account()).await;
        assert!(scan.is_all_regions());
        assert_eq!(scan.regions_scanned, ENABLED);
        assert_eq!(
            scan.regions_not_enabled.len(),
            COMMERCIAL_REGIONS.len() - ENABLED.len()
        );
        assert!(scan.regions_not_enabled.contains(&"ap-east-1".to_owned()));
        assert!(scan.regions_failed.is_empty(), "{:?}", scan.regions_failed);
        let mut regions: Vec<&str> = scan.zombies.iter().map(|z| z.region.as_str()).collect();
        regions.dedup();
        assert_eq!(regions, ENABLED, "each zombie carries its region");
        assert_eq!(scan.zombies.len(), 2 * ENABLED.len());
        // Each region's own prices: a 100 GB gp3 volume and an idle Elastic IP.
        let expected: f64 = ENABLED
            .iter()
            .map(|r| {
                pricing::ebs_volume(Some("gp3"), 100.0, None, None, r)
                    .monthly_usd
                    .unwrap()
                    + pricing::elastic_ip(r).monthly_usd.unwrap()
            })
            .sum();
        assert!(expected > 30.0, "{expected}");
        assert!(
            (scan.monthly_waste_usd - expected).abs() < 1e-9,
            "{} vs {expected}",
            scan.monthly_waste_usd
        );
    }

    #[tokio::test]
    async fn a_failing_region_is_recorded_and_the_others_are_read() {
        let mut a = account();
        a.throttled_regions = vec!["us-west-2".into()];
        let scan = scan_all(a).await;
        assert_eq!(scan.regions_scanned, ["us-east-1", "eu-west-1"]);
        assert_eq!(scan.regions_failed.len(), 1, "{:?}", scan.regions_failed);
        assert_eq!(scan.regions_failed[0].region, "us-west-2");
        assert!(scan.regions_failed[0].error.contains("throttled"));
        assert!(scan.zombies.iter().all(|z| z.region != "us-west-2"));
        assert_eq!(scan.zombies.len(), 4);
    }

    #[tokio::test]
    async fn a_missing_permission_is_named_in_each_region_it_fails() {
        let mut a = account();
        a.denied_actions = vec!["ec2:DescribeAddresses".into()];
        let scan = scan_all(a).await;
        assert!(scan.regions_scanned.is_empty());
        assert_eq!(scan.regions_failed.len(), ENABLED.len());
        assert!(scan
            .regions_failed
            .iter()
            .all(|f| f.error.contains("ec2:DescribeAddresses")));
        assert_eq!(scan.monthly_waste_usd, 0.0);
    }

    #[test]
    fn only_a_region_not_enabled_is_skipped_as_such() {
        assert!(is_region_not_enabled(&AccountsError::RegionNotEnabled(
            "ap-east-1".into()
        )));
        let outage = AccountsError::Unavailable(
            "ec2:DescribeInstances: InternalError: an internal error occurred".into(),
        );
        assert!(!is_region_not_enabled(&outage));
        assert!(!is_region_not_enabled(&AccountsError::Throttled(
            "Rate exceeded".into()
        )));
    }
}
