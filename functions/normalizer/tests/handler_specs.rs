//! The normalizer's I/O around the catalogue: what one record teaches is stored, and a later
//! record that lacks it (StartInstances, CreateEndpoint, PutProvisionedConcurrencyConfig) is
//! priced from the store.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dd0c_normalizer::{Normalizer, NormalizerConfig, Outcome};
use dd0c_shared::accounts::fake::{ScriptedAccount, ScriptedAccounts};
use dd0c_shared::accounts::Instance;
use dd0c_shared::bus::{Bus, BusError, BusEvent};
use dd0c_shared::clock::{Clock, ManualClock};
use dd0c_shared::domain::CostEvent;
use dd0c_shared::pricing::{self, Platform, Tenancy};
use dd0c_shared::store::memory::MemoryTable;
use dd0c_shared::tenancy::{self, AccountLink};
use dd0c_shared::testing::active_account;

#[derive(Default)]
struct CapturingBus(Mutex<Vec<BusEvent>>);

#[async_trait]
impl Bus for CapturingBus {
    async fn publish(&self, events: Vec<BusEvent>) -> Result<(), BusError> {
        self.0.lock().expect("bus").extend(events);
        Ok(())
    }
}

impl CapturingBus {
    fn cost_events(&self) -> Vec<CostEvent> {
        self.0
            .lock()
            .expect("bus")
            .iter()
            .filter(|e| e.detail_type == "dd0c.CostEvent")
            .map(|e| serde_json::from_value(e.detail.clone()).expect("cost event"))
            .collect()
    }
}

fn raw(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/cloudtrail/{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// A clock on the fixtures' day: what the normalizer stores expires on event time (instance
/// facts 90 days after the launch), and a run of these tests a year later must see the same.
fn fixtures_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .expect("a time")
            .with_timezone(&chrono::Utc),
    ))
}

fn normalizer() -> (Normalizer, Arc<CapturingBus>) {
    let (n, bus, _) = normalizer_and_table();
    (n, bus)
}

/// A normalizer on the fixtures' day that links every account to `t-1`, its bus and its table.
fn normalizer_and_table() -> (Normalizer, Arc<CapturingBus>, Arc<MemoryTable>) {
    let clock = fixtures_clock();
    let table = Arc::new(MemoryTable::new(clock.clone()));
    let bus = Arc::new(CapturingBus::default());
    let n = Normalizer::new(
        table.clone(),
        bus.clone(),
        clock,
        NormalizerConfig {
            auto_link_tenant: Some("t-1".into()),
        },
    );
    (n, bus, table)
}

fn m5_xlarge() -> f64 {
    pricing::ec2_instance(
        "m5.xlarge",
        "us-east-1",
        Platform::Linux,
        Tenancy::Shared,
        false,
    )
    .hourly_usd
    .expect("m5.xlarge is priced")
}

#[tokio::test]
async fn start_instances_is_priced_from_the_type_stored_at_launch() {
    let (n, bus) = normalizer();
    assert_eq!(
        n.process_record(&raw("ec2-run-instances-launch-template"))
            .await
            .unwrap(),
        Outcome::CostEvents(1)
    );
    n.process_record(&raw("ec2-start-instances")).await.unwrap();
    let events = bus.cost_events();
    assert_eq!(events.len(), 2);
    let start = &events[1];
    assert_eq!(start.event_name, "StartInstances");
    let h = start.hourly_cost.expect("priced from the store");
    assert!((h - 2.0 * m5_xlarge()).abs() < 1e-9);

    // A redelivery is a duplicate and publishes nothing more.
    assert_eq!(
        n.process_record(&raw("ec2-start-instances")).await.unwrap(),
        Outcome::Duplicate
    );
    assert_eq!(bus.cost_events().len(), 2);
}

