//! The catalogue of cost-creating and cost-changing API calls: one pure function per call,
//! from a CloudTrail record to priced cost events.
//!
//! Some calls do not carry what they cost (StartInstances has no instance type, CreateEndpoint
//! names an endpoint config, ModifyDBInstance carries only the new class). For those, the
//! handler first loads what dd0c remembered about the resources the record names
//! ([`lookups`] → [`Facts`]), and afterwards stores what the record teaches ([`learned`]).
//! Both stay pure here; the I/O is in `handler.rs` and `instances.rs`.

mod autoscaling;
mod ebs;
mod ec2;
mod eks;
mod elasticache;
mod elb;
mod lambda;
mod opensearch;
mod rds;
pub(crate) mod read;
mod redshift;
mod sagemaker;
mod vpc;

use std::collections::HashMap;

use dd0c_shared::domain::{Actor, CloudTrailRecord, CostAction, CostEvent};
use dd0c_shared::pricing::{Platform, PriceBasis, PriceEstimate, Tenancy};
use serde::{Deserialize, Serialize};

/// What a record means for cost.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// The call created, changed or removed something that costs.
    Cost(Vec<CostEvent>),
    /// A call the catalogue does not price (most calls).
    NonCost,
    /// The call failed (`errorCode`): nothing was created, nothing costs.
    Failed { error_code: String },
}

/// The kinds of resource whose specification dd0c remembers between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Instance,
    DbInstance,
    Volume,
    AutoScalingGroup,
    EndpointConfig,
    Function,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Instance => "instance",
            ResourceKind::DbInstance => "db_instance",
            ResourceKind::Volume => "volume",
            ResourceKind::AutoScalingGroup => "auto_scaling_group",
            ResourceKind::EndpointConfig => "endpoint_config",
            ResourceKind::Function => "function",
        }
    }

    /// EC2 instance and volume ids are unique in an account; names of DB instances, groups,
    /// endpoint configs and functions are unique only within a region.
    fn regional(self) -> bool {
        !matches!(self, ResourceKind::Instance | ResourceKind::Volume)
    }
}

/// A resource dd0c may know something about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    pub kind: ResourceKind,
    /// The id as stored: the resource id, prefixed with the region for regional names.
    pub id: String,
}

impl ResourceRef {
    pub fn new(kind: ResourceKind, region: &str, id: &str) -> Self {
        let id = if kind.regional() {
            format!("{region}/{id}")
        } else {
            id.to_owned()
        };
        ResourceRef { kind, id }
    }
}

/// One SageMaker production variant: what an endpoint built from the config runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointVariant {
    pub name: String,
    /// `None` for a serverless variant.
    #[serde(default)]
    pub instance_type: Option<String>,
    pub instance_count: u32,
}

/// What dd0c remembers about a resource, from the call that created or last changed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResourceSpec {
    Instance {
        instance_type: String,
        platform: Platform,
        /// `None`: a Dedicated Host (billed per host).
        #[serde(default)]
        tenancy: Option<Tenancy>,
        spot: bool,
    },
    DbInstance {
        class: String,
        engine: String,
        multi_az: bool,
        #[serde(default)]
        storage_type: Option<String>,
        #[serde(default)]
        storage_gb: Option<f64>,
        #[serde(default)]
        iops: Option<f64>,
    },
    Volume {
        #[serde(default)]
        volume_type: Option<String>,
        size_gb: f64,
        #[serde(default)]
        iops: Option<f64>,
        #[serde(default)]
        throughput: Option<f64>,
    },
    AutoScalingGroup {
        #[serde(default)]
        instance_type: Option<String>,
        desired: u32,
    },
    EndpointConfig {
        variants: Vec<EndpointVariant>,
    },
    Function {
        memory_mb: f64,
        arm64: bool,
    },
}

/// What the handler loaded for a record: specs by resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts(HashMap<ResourceRef, ResourceSpec>);

