//! The remediation port in memory: an account's instances, security group rules and database
//! accessibility, for unit tests and the embedded mode (`dd0c serve`). It answers as AWS does:
//! a stopped instance is already done, an unknown id is not found, a role it does not know
//! (or with another ExternalId) cannot be assumed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;

#[derive(Default)]
struct Account {
    /// instance id → state (`running`, `stopped`, `terminated`).
    instances: BTreeMap<String, String>,
    /// (group id, rule) pairs that exist.
    rules: Vec<(String, IngressRule)>,
    /// DB identifier → publicly accessible.
    databases: BTreeMap<String, bool>,
}

#[derive(Default)]
pub struct EmbeddedRemediator {
    /// role ARN → the ExternalId it requires.
    roles: Mutex<BTreeMap<String, String>>,
    account: Mutex<Account>,
    /// Kinds the role is not allowed (as if the customer edited the role).
    denied: Mutex<BTreeSet<RemediationKind>>,
    calls: Mutex<Vec<RemediationRequest>>,
}

impl EmbeddedRemediator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `role_arn` with `external_id`.
    pub fn with_role(self, role_arn: &str, external_id: &str) -> Self {
        self.roles
            .lock()
            .expect("roles")
            .insert(role_arn.into(), external_id.into());
        self
    }

    pub fn with_instance(self, id: &str, state: &str) -> Self {
        self.account
            .lock()
            .expect("account")
            .instances
            .insert(id.into(), state.into());
        self
    }

    pub fn with_rule(self, group_id: &str, rule: IngressRule) -> Self {
        self.account
            .lock()
            .expect("account")
            .rules
            .push((group_id.into(), rule));
        self
    }

    pub fn with_database(self, id: &str, public: bool) -> Self {
        self.account
            .lock()
            .expect("account")
            .databases
            .insert(id.into(), public);
        self
    }

    /// The role is refused this kind of change.
    pub fn denying(self, kind: RemediationKind) -> Self {
        self.denied.lock().expect("denied").insert(kind);
        self
    }

    pub fn instance_state(&self, id: &str) -> Option<String> {
        self.account
            .lock()
            .expect("account")
            .instances
            .get(id)
            .cloned()
    }

    pub fn has_rule(&self, group_id: &str, rule: &IngressRule) -> bool {
        self.account
            .lock()
            .expect("account")
            .rules
            .iter()
            .any(|(g, r)| g == group_id && r == rule)
    }

    pub fn is_public(&self, db: &str) -> Option<bool> {
        self.account
            .lock()
            .expect("account")
            .databases
            .get(db)
            .copied()
    }

    /// Every request that reached "AWS" (after the role was assumed), in order.
    pub fn calls(&self) -> Vec<RemediationRequest> {
        self.calls.lock().expect("calls").clone()
    }
}

fn action_of(kind: RemediationKind) -> &'static str {
    match kind {
        RemediationKind::StopInstances => "ec2:StopInstances",
        RemediationKind::RevokeIngress => "ec2:RevokeSecurityGroupIngress",
        RemediationKind::MakeDbPrivate => "rds:ModifyDBInstance",
    }
}

#[async_trait]
impl Remediator for EmbeddedRemediator {
    async fn remediate(
        &self,
        role: &RemediationRole,
        request: &RemediationRequest,
    ) -> Result<Applied, RemediationError> {
        if self.roles.lock().expect("roles").get(&role.role_arn) != Some(&role.external_id) {
            return Err(RemediationError::AssumeRoleDenied(format!(
                "not authorized to perform sts:AssumeRole on {}",
                role.role_arn
            )));
        }
        self.calls.lock().expect("calls").push(request.clone());
        if self
            .denied
            .lock()
            .expect("denied")
            .contains(&request.kind())
        {
            return Err(RemediationError::Denied {
                action: action_of(request.kind()).into(),
                message: "explicitly denied".into(),
            });
        }
        let mut account = self.account.lock().expect("account");
        match request {
            RemediationRequest::StopInstances { instance_ids, .. } => {
                if let Some(missing) = instance_ids
                    .iter()
                    .find(|i| !account.instances.contains_key(*i))
                {
                    return Err(RemediationError::NotFound(format!(
                        "the instance ID '{missing}' does not exist"
                    )));
                }
                if let Some(gone) = instance_ids
                    .iter()
                    .find(|i| account.instances[*i] == "terminated")
                {
                    return Err(RemediationError::InvalidState(format!(
                        "instance {gone} is terminated and cannot be stopped"
                    )));
                }
                let all_stopped = instance_ids
                    .iter()
                    .all(|i| account.instances[i] == "stopped");
                for id in instance_ids {
                    account.instances.insert(id.clone(), "stopped".into());
                }
                Ok(if all_stopped {
                    Applied::AlreadyDone
                } else {
                    Applied::Done
                })
            }
            RemediationRequest::RevokeIngress { group_id, rule, .. } => {
                let before = account.rules.len();
                account.rules.retain(|(g, r)| !(g == group_id && r == rule));
                Ok(if account.rules.len() < before {
                    Applied::Done
                } else {
                    Applied::AlreadyDone
                })
            }
            RemediationRequest::MakeDbPrivate { db_instance, .. } => {
                match account.databases.get_mut(db_instance) {
                    None => Err(RemediationError::NotFound(format!(
                        "DBInstance {db_instance} not found"
                    ))),
                    Some(public) if !*public => Ok(Applied::AlreadyDone),
                    Some(public) => {
                        *public = false;
                        Ok(Applied::Done)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn another_external_id_cannot_assume_the_role() {
        let aws = EmbeddedRemediator::new()
            .with_role("arn:aws:iam::1:role/r", "right")
            .with_instance("i-1", "running");
        let stop = RemediationRequest::StopInstances {
            region: "us-east-1".into(),
            instance_ids: vec!["i-1".into()],
        };
        let role = |external_id: &str| RemediationRole {
            role_arn: "arn:aws:iam::1:role/r".into(),
            external_id: external_id.into(),
        };
        assert!(matches!(
            aws.remediate(&role("wrong"), &stop).await,
            Err(RemediationError::AssumeRoleDenied(_))
        ));
        assert!(aws.calls().is_empty());
        assert_eq!(aws.instance_state("i-1").as_deref(), Some("running"));
        assert_eq!(
            aws.remediate(&role("right"), &stop).await,
            Ok(Applied::Done)
        );
        assert_eq!(aws.instance_state("i-1").as_deref(), Some("stopped"));
    }
}
