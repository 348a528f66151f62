//! Change and drift tracking from CloudTrail (the drift product): which resources IaC owns,
//! and which write calls change them out of band. Returns the domain events to publish.
//!
//! Every write call on a resource becomes a [`ChangeEvent`] (stored in the resource's history
//! partition and published). A change by an IaC identity marks the resource managed and
//! resolves its open drift; a change by an AWS service is automated; a change by anyone
//! else to a managed resource is drift ([`DriftEvent`], stored open and published), unless it
//! exactly reverts an open drift, which it resolves. Drift reports from agents (the ingest
//! queue's `drift_report` messages) are attributed to the CloudTrail change on the same
//! resource within [`CORRELATION_WINDOW_HOURS`]. See docs/decisions/0400-drift-severity-and-managed-resources.md.

pub(crate) mod extract;

use std::collections::BTreeMap;

use chrono::Duration;
use dd0c_shared::batch::HandlerError;
use dd0c_shared::bus::BusEvent;
#[cfg(test)]
use dd0c_shared::clock::Clock;
use dd0c_shared::domain::actor::Actor;
use dd0c_shared::domain::drift::{
    drift_finding_id, resource_type_for_iac, AttributeChange, ChangeClass, ChangeEvent, DriftEvent,
    DriftEventKind, DriftReport, DriftStatus, ManagedBy, ManagedResource, DRIFT_EVENT_DETAIL_TYPE,
    STATE_IMPORT_EVENT_ID,
};
use dd0c_shared::domain::{CloudTrailRecord, IacTool, Source};
use dd0c_shared::entity::{self, account::DriftSettings, drift_event::StoredDrift};
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::AccountLink;
use serde_json::value::RawValue;

use extract::{all_tags, extract, Extracted};

/// How long a change event on a stack's timeline is kept after its event time: the dashboard
/// shows a stack's changes.
const TIMELINE_CHANGE_DAYS: i64 = 90;
/// How long any other change event is kept after its event time: its one reader is a drift
/// report's correlation, which looks [`CORRELATION_WINDOW_HOURS`] back from when the report
/// arrived, and a report can wait up to 14 days in the ingest queue and its dead-letter queue
/// before it is processed (decision 1170).
const CORRELATION_CHANGE_DAYS: i64 = 16;
/// A reported drift is attributed to a CloudTrail change on the same resource made at most
/// this long before the report arrived (an agent runs at least daily).
pub(crate) const CORRELATION_WINDOW_HOURS: i64 = 24;

/// When `change`'s item expires: kept while something reads it.
fn change_ttl(change: &ChangeEvent) -> i64 {
    let days = if entity::resource::timeline_stack(change).is_some() {
        TIMELINE_CHANGE_DAYS
    } else {
        CORRELATION_CHANGE_DAYS
    };
    (change.event_time + Duration::days(days)).timestamp()
}

const CFN_STACK_TAG: &str = "aws:cloudformation:stack-name";

fn bus_event(
    detail_type: &str,
    detail: serde_json::Value,
    tenant: &str,
    account: &str,
    region: &str,
) -> BusEvent {
    BusEvent {
        detail_type: detail_type.into(),
        detail,
        tenant: tenant.to_owned(),
        account: account.to_owned(),
        region: region.to_owned(),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, HandlerError> {
    serde_json::to_value(v).map_err(HandlerError::malformed)
}

/// The role ARN behind an assumed-role session (`arn:aws:iam::1:role/deployer`), else the
/// principal ARN: the identity that owns what it creates.
fn identity_of(record: &CloudTrailRecord, actor: &Actor) -> String {
    record
        .user_identity
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref())
        .and_then(|i| i.arn.clone())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| actor.arn.clone())
}

/// Whether the caller is one of the account's configured deployer roles. A configured role
/// ARN (`arn:aws:iam::1:role/path/deployer`) matches its sessions
/// (`arn:aws:sts::1:assumed-role/deployer/ci-123`).
pub(crate) fn is_deployer(identity: &str, actor_arn: &str, settings: &DriftSettings) -> bool {
    settings.deployer_role_arns.iter().any(|configured| {
        if configured == identity || configured == actor_arn {
            return true;
        }
        let role_name = configured.rsplit('/').next().unwrap_or_default();
        let account = configured.split(':').nth(4).unwrap_or_default();
        configured.contains(":role/")
            && !role_name.is_empty()
            && actor_arn.starts_with(&format!("arn:aws:sts::{account}:assumed-role/{role_name}/"))
    })
}