impl Facts {
    pub fn insert(&mut self, r: ResourceRef, spec: ResourceSpec) {
        self.0.insert(r, spec);
    }

    pub fn get(&self, r: &ResourceRef) -> Option<&ResourceSpec> {
        self.0.get(r)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies what a record taught (as the store does), e.g. to replay records in memory.
    pub fn learn(&mut self, learned: Vec<Learned>) {
        for l in learned {
            match l {
                Learned::Remember(r, spec) => {
                    self.0.insert(r, spec);
                }
                Learned::Forget(r) => {
                    self.0.remove(&r);
                }
            }
        }
    }
}

/// What a record teaches dd0c about resources.
#[derive(Debug, Clone, PartialEq)]
pub enum Learned {
    Remember(ResourceRef, ResourceSpec),
    Forget(ResourceRef),
}

/// Who and where, shared by every event a record yields.
pub struct Context<'a> {
    pub record: &'a CloudTrailRecord,
    pub tenant_id: &'a str,
    pub account_id: &'a str,
    pub actor: Actor,
    pub facts: &'a Facts,
}

impl Context<'_> {
    /// A cost event with the record's identity filled in.
    pub fn event(
        &self,
        service: &str,
        resource_type: &str,
        action: CostAction,
        resource_ids: Vec<String>,
        count: u32,
    ) -> CostEvent {
        CostEvent {
            tenant_id: self.tenant_id.to_owned(),
            account_id: self.account_id.to_owned(),
            region: self.record.aws_region.clone(),
            event_id: self.record.event_id.clone(),
            event_time: self.record.event_time,
            event_name: self.record.event_name.clone(),
            service: service.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_ids,
            sku: None,
            count,
            action,
            hourly_cost: None,
            previous_hourly_cost: None,
            pricing_notes: Vec::new(),
            price_basis: None,
            spot: false,
            actor: self.actor.clone(),
            tags: crate::drift::extract::all_tags(self.record.request())
                .into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect(),
        }
    }

    pub fn region(&self) -> &str {
        &self.record.aws_region
    }

    pub fn fact(&self, kind: ResourceKind, id: &str) -> Option<&ResourceSpec> {
        self.facts.get(&ResourceRef::new(kind, self.region(), id))
    }
}

/// Sets the event's price from an estimate (already for all units).
pub(crate) fn apply(event: &mut CostEvent, estimate: PriceEstimate) {
    event.hourly_cost = estimate.hourly_usd;
    event.pricing_notes.extend(estimate.reasons);
    event.price_basis = Some(match event.price_basis.take() {
        // Caveats noted before the price was known stay first.
        Some(earlier) => PriceBasis {
            caveats: earlier
                .caveats
                .into_iter()
                .chain(estimate.basis.caveats)
                .collect(),
            ..estimate.basis
        },
        None => estimate.basis,
    });
}

/// The sum of several estimates; unknown as soon as one part is.
pub(crate) fn sum(parts: Vec<PriceEstimate>) -> PriceEstimate {
    PriceEstimate::sum(parts)
}

/// An estimate with no price and one reason.
pub(crate) fn unknown(reason: impl Into<String>) -> PriceEstimate {
    PriceEstimate::unknown_because(reason)
}

