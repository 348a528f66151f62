//! The accounts port: what dd0c does inside a customer's account through the read-only role
//! (assume it with the tenant's ExternalId, describe EC2/RDS, read CloudWatch metrics).
//! Production: [`aws::AwsAccounts`] (feature `aws`); tests and the embedded mode:
//! [`fake::ScriptedAccounts`].

pub mod fake;
pub mod zombie;

#[cfg(feature = "aws")]
pub mod aws;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub instance_id: String,
    pub instance_type: String,
    /// `running`, `stopped`, …
    pub state: String,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub launch_time: Option<DateTime<Utc>>,
    /// `default`, `dedicated` or `host` (EC2's `Placement.Tenancy`).
    #[serde(default)]
    pub tenancy: Option<String>,
    /// A Spot instance (`InstanceLifecycle` = `spot`).
    #[serde(default)]
    pub spot: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub volume_id: String,
    pub volume_type: Option<String>,
    pub size_gb: f64,
    #[serde(default)]
    pub iops: Option<f64>,
    /// `available` means attached to nothing.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub allocation_id: Option<String>,
    pub public_ip: String,
    #[serde(default)]
    pub association_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbInstance {
    pub identifier: String,
    pub class: String,
    pub engine: String,
    /// `available`, `stopped`, …
    pub status: String,
    pub storage_type: Option<String>,
    pub allocated_storage_gb: f64,
    #[serde(default)]
    pub multi_az: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatGateway {
    pub nat_gateway_id: String,
    pub state: String,
}

/// A CloudFormation stack of an account and region (`ListStacks`: its name and status only;
/// `DescribeStacks` would also return parameters and outputs, which may hold secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudFormationStack {
    pub name: String,
    /// `CREATE_COMPLETE`, `UPDATE_IN_PROGRESS`, …
    pub status: String,
}

/// One resource of a CloudFormation stack (`ListStackResources`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudFormationResource {
    pub logical_id: String,
    /// `AWS::EC2::SecurityGroup`, …
    pub resource_type: String,
    /// The resource's name or id in its service; `None` before it is created.
    #[serde(default)]
    pub physical_id: Option<String>,
}

/// A resource carrying a tag, as the Resource Groups Tagging API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaggedResource {
    pub arn: String,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// A CloudWatch metric of one resource, averaged over a window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `AWS/EC2 CPUUtilization` of an instance, percent.
    InstanceCpu(String),
    /// `AWS/NATGateway BytesOutToDestination` of a gateway, bytes (sum over the window).
    NatBytesOut(String),
}

/// Why something in the customer's account could not be done. The API turns each into an
/// explanation the customer can act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AccountsError {
    /// The role trusts dd0c but with another ExternalId (the stack predates the latest setup).
    #[error("the role's trust policy requires another ExternalId")]
    ExternalIdMismatch,
    /// STS refused: the role does not exist, does not trust dd0c's account, or requires another
    /// ExternalId (AWS does not say which).
    #[error("sts:AssumeRole was denied: {0}")]
    AssumeRoleDenied(String),
    /// The role was assumed but lacks a read permission dd0c needs.
    #[error("the role lacks {action}: {message}")]
    MissingPermission { action: String, message: String },
    #[error("the role ARN is not valid: {0}")]
    InvalidRoleArn(String),
    /// Throttling, network, AWS outage: try again later.
    #[error("AWS is unavailable: {0}")]
    Unavailable(String),
    /// AWS refused the call for its rate (`ThrottlingException`): back off, then repeat it.
    #[error("AWS throttled the call: {0}")]
    Throttled(String),
    /// The region is not enabled in the account (an opt-in region never opted into): the
    /// assumed role's credentials are not valid there.
    #[error("the region {0} is not enabled in the account")]
    RegionNotEnabled(String),
    /// What was asked for does not exist (a stack deleted since it was named).
    #[error("not found: {0}")]
    NotFound(String),
}

