use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusEvent, Envelope};
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::{
    CostAction, CostEvent, Finding, FindingKind, FindingStatus, Source, COST_EVENT_DETAIL_TYPE,
    FINDING_DETAIL_TYPE,
};
use dd0c_shared::entity::baseline as baseline_entity;
use dd0c_shared::entity::finding::{
    load as load_finding, mark_published, record as record_finding, Recorded,
};
use dd0c_shared::entity::resource as resource_entity;
use dd0c_shared::store::{
    AttrValue, Condition, Item, Key, StoreError, Table, TransactWrite, Update, TTL_ATTRIBUTE,
};
use dd0c_shared::telemetry::{self, Metric};

use crate::baseline::{self, Baseline, Contribution};

/// The drift product's name for a cost event's resource type (EBS volumes are `ec2:volume`
/// there, as EC2 calls name them).
fn drift_resource_type(cost_type: &str) -> &str {
    match cost_type {
        "ebs:volume" => "ec2:volume",
        other => other,
    }
}
use crate::config::{BURST_BUCKET_SECONDS, BURST_TTL_SECONDS};
use crate::decision;
use crate::signals::{self, actor_key, Assessment};

/// How long the "already counted" marker of an event is kept: far beyond any redelivery
/// (SQS keeps messages 14 days at most).
const CONTRIBUTION_TTL_SECONDS: i64 = 30 * 24 * 3600;
const ACTIVITY_CALLS: &str = "calls";

pub struct Scorer {
    table: Arc<dyn Table>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    links: dd0c_shared::entity::account_link::RecentLinks,
}

/// One baseline's part of a fold: the update of its sets, when the event brings something new
/// to them, and the update of its tally, each with its item's key.
type BaselineFold = (Option<(Key, Update)>, (Key, Update));

/// What folding one event writes ([`Scorer::fold_writes`]).
struct FoldWrites {
    /// The service/type baseline's, then the account-wide one's.
    baselines: [BaselineFold; 2],
    activity: (Key, Update),
    marker: Item,
}

/// The baselines and context read for one event, before it is folded in.
struct Before {
    kind: Baseline,
    account: Baseline,
    account_since: Option<chrono::DateTime<chrono::Utc>>,
    recent_calls_by_actor: f64,
}

impl Before {
    fn context(&self) -> signals::Context<'_> {
        signals::Context {
            kind: &self.kind,
            account: &self.account,
            account_since: self.account_since,
            recent_calls_by_actor: self.recent_calls_by_actor,
        }
    }
}

impl Scorer {
    pub fn new(table: Arc<dyn Table>, bus: Arc<dyn Bus>, clock: SharedClock) -> Self {
        Self {
            table,
            bus,
            clock,
            links: Default::default(),
        }
    }

    fn bucket(event: &CostEvent) -> i64 {
        event
            .event_time
            .timestamp()
            .div_euclid(BURST_BUCKET_SECONDS)
    }

    async fn before(&self, event: &CostEvent) -> Result<Before, HandlerError> {
        let (tenant, account) = (event.tenant_id.as_str(), event.account_id.as_str());
        let (kind_key, account_key) =
            baseline::keys_for(tenant, account, &event.service, &event.resource_type);
        let kind = Baseline::load(self.table.as_ref(), &kind_key).await?;
        let account_baseline = Baseline::load(self.table.as_ref(), &account_key).await?;
        let link = self
            .links
            .load(self.table.as_ref(), account, self.clock.now())
            .await?;
        // History read by the backfill counts: an account connected with months of it is as
        // old as its history, not as its link.
        let account_since = link
            .filter(|l| l.tenant_id == tenant)
            .map(|l| l.connected_at)
            .into_iter()
            .chain(account_baseline.history_since)
            .min()
            .or(account_baseline.first_seen);
        let actor_id = actor_key(event);
        let actor: &str = &actor_id;
        let bucket = Self::bucket(event);
        let mut recent = 0.0;
        for b in [bucket - 1, bucket] {
            let item = self
                .table
                .get(&baseline_entity::activity_key(tenant, account, actor, b))
                .await?;
            recent += item
                .and_then(|i| i.get(ACTIVITY_CALLS).and_then(AttrValue::as_f64))
                .unwrap_or(0.0);
        }
        Ok(Before {
            kind,
            account: account_baseline,
            account_since,
            recent_calls_by_actor: recent,
        })
    }