/// The stack an IaC write belongs to: CloudFormation's stack tag, a stack's ownership tag,
/// the account's Terraform workspace, else the stack the resource was known in.
fn stack_of(
    record: &CloudTrailRecord,
    tool: Option<IacTool>,
    settings: &DriftSettings,
    previous: Option<&ManagedResource>,
    tag_owner: Option<&str>,
) -> Option<String> {
    let tagged = all_tags(record.request())
        .into_iter()
        .find(|(k, _)| k == CFN_STACK_TAG)
        .and_then(|(_, v)| v.as_str().map(str::to_owned));
    tagged
        .or_else(|| tag_owner.map(str::to_owned))
        .or_else(|| match tool {
            Some(IacTool::Terraform | IacTool::OpenTofu) | None => {
                settings.terraform_workspace.clone()
            }
            _ => None,
        })
        .or_else(|| previous.and_then(|p| p.managed_by.stack.clone()))
}

/// The account's stack whose ownership tag (decision 0430) the request carries, if any. Read
/// only for IaC writes that carry tags.
async fn stack_owning_tags(
    table: &dyn Table,
    tenant: &str,
    account: &str,
    record: &CloudTrailRecord,
) -> Result<Option<String>, HandlerError> {
    let tags: BTreeMap<String, String> = all_tags(record.request())
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
        .collect();
    if tags.is_empty() {
        return Ok(None);
    }
    let stacks = entity::stack::list_stacks(table, tenant).await?;
    Ok(stacks
        .into_iter()
        .filter(|s| s.account_id.is_empty() || s.account_id == account)
        .find(|s| s.ownership_tags.iter().any(|(k, v)| tags.get(k) == Some(v)))
        .map(|s| s.stack_id))
}

/// Who applies the IaC of a write: what the resource was known to be managed by, else the
/// writing identity and its tool.
fn iac_writer(known: Option<ManagedBy>, tool: Option<IacTool>, identity: &str) -> ManagedBy {
    known.unwrap_or(ManagedBy {
        tool,
        identity: identity.to_owned(),
        stack: None,
    })
}

/// What IaC owns after one of its writes (`change`), whatever order writes arrive in (the
/// backfill reads history newest first): ownership dates from the oldest write; the owner and
/// the last write are the newest write's (decision 0320).
fn owned_after_iac_write(
    managed: Option<&ManagedResource>,
    writer: ManagedBy,
    change: &ChangeEvent,
    tags: BTreeMap<String, String>,
) -> ManagedResource {
    let t = change.event_time;
    let newer = later_iac_write(managed, change);
    ManagedResource {
        tenant_id: change.tenant_id.clone(),
        account_id: change.account_id.clone(),
        resource_type: change.resource_type.clone(),
        resource_id: change.resource_id.clone(),
        managed_by: newer.map_or(writer, |m| m.managed_by.clone()),
        managed_since: managed.map_or(t, |m| m.managed_since.min(t)),
        last_iac_event_id: newer
            .map_or_else(|| change.event_id.clone(), |m| m.last_iac_event_id.clone()),
        last_iac_change_at: newer.map_or(t, |m| m.last_iac_change_at),
        address: managed.and_then(|m| m.address.clone()),
        tags,
    }
}

/// `managed` when it holds an IaC write later than `change` (an account's events can arrive out
/// of order). A state import's placeholder is no write with a time: the first write seen
/// replaces it.
fn later_iac_write<'a>(
    managed: Option<&'a ManagedResource>,
    change: &ChangeEvent,
) -> Option<&'a ManagedResource> {
    managed.filter(|m| {
        m.last_iac_change_at > change.event_time && m.last_iac_event_id != STATE_IMPORT_EVENT_ID
    })
}

/// Records what an IaC write leaves: the resource owned as `resource` says, or, when the write
/// deleted it, not owned at all (decision 1230), unless the item already holds a later IaC
/// write.
async fn record_ownership(
    table: &dyn Table,
    managed: Option<&ManagedResource>,
    resource: &ManagedResource,
    change: &ChangeEvent,
    deletes: bool,
) -> Result<(), HandlerError> {
    if deletes && later_iac_write(managed, change).is_none() {
        entity::resource::forget_managed_resource(
            table,
            &change.tenant_id,
            &change.resource_type,
            &change.resource_id,
        )
        .await?;
    } else {
        entity::resource::put_managed_resource(table, resource).await?;
    }
    Ok(())
}