/// Every (service, event name) the catalogue prices. The service is the event source
/// without `.amazonaws.com`; Lambda's event names are listed without their API-version
/// suffix (`CreateFunction20150331` is matched as `CreateFunction`).
pub const ENTRIES: &[(&str, &str)] = &[
    ("ec2", "RunInstances"),
    ("ec2", "StartInstances"),
    ("ec2", "StopInstances"),
    ("ec2", "TerminateInstances"),
    ("ec2", "ModifyInstanceAttribute"),
    ("ec2", "RequestSpotInstances"),
    ("ec2", "RequestSpotFleet"),
    ("ec2", "CreateFleet"),
    ("ec2", "CreateNatGateway"),
    ("ec2", "DeleteNatGateway"),
    ("ec2", "AllocateAddress"),
    ("ec2", "ReleaseAddress"),
    ("ec2", "CreateVolume"),
    ("ec2", "ModifyVolume"),
    ("ec2", "DeleteVolume"),
    ("autoscaling", "CreateAutoScalingGroup"),
    ("autoscaling", "UpdateAutoScalingGroup"),
    ("autoscaling", "SetDesiredCapacity"),
    ("rds", "CreateDBInstance"),
    ("rds", "CreateDBCluster"),
    ("rds", "RestoreDBInstanceFromDBSnapshot"),
    ("rds", "ModifyDBInstance"),
    ("rds", "DeleteDBInstance"),
    ("lambda", "CreateFunction"),
    ("lambda", "PutProvisionedConcurrencyConfig"),
    ("lambda", "DeleteProvisionedConcurrencyConfig"),
    ("elasticloadbalancing", "CreateLoadBalancer"),
    ("elasticloadbalancing", "DeleteLoadBalancer"),
    ("eks", "CreateCluster"),
    ("eks", "DeleteCluster"),
    ("eks", "CreateNodegroup"),
    ("elasticache", "CreateCacheCluster"),
    ("elasticache", "CreateReplicationGroup"),
    ("es", "CreateDomain"),
    ("es", "CreateElasticsearchDomain"),
    ("opensearch", "CreateDomain"),
    ("redshift", "CreateCluster"),
    ("sagemaker", "CreateEndpoint"),
];

/// Calls that cost nothing themselves but that dd0c remembers, because a later call's price
/// depends on them.
pub const REMEMBERED_ONLY: &[(&str, &str)] = &[
    ("sagemaker", "CreateEndpointConfig"),
    ("lambda", "UpdateFunctionConfiguration"),
];

/// The event names the catalogue prices (each once).
pub fn catalogue() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = ENTRIES.iter().map(|(_, n)| *n).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The event name without Lambda's API-version suffix (`20150331`, `20150331v2`).
fn base_name<'a>(service: &str, name: &'a str) -> &'a str {
    if service != "lambda" {
        return name;
    }
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let trimmed = match trimmed.strip_suffix('v') {
        Some(t) if t.len() >= 8 && t.ends_with(|c: char| c.is_ascii_digit()) => {
            t.trim_end_matches(|c: char| c.is_ascii_digit())
        }
        _ => trimmed,
    };
    if name.len() - trimmed.len() >= 8 {
        trimmed
    } else {
        name
    }
}

/// Normalizes a record with nothing remembered (see [`normalize_with`]).
pub fn normalize(record: &CloudTrailRecord, tenant_id: &str, account_id: &str) -> Normalized {
    normalize_with(record, tenant_id, account_id, &Facts::default())
}