    /// Scores an event against its baselines as they are now, without folding it in.
    pub async fn assess(&self, event: &CostEvent) -> Result<Option<Assessment>, HandlerError> {
        if !event.action.adds_cost() {
            return Ok(None);
        }
        let before = self.before(event).await?;
        Ok(signals::assess(event, &before.context()))
    }

    /// Scores an event against its baselines as they are now (no side effects).
    pub async fn score(&self, event: &CostEvent) -> Result<Option<Finding>, HandlerError> {
        if !event.action.adds_cost() {
            return Ok(None);
        }
        let before = self.before(event).await?;
        let ctx = before.context();
        let (verdict, trace) = signals::assess_traced(event, &ctx);
        let Some(assessment) = verdict else {
            return Ok(None);
        };
        let log = decision::log(event, &ctx, &trace, Some(assessment.severity));
        let mut finding = self.finding(event, assessment);
        finding.details["iac"] = self.iac_ownership(event).await?;
        finding.details["decision"] = log;
        Ok(Some(finding))
    }

    /// Whether what the event is about is IaC-managed: what an IaC tool creates is; what anyone
    /// else creates is not; a started or modified resource is when drift tracking knows it as
    /// managed (one read, only for events that became findings).
    async fn iac_ownership(&self, event: &CostEvent) -> Result<serde_json::Value, HandlerError> {
        if let Source::Iac(tool) = event.actor.source {
            return Ok(serde_json::json!({
                "managed": true, "tool": tool.label(),
                "summary": format!("managed by {}: created by it", tool.label()),
            }));
        }
        let outside = |how: &str| {
            serde_json::json!({
                "managed": false,
                "summary": format!("not IaC-managed: {how} via {}", event.actor.source.label()),
            })
        };
        if event.action == CostAction::Create {
            return Ok(outside("created outside IaC"));
        }
        let Some(id) = event.resource_ids.first() else {
            return Ok(outside("changed"));
        };
        let resource_type = drift_resource_type(&event.resource_type);
        let managed = resource_entity::managed_resource(
            self.table.as_ref(),
            &event.tenant_id,
            resource_type,
            id,
        )
        .await?;
        Ok(match managed {
            Some(m) => {
                let tool = m.managed_by.tool.map_or("IaC", |t| t.label());
                serde_json::json!({
                    "managed": true, "tool": m.managed_by.tool.map(|t| t.label()),
                    "stack": m.managed_by.stack,
                    "summary": format!("managed by {tool}, changed outside it via {}", event.actor.source.label()),
                })
            }
            None => outside("changed"),
        })
    }

    fn finding(&self, event: &CostEvent, assessment: Assessment) -> Finding {
        let detector = assessment.detector;
        Finding {
            id: Finding::id_for(FindingKind::CostAnomaly, &event.event_id),
            tenant_id: event.tenant_id.clone(),
            kind: FindingKind::CostAnomaly,
            event_id: event.event_id.clone(),
            account_id: event.account_id.clone(),
            region: event.region.clone(),
            event_time: event.event_time,
            event_name: event.event_name.clone(),
            actor: event.actor.clone(),
            severity: assessment.severity,
            score: assessment.score,
            reasons: assessment.reasons,
            resource_type: event.resource_type.clone(),
            resource_ids: event.resource_ids.clone(),
            estimated_hourly_cost: event.hourly_cost,
            category: None,
            notified: false,
            suppressed_reason: None,
            status: FindingStatus::Open,
            created_at: self.clock.now(),
            details: serde_json::json!({
                "sku": event.sku, "count": event.count, "spot": event.spot,
                "service": event.service, "tags": event.tags,
                "pricing": event.pricing_details(),
                "detector": if detector.is_empty() {
                    dd0c_shared::detector::COST_UNATTRIBUTED.to_owned()
                } else {
                    dd0c_shared::detector::cost(detector)
                },
            }),
        }
    }

