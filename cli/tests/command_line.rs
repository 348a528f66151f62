//! The `dd0c` binary as scripts see it: exit status, stdout and stderr (CONTRACTS.md).

use std::process::{Command, Output};

fn dd0c(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dd0c"))
        .args(args)
        .env_remove("DEMO_EXIT")
        .output()
        .expect("dd0c runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_goes_to_stdout_and_names_every_command() {
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let out = dd0c(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = text(&out.stdout);
        for command in ["replay", "demo", "serve", "token", "simulate", "bench"] {
            assert!(
                stdout.contains(command),
                "{args:?}: {command} missing:\n{stdout}"
            );
        }
    }
}

#[test]
fn bad_usage_exits_2_with_the_reason_on_stderr() {
    for (args, named) in [
        (&[][..], "Usage: dd0c"),
        (&["frobnicate"], "frobnicate"),
        (&["replay"], "<PATH>"),
        (&["replay", "--verbose", "x"], "--verbose"),
        (&["serve", "--port", "70000"], "--port"),
        (&["token", "--ttl", "0"], "--ttl"),
        (&["token", "--tenant", "a/b"], "--tenant"),
        (&["simulate", "--days", "3"], "--out"),
        (&["bench", "--seeds", "1,x"], "--seeds"),
    ] {
        let out = dd0c(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(named),
            "{args:?}: {named} missing:\n{stderr}"
        );
    }
}

#[test]
fn a_replay_of_nothing_readable_exits_2() {
    let out = dd0c(&["replay", "--quiet", "/nonexistent/dd0c-input"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("dd0c: no input could be read"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn token_prints_one_bearer_token_on_stdout() {
    let out = dd0c(&["token", "--tenant", "acme", "--ttl", "60"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.strip_suffix('\n').expect("one line");
    assert!(!line.contains('\n'));
    assert_eq!(line.split('.').count(), 3, "a JWT: {line}");
}

#[test]
fn demo_with_demo_exit_replays_and_exits() {
    let findings = std::env::temp_dir().join(format!("dd0c-cli-demo-{}.jsonl", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_dd0c"))
        .args(["demo", "--quiet", "--findings"])
        .arg(&findings)
        .env("DEMO_EXIT", "1")
        .output()
        .expect("dd0c runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("dd0c replay summary"));
    let written = std::fs::read_to_string(&findings).expect("findings file");
    assert!(written.lines().count() > 0);
    let _ = std::fs::remove_file(&findings);
}
