//! What the targets share: one runtime per thread, the fixed time they run at, and how an
//! input is cut into a mode byte and several bodies.

use std::future::Future;

use chrono::{DateTime, TimeZone, Utc};

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds");
}

/// Runs a handler's future to completion on this thread's runtime (built once: a fuzzer
/// calls a target hundreds of thousands of times).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The time every target runs at, so that a crash replays the same way.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 5, 0, 0)
        .single()
        .expect("a valid time")
}

/// Cuts `data` at each `separator`, keeping at most `max` pieces (the last takes the rest).
pub(crate) fn pieces<'a>(data: &'a [u8], separator: &[u8], max: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match rest.windows(separator.len()).position(|w| w == separator) {
            Some(at) => {
                out.push(&rest[..at]);
                rest = &rest[at + separator.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

/// `body` with the byte at `at` (modulo its length) changed: what a signature must refuse.
pub(crate) fn one_byte_changed(body: &[u8], at: usize, delta: u8) -> Option<Vec<u8>> {
    if body.is_empty() {
        return None;
    }
    let mut changed = body.to_vec();
    let i = at % changed.len();
    changed[i] = changed[i].wrapping_add(delta.max(1));
    Some(changed)
}

/// Gzip of `bytes`, as an agent or a log delivery would send it.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// A problem response's JSON body (every refusal is one).
pub(crate) fn json_body(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("the response is not JSON ({e}): {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_every_byte_but_the_separators() {
        assert_eq!(pieces(b"a--b--c", b"--", 8), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(pieces(b"a--b--c", b"--", 2), vec![&b"a"[..], b"b--c"]);
        assert_eq!(pieces(b"", b"--", 8), vec![&b""[..]]);
    }
}
