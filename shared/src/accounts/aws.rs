//! The accounts port over the AWS SDK: STS AssumeRole with the tenant's ExternalId, then EC2,
//! RDS and CloudWatch clients on the temporary credentials.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::config::{Credentials, Region};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, TimeZone, Utc};

use super::*;

/// The accounts port on AWS. `sdk` is dd0c's own configuration (its credentials assume the
/// customer roles; in tests it points at moto).
pub struct AwsAccounts {
    sdk: SdkConfig,
    session_name: String,
}

impl AwsAccounts {
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sdk,
            session_name: "dd0c".into(),
        }
    }

    pub(crate) fn credentials(session: &Session) -> Result<Credentials, AccountsError> {
        let c = session
            .credentials
            .as_ref()
            .ok_or_else(|| AccountsError::Unavailable("the session has no credentials".into()))?;
        Ok(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.clone(),
            Some(c.session_token.clone()),
            None,
            "dd0c-assumed-role",
        ))
    }

    fn ec2(&self, session: &Session, region: &str) -> Result<aws_sdk_ec2::Client, AccountsError> {
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_ec2::Client::from_conf(conf))
    }

    async fn describe_instances(
        &self,
        session: &Session,
        region: &str,
        filter: Option<aws_sdk_ec2::types::Filter>,
    ) -> Result<Vec<Instance>, AccountsError> {
        let reservations: Vec<_> = self
            .ec2(session, region)?
            .describe_instances()
            .set_filters(filter.map(|f| vec![f]))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify_regional("ec2:DescribeInstances", region, e))?;
        Ok(reservations
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| Instance {
                instance_id: i.instance_id().unwrap_or_default().to_owned(),
                instance_type: i
                    .instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                state: i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_owned())
                    .unwrap_or_default(),
                platform: i.platform_details().map(str::to_owned),
                launch_time: i
                    .launch_time()
                    .and_then(|t| Utc.timestamp_opt(t.secs(), 0).single()),
                tenancy: i
                    .placement()
                    .and_then(|p| p.tenancy())
                    .map(|t| t.as_str().to_owned()),
                spot: i.instance_lifecycle().is_some_and(|l| l.as_str() == "spot"),
            })
            .collect())
    }

    fn rds(&self, session: &Session, region: &str) -> Result<aws_sdk_rds::Client, AccountsError> {
        let conf = aws_sdk_rds::config::Builder::from(&self.sdk)
            .region(aws_sdk_rds::config::Region::new(region.to_owned()))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_rds::Client::from_conf(conf))
    }

    fn cloudtrail(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<aws_sdk_cloudtrail::Client, AccountsError> {
        // No retries inside the SDK: the backfill paces and counts every request itself (2 per
        // second per account and region) and backs off from throttling on its own.
        let conf = aws_sdk_cloudtrail::config::Builder::from(&self.sdk)
            .region(aws_sdk_cloudtrail::config::Region::new(region.to_owned()))
            .credentials_provider(Self::credentials(session)?)
            .retry_config(aws_sdk_cloudtrail::config::retry::RetryConfig::disabled())
            .build();
        Ok(aws_sdk_cloudtrail::Client::from_conf(conf))
    }

    fn cloudwatch(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<aws_sdk_cloudwatch::Client, AccountsError> {
        let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
            .region(aws_sdk_cloudwatch::config::Region::new(region.to_owned()))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_cloudwatch::Client::from_conf(conf))
    }
    fn cloudformation(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<aws_sdk_cloudformation::Client, AccountsError> {
        let conf = aws_sdk_cloudformation::config::Builder::from(&self.sdk)
            .region(aws_sdk_cloudformation::config::Region::new(
                region.to_owned(),
            ))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_cloudformation::Client::from_conf(conf))
    }

    fn tagging(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<aws_sdk_resourcegroupstagging::Client, AccountsError> {
        let conf = aws_sdk_resourcegroupstagging::config::Builder::from(&self.sdk)
            .region(aws_sdk_resourcegroupstagging::config::Region::new(
                region.to_owned(),
            ))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_resourcegroupstagging::Client::from_conf(conf))
    }
}