/// The tags IaC gives a resource: what it had, the request's tags when this call created it,
/// and this call's tag changes.
fn iac_tags(
    managed: Option<&ManagedResource>,
    creates: bool,
    record: &CloudTrailRecord,
    changes: &[AttributeChange],
) -> BTreeMap<String, String> {
    let mut tags = managed.map(|m| m.tags.clone()).unwrap_or_default();
    if creates {
        for (key, value) in all_tags(record.request()) {
            if let Some(value) = value.as_str() {
                tags.insert(key, value.to_owned());
            }
        }
    }
    for c in changes {
        if let Some(key) = c.attribute.strip_prefix("tags.") {
            match c.new.as_str() {
                Some(value) => tags.insert(key.to_owned(), value.to_owned()),
                None => tags.remove(key),
            };
        }
    }
    tags
}

/// Whether `change` undoes every attribute change of `drift` (old and new swapped).
fn reverts(change: &[AttributeChange], drift: &[AttributeChange]) -> bool {
    !drift.is_empty()
        && change.len() == drift.len()
        && drift.iter().all(|d| {
            change
                .iter()
                .any(|c| c.attribute == d.attribute && c.old == d.new && c.new == d.old)
        })
}

async fn resolve(
    table: &dyn Table,
    open: &[StoredDrift],
    change: &ChangeEvent,
    resolution: &str,
    stack: Option<String>,
) -> Result<Option<DriftEvent>, HandlerError> {
    if open.is_empty() {
        return Ok(None);
    }
    for d in open {
        entity::drift_event::set_drift_status(
            table,
            &d.event,
            DriftStatus::Resolved,
            &change.event_time,
        )
        .await?;
    }
    Ok(Some(DriftEvent {
        id: format!("resolve-{}", change.event_id),
        kind: DriftEventKind::Resolved,
        tenant_id: change.tenant_id.clone(),
        account_id: change.account_id.clone(),
        region: change.region.clone(),
        resource_type: change.resource_type.clone(),
        resource_id: change.resource_id.clone(),
        resource_address: None,
        stack: stack.or_else(|| open.iter().find_map(|d| d.event.stack.clone())),
        managed_by: change.managed_by.clone(),
        changes: change.changes.clone(),
        change: Some(change.clone()),
        report_id: None,
        detected_at: change.event_time,
        resolves: open.iter().map(|d| d.event.id.clone()).collect(),
        resolution: Some(resolution.to_owned()),
    }))
}

/// What one CloudTrail record changed: the change events recorded in the resources' history
/// (read there by the drift timeline and attribution; nothing downstream consumes them as
/// messages, so they are not published), and the drift events to publish.
#[derive(Debug, Default)]
pub(crate) struct Tracked {
    pub changes: Vec<ChangeEvent>,
    pub events: Vec<BusEvent>,
}

/// How much of a record [`track`] acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tracking {
    /// A live record: history, ownership, drift and its resolution.
    Live,
    /// A record of the account's history from before it connected (the backfill): only what IaC
    /// owns is learnt. What anyone changed then is nothing anyone can act on now, so it is
    /// neither drift nor history.
    OwnershipOnly,
}

#[cfg(test)]
pub(crate) async fn track(
    table: &dyn Table,
    _clock: &dyn Clock,
    record: &CloudTrailRecord,
    link: &AccountLink,
    tracking: Tracking,
) -> Result<Tracked, HandlerError> {
    track_extracted(table, record, link, tracking, extract(record)).await
}

/// The resources a record changes, as [`track_extracted`] acts on them: none for a read, a
/// failed call or a write dd0c does not follow.
pub(crate) fn changed_resources(record: &CloudTrailRecord) -> Vec<Extracted> {
    extract(record)
}

