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
    /// The account's CloudTrail history (records as JSON, any region, any order), which
    /// LookupEvents pages through.
    pub trail: Vec<String>,
    /// Regions the account has not enabled.
    pub disabled_regions: Vec<String>,
    /// Regions whose describe and metric calls answer `ThrottlingException`.
    pub throttled_regions: Vec<String>,
    /// CloudFormation stacks, by region.
    pub stacks: Vec<ScriptedStack>,
    /// Tagged resources (the Resource Groups Tagging API's view), by region.
    pub tagged: Vec<(String, TaggedResource)>,
}

/// A CloudFormation stack of a scripted account.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedStack {
    pub region: String,
    pub stack: CloudFormationStack,
    pub resources: Vec<CloudFormationResource>,
}

/// One LookupEvents call as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub region: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub next_token: Option<String>,
    /// When it was made, on the clock given with [`ScriptedAccounts::with_clock`].
    pub at: Option<DateTime<Utc>>,
}

/// Roles by ARN; an unknown ARN is denied as AWS denies it.
#[derive(Default)]
pub struct ScriptedAccounts {
    roles: Mutex<HashMap<String, ScriptedAccount>>,
    /// Every AssumeRole call: (role ARN, ExternalId).
    pub calls: Mutex<Vec<(String, String)>>,
    /// Every LookupEvents call, throttled ones included.
    pub lookups: Mutex<Vec<Lookup>>,
    /// How many of the next LookupEvents calls answer `ThrottlingException`.
    throttle_next: Mutex<usize>,
    /// Events per LookupEvents page (0: AWS's 50).
    page_size: usize,
    clock: Option<crate::clock::SharedClock>,
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

    /// Pages of `size` events instead of AWS's 50 (tests page through small histories).
    pub fn with_page_size(mut self, size: usize) -> Self {
        self.page_size = size;
        self
    }

    /// LookupEvents calls are timed on `clock` (rate-limit tests).
    pub fn with_clock(mut self, clock: crate::clock::SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The next `n` LookupEvents calls answer `ThrottlingException`.
    pub fn throttle_next(&self, n: usize) {
        if let Ok(mut t) = self.throttle_next.lock() {
            *t = n;
        }
    }

    pub fn lookups(&self) -> Vec<Lookup> {
        self.lookups.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn account(&self, session: &Session) -> Result<ScriptedAccount, AccountsError> {
        self.roles
            .lock()
            .map_err(|_| AccountsError::Unavailable("fake poisoned".into()))?
            .get(&session.role_arn)
            .cloned()
            .ok_or_else(|| AccountsError::AssumeRoleDenied("no such role".into()))
    }

    /// The account of a call made in `region`: not enabled there, throttled, or denied
    /// `action`.
    fn regional(
        &self,
        session: &Session,
        region: &str,
        action: &str,
    ) -> Result<ScriptedAccount, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, action)?;
        Ok(a)
    }