/// A stop adds no cost: it is counted (its record marked, with its spend) but not sent to the
/// scorer, which has nothing to do with it (decision 1240).
#[tokio::test]
async fn a_stop_is_counted_but_not_sent_to_the_scorer() {
    use dd0c_shared::entity::event::RecordSpend;
    use dd0c_shared::store::{query_all, Query, Table};
    let (n, bus, table) = normalizer_and_table();
    n.process_record(&raw("ec2-run-instances-launch-template"))
        .await
        .unwrap();
    assert_eq!(
        n.process_record(&raw("ec2-stop-instances")).await.unwrap(),
        Outcome::CostEvents(1)
    );
    let sent = bus.cost_events();
    assert_eq!(sent.len(), 1, "only the launch goes to the scorer");
    assert_eq!(sent[0].event_name, "RunInstances");
    let marks = query_all(
        table.as_ref() as &dyn Table,
        Query::partition(format!("TENANT#t-1#ACCOUNT#{}", sent[0].account_id))
            .begins_with("EVENT#"),
    )
    .await
    .unwrap();
    let stop = marks
        .iter()
        .find(|m| m.get("event_name").and_then(|v| v.as_str()) == Some("StopInstances"))
        .expect("the stop is marked");
    let spend = RecordSpend::from_mark(stop).expect("with its spend");
    assert_eq!((spend.cost_events, spend.added_hourly), (1, 0.0));
}

#[tokio::test]
async fn start_instances_without_history_is_null_with_a_reason() {
    let (n, bus) = normalizer();
    n.process_record(&raw("ec2-start-instances")).await.unwrap();
    let events = bus.cost_events();
    assert_eq!(events[0].hourly_cost, None);
    assert!(events[0]
        .pricing_notes
        .iter()
        .any(|note| note.contains("instance type unknown")));
}

const ROLE: &str = "arn:aws:iam::111122223333:role/dd0c-readonly";

/// A normalizer whose account is linked with a read-only role the scripted accounts port knows.
async fn normalizer_with_role(
    account: ScriptedAccount,
) -> (Normalizer, Arc<CapturingBus>, Arc<ScriptedAccounts>) {
    let clock = fixtures_clock();
    let table = Arc::new(MemoryTable::new(clock.clone()));
    tenancy::link_account_if_absent(
        table.as_ref(),
        &AccountLink {
            tenant_id: "t-1".into(),
            role_arn: Some(ROLE.into()),
            connected_at: clock.now(),
            ..active_account()
        },
    )
    .await
    .unwrap();
    let bus = Arc::new(CapturingBus::default());
    let accounts = Arc::new(ScriptedAccounts::new().with_role(ROLE, account));
    let n = Normalizer::new(
        table,
        bus.clone(),
        clock,
        NormalizerConfig {
            auto_link_tenant: None,
        },
    )
    .with_accounts(accounts.clone());
    (n, bus, accounts)
}

fn described(id: &str, instance_type: &str, platform: &str) -> Instance {
    Instance {
        instance_id: id.into(),
        instance_type: instance_type.into(),
        state: "stopped".into(),
        platform: Some(platform.into()),
        launch_time: None,
        tenancy: Some("default".into()),
        spot: false,
    }
}

#[tokio::test]
async fn instances_dd0c_never_saw_are_described_through_the_role_then_remembered() {
    let (n, bus, accounts) = normalizer_with_role(ScriptedAccount {
        external_id: "ext-1".into(),
        instances: vec![
            described("i-0b5e1c2d3e4f5a6b0", "m5.xlarge", "Linux/UNIX"),
            described("i-0b5e1c2d3e4f5a6b1", "m5.xlarge", "Windows"),
            described("i-unrelated", "p4d.24xlarge", "Linux/UNIX"),
        ],
        ..ScriptedAccount::default()
    })
    .await;
    n.process_record(&raw("ec2-start-instances")).await.unwrap();
    let event = &bus.cost_events()[0];
    let linux = m5_xlarge();
    let windows = pricing::ec2_instance(
        "m5.xlarge",
        "us-east-1",
        Platform::Windows,
        Tenancy::Shared,
        false,
    )
    .hourly_usd
    .unwrap();
    let h = event.hourly_cost.expect("described through the role");
    assert!(
        (h - (linux + windows)).abs() < 1e-9,
        "{h} vs {}",
        linux + windows
    );
    assert_eq!(event.sku.as_deref(), Some("m5.xlarge"));
    assert_eq!(accounts.calls.lock().unwrap().len(), 1);

    // The next start of the same instances is priced from what was remembered: no AWS call.
    let again = raw("ec2-start-instances").replace(&event.event_id, "another-start-event");
    n.process_record(&again).await.unwrap();
    let second = &bus.cost_events()[1];
    assert!((second.hourly_cost.expect("remembered") - h).abs() < 1e-9);
    assert_eq!(accounts.calls.lock().unwrap().len(), 1, "described again");
}