const DENIED_CODES: [&str; 5] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
];

/// Maps an SDK error of a describe/metrics call: a denial names the missing action.
fn classify<E, R>(action: &str, err: SdkError<E, R>) -> AccountsError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or_default();
            let message = e.message().unwrap_or(code).to_owned();
            if DENIED_CODES.contains(&code) {
                AccountsError::MissingPermission {
                    action: action.to_owned(),
                    message,
                }
            } else {
                AccountsError::Unavailable(format!("{action}: {code}: {message}"))
            }
        }
        other => AccountsError::Unavailable(format!("{action}: {other:?}")),
    }
}

/// What AWS answers in a region the account has not enabled: the assumed role's token is
/// unknown there (CloudTrail, CloudFormation: `UnrecognizedClientException`; EC2 and RDS:
/// `AuthFailure`). The same session works in the account's other regions, so here it means the
/// region, not the credentials.
const REGION_NOT_ENABLED_CODES: [&str; 4] = [
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "OptInRequired",
    "AuthFailure",
];

const THROTTLED_CODES: [&str; 3] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
];

/// Maps an SDK error of a call that jobs make region by region (the backfill, the stack
/// discovery): throttling and a disabled region are told apart from other failures, because
/// the jobs answer each differently.
fn classify_regional<E, R>(action: &str, region: &str, err: SdkError<E, R>) -> AccountsError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(service) = &err {
        let code = service.err().code().unwrap_or_default();
        let message = service.err().message().unwrap_or(code).to_owned();
        if THROTTLED_CODES.contains(&code) {
            return AccountsError::Throttled(message);
        }
        if REGION_NOT_ENABLED_CODES.contains(&code) {
            return AccountsError::RegionNotEnabled(region.to_owned());
        }
    }
    classify(action, err)
}

fn to_smithy(t: DateTime<Utc>) -> aws_sdk_cloudwatch::primitives::DateTime {
    aws_sdk_cloudwatch::primitives::DateTime::from_secs(t.timestamp())
}

