//! The drift product's domain: change events (every write call on a resource), managed
//! resources (what IaC owns), drift events (an out-of-band change, a reported diff, or a
//! resolution), stacks, drift reports from agents, and the classifier's rule language.
//! See `docs/decisions/0400-drift-severity-and-managed-resources.md`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::actor::{Actor, IacTool};
use super::finding::Severity;

/// No longer published (change events stay in the resource history where they are read);
/// the classifier still accepts one left in its queue.
pub const CHANGE_EVENT_DETAIL_TYPE: &str = "dd0c.ChangeEvent";
pub const DRIFT_EVENT_DETAIL_TYPE: &str = "dd0c.DriftEvent";

/// One attribute of a resource before and after a change. `old` is `null` when the call
/// added something (an ingress rule, a policy) and `new` is `null` when it removed it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttributeChange {
    pub attribute: String,
    #[serde(default)]
    pub old: Value,
    #[serde(default)]
    pub new: Value,
}

impl AttributeChange {
    pub fn new(attribute: impl Into<String>, old: Value, new: Value) -> Self {
        Self {
            attribute: attribute.into(),
            old,
            new,
        }
    }
}

/// What a change means for drift.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ChangeClass {
    /// Made by the IaC identity that owns (or now takes) the resource.
    Iac,
    /// A managed resource changed by anyone else: drift.
    Drift,
    /// An AWS service acting on the customer's behalf (autoscaling, …): never drift.
    Automated,
    /// A resource no IaC owns, changed by a person or script: history only.
    Unmanaged,
}

/// Who owns a managed resource, as far as CloudTrail tells.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManagedBy {
    /// `None` for a configured deployer role whose calls name no tool.
    #[serde(default)]
    pub tool: Option<IacTool>,
    /// The principal (role/user ARN, or the session issuer's role ARN) that applies the IaC.
    pub identity: String,
    #[serde(default)]
    pub stack: Option<String>,
}

/// A write call on one resource.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChangeEvent {
    pub tenant_id: String,
    pub account_id: String,
    pub region: String,
    /// The CloudTrail eventID.
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    /// The API call, e.g. `AuthorizeSecurityGroupIngress`.
    pub action: String,
    /// `ec2:security-group`, `s3:bucket`, `iam:role`, …
    pub resource_type: String,
    pub resource_id: String,
    pub changes: Vec<AttributeChange>,
    pub actor: Actor,
    pub class: ChangeClass,
    #[serde(default)]
    pub managed_by: Option<ManagedBy>,
}

/// A resource IaC owns: created or last changed by an IaC identity, or listed in a state file
/// imported through `POST /v1/stacks/{id}/resources` (decision 0410).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManagedResource {
    pub tenant_id: String,
    pub account_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub managed_by: ManagedBy,
    pub managed_since: DateTime<Utc>,
    /// The CloudTrail event of the last IaC change, or [`STATE_IMPORT_EVENT_ID`] while the
    /// ownership rests on an import alone.
    pub last_iac_event_id: String,
    pub last_iac_change_at: DateTime<Utc>,
    /// The IaC address (`module.net.aws_security_group.web`), known from a state import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The tags IaC gave it (at creation and in later IaC tag changes), for routing by tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl ManagedResource {
    /// A resource managed on the word of something other than CloudTrail (a state import, the
    /// account's stacks read through the role) at `at`: no IaC write of it seen yet
    /// ([`STATE_IMPORT_EVENT_ID`]), so a later import may rewrite it and the first IaC write
    /// CloudTrail shows replaces it. Address and tags as the source knows them.
    pub fn imported(
        tenant_id: &str,
        account_id: &str,
        resource_type: &str,
        resource_id: String,
        managed_by: ManagedBy,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            account_id: account_id.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id,
            managed_by,
            managed_since: at,
            last_iac_event_id: STATE_IMPORT_EVENT_ID.into(),
            last_iac_change_at: at,
            address: None,
            tags: BTreeMap::new(),
        }
    }
}

/// The `last_iac_event_id` of a resource managed on the word of a state import: no IaC change
/// of it has been seen yet, so a later import may rewrite it while one CloudTrail saw may not.
pub const STATE_IMPORT_EVENT_ID: &str = "state-import";
/// The identity of a resource managed on the word of a state import: the state does not say
/// which principal applies it; the first IaC change seen replaces it.
pub const STATE_IMPORT_IDENTITY: &str = "state-import";
/// The identity of a resource managed on the word of the account itself (its CloudFormation
/// stack's resources, a stack's ownership tag), read through the read-only role: like a state
/// import, the first IaC change seen replaces it.
pub const DISCOVERY_IDENTITY: &str = "stack-discovery";

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DriftEventKind {
    /// Found from CloudTrail: a managed resource changed out of band.
    Detected,
    /// Reported by an agent (`POST /v1/drift-reports`).
    Reported,
    /// Open drift on a resource ended (IaC re-applied).
    Resolved,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DriftStatus {
    Open,
    Resolved,
    Accepted,
    Snoozed,
}

impl DriftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftStatus::Open => "open",
            DriftStatus::Resolved => "resolved",
            DriftStatus::Accepted => "accepted",
            DriftStatus::Snoozed => "snoozed",
        }
    }

    /// Done with: resolved, or accepted as the desired state (a snoozed drift comes back).
    pub fn is_closed(self) -> bool {
        matches!(self, DriftStatus::Resolved | DriftStatus::Accepted)
    }
}

