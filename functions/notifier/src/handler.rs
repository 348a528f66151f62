use std::sync::Arc;

use async_trait::async_trait;
use dd0c_shared::batch::{HandlerError, MessageHandler};
use dd0c_shared::bus::Envelope;
use dd0c_shared::chat::{ChatError, ChatMessage, ChatSink};
use dd0c_shared::clock::{SharedClock, SystemClock};
use dd0c_shared::detector;
use dd0c_shared::domain::drift::Stack;
use dd0c_shared::domain::incident::Incident;
use dd0c_shared::domain::{Finding, FindingKind, Severity, FINDING_DETAIL_TYPE};
use dd0c_shared::entity::finding::AlertClaim;
use dd0c_shared::entity::{
    breaker as breaker_entity, finding as finding_entity, incident as incident_entity, notice,
    stack,
};
use dd0c_shared::flags::cache::FlagCache;
use dd0c_shared::governance::{self, store as policy_store, HoldCode, Policy, Verdict};
use dd0c_shared::incidents::{self, Assigned};
use dd0c_shared::remediation::governed as remediation;
use dd0c_shared::slack::settings::{self, ChatDirectory, SingleChat};
use dd0c_shared::slack::{blocks, incident as incident_blocks, routing};
use dd0c_shared::store::{StoreError, Table};
use dd0c_shared::telemetry::{self, trace, Metric};
use serde::Deserialize;

use crate::breaker::{self, BreakerState};

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Where alerts go when the tenant configured no channel.
    pub default_channel: String,
}

impl NotifierConfig {
    pub fn new(default_channel: impl Into<String>) -> Self {
        Self {
            default_channel: default_channel.into(),
        }
    }
}

/// What the notifier decided for a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Send,
    Hold(String),
}

pub struct Notifier {
    table: Arc<dyn Table>,
    chats: Arc<dyn ChatDirectory>,
    config: NotifierConfig,
    policy: Policy,
    clock: SharedClock,
    flags: FlagCache,
}

#[derive(Deserialize)]
struct FindingRef {
    tenant_id: String,
    finding_id: String,
}

impl Notifier {
    /// One chat sink for every tenant, the embedded system policy (`policy.json`, or the file
    /// in `DD0C_POLICY`) and the system clock; see the `with_*` builders.
    pub fn new(table: Arc<dyn Table>, chat: Arc<dyn ChatSink>, config: NotifierConfig) -> Self {
        Self {
            table,
            chats: Arc::new(SingleChat(chat)),
            config,
            // The embedded policy is checked by a test; a bad DD0C_POLICY file must fail the
            // start, which `Policy::load` in main.rs / the CLI does before building this.
            policy: Policy::system().unwrap_or_else(|e| panic!("embedded policy.json: {e}")),
            clock: Arc::new(SystemClock),
            flags: FlagCache::default(),
        }
    }

    /// How long flag reads are reused (tests that change flags between findings pass zero).
    pub fn with_flag_cache(mut self, ttl: std::time::Duration) -> Self {
        self.flags = FlagCache::new(ttl);
        self
    }

    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Replays pass the clock that reads event time.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Per-tenant sinks (production: each tenant's installed Slack workspace).
    pub fn with_directory(mut self, chats: Arc<dyn ChatDirectory>) -> Self {
        self.chats = chats;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The governance decision alone (policy overrides and account age read from the table).
    pub async fn decide(&self, finding: &Finding) -> Result<Verdict, HandlerError> {
        let table = self.table.as_ref();
        let policy = policy_store::policy_for_account(
            table,
            &self.policy,
            &finding.tenant_id,
            &finding.account_id,
        )
        .await?;
        let account =
            policy_store::account_context(table, &finding.tenant_id, &finding.account_id).await?;
        Ok(governance::decide(
            &policy,
            finding,
            &account,
            self.clock.now(),
        ))
    }

    /// The stack a finding belongs to, when it names one.
    async fn stack_of(&self, finding: &Finding) -> Result<Option<Stack>, HandlerError> {
        let Some(stack_id) = finding.details.get("stack").and_then(|s| s.as_str()) else {
            return Ok(None);
        };
        Ok(stack::load_stack(self.table.as_ref(), &finding.tenant_id, stack_id).await?)
    }

    /// Where the finding's alert goes (`slack::routing`: resource tag, stack, account, tenant
    /// default, ours).
    async fn channel_for(&self, finding: &Finding) -> Result<String, HandlerError> {
        let stack = self.stack_of(finding).await?;
        Ok(self.route_of(finding, stack.as_ref()).await?.channel)
    }

    async fn route_of(
        &self,
        finding: &Finding,
        stack: Option<&Stack>,
    ) -> Result<routing::Route, HandlerError> {
        let s = settings::load_settings(self.table.as_ref(), &finding.tenant_id).await?;
        Ok(routing::route(
            &s,
            finding,
            stack,
            &self.config.default_channel,
        ))
    }

    async fn hold(
        &self,
        finding: &Finding,
        code: HoldCode,
        reason: &str,
    ) -> Result<(), HandlerError> {
        finding_entity::record_notification(self.table.as_ref(), finding, false, Some(reason))
            .await?;
        tracing::info!(
            tenant = %finding.tenant_id,
            finding = %finding.id,
            severity = finding.severity.as_str(),
            decision = "held",
            code = ?code,
            reason = %reason,
            "notification decision"
        );
        telemetry::metric(Metric::NotificationsHeld, 1.0);
        Ok(())
    }

    /// One "alerting paused" notice per tenant while panic mode is on.
    async fn panic_notice(
        &self,
        finding: &Finding,
        chat: &dyn ChatSink,
    ) -> Result<(), HandlerError> {
        let first = notice::claim(
            self.table.as_ref(),
            &finding.tenant_id,
            governance::store::PAUSED_NOTICE,
            &self.clock.now(),
        )
        .await?;
        if !first {
            return Ok(());
        }
        let text = ":double_vertical_bar: dd0c alerting is paused (panic mode). Findings are still scored and recorded; see the dashboard or the daily digest.";
        let message = ChatMessage {
            channel: self.channel_for(finding).await?,
            text: text.into(),
            blocks: serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]),
            thread_ts: None,
        };
        if let Err(e) = chat.post(message).await {
            tracing::warn!(tenant = %finding.tenant_id, error = %e, "could not post the panic notice");
        }
        Ok(())
    }

