//! The `dd0c` command line: every command, flag and default (the contract of
//! `../shared/CONTRACTS.md`), parsed and checked by clap.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dd0c_shared::auth;
use dd0c_shared::governance::Policy;

use crate::bench::BenchOptions;
use crate::cost::{CostOptions, DEFAULT_MONTHLY_EVENTS};
use crate::pipeline::LOCAL_TENANT;
use crate::replay::ReplayOptions;
use crate::serve::compose::{ServeOptions, DEFAULT_PORT};
use crate::serve::token::{TokenOptions, DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS};
use crate::simulate::SimulateOptions;
use crate::stacks_import::{
    ImportOptions, StateSource, API_KEY_VARIABLE, API_URL_VARIABLE, DEFAULT_API_URL,
};

/// Replay recorded CloudTrail through the whole dd0c pipeline, run the demo, serve the API and
/// dashboard locally.
#[derive(Debug, Parser)]
#[command(name = "dd0c", arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run recorded CloudTrail (files or directories, gzip or not) through the whole pipeline
    #[command(args_override_self = true)]
    Replay(ReplayArgs),
    /// Replay the bundled demo data, then serve it (DEMO_EXIT=1: exit after the replay)
    #[command(args_override_self = true)]
    Demo(DemoArgs),
    /// The API, Slack, Stripe and drift-report routes and the dashboard on 127.0.0.1
    #[command(
        args_override_self = true,
        after_help = "Secrets come from SLACK_SIGNING_SECRET and STRIPE_WEBHOOK_SECRET (demo defaults \
                      when unset); SLACK_WEBHOOK_URL also posts alerts to a Slack incoming webhook."
    )]
    Serve(ServeArgs),
    /// Print a bearer token the local server accepts
    #[command(args_override_self = true)]
    Token(TokenArgs),
    /// Write labeled synthetic CloudTrail
    #[command(args_override_self = true)]
    Simulate(SimulateArgs),
    /// Accuracy and throughput on simulated data (exit 1 when a target is missed)
    #[command(args_override_self = true)]
    Bench(BenchArgs),
    /// IaC stacks: make what a Terraform/OpenTofu state owns known to dd0c
    #[command(subcommand)]
    Stacks(StacksCommand),
}

#[derive(Debug, Subcommand)]
pub enum StacksCommand {
    /// Send a state file's resources (type, address and id only) to POST /v1/stacks/{id}/resources
    #[command(
        args_override_self = true,
        after_help = "The API key comes from DD0C_API_KEY. Exit status: 0 imported, 2 the state \
                      file cannot be read (or no API key), 1 the API refused the import."
    )]
    Import(StacksImportArgs),
}

#[derive(Debug, Args)]
pub struct StacksImportArgs {
    /// A Terraform/OpenTofu state file of format version 4 (`-`: stdin)
    #[arg(value_name = "STATEFILE")]
    pub statefile: PathBuf,
    /// The stack (default: the state's lineage, else the file name without extensions)
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// The dd0c API (default: DD0C_API_URL, else http://127.0.0.1:8787, `dd0c serve`)
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// Print the JSON payload (one line per request) instead of sending it
    #[arg(long)]
    pub dry_run: bool,
}

impl StacksImportArgs {
    /// The options, with the API's URL and key from the environment.
    pub fn options(&self) -> ImportOptions {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        ImportOptions {
            state: StateSource::from_arg(&self.statefile),
            stack: self.stack.clone(),
            api: self
                .api
                .clone()
                .or_else(|| env(API_URL_VARIABLE))
                .unwrap_or_else(|| DEFAULT_API_URL.into()),
            api_key: env(API_KEY_VARIABLE),
            dry_run: self.dry_run,
        }
    }
}

/// The flags of a run of the pipeline, shared by `replay` and `demo`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Write one JSON line per finding to FILE
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Governance policy (default: policy.json for replay, policy.demo.json for demo)
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Do not print notifications
    #[arg(short, long)]
    pub quiet: bool,
}

