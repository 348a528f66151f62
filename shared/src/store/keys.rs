//! Kept until the function crates are migrated: the old key functions, as re-exports of the
//! entity modules (`crate::entity`), which alone build keys.
#![doc(hidden)]

pub use crate::entity::account::{pk as account_pk, settings_key as account_settings};
pub use crate::entity::account_link::{
    gsi1 as account_link_gsi1, gsi2 as account_link_gsi2, key as account_link,
    ALL_LINKS_GSI2PK as ACCOUNT_LINKS_GSI2PK,
};
pub use crate::entity::api_key::{gsi1 as api_key_gsi1, key as api_key};
pub use crate::entity::audit::key as audit;
pub use crate::entity::baseline::{
    account_key as account_baseline, activity_key as actor_activity,
    contribution_key as baseline_contribution, key as baseline,
};
pub use crate::entity::digest_sent::key as digest_sent;
pub use crate::entity::drift_event::{key as drift_event, stack_gsi1 as drift_event_stack_gsi1};
pub use crate::entity::drift_report::part_key as drift_report_part;
pub use crate::entity::event::{
    cloudtrail_key as cloudtrail_event, cost_gsi1 as cost_event_gsi1, cost_key as cost_event,
};
pub use crate::entity::finding::{
    gsi1 as finding_gsi1, gsi2_spelled as finding_gsi2, key as finding,
};
pub use crate::entity::governance::{
    account_governance_key as account_governance, account_override_key as policy_override_account,
    tenant_override_key as policy_override_tenant,
};
pub use crate::entity::membership::key as user_membership;
pub use crate::entity::notice::key as notice;
pub use crate::entity::resource::{
    change_key as change_event, managed_key as managed_resource, pk as resource_pk,
};
pub use crate::entity::resource_spec::{instance_key as instance, key as resource_spec};
pub use crate::entity::slack_installation::{key as slack_installation, team_key as slack_team};
pub use crate::entity::slack_oauth_state::key as slack_oauth_state;
pub use crate::entity::slack_settings::key as slack_settings;
pub use crate::entity::slack_thread::key as slack_thread;
pub use crate::entity::stack::key as stack;
pub use crate::entity::stripe::{customer_key as stripe_customer, event_key as stripe_event};
pub use crate::entity::tenant::{pk as tenant_pk, profile_key as tenant_profile};
pub use crate::entity::time_key;
pub use crate::entity::zombie_scan::key as zombie_scan;