/// A drift on one resource (what the classifier turns into a finding), or its resolution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DriftEvent {
    /// Stable: the finding id it becomes (see [`drift_finding_id`]).
    pub id: String,
    pub kind: DriftEventKind,
    pub tenant_id: String,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    /// The IaC address (`aws_security_group.web`) when an agent reported it.
    #[serde(default)]
    pub resource_address: Option<String>,
    #[serde(default)]
    pub stack: Option<String>,
    #[serde(default)]
    pub managed_by: Option<ManagedBy>,
    pub changes: Vec<AttributeChange>,
    /// The CloudTrail change that caused it (detected), or that a report was attributed to.
    #[serde(default)]
    pub change: Option<ChangeEvent>,
    #[serde(default)]
    pub report_id: Option<String>,
    pub detected_at: DateTime<Utc>,
    /// For [`DriftEventKind::Resolved`]: the drift ids it resolves and why.
    #[serde(default)]
    pub resolves: Vec<String>,
    #[serde(default)]
    pub resolution: Option<String>,
}

/// The finding id of a drift: one per CloudTrail event (as for cost findings), and for
/// reported drift without a CloudTrail change, one per (report, resource address, attribute).
pub fn drift_finding_id(
    event_id: Option<&str>,
    report_id: &str,
    address: &str,
    attribute: &str,
) -> String {
    match event_id {
        Some(id) => super::finding::Finding::id_for(super::finding::FindingKind::Drift, id),
        None => {
            use sha2::{Digest, Sha256};
            let digest = Sha256::digest(format!("{report_id}\n{address}\n{attribute}").as_bytes());
            format!("drift-r-{}", &hex::encode(digest)[..32])
        }
    }
}

/// A stack: declared through the API (`POST /v1/stacks`: name, tool, account, region, state
/// location) or learnt from CloudFormation tags / a Terraform workspace, and scored by the
/// classifier (owner, channel, managed resources, drift score). One type for the one item both
/// sides write (`entity::stack`); the API shows its [`StackDeclaration`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stack {
    #[serde(default)]
    pub tenant_id: String,
    pub stack_id: String,
    #[serde(default)]
    pub name: String,
    /// The tool as declared (`terraform`, `cloudformation`, `cdk`, `pulumi`); a stack learnt
    /// from CloudTrail gets its [`Stack::tool`]'s name.
    #[serde(default)]
    pub iac_tool: Option<String>,
    /// The tool whose identity was seen applying the stack.
    #[serde(default)]
    pub tool: Option<IacTool>,
    /// The declared AWS account (empty for a stack learnt before anyone declared it).
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub state_location: Option<String>,
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When the declaration last changed.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub slack_channel: Option<String>,
    /// Tags (key → value) that make a resource the stack's: a Terraform `default_tags` pair,
    /// say. CloudFormation's own `aws:cloudformation:stack-name` needs no entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ownership_tags: BTreeMap<String, String>,
    #[serde(default)]
    pub managed_resource_ids: BTreeSet<String>,
    /// 0–100, 100 = no open drift.
    #[serde(default = "clean_score")]
    pub drift_score: f64,
    /// Open drift by severity (`critical` → 2, …).
    #[serde(default)]
    pub open_drift: BTreeMap<String, u32>,
    /// When the drift score was last computed.
    #[serde(default)]
    pub drift_updated_at: Option<DateTime<Utc>>,
    /// The score at the last computation of each day (`2026-11-21` → 60), the last
    /// [`SCORE_DAYS_KEPT`] days: the stack's trend without reading its drift again.
    #[serde(default)]
    pub score_days: BTreeMap<String, f64>,
}

/// How many days of [`Stack::score_days`] a stack keeps.
pub const SCORE_DAYS_KEPT: i64 = 30;

fn clean_score() -> f64 {
    100.0
}

fn enabled() -> bool {
    true
}

