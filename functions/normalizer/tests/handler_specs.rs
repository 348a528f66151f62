//! The normalizer's I/O around the catalogue: what one record teaches is stored, and a later
//! record that lacks it (StartInstances, CreateEndpoint, PutProvisionedConcurrencyConfig) is
//! priced from the store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dd0c_normalizer::catalogue::ResourceSpec;
use dd0c_normalizer::instances::{InstanceTypeResolver, ResolveError};
use dd0c_normalizer::{Normalizer, NormalizerConfig, Outcome};
use dd0c_shared::bus::{Bus, BusError, BusEvent};
use dd0c_shared::clock::SystemClock;
use dd0c_shared::domain::CostEvent;
use dd0c_shared::pricing::{self, Platform, Tenancy};
use dd0c_shared::store::memory::MemoryTable;

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

fn normalizer() -> (Normalizer, Arc<CapturingBus>) {
    let clock = Arc::new(SystemClock);
    let table = Arc::new(MemoryTable::new(clock.clone()));
    let bus = Arc::new(CapturingBus::default());
    let n = Normalizer::new(
        table,
        bus.clone(),
        clock,
        NormalizerConfig {
            auto_link_tenant: Some("t-1".into()),
        },
    );
    (n, bus)
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

/// Stands in for the accounts port (describe through the customer's role).
struct Described;

#[async_trait]
impl InstanceTypeResolver for Described {
    async fn resolve(
        &self,
        _tenant: &str,
        _account: &str,
        _region: &str,
        ids: &[String],
    ) -> Result<HashMap<String, ResourceSpec>, ResolveError> {
        Ok(ids
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    ResourceSpec::Instance {
                        instance_type: "m5.xlarge".into(),
                        platform: Platform::Linux,
                        tenancy: Some(Tenancy::Shared),
                        spot: false,
                    },
                )
            })
            .collect())
    }
}

#[tokio::test]
async fn a_resolver_plugs_in_for_instances_dd0c_never_saw() {
    let (n, bus) = normalizer();
    let n = n.with_instance_resolver(Arc::new(Described));
    n.process_record(&raw("ec2-start-instances")).await.unwrap();
    let h = bus.cost_events()[0].hourly_cost.expect("resolved");
    assert!((h - 2.0 * m5_xlarge()).abs() < 1e-9);
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
