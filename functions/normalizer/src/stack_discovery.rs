//! Ownership of existing infrastructure, known within minutes of connecting: the account's
//! CloudFormation stacks and their resources, and the resources carrying a stack's ownership
//! tags, read through the read-only role and stored as managed resources, so that the first
//! console change to a resource no IaC has touched since dd0c connected is drift. Read on
//! connect for every region, and again for one stack when CloudTrail shows it created,
//! updated or changed by a change set. `docs/decisions/0430-stack-discovery.md`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::accounts::{
    Accounts, AccountsError, CloudFormationResource, Session, TaggedResource, COMMERCIAL_REGIONS,
};
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, Envelope};
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::drift::{
    cloudformation_resource, resource_of_arn, ManagedBy, ManagedResource, DISCOVERY_IDENTITY,
};
use dd0c_shared::domain::stack_discovery::{StackDiscoveryStep, STACK_DISCOVERY_DETAIL_TYPE};
use dd0c_shared::domain::{CloudTrailRecord, IacTool};
use dd0c_shared::entity::{resource, stack};
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};

/// The CloudFormation calls after which a stack's resources are read again. `CreateStack`
/// and `UpdateStack` also show in the resources' own CloudTrail events (CloudFormation's
/// writes carry its stack tag); an import change set (`ExecuteChangeSet`) adopts existing
/// resources without writing to them, so only reading the stack shows it.
const STACK_CHANGING_CALLS: [&str; 3] = ["CreateStack", "UpdateStack", "ExecuteChangeSet"];

/// The step that reads a stack again after `record` changed it, if it did.
pub fn refresh_step(record: &CloudTrailRecord, link: &AccountLink) -> Option<StackDiscoveryStep> {
    if record.event_source != "cloudformation.amazonaws.com"
        || record.error_code.is_some()
        || !STACK_CHANGING_CALLS.contains(&record.event_name.as_str())
    {
        return None;
    }
    // `stackName` is a name or a stack ARN (`arn:…:stack/<name>/<uuid>`); a change set named
    // by its ARN alone names no stack, and the whole region is read again.
    let stack = record
        .request()
        .get("stackName")
        .and_then(|v| v.as_str())
        .map(|s| match s.split_once(":stack/") {
            Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
            None => s,
        })
        .filter(|s| !s.is_empty());
    Some(StackDiscoveryStep::of(
        &link.tenant_id,
        &link.account_id,
        &record.aws_region,
        stack,
    ))
}

/// What one step of a region found (logged, and returned to tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiscoveryReport {
    pub stacks: usize,
    /// Resources newly recorded as managed (a re-read rewrites its own records).
    pub managed: usize,
    /// Resources already known from an IaC change CloudTrail showed (kept as they are).
    pub already_managed: usize,
    /// Resources of types the drift tracker does not follow.
    pub untracked: usize,
}

pub struct StackDiscovery {
    table: Arc<dyn Table>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    accounts: Arc<dyn Accounts>,
}

impl StackDiscovery {
    pub fn new(
        table: Arc<dyn Table>,
        bus: Arc<dyn Bus>,
        clock: SharedClock,
        accounts: Arc<dyn Accounts>,
    ) -> Self {
        Self {
            table,
            bus,
            clock,
            accounts,
        }
    }

