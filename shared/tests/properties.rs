//! Property tests of the shared crate's invariants, over generated inputs:
//! - the FIFO partial-batch rule (`batch::process_batch`): a message that fails (and is not
//!   dead-lettered) fails every later message of its group and no other; each message ends in
//!   exactly one of succeeded, failed, dead-lettered; what can never succeed is dead-lettered on
//!   its first receive, anything else on its last;
//! - key encoding: every entity's key parses back to what built it (`entity::*`);
//! - webhook signatures (`signatures`): a signed request verifies, and any single-byte change
//!   of its body, timestamp or signature is refused (a signature's hex digits may change case:
//!   the bytes are the same).
//!
//! Percent-encoding round trips are in `src/http.rs`; pagination tokens in
//! `fuzz/targets/tests/properties.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use dd0c_shared::batch::{process_batch, BatchMessage, HandlerError};
use dd0c_shared::clock::ManualClock;
use dd0c_shared::entity;
use dd0c_shared::queue::memory::MemoryQueue;
use dd0c_shared::queue::{dlq_name, ERROR_ATTRIBUTE, MAX_RECEIVE_COUNT};
use dd0c_shared::signatures::{
    sign_slack, sign_stripe, verify_slack_signature, verify_stripe, STRIPE_TOLERANCE_SECONDS,
};
use dd0c_shared::store::Key;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ---- the FIFO partial-batch rule -------------------------------------------------------------

/// What a handler answers for one message.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Ok,
    Transient,
    Malformed,
    Permanent,
    RetryAfter(u64),
}

impl Outcome {
    fn result(self) -> Result<(), HandlerError> {
        match self {
            Outcome::Ok => Ok(()),
            Outcome::Transient => Err(HandlerError::transient("down")),
            Outcome::Malformed => Err(HandlerError::malformed("no detail")),
            Outcome::Permanent => Err(HandlerError::Permanent("item too large".into())),
            Outcome::RetryAfter(s) => Err(HandlerError::retry_after("rate limited", s)),
        }
    }
    fn never_succeeds(self) -> bool {
        matches!(self, Outcome::Malformed | Outcome::Permanent)
    }
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Ok),
        2 => Just(Outcome::Transient),
        1 => Just(Outcome::Malformed),
        1 => Just(Outcome::Permanent),
        1 => (1u64..100_000).prop_map(Outcome::RetryAfter),
    ]
}

/// A batch as Lambda hands it over: up to ten messages of up to four groups, each received
/// once to one more time than allowed, with what its handler will answer.
fn batch() -> impl Strategy<Value = Vec<(BatchMessage, Outcome)>> {
    proptest::collection::vec((0u8..4, 1..=MAX_RECEIVE_COUNT + 1, outcome()), 0..=10).prop_map(
        |messages| {
            messages
                .into_iter()
                .enumerate()
                .map(|(i, (group, receive_count, outcome))| {
                    (
                        BatchMessage {
                            message_id: format!("m{i}"),
                            body: format!("body of m{i}"),
                            group_id: format!("g{group}"),
                            receive_count,
                        },
                        outcome,
                    )
                })
                .collect()
        },
    )
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(f)
}

fn ids(failures: &[dd0c_shared::batch::Failure]) -> Vec<&str> {
    failures.iter().map(|f| f.message_id.as_str()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_fifo_partial_batch_rule_holds(batch in batch()) {
        let messages: Vec<BatchMessage> = batch.iter().map(|(m, _)| m.clone()).collect();
        let answers: BTreeMap<String, Outcome> =
            batch.iter().map(|(m, o)| (m.message_id.clone(), *o)).collect();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let queue = MemoryQueue::new(["score", &dlq_name("score")], clock);
        let mut handled = Vec::new();
        let outcome = block_on(async {
            let outcome = process_batch(&messages, "score", &queue, |m| {
                handled.push(m.message_id.clone());
                let answer = answers[&m.message_id];
                async move { answer.result() }
            })
            .await;
            (outcome, queue.peek_all(&dlq_name("score")))
        });
        let (outcome, in_dlq) = outcome;

        let succeeded: Vec<&str> = outcome.succeeded.iter().map(String::as_str).collect();
        let failed = ids(&outcome.failures);
        let dead = ids(&outcome.dead_lettered);

        // Every message ends in exactly one place, in batch order within each.
        let mut all: Vec<&str> = succeeded.iter().chain(&failed).chain(&dead).copied().collect();
        all.sort();
        let mut expected: Vec<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        expected.sort();
        prop_assert_eq!(all, expected, "a message is missing or in two places");

        // The rule, message by message in order.
        let mut blocked: BTreeSet<&str> = BTreeSet::new();
        let mut expected_handled = Vec::new();
        for m in &messages {
            let id = m.message_id.as_str();
            let answer = answers[id];
            if blocked.contains(m.group_id.as_str()) {
                // A later message of a failed group is failed without being handled.
                prop_assert!(failed.contains(&id), "{} of a failed group was not failed", id);
                continue;
            }
            if m.receive_count > MAX_RECEIVE_COUNT {
                // Its earlier receives ended without an answer: dead-lettered unhandled.
                prop_assert!(dead.contains(&id), "{} past its receives was not dead-lettered", id);
                continue;
            }
            expected_handled.push(m.message_id.clone());
            match answer {
                Outcome::Ok => prop_assert!(succeeded.contains(&id), "{} succeeded, not reported", id),
                _ if answer.never_succeeds() || m.receive_count >= MAX_RECEIVE_COUNT => {
                    // Never retried: dead-lettered, and its group goes on.
                    prop_assert!(dead.contains(&id), "{} was not dead-lettered", id);
                }
                _ => {
                    prop_assert!(failed.contains(&id), "{} failed, not reported", id);
                    blocked.insert(m.group_id.as_str());
                }
            }
        }
        // Exactly the messages of groups not blocked before them were handled, in order.
        prop_assert_eq!(handled, expected_handled);

        // Dead-lettered: in the dead-letter queue with the reason, in order.
        let dlq_ids: Vec<&str> = in_dlq.iter().map(|m| m.deduplication_id.as_str()).collect();
        prop_assert_eq!(&dlq_ids, &dead);
        for m in &in_dlq {
            prop_assert!(m.attributes.get(ERROR_ATTRIBUTE).is_some_and(|r| !r.is_empty()));
        }

        // A delay is asked only for a message left to retry that asked for one.
        for (id, seconds) in &outcome.visibility_delays {
            prop_assert!(failed.contains(&id.as_str()), "a delay for {} that is not retried", id);
            prop_assert_eq!(answers[id], Outcome::RetryAfter(*seconds));
        }
        for f in &outcome.failures {
            if let (Outcome::RetryAfter(s), false) = (answers[&f.message_id], f.reason.contains("earlier message")) {
                prop_assert_eq!(outcome.visibility_delays.get(&f.message_id), Some(&s));
            }
        }
    }
}

// ---- key encoding ----------------------------------------------------------------------------

/// Tenant ids as `auth::jwt::valid_tenant_id` admits them.
fn tenant() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,64}"
}