#[tokio::test]
async fn a_role_that_cannot_describe_leaves_the_type_unknown_with_a_reason() {
    let (n, bus, _) = normalizer_with_role(ScriptedAccount {
        external_id: "ext-1".into(),
        instances: vec![described("i-0b5e1c2d3e4f5a6b0", "m5.xlarge", "Linux/UNIX")],
        denied_actions: vec!["ec2:DescribeInstances".into()],
        ..ScriptedAccount::default()
    })
    .await;
    assert_eq!(
        n.process_record(&raw("ec2-start-instances")).await.unwrap(),
        Outcome::CostEvents(1)
    );
    let event = &bus.cost_events()[0];
    assert_eq!(event.hourly_cost, None);
    assert!(event
        .pricing_notes
        .iter()
        .any(|note| note.contains("not readable through the account's role")));
}

#[tokio::test]
async fn endpoint_and_provisioned_concurrency_are_priced_from_stored_specs() {
    let (n, bus) = normalizer();
    assert_eq!(
        n.process_record(&raw("sagemaker-create-endpoint-config"))
            .await
            .unwrap(),
        Outcome::NonCost
    );
    n.process_record(&raw("sagemaker-create-endpoint"))
        .await
        .unwrap();
    n.process_record(&raw("lambda-create-function-arm64"))
        .await
        .unwrap();
    n.process_record(&raw("lambda-put-provisioned-concurrency-config"))
        .await
        .unwrap();
    let events = bus.cost_events();
    let endpoint = events
        .iter()
        .find(|e| e.event_name == "CreateEndpoint")
        .expect("endpoint");
    let expected = pricing::sagemaker_instance("ml.m5.xlarge", "us-east-1")
        .hourly_usd
        .unwrap()
        * 2.0;
    assert!((endpoint.hourly_cost.expect("priced") - expected).abs() < 1e-9);
    let pc = events
        .iter()
        .find(|e| e.event_name == "PutProvisionedConcurrencyConfig")
        .expect("provisioned concurrency");
    let expected = pricing::lambda_provisioned_concurrency(1024.0, 50.0, "us-east-1", true)
        .hourly_usd
        .unwrap();
    assert!((pc.hourly_cost.expect("priced") - expected).abs() < 1e-9);
}

/// `name` with `edit` applied to its JSON.
fn edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut record: serde_json::Value = serde_json::from_str(&raw(name)).expect("fixture");
    edit(&mut record);
    record.to_string()
}

#[tokio::test]
async fn a_record_that_produces_nothing_leaves_nothing_stored_even_when_redelivered() {
    let (n, bus, table) = normalizer_and_table();
    let read = edited("ec2-stop-instances", |r| {
        r["eventName"] = "DescribeInstances".into();
        r["readOnly"] = true.into();
        r["requestParameters"] = serde_json::json!({});
        r["responseElements"] = serde_json::Value::Null;
    });
    let failed = edited("ec2-run-instances-launch-template", |r| {
        r["errorCode"] = "Client.UnauthorizedOperation".into();
        r["errorMessage"] = "You are not authorized to perform this operation.".into();
        r["responseElements"] = serde_json::Value::Null;
    });
    for _ in 0..2 {
        assert_eq!(n.process_record(&read).await.unwrap(), Outcome::NonCost);
        assert_eq!(
            n.process_record(&failed).await.unwrap(),
            Outcome::FailedCall("Client.UnauthorizedOperation".into())
        );
    }
    // The account's link (made on first sight here) and nothing else: no marker, no record.
    assert_eq!(table.len(), 1);
    assert!(bus.0.lock().expect("bus").is_empty());

    // A record that does produce something is marked, and its redelivery recognised.
    let launch = raw("ec2-run-instances-launch-template");
    assert_eq!(
        n.process_record(&launch).await.unwrap(),
        Outcome::CostEvents(1)
    );
    assert!(table.len() > 1);
    assert_eq!(n.process_record(&launch).await.unwrap(), Outcome::Duplicate);
    assert_eq!(bus.cost_events().len(), 1);
}

