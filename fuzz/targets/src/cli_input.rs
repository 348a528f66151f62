//! The `dd0c` command's input reader (`dd0c_cli::input::read_inputs`): a file of JSON lines
//! (envelopes or bare records) or one document (a CloudTrail S3 log file), gzip or not.
//! The first byte picks whether the target gzips the rest first, so that the decoder's path
//! sees meaningful content as well as raw bytes starting with the gzip magic.

use std::path::PathBuf;

use dd0c_cli::input::read_inputs;
use serde_json::value::RawValue;

use crate::support::gzip;

/// The stable reasons an input error may carry (the replay summary groups by them).
const REASONS: [&str; 4] = [
    "unreadable_file",
    "not_json",
    "not_cloudtrail",
    "unknown_shape",
];

pub fn cli_input(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        gzip(rest)
    } else {
        rest.to_vec()
    };
    let path = scratch_file();
    std::fs::write(&path, &bytes).expect("the scratch file is writable");
    let input = read_inputs(std::slice::from_ref(&path));
    let _ = std::fs::remove_file(&path);

    let unreadable = input.errors.iter().any(|e| e.reason == "unreadable_file");
    assert!(
        input.files == 1 || unreadable,
        "a file neither read nor reported"
    );
    for error in &input.errors {
        assert!(REASONS.contains(&error.reason), "reason {:?}", error.reason);
        assert_eq!(error.path, path);
        let _ = error.to_string();
    }
    for record in &input.records {
        serde_json::from_str::<&RawValue>(&record.raw)
            .unwrap_or_else(|e| panic!("a record is not one JSON value ({e}): {}", record.raw));
    }
    // Event-time order, records without a time last.
    let order: Vec<_> = input
        .records
        .iter()
        .map(|r| (r.time.is_none(), r.time))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "records out of order"
    );
}

/// One file per process and thread, so parallel fuzz jobs and test threads never share it.
fn scratch_file() -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    std::env::temp_dir().join(format!(
        "dd0c-fuzz-cli-input-{}-{thread}.json",
        std::process::id()
    ))
}
