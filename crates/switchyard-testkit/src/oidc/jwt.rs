//! The fake's signing keys, its JWKS, and ID tokens: compact RS256 JWTs, or the broken tokens a
//! [`Fault`] asks for.
//!
//! The two RSA keys are fixed 2048-bit **test-only** keys embedded from files beside this one
//! rather than generated at start: generating a 2048-bit key takes seconds (and varies wildly) in
//! a debug build, every test would pay for it, and a fixed key keeps runs repeatable. They sign
//! tokens for tests on 127.0.0.1 and protect nothing; never trust them anywhere else.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Fault;

/// The `kid` of the key the fake publishes in its JWKS and signs with.
pub const KID: &str = "switchyard-test-key-1";
/// The `kid` of the token [`Fault::UnknownKid`] makes: signed with a second key that the JWKS
/// does not list.
pub const UNKNOWN_KID: &str = "switchyard-test-key-unlisted";

/// TEST-ONLY private key (PKCS#8): the published signing key.
const TEST_ONLY_KEY_PEM: &str = include_str!("test-only-key.pem");
/// TEST-ONLY private key (PKCS#8): the key behind [`UNKNOWN_KID`], never published.
const TEST_ONLY_OTHER_KEY_PEM: &str = include_str!("test-only-other-key.pem");

struct Keys {
    published: RsaPrivateKey,
    unlisted: RsaPrivateKey,
}

/// Both keys, parsed once per process.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        // The PEMs are constants checked in with this file, and the tests parse them.
        published: RsaPrivateKey::from_pkcs8_pem(TEST_ONLY_KEY_PEM).expect("the embedded test key"),
        unlisted: RsaPrivateKey::from_pkcs8_pem(TEST_ONLY_OTHER_KEY_PEM)
            .expect("the embedded second test key"),
    })
}

/// The public half of the published key, as `GET /jwks` serves it.
pub fn public_key() -> RsaPublicKey {
    keys().published.to_public_key()
}

/// The JWK Set document (RFC 7517): the published key alone.
pub(super) fn jwks() -> Value {
    let key = public_key();
    json!({
        "keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        }]
    })
}

/// `claims` as a compact JWS, signed as `faults` ask: normally RS256 with the published key;
/// unsigned under [`Fault::AlgNone`]; with the unlisted key under [`Fault::UnknownKid`]; with
/// one bit of the signature flipped under [`Fault::BadSignature`]. (Claim faults are applied by
/// the caller, before this.)
pub(super) fn encode(claims: &Value, faults: &BTreeSet<Fault>) -> String {
    if faults.contains(&Fault::AlgNone) {
        // RFC 7519 §6.1: an Unsecured JWT has `alg: none` and an empty signature part.
        let header = json!({"alg": "none", "typ": "JWT"});
        return format!("{}.{}.", part(&header), part(claims));
    }
    let (key, kid) = if faults.contains(&Fault::UnknownKid) {
        (&keys().unlisted, UNKNOWN_KID)
    } else {
        (&keys().published, KID)
    };
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signing_input = format!("{}.{}", part(&header), part(claims));
    let mut signature = SigningKey::<Sha256>::new(key.clone())
        .sign(signing_input.as_bytes())
        .to_vec();
    if faults.contains(&Fault::BadSignature) {
        // Still the right length and well-formed base64url, so only verification can tell.
        signature[0] ^= 0x01;
    }
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
