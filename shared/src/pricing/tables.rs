//! The checked-in price tables (`pricing/tables/*.json`), embedded at compile time with
//! `include_str!` and parsed once, on first use, into hash maps behind a `OnceLock`.
//! No file I/O or network happens at run time.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Deserialize;

macro_rules! table_json {
    ($file:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pricing/tables/",
            $file
        ))
    };
}

/// A table priced by one key (instance, node or class name).
#[derive(Debug, Deserialize)]
pub(crate) struct KeyedTable {
    pub as_of: String,
    pub stale: bool,
    pub prices: HashMap<String, f64>,
}

/// A table priced by class and engine.
#[derive(Debug, Deserialize)]
pub(crate) struct EngineTable {
    pub as_of: String,
    pub stale: bool,
    pub prices: HashMap<String, HashMap<String, f64>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Regions {
    pub as_of: String,
    pub stale: bool,
    pub factors: HashMap<String, f64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Windows {
    pub usd_per_vcpu_hour: f64,
    pub burstable_families: Vec<String>,
    pub as_of: String,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Rhel {
    pub usd_per_vcpu_hour_up_to_4_vcpu: f64,
    pub usd_per_vcpu_hour_above_4_vcpu: f64,
    pub as_of: String,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Dedicated {
    pub factor: f64,
    pub region_fee_usd_per_hour: f64,
    pub as_of: String,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Spot {
    pub discount: f64,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct VcpuRule {
    pub exception_families: Vec<String>,
    pub exception_family_prefixes: Vec<String>,
    pub exception_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Adjustments {
    pub windows: Windows,
    pub rhel: Rhel,
    pub dedicated: Dedicated,
    pub spot: Spot,
    pub vcpu_from_size: VcpuRule,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EbsVolume {
    pub usd_per_gb_month: f64,
    #[serde(default)]
    pub usd_per_iops_month: Option<f64>,
    #[serde(default)]
    pub free_iops: Option<f64>,
    #[serde(default)]
    pub free_throughput_mbps: Option<f64>,
    #[serde(default)]
    pub usd_per_mbps_month: Option<f64>,
    #[serde(default)]
    pub iops_priced_up_to: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Ebs {
    pub as_of: String,
    pub stale: bool,
    pub default_volume_type: String,
    pub volumes: HashMap<String, EbsVolume>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RdsStorageType {
    pub usd_per_gb_month: f64,
    #[serde(default)]
    pub usd_per_iops_month: Option<f64>,
    #[serde(default)]
    pub baseline_iops: Option<f64>,
    #[serde(default)]
    pub baseline_iops_large: Option<f64>,
    #[serde(default)]
    pub large_from_gb: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RdsStorage {
    pub as_of: String,
    pub stale: bool,
    pub multi_az_factor: f64,
    pub types: HashMap<String, RdsStorageType>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LambdaRates {
    pub arm64: f64,
    pub x86_64: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Lambda {
    pub as_of: String,
    pub stale: bool,
    pub provisioned_concurrency_usd_per_gb_second: LambdaRates,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Hourly {
    pub as_of: String,
    pub usd_per_hour: f64,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoadBalancers {
    pub as_of: String,
    pub usd_per_hour: HashMap<String, f64>,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Eks {
    pub as_of: String,
    pub usd_per_cluster_hour: f64,
    pub extended_support_usd_per_cluster_hour: f64,
    pub stale: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Network {
    pub nat_gateway: Hourly,
    pub elastic_ip: Hourly,
    pub load_balancer: LoadBalancers,
    pub eks: Eks,
}

/// Every table, parsed.
#[derive(Debug)]
pub(crate) struct Tables {
    pub ec2: KeyedTable,
    /// The EC2 instance types, sorted (for the simulator).
    pub ec2_types: Vec<String>,
    pub rds: EngineTable,
    pub aurora: EngineTable,
    pub regions: Regions,
    pub adjustments: Adjustments,
    pub ebs: Ebs,
    pub rds_storage: RdsStorage,
    pub lambda: Lambda,
    pub network: Network,
    pub elasticache: KeyedTable,
    pub opensearch: KeyedTable,
    pub redshift: KeyedTable,
    pub sagemaker: KeyedTable,
}

fn parse<T: DeserializeOwned>(name: &str, json: &str) -> T {
    // The tables are compiled in and validated by `scripts/test-pricing.sh` and this module's
    // tests; a parse failure is a build defect, not bad input.
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("embedded pricing table {name} does not parse: {e}"))
}

fn load() -> Tables {
    let ec2: KeyedTable = parse("ec2_us-east-1.json", table_json!("ec2_us-east-1.json"));
    let mut ec2_types: Vec<String> = ec2.prices.keys().cloned().collect();
    ec2_types.sort_unstable();
    Tables {
        ec2,
        ec2_types,
        rds: parse("rds_us-east-1.json", table_json!("rds_us-east-1.json")),
        aurora: parse(
            "aurora_us-east-1.json",
            table_json!("aurora_us-east-1.json"),
        ),
        regions: parse("regions.json", table_json!("regions.json")),
        adjustments: parse("ec2_adjustments.json", table_json!("ec2_adjustments.json")),
        ebs: parse("ebs_us-east-1.json", table_json!("ebs_us-east-1.json")),
        rds_storage: parse(
            "rds_storage_us-east-1.json",
            table_json!("rds_storage_us-east-1.json"),
        ),
        lambda: parse(
            "lambda_us-east-1.json",
            table_json!("lambda_us-east-1.json"),
        ),
        network: parse(
            "network_us-east-1.json",
            table_json!("network_us-east-1.json"),
        ),
        elasticache: parse(
            "elasticache_us-east-1.json",
            table_json!("elasticache_us-east-1.json"),
        ),
        opensearch: parse(
            "opensearch_us-east-1.json",
            table_json!("opensearch_us-east-1.json"),
        ),
        redshift: parse(
            "redshift_us-east-1.json",
            table_json!("redshift_us-east-1.json"),
        ),
        sagemaker: parse(
            "sagemaker_us-east-1.json",
            table_json!("sagemaker_us-east-1.json"),
        ),
    }
}

/// The parsed tables (parsed on first call, then shared).
pub(crate) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(load)
}
