//! Zombie watch: the hourly tick asks for the daily scan of each connected account whose latest
//! scan of every region is a day old (or missing), and the digest shows each account's latest
//! scan (docs/decisions/0620-daily-zombie-scan.md).

use chrono::{DateTime, Duration, Utc};
use dd0c_shared::accounts::zombie::ALL_REGIONS;
use dd0c_shared::bus::{Bus, BusError};
use dd0c_shared::entity::{account_link, zombie_scan};
use dd0c_shared::store::{StoreError, Table};
use dd0c_shared::tenancy::{AccountLink, AccountStatus};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// A scan of every region older than this is asked for again. One tick short of a day, so
/// that an account's scan stays at the same hourly tick instead of slipping by one every day.
pub const SCAN_DUE_AFTER_HOURS: i64 = 23;

/// A latest scan older than this is shown as stale in the digest (two daily scans missed).
pub const SCAN_STALE_AFTER_HOURS: i64 = 48;

/// What the digest and the tick read of an account's latest zombie scan (any version's).
#[derive(Debug, Deserialize)]
struct ScanSummary {
    scanned_at: DateTime<Utc>,
    #[serde(default)]
    region: String,
    #[serde(default)]
    zombies: Vec<ZombieRegion>,
    #[serde(default)]
    monthly_waste_usd: f64,
    #[serde(default)]
    regions_scanned: Vec<IgnoredAny>,
    #[serde(default)]
    regions_failed: Vec<FailedRegion>,
}

#[derive(Debug, Deserialize)]
struct ZombieRegion {
    #[serde(default)]
    region: String,
}

#[derive(Debug, Deserialize)]
struct FailedRegion {
    region: String,
}

/// One account's line in the digest's zombie watch.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ZombieLine {
    pub account: String,
    /// When the latest scan ran; `None`: never.
    pub scanned_at: Option<DateTime<Utc>>,
    /// The latest scan is older than [`SCAN_STALE_AFTER_HOURS`] at the digest's time.
    pub stale: bool,
    /// Whether the latest scan read every enabled region (else the one region read at connect).
    pub all_regions: bool,
    pub regions_scanned: usize,
    /// Regions the latest scan could not read.
    pub regions_failed: Vec<String>,
    pub zombies: usize,
    /// The regions the zombies are in, in the scan's order.
    pub zombie_regions: Vec<String>,
    /// USD per month at stake.
    pub monthly_usd: f64,
}

/// Whether an account is one the daily scan reads: connected with a verified role, and not
/// being disconnected.
fn scannable(link: &AccountLink) -> bool {
    matches!(link.status, AccountStatus::Active | AccountStatus::Paused)
        && link.role_arn.is_some()
        && link.external_id.is_some()
}

async fn latest(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Option<ScanSummary>, StoreError> {
    match zombie_scan::load::<ScanSummary>(table, tenant, account).await {
        Ok(scan) => Ok(scan),
        // A scan written by another version may not decode: shown as none, and scanned anew.
        Err(e @ StoreError::Decode { .. }) => {
            tracing::warn!(tenant, account, error = %e, "unreadable zombie scan skipped");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Whether an account's daily scan is due at `at`.
fn due(scan: Option<&ScanSummary>, at: DateTime<Utc>) -> bool {
    match scan {
        Some(s) if s.region == ALL_REGIONS => {
            at - s.scanned_at >= Duration::hours(SCAN_DUE_AFTER_HOURS)
        }
        // Never scanned, or only the connect-time scan of one region.
        _ => true,
    }
}

/// What asking for the daily scans failed on.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Asks for the daily scan of each of the tenant's scannable accounts that is due at
/// `scheduled_time`; returns the accounts asked for. The request carries the tick's time, so
/// a retried tick sends what the bus deduplicates, and the scan skips a request it already
/// served.
pub async fn queue_due_scans(
    table: &dyn Table,
    bus: &dyn Bus,
    tenant: &str,
    scheduled_time: DateTime<Utc>,
) -> Result<Vec<String>, QueueError> {
    let mut requests = Vec::new();
    for link in account_link::tenant_accounts(table, tenant).await? {
        if !scannable(&link) {
            continue;
        }
        let scan = latest(table, tenant, &link.account_id).await?;
        if due(scan.as_ref(), scheduled_time) {
            requests.push(zombie_scan::ZombieScanRequest {
                tenant_id: tenant.to_owned(),
                account_id: link.account_id.clone(),
                requested_at: scheduled_time,
            });
        }
    }
    if !requests.is_empty() {
        bus.publish(requests.iter().map(|r| r.event()).collect())
            .await?;
    }
    Ok(requests.into_iter().map(|r| r.account_id).collect())
}

/// Each account's line (accounts being disconnected left out), as of `at`.
pub async fn zombie_lines(
    table: &dyn Table,
    tenant: &str,
    at: DateTime<Utc>,
) -> Result<Vec<ZombieLine>, StoreError> {
    let mut lines = Vec::new();
    for link in account_link::tenant_accounts(table, tenant).await? {
        if link.status == AccountStatus::Disconnecting {
            continue;
        }
        let line = match latest(table, tenant, &link.account_id).await? {
            Some(s) => ZombieLine {
                account: link.account_id.clone(),
                scanned_at: Some(s.scanned_at),
                stale: at - s.scanned_at > Duration::hours(SCAN_STALE_AFTER_HOURS),
                all_regions: s.region == ALL_REGIONS,
                regions_scanned: if s.region == ALL_REGIONS {
                    s.regions_scanned.len()
                } else {
                    1
                },
                regions_failed: s.regions_failed.into_iter().map(|f| f.region).collect(),
                zombies: s.zombies.len(),
                zombie_regions: s.zombies.iter().fold(Vec::new(), |mut seen, z| {
                    if !z.region.is_empty() && !seen.contains(&z.region) {
                        seen.push(z.region.clone());
                    }
                    seen
                }),
                monthly_usd: s.monthly_waste_usd,
            },
            None => ZombieLine {
                account: link.account_id.clone(),
                ..ZombieLine::default()
            },
        };
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(region: &str, hours_ago: i64, at: DateTime<Utc>) -> ScanSummary {
        ScanSummary {
            scanned_at: at - Duration::hours(hours_ago),
            region: region.to_owned(),
            zombies: Vec::new(),
            monthly_waste_usd: 0.0,
            regions_scanned: Vec::new(),
            regions_failed: Vec::new(),
        }
    }

    #[test]
    fn a_scan_is_due_daily_and_after_a_connect_time_scan() {
        let at = Utc::now();
        assert!(due(None, at));
        assert!(due(Some(&summary("us-east-1", 1, at)), at));
        assert!(!due(Some(&summary(ALL_REGIONS, 22, at)), at));
        // Yesterday's scan ran a few seconds after yesterday's tick: due at today's.
        let yesterday = ScanSummary {
            scanned_at: at - Duration::hours(24) + Duration::seconds(5),
            ..summary(ALL_REGIONS, 0, at)
        };
        assert!(due(Some(&yesterday), at));
    }
}