/// One page of an account's write management events in one region, newest first: each event
/// is CloudTrail's own record (LookupEvents' `CloudTrailEvent` JSON).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventsPage {
    pub events: Vec<String>,
    /// The next page's token; `None` on the last page.
    pub next_token: Option<String>,
}

/// The most events one LookupEvents page holds.
pub const LOOKUP_PAGE_SIZE: usize = 50;

/// The regions of the commercial partition. Which of them an account has enabled is learnt by
/// asking each (a region never opted into answers [`AccountsError::RegionNotEnabled`]): the
/// role needs no `ec2:DescribeRegions` or `account:ListRegions` for it.
pub const COMMERCIAL_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

/// Temporary credentials of an assumed role (opaque to callers).
#[derive(Clone)]
pub struct Session {
    pub role_arn: String,
    pub account_id: String,
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) credentials: Option<SessionCredentials>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        f.debug_struct("Session")
            .field("role_arn", &self.role_arn)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) struct SessionCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

#[async_trait]
pub trait Accounts: Send + Sync {
    async fn assume_role(
        &self,
        role_arn: &str,
        external_id: &str,
    ) -> Result<Session, AccountsError>;
    async fn instances(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<Instance>, AccountsError>;
    /// The instances among `ids` that exist (an unknown id is simply absent). The default
    /// filters [`Accounts::instances`]; the AWS adapter asks EC2 for those ids only.
    async fn instances_by_id(
        &self,
        session: &Session,
        region: &str,
        ids: &[String],
    ) -> Result<Vec<Instance>, AccountsError> {
        Ok(self
            .instances(session, region)
            .await?
            .into_iter()
            .filter(|i| ids.contains(&i.instance_id))
            .collect())
    }
    async fn volumes(&self, session: &Session, region: &str) -> Result<Vec<Volume>, AccountsError>;
    async fn addresses(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<Address>, AccountsError>;
    async fn db_instances(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<DbInstance>, AccountsError>;
    async fn nat_gateways(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<NatGateway>, AccountsError>;
    /// One page of CloudTrail `LookupEvents` in `region`: the write management events
    /// (lookup attribute `ReadOnly` = `false`) with times in `[start, end]`, from the page
    /// `next_token` names (the first page without one).
    async fn lookup_write_events(
        &self,
        session: &Session,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<&str>,
    ) -> Result<EventsPage, AccountsError>;
    /// The stacks of `region` that exist (deleted ones excluded).
    async fn cloudformation_stacks(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<CloudFormationStack>, AccountsError>;
    /// The resources of one stack; [`AccountsError::NotFound`] when it does not exist.
    async fn cloudformation_stack_resources(
        &self,
        session: &Session,
        region: &str,
        stack: &str,
    ) -> Result<Vec<CloudFormationResource>, AccountsError>;
    /// The resources of `region` carrying the tag `key` (with the value `value`, when given).
    async fn tagged_resources(
        &self,
        session: &Session,
        region: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<TaggedResource>, AccountsError>;
    /// The metric's average (CPU) or sum (bytes) over `[start, end)`; `None` without datapoints.
    async fn metric(
        &self,
        session: &Session,
        region: &str,
        metric: &Metric,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Option<f64>, AccountsError>;
}

/// The account id of `arn:aws:iam::123456789012:role/name`, if the ARN is a role ARN.
pub fn role_arn_account(role_arn: &str) -> Option<&str> {
    let mut parts = role_arn.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let valid = arn == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && is_account_id(account)
        && resource.starts_with("role/")
        && resource.len() > "role/".len();
    valid.then_some(account)
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_role_arns() {
        assert_eq!(
            role_arn_account("arn:aws:iam::123456789012:role/dd0c-readonly"),
            Some("123456789012")
        );
        assert_eq!(role_arn_account("arn:aws:iam::12345:role/x"), None);
        assert_eq!(role_arn_account("arn:aws:iam::123456789012:user/x"), None);
        assert_eq!(role_arn_account("arn:aws:s3:::bucket"), None);
    }
}