    /// Scores one event against the baselines as they were before it, records the finding,
    /// folds the event into the baselines (once, even when redelivered) and publishes the
    /// finding. Events that add no cost change nothing.
    pub async fn process(&self, event: &CostEvent) -> Result<Option<Finding>, HandlerError> {
        let Some(hourly) = event.scored_hourly_cost() else {
            return Ok(None);
        };
        let (tenant, account) = (event.tenant_id.as_str(), event.account_id.as_str());
        let marker = baseline_entity::contribution_key(tenant, account, &event.event_id);
        // Eventually consistent: a redelivery comes a visibility timeout after the delivery
        // that wrote the marker, and a missed marker leaves the event on the service/type
        // baseline's `folded_event`, read strongly below (decisions 1040, 1050).
        if self.table.get_eventually(&marker).await?.is_some() {
            return self.finish_folded(event, hourly).await;
        }
        let before = self.before(event).await?;
        if before.kind.folded_event.as_deref() == Some(event.event_id.as_str()) {
            // An earlier delivery scored the event and began folding it, then stopped: finish
            // the fold (what is counted stays counted once) rather than score again against
            // baselines that already hold the event.
            self.fold(event, hourly, None, Some(&before)).await?;
            return self.finish_folded(event, hourly).await;
        }
        // Read strongly just now, under the account's order: a max it holds at or above this
        // event's would fail raise_max's condition, which DynamoDB bills all the same.
        let raises_max = !before.kind.max.is_some_and(|max| hourly <= max);
        let ctx = before.context();
        let (verdict, trace) = signals::assess_traced(event, &ctx);
        let unexplained = verdict.is_none().then(|| decision::compact(&ctx, &trace));
        let finding = match verdict {
            Some(a) => {
                let log = decision::log(event, &ctx, &trace, Some(a.severity));
                let mut f = self.finding(event, a);
                f.details["iac"] = self.iac_ownership(event).await?;
                f.details["decision"] = log;
                Some(f)
            }
            None => None,
        };
        // Recorded before the fold: a crash in between re-scores against the same baselines.
        let recorded = match &finding {
            Some(f) => Some(record_finding(self.table.as_ref(), f).await?),
            None => None,
        };
        self.fold(event, hourly, unexplained.as_ref(), Some(&before))
            .await?;
        if raises_max {
            self.raise_max(event, hourly).await?;
        }
        if let (Some(f), Some(recorded)) = (&finding, recorded) {
            self.publish_recorded(f, recorded).await?;
        }
        Ok(finding)
    }

    /// An event already folded in: finish what the earlier attempt may not have.
    async fn finish_folded(
        &self,
        event: &CostEvent,
        hourly: f64,
    ) -> Result<Option<Finding>, HandlerError> {
        self.raise_max(event, hourly).await?;
        let id = Finding::id_for(FindingKind::CostAnomaly, &event.event_id);
        let Some(finding) = load_finding(self.table.as_ref(), &event.tenant_id, &id).await? else {
            return Ok(None);
        };
        self.publish(&finding).await?;
        Ok(Some(finding))
    }

