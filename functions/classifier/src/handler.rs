//! The classify queue's consumer: drift events become drift findings (stored, published to
//! the notifier, marked published: the scorer's pattern); resolutions resolve the findings;
//! the stack's drift score follows both. Change events need nothing here (they are stored by
//! the normalizer) and are acknowledged.

use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusEvent, Envelope};
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::drift::{
    DriftEvent, DriftEventKind, CHANGE_EVENT_DETAIL_TYPE, DRIFT_EVENT_DETAIL_TYPE,
};
use dd0c_shared::domain::{
    Actor, ActorKind, Finding, FindingKind, FindingStatus, Severity, Source, FINDING_DETAIL_TYPE,
};
use dd0c_shared::entity::finding::{mark_published, record as record_finding, Recorded};
use dd0c_shared::entity::{drift_event, stack};
use dd0c_shared::finding_actions::{self, FindingAction};
use dd0c_shared::store::Table;
use dd0c_shared::telemetry::{self, Metric};
use serde_json::json;

use crate::cause::{cause, recommend};
use crate::rules::{Classification, RuleEngine};

pub struct Classifier {
    table: Arc<dyn Table>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    rules: RuleEngine,
}

fn score_of(severity: Severity) -> f64 {
    match severity {
        Severity::Critical => 95.0,
        Severity::High => 75.0,
        Severity::Medium | Severity::Warning => 50.0,
        Severity::Low | Severity::Info => 20.0,
    }
}

/// Why a drift event is a finding of its severity (a finding's `details.decision`): the change
/// class and the evidence that IaC owns the resource, then the rules that matched.
fn decision_log(drift: &DriftEvent, classification: &Classification) -> serde_json::Value {
    let managed = drift.managed_by.as_ref();
    let evidence = match managed.map(|m| m.identity.as_str()) {
        Some(dd0c_shared::domain::drift::STATE_IMPORT_IDENTITY) => "a state import".to_owned(),
        Some(dd0c_shared::domain::drift::DISCOVERY_IDENTITY) => {
            "the account's stacks, read through the read-only role".to_owned()
        }
        Some(identity) => format!("an IaC write by {identity}"),
        None => "an agent's drift report".to_owned(),
    };
    let class = match (&drift.change, drift.kind) {
        (_, DriftEventKind::Resolved) => "resolved: the change restored what IaC expects".to_owned(),
        (Some(c), _) => format!(
            "drift: {} changed an IaC-managed resource via {} (not an IaC identity, not an AWS service)",
            c.actor.name,
            c.actor.source.label()
        ),
        (None, _) => "drift: reported by an agent comparing IaC with the resource".to_owned(),
    };
    json!({
        "stage": "classifier",
        "verdict": format!(
            "drift: {} ({})",
            classification.severity.as_str(),
            classification.category.as_str()
        ),
        "change_class": class,
        "managed": {
            "evidence": evidence,
            "tool": managed.and_then(|m| m.tool).map(|t| t.label()),
            "stack": drift.stack,
        },
        "rules": classification.rules,
        "reasons": classification.reasons,
        "severity": classification.severity.as_str(),
        "category": classification.category.as_str(),
    })
}

impl Classifier {
    pub fn new(
        table: Arc<dyn Table>,
        bus: Arc<dyn Bus>,
        clock: SharedClock,
        rules: RuleEngine,
    ) -> Self {
        Self {
            table,
            bus,
            clock,
            rules,
        }
    }

