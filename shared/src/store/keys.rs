//! Every entity's keys, built in one place so that no handler formats a key by hand.
//! `docs/data-model.md` lists the access patterns these keys serve.

use chrono::{DateTime, SecondsFormat, Utc};

use super::Key;

pub fn time_key(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

/// The partition of everything dd0c keeps about one connected AWS account of a tenant.
pub fn account_pk(tenant: &str, account: &str) -> String {
    format!("TENANT#{tenant}#ACCOUNT#{account}")
}

pub fn tenant_profile(tenant: &str) -> Key {
    Key::new(tenant_pk(tenant), "PROFILE")
}

/// Which tenant an AWS account belongs to: looked up for every incoming event.
pub fn account_link(account: &str) -> Key {
    Key::new(format!("ACCOUNT#{account}"), "LINK")
}

/// GSI1 of an account link: a tenant's accounts.
pub fn account_link_gsi1(tenant: &str, account: &str) -> (String, String) {
    (
        tenant_pk(tenant) + "#ACCOUNTS",
        format!("ACCOUNT#{account}"),
    )
}

/// GSI2 of an account link: every tenant's accounts in one sparse partition, sorted by
/// tenant. Only the hourly digest tick reads it (`tenancy::list_tenants`): it is how a system
/// job finds the tenants to visit; no tenant-facing route lists it.
pub fn account_link_gsi2(tenant: &str, account: &str) -> (String, String) {
    (ACCOUNT_LINKS_GSI2PK.to_owned(), account_pk(tenant, account))
}

/// The GSI2 partition of [`account_link_gsi2`].
pub const ACCOUNT_LINKS_GSI2PK: &str = "ACCOUNTLINKS";

/// A CloudTrail event as received. Keyed on the record's own time and eventID, so a
/// redelivery (same eventID, another envelope) hits the same key.
pub fn cloudtrail_event(tenant: &str, account: &str, time: &DateTime<Utc>, event_id: &str) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("EVENT#{}#{event_id}", time_key(time)),
    )
}

pub fn cost_event(tenant: &str, account: &str, time: &DateTime<Utc>, event_id: &str) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("COST#{}#{event_id}", time_key(time)),
    )
}

/// GSI1 of a cost event: a tenant's cost events by time, across accounts (the digest).
pub fn cost_event_gsi1(tenant: &str, time: &DateTime<Utc>, event_id: &str) -> (String, String) {
    (
        tenant_pk(tenant) + "#COSTS",
        format!("{}#{event_id}", time_key(time)),
    )
}

/// What dd0c learnt about an instance at launch (its type, for a later StartInstances).
pub fn instance(tenant: &str, account: &str, instance_id: &str) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("INSTANCE#{instance_id}"),
    )
}

pub fn baseline(tenant: &str, account: &str, service: &str, resource_type: &str) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("BASELINE#{service}#{resource_type}"),
    )
}

/// Marks an event as counted into its baseline, so a redelivery never counts twice.
pub fn baseline_contribution(tenant: &str, account: &str, event_id: &str) -> Key {
    Key::new(account_pk(tenant, account), format!("SCORED#{event_id}"))
}

pub fn finding(tenant: &str, finding_id: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("FINDING#{finding_id}"))
}

/// GSI1 of a finding: a tenant's findings by event time.
pub fn finding_gsi1(tenant: &str, time: &DateTime<Utc>, finding_id: &str) -> (String, String) {
    (
        tenant_pk(tenant) + "#FINDINGS",
        format!("{}#{finding_id}", time_key(time)),
    )
}

/// GSI2 of a finding: a tenant's findings in one status, by event time.
pub fn finding_gsi2(
    tenant: &str,
    status: &str,
    time: &DateTime<Utc>,
    finding_id: &str,
) -> (String, String) {
    (
        format!("{}#FINDINGS#{status}", tenant_pk(tenant)),
        format!("{}#{finding_id}", time_key(time)),
    )
}

// ---- Drift product (owner: drift engineer) ---------------------------------------------

