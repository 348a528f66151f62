//! The `dd0c` binary as scripts see it: exit status, stdout and stderr (CONTRACTS.md).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread::JoinHandle;

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
        for command in [
            "replay", "demo", "serve", "token", "simulate", "bench", "stacks",
        ] {
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
        (&["stacks", "import"], "<STATEFILE>"),
        (&["stacks", "import", "s.tfstate", "--force"], "--force"),
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
    // The demo is served in wall-clock time: its data is moved to the last week, or what it
    // stored would expire on the data's own date (decision 1120).
    let newest = written
        .lines()
        .map(|l| {
            let finding: serde_json::Value = serde_json::from_str(l).expect("a finding");
            let at = finding["event_time"]
                .as_str()
                .expect("event_time")
                .to_owned();
            chrono::DateTime::parse_from_rfc3339(&at).expect("RFC 3339")
        })
        .max()
        .expect("a finding");
    let age = chrono::Utc::now().signed_duration_since(newest);
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::weeks(1),
        "the demo's newest finding is from {newest}"
    );
}

/// What `dd0c demo` prints on stdout when it exits after the replay (`DEMO_EXIT=1`).
fn demo_stdout() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dd0c"))
        .args(["demo"])
        .env("DEMO_EXIT", "1")
        .output()
        .expect("dd0c runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// The demo ends with one decision log (issue 14, item 3): the most severe finding's "Why?" as
/// Slack's modal shows it: its verdict, its signals, the baseline, thresholds and the policy.
#[test]
fn the_demo_shows_a_decision_log() {
    let stdout = demo_stdout();
    let log = stdout
        .split("Why? The decision log of cost-")
        .nth(1)
        .unwrap_or_else(|| panic!("no decision log in: {stdout}"));
    for expected in [
        ": critical",
        "adds",
        "Baseline before the event",
        "Thresholds",
        "Policy",
    ] {
        assert!(log.contains(expected), "{expected}: {log}");
    }
}

/// The demo also shows one trace (issue 14, item 4): the most severe finding's CloudTrail
/// event through every hop, ingest to Slack, nested.
#[test]
fn the_demo_shows_one_trace_from_ingest_to_slack() {
    let stdout = demo_stdout();
    let tree = stdout
        .split("(one CloudTrail event, every hop to Slack):")
        .nth(1)
        .unwrap_or_else(|| panic!("no trace in: {stdout}"));
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.strip_prefix("│ "))
        .map(|l| l.split(" · ").next().unwrap_or_default())
        .collect();
    let depth = |name: &str| {
        names
            .iter()
            .find(|n| n.trim_start().starts_with(name))
            .map(|n| n.len() - n.trim_start().len())
            .unwrap_or_else(|| panic!("no {name} span in {names:?}"))
    };
    let hops = [
        "ingest ",
        "ingest process",
        "score process",
        "alerts process",
        "slack.chat.postMessage",
    ];
    let depths: Vec<usize> = hops.iter().map(|h| depth(h)).collect();
    assert_eq!(depths, [0, 2, 4, 6, 8], "{names:?}");
}

/// `replay --trace`: every span on stdout as an OTLP/JSON export request, one per line; one
/// CloudTrail event is one trace whose hops are parent and child; spans name the tenant and
/// hash resources, never carry an ARN.
#[test]
fn replay_with_trace_writes_one_trace_per_event_as_otlp_json() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../demo/data");
    let out = dd0c(&["replay", "--quiet", "--trace", data]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("arn:aws"), "a raw ARN is on a span");
    let spans: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| {
            let request: serde_json::Value = serde_json::from_str(l).expect("OTLP/JSON");
            request["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone()
        })
        .collect();
    assert!(spans.len() > 100, "{} spans", spans.len());
    let attr = |s: &serde_json::Value, key: &str| {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].as_str().unwrap().to_owned())
    };
    let root = spans
        .iter()
        .find(|s| {
            s["name"] == "ingest"
                && attr(s, "dd0c.event_id").as_deref()
                    == Some("d7a1c2b3-0000-4000-9000-000000000018")
        })
        .expect("the launch's ingest span");
    let trace_id = root["traceId"].as_str().unwrap();
    let trace: Vec<&serde_json::Value> =
        spans.iter().filter(|s| s["traceId"] == trace_id).collect();
    let mut parent = root;
    for hop in [
        "ingest process",
        "score process",
        "alerts process",
        "slack.chat.postMessage",
    ] {
        let child = trace
            .iter()
            .find(|s| s["name"] == hop && s["parentSpanId"] == parent["spanId"])
            .unwrap_or_else(|| panic!("no {hop} under {}: {trace:?}", parent["name"]));
        parent = child;
    }
    let alert = trace
        .iter()
        .find(|s| s["name"] == "alerts process")
        .unwrap();
    assert_eq!(attr(alert, "dd0c.tenant_id").as_deref(), Some("local"));
    let post = trace
        .iter()
        .find(|s| s["name"] == "slack.chat.postMessage")
        .unwrap();
    assert!(attr(post, "dd0c.resource").unwrap().starts_with("sha256:"));
}