/// What a tenant declares about a stack: the API's view of a [`Stack`] and the attributes
/// `POST /v1/stacks` writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StackDeclaration {
    pub stack_id: String,
    pub name: String,
    /// `terraform`, `cloudformation`, `cdk`, `pulumi`.
    pub iac_tool: String,
    pub account_id: String,
    pub region: String,
    pub state_location: Option<String>,
    pub enabled: bool,
    /// Tags (key → value) that make a resource the stack's ([`Stack::ownership_tags`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ownership_tags: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Stack {
    pub fn new(tenant_id: &str, stack_id: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            stack_id: stack_id.to_owned(),
            name: stack_id.to_owned(),
            iac_tool: None,
            tool: None,
            account_id: String::new(),
            region: String::new(),
            state_location: None,
            enabled: true,
            created_at: None,
            updated_at: None,
            owner: None,
            slack_channel: None,
            ownership_tags: BTreeMap::new(),
            managed_resource_ids: BTreeSet::new(),
            drift_score: 100.0,
            open_drift: BTreeMap::new(),
            drift_updated_at: None,
            score_days: BTreeMap::new(),
        }
    }

    /// Records `score` as the stack's score of `now`'s day and forgets days older than
    /// [`SCORE_DAYS_KEPT`].
    pub fn record_day_score(&mut self, now: DateTime<Utc>, score: f64) {
        let oldest = (now - chrono::Duration::days(SCORE_DAYS_KEPT - 1)).date_naive();
        self.score_days.insert(now.date_naive().to_string(), score);
        self.score_days.retain(|day, _| {
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok_and(|d| d >= oldest)
        });
    }

    /// The score at the end of each of the `days` days up to `today` (oldest first): the
    /// latest recorded day's score at or before it, `None` before the first record.
    pub fn score_trend(
        &self,
        today: chrono::NaiveDate,
        days: u32,
    ) -> Vec<(chrono::NaiveDate, Option<f64>)> {
        (0..days)
            .rev()
            .map(|back| {
                let day = today - chrono::Duration::days(i64::from(back));
                let key = day.to_string();
                let score = self
                    .score_days
                    .range(..=key)
                    .next_back()
                    .map(|(_, score)| *score);
                (day, score)
            })
            .collect()
    }

    /// A stack as declared through the API.
    pub fn declared(tenant_id: &str, declaration: StackDeclaration) -> Self {
        Self {
            name: declaration.name,
            iac_tool: Some(declaration.iac_tool),
            account_id: declaration.account_id,
            region: declaration.region,
            state_location: declaration.state_location,
            enabled: declaration.enabled,
            ownership_tags: declaration.ownership_tags,
            created_at: Some(declaration.created_at),
            updated_at: Some(declaration.updated_at),
            ..Stack::new(tenant_id, &declaration.stack_id)
        }
    }

    /// The declared tool's name; for a stack nobody declared, its seen tool's, else
    /// `terraform`.
    pub fn iac_tool_name(&self) -> String {
        match (&self.iac_tool, self.tool) {
            (Some(declared), _) => declared.clone(),
            (None, Some(tool)) => tool.label().to_ascii_lowercase(),
            (None, None) => "terraform".into(),
        }
    }

    /// The API's view. Times a stored stack always has (the item's defaults set them) read as
    /// the epoch on a stack never stored.
    pub fn declaration(&self) -> StackDeclaration {
        StackDeclaration {
            stack_id: self.stack_id.clone(),
            name: self.name.clone(),
            iac_tool: self.iac_tool_name(),
            account_id: self.account_id.clone(),
            region: self.region.clone(),
            state_location: self.state_location.clone(),
            enabled: self.enabled,
            ownership_tags: self.ownership_tags.clone(),
            created_at: self.created_at.unwrap_or_default(),
            updated_at: self.updated_at.unwrap_or_default(),
        }
    }
}

/// Weight of one open drift of each severity in the stack score (decision 0400).
pub fn severity_weight(severity: Severity) -> f64 {
    match severity {
        Severity::Critical => 40.0,
        Severity::High => 20.0,
        Severity::Medium | Severity::Warning => 8.0,
        Severity::Low | Severity::Info => 2.0,
    }
}

/// 100 minus the weighted open drift, never below 0.
pub fn stack_drift_score<I: IntoIterator<Item = Severity>>(open: I) -> f64 {
    let penalty: f64 = open.into_iter().map(severity_weight).sum();
    (100.0 - penalty).max(0.0)
}

// ---------------------------------------------------------------------------------------
// Drift reports from agents.

/// One attribute-level diff an agent found (a `terraform plan -refresh-only` line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportedDrift {
    /// `module.web.aws_security_group.web`.
    pub resource_address: String,
    /// The IaC resource type: `aws_security_group`.
    pub resource_type: String,
    /// The cloud id (`sg-0123…`), when the agent knows it: needed for correlation.
    #[serde(default)]
    pub resource_id: Option<String>,
    pub attribute: String,
    /// The value in the IaC state.
    #[serde(default)]
    pub old: Value,
    /// The actual value in the cloud.
    #[serde(default)]
    pub new: Value,
    #[serde(default)]
    pub sensitive: bool,
}

/// A whole (reassembled) drift report, as it travels on the ingest queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DriftReport {
    pub tenant_id: String,
    pub report_id: String,
    pub stack_id: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub tool: Option<IacTool>,
    pub received_at: DateTime<Utc>,
    pub drifts: Vec<ReportedDrift>,
}

