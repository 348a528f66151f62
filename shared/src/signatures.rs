//! Webhook signature verification (constant time, replay windows).

// ---------------------------------------------------------------------------------------------
// Stripe (owned by the API/billing side)
// ---------------------------------------------------------------------------------------------

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance between the signature's timestamp and now.
pub const STRIPE_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeSignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp (t=…)")]
    NoTimestamp,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("the signature's timestamp is outside the {STRIPE_TOLERANCE_SECONDS} s tolerance")]
    Stale,
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// Verifies a `Stripe-Signature` header (`t=…,v1=…[,v1=…][,v0=…]`): HMAC-SHA256 over
/// `{t}.{payload}` with any of `secrets` (several during a secret rotation) must equal any
/// `v1`, and `t` must be within `tolerance` seconds of `now` (either side). Returns `t`.
pub fn verify_stripe(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[&str],
    now: i64,
    tolerance: i64,
) -> Result<i64, StripeSignatureError> {
    let header = header.ok_or(StripeSignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => timestamp = v.parse::<i64>().ok(),
            // Signatures that are not hex cannot match; skip them rather than fail the rest.
            "v1" => signatures.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let t = timestamp.ok_or(StripeSignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(StripeSignatureError::NoSignature);
    }
    // abs_diff: a forged `t` near i64::MIN or MAX must read as stale, not overflow.
    if now.abs_diff(t) > u64::try_from(tolerance).unwrap_or(0) {
        return Err(StripeSignatureError::Stale);
    }
    let prefix = format!("{t}.");
    for secret in secrets {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            continue;
        };
        mac.update(prefix.as_bytes());
        mac.update(payload);
        for sig in &signatures {
            // `verify_slice` compares in constant time.
            if mac.clone().verify_slice(sig).is_ok() {
                return Ok(t);
            }
        }
    }
    Err(StripeSignatureError::Mismatch)
}