/// The history partition of one resource: its managed-resource item, change events and
/// drift events. Tenant-wide (not per account) so that a drift report, which names a
/// resource but not always its account, finds the resource's CloudTrail changes.
pub fn resource_pk(tenant: &str, resource_type: &str, resource_id: &str) -> String {
    format!(
        "{}#RESOURCE#{resource_type}#{resource_id}",
        tenant_pk(tenant)
    )
}

pub fn managed_resource(tenant: &str, resource_type: &str, resource_id: &str) -> Key {
    Key::new(resource_pk(tenant, resource_type, resource_id), "MANAGED")
}

pub fn change_event(
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
    time: &DateTime<Utc>,
    event_id: &str,
) -> Key {
    Key::new(
        resource_pk(tenant, resource_type, resource_id),
        format!("CHANGE#{}#{event_id}", time_key(time)),
    )
}

pub fn drift_event(
    tenant: &str,
    resource_type: &str,
    resource_id: &str,
    time: &DateTime<Utc>,
    drift_id: &str,
) -> Key {
    Key::new(
        resource_pk(tenant, resource_type, resource_id),
        format!("DRIFT#{}#{drift_id}", time_key(time)),
    )
}

/// GSI1 of a drift event: a stack's drift by time (the stack score).
pub fn drift_event_stack_gsi1(
    tenant: &str,
    stack: &str,
    time: &DateTime<Utc>,
    drift_id: &str,
) -> (String, String) {
    (
        format!("{}#STACK#{stack}#DRIFT", tenant_pk(tenant)),
        format!("{}#{drift_id}", time_key(time)),
    )
}

/// Drift settings of an account (deployer role ARNs, Terraform workspace): attributes
/// `deployer_role_arns` and `terraform_workspace` on the account's settings item.
pub fn account_settings(tenant: &str, account: &str) -> Key {
    Key::new(account_pk(tenant, account), "SETTINGS")
}

/// One part of a multi-part drift report, kept (with a TTL) until all parts arrived.
pub fn drift_report_part(tenant: &str, report_id: &str, part: u32) -> Key {
    Key::new(
        format!("{}#DRIFTREPORT#{report_id}", tenant_pk(tenant)),
        format!("PART#{part:05}"),
    )
}

// ---------------------------------------------------------------------------------------------
// API, accounts, billing (functions/api, functions/stripe)
// ---------------------------------------------------------------------------------------------

/// An API key by the SHA-256 of the plain key: authenticating an agent is one GetItem.
pub fn api_key(hash: &str) -> Key {
    Key::new(format!("APIKEY#{hash}"), "KEY")
}

/// GSI1 of an API key: a tenant's keys, by key id.
pub fn api_key_gsi1(tenant: &str, key_id: &str) -> (String, String) {
    (tenant_pk(tenant) + "#APIKEYS", format!("KEY#{key_id}"))
}

/// A Stripe event id already applied (idempotency of the webhook).
pub fn stripe_event(event_id: &str) -> Key {
    Key::new(format!("STRIPE#EVENT#{event_id}"), "EVENT")
}

/// Which tenant a Stripe customer belongs to.
pub fn stripe_customer(customer_id: &str) -> Key {
    Key::new(format!("STRIPE#CUSTOMER#{customer_id}"), "CUSTOMER")
}

/// An append-only audit entry of a tenant (finding actions, account changes, billing).
pub fn audit(tenant: &str, time: &DateTime<Utc>, entry_id: &str) -> Key {
    Key::new(
        tenant_pk(tenant) + "#AUDIT",
        format!("{}#{entry_id}", time_key(time)),
    )
}

/// A stack registered for drift detection.
pub fn stack(tenant: &str, stack_id: &str) -> Key {
    Key::new(tenant_pk(tenant) + "#STACKS", format!("STACK#{stack_id}"))
}

/// The latest zombie scan of an account (run when the account is connected).
pub fn zombie_scan(tenant: &str, account: &str) -> Key {
    Key::new(account_pk(tenant, account), "ZOMBIES")
}