    /// Runs one step: the start (a step per region), a region, or one stack.
    pub async fn step(&self, step: &StackDiscoveryStep) -> Result<DiscoveryReport, HandlerError> {
        let link = tenancy::account_link(self.table.as_ref(), &step.account_id).await?;
        let Some(link) =
            link.filter(|l| l.tenant_id == step.tenant_id && l.status == AccountStatus::Active)
        else {
            tracing::info!(account = %step.account_id, "stack discovery: account not connected; step dropped");
            return Ok(DiscoveryReport::default());
        };
        let Some(region) = &step.region else {
            let regions = COMMERCIAL_REGIONS
                .iter()
                .map(|r| StackDiscoveryStep::of(&step.tenant_id, &step.account_id, r, None).event())
                .collect();
            self.bus.publish(regions).await?;
            return Ok(DiscoveryReport::default());
        };
        let session = match self.session(&link).await {
            Ok(session) => session,
            Err(e) => return settle(e, region),
        };
        let result = match &step.stack {
            None => self.region(&session, &link, region).await,
            Some(name) => self.stack(&session, &link, region, name).await,
        };
        match result {
            Ok(report) => {
                tracing::info!(account = %link.account_id, region, stack = ?step.stack, ?report, "stack discovery step");
                Ok(report)
            }
            Err(Failure::Accounts(e)) => settle(e, region),
            Err(Failure::Handler(e)) => Err(e),
        }
    }

    async fn session(&self, link: &AccountLink) -> Result<Session, AccountsError> {
        let (Some(role), Some(external_id)) = (&link.role_arn, &link.external_id) else {
            return Err(AccountsError::AssumeRoleDenied(
                "the account has no verified role".into(),
            ));
        };
        self.accounts.assume_role(role, external_id).await
    }

    /// Lists the region's stacks (a step each, so that no step reads more than one stack)
    /// and records the resources carrying the account's stacks' ownership tags.
    async fn region(
        &self,
        session: &Session,
        link: &AccountLink,
        region: &str,
    ) -> Result<DiscoveryReport, Failure> {
        let stacks = self.accounts.cloudformation_stacks(session, region).await?;
        let steps = stacks
            .iter()
            .map(|s| {
                StackDiscoveryStep::of(&link.tenant_id, &link.account_id, region, Some(&s.name))
                    .event()
            })
            .collect::<Vec<_>>();
        if !steps.is_empty() {
            self.bus.publish(steps).await.map_err(HandlerError::from)?;
        }
        let mut report = DiscoveryReport {
            stacks: stacks.len(),
            ..DiscoveryReport::default()
        };
        let owners = stack::list_stacks(self.table.as_ref(), &link.tenant_id).await?;
        for owner in owners.iter().filter(|s| {
            !s.ownership_tags.is_empty()
                && (s.account_id.is_empty() || s.account_id == link.account_id)
        }) {
            let tool = tool_of(owner);
            for (key, value) in &owner.ownership_tags {
                let tagged = self
                    .accounts
                    .tagged_resources(session, region, key, Some(value))
                    .await?;
                for TaggedResource { arn, tags } in tagged {
                    match resource_of_arn(&arn) {
                        Some((resource_type, id)) => {
                            let managed = discovered(
                                link,
                                resource_type,
                                id,
                                tool,
                                &owner.stack_id,
                                None,
                                tags,
                                self.clock.now(),
                            );
                            report.record(self.import(&managed).await?);
                        }
                        None => report.untracked += 1,
                    }
                }
            }
        }
        Ok(report)
    }

    /// Records one CloudFormation stack's resources as managed by it.
    async fn stack(
        &self,
        session: &Session,
        link: &AccountLink,
        region: &str,
        name: &str,
    ) -> Result<DiscoveryReport, Failure> {
        if !stack::valid_id(name) {
            // CloudFormation names run to 128 characters; dd0c's stack ids to 64.
            tracing::warn!(
                stack = name,
                "stack discovery: stack name too long for a stack id; skipped"
            );
            return Ok(DiscoveryReport::default());
        }
        let resources = match self
            .accounts
            .cloudformation_stack_resources(session, region, name)
            .await
        {
            Ok(resources) => resources,
            // Deleted since it was named: nothing to own.
            Err(AccountsError::NotFound(_)) => return Ok(DiscoveryReport::default()),
            Err(e) => return Err(e.into()),
        };
        let now = self.clock.now();
        stack::ensure_discovered_stack(
            self.table.as_ref(),
            &link.tenant_id,
            name,
            &link.account_id,
            region,
            now,
        )
        .await
        .map_err(HandlerError::from)?;
        let mut report = DiscoveryReport {
            stacks: 1,
            ..DiscoveryReport::default()
        };
        for CloudFormationResource {
            logical_id,
            resource_type,
            physical_id,
        } in resources
        {
            let Some((resource_type, id)) = physical_id
                .as_deref()
                .and_then(|p| cloudformation_resource(&resource_type, p))
            else {
                report.untracked += 1;
                continue;
            };
            let managed = discovered(
                link,
                resource_type,
                id,
                IacTool::CloudFormation,
                name,
                Some(logical_id),
                BTreeMap::new(),
                now,
            );
            report.record(self.import(&managed).await?);
        }
        Ok(report)
    }

