//! Request and response bodies. The OpenAPI document is generated from these types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use dd0c_shared::accounts::zombie::Zombie;
use dd0c_shared::domain::Finding;
use dd0c_shared::entity::backfill::BackfillProgress;
use dd0c_shared::entity::stack::{Stack, StackDeclaration};
use dd0c_shared::tenancy::AccountLink;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SetupResponse {
    /// The UUIDv4 the role's trust policy must require.
    pub external_id: String,
    /// Opens the CloudFormation console with the template and parameters filled in.
    pub quick_create_url: String,
    pub template_url: String,
    pub stack_name: String,
    pub dd0c_account_id: String,
    pub region: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectAccountRequest {
    /// 12 digits.
    pub aws_account_id: String,
    /// The `RoleArn` output of the dd0c-readonly stack.
    pub role_arn: String,
    /// The stack's `RemediationRoleArn` output, when it was created with
    /// `EnableRemediation=true`; absent: dd0c offers no remediation for the account.
    #[serde(default)]
    pub remediation_role_arn: Option<String>,
    /// Region to scan for zombies (default: the setup region).
    #[serde(default)]
    pub region: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatusView {
    Pending,
    Active,
    Paused,
    Disconnecting,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub account_id: String,
    pub status: AccountStatusView,
    pub role_arn: Option<String>,
    /// The remediation role, when the account was connected with one.
    pub remediation_role_arn: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub status_changed_at: Option<DateTime<Utc>>,
}

impl From<&AccountLink> for AccountView {
    fn from(l: &AccountLink) -> Self {
        use dd0c_shared::tenancy::AccountStatus as S;
        AccountView {
            account_id: l.account_id.clone(),
            status: match l.status {
                S::Pending => AccountStatusView::Pending,
                S::Active => AccountStatusView::Active,
                S::Paused => AccountStatusView::Paused,
                S::Disconnecting => AccountStatusView::Disconnecting,
            },
            role_arn: l.role_arn.clone(),
            remediation_role_arn: l.remediation_role_arn.clone(),
            connected_at: l.connected_at,
            status_changed_at: l.status_changed_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ZombieView {
    /// `idle_instance`, `unattached_volume`, `unassociated_address`, `stopped_db_instance`, `idle_nat_gateway`.
    pub kind: String,
    pub resource_id: String,
    pub region: String,
    pub reason: String,
    pub monthly_usd: Option<f64>,
}

impl From<&Zombie> for ZombieView {
    fn from(z: &Zombie) -> Self {
        ZombieView {
            kind: serde_json::to_value(z.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            resource_id: z.resource_id.clone(),
            region: z.region.clone(),
            reason: z.reason.clone(),
            monthly_usd: z.monthly_usd,
        }
    }
}

/// A region the scan could not read, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RegionFailureView {
    pub region: String,
    pub error: String,
}

/// An account's zombie scan: at connect, of one region; every day, of every enabled region.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ZombieScan {
    pub scanned_at: DateTime<Utc>,
    /// The region read, or `all` for the daily scan of every enabled region.
    pub region: String,
    /// Each with its region.
    pub zombies: Vec<ZombieView>,
    /// USD per month at stake (the priced zombies).
    pub monthly_waste_usd: f64,
    /// Regions read to the end.
    #[serde(default)]
    pub regions_scanned: Vec<String>,
    /// Regions the account has not enabled.
    #[serde(default)]
    pub regions_not_enabled: Vec<String>,
    /// Regions that could not be read (throttled, a permission missing, out of time).
    #[serde(default)]
    pub regions_failed: Vec<RegionFailureView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectAccountResponse {
    pub account: AccountView,
    pub zombie_scan: Option<ZombieScan>,
    /// Set when the scan could not run (the account is connected all the same).
    pub zombie_scan_error: Option<String>,
    /// Whether the backfill of the account's last 90 days of CloudTrail history was started
    /// (`GET /v1/accounts/{id}/backfill` follows it).
    #[serde(default)]
    pub backfill_started: bool,
}

/// How far the backfill of an account's CloudTrail history has come: the last 90 days of
/// write events before the connection, read once in every enabled region and folded into the
/// baselines (nothing is alerted on).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackfillView {
    pub account_id: String,
    /// `not_started`, `running`, or `done` (every region finished: read, capped, not enabled
    /// or failed; see each region).
    pub status: String,
    pub regions_total: usize,
    pub regions_finished: usize,
    /// The oldest event read: the account's history counts from here.
    pub history_since: Option<DateTime<Utc>>,
    /// What it cost, over every region: LookupEvents requests (throttled ones included),
    /// pages and write events read, and the cost events among them.
    pub requests: u64,
    pub throttled: u64,
    pub pages: u64,
    pub events: u64,
    pub cost_events: u64,
    pub regions: Vec<BackfillRegionView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BackfillRegionView {
    pub region: String,
    /// `running`, `done`, `capped` (stopped at the page cap), `region_not_enabled`, `failed`.
    pub status: String,
    pub pages: u64,
    pub requests: u64,
    pub throttled: u64,
    pub events: u64,
    pub cost_events: u64,
    pub oldest_event: Option<DateTime<Utc>>,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Why a failed region failed (e.g. the role lacks `cloudtrail:LookupEvents`).
    pub error: Option<String>,
}

impl BackfillView {
    pub fn of(account_id: &str, jobs: &[BackfillProgress]) -> Self {
        let finished = jobs.iter().filter(|j| j.status.is_finished()).count();
        let sum = |f: fn(&BackfillProgress) -> u64| jobs.iter().map(f).sum::<u64>();
        let status = if jobs.is_empty() {
            "not_started"
        } else if finished == jobs.len() {
            "done"
        } else {
            "running"
        };
        BackfillView {
            account_id: account_id.to_owned(),
            status: status.to_owned(),
            regions_total: jobs.len(),
            regions_finished: finished,
            history_since: jobs.iter().filter_map(|j| j.oldest_event).min(),
            requests: sum(|j| j.requests),
            throttled: sum(|j| j.throttled),
            pages: sum(|j| j.pages),
            events: sum(|j| j.events),
            cost_events: sum(|j| j.cost_events),
            regions: jobs
                .iter()
                .map(|j| BackfillRegionView {
                    region: j.region.clone(),
                    status: serde_json::to_value(j.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    pages: j.pages,
                    requests: j.requests,
                    throttled: j.throttled,
                    events: j.events,
                    cost_events: j.cost_events,
                    oldest_event: j.oldest_event,
                    window_start: j.start,
                    window_end: j.end,
                    started_at: j.started_at,
                    updated_at: j.updated_at,
                    finished_at: j.finished_at,
                    error: j.error.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountHealth {
    pub account_id: String,
    pub status: AccountStatusView,
    /// Whether dd0c could assume the role just now.
    pub role_ok: bool,
    /// `external_id_mismatch`, `assume_role_denied`, `missing_permissions`, `aws_unavailable`.
    pub problem: Option<String>,
    pub detail: Option<String>,
    pub checked_at: DateTime<Utc>,
    pub last_zombie_scan: Option<ZombieScan>,
}

/// A finding (cost anomaly or drift), as the dashboard shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    pub id: String,
    /// `cost_anomaly` or `drift`.
    pub kind: String,
    pub event_id: String,
    pub account_id: String,
    pub region: String,
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    pub actor: String,
    pub severity: String,
    pub score: f64,
    pub reasons: Vec<String>,
    pub resource_type: String,
    pub resource_ids: Vec<String>,
    pub estimated_hourly_cost: Option<f64>,
    pub category: Option<String>,
    pub notified: bool,
    pub suppressed_reason: Option<String>,
    /// `open`, `expected`, `snoozed`, `resolved`, `accepted`.
    pub status: String,
    pub snooze_until: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// The incident it is in (`GET /v1/incidents/{id}`), once the notifier put it in one.
    pub incident_id: Option<String>,
}

impl FindingView {
    pub fn in_incident(mut self, incident_id: Option<String>) -> Self {
        self.incident_id = incident_id;
        self
    }

    pub fn new(f: &Finding, snooze_until: Option<DateTime<Utc>>) -> Self {
        FindingView {
            id: f.id.clone(),
            kind: f.kind.as_str().into(),
            event_id: f.event_id.clone(),
            account_id: f.account_id.clone(),
            region: f.region.clone(),
            event_time: f.event_time,
            event_name: f.event_name.clone(),
            actor: f.actor.arn.clone(),
            severity: f.severity.as_str().into(),
            score: f.score,
            reasons: f.reasons.clone(),
            resource_type: f.resource_type.clone(),
            resource_ids: f.resource_ids.clone(),
            estimated_hourly_cost: f.estimated_hourly_cost,
            category: f.category.clone(),
            notified: f.notified,
            suppressed_reason: f.suppressed_reason.clone(),
            status: f.status.as_str().into(),
            snooze_until,
            details: f.details.clone(),
            incident_id: None,
        }
    }
}

/// Related findings shown and acted on as one (decision 0530): a burst of cost anomalies by
/// one principal in an account, drift across one stack, one principal's drift outside stacks.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    pub id: String,
    /// `cost_anomaly` or `drift`.
    pub kind: String,
    /// `burst`, `sweep` or `changes`.
    pub grouping: String,
    /// One line: how many, by whom, where.
    pub title: String,
    pub account_id: String,
    pub stack: Option<String>,
    pub actors: Vec<String>,
    pub regions: Vec<String>,
    pub first_time: DateTime<Utc>,
    pub last_time: DateTime<Utc>,
    /// Findings in it.
    pub count: u32,
    /// The highest severity of its findings.
    pub severity: String,
    /// USD an hour its cost findings put at stake, together.
    pub hourly_cost: f64,
    pub resource_count: u32,
    /// The incident's status (an incident of one finding shows its finding's).
    pub status: String,
    pub snooze_until: Option<DateTime<Utc>>,
    /// Its findings' ids (the first 500), in the order they joined.
    pub finding_ids: Vec<String>,
    /// The first finding (what a one-finding incident is).
    pub lead: Option<FindingView>,
    /// Every finding it keeps: on `GET /v1/incidents/{id}` and `PATCH`; empty in lists.
    pub findings: Vec<FindingView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingPatch {
    /// `mark_expected`, `snooze` (needs `snooze_until`), `resolve` or `reopen`.
    pub action: String,
    pub snooze_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselinePatch {
    /// `low`, `medium` or `high`.
    pub sensitivity: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BaselineView {
    pub account_id: String,
    pub service: String,
    pub resource_type: String,
    pub sensitivity: String,
}

// A stack as the API shows it (schema `Stack`): what the tenant declared. Built from the one
// stored stack (`dd0c_shared::entity::stack::Stack`) through its `StackDeclaration`; never
// stored itself. (A plain comment: a doc comment would become the schema's description.)
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = Stack)]
pub struct StackView {
    pub stack_id: String,
    pub name: String,
    /// `terraform`, `cloudformation`, `cdk`, `pulumi`.
    pub iac_tool: String,
    pub account_id: String,
    pub region: String,
    pub state_location: Option<String>,
    pub enabled: bool,
    /// Tags (key → value) that make a resource the stack's, e.g. a Terraform `default_tags`
    /// pair: resources carrying one are owned by the stack, found in the account through the
    /// read-only role and in CloudTrail.
    pub ownership_tags: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<StackDeclaration> for StackView {
    fn from(d: StackDeclaration) -> Self {
        StackView {
            stack_id: d.stack_id,
            name: d.name,
            iac_tool: d.iac_tool,
            account_id: d.account_id,
            region: d.region,
            state_location: d.state_location,
            enabled: d.enabled,
            ownership_tags: d.ownership_tags,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

impl From<&Stack> for StackView {
    fn from(stack: &Stack) -> Self {
        stack.declaration().into()
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StackCreate {
    pub name: String,
    pub iac_tool: String,
    pub account_id: String,
    pub region: String,
    #[serde(default)]
    pub state_location: Option<String>,
    /// Tags (key → value) that make a resource the stack's.
    #[serde(default)]
    pub ownership_tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StackPatchBody {
    /// Required on `PATCH /v1/stacks`; taken from the path on `PATCH /v1/stacks/{id}`.
    #[serde(default)]
    pub stack_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state_location: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Who is mentioned on the stack's alerts: a Slack user id (`U…`) or any name; empty
    /// removes it.
    #[serde(default)]
    pub owner: Option<String>,
    /// Where the stack's alerts go: `#channel` or a channel id (`C…`); empty removes it.
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// Replaces the stack's ownership tags; `{}` removes them.
    #[serde(default)]
    pub ownership_tags: Option<BTreeMap<String, String>>,
}

/// `GET /v1/events/{id}/decision`: why dd0c alerted on an event, held it, or made nothing of it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDecision {
    pub event_id: String,
    /// Each finding of the event: `finding_id`, `kind`, `reasons`, `decision` (the stage's
    /// decision log: signals, thresholds, baseline values, price; or the drift evidence and
    /// rules) and `policy` (sent or held, and the rule it was held against).
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<serde_json::Value>,
    /// For a cost event that made no finding: its account and the scorer's verdict.
    #[schema(value_type = Option<Object>)]
    pub scored: Option<serde_json::Value>,
}

/// `GET /v1/stacks/{id}`: the declaration, who owns it, where its alerts go, its drift score
/// and what drifted lately.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StackDetail {
    pub stack: StackView,
    pub owner: Option<String>,
    pub slack_channel: Option<String>,
    /// 0–100, 100 = no open drift.
    pub drift_score: f64,
    /// Open drift by severity.
    pub open_drift: BTreeMap<String, u32>,
    /// Resources the stack is known to manage.
    pub managed_resources: usize,
    /// The latest drift of the stack, newest first (at most 20).
    pub recent_drift: Vec<StackDrift>,
    /// The drift score at the end of each of the last 14 days, oldest first (today's is the
    /// current score).
    pub trend: Vec<ScoreDay>,
}

/// A day's drift score: the score at the end of that day (`null` before dd0c scored it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreDay {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub score: Option<f64>,
}

/// `GET /v1/drift-score`: the organisation's drift score and each stack's, with their trends.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DriftScoreView {
    /// 0–100: the mean of the watched stacks' scores, each weighted by the resources it
    /// manages (at least 1); 100 without watched stacks.
    pub score: f64,
    /// Watched stacks (watching on) counted in the score.
    pub stacks_watched: usize,
    /// Resources the watched stacks manage.
    pub managed_resources: usize,
    /// Open drift of the watched stacks by severity.
    pub open_drift: BTreeMap<String, u32>,
    /// The organisation's score at the end of each of the last 14 days, oldest first.
    pub trend: Vec<ScoreDay>,
    /// Every stack (watched or not), by id.
    pub stacks: Vec<StackScore>,
}

/// One stack's drift score and trend.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StackScore {
    pub stack_id: String,
    pub name: String,
    /// Watching on.
    pub enabled: bool,
    pub owner: Option<String>,
    /// 0–100, 100 = no open drift.
    pub drift_score: f64,
    pub open_drift: BTreeMap<String, u32>,
    pub managed_resources: usize,
    /// The score at the end of each of the last 14 days, oldest first.
    pub trend: Vec<ScoreDay>,
}

/// One attribute of a resource: what IaC expects (`old`) and what was observed (`new`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttributeDiff {
    pub attribute: String,
    /// The value before the change: the IaC-expected value for drift (`null`: absent).
    pub old: serde_json::Value,
    /// The value after the change: the observed value for drift (`null`: removed).
    pub new: serde_json::Value,
}

/// One entry of a stack's timeline: a change of one of its resources that is not drift (an
/// IaC apply, an AWS service acting), or a drift, with who made it, when and from where.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// `change` or `drift`.
    pub kind: String,
    pub time: DateTime<Utc>,
    pub resource_type: String,
    pub resource_id: String,
    /// The IaC address (`aws_security_group.web`), when known.
    pub resource_address: Option<String>,
    /// The API call (`AuthorizeSecurityGroupIngress`); absent for drift an agent reported.
    pub action: Option<String>,
    /// For a change: `iac`, `automated` or `unmanaged`.
    pub class: Option<String>,
    /// Who: the SSO user's e-mail, the IAM user, `role/session`; absent when unknown.
    pub who: Option<String>,
    pub actor_arn: Option<String>,
    /// How the call was made: `console`, `CLI`, `SDK`, `Terraform`, `AWS service`, …
    pub via: Option<String>,
    /// The source IP address CloudTrail recorded.
    pub source_ip: Option<String>,
    pub mfa: Option<bool>,
    /// What changed, attribute by attribute.
    pub changes: Vec<AttributeDiff>,
    /// For drift: its finding (`GET /v1/anomalies/{id}`), status and severity.
    pub finding_id: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StackDrift {
    pub id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_address: Option<String>,
    /// `open`, `accepted`, `snoozed`, `resolved`.
    pub status: String,
    pub severity: Option<String>,
    pub detected_at: DateTime<Utc>,
    /// Who made the change, when CloudTrail saw it.
    pub actor: Option<String>,
}

/// Most resources one `POST /v1/stacks/{id}/resources` takes: each is a conditional write,
/// and a request must finish within API Gateway's 29 seconds. `dd0c stacks import` sends a
/// larger state in several requests.
pub const MAX_IMPORTED_RESOURCES: usize = 1000;

/// The resources of a Terraform/OpenTofu state that a stack owns: type, address and id only.
/// Unknown fields are refused, so a client cannot send attribute values (which hold secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StackResourcesImport {
    /// `terraform` or `opentofu`.
    #[serde(default = "default_import_source")]
    pub source: String,
    /// 1 to 1,000 resources.
    pub resources: Vec<ImportedResource>,
}

fn default_import_source() -> String {
    "terraform".into()
}

/// One managed resource of a state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedResource {
    /// The IaC resource type: `aws_security_group`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The address as Terraform prints it: `module.net.aws_security_group.web["a"]`.
    pub address: String,
    /// The id AWS names the resource by (`sg-0abc…`, a bucket name, a DB identifier).
    pub id: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StackResourcesImported {
    pub stack_id: String,
    /// Resources now managed by the stack: a console change to one is drift.
    pub managed: usize,
    /// Resources an IaC change seen in CloudTrail already owns: kept as they are.
    pub already_managed: usize,
    /// Resources of types dd0c does not track from CloudTrail, or dependent resources (rules,
    /// attachments) whose ids name no resource: not stored.
    pub untracked: usize,
}

/// Governance overrides (`governance_mode`, `panic_mode`, `new_account_strict_days`,
/// `immediate_severity`), each only ever stricter than the system policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoliciesDocument {
    /// The tenant-wide override; omitted on PUT leaves it unchanged.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub tenant: Option<serde_json::Value>,
    /// Overrides by AWS account id; accounts not named are left unchanged.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub accounts: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PoliciesView {
    /// The system policy (`policy.json`) the overrides must be stricter than.
    #[schema(value_type = Object)]
    pub system: serde_json::Value,
    pub overrides: PoliciesDocument,
}

/// A detector turned off (`dd0c_shared::flags::Flag`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    /// `cost.<signal>` or `drift.<rule id>`.
    pub detector: String,
    /// `tenant` (set through this API) or `global` (set by the operator).
    pub scope: String,
    pub owner: String,
    pub reason: String,
    pub expires_at: DateTime<Utc>,
    /// Past its expiry: it no longer applies (delete it, or set it again).
    pub expired: bool,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagsView {
    pub flags: Vec<FlagView>,
    /// Every detector id a flag may name.
    pub detectors: Vec<String>,
}

/// Turns a detector off for the tenant until `expires_at`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FlagPut {
    /// Who answers for the flag.
    pub owner: String,
    /// RFC 3339, in the future, at most 366 days ahead.
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The tenant's Slack routing and daily digest time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SlackSettingsView {
    /// Where alerts and the digest go when no account channel applies (unset: the
    /// deployment's default channel).
    pub default_channel: Option<String>,
    /// AWS account id → channel.
    #[schema(value_type = Object)]
    pub account_channels: std::collections::BTreeMap<String, String>,
    /// IANA time zone of the daily digest (default `UTC`).
    pub digest_time_zone: String,
    /// Local hour the daily digest goes out at (default 9).
    #[schema(minimum = 0, maximum = 23)]
    pub digest_hour: u8,
    /// The resource tag whose value routes an alert (e.g. `team`), through `tag_channels` or a
    /// value that is a channel itself; before the stack's, the account's and the default
    /// channel.
    pub channel_tag: Option<String>,
    /// Value of the channel tag → channel.
    #[schema(value_type = Object)]
    pub tag_channels: std::collections::BTreeMap<String, String>,
    /// The resource tag whose value is the person to mention (e.g. `owner`).
    pub mention_tag: Option<String>,
    /// Slack user ids (`U…`) of the people who may use the remediation buttons; empty: nobody.
    pub remediators: Vec<String>,
    /// The Slack workspace dd0c is installed in (absent: not installed).
    pub installation: Option<SlackInstallationView>,
}

/// The tenant's Slack installation as the dashboard shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SlackInstallationView {
    pub team_name: Option<String>,
    /// `active`, or `broken` (token revoked or app uninstalled: reinstall).
    pub status: String,
    /// The channel chosen at install (alerts go there unless routed elsewhere).
    pub channel_id: Option<String>,
    pub channel_name: Option<String>,
    /// Why alerts could not reach their channel, and what to do (absent: no problem).
    pub channel_problem: Option<String>,
}

/// A change of the Slack settings; omitted fields are left unchanged.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackSettingsPatch {
    /// `#channel-name` or a channel id (`C…`).
    #[serde(default)]
    #[schema(max_length = 81)]
    pub default_channel: Option<String>,
    /// IANA time zone name, e.g. `Europe/Berlin` or `UTC`.
    #[serde(default)]
    #[schema(example = "Europe/Berlin")]
    pub digest_time_zone: Option<String>,
    /// Local hour of the daily digest, 0-23.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 23)]
    pub digest_hour: Option<i64>,
    /// AWS account id → channel; `null` removes the account's channel. Other accounts are
    /// left as they are.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub account_channels: Option<std::collections::BTreeMap<String, Option<String>>>,
    /// The resource tag whose value routes an alert; `""` stops routing by tag.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub channel_tag: Option<String>,
    /// Value of the channel tag → channel; `null` removes a value's channel.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub tag_channels: Option<std::collections::BTreeMap<String, Option<String>>>,
    /// The resource tag whose value is the person to mention; `""` stops mentioning by tag.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub mention_tag: Option<String>,
    /// Slack user ids (`U…`, `W…`) who may use the remediation buttons (stop instances,
    /// revoke a rule, make a database private), written whole; `[]`: nobody.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub remediators: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub key_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub key: ApiKeyView,
    /// The plain key: shown this once, never stored.
    pub api_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub accounts_used: u32,
    pub accounts_limit: u32,
    /// e.g. "1/1 accounts used".
    pub summary: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub tenant_id: String,
    pub user: String,
    /// `free` or `pro`.
    pub plan: String,
    pub usage: Usage,
    pub stripe_customer: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// Accounts to pay for (per-account pricing), 1–1000.
    pub accounts: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedirectResponse {
    pub url: String,
}

/// RFC 7807 problem document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    /// Machine-readable reason (e.g. `external_id_mismatch`, `upgrade_required`).
    pub code: Option<String>,
}

macro_rules! page {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `next` for the following page; absent on the last page.
            pub next: Option<String>,
        }
    };
}
page!(AccountPage, AccountView);
page!(FindingPage, FindingView);
page!(IncidentPage, IncidentView);
page!(StackPage, StackView);
page!(ApiKeyPage, ApiKeyView);
page!(TimelinePage, TimelineEntry);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–100 (default 25).
    pub limit: Option<u32>,
    /// The `next` of the previous page.
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentFilters {
    /// `open`, `expected`, `snoozed`, `resolved`, `accepted`: the incident's status (an
    /// incident of one finding has its finding's).
    pub status: Option<String>,
    /// The incident's highest severity: `info`, `low`, `medium`, `warning`, `high`, `critical`.
    pub severity: Option<String>,
    /// 12-digit AWS account id.
    pub account: Option<String>,
    /// `cost_anomaly` or `drift`.
    pub kind: Option<String>,
    pub limit: Option<u32>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingFilters {
    /// RFC 3339; findings at or after.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; findings before.
    pub until: Option<DateTime<Utc>>,
    /// `open`, `expected`, `snoozed`, `resolved`, `accepted`.
    pub status: Option<String>,
    /// `info`, `low`, `medium`, `warning`, `high`, `critical`.
    pub severity: Option<String>,
    /// 12-digit AWS account id.
    pub account: Option<String>,
    /// `cost_anomaly` or `drift`.
    pub kind: Option<String>,
    /// Drift events: the stack id.
    pub stack: Option<String>,
    pub limit: Option<u32>,
    pub next: Option<String>,
}
