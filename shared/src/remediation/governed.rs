//! A remediation as a person asks for it: checked against the finding, the account's role,
//! the policy (`remediation`: act, audit or off) and who may act (the tenant's Slack settings,
//! `remediators`), claimed once per finding and kind before AWS is called, and audited with
//! the actor, the target, the request and the result, whatever the result.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::entity::remediation::{self as record, RemediationRecord, RemediationStatus};
use crate::entity::{finding, slack_settings};
use crate::finding_actions::{append_audit, audit_entry, Actor};
use crate::governance::{store as policy_store, Policy, RemediationMode};
use crate::store::{StoreError, Table};

use super::{
    request_for, Applied, RemediationError, RemediationKind, RemediationRequest, RemediationRole,
    Remediator,
};

/// Why a remediation was refused before anything was claimed (each is audited too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The finding is not one this remediation applies to.
    NotApplicable,
    /// The account was connected without a remediation role.
    NoRole,
    /// The policy has remediation `off` for the account.
    Off,
    /// The person is not among the tenant's remediators.
    NotPermitted,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NotApplicable => "this finding has nothing dd0c can change for it",
            Refusal::NoRole => {
                "the account has no remediation role (deploy the stack with EnableRemediation=true and connect the account again)"
            }
            Refusal::Off => "remediation is off by policy for this account",
            Refusal::NotPermitted => {
                "you are not among this workspace's remediators (the dd0c Slack settings list who may act)"
            }
        }
    }
}

/// What came of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// This request ran the remediation (or, in audit mode, recorded it).
    Finished(RemediationRecord),
    /// An earlier request finished it: its result, unchanged.
    Repeated(RemediationRecord),
    /// Another request is running it right now.
    InProgress(RemediationRecord),
    Refused(Refusal),
}

#[derive(Debug, thiserror::Error)]
pub enum GovernedError {
    #[error("no finding {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who asks, from where: the actor of the audit trail and the Slack user the permission is
/// checked for.
pub struct Requester<'a> {
    pub actor: &'a Actor,
    pub slack_user: &'a str,
}

/// The role the finding's account may be remediated with, if it has one.
pub async fn role_for(
    table: &dyn Table,
    tenant: &str,
    account: &str,
) -> Result<Option<RemediationRole>, StoreError> {
    let link = crate::tenancy::account_link(table, account)
        .await?
        .filter(|l| l.tenant_id == tenant);
    Ok(
        link.and_then(|l| match (l.remediation_role_arn, l.external_id) {
            (Some(role_arn), Some(external_id)) => Some(RemediationRole {
                role_arn,
                external_id,
            }),
            _ => None,
        }),
    )
}

/// The remediations a finding's alert offers: those that apply to it and have no result yet
/// (a failed one may be asked again), when its account has a remediation role and the policy
/// does not turn remediation off. (Who may click is checked on the click: Slack shows one
/// message to the whole channel.)
pub async fn offered(
    table: &dyn Table,
    system: &Policy,
    finding: &crate::domain::Finding,
) -> Result<Vec<RemediationRequest>, StoreError> {
    let requests = super::requests_for(finding);
    if requests.is_empty() {
        return Ok(requests);
    }
    let policy =
        policy_store::policy_for_account(table, system, &finding.tenant_id, &finding.account_id)
            .await?;
    if policy.remediation == RemediationMode::Off
        || role_for(table, &finding.tenant_id, &finding.account_id)
            .await?
            .is_none()
    {
        return Ok(Vec::new());
    }
    let mut open = Vec::new();
    for request in requests {
        let earlier = record::load(table, &finding.tenant_id, &finding.id, request.kind()).await?;
        if earlier.is_none_or(|r| r.status == RemediationStatus::Failed) {
            open.push(request);
        }
    }
    Ok(open)
}

fn audit_action(kind: RemediationKind) -> String {
    format!("remediation.{}", kind.as_str())
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    table: &dyn Table,
    tenant: &str,
    who: &Actor,
    now: DateTime<Utc>,
    kind: RemediationKind,
    finding_id: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    append_audit(
        table,
        &audit_entry(tenant, who, now, &audit_action(kind), finding_id, detail),
    )
    .await
}

/// What is asked for: one kind of remediation of one of a tenant's findings.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub tenant: &'a str,
    pub finding_id: &'a str,
    pub kind: RemediationKind,
}

