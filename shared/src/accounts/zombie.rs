//! The zombie scan: resources a customer pays for and does not use, each with its monthly
//! cost. Thresholds in docs/decisions/0600-api-auth-and-tenancy.md.

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