/// [`track`] with the record's changed resources already extracted.
pub(crate) async fn track_extracted(
    table: &dyn Table,
    record: &CloudTrailRecord,
    link: &AccountLink,
    tracking: Tracking,
    extracted: Vec<Extracted>,
) -> Result<Tracked, HandlerError> {
    if extracted.is_empty() {
        return Ok(Tracked::default());
    }
    let tenant = link.tenant_id.as_str();
    let account = link.account_id.as_str();
    let actor = Actor::from_record(record);
    let identity = identity_of(record, &actor);
    let settings = entity::account::drift_settings(table, tenant, account).await?;
    let tool = match actor.source {
        Source::Iac(tool) => Some(tool),
        _ => None,
    };
    let iac = tool.is_some() || is_deployer(&identity, &actor.arn, &settings);
    let tag_owner = if iac {
        stack_owning_tags(table, tenant, account, record).await?
    } else {
        None
    };
    let mut events = Vec::new();
    let mut changes_tracked = Vec::new();
    let mut drift_index = 0usize;
    for Extracted {
        resource_type,
        resource_id,
        changes,
        creates,
        deletes,
    } in extracted
    {
        let managed =
            entity::resource::managed_resource(table, tenant, &resource_type, &resource_id).await?;
        let class = if iac {
            ChangeClass::Iac
        } else if actor.source == Source::AwsService {
            ChangeClass::Automated
        } else if managed.is_some() {
            ChangeClass::Drift
        } else {
            ChangeClass::Unmanaged
        };
        let managed_by = if iac {
            Some(ManagedBy {
                tool: tool.or(managed.as_ref().and_then(|m| m.managed_by.tool)),
                identity: identity.clone(),
                stack: stack_of(
                    record,
                    tool,
                    &settings,
                    managed.as_ref(),
                    tag_owner.as_deref(),
                ),
            })
        } else {
            managed.as_ref().map(|m| m.managed_by.clone())
        };
        let change = ChangeEvent {
            tenant_id: tenant.to_owned(),
            account_id: account.to_owned(),
            region: record.aws_region.clone(),
            event_id: record.event_id.clone(),
            event_time: record.event_time,
            action: extract::base_action(&record.event_name).to_owned(),
            resource_type: resource_type.clone(),
            resource_id: resource_id.clone(),
            changes,
            actor: actor.clone(),
            class,
            managed_by: managed_by.clone(),
        };
        if tracking == Tracking::OwnershipOnly {
            if class == ChangeClass::Iac {
                let tags = iac_tags(managed.as_ref(), creates, record, &change.changes);
                let writer = iac_writer(managed_by, tool, &identity);
                let resource = owned_after_iac_write(managed.as_ref(), writer, &change, tags);
                record_ownership(table, managed.as_ref(), &resource, &change, deletes).await?;
            }
            continue;
        }
        if entity::resource::change_is_read(&change) {
            entity::resource::record_change_event(table, &change, change_ttl(&change)).await?;
        }
        changes_tracked.push(change.clone());
        let open: Vec<StoredDrift> = if matches!(class, ChangeClass::Iac | ChangeClass::Drift) {
            entity::drift_event::drift_for_resource(table, tenant, &resource_type, &resource_id)
                .await?
                .into_iter()
                .filter(|d| {
                    d.status == DriftStatus::Open && d.event.kind != DriftEventKind::Resolved
                })
                .collect()
        } else {
            Vec::new()
        };
        match class {
            ChangeClass::Iac => {
                let tags = iac_tags(managed.as_ref(), creates, record, &change.changes);
                let writer = iac_writer(managed_by, tool, &identity);
                let resource = owned_after_iac_write(managed.as_ref(), writer, &change, tags);
                record_ownership(table, managed.as_ref(), &resource, &change, deletes).await?;
                if let Some(resolved) = resolve(
                    table,
                    &open,
                    &change,
                    "iac_reapplied",
                    resource.managed_by.stack,
                )
                .await?
                {
                    events.push(bus_event(
                        DRIFT_EVENT_DETAIL_TYPE,
                        to_json(&resolved)?,
                        tenant,
                        account,
                        &record.aws_region,
                    ));
                }
            }
            ChangeClass::Drift => {
                let reverted: Vec<StoredDrift> = open
                    .iter()
                    .filter(|d| reverts(&change.changes, &d.event.changes))
                    .cloned()
                    .collect();
                if !reverted.is_empty() {
                    if let Some(resolved) =
                        resolve(table, &reverted, &change, "reverted", None).await?
                    {
                        events.push(bus_event(
                            DRIFT_EVENT_DETAIL_TYPE,
                            to_json(&resolved)?,
                            tenant,
                            account,
                            &record.aws_region,
                        ));
                    }
                    continue;
                }
                let base = drift_finding_id(Some(&record.event_id), "", "", "");
                // One finding per CloudTrail event; a call drifting several resources
                // (CreateTags on many) numbers the others.
                let id = if drift_index == 0 {
                    base
                } else {
                    format!("{base}-{drift_index}")
                };
                drift_index += 1;
                let drift = DriftEvent {
                    id,
                    kind: DriftEventKind::Detected,
                    tenant_id: tenant.to_owned(),
                    account_id: account.to_owned(),
                    region: record.aws_region.clone(),
                    resource_type: resource_type.clone(),
                    resource_id: resource_id.clone(),
                    resource_address: managed.as_ref().and_then(|m| m.address.clone()),
                    stack: managed_by.as_ref().and_then(|m| m.stack.clone()),
                    managed_by,
                    changes: change.changes.clone(),
                    change: Some(change),
                    report_id: None,
                    detected_at: record.event_time,
                    resolves: Vec::new(),
                    resolution: None,
                };
                entity::drift_event::record_drift_event(table, &drift).await?;
                events.push(bus_event(
                    DRIFT_EVENT_DETAIL_TYPE,
                    to_json(&drift)?,
                    tenant,
                    account,
                    &record.aws_region,
                ));
            }
            ChangeClass::Automated | ChangeClass::Unmanaged => {}
        }
    }
    Ok(Tracked {
        changes: changes_tracked,
        events,
    })
}

