use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use dd0c_shared::accounts::Accounts;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusEvent};
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::ingest::CLOUD_TRAIL;
use dd0c_shared::domain::{CloudTrailRecord, CostEvent, IngestMessage, COST_EVENT_DETAIL_TYPE};
use dd0c_shared::entity::event::{self, RecordSpend};
use dd0c_shared::store::{AttrValue, Table};
use dd0c_shared::telemetry::{self, Metric};
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};

use crate::catalogue::{self, Facts, Normalized};
use crate::instances::{
    AccountsResolver, ChainedResolver, InstanceTypeResolver, ResolveError, ResourceStore,
};
use crate::stats::Stats;

/// How long a record's processed mark is kept after it was written. Its readers are this
/// function, on a redelivery of the record, which comes while SQS keeps the message (14 days
/// at most, its dead-letter queue too), as a finding's published mark (decision 1100); and the
/// digest, which reads the spend on the marks of the last 24 hours (decision 1200).
const PROCESSED_MARK_DAYS: i64 = 15;

#[derive(Debug, Clone)]
pub struct NormalizerConfig {
    /// Embedded mode: an unknown account is linked to this tenant on first sight (a local
    /// replay has no onboarding). In production unknown accounts are dropped.
    pub auto_link_tenant: Option<String>,
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    CostEvents(usize),
    NonCost,
    FailedCall(String),
    Duplicate,
    UnknownAccount,
    InactiveAccount,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::CostEvents(_) => "cost_event",
            Outcome::NonCost => "non_cost_event",
            Outcome::FailedCall(_) => "failed_call",
            Outcome::Duplicate => "duplicate",
            Outcome::UnknownAccount => "unknown_account",
            Outcome::InactiveAccount => "inactive_account",
        }
    }
}

/// Where the cost events of a history record (the backfill) go instead of the bus: the
/// scorer's quiet fold. Returns whether the event counted.
#[async_trait]
pub trait CostSink: Send + Sync {
    async fn absorb(&self, event: &CostEvent) -> Result<bool, HandlerError>;
}

/// How a record's results leave the normalizer.
enum Delivery<'a> {
    /// Live: drift tracked, domain events published (scored, classified, notified).
    Live,
    /// History: cost events handed to the sink, what IaC owns learnt but no drift (changes
    /// made before dd0c watched the account are nothing anyone can act on now), nothing
    /// published.
    History(&'a dyn CostSink),
}

pub struct Normalizer {
    table: Arc<dyn Table>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    config: NormalizerConfig,
    resources: ResourceStore,
    instance_types: Arc<dyn InstanceTypeResolver>,
    links: dd0c_shared::entity::account_link::RecentLinks,
    pub stats: Arc<Stats>,
}

fn resolve_failed(e: ResolveError) -> HandlerError {
    match e {
        ResolveError::Corrupt { .. } => HandlerError::malformed(e),
        ResolveError::Store(e) => e.into(),
        unavailable @ ResolveError::Unavailable(_) => HandlerError::transient(unavailable),
    }
}

impl Normalizer {
    pub fn new(
        table: Arc<dyn Table>,
        bus: Arc<dyn Bus>,
        clock: SharedClock,
        config: NormalizerConfig,
    ) -> Self {
        let resources = ResourceStore::new(table.clone());
        Self {
            table,
            bus,
            clock,
            config,
            instance_types: Arc::new(resources.clone()),
            resources,
            links: Default::default(),
            stats: Arc::new(Stats::default()),
        }
    }

    /// Instance types dd0c did not store at launch are described through the customer's
    /// read-only role (the store is asked first).
    pub fn with_accounts(self, accounts: Arc<dyn Accounts>) -> Self {
        let resolver = ChainedResolver {
            first: Arc::new(self.resources.clone()),
            then: Arc::new(AccountsResolver {
                accounts,
                table: self.table.clone(),
            }),
        };
        self.with_instance_resolver(Arc::new(resolver))
    }

    /// Replaces how instance types not in an event are found (by default: what dd0c stored
    /// at launch).
    pub fn with_instance_resolver(mut self, resolver: Arc<dyn InstanceTypeResolver>) -> Self {
        self.instance_types = resolver;
        self
    }

