//! Stripe, the pure parts: checking a webhook's `Stripe-Signature` header, converting Stripe's
//! USD cents to nano-USD, and the settings a deployment gives the billing endpoints.
//!
//! A webhook is authentic when one of the header's `v1` signatures is the hex HMAC-SHA-256,
//! under a configured endpoint secret, of `"{t}.{raw body}"`, and `t` is within
//! [`TOLERANCE_SECS`] of now. Several secrets may be configured at once so that an operator can
//! roll the endpoint secret without dropping events signed under the old one; Stripe itself
//! sends one `v1` per active secret during its own roll, so any match suffices. Schemes other
//! than `v1` (Stripe's `v0` test scheme) are ignored: they are not a signature we trust.

use crate::money::Nanos;
use crate::secret::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a signature's timestamp may be from now, in seconds, either way. Bounds replay of a
/// captured event (the events are idempotent anyway, but an old one should not be re-entered).
pub const TOLERANCE_SECS: i64 = 300;

/// Nano-USD per US cent: Stripe counts USD in cents.
pub const NANOS_PER_CENT: i64 = 10_000_000;

/// What a billing deployment needs to talk to Stripe. Built once from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `https://api.stripe.com`, or a test double.
    pub api_base: String,
    /// The API secret key (`sk_...`) for creating Checkout Sessions.
    pub secret_key: Secret,
    /// Every webhook endpoint secret (`whsec_...`) currently accepted.
    pub webhook_secrets: Vec<Secret>,
    pub success_url: String,
    pub cancel_url: String,
    pub min_top_up: Nanos,
    pub max_top_up: Nanos,
}

/// Why a webhook's signature was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header has no valid timestamp `t=<unix seconds>`")]
    NoTimestamp,
    #[error("the Stripe-Signature header carries no `v1` signature")]
    NoSignature,
    #[error(
        "the signature's timestamp is {0} s away from this server's clock; at most 300 s are accepted"
    )]
    OutsideTolerance(i64),
    #[error("no `v1` signature matches the payload under the configured webhook secrets")]
    Mismatch,
}

/// A parsed `Stripe-Signature` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    /// `t` exactly as sent: the signed text includes it verbatim.
    pub timestamp_text: String,
    pub timestamp: i64,
    /// Every `v1` signature that is well-formed hex. Others cannot match and are dropped.
    pub v1: Vec<Vec<u8>>,
}

/// Parses `t=...,v1=...,v1=...,v0=...`. Exactly one `t` is required: two would leave it
/// ambiguous which one was signed.
pub fn parse_header(header: &str) -> Result<SignatureHeader, SignatureError> {
    let mut timestamp: Option<&str> = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "t" => return Err(SignatureError::NoTimestamp),
            "v1" => {
                if let Some(bytes) = hex_decode(value) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let text = timestamp.ok_or(SignatureError::NoTimestamp)?;
    // Digits only: `+12` or ` 12` would parse as numbers yet are not what Stripe sends.
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::NoTimestamp);
    }
    let timestamp = text.parse().map_err(|_| SignatureError::NoTimestamp)?;
    Ok(SignatureHeader {
        timestamp_text: text.to_owned(),
        timestamp,
        v1,
    })
}

/// Checks `payload` (the raw request body, byte for byte) against `header` under any of
/// `secrets`, at `now` (unix seconds). Returns the signed timestamp.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[Secret],
    now: i64,
) -> Result<i64, SignatureError> {
    let parsed = parse_header(header)?;
    if parsed.v1.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let matched = secrets.iter().any(|secret| {
        let mac = signer(secret.expose(), &parsed.timestamp_text, payload);
        // `verify_slice` compares in constant time.
        parsed
            .v1
            .iter()
            .any(|sig| mac.clone().verify_slice(sig).is_ok())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let skew = now.saturating_sub(parsed.timestamp);
    if skew.saturating_abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideTolerance(skew));
    }
    Ok(parsed.timestamp)
}

/// The header Stripe would send for `payload` signed with `secret` at `timestamp`: what test
/// doubles use to deliver events.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let t = timestamp.to_string();
    let sig = signer(secret, &t, payload).finalize().into_bytes();
    format!("t={t},v1={}", hex_encode(&sig))
}