    /// The breaker's one message of the hour: posted by the first held alert's delivery (a
    /// conditional claim, so a redelivery or a concurrent delivery does not post it again),
    /// then edited with the held count at 1-2-5 steps. Best effort: the holds stand either way.
    async fn breaker_notice(
        &self,
        finding: &Finding,
        state: &BreakerState,
        held: u32,
        chat: &dyn ChatSink,
    ) -> Result<(), HandlerError> {
        let table = self.table.as_ref();
        let text = state.notice_text(held);
        let message = |channel: String| ChatMessage {
            channel,
            text: text.clone(),
            blocks: serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": text}}]),
            thread_ts: None,
        };
        if !state.notice_claimed {
            let first = breaker_entity::claim_notice(
                table,
                &finding.tenant_id,
                &state.detector,
                &state.hour,
                &self.clock.now(),
            )
            .await?;
            if !first {
                return Ok(());
            }
            match chat.post(message(self.channel_for(finding).await?)).await {
                Ok(posted) => {
                    breaker_entity::record_notice(
                        table,
                        &finding.tenant_id,
                        &state.detector,
                        &state.hour,
                        &posted.channel,
                        &posted.ts,
                    )
                    .await?;
                }
                Err(e) => {
                    tracing::warn!(tenant = %finding.tenant_id, detector = %state.detector, error = %e, "could not post the circuit breaker notice");
                }
            }
            return Ok(());
        }
        if let (true, Some((channel, ts))) = (breaker::worth_an_edit(held), &state.notice) {
            if let Err(e) = chat.update(channel, ts, message(channel.clone())).await {
                tracing::warn!(tenant = %finding.tenant_id, detector = %state.detector, error = %e, "could not update the circuit breaker notice");
            }
        }
        Ok(())
    }

    pub async fn notify(&self, finding: &Finding) -> Result<Decision, HandlerError> {
        // Every finding is in an incident, alerted or held (decision 0530).
        let assigned = incidents::assign(self.table.as_ref(), finding, self.clock.now()).await?;
        let decision = self.decide_and_send(finding, &assigned).await?;
        if let Decision::Hold(_) = decision {
            self.refresh_incident_root(&assigned, None).await;
        }
        Ok(decision)
    }

    /// The first alert of an incident is its thread's root. Only threading depends on it, and
    /// the alert is out: a failure is logged, not retried by redelivery.
    async fn record_incident_thread(
        &self,
        incident: &Incident,
        channel: &str,
        ts: &str,
        finding_id: &str,
    ) {
        let key = incident_entity::key(&incident.tenant_id, &incident.id);
        let update = incident_entity::thread_update(channel, ts, finding_id);
        match self.table.update(&key, update).await {
            Ok(_) => {}
            Err(e) if e.is_condition_failed() => {}
            Err(e) => {
                tracing::warn!(incident = %incident.id, error = %e, "could not record the incident's thread")
            }
        }
    }