    async fn tenant_for(&self, account: &str) -> Result<Option<AccountLink>, HandlerError> {
        let link = self
            .links
            .load(self.table.as_ref(), account, self.clock.now())
            .await?;
        match (link, &self.config.auto_link_tenant) {
            (Some(link), _) => Ok(Some(link)),
            (None, Some(tenant)) => {
                let link = AccountLink {
                    account_id: account.to_owned(),
                    tenant_id: tenant.clone(),
                    status: AccountStatus::Active,
                    role_arn: None,
                    external_id: None,
                    remediation_role_arn: None,
                    connected_at: self.clock.now(),
                    status_changed_at: None,
                };
                tenancy::link_account_if_absent(self.table.as_ref(), &link)
                    .await
                    .map(Some)
                    .map_err(HandlerError::from)
            }
            (None, None) => Ok(None),
        }
    }

    /// Normalizes one CloudTrail record. Safe to repeat: the event's key is its own
    /// eventID and time, and it is marked published only after its cost events went out.
    pub async fn process_record(&self, raw: &str) -> Result<Outcome, HandlerError> {
        self.process(raw, Delivery::Live).await
    }

    /// Normalizes one record of the account's history (the backfill) through the same path,
    /// quietly: stored and learnt from like a live record, its cost events folded into the
    /// baselines by `sink`, nothing published. Safe to repeat, as [`Self::process_record`].
    pub async fn process_history_record(
        &self,
        raw: &str,
        sink: &dyn CostSink,
    ) -> Result<Outcome, HandlerError> {
        self.process(raw, Delivery::History(sink)).await
    }

    async fn process(&self, raw: &str, delivery: Delivery<'_>) -> Result<Outcome, HandlerError> {
        let record = CloudTrailRecord::from_json(raw).map_err(HandlerError::malformed)?;
        let account = record
            .account_id()
            .ok_or_else(|| HandlerError::malformed("record names no account (recipientAccountId)"))?
            .to_owned();
        let Some(link) = self.tenant_for(&account).await? else {
            return Ok(Outcome::UnknownAccount);
        };
        if link.status != AccountStatus::Active {
            return Ok(Outcome::InactiveAccount);
        }
        let tenant = link.tenant_id.as_str();
        let tracking = match delivery {
            Delivery::Live => crate::drift::Tracking::Live,
            Delivery::History(_) => crate::drift::Tracking::OwnershipOnly,
        };
        let lookups = catalogue::lookups(&record);
        let changed = crate::drift::changed_resources(&record);
        let discovery = match tracking {
            crate::drift::Tracking::Live => crate::stack_discovery::refresh_step(&record, &link),
            crate::drift::Tracking::OwnershipOnly => None,
        };
        // A record that needs no stored facts, changes nothing dd0c follows and costs nothing
        // (a read, a failed call) leaves no trace: no marker, no record. Processing it again
        // after a redelivery does nothing again, so it needs no idempotency of its own
        // (decision 1040).
        let mut early = None;
        if lookups.is_empty() && changed.is_empty() && discovery.is_none() {
            let facts = Facts::default();
            let normalized = catalogue::normalize_with(&record, tenant, &account, &facts);
            let outcome = match &normalized {
                Normalized::Failed { error_code } => Some(Outcome::FailedCall(error_code.clone())),
                Normalized::NonCost => Some(Outcome::NonCost),
                Normalized::Cost(_) => None,
            };
            match outcome {
                Some(outcome) if catalogue::learned(&record, &facts).is_empty() => {
                    return Ok(outcome)
                }
                _ => early = Some((facts, normalized)),
            }
        }
        let key = event::cloudtrail_key(tenant, &account, &record.event_time, &record.event_id);
        // A redelivery comes a visibility timeout after the delivery that marked the record,
        // long after an eventually consistent read sees the mark; and what the record produces
        // is idempotent on its own (decision 1040).
        let existing = self.table.get_eventually(&key).await?;
        if existing
            .as_ref()
            .is_some_and(|i| i.get("published") == Some(&AttrValue::Bool(true)))
        {
            return Ok(Outcome::Duplicate);
        }
        let (facts, normalized) = match early {
            Some(done) => done,
            None => {
                let facts = self
                    .resources
                    .load(
                        self.instance_types.as_ref(),
                        tenant,
                        &account,
                        &record.aws_region,
                        &lookups,
                    )
                    .await
                    .map_err(resolve_failed)?;
                let normalized = catalogue::normalize_with(&record, tenant, &account, &facts);
                (facts, normalized)
            }
        };
        let tracked =
            crate::drift::track_extracted(self.table.as_ref(), &record, &link, tracking, changed)
                .await?;
        {
            let mut events = tracked.events;
            if let Some(step) = discovery {
                events.push(step.event());
            }
            if !events.is_empty() {
                self.bus.publish(events).await?;
            }
            if !tracked.changes.is_empty() {
                telemetry::metric(Metric::ChangeEvents, tracked.changes.len() as f64);
            }
        }
        let ttl = (self.clock.now() + Duration::days(PROCESSED_MARK_DAYS)).timestamp();
        let (outcome, spend) = match normalized {
            Normalized::Failed { error_code } => (Outcome::FailedCall(error_code), None),
            Normalized::NonCost => (Outcome::NonCost, None),
            Normalized::Cost(events) => {
                if let Delivery::History(sink) = delivery {
                    // Folded before the record is marked below: a crash in between folds
                    // again, which the scorer's markers make harmless.
                    for event in &events {
                        sink.absorb(event).await?;
                    }
                } else {
                    let bus_events = events
                        .iter()
                        .filter(|e| !e.adds_nothing())
                        .map(|e| {
                            Ok(BusEvent {
                                detail_type: COST_EVENT_DETAIL_TYPE.into(),
                                detail: serde_json::to_value(e).map_err(HandlerError::malformed)?,
                                tenant: e.tenant_id.clone(),
                                account: e.account_id.clone(),
                                region: e.region.clone(),
                            })
                        })
                        .collect::<Result<Vec<_>, HandlerError>>()?;
                    if !bus_events.is_empty() {
                        self.bus.publish(bus_events).await?;
                    }
                    telemetry::metric(Metric::CostEvents, events.len() as f64);
                }
                (Outcome::CostEvents(events.len()), RecordSpend::of(&events))
            }
        };
        self.finish(
            tenant,
            &account,
            &record,
            &facts,
            &key,
            &outcome,
            spend.as_ref(),
            ttl,
        )
        .await?;
        Ok(outcome)
    }