impl RunArgs {
    /// The replay of `paths`; `default_policy` applies unless `--policy FILE` is given (a bad
    /// file fails here, naming the field at fault).
    pub fn options(
        &self,
        paths: Vec<PathBuf>,
        default_policy: impl FnOnce() -> anyhow::Result<Policy>,
    ) -> anyhow::Result<ReplayOptions> {
        let policy = match &self.policy {
            Some(path) => {
                Policy::from_file(path).with_context(|| format!("policy {}", path.display()))?
            }
            None => default_policy()?,
        };
        Ok(ReplayOptions {
            paths,
            findings: self.findings.clone(),
            policy,
            quiet: self.quiet,
            cost: None,
            demo_stacks: false,
            history: None,
            time_shift: crate::time_shift::TimeShift::NONE,
        })
    }
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Meter what the run would cost on AWS; write the report to FILE (a table on stderr)
    #[arg(long, value_name = "FILE")]
    pub cost: Option<PathBuf>,
    /// The monthly volume the cost is computed at
    #[arg(long, value_name = "N", requires = "cost", default_value_t = DEFAULT_MONTHLY_EVENTS)]
    pub monthly_events: u64,
    /// CloudTrail from before the accounts connected (file or directory): folded into the
    /// baselines quietly, as the backfill does, before PATH is replayed
    #[arg(long, value_name = "PATH")]
    pub history: Option<PathBuf>,
    /// Write every span of every event's trace (ingest to Slack) to stdout, one OTLP/JSON
    /// export request per line
    #[arg(long)]
    pub trace: bool,
    /// Files or directories (read recursively)
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

impl ReplayArgs {
    pub fn options(&self) -> anyhow::Result<ReplayOptions> {
        let mut options = self
            .run
            .options(self.paths.clone(), || Ok(Policy::system()?))?;
        options.cost = self.cost.clone().map(|report| CostOptions {
            report,
            monthly_events: self.monthly_events,
        });
        options.history = self.history.clone();
        Ok(options)
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TCP port on 127.0.0.1 (0: any free port)
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Keep the store in DIR/table.json between runs (default: in memory)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

impl ServeArgs {
    pub fn options(&self) -> ServeOptions {
        ServeOptions {
            port: self.port,
            data: self.data.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Tenant the token is for
    #[arg(long, value_name = "ID", default_value = LOCAL_TENANT, value_parser = tenant_id)]
    pub tenant: String,
    /// The user's email address
    #[arg(long, value_name = "EMAIL", default_value = auth::local::DEMO_USER, value_parser = email)]
    pub user: String,
    /// Lifetime of the token
    #[arg(long = "ttl", value_name = "SECONDS", default_value_t = DEFAULT_TOKEN_TTL_SECONDS, value_parser = ttl_seconds)]
    pub ttl_seconds: u64,
}

impl TokenArgs {
    pub fn options(&self) -> TokenOptions {
        TokenOptions {
            tenant: self.tenant.clone(),
            user: self.user.clone(),
            ttl_seconds: self.ttl_seconds,
        }
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Random seed (the same seed gives the same output)
    #[arg(long, value_name = "N", default_value_t = SimulateOptions::default().seed)]
    pub seed: u64,
    /// Days of activity
    #[arg(long, value_name = "D", default_value_t = SimulateOptions::default().days, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Accounts
    #[arg(long, value_name = "K", default_value_t = SimulateOptions::default().accounts, value_parser = clap::value_parser!(u32).range(1..))]
    pub accounts: u32,
    /// Read-only calls per account and day
    #[arg(long, value_name = "N", default_value_t = SimulateOptions::default().noise_per_day)]
    pub noise: u32,
    /// Days of history from before the connection, for every other account (in DIR/history)
    #[arg(long, value_name = "D", default_value_t = SimulateOptions::default().history_days)]
    pub history_days: u32,
    /// Where the CloudTrail and labels.jsonl are written
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

impl SimulateArgs {
    pub fn options(&self) -> SimulateOptions {
        SimulateOptions {
            seed: self.seed,
            days: self.days,
            accounts: self.accounts,
            noise_per_day: self.noise,
            history_days: self.history_days,
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seeds of the accuracy runs, comma-separated
    #[arg(long, value_name = "1,2,3", default_value_t = Seeds(BenchOptions::default().seeds))]
    pub seeds: Seeds,
    /// Days of each accuracy run
    #[arg(long, value_name = "D", default_value_t = BenchOptions::default().days)]
    pub days: u32,
    /// Accounts of each accuracy run
    #[arg(long, value_name = "K", default_value_t = BenchOptions::default().accounts)]
    pub accounts: u32,
    /// Days of the throughput run
    #[arg(long, value_name = "D", default_value_t = BenchOptions::default().throughput_days)]
    pub large_days: u32,
    /// Accounts of the throughput run
    #[arg(long, value_name = "K", default_value_t = BenchOptions::default().throughput_accounts)]
    pub large_accounts: u32,
    /// Events of each run of `dd0c replay` at scale (throughput against serde_json, peak
    /// memory), comma-separated; 0 for none
    #[arg(long, value_name = "N,N", default_value_t = Seeds(BenchOptions::default().scale_events))]
    pub scale: Seeds,
}

impl BenchArgs {
    pub fn options(&self) -> BenchOptions {
        BenchOptions {
            seeds: self.seeds.0.clone(),
            days: self.days,
            accounts: self.accounts,
            throughput_days: self.large_days,
            throughput_accounts: self.large_accounts,
            scale_events: self.scale.0.iter().copied().filter(|&n| n > 0).collect(),
            ..BenchOptions::default()
        }
    }
}

fn tenant_id(value: &str) -> Result<String, String> {
    if auth::jwt::valid_tenant_id(value) {
        Ok(value.to_owned())
    } else {
        Err("must be 1-64 letters, digits, '-' or '_'".into())
    }
}

fn email(value: &str) -> Result<String, String> {
    if value.trim().is_empty() || value.len() > 254 {
        Err("must be an email address (1-254 characters)".into())
    } else {
        Ok(value.to_owned())
    }
}

fn ttl_seconds(value: &str) -> Result<u64, String> {
    value
        .parse()
        .ok()
        .filter(|s| (1..=MAX_TOKEN_TTL_SECONDS).contains(s))
        .ok_or_else(|| format!("must be a number of seconds from 1 to {MAX_TOKEN_TTL_SECONDS}"))
}

/// Comma-separated seeds: `1,2,3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

impl FromStr for Seeds {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        value
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .map_err(|_| format!("{s:?} is not a number"))
            })
            .collect::<Result<_, _>>()
            .map(Seeds)
    }
}

impl fmt::Display for Seeds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seeds: Vec<String> = self.0.iter().map(u64::to_string).collect();
        f.write_str(&seeds.join(","))
    }
}

#[cfg(test)]
mod tests;