// ----------------------------------------------------------------- normalizer: resource specs

/// What dd0c learnt about a resource other than an EC2 instance (DB instance, volume, Auto
/// Scaling group, SageMaker endpoint config, Lambda function), for pricing a later call that
/// does not carry it. `id` is unique per kind within the account (regional names carry their
/// region).
pub fn resource_spec(tenant: &str, account: &str, kind: &str, id: &str) -> Key {
    Key::new(account_pk(tenant, account), format!("RESOURCE#{kind}#{id}"))
}

// ---------------------------------------------------------------------------------------------
// Notifications, Slack, governance (functions/notifier, functions/slack, functions/digest)
// ---------------------------------------------------------------------------------------------

/// A tenant's tightening of the system policy (`governance::PolicyOverride`).
pub fn policy_override_tenant(tenant: &str) -> Key {
    Key::new(tenant_pk(tenant), "POLICY")
}

/// An account's tightening of the system policy.
pub fn policy_override_account(tenant: &str, account: &str) -> Key {
    Key::new(account_pk(tenant, account), "POLICY")
}

/// Governance state of an account (`promoted_at`: left the new-account strict period).
pub fn account_governance(tenant: &str, account: &str) -> Key {
    Key::new(account_pk(tenant, account), "GOVERNANCE")
}

/// The tenant a signed-in user belongs to, by the identity provider's immutable subject
/// (Cognito `sub`): written by dd0c at the user's first sign-in, never by the user.
pub fn user_membership(subject: &str) -> Key {
    Key::new(format!("USER#{subject}"), "MEMBERSHIP")
}

/// A tenant's Slack installation (encrypted bot token, team, status).
pub fn slack_installation(tenant: &str) -> Key {
    Key::new(tenant_pk(tenant), "SLACK#INSTALLATION")
}

/// Which tenant a Slack workspace belongs to (slash commands and actions carry the team id).
pub fn slack_team(team_id: &str) -> Key {
    Key::new(format!("SLACKTEAM#{team_id}"), "TEAM")
}

/// A tenant's Slack routing: default channel, per-account channels.
pub fn slack_settings(tenant: &str) -> Key {
    Key::new(tenant_pk(tenant), "SLACK#SETTINGS")
}

/// The thread a burst of findings by one actor goes to (with a TTL: the burst window).
pub fn slack_thread(tenant: &str, thread_key: &str) -> Key {
    Key::new(
        tenant_pk(tenant) + "#SLACKTHREADS",
        format!("THREAD#{thread_key}"),
    )
}

/// An OAuth `state` handed out by the install route (with a TTL).
pub fn slack_oauth_state(state: &str) -> Key {
    Key::new(format!("SLACKSTATE#{state}"), "STATE")
}

/// The daily digest of a tenant for one local date (`YYYY-MM-DD` in the tenant's digest time
/// zone), with a TTL: claimed with a condition before posting, so a retried or duplicated tick
/// never posts twice.
pub fn digest_sent(tenant: &str, local_date: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("DIGEST#{local_date}"))
}

/// A one-off notice already sent to a tenant (e.g. "alerting paused").
pub fn notice(tenant: &str, name: &str) -> Key {
    Key::new(tenant_pk(tenant), format!("NOTICE#{name}"))
}

// ---------------------------------------------------------------------------------------------
// Scorer (functions/scorer)
// ---------------------------------------------------------------------------------------------

/// The account-wide baseline (every service and type): regions and actors the account uses,
/// its event count and first-seen time.
pub fn account_baseline(tenant: &str, account: &str) -> Key {
    Key::new(account_pk(tenant, account), "BASELINE#ACCOUNT")
}

/// One actor's cost-creating calls in one time bucket (with a TTL): the burst signal.
pub fn actor_activity(tenant: &str, account: &str, actor: &str, bucket: i64) -> Key {
    Key::new(
        account_pk(tenant, account),
        format!("ACTIVITY#{actor}#{bucket}"),
    )
}