#[async_trait]
impl Accounts for AwsAccounts {
    async fn assume_role(
        &self,
        role_arn: &str,
        external_id: &str,
    ) -> Result<Session, AccountsError> {
        let account_id = role_arn_account(role_arn)
            .ok_or_else(|| AccountsError::InvalidRoleArn(role_arn.to_owned()))?
            .to_owned();
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        let out = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&self.session_name)
            .external_id(external_id)
            .duration_seconds(900)
            .send()
            .await
            .map_err(|err| match &err {
                SdkError::ServiceError(service) => {
                    let e = service.err();
                    let code = e.code().unwrap_or_default();
                    let message = e.message().unwrap_or(code).to_owned();
                    // AWS answers AccessDenied alike for a missing role, a trust policy that
                    // does not name dd0c, and a wrong ExternalId.
                    if DENIED_CODES.contains(&code) {
                        AccountsError::AssumeRoleDenied(message)
                    } else if code == "ValidationError" {
                        AccountsError::InvalidRoleArn(message)
                    } else {
                        AccountsError::Unavailable(format!("sts:AssumeRole: {code}: {message}"))
                    }
                }
                other => AccountsError::Unavailable(format!("sts:AssumeRole: {other:?}")),
            })?;
        let c = out.credentials().ok_or_else(|| {
            AccountsError::Unavailable("sts:AssumeRole returned no credentials".into())
        })?;
        Ok(Session {
            role_arn: role_arn.to_owned(),
            account_id,
            credentials: Some(SessionCredentials {
                access_key_id: c.access_key_id().to_owned(),
                secret_access_key: c.secret_access_key().to_owned(),
                session_token: c.session_token().to_owned(),
            }),
        })
    }

    async fn instances(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<Instance>, AccountsError> {
        self.describe_instances(session, region, None).await
    }

    async fn instances_by_id(
        &self,
        session: &Session,
        region: &str,
        ids: &[String],
    ) -> Result<Vec<Instance>, AccountsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A filter, not `InstanceIds`: EC2 fails the whole call when one id is unknown.
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("instance-id")
            .set_values(Some(ids.to_vec()))
            .build();
        self.describe_instances(session, region, Some(filter)).await
    }

    async fn volumes(&self, session: &Session, region: &str) -> Result<Vec<Volume>, AccountsError> {
        let volumes: Vec<_> = self
            .ec2(session, region)?
            .describe_volumes()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify_regional("ec2:DescribeVolumes", region, e))?;
        Ok(volumes
            .iter()
            .map(|v| Volume {
                volume_id: v.volume_id().unwrap_or_default().to_owned(),
                volume_type: v.volume_type().map(|t| t.as_str().to_owned()),
                size_gb: f64::from(v.size().unwrap_or(0)),
                iops: v.iops().map(f64::from),
                state: v.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            })
            .collect())
    }

    async fn addresses(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<Address>, AccountsError> {
        let out = self
            .ec2(session, region)?
            .describe_addresses()
            .send()
            .await
            .map_err(|e| classify_regional("ec2:DescribeAddresses", region, e))?;
        Ok(out
            .addresses()
            .iter()
            .map(|a| Address {
                allocation_id: a.allocation_id().map(str::to_owned),
                public_ip: a.public_ip().unwrap_or_default().to_owned(),
                association_id: a.association_id().map(str::to_owned),
            })
            .collect())
    }

    async fn db_instances(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<DbInstance>, AccountsError> {
        let dbs: Vec<_> = self
            .rds(session, region)?
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify_regional("rds:DescribeDBInstances", region, e))?;
        Ok(dbs
            .iter()
            .map(|d| DbInstance {
                identifier: d.db_instance_identifier().unwrap_or_default().to_owned(),
                class: d.db_instance_class().unwrap_or_default().to_owned(),
                engine: d.engine().unwrap_or_default().to_owned(),
                status: d.db_instance_status().unwrap_or_default().to_owned(),
                storage_type: d.storage_type().map(str::to_owned),
                allocated_storage_gb: f64::from(d.allocated_storage().unwrap_or(0)),
                multi_az: d.multi_az().unwrap_or(false),
            })
            .collect())
    }

    async fn nat_gateways(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<NatGateway>, AccountsError> {
        let gateways: Vec<_> = self
            .ec2(session, region)?
            .describe_nat_gateways()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify_regional("ec2:DescribeNatGateways", region, e))?;
        Ok(gateways
            .iter()
            .map(|n| NatGateway {
                nat_gateway_id: n.nat_gateway_id().unwrap_or_default().to_owned(),
                state: n.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            })
            .collect())
    }

    async fn lookup_write_events(
        &self,
        session: &Session,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        next_token: Option<&str>,
    ) -> Result<EventsPage, AccountsError> {
        let writes = aws_sdk_cloudtrail::types::LookupAttribute::builder()
            .attribute_key(aws_sdk_cloudtrail::types::LookupAttributeKey::ReadOnly)
            .attribute_value("false")
            .build()
            .map_err(|e| AccountsError::Unavailable(format!("cloudtrail:LookupEvents: {e}")))?;
        let out = self
            .cloudtrail(session, region)?
            .lookup_events()
            .lookup_attributes(writes)
            .start_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(
                start.timestamp(),
            ))
            .end_time(aws_sdk_cloudtrail::primitives::DateTime::from_secs(
                end.timestamp(),
            ))
            .max_results(LOOKUP_PAGE_SIZE as i32)
            .set_next_token(next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify_regional("cloudtrail:LookupEvents", region, e))?;
        Ok(EventsPage {
            events: out
                .events()
                .iter()
                .filter_map(|e| e.cloud_trail_event().map(str::to_owned))
                .collect(),
            next_token: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }

    async fn cloudformation_stacks(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<CloudFormationStack>, AccountsError> {
        use aws_sdk_cloudformation::types::StackStatus;
        let live: Vec<StackStatus> = StackStatus::values()
            .iter()
            .filter(|s| **s != "DELETE_COMPLETE")
            .map(|s| StackStatus::from(*s))
            .collect();
        let summaries: Vec<_> = self
            .cloudformation(session, region)?
            .list_stacks()
            .set_stack_status_filter(Some(live))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify_regional("cloudformation:ListStacks", region, e))?;
        Ok(summaries
            .iter()
            .filter_map(|s| {
                Some(CloudFormationStack {
                    name: s.stack_name()?.to_owned(),
                    status: s
                        .stack_status()
                        .map(|st| st.as_str().to_owned())
                        .unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn cloudformation_stack_resources(
        &self,
        session: &Session,
        region: &str,
        stack: &str,
    ) -> Result<Vec<CloudFormationResource>, AccountsError> {
        let resources: Vec<_> = self
            .cloudformation(session, region)?
            .list_stack_resources()
            .stack_name(stack)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| {
                // CloudFormation answers a stack that does not exist with a ValidationError.
                let gone = matches!(&e, SdkError::ServiceError(s)
                    if s.err().code() == Some("ValidationError")
                        && s.err().message().is_some_and(|m| m.contains("does not exist")));
                if gone {
                    AccountsError::NotFound(format!("stack {stack} in {region}"))
                } else {
                    classify_regional("cloudformation:ListStackResources", region, e)
                }
            })?;
        Ok(resources
            .iter()
            .filter_map(|r| {
                Some(CloudFormationResource {
                    logical_id: r.logical_resource_id()?.to_owned(),
                    resource_type: r.resource_type()?.to_owned(),
                    physical_id: r
                        .physical_resource_id()
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned),
                })
            })
            .collect())
    }

    async fn tagged_resources(
        &self,
        session: &Session,
        region: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<TaggedResource>, AccountsError> {
        let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
            .key(key)
            .set_values(value.map(|v| vec![v.to_owned()]))
            .build();
        let mappings: Vec<_> = self
            .tagging(session, region)?
            .get_resources()
            .tag_filters(filter)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify_regional("tag:GetResources", region, e))?;
        Ok(mappings
            .iter()
            .filter_map(|m| {
                Some(TaggedResource {
                    arn: m.resource_arn()?.to_owned(),
                    tags: m
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().to_owned()))
                        .collect(),
                })
            })
            .collect())
    }

    async fn metric(
        &self,
        session: &Session,
        region: &str,
        metric: &Metric,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Option<f64>, AccountsError> {
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};
        let (namespace, name, dimension, id, statistic) = match metric {
            Metric::InstanceCpu(id) => (
                "AWS/EC2",
                "CPUUtilization",
                "InstanceId",
                id,
                Statistic::Average,
            ),
            Metric::NatBytesOut(id) => (
                "AWS/NATGateway",
                "BytesOutToDestination",
                "NatGatewayId",
                id,
                Statistic::Sum,
            ),
        };
        let out = self
            .cloudwatch(session, region)?
            .get_metric_statistics()
            .namespace(namespace)
            .metric_name(name)
            .dimensions(Dimension::builder().name(dimension).value(id).build())
            .start_time(to_smithy(start))
            .end_time(to_smithy(end))
            .period(86_400)
            .statistics(statistic.clone())
            .send()
            .await
            .map_err(|e| classify_regional("cloudwatch:GetMetricStatistics", region, e))?;
        let points = out.datapoints();
        if points.is_empty() {
            return Ok(None);
        }
        Ok(Some(match statistic {
            Statistic::Sum => points.iter().filter_map(|p| p.sum()).sum(),
            _ => {
                let values: Vec<f64> = points.iter().filter_map(|p| p.average()).collect();
                if values.is_empty() {
                    return Ok(None);
                }
                values.iter().sum::<f64>() / values.len() as f64
            }
        }))
    }
}
