//! Listing findings (cost anomalies and drift) and acting on one.

use chrono::{DateTime, Duration, Utc};

use dd0c_shared::accounts;
use dd0c_shared::domain::{FindingStatus, Severity};
use dd0c_shared::entity::{self, finding};
use dd0c_shared::finding_actions::{self, ChangeError, FindingAction};
use dd0c_shared::http::HttpResponse;

use super::{valid_segment, Ctx};
use crate::error::{json_body, ApiError};
use crate::model::*;
use crate::pagination;

fn parse_time(ctx: &Ctx<'_>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    ctx.request
        .query
        .get(name)
        .map(|raw| {
            DateTime::parse_from_rfc3339(raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::bad_request(
                        name,
                        format!("{name} must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z"),
                    )
                })
        })
        .transpose()
}

/// The filters findings and incidents share (`status`, `severity`, `account`, `kind`).
pub(super) struct Filters<'a> {
    pub status: Option<FindingStatus>,
    pub severity: Option<Severity>,
    pub account: Option<&'a str>,
    pub kind: Option<&'a str>,
}

impl<'a> Filters<'a> {
    pub fn parse(ctx: &'a Ctx<'_>, forced_kind: Option<&'a str>) -> Result<Self, ApiError> {
        let q = &ctx.request.query;
        let status = q
            .get("status")
            .map(|s| s.parse::<FindingStatus>())
            .transpose()
            .map_err(|_| {
                ApiError::bad_request(
                    "status",
                    format!("status must be one of {}", FindingStatus::choices()),
                )
            })?;
        let severity = match q.get("severity") {
            Some(s) => Some(Severity::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "severity",
                    "severity must be info, low, medium, warning, high or critical",
                )
            })?),
            None => None,
        };
        let account = q.get("account").map(String::as_str);
        if account.is_some_and(|a| !accounts::is_account_id(a)) {
            return Err(ApiError::bad_request(
                "account",
                "account must be a 12-digit AWS account id",
            ));
        }
        let kind = match (forced_kind, q.get("kind").map(String::as_str)) {
            (Some(k), _) => Some(k),
            (None, Some(k @ ("cost_anomaly" | "drift"))) => Some(k),
            (None, Some(_)) => {
                return Err(ApiError::bad_request(
                    "kind",
                    "kind must be cost_anomaly or drift",
                ))
            }
            (None, None) => None,
        };
        Ok(Filters {
            status,
            severity,
            account,
            kind,
        })
    }
}

pub(super) async fn findings_list(
    ctx: &Ctx<'_>,
    forced_kind: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let q = &ctx.request.query;
    let limit = pagination::limit(q.get("limit"))?;
    let since = parse_time(ctx, "since")?;
    let until = parse_time(ctx, "until")?;
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(ApiError::bad_request("until", "until must be after since"));
        }
    }
    let Filters {
        status,
        severity,
        account,
        kind,
    } = Filters::parse(ctx, forced_kind)?;
    let stack = q.get("stack").map(String::as_str);
    if stack.is_some_and(|s| !valid_segment(s)) {
        return Err(ApiError::bad_request("stack", "stack must be a stack id"));
    }

    let tenant = ctx.tenant();
    let query = match status {
        Some(s) => finding::in_status(tenant, s),
        None => finding::by_time(tenant),
    }
    .sort(entity::time_range(since.as_ref(), until.as_ref()))
    .backward()
    .limit(limit);
    let mut start = pagination::decode(q.get("next"), &query)?;
    let mut items = Vec::new();
    let mut next = None;
    // Filters apply after the key condition (as a DynamoDB FilterExpression would); a bounded
    // number of reads per request keeps a sparse filter from scanning a whole partition.
    for _ in 0..10 {
        let page = ctx
            .table()
            .query(query.clone().start_after(start.take()))
            .await?;
        let page_next = page.next.clone();
        let mut filled = false;
        for item in page.items {
            let key = entity::page_key(&item, query.index);
            let stored = finding::stored(None, item)?;
            let finding = &stored.finding;
            let until_ok = until.is_none_or(|u| finding.event_time < u);
            let keep = until_ok
                && severity.is_none_or(|s| finding.severity == s)
                && account.is_none_or(|a| finding.account_id == a)
                && kind.is_none_or(|k| finding.kind.as_str() == k)
                && stack.is_none_or(|s| {
                    finding.details["stack_id"].as_str() == Some(s)
                        || finding.details["stack"].as_str() == Some(s)
                });
            if keep {
                let stored = finding::with_incident(ctx.table(), stored).await?;
                items.push(
                    FindingView::new(&stored.finding, stored.snooze_until)
                        .in_incident(stored.incident_id),
                );
            }
            if items.len() == limit {
                next = Some(key);
                filled = true;
                break;
            }
        }
        if filled {
            break;
        }
        match page_next {
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
    // A full page that ended exactly at the partition's end still gets a token; the next
    // call answers an empty page, which clients handle.
    Ok(HttpResponse::json(
        200,
        &FindingPage {
            items,
            next: pagination::encode(&next),
        },
    ))
}

/// The finding id in the path, checked before it becomes part of a key.
fn finding_id<'a>(ctx: &'a Ctx<'_>) -> Result<&'a str, ApiError> {
    let id = ctx.param("id");
    // Longer than other segments: a finding id is its kind and the event id it came from.
    let valid = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b));
    if !valid {
        return Err(ApiError::bad_request("id", "not a finding id"));
    }
    Ok(id)
}

