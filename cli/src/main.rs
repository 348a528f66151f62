//! `dd0c`: replay recorded CloudTrail through the whole pipeline, run the demo, serve the
//! API and dashboard locally. See `../shared/CONTRACTS.md` for the command-line contract.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use dd0c_cli::replay::{replay, replay_keeping_pipeline, ReplayOptions};
use dd0c_cli::serve;
use dd0c_cli::terminal_chat::TerminalChat;
use dd0c_shared::governance::Policy;

const USAGE: &str = "usage:
  dd0c replay [--findings FILE] [--policy FILE] [--quiet] PATH...
  dd0c demo [--findings FILE] [--quiet] [--port 8787] [--data DIR]   (DEMO_EXIT=1: exit after the replay)
  dd0c serve [--port 8787] [--data DIR]
  dd0c token [--tenant ID] [--user EMAIL] [--ttl SECONDS]
  dd0c simulate --seed N --days D --accounts K --out DIR
  dd0c bench [--seeds 1,2,3] [--days D] [--accounts K]
  dd0c help";

/// Parses replay options; `default_policy` applies unless `--policy FILE` is given (a bad
/// file fails here, naming the field at fault).
fn parse_replay(args: &[String], default_policy: Policy) -> anyhow::Result<ReplayOptions> {
    let mut options = ReplayOptions {
        paths: Vec::new(),
        findings: None,
        policy: default_policy,
        quiet: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--findings" => {
                options.findings =
                    Some(PathBuf::from(it.next().context("--findings needs a FILE")?))
            }
            "--policy" => {
                let path = PathBuf::from(it.next().context("--policy needs a FILE")?);
                options.policy = Policy::from_file(&path)
                    .with_context(|| format!("policy {}", path.display()))?;
            }
            "--quiet" | "-q" => options.quiet = true,
            flag if flag.starts_with("--") => bail!("unknown option {flag}\n{USAGE}"),
            path => options.paths.push(PathBuf::from(path)),
        }
    }
    Ok(options)
}

async fn run_replay(options: ReplayOptions) -> anyhow::Result<ExitCode> {
    if options.paths.is_empty() {
        bail!("replay needs at least one PATH\n{USAGE}");
    }
    let chat = Arc::new(TerminalChat::new(!options.quiet));
    match replay(&options, chat).await? {
        Some(summary) => {
            summary.print(&mut std::io::stderr())?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("dd0c: no input could be read");
            Ok(ExitCode::from(2))
        }
    }
}

/// `dd0c demo`: the replay of the bundled data, then `dd0c serve` on its store until
/// interrupted (`DEMO_EXIT=1`: exit after the replay).
async fn run_demo(args: &[String]) -> anyhow::Result<ExitCode> {
    let (serve_options, rest) = serve::take_serve_options(args)?;
    let mut options = parse_replay(&rest, Policy::demo()?)?;
    options.paths = vec![dd0c_cli::demo::data_dir()];
    let exit_after = std::env::var("DEMO_EXIT").is_ok_and(|v| !v.is_empty() && v != "0");
    if exit_after {
        return run_replay(options).await;
    }
    let secrets = serve::LocalSecrets::from_env();
    let chat = serve::chat::local_chat(!options.quiet, secrets.slack_webhook_url.clone());
    match replay_keeping_pipeline(&options, chat).await? {
        Some((summary, pipeline)) => {
            summary.print(&mut std::io::stderr())?;
            serve::serve(pipeline, &serve_options, &secrets).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("dd0c: no input could be read");
            Ok(ExitCode::from(2))
        }
    }
}

async fn run_serve(options: serve::ServeOptions) -> anyhow::Result<ExitCode> {
    let secrets = serve::LocalSecrets::from_env();
    let pipeline = serve::load_pipeline(options.data.as_deref(), &secrets)?;
    serve::serve(pipeline, &options, &secrets).await?;
    Ok(ExitCode::SUCCESS)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    dd0c_shared::telemetry::init_cli("warn");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("replay") => match Policy::system()
            .map_err(anyhow::Error::from)
            .and_then(|p| parse_replay(&args[1..], p))
        {
            Ok(options) => run_replay(options).await,
            Err(e) => Err(e),
        },
        Some("demo") => run_demo(&args[1..]).await,
        Some("serve") => match serve::parse_serve(&args[1..]) {
            Ok(options) => run_serve(options).await,
            Err(e) => Err(e),
        },
        Some("token") => serve::parse_token(&args[1..])
            .and_then(|o| serve::token(&o))
            .map(|token| {
                println!("{token}");
                ExitCode::SUCCESS
            }),
        Some("simulate") => dd0c_cli::simulate::cli(&args[1..]),
        Some("bench") => dd0c_cli::bench::cli(&args[1..]).await,
        Some("help") | Some("--help") | Some("-h") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(anyhow::anyhow!("{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dd0c: {e:#}");
            ExitCode::from(2)
        }
    }
}