    /// Rewrites an incident's thread root with its header, once it has more than one finding
    /// (the alert that opened the thread stays below it). Best effort: the findings and the
    /// incident are recorded either way.
    async fn refresh_incident_root(&self, assigned: &Assigned, chat: Option<&dyn ChatSink>) {
        let incident = &assigned.incident;
        if !assigned.joined || incident.count < 2 {
            return;
        }
        let (Some(channel), Some(ts), Some(root_id)) = (
            incident.slack_channel.as_deref(),
            incident.slack_ts.as_deref(),
            incident.root_finding.as_deref(),
        ) else {
            return;
        };
        let table = self.table.as_ref();
        let root = match finding_entity::load(table, &incident.tenant_id, root_id).await {
            Ok(Some(root)) => root,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(incident = %incident.id, error = %e, "could not read the incident's first finding");
                return;
            }
        };
        let fetched;
        let chat = match chat {
            Some(chat) => chat,
            None => match self.chats.chat_for(&incident.tenant_id).await {
                Ok(Some(chat)) => {
                    fetched = chat;
                    fetched.as_ref()
                }
                _ => return,
            },
        };
        let mut alert = incident_blocks::standing_alert(&root);
        match remediation::offered(table, &self.policy, &root).await {
            Ok(offered) => {
                dd0c_shared::slack::remediation::add_buttons(&mut alert, &root, &offered)
            }
            Err(e) => {
                tracing::warn!(incident = %incident.id, error = %e, "could not read the remediations of the incident's first finding")
            }
        }
        let message = ChatMessage {
            channel: channel.to_owned(),
            text: incident_blocks::summary(incident),
            blocks: incident_blocks::with_header(incident, alert, None),
            thread_ts: None,
        };
        if let Err(e) = chat.update(channel, ts, message).await {
            tracing::warn!(incident = %incident.id, error = %e, "could not update the incident's thread root");
        }
    }

    async fn decide_and_send(
        &self,
        finding: &Finding,
        assigned: &Assigned,
    ) -> Result<Decision, HandlerError> {
        let detector = detector::of(finding);
        let flags = self
            .flags
            .flags(self.table.as_ref(), &finding.tenant_id)
            .await?;
        if let Some(flag) = flags.turned_off(&detector, self.clock.now()) {
            let reason = flag.hold_reason();
            self.hold(finding, HoldCode::FlagOff, &reason).await?;
            return Ok(Decision::Hold(reason));
        }
        let chat = self
            .chats
            .chat_for(&finding.tenant_id)
            .await
            .map_err(HandlerError::transient)?;
        let verdict = self.decide(finding).await?;
        if let Verdict::Hold { code, reason } = verdict {
            if code == HoldCode::PanicMode {
                if let Some(chat) = &chat {
                    self.panic_notice(finding, chat.as_ref()).await?;
                }
            }
            self.hold(finding, code, &reason).await?;
            return Ok(Decision::Hold(reason));
        }
        let stack = self.stack_of(finding).await?;
        if let Some(s) = stack.as_ref().filter(|s| !s.enabled) {
            if finding.kind == FindingKind::Drift {
                let reason = format!(
                    "stack {} is not watched: its drift is recorded, not alerted",
                    if s.name.is_empty() {
                        &s.stack_id
                    } else {
                        &s.name
                    }
                );
                self.hold(finding, HoldCode::Unwatched, &reason).await?;
                return Ok(Decision::Hold(reason));
            }
        }
        let Some(chat) = chat else {
            let reason = "no working Slack installation for this tenant";
            self.hold(finding, HoldCode::Strict, reason).await?;
            return Ok(Decision::Hold(reason.into()));
        };
        let now = self.clock.now();
        // Critical findings are counted but never held by the breaker (decision 0510).
        let state = breaker::count(
            self.table.as_ref(),
            &finding.tenant_id,
            &detector,
            &finding.id,
            now,
        )
        .await?;
        if let (Some(held), true) = (state.held(), finding.severity < Severity::Critical) {
            self.breaker_notice(finding, &state, held, chat.as_ref())
                .await?;
            let reason = state.hold_reason();
            self.hold(finding, HoldCode::Breaker, &reason).await?;
            return Ok(Decision::Hold(reason));
        }
        let route = self.route_of(finding, stack.as_ref()).await?;
        let channel = route.channel.clone();
        // The incident's thread, when its root went to the same channel.
        let incident = &assigned.incident;
        let thread_ts = incident
            .slack_ts
            .clone()
            .filter(|_| incident.slack_channel.as_deref() == Some(channel.as_str()))
            .filter(|_| incident.root_finding.as_deref() != Some(finding.id.as_str()));
        let mut alert = blocks::finding_alert(finding);
        // Remediation buttons where the account has a remediation role and policy allows.
        let remediations = remediation::offered(self.table.as_ref(), &self.policy, finding).await?;
        dd0c_shared::slack::remediation::add_buttons(&mut alert, finding, &remediations);
        if let (Some(owner), Some(rule), Some(list)) = (
            route.mention.as_deref(),
            route.mention_rule.as_ref(),
            alert.as_array_mut(),
        ) {
            let from = match rule {
                routing::RouteRule::Tag(key, _) => format!("tag {key}"),
                routing::RouteRule::Stack(name) => format!("stack {name}"),
                _ => String::new(),
            };
            list.push(blocks::owner_context(owner, &from));
        }
        let message = ChatMessage {
            channel: channel.clone(),
            text: blocks::summary(finding),
            blocks: alert,
            thread_ts: thread_ts.clone(),
        };
        // At most one message per finding: claimed before the post, released if the post
        // did not go out, recorded in one write after (`finding::AlertClaim`).
        let table = self.table.as_ref();
        let claim = AlertClaim::new();
        if !persist(|| finding_entity::claim_alert(table, finding, &claim, &now)).await? {
            return Err(HandlerError::transient(format!(
                "the alert of {} may have been posted by an earlier delivery that did not \
                 finish; it is not posted twice",
                finding.id
            )));
        }
        let mut span = trace::Span::child("slack.chat.postMessage");
        span.set("dd0c.tenant_id", finding.tenant_id.as_str());
        span.set("dd0c.finding_id", finding.id.as_str());
        if let Some(resource) = finding.resource_ids.first() {
            span.set("dd0c.resource", trace::hash_arn(resource));
        }
        let sent = chat.post(message).await;
        if let Err(e) = &sent {
            span.fail(e);
        }
        span.end();
        let posted = match sent {
            Ok(p) => p,
            Err(e) => {
                persist(|| finding_entity::release_alert_claim(table, finding, &claim)).await?;
                return match e {
                    ChatError::RateLimited {
                        retry_after_seconds,
                    } => {
                        tracing::warn!(finding = %finding.id, retry_after_seconds, "Slack rate limited the alert; back to the queue");
                        telemetry::metric(Metric::SlackRateLimited, 1.0);
                        Err(HandlerError::retry_after(
                            format!("Slack rate limited the alert for {}", finding.id),
                            retry_after_seconds,
                        ))
                    }
                    ChatError::Revoked(why) => {
                        let reason = format!("Slack installation broken: {why}");
                        settings::mark_broken(table, &finding.tenant_id, &why, now).await?;
                        self.hold(finding, HoldCode::Strict, &reason).await?;
                        Ok(Decision::Hold(reason))
                    }
                    e => Err(HandlerError::transient(e)),
                };
            }
        };
        persist(|| finding_entity::record_alert_sent(table, finding, &posted.channel, &posted.ts))
            .await?;
        let threaded = thread_ts.is_some();
        if threaded {
            self.refresh_incident_root(assigned, Some(chat.as_ref()))
                .await;
        } else {
            self.record_incident_thread(incident, &posted.channel, &posted.ts, &finding.id)
                .await;
        }
        tracing::info!(
            tenant = %finding.tenant_id,
            finding = %finding.id,
            severity = finding.severity.as_str(),
            decision = "sent",
            channel = %posted.channel,
            incident = %incident.id,
            threaded,
            "notification decision"
        );
        telemetry::metric(Metric::NotificationsSent, 1.0);
        Ok(Decision::Send)
    }
}

