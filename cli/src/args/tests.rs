use super::*;

use std::path::Path;

use clap::error::ErrorKind;
use clap::CommandFactory;

fn parse(line: &str) -> Result<Command, clap::Error> {
    Cli::try_parse_from(std::iter::once("dd0c").chain(line.split_whitespace())).map(|c| c.command)
}

fn refused(line: &str) -> clap::Error {
    match parse(line) {
        Ok(command) => panic!("{line:?} was accepted: {command:?}"),
        Err(e) => e,
    }
}

#[test]
fn the_command_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn replay_takes_flags_and_paths_in_any_order() {
    let Command::Replay(r) =
        parse("replay a.jsonl --findings f.jsonl -q dir/ --quiet b.json.gz").expect("replay")
    else {
        panic!("not replay")
    };
    assert_eq!(
        r.paths,
        ["a.jsonl", "dir/", "b.json.gz"].map(PathBuf::from).to_vec()
    );
    assert_eq!(r.run.findings, Some(PathBuf::from("f.jsonl")));
    assert!(r.run.quiet);
    assert_eq!(r.run.policy, None);

    let options = r
        .run
        .options(r.paths.clone(), || Ok(Policy::demo()?))
        .expect("options");
    assert_eq!(options.paths.len(), 3);
    assert!(options.quiet);

    // A repeated flag keeps its last value, as before.
    let Command::Replay(r) = parse("replay --findings a --findings b x").expect("replay") else {
        panic!("not replay")
    };
    assert_eq!(r.run.findings, Some(PathBuf::from("b")));
}

#[test]
fn replay_refuses_no_path_and_unknown_flags() {
    let e = refused("replay");
    assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("<PATH>"), "{e}");
    let e = refused("replay --verbose x");
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    assert!(e.to_string().contains("--verbose"), "{e}");
    assert!(refused("replay x --findings")
        .to_string()
        .contains("--findings"));
}

#[test]
fn a_policy_file_is_read_and_a_bad_one_named() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let demo = repository.join("policy.demo.json");
    let Command::Replay(r) = Cli::try_parse_from([
        "dd0c".as_ref(),
        "replay".as_ref(),
        "--policy".as_ref(),
        demo.as_os_str(),
        "x".as_ref(),
    ])
    .expect("replay")
    .command
    else {
        panic!("not replay")
    };
    r.run
        .options(r.paths.clone(), || panic!("the default policy is not read"))
        .expect("policy.demo.json");

    let Command::Replay(r) = parse("replay --policy /nonexistent/policy.json x").expect("replay")
    else {
        panic!("not replay")
    };
    let e = r
        .run
        .options(r.paths.clone(), || Ok(Policy::demo()?))
        .err()
        .expect("a missing policy file fails");
    assert!(
        format!("{e:#}").contains("/nonexistent/policy.json"),
        "{e:#}"
    );
}

#[test]
fn serve_options_are_parsed_and_bad_ones_named() {
    let Command::Serve(s) = parse("serve").expect("defaults") else {
        panic!("not serve")
    };
    assert_eq!(s.options(), ServeOptions::default());
    let Command::Serve(s) = parse("serve --port 9000 --data /tmp/x").expect("options") else {
        panic!("not serve")
    };
    assert_eq!(s.options().port, 9000);
    assert_eq!(s.options().data, Some(PathBuf::from("/tmp/x")));
    assert!(refused("serve --port abc").to_string().contains("--port"));
    assert!(refused("serve --port 70000").to_string().contains("--port"));
    assert!(refused("serve --verbose").to_string().contains("--verbose"));
    assert!(refused("serve /tmp/x").to_string().contains("/tmp/x"));
}

#[test]
fn demo_takes_the_replay_and_serve_flags() {
    let Command::Demo(d) = parse("demo").expect("defaults") else {
        panic!("not demo")
    };
    assert_eq!(d.serve.options(), ServeOptions::default());
    assert!(!d.run.quiet);
    let Command::Demo(d) =
        parse("demo --quiet --port 1234 --findings f.jsonl --data d").expect("demo")
    else {
        panic!("not demo")
    };
    assert_eq!(d.serve.options().port, 1234);
    assert_eq!(d.serve.options().data, Some(PathBuf::from("d")));
    assert!(d.run.quiet);
    assert_eq!(d.run.findings, Some(PathBuf::from("f.jsonl")));
    assert!(parse("demo -q").is_ok());
    assert!(refused("demo --port").to_string().contains("--port"));
}

