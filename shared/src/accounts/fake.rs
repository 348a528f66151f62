//! A scripted accounts port: resources and failures set by the test (or the demo), so every
//! failure path (ExternalId mismatch, which moto cannot show) is testable.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;

#[derive(Debug, Clone, Default)]
pub struct ScriptedAccount {
    /// The ExternalId the role's trust policy requires.
    pub external_id: String,
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
    pub addresses: Vec<Address>,
    pub db_instances: Vec<DbInstance>,
    pub nat_gateways: Vec<NatGateway>,
    pub metrics: HashMap<Metric, f64>,
    /// Describe calls that answer AccessDenied (e.g. `ec2:DescribeVolumes`).
    pub denied_actions: Vec<String>,
}

/// Roles by ARN; an unknown ARN is denied as AWS denies it.
#[derive(Default)]
pub struct ScriptedAccounts {
    roles: Mutex<HashMap<String, ScriptedAccount>>,
    /// Every AssumeRole call: (role ARN, ExternalId).
    pub calls: Mutex<Vec<(String, String)>>,
}

impl ScriptedAccounts {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_role(self, role_arn: &str, account: ScriptedAccount) -> Self {
        self.add_role(role_arn, account);
        self
    }

    pub fn add_role(&self, role_arn: &str, account: ScriptedAccount) {
        if let Ok(mut roles) = self.roles.lock() {
            roles.insert(role_arn.to_owned(), account);
        }
    }

    fn account(&self, session: &Session) -> Result<ScriptedAccount, AccountsError> {
        self.roles
            .lock()
            .map_err(|_| AccountsError::Unavailable("fake poisoned".into()))?
            .get(&session.role_arn)
            .cloned()
            .ok_or_else(|| AccountsError::AssumeRoleDenied("no such role".into()))
    }

    fn check(account: &ScriptedAccount, action: &str) -> Result<(), AccountsError> {
        if account.denied_actions.iter().any(|a| a == action) {
            return Err(AccountsError::MissingPermission {
                action: action.to_owned(),
                message: format!("not authorized to perform: {action}"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Accounts for ScriptedAccounts {
    async fn assume_role(
        &self,
        role_arn: &str,
        external_id: &str,
    ) -> Result<Session, AccountsError> {
        let account_id = role_arn_account(role_arn)
            .ok_or_else(|| AccountsError::InvalidRoleArn(role_arn.to_owned()))?
            .to_owned();
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((role_arn.to_owned(), external_id.to_owned()));
        }
        let roles = self
            .roles
            .lock()
            .map_err(|_| AccountsError::Unavailable("fake poisoned".into()))?;
        let role = roles.get(role_arn).ok_or_else(|| {
            AccountsError::AssumeRoleDenied(format!(
                "not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            ))
        })?;
        if role.external_id != external_id {
            return Err(AccountsError::ExternalIdMismatch);
        }
        Ok(Session {
            role_arn: role_arn.to_owned(),
            account_id,
            credentials: None,
        })
    }

    async fn instances(
        &self,
        session: &Session,
        _region: &str,
    ) -> Result<Vec<Instance>, AccountsError> {
        let a = self.account(session)?;
        Self::check(&a, "ec2:DescribeInstances")?;
        Ok(a.instances)
    }

    async fn volumes(
        &self,
        session: &Session,
        _region: &str,
    ) -> Result<Vec<Volume>, AccountsError> {
        let a = self.account(session)?;
        Self::check(&a, "ec2:DescribeVolumes")?;
        Ok(a.volumes)
    }

    async fn addresses(
        &self,
        session: &Session,
        _region: &str,
    ) -> Result<Vec<Address>, AccountsError> {
        let a = self.account(session)?;
        Self::check(&a, "ec2:DescribeAddresses")?;
        Ok(a.addresses)
    }

    async fn db_instances(
        &self,
        session: &Session,
        _region: &str,
    ) -> Result<Vec<DbInstance>, AccountsError> {
        let a = self.account(session)?;
        Self::check(&a, "rds:DescribeDBInstances")?;
        Ok(a.db_instances)
    }

    async fn nat_gateways(
        &self,
        session: &Session,
        _region: &str,
    ) -> Result<Vec<NatGateway>, AccountsError> {
        let a = self.account(session)?;
        Self::check(&a, "ec2:DescribeNatGateways")?;
        Ok(a.nat_gateways)
    }

    async fn metric(
        &self,
        session: &Session,
        _region: &str,
        metric: &Metric,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Option<f64>, AccountsError> {
        let a = self.account(session)?;
        Self::check(&a, "cloudwatch:GetMetricStatistics")?;
        Ok(a.metrics.get(metric).copied())
    }
}