pub(super) async fn finding_get(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = finding_id(ctx)?;
    let stored = finding::load_stored(ctx.table(), ctx.tenant(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no finding {id}")))?;
    Ok(HttpResponse::json(
        200,
        &FindingView::new(&stored.finding, stored.snooze_until).in_incident(stored.incident_id),
    ))
}

/// The action a PATCH body asks for (a finding's or an incident's), checked before any state
/// is read: a bad body is named first.
pub(super) fn requested_action(
    ctx: &Ctx<'_>,
    body: &FindingPatch,
) -> Result<FindingAction, ApiError> {
    let action = match (body.action.as_str(), body.snooze_until) {
        ("mark_expected", None) => FindingAction::MarkExpected,
        ("resolve", None) => FindingAction::Resolve,
        ("reopen", None) => FindingAction::Reopen,
        ("snooze", Some(until)) => FindingAction::Snooze { until },
        ("snooze", None) => {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze needs snooze_until (RFC 3339)",
            ))
        }
        ("mark_expected" | "resolve" | "reopen", Some(_)) => {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze_until only goes with the snooze action",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "action",
                "action must be mark_expected, snooze, resolve or reopen",
            ))
        }
    };
    if let FindingAction::Snooze { until } = &action {
        if *until <= ctx.now() {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze_until must be in the future",
            ));
        }
        if *until > ctx.now() + Duration::days(90) {
            return Err(ApiError::bad_request(
                "snooze_until",
                "snooze for at most 90 days",
            ));
        }
    }
    Ok(action)
}

pub(super) async fn finding_patch(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = finding_id(ctx)?;
    let body: FindingPatch = json_body(&ctx.request.body)?;
    let action = requested_action(ctx, &body)?;
    // The finding's status decides which actions are allowed (`Transition::allowed_from`):
    // acting on a resolved finding as if it were open is a stale page or a client bug.
    let finding = finding_actions::apply_checked(
        ctx.table(),
        ctx.tenant(),
        id,
        &action,
        &ctx.actor(),
        ctx.now(),
    )
    .await
    .map_err(|e| match e {
        ChangeError::NotFound(id) => ApiError::not_found(format!("no finding {id}")),
        // "<action> is not allowed on a <status> finding".
        ChangeError::NotAllowed(e) => ApiError::bad_request("action", e.to_string()),
        ChangeError::SnoozeInPast => {
            ApiError::bad_request("snooze_until", "snooze_until must be in the future")
        }
        ChangeError::Store(e) => e.into(),
    })?;
    let snooze = match &action {
        FindingAction::Snooze { until } => Some(*until),
        _ => None,
    };
    Ok(HttpResponse::json(200, &FindingView::new(&finding, snooze)))
}
