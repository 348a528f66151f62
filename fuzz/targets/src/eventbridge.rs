//! The ingest function's bus door: an EventBridge event ("AWS API Call via CloudTrail", or
//! anything else put on the bus) through `Ingest::handle_eventbridge`, with the account gate
//! on a memory table where one account is connected and a memory ingest queue.

use std::sync::Arc;

use dd0c_ingest::{Ingest, IngestError, INGEST_QUEUE};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::domain::cloudtrail::records_in;
use dd0c_shared::domain::ingest::CLOUD_TRAIL;
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};
use serde_json::Value;

use crate::support::{block_on, now};

/// The one account a tenant has connected.
pub const CONNECTED: &str = "111122223333";

pub fn eventbridge_envelope(data: &[u8]) {
    // The Lambda runtime hands the function JSON; other bytes never reach it.
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let sender = event
        .get("account")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    let shape = records_in(event.clone());
    block_on(async {
        let clock = Arc::new(ManualClock::new(now()));
        let table = MemoryTable::shared(clock.clone());
        let link = AccountLink {
            account_id: CONNECTED.into(),
            tenant_id: "t1".into(),
            status: AccountStatus::Active,
            role_arn: None,
            external_id: None,
            remediation_role_arn: None,
            connected_at: now(),
            status_changed_at: None,
        };
        tenancy::link_account_if_absent(table.as_ref(), &link)
            .await
            .expect("the memory table takes a link");
        let queue = Arc::new(MemoryQueue::new([INGEST_QUEUE], clock));
        let ingest = Ingest::new(queue.clone()).with_account_gate(table);
        let result = ingest.handle_eventbridge(event).await;
        let queued = queue.peek_all(INGEST_QUEUE);
        match result {
            Ok(forwarded) => {
                let records = shape.expect("what ingest takes, records_in recognises");
                // Deduplication may merge records with one eventID: never more messages.
                assert!(
                    queued.len() <= forwarded,
                    "{} messages for {forwarded} records",
                    queued.len()
                );
                assert!(forwarded <= records.len());
            }
            Err(IngestError::Record(e)) => {
                assert_eq!(shape.err(), Some(e), "ingest and records_in disagree");
                assert!(queued.is_empty(), "a refused event enqueued records");
            }
            Err(IngestError::Store(e)) => {
                panic!("the account lookup failed on a memory table: {e}")
            }
            Err(IngestError::Queue(e)) => panic!("ingest built a message the queue refuses: {e}"),
        }
        for message in &queued {
            let body: Value = serde_json::from_str(&message.body)
                .unwrap_or_else(|e| panic!("a queued body is not JSON ({e}): {}", message.body));
            assert_eq!(body["type"], CLOUD_TRAIL);
            let record = body
                .get("record")
                .expect("a queued message carries its record");
            let named = record.get("recipientAccountId").and_then(Value::as_str);
            if let (Some(sender), Some(named)) = (sender.as_deref(), named) {
                assert_eq!(sender, named, "a record naming another account got through");
            }
            if let Some(account) = sender.as_deref().or(named) {
                assert_eq!(
                    account, CONNECTED,
                    "a record of an unconnected account got through"
                );
            }
        }
    });
}