/// Runs one remediation as `requester` asks it.
pub async fn remediate(
    table: &dyn Table,
    remediator: &dyn Remediator,
    system: &Policy,
    asked: &Asked<'_>,
    requester: &Requester<'_>,
    now: DateTime<Utc>,
) -> Result<Attempt, GovernedError> {
    let Asked {
        tenant,
        finding_id,
        kind,
    } = *asked;
    let who = requester.actor;
    let Some(f) = finding::load(table, tenant, finding_id).await? else {
        return Err(GovernedError::NotFound(finding_id.to_owned()));
    };
    let refuse = |refusal: Refusal, request: Option<&RemediationRequest>| {
        let detail = json!({
            "account_id": f.account_id,
            "request": request,
            "result": "refused",
            "reason": refusal.reason(),
        });
        (refusal, detail)
    };
    let request = request_for(&f, kind);
    let role = role_for(table, tenant, &f.account_id).await?;
    let policy = policy_store::policy_for_account(table, system, tenant, &f.account_id).await?;
    let permitted = slack_settings::load(table, tenant)
        .await?
        .remediators
        .iter()
        .any(|u| u == requester.slack_user);
    let refusal = match (&request, &role) {
        (None, _) => Some(Refusal::NotApplicable),
        (_, None) => Some(Refusal::NoRole),
        _ if policy.remediation == RemediationMode::Off => Some(Refusal::Off),
        _ if !permitted => Some(Refusal::NotPermitted),
        _ => None,
    };
    let (Some(request), Some(role), None) = (request, role, refusal.clone()) else {
        let (refusal, detail) = refuse(
            refusal.expect("refused when a part is missing"),
            request_for(&f, kind).as_ref(),
        );
        audit(table, tenant, who, now, kind, finding_id, detail).await?;
        return Ok(Attempt::Refused(refusal));
    };
    let mut claimed = RemediationRecord {
        tenant_id: tenant.to_owned(),
        finding_id: finding_id.to_owned(),
        kind,
        account_id: f.account_id.clone(),
        request: request.clone(),
        requested_by: who.user.clone(),
        requested_at: now,
        status: RemediationStatus::Pending,
        reason: None,
        finished_at: None,
    };
    if !record::claim(table, &claimed, now).await? {
        let Some(earlier) = record::load(table, tenant, finding_id, kind).await? else {
            // Claimed and gone between the two reads: nothing to report but a retry.
            return Err(GovernedError::Store(StoreError::Backend(
                "the remediation record changed while it was read; try again".into(),
            )));
        };
        return Ok(if earlier.status == RemediationStatus::Pending {
            Attempt::InProgress(earlier)
        } else {
            Attempt::Repeated(earlier)
        });
    }
    let (status, reason) = if policy.remediation == RemediationMode::Audit {
        (
            RemediationStatus::Audited,
            Some(format!(
                "audit mode: dd0c would {}; nothing was changed",
                request.describe()
            )),
        )
    } else {
        match remediator.remediate(&role, &request).await {
            Ok(Applied::Done) => (RemediationStatus::Done, None),
            Ok(Applied::AlreadyDone) => (RemediationStatus::AlreadyDone, None),
            Err(e @ (RemediationError::Denied { .. } | RemediationError::AssumeRoleDenied(_))) => {
                (RemediationStatus::Denied, Some(e.to_string()))
            }
            Err(
                e @ (RemediationError::NotFound(_)
                | RemediationError::InvalidState(_)
                | RemediationError::Failed(_)),
            ) => (RemediationStatus::Failed, Some(e.to_string())),
        }
    };
    claimed.status = status;
    claimed.reason = reason;
    claimed.finished_at = Some(now);
    record::finish(table, &claimed).await?;
    audit(
        table,
        tenant,
        who,
        now,
        kind,
        finding_id,
        json!({
            "account_id": claimed.account_id,
            "role_arn": role.role_arn,
            "mode": policy.remediation.as_str(),
            "request": claimed.request,
            "result": status.as_str(),
            "reason": claimed.reason,
        }),
    )
    .await?;
    tracing::info!(
        tenant,
        finding = finding_id,
        remediation = kind.as_str(),
        result = status.as_str(),
        "remediation"
    );
    Ok(Attempt::Finished(claimed))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::SystemClock;
    use crate::entity::audit;
    use crate::remediation::embedded::EmbeddedRemediator;
    use crate::slack::settings::SlackSettings;
    use crate::store::memory::MemoryTable;
    use crate::store::query_all;
    use crate::tenancy::{AccountLink, AccountStatus};
    use crate::testing::{cost_finding, noon, ACCOUNT, TENANT};

    const ROLE: &str = "arn:aws:iam::111122223333:role/dd0c-remediation";
    const EXTERNAL_ID: &str = "0b5e4c1a-8f2d-4e7b-9a3c-1d2e3f4a5b6c";

    fn system(mode: RemediationMode) -> Policy {
        Policy {
            remediation: mode,
            ..Policy::system().unwrap()
        }
    }

    async fn setup(role: Option<&str>, remediators: &[&str]) -> MemoryTable {
        let table = MemoryTable::new(Arc::new(SystemClock));
        finding::record(&table, &cost_finding("cost-e1"))
            .await
            .unwrap();
        let link = AccountLink {
            account_id: ACCOUNT.into(),
            tenant_id: TENANT.into(),
            status: AccountStatus::Active,
            role_arn: Some("arn:aws:iam::111122223333:role/dd0c-readonly".into()),
            external_id: Some(EXTERNAL_ID.into()),
            remediation_role_arn: role.map(str::to_owned),
            connected_at: noon(),
            status_changed_at: None,
        };
        table.put(link.to_item().unwrap(), None).await.unwrap();
        slack_settings::put(
            &table,
            TENANT,
            &SlackSettings {
                remediators: remediators.iter().map(|u| u.to_string()).collect(),
                ..SlackSettings::default()
            },
        )
        .await
        .unwrap();
        table
    }

    fn remediator() -> EmbeddedRemediator {
        EmbeddedRemediator::new()
            .with_role(ROLE, EXTERNAL_ID)
            .with_instance("i-1", "running")
    }

    fn alice() -> Actor {
        Actor {
            user: "slack:UALICE".into(),
            via: "slack".into(),
        }
    }

    async fn run(
        table: &MemoryTable,
        aws: &EmbeddedRemediator,
        policy: &Policy,
        user: &str,
    ) -> Attempt {
        let actor = Actor {
            user: format!("slack:{user}"),
            via: "slack".into(),
        };
        remediate(
            table,
            aws,
            policy,
            &Asked {
                tenant: TENANT,
                finding_id: "cost-e1",
                kind: RemediationKind::StopInstances,
            },
            &Requester {
                actor: &actor,
                slack_user: user,
            },
            noon(),
        )
        .await
        .unwrap()
    }

    async fn trail(table: &MemoryTable) -> Vec<crate::finding_actions::AuditEntry> {
        query_all(table, audit::trail(TENANT))
            .await
            .unwrap()
            .into_iter()
            .map(|i| crate::store::from_item(i).unwrap())
            .collect()
    }

    /// A permitted person's click stops the instance once: the second click (or a redelivery)
    /// reports the first result and calls AWS no more; each is audited.
    #[tokio::test]
    async fn stops_once_and_audits_actor_target_request_and_result() {
        let table = setup(Some(ROLE), &["UALICE"]).await;
        let aws = remediator();
        let policy = system(RemediationMode::Act);
        let Attempt::Finished(done) = run(&table, &aws, &policy, "UALICE").await else {
            panic!("not finished")
        };
        assert_eq!(done.status, RemediationStatus::Done);
        assert_eq!(aws.instance_state("i-1").as_deref(), Some("stopped"));
        let again = run(&table, &aws, &policy, "UALICE").await;
        assert!(
            matches!(&again, Attempt::Repeated(r) if r.status == RemediationStatus::Done),
            "{again:?}"
        );
        assert_eq!(aws.calls().len(), 1, "AWS was asked once");
        let entries = trail(&table).await;
        assert_eq!(entries.len(), 1, "{entries:?}");
        let e = &entries[0];
        assert_eq!(
            (e.user.as_str(), e.action.as_str(), e.target.as_str()),
            ("slack:UALICE", "remediation.stop_instances", "cost-e1")
        );
        assert_eq!(e.detail["result"], "done");
        assert_eq!(e.detail["request"]["instance_ids"], json!(["i-1"]));
        assert_eq!(e.detail["role_arn"], ROLE);
        let _ = alice();
    }

    /// Audit mode records what dd0c would have done and leaves the instance running.
    #[tokio::test]
    async fn audit_mode_changes_nothing() {
        let table = setup(Some(ROLE), &["UALICE"]).await;
        let aws = remediator();
        let Attempt::Finished(r) =
            run(&table, &aws, &system(RemediationMode::Audit), "UALICE").await
        else {
            panic!("not finished")
        };
        assert_eq!(r.status, RemediationStatus::Audited);
        assert!(r.reason.unwrap().contains("would stop 1 instance i-1"));
        assert!(aws.calls().is_empty());
        assert_eq!(aws.instance_state("i-1").as_deref(), Some("running"));
        assert_eq!(trail(&table).await[0].detail["result"], "audited");
    }

    /// Nobody but the tenant's remediators may act, nothing happens without a role or with
    /// remediation off, and each refusal is audited.
    #[tokio::test]
    async fn refusals_change_nothing_and_are_audited() {
        let aws = remediator();
        let act = system(RemediationMode::Act);
        let table = setup(Some(ROLE), &["UALICE"]).await;
        assert_eq!(
            run(&table, &aws, &act, "UMALLORY").await,
            Attempt::Refused(Refusal::NotPermitted)
        );
        assert_eq!(
            run(&table, &aws, &system(RemediationMode::Off), "UALICE").await,
            Attempt::Refused(Refusal::Off)
        );
        let entries = trail(&table).await;
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.detail["result"] == "refused"));
        let no_role = setup(None, &["UALICE"]).await;
        assert_eq!(
            run(&no_role, &aws, &act, "UALICE").await,
            Attempt::Refused(Refusal::NoRole)
        );
        assert!(aws.calls().is_empty());
        // The refused person did not claim it: a remediator still can.
        assert!(matches!(
            run(&table, &aws, &act, "UALICE").await,
            Attempt::Finished(_)
        ));
    }

    /// AWS denying the role is a result ("denied"), not a retry; a failure may be asked again.
    #[tokio::test]
    async fn denials_and_failures_are_recorded() {
        let table = setup(Some(ROLE), &["UALICE"]).await;
        let act = system(RemediationMode::Act);
        let denying = remediator().denying(RemediationKind::StopInstances);
        let Attempt::Finished(r) = run(&table, &denying, &act, "UALICE").await else {
            panic!()
        };
        assert_eq!(r.status, RemediationStatus::Denied);
        assert!(r.reason.unwrap().contains("ec2:StopInstances"));
        assert!(matches!(
            run(&table, &denying, &act, "UALICE").await,
            Attempt::Repeated(_)
        ));
        let table = setup(Some(ROLE), &["UALICE"]).await;
        let missing = EmbeddedRemediator::new().with_role(ROLE, EXTERNAL_ID);
        let Attempt::Finished(r) = run(&table, &missing, &act, "UALICE").await else {
            panic!()
        };
        assert_eq!(r.status, RemediationStatus::Failed);
        // Failed: the next click tries again.
        let aws = remediator();
        assert!(matches!(
            run(&table, &aws, &act, "UALICE").await,
            Attempt::Finished(RemediationRecord {
                status: RemediationStatus::Done,
                ..
            })
        ));
    }

    /// Two clicks at once: one claims, the other sees it in progress and calls nothing.
    #[tokio::test]
    async fn a_pending_claim_holds_off_a_second_request() {
        let table = setup(Some(ROLE), &["UALICE"]).await;
        let f = finding::load(&table, TENANT, "cost-e1")
            .await
            .unwrap()
            .unwrap();
        let pending = RemediationRecord {
            tenant_id: TENANT.into(),
            finding_id: "cost-e1".into(),
            kind: RemediationKind::StopInstances,
            account_id: f.account_id.clone(),
            request: request_for(&f, RemediationKind::StopInstances).unwrap(),
            requested_by: "slack:UALICE".into(),
            requested_at: noon(),
            status: RemediationStatus::Pending,
            reason: None,
            finished_at: None,
        };
        assert!(record::claim(&table, &pending, noon()).await.unwrap());
        let aws = remediator();
        assert!(matches!(
            run(&table, &aws, &system(RemediationMode::Act), "UALICE").await,
            Attempt::InProgress(_)
        ));
        assert!(aws.calls().is_empty());
        // A claim left by a process that died is taken over after a while.
        let later = noon() + chrono::Duration::minutes(record::STALE_CLAIM_MINUTES + 1);
        assert!(record::claim(&table, &pending, later).await.unwrap());
    }

    #[tokio::test]
    async fn offered_only_with_a_role_and_remediation_on() {
        let f = cost_finding("cost-e1");
        let with_role = setup(Some(ROLE), &[]).await;
        assert_eq!(
            offered(&with_role, &system(RemediationMode::Act), &f)
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            offered(&with_role, &system(RemediationMode::Audit), &f)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(offered(&with_role, &system(RemediationMode::Off), &f)
            .await
            .unwrap()
            .is_empty());
        let without = setup(None, &[]).await;
        assert!(offered(&without, &system(RemediationMode::Act), &f)
            .await
            .unwrap()
            .is_empty());
    }
}
