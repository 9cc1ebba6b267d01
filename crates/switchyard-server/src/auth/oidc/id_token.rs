//! ID token validation (OIDC Core §3.1.3.7): the JWS signature against the provider's JWKS,
//! then the claims. No I/O: the caller fetches the keys, and refetches them once when
//! [`select_key`] finds no key for the token's `kid`.
//!
//! Only RSA signatures (RS256, RS384, RS512) are accepted: RS256 is the one algorithm every
//! provider must support (OIDC Core §15.1) and the one Google, Microsoft and most others use.
//! The algorithm comes from the token's header, so it is checked against what we implement,
//! what the provider's discovery document lists, and what the key itself declares before any
//! signature is computed: `alg: none`, HMAC with a public key as the secret, and every other
//! confusion attack stops there. The RSA arithmetic is RustCrypto's `rsa` crate (the one the
//! test provider signs with); only the JOSE framing is ours.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Sha256, Sha384, Sha512};

/// How far the clocks of the provider and this server may disagree.
pub const LEEWAY_SECS: i64 = 60;
/// Smaller RSA keys are refused (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// Why an ID token was refused. Each is one row of the sign-in error table
/// ([`super::SignInError`]), so a test can tell which check fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is not a well-formed signed JWT")]
    Malformed,
    #[error(
        "the ID token's signing algorithm is not accepted (only RS256/384/512 the provider lists)"
    )]
    Algorithm,
    #[error("no key of the provider's JWKS matches the ID token's `kid`")]
    UnknownKey,
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token's `iss` is not exactly the configured issuer")]
    Issuer,
    #[error("the ID token's `aud` (or `azp`) is not this client")]
    Audience,
    #[error("the ID token has expired, or says it was issued in the future")]
    Expired,
    #[error("the ID token's `nonce` is not the one this sign-in sent")]
    Nonce,
}

/// An RSA signing key of the provider's JWKS (RFC 7517 §4, RFC 7518 §6.3).
#[derive(Clone, Debug)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The algorithm the key is for, when the provider says.
    pub alg: Option<String>,
    key: RsaPublicKey,
}

/// The provider's keys that can verify ID tokens: RSA, for signatures, of a sane size. Keys
/// of other types (EC, symmetric) and encryption keys are skipped rather than refused, so a
/// JWKS that also lists them still works for the RSA ones.
#[derive(Clone, Debug, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<RawJwk>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl Jwks {
    /// Parses a JWK Set document; `None` when it is not one.
    pub fn parse(body: &[u8]) -> Option<Jwks> {
        let raw: RawJwks = serde_json::from_slice(body).ok()?;
        let keys = raw
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA" && k.use_.as_deref().is_none_or(|u| u == "sig"))
            .filter_map(|k| {
                let n = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k.n?).ok()?);
                let e = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k.e?).ok()?);
                let key = RsaPublicKey::new(n, e).ok()?;
                (key.size() * 8 >= MIN_RSA_BITS).then_some(Jwk {
                    kid: k.kid,
                    alg: k.alg,
                    key,
                })
            })
            .collect();
        Some(Jwks { keys })
    }
}

/// The RSA signature algorithms we implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Rs256,
    Rs384,
    Rs512,
}

impl Alg {
    fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "RS384" => Some(Alg::Rs384),
            "RS512" => Some(Alg::Rs512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
        }
    }
}

/// A token split into its parts, with the header read and the algorithm already accepted.
#[derive(Debug)]
pub struct Parsed<'t> {
    alg: Alg,
    kid: Option<String>,
    signing_input: &'t str,
    payload: &'t str,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions we would have to understand (RFC 7515 §4.1.11); we understand none.
    #[serde(default)]
    crit: Option<Value>,
}

/// Splits `token` and checks its header: the algorithm must be one we implement and, when
/// the provider's discovery lists its algorithms (`allowed`), one of those. RS256 is always
/// assumed allowed, as OIDC Discovery §3 makes it the default.
pub fn parse<'t>(token: &'t str, allowed: &[String]) -> Result<Parsed<'t>, IdTokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(IdTokenError::Malformed)?;
    let alg = Alg::parse(&header.alg).ok_or(IdTokenError::Algorithm)?;
    let listed = allowed.is_empty() || allowed.iter().any(|a| a == alg.name());
    if !(listed || alg == Alg::Rs256) || header.crit.is_some() {
        return Err(IdTokenError::Algorithm);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| IdTokenError::Malformed)?;
    // The signing input is the first two parts with the dot between them.
    let signing_input = &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
    Ok(Parsed {
        alg,
        kid: header.kid,
        signing_input,
        payload,
        signature,
    })
}