    /// Folds one event of the account's history (the backfill) into the baselines: no score,
    /// no finding, nothing published. Once per event, like [`Scorer::process`]; the
    /// first-seen times it touches are moved back to the event's when they are later (history
    /// arrives newest first). Returns whether the event counts (it adds cost).
    pub async fn fold_history(&self, event: &CostEvent) -> Result<bool, HandlerError> {
        let Some(hourly) = event.scored_hourly_cost() else {
            return Ok(false);
        };
        self.fold_in_transaction(event, hourly).await?;
        self.raise_max(event, hourly).await?;
        let (tenant, account) = (event.tenant_id.as_str(), event.account_id.as_str());
        let (kind_key, account_key) =
            baseline::keys_for(tenant, account, &event.service, &event.resource_type);
        let actor_id = actor_key(event);
        let contribution = Contribution {
            hourly,
            time: event.event_time,
            actor: &actor_id,
            sku: event.sku.as_deref(),
            region: &event.region,
            by_iac: event.actor.source.is_iac(),
        };
        for name in baseline::first_seen_attributes(&contribution) {
            for key in [&kind_key, &account_key] {
                self.lower(key, baseline::lower_time(&name, event.event_time))
                    .await?;
            }
        }
        Ok(true)
    }

    /// Records that the account's history goes back to `oldest` (the backfill's oldest event
    /// so far): its learning period counts from there.
    pub async fn note_history_since(
        &self,
        tenant: &str,
        account: &str,
        oldest: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), HandlerError> {
        let key = baseline_entity::account_key(tenant, account);
        self.lower(&key, baseline::lower_time(baseline::HISTORY_SINCE, oldest))
            .await
    }

