//! Baselines from day 0: when an account connects, its last 90 days of write management
//! events are read with CloudTrail `LookupEvents`, one page per step, and folded into the
//! baselines through the normalizer and the scorer's quiet fold (nothing scored, published or
//! notified). Every step is one message on the `backfill` queue; the job's page token and
//! counters are stored after each page and the next step is enqueued, so a timeout or crash
//! loses at most the page in hand, which is read again (events are folded once: the
//! normalizer's published mark and the scorer's markers). `docs/decisions/0320-backfill.md`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use dd0c_scorer::Scorer;
use dd0c_shared::accounts::{Accounts, AccountsError, EventsPage, Session, COMMERCIAL_REGIONS};
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::{Bus, BusEvent, Envelope};
use dd0c_shared::clock::SharedClock;
use dd0c_shared::domain::{CloudTrailRecord, CostEvent};
use dd0c_shared::entity::backfill::{
    self as progress_entity, BackfillProgress, BackfillStatus, BackfillStep, STEP_DETAIL_TYPE,
};
use dd0c_shared::store::Table;
use dd0c_shared::tenancy::{self, AccountLink, AccountStatus};

use crate::handler::{CostSink, Normalizer, NormalizerConfig, Outcome};

/// What bounds a backfill's time and cost.
#[derive(Debug, Clone)]
pub struct BackfillLimits {
    /// How far back from the connection the history is read (CloudTrail keeps 90 days).
    pub window: Duration,
    /// CloudTrail allows LookupEvents 2 requests per second per account and region.
    pub min_request_interval: Duration,
    /// Pages read per region at most (50 events each): the cost cap.
    pub max_pages_per_region: u64,
    /// Throttled requests repeated within one step, after `first_backoff`, doubling.
    pub throttle_retries: u32,
    pub first_backoff: Duration,
    /// When the retries of a step are spent, the message comes back after this long.
    pub throttled_step_delay_seconds: u64,
}

impl Default for BackfillLimits {
    fn default() -> Self {
        Self {
            window: Duration::days(90),
            min_request_interval: Duration::milliseconds(500),
            max_pages_per_region: 1_000,
            throttle_retries: 3,
            first_backoff: Duration::seconds(1),
            throttled_step_delay_seconds: 30,
        }
    }
}

/// Waiting between requests (the rate limit, the back-off): real time on Lambda, the test's
/// clock in tests.
#[async_trait]
pub trait Pause: Send + Sync {
    async fn pause(&self, duration: Duration);
}

/// Waits in real time.
pub struct SleepPause;

#[async_trait]
impl Pause for SleepPause {
    async fn pause(&self, duration: Duration) {
        if let Ok(d) = duration.to_std() {
            tokio::time::sleep(d).await;
        }
    }
}

/// The scorer's quiet fold, as the normalizer's history sink.
pub struct QuietScorer<'a>(pub &'a Scorer);

#[async_trait]
impl CostSink for QuietScorer<'_> {
    async fn absorb(&self, event: &CostEvent) -> Result<bool, HandlerError> {
        self.0.fold_history(event).await
    }
}

pub struct Backfill {
    table: Arc<dyn Table>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    accounts: Arc<dyn Accounts>,
    normalizer: Normalizer,
    scorer: Scorer,
    pause: Arc<dyn Pause>,
    limits: BackfillLimits,
}

/// The bus event of one step.
pub fn step_event(step: &BackfillStep) -> BusEvent {
    step.event()
}

/// The message that starts an account's backfill in every region (sent on connect).
pub fn start_event(tenant: &str, account: &str) -> BusEvent {
    BackfillStep::start(tenant, account).event()
}

impl Backfill {
    /// The normalizer inside reads what dd0c stored and never calls the account for a
    /// missing instance type (history would spend describe calls on long-gone instances).
    pub fn new(
        table: Arc<dyn Table>,
        bus: Arc<dyn Bus>,
        clock: SharedClock,
        accounts: Arc<dyn Accounts>,
        config: NormalizerConfig,
    ) -> Self {
        Self {
            normalizer: Normalizer::new(table.clone(), bus.clone(), clock.clone(), config),
            scorer: Scorer::new(table.clone(), bus.clone(), clock.clone()),
            table,
            bus,
            clock,
            accounts,
            pause: Arc::new(SleepPause),
            limits: BackfillLimits::default(),
        }
    }

