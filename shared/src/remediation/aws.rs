//! The remediation port over the AWS SDK: STS AssumeRole of the account's remediation role
//! with the tenant's ExternalId, then exactly one write call per request on its temporary
//! credentials (`cloudformation/test_role_actions.py` compares these calls with the role's
//! allowed actions).

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{InstanceStateName, IpPermission, IpRange, Ipv6Range};

use super::*;
use crate::accounts::aws::AwsAccounts;
use crate::accounts::{Accounts, AccountsError, Session};

/// The remediation port on AWS. `sdk` is dd0c's own configuration (its credentials assume the
/// customer roles; in tests it points at moto).
pub struct AwsRemediator {
    sdk: SdkConfig,
    sts: AwsAccounts,
}

impl AwsRemediator {
    pub fn new(sdk: SdkConfig) -> Self {
        Self {
            sts: AwsAccounts::new(sdk.clone()),
            sdk,
        }
    }

    fn credentials(
        session: &Session,
    ) -> Result<aws_sdk_ec2::config::Credentials, RemediationError> {
        AwsAccounts::credentials(session).map_err(|e| RemediationError::Failed(e.to_string()))
    }

    fn ec2(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<aws_sdk_ec2::Client, RemediationError> {
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_ec2::Client::from_conf(conf))
    }

    fn rds(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<aws_sdk_rds::Client, RemediationError> {
        let conf = aws_sdk_rds::config::Builder::from(&self.sdk)
            .region(aws_sdk_rds::config::Region::new(region.to_owned()))
            .credentials_provider(Self::credentials(session)?)
            .build();
        Ok(aws_sdk_rds::Client::from_conf(conf))
    }

    async fn apply(
        &self,
        session: &Session,
        request: &RemediationRequest,
    ) -> Result<Applied, RemediationError> {
        match request {
            RemediationRequest::StopInstances {
                region,
                instance_ids,
            } => {
                let out = self
                    .ec2(session, region)?
                    .stop_instances()
                    .set_instance_ids(Some(instance_ids.clone()))
                    .send()
                    .await
                    .map_err(|e| classify("ec2:StopInstances", e))?;
                let was_stopped = |name: Option<&InstanceStateName>| {
                    matches!(
                        name,
                        Some(InstanceStateName::Stopped | InstanceStateName::Stopping)
                    )
                };
                let changes = out.stopping_instances();
                Ok(
                    if !changes.is_empty()
                        && changes
                            .iter()
                            .all(|c| was_stopped(c.previous_state().and_then(|s| s.name())))
                    {
                        Applied::AlreadyDone
                    } else {
                        Applied::Done
                    },
                )
            }
            RemediationRequest::RevokeIngress {
                region,
                group_id,
                rule,
            } => {
                let mut permission = IpPermission::builder()
                    .ip_protocol(&rule.protocol)
                    .set_from_port(rule.from_port)
                    .set_to_port(rule.to_port);
                permission = if rule.cidr.contains(':') {
                    permission.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(&rule.cidr).build())
                } else {
                    permission.ip_ranges(IpRange::builder().cidr_ip(&rule.cidr).build())
                };
                let out = self
                    .ec2(session, region)?
                    .revoke_security_group_ingress()
                    .group_id(group_id)
                    .ip_permissions(permission.build())
                    .send()
                    .await;
                match out {
                    // EC2 lists the rules it did not find instead of failing.
                    Ok(out) if !out.unknown_ip_permissions().is_empty() => Ok(Applied::AlreadyDone),
                    Ok(_) => Ok(Applied::Done),
                    Err(e) => match classify("ec2:RevokeSecurityGroupIngress", e) {
                        RemediationError::NotFound(m) if m.starts_with("InvalidPermission") => {
                            Ok(Applied::AlreadyDone)
                        }
                        other => Err(other),
                    },
                }
            }
            RemediationRequest::MakeDbPrivate {
                region,
                db_instance,
            } => {
                // Only these two fields: nothing else of the instance is touched.
                self.rds(session, region)?
                    .modify_db_instance()
                    .db_instance_identifier(db_instance)
                    .publicly_accessible(false)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| classify("rds:ModifyDBInstance", e))?;
                Ok(Applied::Done)
            }
        }
    }
}

const DENIED_CODES: [&str; 4] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
];

const NOT_FOUND_CODES: [&str; 6] = [
    "InvalidInstanceID.NotFound",
    "InvalidInstanceID.Malformed",
    "InvalidGroup.NotFound",
    "InvalidGroupId.Malformed",
    "InvalidPermission.NotFound",
    "DBInstanceNotFound",
];

const INVALID_STATE_CODES: [&str; 3] = [
    "IncorrectInstanceState",
    "UnsupportedOperation",
    "InvalidDBInstanceState",
];

/// Maps an SDK error of a remediation call: a denial names the action.
fn classify<E, R>(action: &str, err: SdkError<E, R>) -> RemediationError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or_default();
            let message = e.message().unwrap_or(code).to_owned();
            let code_is = |codes: &[&str]| codes.iter().any(|c| code.starts_with(c));
            if code_is(&DENIED_CODES) {
                RemediationError::Denied {
                    action: action.to_owned(),
                    message,
                }
            } else if code_is(&NOT_FOUND_CODES) {
                RemediationError::NotFound(format!("{code}: {message}"))
            } else if code_is(&INVALID_STATE_CODES) {
                RemediationError::InvalidState(format!("{code}: {message}"))
            } else {
                RemediationError::Failed(format!("{action}: {code}: {message}"))
            }
        }
        other => RemediationError::Failed(format!("{action}: {other:?}")),
    }
}

#[async_trait]
impl Remediator for AwsRemediator {
    async fn remediate(
        &self,
        role: &RemediationRole,
        request: &RemediationRequest,
    ) -> Result<Applied, RemediationError> {
        let session = self
            .sts
            .assume_role(&role.role_arn, &role.external_id)
            .await
            .map_err(|e| match e {
                AccountsError::AssumeRoleDenied(_)
                | AccountsError::InvalidRoleArn(_)
                | AccountsError::ExternalIdMismatch => {
                    RemediationError::AssumeRoleDenied(e.to_string())
                }
                other => RemediationError::Failed(other.to_string()),
            })?;
        self.apply(&session, request).await
    }
}
