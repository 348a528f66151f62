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
pub use eventbridge::{eventbridge_envelope, eventbridge_envelope_strict};
pub use pagination::pagination_token;
pub use slack::{slack_command, slack_interaction};
pub use stripe::{stripe_webhook, stripe_webhook_strict};

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

/// A crash the fuzzer found whose fix belongs to code this crate's authors do not own: the
/// target tolerates the bug's class (so fuzzing goes on past it) and its `_strict` variant
/// does not. The corpus test checks that the strict target still fails on the saved input;
/// when the fix lands that check fails: delete the entry and the guard, and the input stays
/// in the seed corpus as a regression test.
pub struct KnownBug {
    pub target: &'static str,
    /// In `fuzz/corpus/<target>/`.
    pub input: &'static str,
    pub strict: Target,
    pub what: &'static str,
    pub fix_in: &'static str,
}

pub const KNOWN_BUGS: &[KnownBug] = &[
    KnownBug {
        target: "eventbridge_envelope",
        input: "crash-group-id-with-space.json",
        strict: eventbridge_envelope_strict,
        what: "ingest uses the record's recipientAccountId / userIdentity.accountId as the SQS \
               message group and its eventID as the deduplication id without checking them: \
               one with a space (or over 128 characters) makes the queue refuse the message, \
               so the whole event fails and EventBridge retries it for a day",
        fix_in: "functions/ingest/src/lib.rs (Ingest::forward_raw)",
    },
    KnownBug {
        target: "eventbridge_envelope",
        input: "crash-event-id-with-space.json",
        strict: eventbridge_envelope_strict,
        what: "as above, through the eventID (the deduplication id)",
        fix_in: "functions/ingest/src/lib.rs (Ingest::forward_raw)",
    },
    KnownBug {
        target: "stripe_webhook",
        input: "crash-quantity-overflow.json",
        strict: stripe_webhook_strict,
        what: "the webhook sums subscription item quantities with `sum()`: quantities whose sum \
               overflows i64 panic (debug, `dd0c serve`) or wrap (release)",
        fix_in: "functions/stripe/src/lib.rs (StripeWebhook::apply)",
    },
];