    pub fn with_limits(mut self, limits: BackfillLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_pause(mut self, pause: Arc<dyn Pause>) -> Self {
        self.pause = pause;
        self
    }

    /// Runs one step: the start (a job per region) or one page of a region.
    pub async fn step(&self, step: &BackfillStep) -> Result<(), HandlerError> {
        let Some(link) = self.live_link(step).await? else {
            tracing::info!(account = %step.account_id, "backfill: account not connected; step dropped");
            return Ok(());
        };
        match &step.region {
            None => self.start(step, &link).await,
            Some(region) => self.page(step, region, &link).await,
        }
    }

    async fn live_link(&self, step: &BackfillStep) -> Result<Option<AccountLink>, HandlerError> {
        let link = tenancy::account_link(self.table.as_ref(), &step.account_id).await?;
        Ok(link.filter(|l| l.tenant_id == step.tenant_id && l.status == AccountStatus::Active))
    }

    /// Creates a job per region (keeping any that exists) and enqueues the first page of each
    /// that has read nothing yet.
    async fn start(&self, step: &BackfillStep, link: &AccountLink) -> Result<(), HandlerError> {
        if link.role_arn.is_none() || link.external_id.is_none() {
            tracing::info!(account = %step.account_id, "backfill: no role to read the history with");
            return Ok(());
        }
        let end = link.connected_at;
        let start = end - self.limits.window;
        let now = self.clock.now();
        let mut first_pages = Vec::new();
        for region in COMMERCIAL_REGIONS {
            let job =
                BackfillProgress::new(&step.tenant_id, &step.account_id, region, start, end, now);
            progress_entity::create_if_absent(self.table.as_ref(), &job).await?;
            let current = progress_entity::load(
                self.table.as_ref(),
                &step.tenant_id,
                &step.account_id,
                region,
            )
            .await?;
            if current.is_some_and(|p| p.status == BackfillStatus::Running && p.pages == 0) {
                first_pages.push(step_event(&BackfillStep {
                    region: Some((*region).to_owned()),
                    page: 1,
                    ..step.clone()
                }));
            }
        }
        self.bus.publish(first_pages).await?;
        Ok(())
    }

    async fn page(
        &self,
        step: &BackfillStep,
        region: &str,
        link: &AccountLink,
    ) -> Result<(), HandlerError> {
        let table = self.table.as_ref();
        let Some(mut job) =
            progress_entity::load(table, &step.tenant_id, &step.account_id, region).await?
        else {
            return Err(HandlerError::malformed(format!(
                "no backfill job for {}/{region}",
                step.account_id
            )));
        };
        if job.status.is_finished() {
            return Ok(());
        }
        let pages_before = job.pages;
        if step.page == pages_before {
            // This step was done, but its continuation may not have been sent (a crash in
            // between): send it again (the queue drops a duplicate within its window, and the
            // job's condition drops a later one).
            return self.continue_with(&job).await;
        }
        if step.page != pages_before + 1 {
            return Ok(());
        }
        let now = self.clock.now();
        if pages_before >= self.limits.max_pages_per_region {
            job.finish(BackfillStatus::Capped, now);
            job.updated_at = now;
            progress_entity::advance(table, &job, pages_before).await?;
            return Ok(());
        }
        let page = match self.lookup(&mut job, link, region).await {
            Ok(page) => page,
            Err(Failure::Finished(status, error)) => {
                let now = self.clock.now();
                job.finish(status, now);
                job.error = error;
                job.updated_at = now;
                progress_entity::advance(table, &job, pages_before).await?;
                return Ok(());
            }
            Err(Failure::Retry(e)) => {
                // The requests made count; the page and its token stay where they were.
                job.updated_at = self.clock.now();
                progress_entity::advance(table, &job, pages_before).await?;
                return Err(e);
            }
        };
        self.fold_page(&mut job, &page).await?;
        if let Some(oldest) = job.oldest_event {
            self.scorer
                .note_history_since(&step.tenant_id, &step.account_id, oldest)
                .await?;
        }
        let now = self.clock.now();
        job.pages = pages_before + 1;
        job.updated_at = now;
        job.next_token = page.next_token.clone();
        if page.next_token.is_none() {
            job.finish(BackfillStatus::Done, now);
        } else if job.pages >= self.limits.max_pages_per_region {
            job.finish(BackfillStatus::Capped, now);
        }
        if !progress_entity::advance(table, &job, pages_before).await? {
            // Another delivery of this step got there first and carries on.
            return Ok(());
        }
        self.continue_with(&job).await
    }

    async fn continue_with(&self, job: &BackfillProgress) -> Result<(), HandlerError> {
        if job.status.is_finished() {
            return Ok(());
        }
        let next = step_event(&BackfillStep {
            tenant_id: job.tenant_id.clone(),
            account_id: job.account_id.clone(),
            region: Some(job.region.clone()),
            page: job.pages + 1,
        });
        self.bus.publish(vec![next]).await?;
        Ok(())
    }

    /// One LookupEvents request for the job's next page, no sooner than the rate limit allows,
    /// repeated with back-off while throttled.
    async fn lookup(
        &self,
        job: &mut BackfillProgress,
        link: &AccountLink,
        region: &str,
    ) -> Result<EventsPage, Failure> {
        let session = self.session(link).await?;
        let mut backoff = self.limits.first_backoff;
        let mut attempt = 0;
        loop {
            self.wait_for_turn(job).await;
            job.requests += 1;
            job.last_request_at = Some(self.clock.now());
            let result = self
                .accounts
                .lookup_write_events(
                    &session,
                    region,
                    job.start,
                    job.end,
                    job.next_token.as_deref(),
                )
                .await;
            match result {
                Ok(page) => return Ok(page),
                Err(AccountsError::Throttled(message)) => {
                    job.throttled += 1;
                    attempt += 1;
                    if attempt > self.limits.throttle_retries {
                        return Err(Failure::Retry(HandlerError::retry_after(
                            format!("LookupEvents throttled in {region}: {message}"),
                            self.limits.throttled_step_delay_seconds,
                        )));
                    }
                    self.pause.pause(backoff).await;
                    backoff = backoff * 2;
                }
                Err(e) => return Err(Failure::from_accounts(e)),
            }
        }
    }

    async fn wait_for_turn(&self, job: &BackfillProgress) {
        if let Some(last) = job.last_request_at {
            let wait = last + self.limits.min_request_interval - self.clock.now();
            if wait > Duration::zero() {
                self.pause.pause(wait).await;
            }
        }
    }

    async fn session(&self, link: &AccountLink) -> Result<Session, Failure> {
        let (Some(role), Some(external_id)) = (&link.role_arn, &link.external_id) else {
            return Err(Failure::Finished(
                BackfillStatus::Failed,
                Some("the account has no role to read its history with".into()),
            ));
        };
        self.accounts
            .assume_role(role, external_id)
            .await
            .map_err(Failure::from_accounts)
    }

    /// Folds one page through the normalizer and the scorer's quiet fold. A record that is not
    /// a CloudTrail record is counted and skipped (the rest of the page still counts).
    async fn fold_page(
        &self,
        job: &mut BackfillProgress,
        page: &EventsPage,
    ) -> Result<(), HandlerError> {
        let sink = QuietScorer(&self.scorer);
        for raw in &page.events {
            let time = match CloudTrailRecord::from_json(raw) {
                Ok(record) => record.event_time,
                Err(e) => {
                    tracing::warn!(error = %e, "backfill: not a CloudTrail record; skipped");
                    job.malformed += 1;
                    continue;
                }
            };
            match self.normalizer.process_history_record(raw, &sink).await {
                Ok(outcome) => {
                    job.events += 1;
                    if let Outcome::CostEvents(n) = outcome {
                        job.cost_events += n as u64;
                    }
                    job.oldest_event = Some(job.oldest_event.map_or(time, |t| t.min(time)));
                }
                Err(e) if e.is_permanent() => {
                    tracing::warn!(error = %e, "backfill: record skipped");
                    job.malformed += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Why a page was not read.
enum Failure {
    /// The job ends here (the region is not enabled, the role lacks the permission).
    Finished(BackfillStatus, Option<String>),
    /// Try the step again later.
    Retry(HandlerError),
}

impl Failure {
    fn from_accounts(e: AccountsError) -> Self {
        match e {
            AccountsError::RegionNotEnabled(_) => {
                Failure::Finished(BackfillStatus::RegionNotEnabled, None)
            }
            AccountsError::Throttled(m)
            | AccountsError::Unavailable(m)
            | AccountsError::NotFound(m) => Failure::Retry(HandlerError::transient(m)),
            e @ (AccountsError::MissingPermission { .. }
            | AccountsError::AssumeRoleDenied(_)
            | AccountsError::ExternalIdMismatch
            | AccountsError::InvalidRoleArn(_)) => {
                Failure::Finished(BackfillStatus::Failed, Some(e.to_string()))
            }
        }
    }
}

#[async_trait]
impl MessageHandler for Backfill {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != STEP_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let step: BackfillStep =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        self.step(&step).await
    }
}