    async fn lower(
        &self,
        key: &dd0c_shared::store::Key,
        update: Update,
    ) -> Result<(), HandlerError> {
        match self.table.update_only(key, update).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_condition_failed() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// What folding one event writes: for the service/type baseline, then the account-wide
    /// one, what it adds to the baseline item's sets (unless `known`, the baselines as read
    /// before, already hold all of it) and to its tally; then the actor's activity bucket and
    /// the event's contribution marker, with `decision` (why an event that made no finding
    /// made none).
    fn fold_writes(
        &self,
        event: &CostEvent,
        hourly: f64,
        decision: Option<&serde_json::Value>,
        known: Option<&Before>,
    ) -> FoldWrites {
        let (tenant, account) = (event.tenant_id.as_str(), event.account_id.as_str());
        let (kind_key, account_key) =
            baseline::keys_for(tenant, account, &event.service, &event.resource_type);
        let actor_id = actor_key(event);
        let actor: &str = &actor_id;
        let contribution = Contribution {
            hourly,
            time: event.event_time,
            actor,
            sku: event.sku.as_deref(),
            region: &event.region,
            by_iac: event.actor.source.is_iac(),
        };
        let bucket = Self::bucket(event);
        let activity_ttl = (bucket + 1) * BURST_BUCKET_SECONDS + BURST_TTL_SECONDS;
        let baseline_fold = |key: Key, as_read: Option<&Baseline>, with_cost: bool| {
            let members = (!as_read.is_some_and(|b| b.knows(&contribution)))
                .then(|| (key.clone(), baseline::members(&contribution)));
            let tally = (
                baseline_entity::tally_key(&key),
                baseline::tally(&contribution, with_cost),
            );
            (members, tally)
        };
        let baselines = [
            baseline_fold(kind_key, known.map(|b| &b.kind), true),
            baseline_fold(account_key, known.map(|b| &b.account), false),
        ];
        let activity = (
            baseline_entity::activity_key(tenant, account, actor, bucket),
            Update::new()
                .add(ACTIVITY_CALLS, 1.0)
                .set(TTL_ATTRIBUTE, activity_ttl as f64),
        );
        // From now, not from the event: a backfilled event is up to 90 days old, and its
        // marker must outlive its redeliveries too.
        let mut marker = baseline_entity::contribution_item(
            tenant,
            account,
            &event.event_id,
            event.event_time.max(self.clock.now()).timestamp() + CONTRIBUTION_TTL_SECONDS,
        );
        if let Some(decision) = decision {
            marker.insert(
                baseline_entity::DECISION_ATTRIBUTE.into(),
                AttrValue::S(decision.to_string()),
            );
        }
        FoldWrites {
            baselines,
            activity,
            marker,
        }
    }

    /// Folds a live event: what it adds to a baseline's sets (idempotent, and only what the
    /// baselines as read did not hold), then each of its counting items (the two tallies and
    /// the activity bucket) in one conditional update that records the event there
    /// ([`baseline::once_per_event`]), then its marker. A redelivery, or a delivery that
    /// stopped half way, adds nothing where the event is already counted. Half the writes of a
    /// transaction (which bills each item twice), and exact under redelivery because an
    /// account's live events come in order (decision 1050).
    async fn fold(
        &self,
        event: &CostEvent,
        hourly: f64,
        decision: Option<&serde_json::Value>,
        known: Option<&Before>,
    ) -> Result<(), HandlerError> {
        let writes = self.fold_writes(event, hourly, decision, known);
        let counting = writes
            .baselines
            .into_iter()
            .flat_map(|(members, tally)| {
                [members.map(|m| (m, false)), Some((tally, true))]
                    .into_iter()
                    .flatten()
            })
            .chain([(writes.activity, true)]);
        for ((key, update), once) in counting {
            let update = match once {
                true => baseline::once_per_event(update, &event.event_id),
                false => update,
            };
            match self.table.update_only(&key, update).await {
                Ok(_) => {}
                Err(e) if e.is_condition_failed() => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self
            .table
            .put(writes.marker, Some(Condition::ItemNotExists))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_condition_failed() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Folds an event of the account's history: the marker (only if absent) and the three
    /// updates in one transaction. The backfill runs beside the live events, on its own queue
    /// and in no order with them, so it leaves the live folds' `folded_event` alone and keeps
    /// its events counted once by the marker.
    async fn fold_in_transaction(
        &self,
        event: &CostEvent,
        hourly: f64,
    ) -> Result<(), HandlerError> {
        let fold = self.fold_writes(event, hourly, None, None);
        let mut writes = vec![TransactWrite::Put {
            item: fold.marker,
            condition: Some(Condition::ItemNotExists),
        }];
        let updates = fold
            .baselines
            .into_iter()
            .flat_map(|(members, tally)| members.into_iter().chain([tally]))
            .chain([fold.activity]);
        writes.extend(updates.map(|(key, update)| TransactWrite::Update { key, update }));
        match self.table.transact_write(writes).await {
            Ok(()) => Ok(()),
            // The marker exists: another delivery of the same event counted it.
            Err(StoreError::TransactionCanceled { reasons })
                if reasons.first().is_some_and(Option::is_some)
                    && reasons.iter().skip(1).all(Option::is_none) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn raise_max(&self, event: &CostEvent, hourly: f64) -> Result<(), HandlerError> {
        let key = baseline_entity::tally_key(&baseline_entity::key(
            &event.tenant_id,
            &event.account_id,
            &event.service,
            &event.resource_type,
        ));
        match self
            .table
            .update_only(&key, baseline::raise_max(hourly))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_condition_failed() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn publish(&self, finding: &Finding) -> Result<(), HandlerError> {
        let recorded = record_finding(self.table.as_ref(), finding).await?;
        self.publish_recorded(finding, recorded).await
    }

    /// Publishes a finding unless `recorded` (its record's outcome, a moment ago under the
    /// account's order) says it was published before.
    async fn publish_recorded(
        &self,
        finding: &Finding,
        recorded: Recorded,
    ) -> Result<(), HandlerError> {
        if recorded == Recorded::AlreadyPublished {
            return Ok(());
        }
        self.bus
            .publish(vec![BusEvent {
                detail_type: FINDING_DETAIL_TYPE.into(),
                detail: serde_json::json!({"tenant_id": finding.tenant_id, "finding_id": finding.id}),
                tenant: finding.tenant_id.clone(),
                account: finding.account_id.clone(),
                region: finding.region.clone(),
            }])
            .await?;
        mark_published(self.table.as_ref(), finding, &self.clock.now()).await?;
        telemetry::metric(Metric::Findings, 1.0);
        Ok(())
    }
}

#[async_trait]
impl MessageHandler for Scorer {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != COST_EVENT_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let event: CostEvent =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        self.process(&event).await.map(|_| ())
    }
}
