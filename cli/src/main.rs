//! `dd0c`: replay recorded CloudTrail through the whole pipeline, run the demo, serve the
//! API and dashboard locally. See `../shared/CONTRACTS.md` for the command-line contract and
//! `args.rs` for its parser.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use dd0c_cli::args::{Cli, Command, DemoArgs, StacksCommand, StacksImportArgs};
use dd0c_cli::replay::{replay, replay_keeping_pipeline, ReplayOptions};
use dd0c_cli::serve::chat::local_chat;
use dd0c_cli::serve::compose::{load_pipeline, serve, ServeOptions};
use dd0c_cli::serve::secrets::LocalSecrets;
use dd0c_cli::serve::token::token;
use dd0c_cli::terminal_chat::TerminalChat;
use dd0c_shared::governance::Policy;
use dd0c_shared::telemetry::trace;

/// The replay allocates and frees small objects at every stage of every event (items, keys,
/// messages): mimalloc does it faster than the system allocator and fragments less over a
/// long run (docs/decisions/1010-streaming-replay.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn run_replay(options: ReplayOptions) -> anyhow::Result<ExitCode> {
    let chat = Arc::new(TerminalChat::new(!options.quiet));
    match replay(&options, chat).await? {
        Some(summary) => {
            summary.print(&mut std::io::stderr())?;
            if options.demo_stacks && !options.quiet {
                dd0c_cli::demo::print_decision_log(&summary.findings, &mut std::io::stdout())?;
                dd0c_cli::demo::print_trace(&summary.findings, &mut std::io::stdout())?;
            }
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
async fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    // Every trace is kept, to show one after the replay (decision 0710).
    let spans = Arc::new(trace::MemorySink::default());
    trace::install(spans.clone(), 100.0);
    let mut options = args
        .run
        .options(vec![dd0c_cli::demo::data_dir()], || Ok(Policy::demo()?))?;
    options.demo_stacks = true;
    options.time_shift = dd0c_cli::demo::recent_shift(&options.paths, chrono::Utc::now());
    let exit_after = std::env::var("DEMO_EXIT").is_ok_and(|v| !v.is_empty() && v != "0");
    if exit_after {
        return run_replay(options).await;
    }
    let secrets = LocalSecrets::from_env();
    let chat = local_chat(!options.quiet, secrets.slack_webhook_url.clone());
    match replay_keeping_pipeline(&options, chat).await? {
        Some((summary, pipeline)) => {
            summary.print(&mut std::io::stderr())?;
            if !options.quiet {
                dd0c_cli::demo::print_decision_log(&summary.findings, &mut std::io::stdout())?;
                dd0c_cli::demo::print_trace(&summary.findings, &mut std::io::stdout())?;
            }
            serve(pipeline, &args.serve.options(), &secrets).await?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("dd0c: no input could be read");
            Ok(ExitCode::from(2))
        }
    }
}

async fn run_serve(options: ServeOptions) -> anyhow::Result<ExitCode> {
    let secrets = LocalSecrets::from_env();
    let pipeline = load_pipeline(options.data.as_deref(), &secrets)?;
    serve(pipeline, &options, &secrets).await?;
    Ok(ExitCode::SUCCESS)
}

/// `dd0c stacks import`: the summary (JSON) on stdout; the exit status tells what failed.
async fn run_stacks_import(args: StacksImportArgs) -> anyhow::Result<ExitCode> {
    match dd0c_cli::stacks_import::run(&args.options(), &mut std::io::stdout()).await {
        Ok(Some(done)) => {
            println!("{}", serde_json::to_string(&done)?);
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("dd0c: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Replay(args) => {
            if args.trace {
                trace::install(
                    Arc::new(trace::StdoutSink {
                        service: "dd0c-replay".into(),
                    }),
                    100.0,
                );
            }
            run_replay(args.options()?).await
        }
        Command::Demo(args) => run_demo(args).await,
        Command::Serve(args) => run_serve(args.options()).await,
        Command::Token(args) => {
            println!("{}", token(&args.options())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => dd0c_cli::simulate::cli(&args.options(), &args.out),
        Command::Bench(args) => dd0c_cli::bench::cli(&args.options()).await,
        Command::Stacks(StacksCommand::Import(args)) => run_stacks_import(args).await,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Usage errors exit 2 with clap's message on stderr; `--help` prints on stdout and exits 0.
    let cli = Cli::parse();
    dd0c_shared::telemetry::init_cli("warn");
    match run(cli.command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dd0c: {e:#}");
            ExitCode::from(2)
        }
    }
}