    /// The finding a drift event becomes (pure apart from the clock).
    pub fn finding(&self, drift: &DriftEvent) -> Finding {
        let classification = self.rules.classify(drift);
        let cause = cause(drift, &classification);
        let tool = drift
            .managed_by
            .as_ref()
            .and_then(|m| m.tool)
            .map_or("IaC", |t| t.label());
        let recommendation = recommend(&classification, &cause, tool);
        let actor = drift.change.as_ref().map_or_else(
            || Actor {
                arn: "unknown".into(),
                name: "unknown (reported by an agent)".into(),
                kind: ActorKind::Unknown,
                source: Source::Unknown,
                ip: None,
                mfa: false,
                user_agent: None,
            },
            |c| c.actor.clone(),
        );
        let event_time = drift
            .change
            .as_ref()
            .map_or(drift.detected_at, |c| c.event_time);
        let mut reasons = classification.reasons.clone();
        reasons.push(format!(
            "changed outside {tool} by {} via {}",
            actor.name,
            actor.source.label()
        ));
        let attribution = json!({
            "who": actor.name, "arn": actor.arn, "kind": actor.kind,
            "via": actor.source.label(), "ip": actor.ip, "mfa": actor.mfa,
            "user_agent": actor.user_agent,
            "when": event_time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "event_id": drift.change.as_ref().map(|c| c.event_id.clone()),
        });
        Finding {
            id: drift.id.clone(),
            tenant_id: drift.tenant_id.clone(),
            kind: FindingKind::Drift,
            event_id: drift
                .change
                .as_ref()
                .map_or_else(|| drift.id.clone(), |c| c.event_id.clone()),
            account_id: drift.account_id.clone(),
            region: drift.region.clone(),
            event_time,
            event_name: drift
                .change
                .as_ref()
                .map_or_else(|| "DriftReport".into(), |c| c.action.clone()),
            actor,
            severity: classification.severity,
            score: score_of(classification.severity),
            reasons,
            resource_type: drift.resource_type.clone(),
            resource_ids: vec![drift.resource_id.clone()],
            estimated_hourly_cost: None,
            category: Some(classification.category.as_str().to_owned()),
            notified: false,
            suppressed_reason: None,
            status: FindingStatus::Open,
            created_at: self.clock.now(),
            details: json!({
                "diff": drift.changes,
                "attribution": attribution,
                "cause": cause,
                "recommendation": recommendation,
                "stack": drift.stack,
                "managed_by": drift.managed_by,
                "resource_address": drift.resource_address,
                "report_id": drift.report_id,
                "drift_kind": drift.kind,
                "rules": classification.rules,
                "detector": classification.rules.first().map_or_else(
                    || dd0c_shared::detector::DRIFT_UNCLASSIFIED.to_owned(),
                    |rule| dd0c_shared::detector::drift(rule),
                ),
                "codify": crate::codify::suggest(drift),
                "decision": decision_log(drift, &classification),
            }),
        }
    }

    async fn refresh_stack(&self, drift: &DriftEvent) -> Result<(), HandlerError> {
        if let Some(stack) = &drift.stack {
            stack::refresh_stack_score(
                self.table.as_ref(),
                &drift.tenant_id,
                stack,
                self.clock.now(),
            )
            .await?;
        }
        Ok(())
    }

    async fn on_drift(&self, drift: &DriftEvent) -> Result<(), HandlerError> {
        let mut finding = self.finding(drift);
        // The tags IaC gave the resource route its alert (`slack::routing`).
        let managed = dd0c_shared::entity::resource::managed_resource(
            self.table.as_ref(),
            &drift.tenant_id,
            &drift.resource_type,
            &drift.resource_id,
        )
        .await?;
        if let Some(tags) = managed.map(|m| m.tags).filter(|t| !t.is_empty()) {
            finding.details["tags"] = json!(tags);
        }
        drift_event::set_drift_severity(self.table.as_ref(), drift, finding.severity).await?;
        self.refresh_stack(drift).await?;
        if record_finding(self.table.as_ref(), &finding).await? == Recorded::AlreadyPublished {
            return Ok(());
        }
        self.bus
            .publish(vec![BusEvent {
                detail_type: FINDING_DETAIL_TYPE.into(),
                detail: json!({"tenant_id": finding.tenant_id, "finding_id": finding.id}),
                tenant: finding.tenant_id.clone(),
                account: finding.account_id.clone(),
                region: finding.region.clone(),
            }])
            .await?;
        mark_published(self.table.as_ref(), &finding, &self.clock.now()).await?;
        telemetry::metric(Metric::DriftFindings, 1.0);
        Ok(())
    }

    async fn on_resolved(&self, drift: &DriftEvent) -> Result<(), HandlerError> {
        let who = finding_actions::Actor {
            user: "dd0c".into(),
            via: format!(
                "drift:{}",
                drift.resolution.as_deref().unwrap_or("resolved")
            ),
        };
        for id in &drift.resolves {
            match finding_actions::apply(
                self.table.as_ref(),
                &drift.tenant_id,
                id,
                &FindingAction::Resolve,
                &who,
                self.clock.now(),
            )
            .await
            {
                // The finding may not exist yet if its drift event is still queued behind.
                Ok(_) | Err(finding_actions::ActionError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.refresh_stack(drift).await?;
        telemetry::metric(Metric::DriftResolved, drift.resolves.len() as f64);
        Ok(())
    }
}

#[async_trait]
impl MessageHandler for Classifier {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        match envelope.detail_type.as_str() {
            // Published until 2026-12 and never used here: one left in the queue by the last
            // deploy is done with.
            CHANGE_EVENT_DETAIL_TYPE => Ok(()),
            DRIFT_EVENT_DETAIL_TYPE => {
                let drift: DriftEvent = serde_json::from_value(envelope.detail)
                    .map_err(|e| HandlerError::malformed(format!("drift event: {e}")))?;
                match drift.kind {
                    DriftEventKind::Detected | DriftEventKind::Reported => {
                        self.on_drift(&drift).await
                    }
                    DriftEventKind::Resolved => self.on_resolved(&drift).await,
                }
            }
            other => Err(HandlerError::malformed(format!(
                "unexpected detail-type {other:?}"
            ))),
        }
    }
}