/// The dd0c resource type of an IaC resource type, for the ones dd0c tracks from CloudTrail.
pub fn resource_type_for_iac(iac_type: &str) -> Option<&'static str> {
    Some(match iac_type {
        "aws_security_group"
        | "aws_security_group_rule"
        | "aws_vpc_security_group_ingress_rule"
        | "aws_vpc_security_group_egress_rule"
        | "AWS::EC2::SecurityGroup" => "ec2:security-group",
        "aws_instance" | "AWS::EC2::Instance" => "ec2:instance",
        "aws_db_instance" | "AWS::RDS::DBInstance" => "rds:db",
        "aws_s3_bucket"
        | "aws_s3_bucket_policy"
        | "aws_s3_bucket_acl"
        | "aws_s3_bucket_public_access_block"
        | "AWS::S3::Bucket" => "s3:bucket",
        "aws_iam_role"
        | "aws_iam_role_policy"
        | "aws_iam_role_policy_attachment"
        | "AWS::IAM::Role" => "iam:role",
        "aws_iam_user"
        | "aws_iam_user_policy"
        | "aws_iam_user_policy_attachment"
        | "AWS::IAM::User" => "iam:user",
        "aws_iam_group"
        | "aws_iam_group_policy"
        | "aws_iam_group_policy_attachment"
        | "AWS::IAM::Group" => "iam:group",
        "aws_iam_policy" | "AWS::IAM::ManagedPolicy" => "iam:policy",
        "aws_ebs_snapshot" | "aws_ebs_snapshot_copy" => "ec2:snapshot",
        "aws_ami" | "aws_ami_copy" | "aws_ami_from_instance" => "ec2:image",
        "aws_db_snapshot" | "aws_db_snapshot_copy" => "rds:snapshot",
        "aws_db_cluster_snapshot" => "rds:cluster-snapshot",
        "aws_flow_log" | "AWS::EC2::FlowLog" => "ec2:flow-log",
        "aws_lambda_function" | "aws_lambda_permission" | "AWS::Lambda::Function" => {
            "lambda:function"
        }
        "aws_kms_key" | "AWS::KMS::Key" => "kms:key",
        "aws_cloudtrail" | "AWS::CloudTrail::Trail" => "cloudtrail:trail",
        "aws_lb_listener" | "aws_alb_listener" | "AWS::ElasticLoadBalancingV2::Listener" => {
            "elasticloadbalancing:listener"
        }
        _ => return None,
    })
}

/// The state attribute holding the name CloudTrail gives a resource of an IaC type. `id`
/// except where the provider's `id` is another identifier: since AWS provider 5,
/// `aws_db_instance.id` is the DBI resource id (`db-ABC…`) while RDS calls name the
/// instance by `identifier`.
pub fn iac_identity_attribute(iac_type: &str) -> &'static str {
    match iac_type {
        "aws_db_instance" => "identifier",
        _ => "id",
    }
}

/// The dd0c resource (type, id) a state import of an IaC resource makes managed: only types
/// whose imported id is the id the drift tracker reads from CloudTrail. Dependent resources
/// (rules, attachments, inline policies) have compound ids (`sgrule-…`, `role:policy`) that
/// name no resource, and the types dd0c does not track have nothing to match: `None`.
pub fn imported_resource(iac_type: &str, id: &str) -> Option<(&'static str, String)> {
    let id = match iac_type {
        "aws_security_group"
        | "aws_instance"
        | "aws_db_instance"
        | "aws_s3_bucket"
        | "aws_iam_role"
        | "aws_iam_user"
        | "aws_iam_group"
        | "aws_iam_policy"
        | "aws_ebs_snapshot"
        | "aws_ebs_snapshot_copy"
        | "aws_ami"
        | "aws_ami_copy"
        | "aws_ami_from_instance"
        | "aws_db_snapshot"
        | "aws_db_cluster_snapshot"
        | "aws_flow_log"
        | "aws_lambda_function"
        | "aws_lb_listener"
        | "aws_alb_listener" => id,
        // The extractor reads a key and a trail by bare id whether CloudTrail gave an ARN or
        // not; provider versions differ in which they store.
        "aws_kms_key" => id.rsplit_once("key/").map_or(id, |(_, k)| k),
        "aws_cloudtrail" => id.rsplit_once(":trail/").map_or(id, |(_, n)| n),
        _ => return None,
    };
    if id.is_empty() {
        return None;
    }
    Some((resource_type_for_iac(iac_type)?, id.to_owned()))
}

/// The dd0c resource (type, id) of a CloudFormation stack resource (`ListStackResources`):
/// the types the drift tracker follows, whose physical id is the name CloudTrail gives them.
pub fn cloudformation_resource(
    cfn_type: &str,
    physical_id: &str,
) -> Option<(&'static str, String)> {
    if !cfn_type.starts_with("AWS::") || physical_id.is_empty() {
        return None;
    }
    let resource_type = resource_type_for_iac(cfn_type)?;
    let id = match resource_type {
        "kms:key" => physical_id
            .rsplit_once("key/")
            .map_or(physical_id, |(_, k)| k),
        "cloudtrail:trail" => physical_id
            .rsplit_once(":trail/")
            .map_or(physical_id, |(_, n)| n),
        _ => physical_id,
    };
    Some((resource_type, id.to_owned()))
}