/// Normalizes a record, pricing from the record and from `facts` (what [`lookups`] named).
pub fn normalize_with(
    record: &CloudTrailRecord,
    tenant_id: &str,
    account_id: &str,
    facts: &Facts,
) -> Normalized {
    if let Some(code) = record.error_code.as_deref().filter(|c| !c.is_empty()) {
        return Normalized::Failed {
            error_code: code.to_owned(),
        };
    }
    let service = record.service();
    let name = base_name(service, &record.event_name);
    if !ENTRIES.contains(&(service, name)) {
        return Normalized::NonCost;
    }
    let ctx = Context {
        record,
        tenant_id,
        account_id,
        actor: Actor::from_record(record),
        facts,
    };
    let events = match (service, name) {
        ("ec2", "RunInstances") => ec2::run_instances(&ctx),
        ("ec2", "StartInstances") => ec2::start_instances(&ctx),
        ("ec2", "StopInstances") => ec2::stop_instances(&ctx),
        ("ec2", "TerminateInstances") => ec2::terminate_instances(&ctx),
        ("ec2", "ModifyInstanceAttribute") => ec2::modify_instance_attribute(&ctx),
        ("ec2", "RequestSpotInstances") => ec2::request_spot_instances(&ctx),
        ("ec2", "RequestSpotFleet") => ec2::request_spot_fleet(&ctx),
        ("ec2", "CreateFleet") => ec2::create_fleet(&ctx),
        ("ec2", "CreateNatGateway") => vpc::create_nat_gateway(&ctx),
        ("ec2", "DeleteNatGateway") => vpc::delete_nat_gateway(&ctx),
        ("ec2", "AllocateAddress") => vpc::allocate_address(&ctx),
        ("ec2", "ReleaseAddress") => vpc::release_address(&ctx),
        ("ec2", "CreateVolume") => ebs::create_volume(&ctx),
        ("ec2", "ModifyVolume") => ebs::modify_volume(&ctx),
        ("ec2", "DeleteVolume") => ebs::delete_volume(&ctx),
        ("autoscaling", "CreateAutoScalingGroup") => autoscaling::create_group(&ctx),
        ("autoscaling", "UpdateAutoScalingGroup") => autoscaling::update_group(&ctx),
        ("autoscaling", "SetDesiredCapacity") => autoscaling::set_desired_capacity(&ctx),
        ("rds", "CreateDBInstance") => rds::create_db_instance(&ctx),
        ("rds", "CreateDBCluster") => rds::create_db_cluster(&ctx),
        ("rds", "RestoreDBInstanceFromDBSnapshot") => rds::restore_db_instance(&ctx),
        ("rds", "ModifyDBInstance") => rds::modify_db_instance(&ctx),
        ("rds", "DeleteDBInstance") => rds::delete_db_instance(&ctx),
        ("lambda", "CreateFunction") => lambda::create_function(&ctx),
        ("lambda", "PutProvisionedConcurrencyConfig") => lambda::put_provisioned_concurrency(&ctx),
        ("lambda", "DeleteProvisionedConcurrencyConfig") => {
            lambda::delete_provisioned_concurrency(&ctx)
        }
        ("elasticloadbalancing", "CreateLoadBalancer") => elb::create_load_balancer(&ctx),
        ("elasticloadbalancing", "DeleteLoadBalancer") => elb::delete_load_balancer(&ctx),
        ("eks", "CreateCluster") => eks::create_cluster(&ctx),
        ("eks", "DeleteCluster") => eks::delete_cluster(&ctx),
        ("eks", "CreateNodegroup") => eks::create_nodegroup(&ctx),
        ("elasticache", "CreateCacheCluster") => elasticache::create_cache_cluster(&ctx),
        ("elasticache", "CreateReplicationGroup") => elasticache::create_replication_group(&ctx),
        ("es" | "opensearch", "CreateDomain" | "CreateElasticsearchDomain") => {
            opensearch::create_domain(&ctx)
        }
        ("redshift", "CreateCluster") => redshift::create_cluster(&ctx),
        ("sagemaker", "CreateEndpoint") => sagemaker::create_endpoint(&ctx),
        _ => Vec::new(),
    };
    if events.is_empty() {
        Normalized::NonCost
    } else {
        Normalized::Cost(events)
    }
}