/// The header Stripe would send (tests, local tooling).
pub fn sign_stripe(payload: &[u8], secret: &str, t: i64) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return format!("t={t}"),
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod stripe_tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../tests/fixtures/public/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn upstream_vector_verifies() {
        let v: serde_json::Value =
            serde_json::from_slice(&fixture("stripe_signing_vector.json")).unwrap();
        let payload = fixture(v["payload_file"].as_str().unwrap());
        let t = verify_stripe(
            v["header"].as_str(),
            &payload,
            &[v["secret"].as_str().unwrap()],
            v["verify_now"].as_i64().unwrap(),
            300,
        )
        .unwrap();
        assert_eq!(t, 1533204620);
        assert_eq!(
            sign_stripe(&payload, "secret", t),
            format!("t={t},v1={}", v["expected_v1"].as_str().unwrap())
        );
    }

    #[test]
    fn tampered_stale_and_rotated() {
        let v: serde_json::Value =
            serde_json::from_slice(&fixture("stripe_signing_vector.json")).unwrap();
        let mut payload = fixture(v["payload_file"].as_str().unwrap());
        let header = v["header"].as_str();
        let now = v["verify_now"].as_i64().unwrap();
        assert_eq!(
            verify_stripe(header, &payload, &["secret"], now + 301, 300),
            Err(StripeSignatureError::Stale)
        );
        assert_eq!(
            verify_stripe(header, &payload, &["secret"], now - 301, 300),
            Err(StripeSignatureError::Stale)
        );
        assert!(verify_stripe(header, &payload, &["old", "secret"], now + 299, 300).is_ok());
        assert_eq!(
            verify_stripe(header, &payload, &["other"], now, 300),
            Err(StripeSignatureError::Mismatch)
        );
        payload[5] ^= 1;
        assert_eq!(
            verify_stripe(header, &payload, &["secret"], now, 300),
            Err(StripeSignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe(None, &payload, &["secret"], now, 300),
            Err(StripeSignatureError::Missing)
        );
        assert_eq!(
            verify_stripe(Some("v1=00"), &payload, &["secret"], now, 300),
            Err(StripeSignatureError::NoTimestamp)
        );
        assert_eq!(
            verify_stripe(Some("t=1533204620,v0=00"), &payload, &["secret"], now, 300),
            Err(StripeSignatureError::NoSignature)
        );
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_stale_not_a_panic() {
        let payload = b"{}";
        for (t, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, -1),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
        ] {
            let header = format!("t={t},v1=00");
            assert_eq!(
                verify_stripe(Some(&header), payload, &["secret"], now, 300),
                Err(StripeSignatureError::Stale),
                "t={t} now={now}"
            );
            assert_eq!(
                verify_slack_signature("secret", Some(&t.to_string()), Some("v0=00"), payload, now),
                Err(SlackSignatureError::Stale),
                "t={t} now={now}"
            );
        }
    }

    #[test]
    fn a_timestamp_exactly_at_the_tolerance_is_accepted_one_second_more_is_stale() {
        let payload = b"{\"id\":\"evt_1\"}";
        let header = sign_stripe(payload, "whsec_1", 1_700_000_000);
        for now in [1_700_000_000 - 300, 1_700_000_000 + 300] {
            assert_eq!(
                verify_stripe(Some(&header), payload, &["whsec_1"], now, 300),
                Ok(1_700_000_000),
                "now={now}"
            );
        }
        for now in [1_700_000_000 - 301, 1_700_000_000 + 301] {
            assert_eq!(
                verify_stripe(Some(&header), payload, &["whsec_1"], now, 300),
                Err(StripeSignatureError::Stale),
                "now={now}"
            );
        }
    }

    #[test]
    fn any_v1_may_match() {
        let payload = b"{\"id\":\"evt_1\"}";
        let good = sign_stripe(payload, "whsec_new", 1000);
        let sig = good.split("v1=").nth(1).unwrap();
        let header = format!("t=1000,v1={},v1={sig}", "ab".repeat(32));
        assert_eq!(
            verify_stripe(Some(&header), payload, &["whsec_new"], 1000, 300),
            Ok(1000)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Slack (owned by the notifications side): v0 request signing
// ---------------------------------------------------------------------------------------------

/// Slack's replay window: a request whose timestamp is further than this from now is refused.
pub const SLACK_TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("the X-Slack-Request-Timestamp header is missing or not a number")]
    MissingTimestamp,
    #[error("the X-Slack-Signature header is missing or not v0=<hex>")]
    MissingSignature,
    #[error("the request timestamp is more than {SLACK_TOLERANCE_SECONDS} s from now")]
    Stale,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}` (tests, local tooling).
pub fn sign_slack(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return "v0=".into(),
    };
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies Slack's `X-Slack-Signature` over the raw body, in constant time, refusing
/// timestamps more than five minutes from `now` (Unix seconds).
pub fn verify_slack_signature(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SlackSignatureError> {
    let ts_text = timestamp.ok_or(SlackSignatureError::MissingTimestamp)?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SlackSignatureError::MissingTimestamp)?;
    let expected = signature
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SlackSignatureError::MissingSignature)?;
    if now.abs_diff(ts) > SLACK_TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SlackSignatureError::Stale);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| SlackSignatureError::Mismatch)?;
    mac.update(format!("v0:{}:", ts_text.trim()).as_bytes());
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SlackSignatureError::Mismatch)
}

#[cfg(test)]
mod slack_tests {
    use super::*;

    fn vector() -> serde_json::Value {
        let path = format!(
            "{}/../tests/fixtures/public/webhooks/slack_signing_vector.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        )
        .unwrap()
    }

    #[test]
    fn upstream_vector_verifies_and_signs() {
        let v = vector();
        let (secret, ts, body, sig) = (
            v["signing_secret"].as_str().unwrap(),
            v["timestamp"].as_str().unwrap(),
            v["body"].as_str().unwrap(),
            v["expected_signature"].as_str().unwrap(),
        );
        let now = v["mock_now"].as_i64().unwrap();
        assert_eq!(sign_slack(secret, ts, body.as_bytes()), sig);
        assert_eq!(
            verify_slack_signature(secret, Some(ts), Some(sig), body.as_bytes(), now),
            Ok(())
        );
        assert_eq!(
            verify_slack_signature(secret, Some(ts), Some(sig), body.as_bytes(), now + 299),
            Ok(())
        );
    }

    #[test]
    fn a_timestamp_exactly_five_minutes_away_is_accepted_one_second_more_is_stale() {
        let body = b"token=x&command=%2Fdd0c";
        let sig = sign_slack("s3cret", "1700000000", body);
        for now in [1_700_000_000 - 300, 1_700_000_000 + 300] {
            assert_eq!(
                verify_slack_signature("s3cret", Some("1700000000"), Some(&sig), body, now),
                Ok(()),
                "now={now}"
            );
        }
        for now in [1_700_000_000 - 301, 1_700_000_000 + 301] {
            assert_eq!(
                verify_slack_signature("s3cret", Some("1700000000"), Some(&sig), body, now),
                Err(SlackSignatureError::Stale),
                "now={now}"
            );
        }
    }

    #[test]
    fn tampered_stale_wrong_secret_and_missing_are_refused() {
        let v = vector();
        let secret = v["signing_secret"].as_str().unwrap();
        let ts = v["timestamp"].as_str().unwrap();
        let body = v["body"].as_str().unwrap();
        let sig = v["expected_signature"].as_str().unwrap();
        let now = v["mock_now"].as_i64().unwrap();
        let tampered = body.replace("roadrunner", "wile_e_coyote");
        assert_eq!(
            verify_slack_signature(secret, Some(ts), Some(sig), tampered.as_bytes(), now),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(
            verify_slack_signature(secret, Some(ts), Some(sig), body.as_bytes(), now + 301),
            Err(SlackSignatureError::Stale)
        );
        assert_eq!(
            verify_slack_signature(secret, Some(ts), Some(sig), body.as_bytes(), now - 301),
            Err(SlackSignatureError::Stale)
        );
        assert_eq!(
            verify_slack_signature("wrong-secret", Some(ts), Some(sig), body.as_bytes(), now),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(
            verify_slack_signature(secret, None, Some(sig), body.as_bytes(), now),
            Err(SlackSignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify_slack_signature(secret, Some(ts), None, body.as_bytes(), now),
            Err(SlackSignatureError::MissingSignature)
        );
        assert_eq!(
            verify_slack_signature(secret, Some(ts), Some("v1=00"), body.as_bytes(), now),
            Err(SlackSignatureError::MissingSignature)
        );
        // A different timestamp changes the base string.
        assert_eq!(
            verify_slack_signature(secret, Some("1531420619"), Some(sig), body.as_bytes(), now),
            Err(SlackSignatureError::Mismatch)
        );
    }
}