/// The key that should verify `token`: the one with its `kid`, or, when the token names no
/// key, the only key of the set. `None` sends the caller to refetch the JWKS (keys rotate).
pub fn select_key<'k>(jwks: &'k Jwks, token: &Parsed<'_>) -> Option<&'k Jwk> {
    match &token.kid {
        Some(kid) => jwks.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
}

/// What the ID token must say.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// Compared byte for byte with `iss` (OIDC Core §3.1.3.7 step 2).
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// What we use from a valid ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches that the person controls `email`.
    pub email_verified: bool,
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: f64,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Verifies the signature of `token` with `key`, then its claims against `expected`.
pub fn verify(
    token: &Parsed<'_>,
    key: &Jwk,
    expected: &Expected<'_>,
) -> Result<Claims, IdTokenError> {
    // A key that declares its algorithm is used for that one only (RFC 7517 §4.4).
    if key.alg.as_deref().is_some_and(|a| a != token.alg.name()) {
        return Err(IdTokenError::Algorithm);
    }
    let signature =
        Signature::try_from(token.signature.as_slice()).map_err(|_| IdTokenError::Signature)?;
    let message = token.signing_input.as_bytes();
    let verified = match token.alg {
        Alg::Rs256 => VerifyingKey::<Sha256>::new(key.key.clone()).verify(message, &signature),
        Alg::Rs384 => VerifyingKey::<Sha384>::new(key.key.clone()).verify(message, &signature),
        Alg::Rs512 => VerifyingKey::<Sha512>::new(key.key.clone()).verify(message, &signature),
    };
    verified.map_err(|_| IdTokenError::Signature)?;
    let claims: RawClaims = URL_SAFE_NO_PAD
        .decode(token.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(IdTokenError::Malformed)?;
    check_claims(claims, expected)
}

/// The claim checks of OIDC Core §3.1.3.7 (steps 2–4, 9–11), apart from the signature.
fn check_claims(claims: RawClaims, expected: &Expected<'_>) -> Result<Claims, IdTokenError> {
    if claims.iss != expected.issuer {
        return Err(IdTokenError::Issuer);
    }
    let audiences = match &claims.aud {
        Audience::One(aud) => vec![aud.as_str()],
        Audience::Many(auds) => auds.iter().map(String::as_str).collect(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(IdTokenError::Audience);
    }
    // With several audiences the authorized party must be named, and be us; a single
    // audience with an `azp` must agree too.
    match claims.azp.as_deref() {
        Some(azp) if azp != expected.client_id => return Err(IdTokenError::Audience),
        None if audiences.len() > 1 => return Err(IdTokenError::Audience),
        _ => {}
    }
    let now = expected.now as f64;
    let leeway = LEEWAY_SECS as f64;
    if claims.exp + leeway <= now || claims.iat.is_some_and(|iat| iat > now + leeway) {
        return Err(IdTokenError::Expired);
    }
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(IdTokenError::Nonce);
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        // OIDC Core §2: at most 255 ASCII characters, never empty.
        return Err(IdTokenError::Malformed);
    }
    // Some providers send the boolean as a string.
    let email_verified = matches!(claims.email_verified, Some(Value::Bool(true)))
        || matches!(&claims.email_verified, Some(Value::String(s)) if s == "true");
    Ok(Claims {
        subject: claims.sub,
        email: claims.email.filter(|e| !e.is_empty()),
        email_verified,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://accounts.example",
            client_id: "client-1",
            nonce: "n-0S6",
            now: NOW,
        }
    }

    fn claims(patch: Value) -> RawClaims {
        let mut base = json!({
            "iss": "https://accounts.example",
            "sub": "248289761001",
            "aud": "client-1",
            "exp": NOW + 3600,
            "iat": NOW,
            "nonce": "n-0S6",
            "email": "ann@example.com",
            "email_verified": true,
        });
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = v.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn check(patch: Value) -> Result<Claims, IdTokenError> {
        check_claims(claims(patch), &expected())
    }

    #[test]
    fn a_good_token_gives_subject_and_email() {
        let ok = check(json!({})).unwrap();
        assert_eq!(ok.subject, "248289761001");
        assert_eq!(ok.email.as_deref(), Some("ann@example.com"));
        assert!(ok.email_verified);
        assert!(
            check(json!({"email_verified": "true"}))
                .unwrap()
                .email_verified
        );
        assert!(
            !check(json!({"email_verified": null}))
                .unwrap()
                .email_verified
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        for iss in [
            "https://accounts.example/",
            "http://accounts.example",
            "HTTPS://accounts.example",
        ] {
            assert_eq!(
                check(json!({"iss": iss})),
                Err(IdTokenError::Issuer),
                "{iss}"
            );
        }
    }

    #[test]
    fn audience_must_contain_us_and_azp_must_be_us() {
        assert_eq!(check(json!({"aud": "other"})), Err(IdTokenError::Audience));
        assert!(check(json!({"aud": ["client-1"]})).is_ok());
        assert_eq!(
            check(json!({"aud": ["client-1", "other"]})),
            Err(IdTokenError::Audience),
            "several audiences need azp"
        );
        assert!(check(json!({"aud": ["client-1", "other"], "azp": "client-1"})).is_ok());
        assert_eq!(
            check(json!({"aud": ["client-1", "other"], "azp": "other"})),
            Err(IdTokenError::Audience)
        );
        assert_eq!(check(json!({"azp": "other"})), Err(IdTokenError::Audience));
    }

    #[test]
    fn expiry_and_issue_time_allow_a_minute_of_skew() {
        assert!(check(json!({"exp": NOW - LEEWAY_SECS + 1})).is_ok());
        assert_eq!(
            check(json!({"exp": NOW - LEEWAY_SECS})),
            Err(IdTokenError::Expired)
        );
        assert!(check(json!({"iat": NOW + LEEWAY_SECS})).is_ok());
        assert_eq!(
            check(json!({"iat": NOW + LEEWAY_SECS + 1})),
            Err(IdTokenError::Expired)
        );
    }

    #[test]
    fn the_nonce_must_be_ours() {
        assert_eq!(check(json!({"nonce": "other"})), Err(IdTokenError::Nonce));
        assert_eq!(check(json!({"nonce": null})), Err(IdTokenError::Nonce));
    }

    fn token(header: Value) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            part(&header),
            part(&json!({})),
            URL_SAFE_NO_PAD.encode("sig")
        )
    }

    #[test]
    fn only_listed_rsa_algorithms_pass_the_header() {
        let none = format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(parse(&none, &[]).err(), Some(IdTokenError::Algorithm));
        for alg in ["HS256", "ES256", "PS256", "none", "rs256"] {
            assert_eq!(
                parse(&token(json!({"alg": alg})), &[]).err(),
                Some(IdTokenError::Algorithm),
                "{alg}"
            );
        }
        let listed = vec!["RS256".to_owned()];
        assert!(parse(&token(json!({"alg": "RS256"})), &listed).is_ok());
        assert_eq!(
            parse(&token(json!({"alg": "RS512"})), &listed).err(),
            Some(IdTokenError::Algorithm)
        );
        assert!(parse(&token(json!({"alg": "RS512"})), &[]).is_ok());
        assert_eq!(
            parse(&token(json!({"alg": "RS256", "crit": ["exp"]})), &[]).err(),
            Some(IdTokenError::Algorithm)
        );
        assert_eq!(parse("a.b", &[]).err(), Some(IdTokenError::Malformed));
        assert_eq!(parse("a.b.c.d", &[]).err(), Some(IdTokenError::Malformed));
        let with_kid = token(json!({"alg": "RS256", "kid": "k"}));
        let parsed = parse(&with_kid, &[]).unwrap();
        assert_eq!(parsed.kid.as_deref(), Some("k"));
        assert_eq!(parsed.signature, b"sig");
        assert!(parsed.signing_input.ends_with(".e30"));
    }
}