/// `--cost FILE`: the report's fields as CONTRACTS.md names them, and the same table on stderr
/// after the summary; the total is the sum of the items, and a smaller volume costs more per
/// event (fixed polls spread over fewer events).
/// `replay --history PATH`: the accounts' CloudTrail from before they connected is folded
/// quietly first; no finding comes from it, and what the history taught shows (the same
/// launches replayed live raise findings).
#[test]
fn replay_with_history_folds_it_quietly_first() {
    let dir = std::env::temp_dir().join(format!("dd0c-cli-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sim = dd0c(&[
        "simulate",
        "--seed",
        "3",
        "--days",
        "6",
        "--accounts",
        "2",
        "--history-days",
        "20",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(sim.status.code(), Some(0), "{}", text(&sim.stderr));
    let replay = |extra: &[&str], findings: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_dd0c"))
            .args(["replay", "--findings"])
            .arg(findings)
            .args(extra)
            .output()
            .expect("dd0c runs");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        (
            text(&out.stderr),
            std::fs::read_to_string(findings).unwrap(),
        )
    };
    let history = dir.join("history");
    let events = dir.join("events");
    let (stderr, quiet) = replay(
        &[
            "--history",
            history.to_str().unwrap(),
            events.to_str().unwrap(),
        ],
        &dir.join("with-history.jsonl"),
    );
    assert!(
        stderr.contains("events of history folded quietly"),
        "{stderr}"
    );
    let connected = "2026-01-05T00:00:00Z";
    for line in quiet.lines() {
        let f: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            f["event_time"].as_str().unwrap() >= connected,
            "a finding from the history: {line}"
        );
    }
    let (_, live) = replay(
        &[history.to_str().unwrap(), events.to_str().unwrap()],
        &dir.join("all-live.jsonl"),
    );
    assert!(
        live.lines().any(|l| l.contains("\"event_time\":\"2025-12")),
        "replayed live, the history's launches raise findings"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

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
        // The demo's 152 records include reads and failed calls the customer's rule does not
        // forward: they are replayed, not billed (decision 1080).
        assert_eq!(report["events"], 32);
        assert!(
            stderr.contains(
                "events the customer's rule does not forward (replayed, not billed): 120"
            ),
            "{stderr}"
        );
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

fn terraform(name: &str) -> String {
    format!(
        "{}/tests/fixtures/terraform/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `dd0c stacks import ARGS` with the API's URL and key as given (never the caller's).
fn stacks_import(args: &[&str], api_key: Option<&str>, stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dd0c"));
    command
        .args(["stacks", "import"])
        .args(args)
        .env_remove("DD0C_API_URL")
        .env_remove("DD0C_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(key) = api_key {
        command.env("DD0C_API_KEY", key);
    }
    let mut child = command.spawn().expect("dd0c runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default()).expect("stdin");
    drop(input);
    child.wait_with_output().expect("dd0c ends")
}

/// An HTTP server for one request: answers `status` and `body`, returns the request it read.
fn one_answer(status: &str, body: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let status = status.to_owned();
    let served = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = socket.read(&mut buf).expect("read");
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            if let Some(split) = text.find("\r\n\r\n") {
                let length: usize = text[..split]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().expect("length"))
                    })
                    .unwrap_or(0);
                if raw.len() >= split + 4 + length || n == 0 {
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    socket.write_all(answer.as_bytes()).expect("write");
                    return text;
                }
            }
        }
    });
    (url, served)
}