#[test]
fn token_options_are_parsed_and_bad_ones_named() {
    let Command::Token(t) = parse("token").expect("defaults") else {
        panic!("not token")
    };
    assert_eq!(t.options(), TokenOptions::default());
    assert_eq!(t.options().tenant, LOCAL_TENANT);
    assert_eq!(t.options().ttl_seconds, DEFAULT_TOKEN_TTL_SECONDS);
    let Command::Token(t) =
        parse("token --tenant acme --user ops@acme.test --ttl 60").expect("options")
    else {
        panic!("not token")
    };
    assert_eq!(
        t.options(),
        TokenOptions {
            tenant: "acme".into(),
            user: "ops@acme.test".into(),
            ttl_seconds: 60,
        }
    );
    assert!(refused("token --ttl 0").to_string().contains("--ttl"));
    assert!(refused("token --ttl 99999999999")
        .to_string()
        .contains("--ttl"));
    assert!(
        refused(&format!("token --ttl {}", MAX_TOKEN_TTL_SECONDS + 1))
            .to_string()
            .contains("--ttl")
    );
    assert!(parse(&format!("token --ttl {MAX_TOKEN_TTL_SECONDS}")).is_ok());
    assert!(refused("token --tenant a/b")
        .to_string()
        .contains("--tenant"));
    assert!(refused("token --tenant").to_string().contains("--tenant"));
    let e = Cli::try_parse_from(["dd0c", "token", "--user", " "]).expect_err("blank user");
    assert!(e.to_string().contains("--user"), "{e}");
}

#[test]
fn simulate_needs_out_and_at_least_a_day_and_an_account() {
    let Command::Simulate(s) = parse("simulate --out /tmp/sim").expect("defaults") else {
        panic!("not simulate")
    };
    assert_eq!(s.options(), SimulateOptions::default());
    assert_eq!(s.out, PathBuf::from("/tmp/sim"));
    let Command::Simulate(s) =
        parse("simulate --seed 7 --days 10 --accounts 2 --noise 5 --out o").expect("options")
    else {
        panic!("not simulate")
    };
    assert_eq!(
        s.options(),
        SimulateOptions {
            seed: 7,
            days: 10,
            accounts: 2,
            noise_per_day: 5,
            history_days: 0,
        }
    );
    assert!(refused("simulate --seed 7").to_string().contains("--out"));
    assert!(refused("simulate --days 0 --out o")
        .to_string()
        .contains("--days"));
    assert!(refused("simulate --accounts 0 --out o")
        .to_string()
        .contains("--accounts"));
    assert!(refused("simulate --seed x --out o")
        .to_string()
        .contains("--seed"));
}

#[test]
fn bench_takes_comma_separated_seeds() {
    let Command::Bench(b) = parse("bench").expect("defaults") else {
        panic!("not bench")
    };
    let defaults = BenchOptions::default();
    let options = b.options();
    assert_eq!(options.seeds, defaults.seeds);
    assert_eq!(
        (
            options.days,
            options.accounts,
            options.throughput_days,
            options.throughput_accounts
        ),
        (
            defaults.days,
            defaults.accounts,
            defaults.throughput_days,
            defaults.throughput_accounts
        )
    );
    let Command::Bench(b) = Cli::try_parse_from([
        "dd0c",
        "bench",
        "--seeds",
        "1, 2,3",
        "--days",
        "5",
        "--large-days",
        "2",
        "--large-accounts",
        "4",
    ])
    .expect("options")
    .command
    else {
        panic!("not bench")
    };
    let options = b.options();
    assert_eq!(options.seeds, vec![1, 2, 3]);
    assert_eq!(
        (
            options.days,
            options.throughput_days,
            options.throughput_accounts
        ),
        (5, 2, 4)
    );
    assert!(refused("bench --seeds 1,x").to_string().contains("--seeds"));
}

#[test]
fn no_or_an_unknown_command_is_a_usage_error_and_help_is_not() {
    let e = Cli::try_parse_from(["dd0c"]).expect_err("no command");
    assert_eq!(e.exit_code(), 2);
    let e = refused("frobnicate");
    assert_eq!(e.kind(), ErrorKind::InvalidSubcommand);
    assert_eq!(e.exit_code(), 2);
    for line in ["help", "--help", "-h", "help replay", "serve --help"] {
        let e = refused(line);
        assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{line}");
        assert_eq!(e.exit_code(), 0, "{line}");
    }
}

/// The usage names every command and flag of CONTRACTS.md and the README.
#[test]
fn the_usage_names_the_contract() {
    let mut command = Cli::command();
    let help = command.render_long_help().to_string();
    for name in ["replay", "demo", "serve", "token", "simulate", "bench"] {
        assert!(help.contains(name), "{name} missing from\n{help}");
    }
    for (name, flags) in [
        (
            "replay",
            &[
                "--findings <FILE>",
                "--policy <FILE>",
                "--quiet",
                "<PATH>...",
            ][..],
        ),
        (
            "demo",
            &[
                "--findings <FILE>",
                "--quiet",
                "--port <PORT>",
                "--data <DIR>",
            ],
        ),
        (
            "serve",
            &["--port <PORT>", "[default: 8787]", "--data <DIR>"],
        ),
        (
            "token",
            &["--tenant <ID>", "--user <EMAIL>", "--ttl <SECONDS>"],
        ),
        (
            "simulate",
            &["--seed <N>", "--days <D>", "--accounts <K>", "--out <DIR>"],
        ),
        (
            "bench",
            &["--seeds <1,2,3>", "--days <D>", "--accounts <K>"],
        ),
    ] {
        let help = command
            .find_subcommand_mut(name)
            .expect(name)
            .render_long_help()
            .to_string();
        for flag in flags {
            assert!(
                help.contains(flag),
                "{flag} missing from dd0c {name}:\n{help}"
            );
        }
    }
}