/// What a record's cost events started is written on its processed mark, the digest's one
/// reading of it, and nowhere else in the table (decision 1200).
#[tokio::test]
async fn a_records_spend_is_kept_on_its_processed_mark_only() {
    use dd0c_shared::entity::event::{self, RecordSpend};
    use dd0c_shared::store::{query_all, Query, Table};
    let clock: dd0c_shared::clock::SharedClock = Arc::new(dd0c_shared::clock::ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc),
    ));
    let table = Arc::new(MemoryTable::new(clock.clone()));
    let bus = Arc::new(CapturingBus::default());
    let n = Normalizer::new(
        table.clone(),
        bus.clone(),
        clock,
        NormalizerConfig {
            auto_link_tenant: Some("t-1".into()),
        },
    );
    let record = raw("ec2-run-instances-launch-template");
    assert_eq!(
        n.process_record(&record).await.unwrap(),
        Outcome::CostEvents(1)
    );
    let published = bus.cost_events();
    let cost = &published[0];
    let partition = format!("TENANT#t-1#ACCOUNT#{}", cost.account_id);
    let items = query_all(
        table.as_ref() as &dyn Table,
        Query::partition(partition.clone()),
    )
    .await
    .unwrap();
    let marks: Vec<_> = items
        .iter()
        .filter(|i| {
            i.get("SK")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.starts_with("EVENT#"))
        })
        .collect();
    assert_eq!(marks.len(), 1);
    let spend = RecordSpend::from_mark(marks[0]).expect("the mark carries the spend");
    assert_eq!(spend, RecordSpend::of(std::slice::from_ref(cost)).unwrap());
    assert!(spend.added_hourly > 0.0);
    let marked = query_all(
        table.as_ref() as &dyn Table,
        event::cloudtrail_between("t-1", &cost.account_id, &cost.event_time, &cost.event_time),
    )
    .await
    .unwrap();
    assert_eq!(marked.len(), 1, "the digest finds it by the record's time");
    assert!(
        items.iter().all(|i| !i
            .get("SK")
            .and_then(|s| s.as_str())
            .is_some_and(|s| s.starts_with("COST#"))),
        "no cost event item of its own"
    );
}

/// A record's processed mark is kept 15 days after it was written, whenever the record
/// happened: a redelivery comes within SQS's 14 days of the delivery that marked it.
#[tokio::test]
async fn the_processed_mark_is_kept_15_days_after_it_was_written() {
    use dd0c_shared::store::{query_all, AttrValue, Query, Table, TTL_ATTRIBUTE};
    let processed_at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = ManualClock::new(processed_at);
    let table = Arc::new(MemoryTable::new(Arc::new(clock.clone())));
    let n = Normalizer::new(
        table.clone(),
        Arc::new(CapturingBus::default()),
        Arc::new(clock.clone()),
        NormalizerConfig {
            auto_link_tenant: Some("t-1".into()),
        },
    );
    // Two months old when it arrives (a backfill, or a late delivery).
    let record = edited("ec2-run-instances-launch-template", |r| {
        r["eventTime"] = "2026-09-22T10:00:00Z".into();
    });
    assert_eq!(
        n.process_record(&record).await.unwrap(),
        Outcome::CostEvents(1)
    );
    let account = serde_json::from_str::<serde_json::Value>(&record).unwrap()["recipientAccountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let marks = || async {
        query_all(
            table.as_ref() as &dyn Table,
            Query::partition(format!("TENANT#t-1#ACCOUNT#{account}")).begins_with("EVENT#"),
        )
        .await
        .unwrap()
    };
    let marked = marks().await;
    assert_eq!(marked.len(), 1);
    let ttl = marked[0]
        .get(TTL_ATTRIBUTE)
        .and_then(AttrValue::as_f64)
        .unwrap();
    assert_eq!(ttl as i64, processed_at.timestamp() + 15 * 24 * 3600);
    assert_eq!(marked[0].get("published"), Some(&AttrValue::Bool(true)));

    clock.advance(chrono::Duration::days(14));
    assert_eq!(n.process_record(&record).await.unwrap(), Outcome::Duplicate);
    clock.advance(chrono::Duration::days(2));
    assert!(marks().await.is_empty());
}