/// The CloudTrail change a reported drift is attributed to: the latest change to the resource
/// by anyone but IaC within the window, preferring one that touched the reported attribute.
pub(crate) fn correlate<'a>(
    changes: &'a [ChangeEvent],
    attributes: &[String],
) -> Option<&'a ChangeEvent> {
    let candidates: Vec<&ChangeEvent> = changes
        .iter()
        .filter(|c| entity::resource::correlation_candidate(c))
        .collect();
    let touches = |c: &ChangeEvent| {
        c.changes.iter().any(|ch| {
            attributes.iter().any(|a| {
                let root = a.split(['.', '[']).next().unwrap_or(a);
                ch.attribute == *a
                    || ch.attribute.split('.').next() == Some(root)
                    || ch.attribute == root
            })
        })
    };
    candidates
        .iter()
        .rev()
        .find(|c| touches(c))
        .or_else(|| candidates.last())
        .copied()
}

/// A reassembled drift report from the ingest queue → one drift event per reported resource,
/// attributed to its CloudTrail change when there is one.
pub(crate) async fn report(
    table: &dyn Table,
    report: Option<&RawValue>,
) -> Result<Vec<BusEvent>, HandlerError> {
    let raw =
        report.ok_or_else(|| HandlerError::malformed("drift_report message has no report"))?;
    let report: DriftReport = serde_json::from_str(raw.get())
        .map_err(|e| HandlerError::malformed(format!("drift report: {e}")))?;
    let window_start = report.received_at - Duration::hours(CORRELATION_WINDOW_HOURS);
    let mut by_resource: BTreeMap<
        (String, String),
        Vec<&dd0c_shared::domain::drift::ReportedDrift>,
    > = BTreeMap::new();
    for d in &report.drifts {
        by_resource
            .entry((d.resource_address.clone(), d.resource_type.clone()))
            .or_default()
            .push(d);
    }
    let mut events = Vec::new();
    for ((address, iac_type), drifts) in by_resource {
        let resource_type = resource_type_for_iac(&iac_type)
            .map_or_else(|| format!("iac:{iac_type}"), str::to_owned);
        let resource_id = drifts
            .iter()
            .find_map(|d| d.resource_id.clone())
            .unwrap_or_else(|| address.clone());
        let attributes: Vec<String> = drifts.iter().map(|d| d.attribute.clone()).collect();
        let changes_in_window = entity::resource::changes_between(
            table,
            &report.tenant_id,
            &resource_type,
            &resource_id,
            &window_start,
            &report.received_at,
        )
        .await?;
        let change = correlate(&changes_in_window, &attributes).cloned();
        let id = drift_finding_id(
            change.as_ref().map(|c| c.event_id.as_str()),
            &report.report_id,
            &address,
            &attributes.join(","),
        );
        let account_id = report
            .account_id
            .clone()
            .or_else(|| change.as_ref().map(|c| c.account_id.clone()))
            .unwrap_or_default();
        let region = report
            .region
            .clone()
            .or_else(|| change.as_ref().map(|c| c.region.clone()))
            .unwrap_or_default();
        let drift = DriftEvent {
            id,
            kind: DriftEventKind::Reported,
            tenant_id: report.tenant_id.clone(),
            account_id: account_id.clone(),
            region: region.clone(),
            resource_type,
            resource_id,
            resource_address: Some(address),
            stack: Some(report.stack_id.clone()),
            managed_by: report.tool.map(|tool| ManagedBy {
                tool: Some(tool),
                identity: "agent".into(),
                stack: Some(report.stack_id.clone()),
            }),
            changes: drifts
                .iter()
                .map(|d| AttributeChange::new(d.attribute.clone(), d.old.clone(), d.new.clone()))
                .collect(),
            change,
            report_id: Some(report.report_id.clone()),
            detected_at: report.received_at,
            resolves: Vec::new(),
            resolution: None,
        };
        entity::drift_event::record_drift_event(table, &drift).await?;
        events.push(bus_event(
            DRIFT_EVENT_DETAIL_TYPE,
            to_json(&drift)?,
            &report.tenant_id,
            &account_id,
            &region,
        ));
    }
    Ok(events)
}

#[cfg(test)]
mod tests;