    /// Remembers what the record taught (before it is marked published, so a redelivery
    /// relearns it), then marks it published, with what its cost events started (the digest's
    /// reading, decision 1200).
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        tenant: &str,
        account: &str,
        record: &CloudTrailRecord,
        facts: &Facts,
        key: &dd0c_shared::store::Key,
        outcome: &Outcome,
        spend: Option<&RecordSpend>,
        ttl: i64,
    ) -> Result<(), HandlerError> {
        self.resources
            .apply(
                tenant,
                account,
                &catalogue::learned(record, facts),
                crate::instances::instance_facts_ttl(record.event_time),
            )
            .await
            .map_err(resolve_failed)?;
        let mark = event::processed_mark(
            &record.event_name,
            &record.event_source,
            outcome.label(),
            spend,
            ttl,
        );
        self.table.update_only(key, mark).await?;
        Ok(())
    }
}

#[async_trait]
impl MessageHandler for Normalizer {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let message: IngestMessage = serde_json::from_str(body)
            .map_err(|e| HandlerError::malformed(format!("ingest message: {e}")))?;
        match (message.kind.as_str(), message.record) {
            (CLOUD_TRAIL, Some(record)) => {
                // Failures are counted where they end up: in the dead-letter queue.
                let outcome = self.process_record(record.get()).await?;
                self.stats.count(outcome.label());
                telemetry::metric(Metric::EventsIngested, 1.0);
                if matches!(
                    outcome,
                    Outcome::Duplicate | Outcome::UnknownAccount | Outcome::InactiveAccount
                ) {
                    telemetry::metric(Metric::EventsSkipped, 1.0);
                }
                Ok(())
            }
            (dd0c_shared::domain::ingest::DRIFT_REPORT, _) => {
                let events = crate::drift::report(self.table.as_ref(), message.report).await?;
                self.bus.publish(events).await.map_err(HandlerError::from)
            }
            (kind, _) => Err(HandlerError::malformed(format!(
                "ingest message of type {kind:?} is not handled by this normalizer"
            ))),
        }
    }
}
