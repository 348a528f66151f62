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
        (&["replay", "--monthly-events", "5", "x"], "--cost"),
        (
            &["replay", "--cost", "f", "--monthly-events", "many", "x"],
            "--monthly-events",
        ),
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

/// `--cost FILE`: the report's fields as CONTRACTS.md names them, and the same table on stderr
/// after the summary; the total is the sum of the items, and a smaller volume costs more per
/// event (fixed polls spread over fewer events).
#[test]
fn replay_with_cost_writes_the_report_and_prints_its_table() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/data");
    let dir = std::env::temp_dir().join(format!("dd0c-cli-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut totals = Vec::new();
    for monthly in ["50000000", "1000000"] {
        let file = dir.join(format!("cost-{monthly}.json"));
        let out = Command::new(env!("CARGO_BIN_EXE_dd0c"))
            .args(["replay", "--quiet", "--cost"])
            .arg(&file)
            .args(["--monthly-events", monthly, demo])
            .output()
            .expect("dd0c runs");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        let summary = stderr.find("dd0c replay summary").expect("summary");
        let table = stderr
            .find(&format!("dd0c cost at {monthly} events a month"))
            .expect("cost table");
        assert!(summary < table, "{stderr}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(report["monthly_events"], monthly.parse::<u64>().unwrap());
        assert_eq!(report["events"], 152);
        assert!(report["prices_as_of"].as_str().unwrap().starts_with("20"));
        let items = report["items"].as_array().unwrap();
        let mut sum = 0.0;
        for item in items {
            for field in ["item", "unit"] {
                assert!(item[field].is_string(), "{item}");
            }
            for field in ["per_event", "unit_price_usd", "usd_per_million_events"] {
                assert!(item[field].is_number(), "{item}");
            }
            let name = item["item"].as_str().unwrap();
            assert!(stderr.contains(name), "{name} not printed");
            sum += item["usd_per_million_events"].as_f64().unwrap();
        }
        for name in [
            "lambda_requests",
            "sqs_fifo_sends",
            "dynamodb_write_request_units",
        ] {
            assert!(items.iter().any(|i| i["item"] == name), "{name} missing");
        }
        let total = report["usd_per_million_events"].as_f64().unwrap();
        assert!((total - sum).abs() < 1e-9 && total > 0.0);
        assert!(stderr.contains(&format!("total: ${total:.4} per million events")));
        totals.push(total);
    }
    assert!(totals[1] > totals[0], "{totals:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
