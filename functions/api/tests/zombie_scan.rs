//! The daily zombie scan's consumer (the `zombies` queue): a request from the digest's tick,
//! as the bus delivers it, scans every enabled region of the account through the accounts
//! port and stores the latest scan; a redelivery does nothing; an account gone or a role no
//! longer usable is skipped without a retry.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use dd0c_api::zombie_scan::ZombieScanJob;
use dd0c_shared::accounts::fake::{ScriptedAccount, ScriptedAccounts};
use dd0c_shared::accounts::zombie::AccountScan;
use dd0c_shared::accounts::{Volume, COMMERCIAL_REGIONS};
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, QueueBus, RoutingTable};
use dd0c_shared::clock::{Clock, ManualClock};
use dd0c_shared::entity::{account_link, zombie_scan};
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{AccountLink, AccountStatus};
use dd0c_shared::testing::{active_account, ACCOUNT, TENANT};

const ENABLED: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

fn tick_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 20, 5, 0, 0).unwrap()
}

struct World {
    clock: ManualClock,
    table: Arc<MemoryTable>,
    accounts: Arc<ScriptedAccounts>,
    job: ZombieScanJob,
    link: AccountLink,
}

/// A connected account with an unattached volume; three regions enabled, us-west-2 throttling.
fn world() -> World {
    let clock = ManualClock::new(tick_time() + Duration::seconds(20));
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let link = active_account();
    let account = ScriptedAccount {
        external_id: link.external_id.clone().unwrap(),
        volumes: vec![Volume {
            volume_id: "vol-free".into(),
            volume_type: Some("gp3".into()),
            size_gb: 100.0,
            iops: None,
            state: "available".into(),
        }],
        disabled_regions: COMMERCIAL_REGIONS
            .iter()
            .filter(|r| !ENABLED.contains(r))
            .map(|r| r.to_string())
            .collect(),
        throttled_regions: vec!["us-west-2".into()],
        ..Default::default()
    };
    let accounts =
        Arc::new(ScriptedAccounts::new().with_role(link.role_arn.as_deref().unwrap(), account));
    let job = ZombieScanJob {
        table: table.clone(),
        accounts: accounts.clone(),
        clock: Arc::new(clock.clone()),
    };
    World {
        clock,
        table,
        accounts,
        job,
        link,
    }
}

impl World {
    async fn connect(&self, link: &AccountLink) {
        self.table
            .put(account_link::item(link).unwrap(), None)
            .await
            .unwrap();
    }

    /// The request as the tick publishes it, read back off the `zombies` queue.
    async fn delivered(&self, requested_at: DateTime<Utc>) -> String {
        let routing = RoutingTable::builtin().clone();
        let queue = Arc::new(MemoryQueue::new(
            routing.queue_names().map(str::to_owned).collect::<Vec<_>>(),
            Arc::new(self.clock.clone()),
        ));
        let bus = QueueBus::new(routing, queue.clone(), Arc::new(self.clock.clone()));
        let request = zombie_scan::ZombieScanRequest {
            tenant_id: TENANT.into(),
            account_id: ACCOUNT.into(),
            requested_at,
        };
        bus.publish(vec![request.event()]).await.unwrap();
        let mut messages = queue.peek_all("zombies");
        assert_eq!(messages.len(), 1);
        messages.remove(0).body
    }

    async fn stored(&self) -> Option<AccountScan> {
        zombie_scan::load(self.table.as_ref(), TENANT, ACCOUNT)
            .await
            .unwrap()
    }

    fn assumed(&self) -> usize {
        self.accounts.calls.lock().unwrap().len()
    }
}

#[tokio::test]
async fn a_request_scans_every_enabled_region_and_stores_the_latest_scan() {
    let w = world();
    w.connect(&w.link).await;
    let body = w.delivered(tick_time()).await;
    w.job.handle(&body).await.unwrap();

    let scan = w.stored().await.expect("a stored scan");
    assert_eq!(scan.scanned_at, w.clock.now());
    assert_eq!(scan.region, "all");
    assert_eq!(scan.regions_scanned, ["us-east-1", "eu-west-1"]);
    assert_eq!(
        scan.regions_not_enabled.len(),
        COMMERCIAL_REGIONS.len() - ENABLED.len()
    );
    assert_eq!(scan.regions_failed.len(), 1);
    assert_eq!(scan.regions_failed[0].region, "us-west-2");
    let regions: Vec<&str> = scan.zombies.iter().map(|z| z.region.as_str()).collect();
    assert_eq!(regions, ["us-east-1", "eu-west-1"]);
    assert!(scan.monthly_waste_usd > 16.0, "{}", scan.monthly_waste_usd);
    assert_eq!(w.assumed(), 1, "one AssumeRole with the link's ExternalId");
    assert_eq!(
        w.accounts.calls.lock().unwrap()[0].1,
        w.link.external_id.clone().unwrap()
    );

    // Redelivered (a timeout after the store): nothing is read again.
    w.clock.advance(Duration::minutes(3));
    w.job.handle(&body).await.unwrap();
    assert_eq!(w.assumed(), 1);
    assert_eq!(w.stored().await.unwrap().scanned_at, scan.scanned_at);

    // Tomorrow's request scans again.
    w.clock
        .set(tick_time() + Duration::days(1) + Duration::seconds(9));
    let tomorrow = w.delivered(tick_time() + Duration::days(1)).await;
    w.job.handle(&tomorrow).await.unwrap();
    assert_eq!(w.assumed(), 2);
    assert_eq!(w.stored().await.unwrap().scanned_at, w.clock.now());
}

#[tokio::test]
async fn an_account_gone_or_a_role_no_longer_usable_is_skipped_without_a_retry() {
    let w = world();
    // Not connected at all.
    let body = w.delivered(tick_time()).await;
    w.job.handle(&body).await.unwrap();
    assert!(w.stored().await.is_none());
    // Being disconnected.
    w.connect(&AccountLink {
        status: AccountStatus::Disconnecting,
        ..w.link.clone()
    })
    .await;
    w.job.handle(&body).await.unwrap();
    assert!(w.stored().await.is_none());
    assert_eq!(w.assumed(), 0);
    // The customer's stack now requires another ExternalId: nothing a retry would change.
    w.connect(&AccountLink {
        external_id: Some("an-older-external-id".into()),
        ..w.link.clone()
    })
    .await;
    w.job.handle(&body).await.unwrap();
    assert_eq!(w.assumed(), 1);
    assert!(w.stored().await.is_none());
}

#[tokio::test]
async fn a_message_that_is_not_a_scan_request_is_dead_lettered_at_once() {
    let w = world();
    let err = w.job.handle("{not json").await.unwrap_err();
    assert!(matches!(err, HandlerError::Malformed(_)), "{err}");
    let other = w
        .delivered(tick_time())
        .await
        .replace("dd0c.ZombieScanRequest", "dd0c.Finding");
    let err = w.job.handle(&other).await.unwrap_err();
    assert!(
        err.is_permanent() && err.to_string().contains("dd0c.Finding"),
        "{err}"
    );
}

#[test]
fn the_openapi_document_adds_the_regions_to_the_scan_and_keeps_every_field() {
    let doc = dd0c_api::openapi::document();
    let scan = &doc["components"]["schemas"]["ZombieScan"];
    for field in [
        "scanned_at",
        "region",
        "zombies",
        "monthly_waste_usd",
        "regions_scanned",
        "regions_not_enabled",
        "regions_failed",
    ] {
        assert!(scan["properties"][field].is_object(), "{field}: {scan}");
    }
}
