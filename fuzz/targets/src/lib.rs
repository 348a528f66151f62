//! The fuzz targets of dd0c: one function per parser that takes outside bytes, each driving
//! the real parser through its public entry point and asserting only what must hold whatever
//! the bytes (never a panic; errors are the typed ones; round trips hold where there is one;
//! a valid signature is accepted and any one changed byte is refused).
//!
//! The same functions run in two places: `fuzz/fuzz_targets/*.rs` (cargo-fuzz, `make fuzz`)
//! and `tests/corpus.rs` (the checked-in seed corpus plus generated and mutated inputs, part
//! of `cargo test --workspace`). A crash found by the fuzzer is saved in
//! `fuzz/corpus/<target>/` so that the corpus test replays it from then on.
//!
//! The targets build on the embedded adapters (memory table and queue, manual clock): no AWS
//! SDK, nothing outside the process but one temporary file (`cli_input`).

mod cli_input;
mod cloudtrail;
mod drift;
mod eventbridge;
mod pagination;
mod slack;
mod stripe;
mod support;

pub use cli_input::cli_input;
pub use cloudtrail::cloudtrail_record;
pub use drift::drift_report;
pub use eventbridge::eventbridge_envelope;
pub use pagination::{pagination_token, query_for};
pub use slack::{slack_command, slack_interaction};
pub use stripe::stripe_webhook;

/// A fuzz target: any bytes, no result; it panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by the name of its cargo-fuzz binary and its seed directory
/// (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("cloudtrail_record", cloudtrail_record),
    ("eventbridge_envelope", eventbridge_envelope),
    ("cli_input", cli_input),
    ("drift_report", drift_report),
    ("slack_command", slack_command),
    ("slack_interaction", slack_interaction),
    ("stripe_webhook", stripe_webhook),
    ("pagination_token", pagination_token),
];