/// The resources whose remembered specs the record's price depends on.
pub fn lookups(record: &CloudTrailRecord) -> Vec<ResourceRef> {
    if record.failed() {
        return Vec::new();
    }
    let service = record.service();
    let region = record.aws_region.as_str();
    let refs = |kind: ResourceKind, ids: Vec<String>| -> Vec<ResourceRef> {
        ids.iter()
            .map(|id| ResourceRef::new(kind, region, id))
            .collect()
    };
    match (service, base_name(service, &record.event_name)) {
        (
            "ec2",
            "StartInstances" | "StopInstances" | "TerminateInstances" | "ModifyInstanceAttribute",
        ) => refs(ResourceKind::Instance, ec2::instance_ids(record)),
        ("ec2", "ModifyVolume" | "DeleteVolume") => refs(
            ResourceKind::Volume,
            ebs::volume_id(record).into_iter().collect(),
        ),
        ("autoscaling", "UpdateAutoScalingGroup" | "SetDesiredCapacity") => refs(
            ResourceKind::AutoScalingGroup,
            autoscaling::group_name(record).into_iter().collect(),
        ),
        ("rds", "ModifyDBInstance" | "DeleteDBInstance") => refs(
            ResourceKind::DbInstance,
            rds::instance_id(record).into_iter().collect(),
        ),
        ("sagemaker", "CreateEndpoint") => refs(
            ResourceKind::EndpointConfig,
            sagemaker::endpoint_config_name(record)
                .into_iter()
                .collect(),
        ),
        ("lambda", "PutProvisionedConcurrencyConfig" | "UpdateFunctionConfiguration") => refs(
            ResourceKind::Function,
            lambda::function_name(record).into_iter().collect(),
        ),
        _ => Vec::new(),
    }
}

/// What the record teaches about resources, given what was remembered before it.
pub fn learned(record: &CloudTrailRecord, facts: &Facts) -> Vec<Learned> {
    if record.failed() {
        return Vec::new();
    }
    let service = record.service();
    match (service, base_name(service, &record.event_name)) {
        ("ec2", "RunInstances") => ec2::learned_from_run(record),
        ("ec2", "CreateFleet") => ec2::learned_from_fleet(record),
        ("ec2", "TerminateInstances") => ec2::instance_ids(record)
            .iter()
            .map(|id| Learned::Forget(ResourceRef::new(ResourceKind::Instance, "", id)))
            .collect(),
        ("ec2", "ModifyInstanceAttribute") => ec2::learned_from_modify(record, facts),
        ("ec2", "CreateVolume") => ebs::learned_from_create(record),
        ("ec2", "ModifyVolume") => ebs::learned_from_modify(record, facts),
        ("ec2", "DeleteVolume") => ebs::volume_id(record)
            .map(|id| Learned::Forget(ResourceRef::new(ResourceKind::Volume, "", &id)))
            .into_iter()
            .collect(),
        (
            "autoscaling",
            "CreateAutoScalingGroup" | "UpdateAutoScalingGroup" | "SetDesiredCapacity",
        ) => autoscaling::learned(record, facts),
        ("rds", "CreateDBInstance" | "RestoreDBInstanceFromDBSnapshot" | "ModifyDBInstance") => {
            rds::learned(record, facts)
        }
        ("rds", "DeleteDBInstance") => rds::instance_id(record)
            .map(|id| {
                Learned::Forget(ResourceRef::new(
                    ResourceKind::DbInstance,
                    &record.aws_region,
                    &id,
                ))
            })
            .into_iter()
            .collect(),
        ("sagemaker", "CreateEndpointConfig") => sagemaker::learned_from_config(record),
        ("lambda", "CreateFunction" | "UpdateFunctionConfiguration") => {
            lambda::learned(record, facts)
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_names_lose_their_api_version_only() {
        assert_eq!(
            base_name("lambda", "CreateFunction20150331"),
            "CreateFunction"
        );
        assert_eq!(
            base_name("lambda", "UpdateFunctionConfiguration20150331v2"),
            "UpdateFunctionConfiguration"
        );
        assert_eq!(
            base_name("lambda", "PutProvisionedConcurrencyConfig"),
            "PutProvisionedConcurrencyConfig"
        );
        assert_eq!(base_name("ec2", "CreateFleet2"), "CreateFleet2");
    }

    #[test]
    fn regional_names_carry_the_region() {
        let db = ResourceRef::new(ResourceKind::DbInstance, "eu-west-1", "orders");
        assert_eq!(db.id, "eu-west-1/orders");
        let i = ResourceRef::new(ResourceKind::Instance, "eu-west-1", "i-1");
        assert_eq!(i.id, "i-1");
    }
}
