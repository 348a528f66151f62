//! The zombie scan of a connected account, outside any HTTP request: at connect, one region
//! (the API answers with it); every day, every enabled region, on a request from the digest's
//! hourly tick through the `zombies` queue ([`ZombieScanJob`],
//! docs/decisions/0620-daily-zombie-scan.md). The latest result is stored (`A` / `ZOMBIES`) and
//! read by `GET /v1/accounts/{id}/health` and the digest.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use dd0c_shared::accounts::zombie::{self, AccountScan};
use dd0c_shared::accounts::{self, AccountsError, COMMERCIAL_REGIONS};
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::Envelope;
use dd0c_shared::clock::SharedClock;
use dd0c_shared::entity::{account_link, zombie_scan};
use dd0c_shared::store::{StoreError, Table};
use dd0c_shared::tenancy::{AccountLink, AccountStatus};

use crate::model::{ZombieScan, ZombieView};

/// How long the daily scan of one account may take: under the function's 29 s timeout, with
/// room to store the result. Regions without an answer by then are recorded as failed.
pub const SCAN_BUDGET: Duration = Duration::from_secs(20);

/// Stores an account's latest zombie scan (read by `GET /v1/accounts/{id}/health`).
pub async fn save_zombie_scan(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    scan: &ZombieScan,
) -> Result<(), StoreError> {
    zombie_scan::put(table, tenant, account, scan).await
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("the account has no verified role")]
    NotVerified,
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The daily zombie scan of one connected account: assume the role with the link's
/// ExternalId, scan every region of `regions` the account has enabled (within `budget`),
/// store the result.
pub async fn scan_account(
    table: &dyn Table,
    accounts_port: &dyn accounts::Accounts,
    link: &AccountLink,
    regions: &[&str],
    now: DateTime<Utc>,
    budget: Duration,
) -> Result<AccountScan, ScanError> {
    let (Some(role), Some(external_id)) = (&link.role_arn, &link.external_id) else {
        return Err(ScanError::NotVerified);
    };
    let deadline = tokio::time::Instant::now() + budget;
    let session = accounts_port.assume_role(role, external_id).await?;
    let scan = zombie::scan_regions(accounts_port, &session, regions, now, deadline).await;
    zombie_scan::put(table, &link.tenant_id, &link.account_id, &scan).await?;
    Ok(scan)
}

/// Runs the zombie scan of one region through the accounts port (at connect).
pub async fn run_zombie_scan(
    accounts_port: &dyn accounts::Accounts,
    session: &accounts::Session,
    region: &str,
    now: DateTime<Utc>,
) -> Result<ZombieScan, AccountsError> {
    let zombies = zombie::scan(accounts_port, session, region, now).await?;
    let monthly_waste_usd = zombies.iter().filter_map(|z| z.monthly_usd).sum();
    Ok(ZombieScan {
        scanned_at: now,
        region: region.to_owned(),
        zombies: zombies.iter().map(ZombieView::from).collect(),
        monthly_waste_usd,
        regions_scanned: vec![region.to_owned()],
        regions_not_enabled: Vec::new(),
        regions_failed: Vec::new(),
    })
}

/// The consumer of the `zombies` queue: one account's daily scan of every enabled region per
/// message.
pub struct ZombieScanJob {
    pub table: Arc<dyn Table>,
    pub accounts: Arc<dyn accounts::Accounts>,
    pub clock: SharedClock,
}

impl ZombieScanJob {
    /// Scans the account unless there is nothing to do: the account is gone, being
    /// disconnected or unverified, or a scan of every region ran at or after the request (a
    /// redelivery, or a request queued behind one already served).
    pub async fn serve(
        &self,
        request: &zombie_scan::ZombieScanRequest,
    ) -> Result<Option<AccountScan>, HandlerError> {
        let (tenant, account) = (&request.tenant_id, &request.account_id);
        let link = match account_link::load(self.table.as_ref(), account).await? {
            Some(l) if &l.tenant_id == tenant && l.status != AccountStatus::Disconnecting => l,
            _ => {
                tracing::info!(
                    tenant,
                    account,
                    "zombie scan: account not connected, skipped"
                );
                return Ok(None);
            }
        };
        let latest =
            match zombie_scan::load::<AccountScan>(self.table.as_ref(), tenant, account).await {
                Ok(scan) => scan,
                // Another version's scan: replaced by this one.
                Err(StoreError::Decode { .. }) => None,
                Err(e) => return Err(e.into()),
            };
        if latest.is_some_and(|s| s.is_all_regions() && s.scanned_at >= request.requested_at) {
            tracing::info!(
                tenant,
                account,
                "zombie scan: already done for this request"
            );
            return Ok(None);
        }
        let started = tokio::time::Instant::now();
        match scan_account(
            self.table.as_ref(),
            self.accounts.as_ref(),
            &link,
            COMMERCIAL_REGIONS,
            self.clock.now(),
            SCAN_BUDGET,
        )
        .await
        {
            Ok(scan) => {
                tracing::info!(
                    tenant,
                    account,
                    zombies = scan.zombies.len(),
                    monthly_usd = scan.monthly_waste_usd,
                    regions_scanned = scan.regions_scanned.len(),
                    regions_not_enabled = scan.regions_not_enabled.len(),
                    regions_failed = scan.regions_failed.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "zombie scan"
                );
                Ok(Some(scan))
            }
            Err(ScanError::Store(e)) => Err(e.into()),
            // AWS itself: the queue's retry comes back later.
            Err(ScanError::Accounts(
                e @ (AccountsError::Unavailable(_) | AccountsError::Throttled(_)),
            )) => Err(HandlerError::transient(e)),
            // The role cannot be assumed (trust changed, stack deleted): nothing a retry
            // changes. The stored scan ages and the digest says it is stale; the account's
            // health (`GET /v1/accounts/{id}/health`) names the problem.
            Err(e) => {
                tracing::warn!(tenant, account, error = %e, "zombie scan: role not usable, skipped");
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl MessageHandler for ZombieScanJob {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != zombie_scan::REQUEST_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let request: zombie_scan::ZombieScanRequest =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        self.serve(&request).await.map(|_| ())
    }
}
