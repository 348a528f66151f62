//! Incidents: listing them (the dashboard's overview), one with its findings, and acting on
//! all of its findings at once (decision 0530).

use dd0c_shared::domain::incident::Incident;
use dd0c_shared::entity::{self, finding, incident};
use dd0c_shared::http::HttpResponse;
use dd0c_shared::incidents::act_on_incident;
use dd0c_shared::incidents::actions::{shown_status, IncidentActionError};
use dd0c_shared::store::Table;

use super::findings::{requested_action, Filters};
use super::Ctx;
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;

async fn finding_view(
    table: &dyn Table,
    tenant: &str,
    id: &str,
) -> Result<Option<FindingView>, ApiError> {
    Ok(finding::load_stored(table, tenant, id)
        .await?
        .map(|s| FindingView::new(&s.finding, s.snooze_until).in_incident(s.incident_id)))
}

async fn view(
    table: &dyn Table,
    incident: &Incident,
    with_findings: bool,
) -> Result<IncidentView, ApiError> {
    let tenant = incident.tenant_id.as_str();
    let mut findings = Vec::new();
    let lead = match incident.finding_ids.first() {
        Some(id) => finding_view(table, tenant, id).await?,
        None => None,
    };
    if with_findings {
        for id in &incident.finding_ids {
            if let Some(f) = finding_view(table, tenant, id).await? {
                findings.push(f);
            }
        }
    }
    let single = match (&lead, incident.finding_ids.first()) {
        (Some(_), Some(id)) => finding::load(table, tenant, id).await?,
        _ => None,
    };
    Ok(IncidentView {
        id: incident.id.clone(),
        kind: incident.kind.as_str().into(),
        grouping: incident.grouping.as_str().into(),
        title: incident.title(),
        account_id: incident.account_id.clone(),
        stack: incident.stack.clone(),
        actors: incident.actors.clone(),
        regions: incident.regions.clone(),
        first_time: incident.first_time,
        last_time: incident.last_time,
        count: incident.count,
        severity: incident.severity.as_str().into(),
        hourly_cost: incident.hourly_cost,
        resource_count: incident.resource_count,
        status: shown_status(incident, single.as_ref()).as_str().into(),
        snooze_until: incident.snooze_until,
        finding_ids: incident.finding_ids.clone(),
        lead,
        findings,
    })
}

pub(super) async fn incidents_list(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let q = &ctx.request.query;
    let limit = pagination::limit(q.get("limit"))?;
    let Filters {
        status,
        severity,
        account,
        kind,
    } = Filters::parse(ctx, None)?;
    let query = incident::by_time(ctx.tenant()).backward().limit(limit);
    let mut start = pagination::decode(q.get("next"), &query)?;
    let mut items = Vec::new();
    let mut next = None;
    // Filters apply after the key condition, a bounded number of reads per request (as the
    // findings list does).
    'pages: for _ in 0..10 {
        let page = ctx
            .table()
            .query(query.clone().start_after(start.take()))
            .await?;
        for item in page.items {
            let key = entity::page_key(&item, query.index);
            let incident = incident::from_item(item)?;
            let keep = severity.is_none_or(|s| incident.severity == s)
                && account.is_none_or(|a| incident.account_id == a)
                && kind.is_none_or(|k| incident.kind.as_str() == k);
            if keep {
                let view = view(ctx.table(), &incident, false).await?;
                if status.is_none_or(|s| view.status == s.as_str()) {
                    items.push(view);
                }
            }
            if items.len() == limit {
                next = Some(key);
                break 'pages;
            }
        }
        match page.next {
            Some(k) => {
                next = Some(k.clone());
                start = Some(k);
            }
            None => {
                next = None;
                break;
            }
        }
    }
    Ok(HttpResponse::json(
        200,
        &IncidentPage {
            items,
            next: pagination::encode(&next),
        },
    ))
}

/// The incident id in the path, checked before it becomes part of a key.
fn incident_id<'a>(ctx: &'a Ctx<'_>) -> Result<&'a str, ApiError> {
    let id = ctx.param("id");
    let valid = id.starts_with("inc-")
        && id.len() <= 140
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b));
    if !valid {
        return Err(ApiError::bad_request("id", "not an incident id"));
    }
    Ok(id)
}

pub(super) async fn incident_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = incident_id(ctx)?;
    let incident = incident::load(ctx.table(), ctx.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    Ok(HttpResponse::json(
        200,
        &view(ctx.table(), &incident, true).await?,
    ))
}

pub(super) async fn incident_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = incident_id(ctx)?;
    let body: FindingPatch = json_body(&ctx.request.body)?;
    let action = requested_action(ctx, &body)?;
    let outcome = act_on_incident(
        ctx.table(),
        ctx.tenant(),
        id,
        &action,
        &ctx.actor(),
        ctx.now(),
    )
    .await
    .map_err(|e| match e {
        IncidentActionError::NotFound(id) => ApiError::not_found(format!("no incident {id}")),
        e @ IncidentActionError::NotAllowed { .. } => {
            ApiError::bad_request("action", e.to_string())
        }
        IncidentActionError::SnoozeInPast => {
            ApiError::bad_request("snooze_until", "snooze_until must be in the future")
        }
        IncidentActionError::Store(e) => e.into(),
    })?;
    Ok(HttpResponse::json(
        200,
        &view(ctx.table(), &outcome.incident, true).await?,
    ))
}