/// Any id, `#` and non-ASCII included.
fn id() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

/// An id without `#` (what a key's structure reserves it for).
fn plain_id() -> impl Strategy<Value = String> {
    "[^#\\p{C}]{1,40}"
}

/// `prop_assert_eq!` for values that borrow from temporaries of the same statement.
fn same<T: PartialEq + std::fmt::Debug>(got: T, want: T) -> Result<(), TestCaseError> {
    if got == want {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!("got {got:?}, want {want:?}")))
    }
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800).prop_map(|s| Utc.timestamp_opt(s, 0).single().expect("in range"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tenant_scoped_keys_parse_back(tenant in tenant(), id in id(), time in time()) {
        same(entity::tenant::tenant_of(&entity::tenant::pk(&tenant)), Some(tenant.as_str()))?;
        let k = entity::finding::key(&tenant, &id);
        same(entity::finding::id_of(&k), Some(id.as_str()))?;
        same(entity::tenant::tenant_of(&k.pk), Some(tenant.as_str()))?;
        same(entity::stack::id_of(&entity::stack::key(&tenant, &id)), Some(id.as_str()))?;
        same(entity::digest_sent::date_of(&entity::digest_sent::key(&tenant, &id)), Some(id.as_str()))?;
        same(entity::incident::id_of(&entity::incident::key(&tenant, &id)), Some(id.as_str()))?;
        let k = entity::audit::key(&tenant, &time, &id);
        same(entity::audit::entry_id_of(&k), Some(id.as_str()))?;
        same(entity::tenant::tenant_of(&k.pk), Some(tenant.as_str()))?;
    }

    #[test]
    fn global_keys_parse_back(id in id()) {
        same(entity::api_key::hash_of(&entity::api_key::key(&id)), Some(id.as_str()))?;
        same(entity::membership::subject_of(&entity::membership::key(&id)), Some(id.as_str()))?;
        same(entity::account_link::account_of(&entity::account_link::key(&id)), Some(id.as_str()))?;
        same(entity::slack_installation::team_of(&entity::slack_installation::team_key(&id)), Some(id.as_str()))?;
        same(entity::slack_oauth_state::state_of(&entity::slack_oauth_state::key(&id)), Some(id.as_str()))?;
        same(entity::stripe::id_of(&entity::stripe::event_key(&id)), Some(id.as_str()))?;
        same(entity::stripe::id_of(&entity::stripe::customer_key(&id)), Some(id.as_str()))?;
        // One global partition never reads as another entity's.
        same(entity::api_key::hash_of(&entity::membership::key(&id)), None)?;
        same(entity::account_link::account_of(&entity::slack_installation::team_key(&id)), None)?;
    }

    #[test]
    fn account_and_resource_keys_parse_back(
        tenant in tenant(),
        account in plain_id(),
        service in plain_id(),
        kind in plain_id(),
        id in id(),
        time in time(),
    ) {
        let pk = entity::account::pk(&tenant, &account);
        same(entity::account::parse_pk(&pk), Some((tenant.as_str(), account.as_str())))?;
        let k = entity::baseline::key(&tenant, &account, &service, &id);
        same(entity::baseline::parse(&k), Some((service.as_str(), id.as_str())))?;
        same(entity::baseline::parse(&entity::baseline::account_key(&tenant, &account)), None)?;
        let k = entity::resource_spec::key(&tenant, &account, &kind, &id);
        same(entity::resource_spec::parse(&k), Some((kind.as_str(), id.as_str())))?;
        let k = entity::event::cloudtrail_key(&tenant, &account, &time, &id);
        same(entity::event::event_id_of(&k), Some(id.as_str()))?;
        same(entity::account::parse_pk(&k.pk), Some((tenant.as_str(), account.as_str())))?;

        let pk = entity::resource::pk(&tenant, &kind, &id);
        same(entity::resource::parse_pk(&pk), Some((tenant.as_str(), kind.as_str(), id.as_str())))?;
        let k = entity::drift_event::key(&tenant, &kind, &id, &time, &account);
        same(entity::drift_event::drift_id_of(&k), Some(account.as_str()))?;
        // An account partition never reads as a resource's, nor the other way round.
        same(entity::resource::parse_pk(&entity::account::pk(&tenant, &account)), None)?;
        same(entity::account::parse_pk(&pk), None)?;
    }

    #[test]
    fn drift_report_part_keys_parse_back(tenant in tenant(), report in id(), part in any::<u32>()) {
        let k = entity::drift_report::part_key(&tenant, &report, part);
        same(entity::drift_report::part_of(&k), Some(part))?;
    }
}

// ---- webhook signatures ----------------------------------------------------------------------

/// `text` with the byte at `at` replaced by `to` (when that changes it and keeps it UTF-8).
fn replace_byte(text: &str, at: usize, to: u8) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let i = at % bytes.len();
    if bytes[i] == to {
        return None;
    }
    bytes[i] = to;
    String::from_utf8(bytes).ok()
}

