//! The zombie scan of a connected account, outside any HTTP request: run it through the
//! accounts port and store the latest result (read by `GET /v1/accounts/{id}/health`).

use chrono::{DateTime, Utc};

use dd0c_shared::accounts::{self, zombie, AccountsError};
use dd0c_shared::entity::zombie_scan;
use dd0c_shared::store::StoreError;
use dd0c_shared::tenancy::AccountLink;

use crate::model::{ZombieScan, ZombieView};

/// Stores an account's latest zombie scan (read by `GET /v1/accounts/{id}/health`).
pub async fn save_zombie_scan(
    table: &dyn dd0c_shared::store::Table,
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

/// The daily zombie scan of one connected account (for the digest job): assume the role
/// with the link's ExternalId, scan `region`, store the result.
pub async fn scan_account(
    table: &dyn dd0c_shared::store::Table,
    accounts_port: &dyn accounts::Accounts,
    link: &AccountLink,
    region: &str,
    now: DateTime<Utc>,
) -> Result<ZombieScan, ScanError> {
    let (Some(role), Some(external_id)) = (&link.role_arn, &link.external_id) else {
        return Err(ScanError::NotVerified);
    };
    let session = accounts_port.assume_role(role, external_id).await?;
    let scan = run_zombie_scan(accounts_port, &session, region, now).await?;
    save_zombie_scan(table, &link.tenant_id, &link.account_id, &scan).await?;
    Ok(scan)
}

/// Runs the zombie scan of one region through the accounts port.
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
    })
}