    async fn import(&self, managed: &ManagedResource) -> Result<bool, HandlerError> {
        Ok(resource::import_managed_resource(self.table.as_ref(), managed).await?)
    }
}

impl DiscoveryReport {
    fn record(&mut self, written: bool) {
        if written {
            self.managed += 1;
        } else {
            self.already_managed += 1;
        }
    }
}

/// A resource managed on the word of what the account says (its stack's resources, its
/// ownership tag): like a state import, the first IaC change CloudTrail shows replaces it.
#[allow(clippy::too_many_arguments)]
fn discovered(
    link: &AccountLink,
    resource_type: &str,
    resource_id: String,
    tool: IacTool,
    stack: &str,
    address: Option<String>,
    tags: BTreeMap<String, String>,
    now: chrono::DateTime<chrono::Utc>,
) -> ManagedResource {
    let managed_by = ManagedBy {
        tool: Some(tool),
        identity: DISCOVERY_IDENTITY.into(),
        stack: Some(stack.to_owned()),
    };
    ManagedResource {
        address,
        tags,
        ..ManagedResource::imported(
            &link.tenant_id,
            &link.account_id,
            resource_type,
            resource_id,
            managed_by,
            now,
        )
    }
}

/// The tool a stack is applied with: the one seen applying it, else the declared one.
fn tool_of(stack: &stack::Stack) -> IacTool {
    stack
        .tool
        .or_else(|| serde_json::from_value(serde_json::Value::String(stack.iac_tool_name())).ok())
        .unwrap_or(IacTool::Terraform)
}

/// Why a step stopped.
enum Failure {
    Accounts(AccountsError),
    Handler(HandlerError),
}

impl From<AccountsError> for Failure {
    fn from(e: AccountsError) -> Self {
        Failure::Accounts(e)
    }
}

impl From<HandlerError> for Failure {
    fn from(e: HandlerError) -> Self {
        Failure::Handler(e)
    }
}

impl From<dd0c_shared::store::StoreError> for Failure {
    fn from(e: dd0c_shared::store::StoreError) -> Self {
        Failure::Handler(e.into())
    }
}

/// What an account's answer means for the step: a region the account has not enabled has
/// nothing to read; a role without the permissions (a stack from an older template) or no
/// longer assumable is logged, not retried (the account's health shows it); AWS being
/// unavailable or throttling comes back later.
fn settle(e: AccountsError, region: &str) -> Result<DiscoveryReport, HandlerError> {
    match e {
        AccountsError::RegionNotEnabled(_) | AccountsError::NotFound(_) => {
            Ok(DiscoveryReport::default())
        }
        AccountsError::Throttled(m) | AccountsError::Unavailable(m) => Err(
            HandlerError::transient(format!("stack discovery in {region}: {m}")),
        ),
        e @ (AccountsError::MissingPermission { .. }
        | AccountsError::AssumeRoleDenied(_)
        | AccountsError::ExternalIdMismatch
        | AccountsError::InvalidRoleArn(_)) => {
            tracing::warn!(region, error = %e, "stack discovery: not readable; skipped");
            Ok(DiscoveryReport::default())
        }
    }
}

#[async_trait]
impl MessageHandler for StackDiscovery {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != STACK_DISCOVERY_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let step: StackDiscoveryStep =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        self.step(&step).await.map(|_| ())
    }
}