/// Runs a write the Slack post depends on, trying a throttled or failed backend three times
/// here rather than through redelivery, which could no longer tell whether the alert went out.
async fn persist<T, F, Fut>(mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut tries = 1;
    loop {
        match write().await {
            Err(StoreError::Backend(e)) if tries < 3 => {
                tracing::warn!(error = %e, tries, "alert bookkeeping failed; trying again");
                tries += 1;
            }
            other => return other,
        }
    }
}

#[async_trait]
impl MessageHandler for Notifier {
    async fn handle(&self, body: &str) -> Result<(), HandlerError> {
        let envelope: Envelope = serde_json::from_str(body).map_err(HandlerError::malformed)?;
        if envelope.detail_type != FINDING_DETAIL_TYPE {
            return Err(HandlerError::malformed(format!(
                "unexpected detail-type {:?}",
                envelope.detail_type
            )));
        }
        let reference: FindingRef =
            serde_json::from_value(envelope.detail).map_err(HandlerError::malformed)?;
        let finding = finding_entity::load(
            self.table.as_ref(),
            &reference.tenant_id,
            &reference.finding_id,
        )
        .await?
        .ok_or_else(|| {
            HandlerError::malformed(format!("finding {} not found", reference.finding_id))
        })?;
        // A redelivered message must not post twice.
        if finding.notified || finding.suppressed_reason.is_some() {
            return Ok(());
        }
        self.notify(&finding).await.map(|_| ())
    }
}
