//! The bundled demo data (`demo/` at the repository root).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use dd0c_shared::domain::drift::{ManagedBy, ManagedResource, STATE_IMPORT_IDENTITY};
use dd0c_shared::domain::IacTool;
use dd0c_shared::entity::{account, resource, stack};
use dd0c_shared::store::{StoreError, Table};

use crate::input::InputStream;
use crate::time_shift::TimeShift;

/// Where the demo's CloudTrail lives: `$DD0C_DEMO_DATA`, else the repository's `demo/data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("DD0C_DEMO_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../demo/data"))
}

/// The shift that makes the newest record under `paths` recent at `now` (decision 1120): the
/// demo is served in wall-clock time, and its data has a date. `NONE` when no record has a
/// time.
pub fn recent_shift(paths: &[PathBuf], now: DateTime<Utc>) -> TimeShift {
    // The stream is in event-time order, records without a time last.
    InputStream::open(paths)
        .filter_map(|r| r.time)
        .last()
        .map_or(TimeShift::NONE, |newest| TimeShift::to_recent(newest, now))
}

/// The Terraform workspace of the demo's account, declared as a stack: the security group
/// Terraform creates (and someone then opens from the console) belongs to it, so the stack
/// pages have a score, a timeline and a diff to show.
pub const DEMO_STACK: &str = "web-prod";
/// The account of the demo's synthetic CloudTrail.
pub const DEMO_ACCOUNT: &str = "111122223333";

/// The security group of `terraform-sg-console-drift.jsonl`, and its address in the state.
const DEMO_SECURITY_GROUP: (&str, &str) = ("sg-0123456789abcdef0", "aws_security_group.web");

/// The demo's "Why?": the decision log of its most severe finding (the highest score), as the
/// alert's button shows it in Slack, rendered for the terminal.
pub fn print_decision_log(
    findings: &[dd0c_shared::domain::Finding],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let Some(top) = findings
        .iter()
        .filter(|f| !f.details["decision"].is_null())
        .max_by(|a, b| a.score.total_cmp(&b.score))
    else {
        return Ok(());
    };
    writeln!(
        out,
        "\nWhy? The decision log of {} (the alert's \"Why?\" button):",
        top.id
    )?;
    let blocks = serde_json::Value::Array(dd0c_shared::slack::why::why_blocks(top));
    writeln!(out, "{}", dd0c_shared::slack::terminal::render(&blocks))
}

/// The demo's trace: every hop of the most severe finding's CloudTrail event, from ingest to
/// Slack, with how long each took (`dd0c replay --trace` writes the same spans as OTLP/JSON).
pub fn print_trace(
    findings: &[dd0c_shared::domain::Finding],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    use dd0c_shared::telemetry::trace;
    let Some(top) = findings.iter().max_by(|a, b| a.score.total_cmp(&b.score)) else {
        return Ok(());
    };
    let Some(spans) = trace::recorded_trace(&trace::trace_id_of_event(&top.event_id)) else {
        return Ok(());
    };
    if spans.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nThe trace of event {} (one CloudTrail event, every hop to Slack):",
        top.event_id
    )?;
    let rule = "─".repeat(72);
    writeln!(out, "┌{rule}\n{}└{rule}", trace::render_tree(&spans))
}

/// What a tenant sets up before the demo's events: the account's Terraform workspace (its
/// drift settings), the stack declared for it (`POST /v1/stacks`) and its state imported
/// (`dd0c stacks import`: the security group's address).
pub async fn declare_stacks(
    table: &dyn Table,
    tenant: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let settings = account::DriftSettings {
        deployer_role_arns: Vec::new(),
        terraform_workspace: Some(DEMO_STACK.into()),
    };
    account::set_drift_settings(table, tenant, DEMO_ACCOUNT, &settings).await?;
    let declaration = stack::StackDeclaration {
        stack_id: DEMO_STACK.into(),
        name: DEMO_STACK.into(),
        iac_tool: "terraform".into(),
        account_id: DEMO_ACCOUNT.into(),
        region: "us-east-1".into(),
        state_location: Some("s3://example-terraform-state/web-prod.tfstate".into()),
        enabled: true,
        ownership_tags: Default::default(),
        created_at: at,
        updated_at: at,
    };
    match stack::create(table, tenant, &declaration).await {
        Err(e) if e.is_condition_failed() => {}
        other => other?,
    }
    let (group, address) = DEMO_SECURITY_GROUP;
    let managed_by = ManagedBy {
        tool: Some(IacTool::Terraform),
        identity: STATE_IMPORT_IDENTITY.into(),
        stack: Some(DEMO_STACK.into()),
    };
    let imported = ManagedResource {
        address: Some(address.into()),
        ..ManagedResource::imported(
            tenant,
            DEMO_ACCOUNT,
            "ec2:security-group",
            group.into(),
            managed_by,
            at,
        )
    };
    resource::import_managed_resource(table, &imported).await?;
    Ok(())
}