/// The dd0c resource (type, id) an ARN names, for the types the drift tracker follows (the
/// Resource Groups Tagging API lists resources by ARN).
pub fn resource_of_arn(arn: &str) -> Option<(&'static str, String)> {
    let mut parts = arn.splitn(6, ':');
    let (_, _, service, _, _, resource) = (
        parts.next().filter(|p| *p == "arn")?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let (resource_type, id) = match service {
        "ec2" => match resource.split_once('/')? {
            ("instance", id) => ("ec2:instance", id),
            ("security-group", id) => ("ec2:security-group", id),
            ("snapshot", id) => ("ec2:snapshot", id),
            ("image", id) => ("ec2:image", id),
            ("vpc-flow-log", id) => ("ec2:flow-log", id),
            _ => return None,
        },
        "rds" => match resource.split_once(':')? {
            ("db", id) => ("rds:db", id),
            ("snapshot", id) => ("rds:snapshot", id),
            ("cluster-snapshot", id) => ("rds:cluster-snapshot", id),
            _ => return None,
        },
        "s3" if !resource.contains('/') => ("s3:bucket", resource),
        "lambda" => {
            let rest = resource.strip_prefix("function:")?;
            ("lambda:function", rest.split(':').next()?)
        }
        "kms" => ("kms:key", resource.strip_prefix("key/")?),
        "cloudtrail" => ("cloudtrail:trail", resource.strip_prefix("trail/")?),
        "iam" => match resource.split_once('/')? {
            ("role", path) => ("iam:role", path.rsplit('/').next()?),
            ("user", path) => ("iam:user", path.rsplit('/').next()?),
            ("group", path) => ("iam:group", path.rsplit('/').next()?),
            // A policy is followed by its ARN: CloudTrail names it so.
            ("policy", _) => ("iam:policy", arn),
            _ => return None,
        },
        "elasticloadbalancing" if resource.starts_with("listener/") => {
            ("elasticloadbalancing:listener", arn)
        }
        _ => return None,
    };
    (!id.is_empty()).then(|| (resource_type, id.to_owned()))
}

// ---------------------------------------------------------------------------------------
// Classifier rules (the data file's language).

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DriftCategory {
    Security,
    Network,
    Iam,
    Data,
    Configuration,
    Tags,
    Cost,
}

impl DriftCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftCategory::Security => "security",
            DriftCategory::Network => "network",
            DriftCategory::Iam => "iam",
            DriftCategory::Data => "data",
            DriftCategory::Configuration => "configuration",
            DriftCategory::Tags => "tags",
            DriftCategory::Cost => "cost",
        }
    }
}

/// How a condition compares the value at its path.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    /// Equal to `value` (strings compare case-insensitively; `22` matches `"22"`).
    Equals,
    /// Equal to one element of the list `value`.
    In,
    /// A string containing `value` (case-insensitive).
    Contains,
    /// Present and not null.
    Exists,
    /// The object at the path has `from_port`/`to_port` (or `port`) spanning one of the
    /// ports listed in `value`; protocol `-1`/`all` spans every port.
    CoversPort,
}

/// A test on one attribute change. `path` starts with `attribute`, `old` or `new`, and
/// descends with dots: `new.cidr`, `new.public`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleCondition {
    pub path: String,
    pub op: ConditionOp,
    #[serde(default)]
    pub value: Value,
}

/// One classifier rule. It matches a drift when the resource type and action match (empty
/// lists match any), `only_attributes` (if given) lists every changed attribute, and one
/// attribute change satisfies all `conditions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriftRule {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub severity: Severity,
    pub category: DriftCategory,
    #[serde(default)]
    pub resource_types: Vec<String>,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub only_attributes: Vec<String>,
    #[serde(default)]
    pub conditions: Vec<RuleCondition>,
    /// The sentence the finding's reasons carry.
    pub reason: String,
}

/// The rules data file: `{"rules": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleSet {
    pub rules: Vec<DriftRule>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error("rules file is not valid JSON of the form {{\"rules\": [...]}}: {0}")]
    File(String),
    #[error("rule #{index} ({id}): {problem}")]
    Rule {
        index: usize,
        id: String,
        problem: String,
    },
}

impl RuleSet {
    /// Parses and validates a rules file; the error names the rule at fault.
    pub fn parse(text: &str) -> Result<RuleSet, RuleError> {
        #[derive(Deserialize)]
        struct Raw {
            rules: Vec<Value>,
        }
        let raw: Raw = serde_json::from_str(text).map_err(|e| RuleError::File(e.to_string()))?;
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut seen = BTreeSet::new();
        for (index, value) in raw.rules.into_iter().enumerate() {
            let id = value
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| "<no id>".to_owned(), |s| format!("{s:?}"));
            let fail = |problem: String| RuleError::Rule {
                index,
                id: id.clone(),
                problem,
            };
            let rule: DriftRule = serde_json::from_value(value).map_err(|e| fail(e.to_string()))?;
            rule.validate().map_err(fail)?;
            if !seen.insert(rule.id.clone()) {
                return Err(fail("duplicate rule id".into()));
            }
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }
}