#[test]
fn stacks_import_dry_run_prints_type_address_and_id_and_no_secret() {
    let out = stacks_import(
        &[&terraform("aws-modules.tfstate"), "--dry-run"],
        None,
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("S3cret"),
        "a secret left the state: {stdout}"
    );
    assert!(
        !stdout.contains("db-ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        "{stdout}"
    );
    let payload: serde_json::Value = serde_json::from_str(stdout.trim_end()).expect("one JSON");
    let resources = payload["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 11, "{payload}");
    assert!(resources.iter().any(|r| r
        == &serde_json::json!({"type": "aws_instance", "address": "module.app.aws_instance.web[1]", "id": "i-0aaa0000000000002"})));

    // The same state on stdin (`-`), named by its lineage as from a file.
    let state = std::fs::read(terraform("aws-modules.tfstate")).unwrap();
    let piped = stacks_import(&["-", "--dry-run"], None, Some(&state));
    assert_eq!(piped.status.code(), Some(0), "{}", text(&piped.stderr));
    assert_eq!(text(&piped.stdout), stdout);
}

#[test]
fn stacks_import_of_an_unreadable_state_exits_2() {
    for (args, stdin, says) in [
        (
            vec!["/nonexistent/dd0c.tfstate".to_owned(), "--dry-run".into()],
            None,
            "cannot read /nonexistent/dd0c.tfstate",
        ),
        (
            vec![terraform("v3.tfstate"), "--dry-run".into()],
            None,
            "format version 3",
        ),
        (
            vec!["-".into(), "--dry-run".into()],
            Some(&b"resource \"aws_instance\" \"web\" {}"[..]),
            "stdin is not a Terraform state file",
        ),
        // No lineage on stdin: a stack must be named.
        (
            vec!["-".into(), "--dry-run".into()],
            Some(&br#"{"version": 4, "resources": []}"#[..]),
            "--stack",
        ),
        (
            vec![
                terraform("aws-modules.tfstate"),
                "--stack".into(),
                "a/b".into(),
                "--dry-run".into(),
            ],
            None,
            "cannot be a stack name",
        ),
        // Sending needs an API key.
        (vec![terraform("aws-modules.tfstate")], None, "DD0C_API_KEY"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = stacks_import(&args, None, stdin);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn stacks_import_sends_only_type_address_and_id_with_the_api_key() {
    let (url, served) = one_answer(
        "200 OK",
        r#"{"stack_id":"net-prod","managed":7,"already_managed":0,"untracked":4}"#,
    );
    let out = stacks_import(
        &[
            &terraform("aws-modules.tfstate"),
            "--stack",
            "net-prod",
            "--api",
            &url,
        ],
        Some("dd0c_test_key"),
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let request = served.join().expect("served");
    assert!(
        request.starts_with("POST /v1/stacks/net-prod/resources HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request
        .to_ascii_lowercase()
        .contains("authorization: bearer dd0c_test_key\r\n"));
    assert!(!request.contains("S3cret"), "{request}");
    let body: serde_json::Value =
        serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["resources"].as_array().map(Vec::len), Some(11));
    let summary: serde_json::Value = serde_json::from_str(text(&out.stdout).trim_end()).unwrap();
    assert_eq!(summary["managed"], 7);
}

#[test]
fn stacks_import_refused_by_the_api_exits_1_with_its_error() {
    let refusal = r#"{"type":"about:blank","title":"Bad request","status":400,"detail":"resources[0].id: id must be 1-2048 characters","field":"resources[0].id"}"#;
    let (url, served) = one_answer("400 Bad Request", refusal);
    let out = stacks_import(
        &[&terraform("aws-modules.tfstate"), "--api", &url],
        Some("dd0c_test_key"),
        None,
    );
    let request = served.join().expect("served");
    // Without --stack, the state's lineage names the stack.
    assert!(
        request.starts_with("POST /v1/stacks/3f2a8c1e-0b7d-4c55-9a61-2d4e8f0c1b23/resources "),
        "{request}"
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("refused the import (400)"), "{stderr}");
    assert!(stderr.contains(refusal), "{stderr}");
    let unreachable = stacks_import(
        &[
            &terraform("aws-modules.tfstate"),
            "--api",
            "http://127.0.0.1:9",
        ],
        Some("dd0c_test_key"),
        None,
    );
    assert_eq!(
        unreachable.status.code(),
        Some(1),
        "{}",
        text(&unreachable.stderr)
    );
    assert!(text(&unreachable.stderr).contains("cannot reach the API"));
}
