//! What tests across the workspace build their cases from: typical, valid values that a test
//! changes only where it cares (`Finding { severity: Severity::Critical, ..cost_finding("f1") }`),
//! and one convention for golden files. Compiled for this crate's tests and, through the
//! `testing` feature, for other crates' tests; never in a function.

pub mod golden;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::domain::{
    Actor, ActorKind, CostAction, CostEvent, Finding, FindingKind, FindingStatus, Severity, Source,
};
use crate::tenancy::{AccountLink, AccountStatus};

pub const TENANT: &str = "t1";
pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-1";

/// 2026-03-02 10:00 UTC, a Monday: the time the builders stamp.
pub fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

/// A person in the console: `alice`, an IAM user of [`ACCOUNT`].
pub fn console_user() -> Actor {
    Actor {
        arn: format!("arn:aws:iam::{ACCOUNT}:user/alice"),
        name: "alice".into(),
        kind: ActorKind::IamUser,
        source: Source::Console,
        ip: None,
        mfa: false,
        user_agent: None,
    }
}

/// An open cost finding of `id` (also its event id): one p3.16xlarge launched by
/// [`console_user`] in [`ACCOUNT`], warning severity.
pub fn cost_finding(id: &str) -> Finding {
    Finding {
        id: id.into(),
        tenant_id: TENANT.into(),
        kind: FindingKind::CostAnomaly,
        event_id: id.into(),
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        event_time: noon(),
        event_name: "RunInstances".into(),
        actor: console_user(),
        severity: Severity::Warning,
        score: 80.0,
        reasons: vec!["new instance family".into()],
        resource_type: "ec2:instance".into(),
        resource_ids: vec!["i-1".into()],
        estimated_hourly_cost: Some(24.48),
        category: None,
        notified: false,
        suppressed_reason: None,
        status: FindingStatus::Open,
        created_at: noon(),
        details: Value::Null,
    }
}

/// An open drift finding of `id`: a console change to a security group.
pub fn drift_finding(id: &str) -> Finding {
    Finding {
        kind: FindingKind::Drift,
        event_name: "AuthorizeSecurityGroupIngress".into(),
        resource_type: "ec2:security-group".into(),
        resource_ids: vec!["sg-1".into()],
        estimated_hourly_cost: None,
        reasons: vec!["changed outside IaC".into()],
        ..cost_finding(id)
    }
}

/// One p3.16xlarge launched (`RunInstances`) by [`console_user`], priced.
pub fn cost_event(event_id: &str) -> CostEvent {
    CostEvent {
        tenant_id: TENANT.into(),
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        event_id: event_id.into(),
        event_time: noon(),
        event_name: "RunInstances".into(),
        service: "ec2".into(),
        resource_type: "ec2:instance".into(),
        resource_ids: vec!["i-1".into()],
        sku: Some("p3.16xlarge".into()),
        count: 1,
        action: CostAction::Create,
        hourly_cost: Some(24.48),
        previous_hourly_cost: None,
        pricing_notes: vec![],
        price_basis: None,
        spot: false,
        actor: console_user(),
        tags: Default::default(),
    }
}

/// Every `.rs` file of the product's code (`shared/src`, `cli/src`, `functions/*/src`): for
/// tests that check a rule across the workspace.
pub fn product_sources() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![root.join("shared/src"), root.join("cli/src")];
    for function in std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .flatten()
    {
        dirs.push(function.path().join("src"));
    }
    let mut out = Vec::new();
    dirs.retain(|d| d.is_dir());
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("readable source directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// [`ACCOUNT`] connected to [`TENANT`] and active.
pub fn active_account() -> AccountLink {
    AccountLink {
        account_id: ACCOUNT.into(),
        tenant_id: TENANT.into(),
        status: AccountStatus::Active,
        role_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/dd0c-readonly")),
        external_id: Some("ext-1".into()),
        remediation_role_arn: None,
        connected_at: noon(),
        status_changed_at: None,
    }
}