impl DriftRule {
    fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("id is empty".into());
        }
        if !matches!(
            self.severity,
            Severity::Low | Severity::Medium | Severity::High | Severity::Critical
        ) {
            return Err(format!(
                "severity {:?} is not a drift severity (low, medium, high, critical)",
                self.severity.as_str()
            ));
        }
        if self.reason.trim().is_empty() {
            return Err("reason is empty".into());
        }
        if self.resource_types.is_empty()
            && self.actions.is_empty()
            && self.only_attributes.is_empty()
            && self.conditions.is_empty()
        {
            return Err(
                "matches everything: give resource_types, actions, only_attributes or conditions"
                    .into(),
            );
        }
        for (i, c) in self.conditions.iter().enumerate() {
            let root = c.path.split('.').next().unwrap_or_default();
            if !matches!(root, "attribute" | "old" | "new") {
                return Err(format!(
                    "conditions[{i}].path {:?} must start with attribute, old or new",
                    c.path
                ));
            }
            let ok = match c.op {
                ConditionOp::Exists => true,
                ConditionOp::Equals => !c.value.is_null(),
                ConditionOp::Contains => c.value.is_string(),
                ConditionOp::In => c.value.as_array().is_some_and(|a| !a.is_empty()),
                ConditionOp::CoversPort => c.value.as_array().is_some_and(|a| {
                    !a.is_empty() && a.iter().all(|p| p.as_u64().is_some_and(|p| p <= 65535))
                }),
            };
            if !ok {
                return Err(format!(
                    "conditions[{i}] ({:?} on {:?}) has an unusable value {}",
                    c.op, c.path, c.value
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_weighted_and_bounded() {
        assert_eq!(stack_drift_score([]), 100.0);
        assert_eq!(stack_drift_score([Severity::Critical]), 60.0);
        assert_eq!(stack_drift_score([Severity::High, Severity::Low]), 78.0);
        assert_eq!(stack_drift_score([Severity::Critical; 4]), 0.0);
    }

    #[test]
    fn each_open_drift_weighs_by_its_severity() {
        assert_eq!(severity_weight(Severity::Critical), 40.0);
        assert_eq!(severity_weight(Severity::High), 20.0);
        assert_eq!(severity_weight(Severity::Medium), 8.0);
        assert_eq!(severity_weight(Severity::Low), 2.0);
        assert_eq!(
            stack_drift_score([Severity::Medium, Severity::Medium, Severity::Low]),
            82.0
        );
    }

    #[test]
    fn stack_resources_and_arns_name_the_resources_drift_follows() {
        assert_eq!(
            cloudformation_resource("AWS::EC2::SecurityGroup", "sg-0abc"),
            Some(("ec2:security-group", "sg-0abc".to_owned()))
        );
        assert_eq!(
            cloudformation_resource("AWS::KMS::Key", "arn:aws:kms:us-east-1:1:key/k-1"),
            Some(("kms:key", "k-1".to_owned()))
        );
        assert_eq!(
            cloudformation_resource(
                "AWS::CloudTrail::Trail",
                "arn:aws:cloudtrail:us-east-1:1:trail/org"
            ),
            Some(("cloudtrail:trail", "org".to_owned()))
        );
        assert_eq!(
            cloudformation_resource("AWS::SNS::Topic", "arn:aws:sns:x"),
            None
        );
        assert_eq!(
            cloudformation_resource("aws_instance", "i-1"),
            None,
            "a Terraform type"
        );
        assert_eq!(cloudformation_resource("AWS::EC2::Instance", ""), None);

        let arn = resource_of_arn;
        assert_eq!(
            arn("arn:aws:ec2:us-east-1:111122223333:instance/i-0abc"),
            Some(("ec2:instance", "i-0abc".into()))
        );
        assert_eq!(
            arn("arn:aws:ec2:us-east-1:111122223333:security-group/sg-1"),
            Some(("ec2:security-group", "sg-1".into()))
        );
        assert_eq!(
            arn("arn:aws:rds:eu-west-1:111122223333:db:orders"),
            Some(("rds:db", "orders".into()))
        );
        assert_eq!(
            arn("arn:aws:s3:::assets"),
            Some(("s3:bucket", "assets".into()))
        );
        assert_eq!(arn("arn:aws:s3:::assets/key"), None, "an object");
        assert_eq!(
            arn("arn:aws:lambda:us-east-1:111122223333:function:api:live"),
            Some(("lambda:function", "api".into()))
        );
        assert_eq!(
            arn("arn:aws:iam::111122223333:role/service/deployer"),
            Some(("iam:role", "deployer".into()))
        );
        assert_eq!(
            arn("arn:aws:kms:us-east-1:111122223333:key/k-2"),
            Some(("kms:key", "k-2".into()))
        );
        let listener = "arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/web/1/2";
        assert_eq!(
            arn(listener),
            Some(("elasticloadbalancing:listener", listener.into()))
        );
        assert_eq!(
            arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail"),
            Some(("cloudtrail:trail", "org-trail".into()))
        );
        assert_eq!(
            arn("arn:aws:iam::111122223333:user/ops/jane"),
            Some(("iam:user", "jane".into()))
        );
        assert_eq!(
            arn("arn:aws:iam::111122223333:group/ops/admins"),
            Some(("iam:group", "admins".into()))
        );
        assert_eq!(
            cloudformation_resource("AWS::IAM::Group", "admins"),
            Some(("iam:group", "admins".to_owned()))
        );
        assert_eq!(
            arn("arn:aws:ec2:us-east-1:111122223333:snapshot/snap-1"),
            Some(("ec2:snapshot", "snap-1".into()))
        );
        assert_eq!(
            arn("arn:aws:ec2:us-east-1::image/ami-1"),
            Some(("ec2:image", "ami-1".into()))
        );
        assert_eq!(
            arn("arn:aws:ec2:us-east-1:111122223333:vpc-flow-log/fl-1"),
            Some(("ec2:flow-log", "fl-1".into()))
        );
        assert_eq!(
            arn("arn:aws:rds:us-east-1:111122223333:snapshot:exfiltration"),
            Some(("rds:snapshot", "exfiltration".into()))
        );
        assert_eq!(
            arn("arn:aws:rds:us-east-1:111122223333:cluster-snapshot:nightly"),
            Some(("rds:cluster-snapshot", "nightly".into()))
        );
        assert_eq!(arn("arn:aws:rds:us-east-1:111122223333:cluster:c"), None);
        assert_eq!(
            cloudformation_resource("AWS::EC2::FlowLog", "fl-1"),
            Some(("ec2:flow-log", "fl-1".to_owned()))
        );
        let policy = "arn:aws:iam::111122223333:policy/app/deploy";
        assert_eq!(arn(policy), Some(("iam:policy", policy.into())));
        assert_eq!(
            cloudformation_resource("AWS::IAM::ManagedPolicy", policy),
            Some(("iam:policy", policy.to_owned()))
        );
        assert_eq!(
            arn("arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/1"),
            None,
            "a load balancer is not a listener"
        );
        assert_eq!(arn("arn:aws:ec2:us-east-1:111122223333:volume/vol-1"), None);
        assert_eq!(arn("arn:aws:sns:us-east-1:111122223333:topic"), None);
        assert_eq!(arn("not-an-arn"), None);
        assert_eq!(arn("arn:aws:ec2:us-east-1:111122223333:instance/"), None);
    }

    #[test]
    fn a_declared_stack_reads_back_as_declared() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let declaration = StackDeclaration {
            stack_id: "stk-1".into(),
            name: "payments".into(),
            iac_tool: "pulumi".into(),
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            state_location: Some("s3://state/payments".into()),
            enabled: false,
            ownership_tags: [("Stack".to_owned(), "payments".to_owned())].into(),
            created_at: at("2026-03-01T10:00:00Z"),
            updated_at: at("2026-03-02T11:00:00Z"),
        };
        let stack = Stack::declared("t1", declaration.clone());
        assert_eq!(stack.tenant_id, "t1");
        assert_eq!(stack.declaration(), declaration);
    }

    fn parse_rule(rule: Value) -> Result<RuleSet, RuleError> {
        RuleSet::parse(&serde_json::json!({ "rules": [rule] }).to_string())
    }

    fn problem(rule: Value) -> String {
        match parse_rule(rule) {
            Err(RuleError::Rule { problem, .. }) => problem,
            other => panic!("expected a rule error, got {other:?}"),
        }
    }

    #[test]
    fn a_rule_needs_an_id_a_drift_severity_a_reason_and_something_to_match() {
        use serde_json::json;
        let base = json!({"id": "r", "severity": "high", "category": "iam", "reason": "why"});
        let with = |k: &str, v: Value| {
            let mut r = base.clone();
            r[k] = v;
            r
        };
        // Any one way of narrowing it down is enough.
        for (k, v) in [
            ("resource_types", json!(["iam:role"])),
            ("actions", json!(["AttachRolePolicy"])),
            ("only_attributes", json!(["tags"])),
            ("conditions", json!([{"path": "attribute", "op": "exists"}])),
        ] {
            assert!(parse_rule(with(k, v.clone())).is_ok(), "{k}: {v}");
        }
        let narrow = with("actions", json!(["X"]));
        assert!(problem(base.clone()).starts_with("matches everything"));
        let mut blank_id = narrow.clone();
        blank_id["id"] = json!(" ");
        assert_eq!(problem(blank_id), "id is empty");
        let mut blank_reason = narrow.clone();
        blank_reason["reason"] = json!("");
        assert_eq!(problem(blank_reason), "reason is empty");
        for cost_only in ["info", "warning"] {
            let mut r = narrow.clone();
            r["severity"] = json!(cost_only);
            assert!(
                problem(r).contains("is not a drift severity"),
                "{cost_only}"
            );
        }
        for drift in ["low", "medium", "high", "critical"] {
            let mut r = narrow.clone();
            r["severity"] = json!(drift);
            assert!(parse_rule(r).is_ok(), "{drift}");
        }
    }

    #[test]
    fn conditions_need_a_known_root_and_a_usable_value() {
        use serde_json::json;
        let rule = |path: &str, op: &str, value: Value| {
            json!({"id": "r", "severity": "low", "category": "tags", "reason": "why",
                   "conditions": [{"path": path, "op": op, "value": value}]})
        };
        for root in ["attribute", "old.x", "new.a.b"] {
            assert!(
                parse_rule(rule(root, "exists", Value::Null)).is_ok(),
                "{root}"
            );
        }
        assert!(problem(rule("cidr", "exists", Value::Null)).contains("must start with"));
        let usable = [
            ("equals", json!(false)),
            ("in", json!(["a"])),
            ("contains", json!("a")),
            ("exists", Value::Null),
            ("covers_port", json!([0, 22, 65535])),
        ];
        for (op, value) in usable {
            assert!(
                parse_rule(rule("new", op, value.clone())).is_ok(),
                "{op} {value}"
            );
        }
        let unusable = [
            ("equals", Value::Null),
            ("in", json!([])),
            ("in", json!("a")),
            ("contains", json!(1)),
            ("covers_port", json!([])),
            ("covers_port", json!([65536])),
            ("covers_port", json!([22, -1])),
        ];
        for (op, value) in unusable {
            assert!(
                problem(rule("new", op, value.clone())).contains("has an unusable value"),
                "{op} {value}"
            );
        }
    }

    #[test]
    fn rule_ids_are_unique_and_an_error_names_the_rule() {
        let text = r#"{"rules": [
            {"id": "a", "severity": "low", "category": "tags", "actions": ["X"], "reason": "r"},
            {"id": "b", "severity": "low", "category": "tags", "actions": ["X"], "reason": "r"},
            {"id": "a", "severity": "low", "category": "tags", "actions": ["Y"], "reason": "r"}
        ]}"#;
        assert_eq!(
            RuleSet::parse(text),
            Err(RuleError::Rule {
                index: 2,
                id: "\"a\"".into(),
                problem: "duplicate rule id".into(),
            })
        );
        let ids: Vec<String> = RuleSet::parse(&text.replace(
            r#""id": "a", "severity": "low", "category": "tags", "actions": ["Y"]"#,
            r#""id": "c", "severity": "low", "category": "tags", "actions": ["Y"]"#,
        ))
        .unwrap()
        .rules
        .into_iter()
        .map(|r| r.id)
        .collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn an_import_owns_what_cloudtrail_names() {
        let owned = |t: &str, id: &str| imported_resource(t, id);
        assert_eq!(
            owned("aws_security_group", "sg-0abc"),
            Some(("ec2:security-group", "sg-0abc".into()))
        );
        assert_eq!(
            owned("aws_instance", "i-0123"),
            Some(("ec2:instance", "i-0123".into()))
        );
        assert_eq!(
            owned("aws_s3_bucket", "acme-logs"),
            Some(("s3:bucket", "acme-logs".into()))
        );
        assert_eq!(
            owned("aws_db_instance", "orders"),
            Some(("rds:db", "orders".into()))
        );
        assert_eq!(
            owned(
                "aws_cloudtrail",
                "arn:aws:cloudtrail:us-east-1:111122223333:trail/org"
            ),
            Some(("cloudtrail:trail", "org".into()))
        );
        assert_eq!(
            owned(
                "aws_kms_key",
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd"
            ),
            Some(("kms:key", "1234abcd".into()))
        );
        assert_eq!(
            owned("aws_iam_group", "admins"),
            Some(("iam:group", "admins".into()))
        );
        assert_eq!(
            owned("aws_iam_policy", "arn:aws:iam::111122223333:policy/deploy"),
            Some((
                "iam:policy",
                "arn:aws:iam::111122223333:policy/deploy".into()
            ))
        );
        assert_eq!(
            owned("aws_ebs_snapshot", "snap-0abc"),
            Some(("ec2:snapshot", "snap-0abc".into()))
        );
        assert_eq!(
            owned("aws_ami", "ami-0abc"),
            Some(("ec2:image", "ami-0abc".into()))
        );
        assert_eq!(
            owned("aws_db_snapshot", "nightly"),
            Some(("rds:snapshot", "nightly".into()))
        );
        assert_eq!(
            owned("aws_flow_log", "fl-0abc"),
            Some(("ec2:flow-log", "fl-0abc".into()))
        );
        // Compound ids name no resource; untracked types have nothing to match.
        assert_eq!(owned("aws_security_group_rule", "sgrule-123"), None);
        assert_eq!(owned("aws_iam_role_policy", "deployer:inline"), None);
        assert_eq!(owned("aws_vpc", "vpc-1"), None);
        assert_eq!(owned("aws_instance", ""), None);
        assert_eq!(iac_identity_attribute("aws_db_instance"), "identifier");
        assert_eq!(iac_identity_attribute("aws_instance"), "id");
    }

    #[test]
    fn finding_ids_are_stable() {
        assert_eq!(drift_finding_id(Some("e1"), "r", "a", "b"), "drift-e1");
        let a = drift_finding_id(None, "r1", "aws_s3_bucket.x", "acl");
        assert_eq!(a, drift_finding_id(None, "r1", "aws_s3_bucket.x", "acl"));
        assert_ne!(a, drift_finding_id(None, "r1", "aws_s3_bucket.x", "policy"));
        assert!(a.starts_with("drift-r-"));
    }
}