    /// What AWS answers a describe or metric call in a region the account has not enabled
    /// (or one scripted to throttle).
    fn check_region(account: &ScriptedAccount, region: &str) -> Result<(), AccountsError> {
        if account.disabled_regions.iter().any(|r| r == region) {
            return Err(AccountsError::RegionNotEnabled(region.to_owned()));
        }
        if account.throttled_regions.iter().any(|r| r == region) {
            return Err(AccountsError::Throttled("Rate exceeded".into()));
        }
        Ok(())
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
        region: &str,
    ) -> Result<Vec<Instance>, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, "ec2:DescribeInstances")?;
        Ok(a.instances)
    }

    async fn volumes(&self, session: &Session, region: &str) -> Result<Vec<Volume>, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, "ec2:DescribeVolumes")?;
        Ok(a.volumes)
    }

    async fn addresses(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<Address>, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, "ec2:DescribeAddresses")?;
        Ok(a.addresses)
    }

    async fn db_instances(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<DbInstance>, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, "rds:DescribeDBInstances")?;
        Ok(a.db_instances)
    }

    async fn nat_gateways(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<NatGateway>, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, "ec2:DescribeNatGateways")?;
        Ok(a.nat_gateways)
    }

    async fn cloudformation_stacks(
        &self,
        session: &Session,
        region: &str,
    ) -> Result<Vec<CloudFormationStack>, AccountsError> {
        let a = self.regional(session, region, "cloudformation:ListStacks")?;
        Ok(a.stacks
            .iter()
            .filter(|s| s.region == region)
            .map(|s| s.stack.clone())
            .collect())
    }

    async fn cloudformation_stack_resources(
        &self,
        session: &Session,
        region: &str,
        stack: &str,
    ) -> Result<Vec<CloudFormationResource>, AccountsError> {
        let a = self.regional(session, region, "cloudformation:ListStackResources")?;
        a.stacks
            .iter()
            .find(|s| s.region == region && s.stack.name == stack)
            .map(|s| s.resources.clone())
            .ok_or_else(|| AccountsError::NotFound(format!("stack {stack} in {region}")))
    }

    async fn tagged_resources(
        &self,
        session: &Session,
        region: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<Vec<TaggedResource>, AccountsError> {
        let a = self.regional(session, region, "tag:GetResources")?;
        Ok(a.tagged
            .iter()
            .filter(|(r, t)| {
                r == region
                    && t.tags
                        .get(key)
                        .is_some_and(|v| value.is_none_or(|w| v == w))
            })
            .map(|(_, t)| t.clone())
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
        if let Ok(mut lookups) = self.lookups.lock() {
            lookups.push(Lookup {
                region: region.to_owned(),
                start,
                end,
                next_token: next_token.map(str::to_owned),
                at: self.clock.as_ref().map(|c| c.now()),
            });
        }
        if let Ok(mut throttled) = self.throttle_next.lock() {
            if *throttled > 0 {
                *throttled -= 1;
                return Err(AccountsError::Throttled("Rate exceeded".into()));
            }
        }
        let a = self.account(session)?;
        if a.disabled_regions.iter().any(|r| r == region) {
            return Err(AccountsError::RegionNotEnabled(region.to_owned()));
        }
        Self::check(&a, "cloudtrail:LookupEvents")?;
        // AWS's order (newest first) and its `ReadOnly` = `false` lookup attribute.
        let mut events: Vec<(DateTime<Utc>, String)> = a
            .trail
            .iter()
            .filter_map(|raw| {
                let v: serde_json::Value = serde_json::from_str(raw).ok()?;
                let time = v
                    .get("eventTime")?
                    .as_str()?
                    .parse::<DateTime<Utc>>()
                    .ok()?;
                let in_region = v.get("awsRegion")?.as_str()? == region;
                let read_only =
                    v.get("readOnly").and_then(serde_json::Value::as_bool) == Some(true);
                (in_region && !read_only && time >= start && time <= end)
                    .then(|| (time, raw.clone()))
            })
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.0));
        let offset = match next_token {
            None => 0,
            Some(t) => t
                .strip_prefix("page-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    AccountsError::Unavailable(format!("InvalidNextTokenException: {t}"))
                })?,
        };
        let size = if self.page_size == 0 {
            LOOKUP_PAGE_SIZE
        } else {
            self.page_size
        };
        let end_of_page = (offset + size).min(events.len());
        Ok(EventsPage {
            events: events
                .get(offset..end_of_page)
                .unwrap_or_default()
                .iter()
                .map(|(_, raw)| raw.clone())
                .collect(),
            next_token: (end_of_page < events.len()).then(|| format!("page-{end_of_page}")),
        })
    }

    async fn metric(
        &self,
        session: &Session,
        region: &str,
        metric: &Metric,
        _start: DateTime<Utc>,
        _end: DateTime<Utc>,
    ) -> Result<Option<f64>, AccountsError> {
        let a = self.account(session)?;
        Self::check_region(&a, region)?;
        Self::check(&a, "cloudwatch:GetMetricStatistics")?;
        Ok(a.metrics.get(metric).copied())
    }
}