/// Whether `a` and `b` differ only in the case of hex digits after `v0=`/`v1=`.
fn same_but_hex_case(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            x == y || (x.eq_ignore_ascii_case(&y) && x.is_ascii_hexdigit() && y.is_ascii_hexdigit())
        })
}

fn key(key: &Key) -> String {
    format!("{}|{}", key.pk, key.sk)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_stripe_signature_refuses_any_changed_byte(
        payload in proptest::collection::vec(any::<u8>(), 1..300),
        secret in "[ -~]{1,40}",
        t in 1_000_000_000i64..4_000_000_000,
        skew in -STRIPE_TOLERANCE_SECONDS..=STRIPE_TOLERANCE_SECONDS,
        at in any::<usize>(),
        to in any::<u8>(),
    ) {
        let header = sign_stripe(&payload, &secret, t);
        let now = t + skew;
        let verify = |h: &str, p: &[u8]| {
            verify_stripe(Some(h), p, &[&secret], now, STRIPE_TOLERANCE_SECONDS)
        };
        prop_assert_eq!(verify(&header, &payload), Ok(t));

        let mut changed = payload.clone();
        let i = at % changed.len();
        if changed[i] != to {
            changed[i] = to;
            prop_assert!(verify(&header, &changed).is_err(), "a changed payload verified");
        }
        if let Some(h) = replace_byte(&header, at, to) {
            if verify(&h, &payload).is_ok() {
                prop_assert!(same_but_hex_case(&h, &header), "a changed header verified: {}", h);
            }
        }
    }

    #[test]
    fn a_slack_signature_refuses_any_changed_byte(
        body in proptest::collection::vec(any::<u8>(), 1..300),
        secret in "[ -~]{1,40}",
        ts in 1_000_000_000i64..4_000_000_000,
        skew in -300i64..=300,
        at in any::<usize>(),
        to in any::<u8>(),
    ) {
        let ts_text = ts.to_string();
        let signature = sign_slack(&secret, &ts_text, &body);
        let now = ts + skew;
        let verify = |t: &str, s: &str, b: &[u8]| verify_slack_signature(&secret, Some(t), Some(s), b, now);
        prop_assert_eq!(verify(&ts_text, &signature, &body), Ok(()));

        let mut changed = body.clone();
        let i = at % changed.len();
        if changed[i] != to {
            changed[i] = to;
            prop_assert!(verify(&ts_text, &signature, &changed).is_err(), "a changed body verified");
        }
        if let Some(t) = replace_byte(&ts_text, at, to) {
            prop_assert!(verify(&t, &signature, &body).is_err(), "a changed timestamp verified: {}", t);
        }
        if let Some(s) = replace_byte(&signature, at, to) {
            if verify(&ts_text, &s, &body).is_ok() {
                prop_assert!(same_but_hex_case(&s, &signature), "a changed signature verified: {}", s);
            }
        }
    }

    /// Keys built from different ids never collide (`key` is only a readable join).
    #[test]
    fn different_ids_make_different_keys(tenant in tenant(), a in id(), b in id()) {
        prop_assume!(a != b);
        prop_assert_ne!(key(&entity::finding::key(&tenant, &a)), key(&entity::finding::key(&tenant, &b)));
        prop_assert_ne!(key(&entity::api_key::key(&a)), key(&entity::api_key::key(&b)));
    }
}
