//! `GET /v1/events/{id}/decision`: why dd0c alerted on a CloudTrail event, held it, or made no
//! finding of it: each finding's decision log (the scorer's signals, thresholds, baseline values
//! and price; the classifier's evidence and rules) with the policy's word on it, or, for a cost
//! event that made no finding, the verdict its contribution marker keeps (decision 0300).

use serde_json::{json, Value};

use dd0c_shared::domain::{Finding, FindingKind};
use dd0c_shared::entity::{baseline, finding};
use dd0c_shared::governance::store as policy_store;
use dd0c_shared::http::HttpResponse;
use dd0c_shared::tenancy;

use super::{valid_segment, Ctx};
use crate::error::ApiError;
use crate::model::EventDecision;

/// What the policy made of a finding: sent, or held and why, with the rule it was held against.
async fn policy_word(
    ctx: &Ctx<'_>,
    f: &Finding,
    slack_channel: Option<&str>,
) -> Result<Value, ApiError> {
    let policy = policy_store::policy_for_account(
        ctx.table(),
        &ctx.api.config.system_policy,
        ctx.tenant(),
        &f.account_id,
    )
    .await?;
    let immediate = policy.immediate_severity.for_kind(f.kind);
    let decision = if f.notified {
        format!(
            "sent to Slack{}",
            slack_channel.map(|c| format!(" ({c})")).unwrap_or_default()
        )
    } else if let Some(reason) = &f.suppressed_reason {
        format!("held: {reason}")
    } else {
        "not decided yet".to_owned()
    };
    Ok(json!({
        "decision": decision,
        "notified": f.notified,
        "suppressed_reason": f.suppressed_reason,
        "governance_mode": policy.governance_mode,
        "immediate_severity": immediate.as_str(),
        "severity": f.severity.as_str(),
        "immediate": f.severity >= immediate,
        "new_account_strict_days": policy.new_account_strict_days,
    }))
}

/// A finding's decision log with the policy's word on it (the API, the dashboard, Slack's
/// "Why?").
pub(super) async fn finding_decision(
    ctx: &Ctx<'_>,
    stored: &finding::StoredFinding,
) -> Result<Value, ApiError> {
    let f = &stored.finding;
    Ok(json!({
        "finding_id": f.id,
        "kind": f.kind.as_str(),
        "reasons": f.reasons,
        "decision": f.details.get("decision").cloned().unwrap_or(Value::Null),
        "policy": policy_word(ctx, f, stored.slack_channel.as_deref()).await?,
    }))
}

pub(super) async fn event_decision(ctx: &Ctx<'_>) -> Result<HttpResponse, ApiError> {
    let id = ctx.param("id");
    if !valid_segment(id) {
        return Err(ApiError::bad_request("id", "not a CloudTrail event id"));
    }
    let mut findings = Vec::new();
    for kind in [FindingKind::CostAnomaly, FindingKind::Drift] {
        let finding_id = Finding::id_for(kind, id);
        if let Some(stored) = finding::load_stored(ctx.table(), ctx.tenant(), &finding_id).await? {
            findings.push(finding_decision(ctx, &stored).await?);
        }
    }
    let mut scored = None;
    if findings.is_empty() {
        for link in tenancy::tenant_accounts(ctx.table(), ctx.tenant()).await? {
            if let Some(decision) =
                baseline::scored_decision(ctx.table(), ctx.tenant(), &link.account_id, id).await?
            {
                scored = Some(json!({
                    "account_id": link.account_id,
                    "decision": decision.unwrap_or_else(|| json!({
                        "verdict": "scored, no finding (scored before decisions were kept)"
                    })),
                }));
                break;
            }
        }
    }
    if findings.is_empty() && scored.is_none() {
        return Err(ApiError::not_found(format!(
            "no decision for event {id}: it made no finding and dd0c priced no cost for it \
             (a read-only or failed call, a change no rule classifies, an account not \
             connected, or an event older than 90 days)"
        )));
    }
    Ok(HttpResponse::json(
        200,
        &EventDecision {
            event_id: id.to_owned(),
            findings,
            scored,
        },
    ))
}