fn signer(secret: &str, timestamp: &str, payload: &[u8]) -> Hmac<Sha256> {
    // An HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Lower-case hex only, as Stripe sends it: one spelling per signature.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// Stripe's USD cents as nano-USD; `None` when out of range.
pub fn cents_to_nanos(cents: i64) -> Option<Nanos> {
    cents.checked_mul(NANOS_PER_CENT).map(Nanos)
}

/// A nano-USD amount as whole cents; `None` unless it is a whole, non-negative number of cents.
pub fn nanos_to_cents(amount: Nanos) -> Option<i64> {
    (amount.0 >= 0 && amount.0 % NANOS_PER_CENT == 0).then_some(amount.0 / NANOS_PER_CENT)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_764_000_000;

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn a_signature_made_by_sign_verifies() {
        let body = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
        let header = sign(body, "whsec_a", NOW);
        assert_eq!(verify(body, &header, &secrets(&["whsec_a"]), NOW), Ok(NOW));
    }

    #[test]
    fn matches_a_known_vector() {
        // Computed independently: printf '12345.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign(b"{}", "whsec_test", 12345),
            "t=12345,v1=f7d0d6f2476273381fa231a8ba13a821a0c87029e7b1bfae51e93d0240fb7c32"
        );
    }

    #[test]
    fn any_v1_under_any_secret_is_enough_and_other_schemes_are_ignored() {
        let body = b"payload";
        let old = sign(body, "whsec_old", NOW);
        let new = sign(body, "whsec_new", NOW);
        let old_sig = old.split_once(",v1=").unwrap().1;
        let new_sig = new.split_once(",v1=").unwrap().1;
        let both = format!("t={NOW},v1={old_sig},v1={new_sig},v0=deadbeef");
        assert!(verify(body, &both, &secrets(&["whsec_new"]), NOW).is_ok());
        assert!(verify(body, &both, &secrets(&["whsec_old"]), NOW).is_ok());
        assert!(verify(body, &new, &secrets(&["whsec_old", "whsec_new"]), NOW).is_ok());
        assert_eq!(
            verify(body, &new, &secrets(&["whsec_other"]), NOW),
            Err(SignatureError::Mismatch)
        );
        // A v0 signature alone is not accepted, even if it is a valid HMAC.
        let v0_only = format!("t={NOW},v0={new_sig}");
        assert_eq!(
            verify(body, &v0_only, &secrets(&["whsec_new"]), NOW),
            Err(SignatureError::NoSignature)
        );
    }

    #[test]
    fn the_timestamp_must_be_within_five_minutes_either_way() {
        let body = b"payload";
        let s = secrets(&["k"]);
        for (signed_at, ok) in [
            (NOW - 300, true),
            (NOW + 300, true),
            (NOW - 301, false),
            (NOW + 301, false),
        ] {
            let result = verify(body, &sign(body, "k", signed_at), &s, NOW);
            assert_eq!(result.is_ok(), ok, "signed at now{:+}", signed_at - NOW);
        }
        assert_eq!(
            verify(body, &sign(body, "k", NOW - 301), &s, NOW),
            Err(SignatureError::OutsideTolerance(301))
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let s = secrets(&["k"]);
        let good = sign(b"x", "k", NOW);
        let sig = good.split_once(",v1=").unwrap().1;
        for (header, expected) in [
            ("", SignatureError::NoTimestamp),
            (&format!("v1={sig}") as &str, SignatureError::NoTimestamp),
            (&format!("t=+{NOW},v1={sig}"), SignatureError::NoTimestamp),
            (
                &format!("t={NOW},t={NOW},v1={sig}"),
                SignatureError::NoTimestamp,
            ),
            (&format!("t={NOW}"), SignatureError::NoSignature),
            (&format!("t={NOW},v1=zz"), SignatureError::NoSignature),
            (
                &format!("t={NOW},v1={}", sig.to_uppercase()),
                SignatureError::NoSignature,
            ),
        ] {
            assert_eq!(verify(b"x", header, &s, NOW), Err(expected), "{header}");
        }
        // Stripe puts no spaces in the header, but tolerating them costs nothing.
        assert!(verify(b"x", &format!("t={NOW}, v1={sig}"), &s, NOW).is_ok());
    }

    #[test]
    fn cents_convert_exactly() {
        assert_eq!(cents_to_nanos(1_000), Some(Nanos::from_usd(10)));
        assert_eq!(nanos_to_cents(Nanos::from_usd(10)), Some(1_000));
        assert_eq!(nanos_to_cents(Nanos(NANOS_PER_CENT + 1)), None);
        assert_eq!(nanos_to_cents(Nanos(-NANOS_PER_CENT)), None);
        assert_eq!(cents_to_nanos(i64::MAX), None);
    }

    proptest! {
        /// Flipping any bits of any one byte of the header or the body makes it fail.
        #[test]
        fn a_flipped_byte_anywhere_fails(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            secret in "[a-zA-Z0-9_]{1,40}",
            at in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let header = sign(&body, &secret, NOW);
            let s = vec![Secret::new(secret.clone())];
            prop_assert!(verify(&body, &header, &s, NOW).is_ok());
            let mut header = header.into_bytes();
            let mut body = body;
            let i = at.index(header.len() + body.len());
            if i < header.len() {
                header[i] ^= mask;
            } else {
                body[i - header.len()] ^= mask;
            }
            let header = String::from_utf8_lossy(&header).into_owned();
            prop_assert!(verify(&body, &header, &s, NOW).is_err());
        }
    }
}
