//! The short fuzz run of `make test` (it is part of `cargo test --workspace`): every target
//! over its checked-in seed corpus (`fuzz/corpus/<target>/`: valid and invalid samples, and
//! every crash the fuzzer ever found), then over proptest-generated inputs: seeds mutated
//! (bytes changed, inserted, deleted, duplicated, JSON and form tokens spliced in) and plain
//! random bytes. `DD0C_FUZZ_CASES` sets the generated cases per target (default 1500).
//!
//! A failure prints the input; save it as `fuzz/corpus/<target>/crash-<what>` with the fix.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use dd0c_fuzz_targets::{Target, TARGETS};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, bytes)
        })
        .collect()
}

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("no target {name}"))
}

/// Tokens that move parsers to their edges: JSON structure, huge and negative numbers,
/// escapes, form syntax, the drift target's part separator, invalid UTF-8.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e999",
    b"-0.0",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551616",
    b"\\u0000",
    b"\\ud800",
    b"%",
    b"%00",
    b"&",
    b"=",
    b"+",
    b"#",
    b"\n",
    b"\n\x1e\n",
    b"\xff",
    b"\xe2\x82",
    b"\x1f\x8b",
];

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Token(usize, usize),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Token(at, t)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        let at = |i: &usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Set(i, b) if len > 0 => bytes[i % len] = *b,
            Mutation::Set(..) => bytes.push(0),
            Mutation::Insert(i, new) => {
                let i = at(i);
                bytes.splice(i..i, new.iter().copied());
            }
            Mutation::Token(i, t) => {
                let i = at(i);
                bytes.splice(i..i, TOKENS[*t].iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(i).min(len);
                bytes.drain(i..(i + n).min(len));
            }
            Mutation::Duplicate(i, n) => {
                let i = at(i).min(len);
                let copy = bytes[i..(i + n).min(len)].to_vec();
                bytes.splice(i..i, copy);
            }
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("DD0C_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

fn run(name: &str) {
    let run_target = target(name);
    let seeds = seeds(name);
    assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
    for (file, bytes) in &seeds {
        if catch_unwind(AssertUnwindSafe(|| run_target(bytes))).is_err() {
            panic!("{name} failed on its seed fuzz/corpus/{name}/{file}");
        }
    }

    let inputs = prop_oneof![
        4 => (0..seeds.len(), proptest::collection::vec(mutation(), 1..6))
            .prop_map({
                let seeds: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
                move |(i, mutations)| mutate(seeds[i].clone(), &mutations)
            }),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
    ];
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&inputs, |bytes| {
        catch_unwind(AssertUnwindSafe(|| run_target(&bytes)))
            .map_err(|_| TestCaseError::fail(format!("{name} panicked")))
    });
    if let Err(e) = result {
        panic!("{name}: {e}\nSave the input as fuzz/corpus/{name}/crash-<what> with the fix.");
    }
}

macro_rules! corpus_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*

        #[test]
        fn every_target_has_a_test_here() {
            let here = [$(stringify!($name)),*];
            let all: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            assert_eq!(here.to_vec(), all);
        }
    };
}

corpus_tests!(
    cloudtrail_record,
    eventbridge_envelope,
    cli_input,
    drift_report,
    slack_command,
    slack_interaction,
    stripe_webhook,
    pagination_token,
);
