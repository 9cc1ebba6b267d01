//! Accounts for people: password hashing, sign-in throttling, and the session cookie with its
//! CSRF rules. The HTTP handlers are in `api::auth`; who a request acts for is `api::actor`.
//!
//! **Invariant:** the session cookie is the only cookie Switchyard sets, and a raw session id
//! or emailed token is never stored: the store keeps their SHA-256. A sign-in through an
//! OpenID provider binds its flow to the browser with that same cookie, holding a
//! *pre-session* value that names no session ([`Settings::pre_session_cookie`]).

pub mod oidc;
pub mod password;
pub mod throttle;

use crate::mail::Mailer;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue};
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// The validated `[sessions]` settings and the public address links point to.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where people reach this server, without a trailing slash (`https://ai.example.com`);
    /// links in emails start with it, and `https` makes the cookie `Secure`.
    pub public_url: String,
    /// A session unused this long has ended.
    pub idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub absolute: Duration,
    /// How long an emailed verification link works.
    pub verify_ttl: Duration,
    /// How long an emailed reset link works.
    pub reset_ttl: Duration,
    pub throttle: throttle::Limits,
}

impl Settings {
    /// With the defaults: idle 7 days, absolute 30 days, links valid 24 h (verify) and 1 h
    /// (reset), the default throttle.
    pub fn new(public_url: &str) -> Settings {
        const DAY: u64 = 24 * 60 * 60;
        Settings {
            public_url: public_url.trim_end_matches('/').to_owned(),
            idle: Duration::from_secs(7 * DAY),
            absolute: Duration::from_secs(30 * DAY),
            verify_ttl: Duration::from_secs(DAY),
            reset_ttl: Duration::from_secs(60 * 60),
            throttle: throttle::Limits::default(),
        }
    }

    /// Whether the site is served over TLS, so the cookie can be `Secure` and `__Host-`.
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// `__Host-sy_session` over https. Browsers accept the `__Host-` prefix only on `Secure`
    /// cookies, which they do not store from plain http, so a local http install uses
    /// `sy_session` (still host-only: no `Domain`).
    pub fn cookie_name(&self) -> &'static str {
        if self.secure() {
            "__Host-sy_session"
        } else {
            "sy_session"
        }
    }

    /// `Set-Cookie` for a new session whose id is `raw`.
    pub fn session_cookie(&self, raw: &str) -> HeaderValue {
        self.cookie(raw, self.absolute.as_secs())
    }

    /// `Set-Cookie` for a pre-session: a random value, with no session behind it, that ties an
    /// OpenID sign-in to the browser that started it. It lives as long as the flow may.
    pub fn pre_session_cookie(&self, raw: &str) -> HeaderValue {
        self.cookie(raw, oidc::FLOW_TTL.as_secs())
    }

    /// `Set-Cookie` that makes the browser forget the session cookie.
    pub fn clearing_cookie(&self) -> HeaderValue {
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure() { "; Secure" } else { "" };
        let text = format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            self.cookie_name()
        );
        // The name is a constant and the value base64url, so the text is a valid header.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// What handlers need for accounts: the settings, the throttles and the mailer.
#[derive(Debug)]
pub struct Auth {
    pub settings: Settings,
    /// Failed sign-ins.
    pub throttle: throttle::Throttle,
    /// Mails asked for (verification, reset), so nobody can flood an inbox through us.
    pub mail_throttle: throttle::Throttle,
    pub mailer: Arc<dyn Mailer>,
    /// The OpenID providers people may sign in with (`[[oidc]]`).
    pub oidc: oidc::Registry,
}

/// At most 5 mails per address and 20 requests per client address an hour.
pub const MAIL_LIMITS: throttle::Limits = throttle::Limits {
    window: Duration::from_secs(60 * 60),
    per_account: 5,
    per_address: 20,
};

impl Auth {
    pub fn new(settings: Settings, mailer: Arc<dyn Mailer>) -> Auth {
        Auth {
            throttle: throttle::Throttle::new(settings.throttle),
            mail_throttle: throttle::Throttle::new(MAIL_LIMITS),
            settings,
            mailer,
            oidc: oidc::Registry::default(),
        }
    }

    /// With `providers` to sign in with.
    pub fn with_oidc(mut self, providers: Vec<oidc::Provider>) -> Auth {
        self.oidc = oidc::Registry::new(providers);
        self
    }

    /// Whether another mail to `email`, asked for from `address`, is within
    /// [`MAIL_LIMITS`]; counts it if so.
    pub fn may_mail(&self, email: &str, address: &str) -> bool {
        let now = std::time::Instant::now();
        let allowed = self.mail_throttle.check(email, address, now).is_ok();
        if allowed {
            self.mail_throttle.failed(email, address, now);
        }
        allowed
    }
}

/// A fresh 256-bit secret from the operating system (session id, CSRF token, emailed token).
#[derive(Debug)]
pub struct Token {
    /// What the client holds: base64url, 43 characters.
    pub raw: String,
    /// What the store keeps.
    pub hash: [u8; 32],
}

impl Token {
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        // The OS generator fails only on a broken system; the thread generator (ChaCha,
        // seeded from the OS) is still unpredictable if it ever does.
        if rand::rngs::OsRng.try_fill_bytes(&mut bytes).is_err() {
            rand::fill(&mut bytes);
        }
        let raw = URL_SAFE_NO_PAD.encode(bytes);
        Token {
            hash: hash_token(&raw),
            raw,
        }
    }
}

/// The SHA-256 under which a session id or emailed token is stored. Unkeyed is enough: the
/// input has 256 bits of entropy, so the hash cannot be reversed by guessing.
pub fn hash_token(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// `false` when the browser says the request comes from another site (`Sec-Fetch-Site`
/// other than `same-origin` or `none`). Absent (older browsers, non-browser clients): `true`,
/// and the CSRF token decides.
pub fn same_origin(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site") {
        None => true,
        Some(site) => site == "same-origin" || site == "none",
    }
}

/// Whether the request's `x-csrf-token` equals the session's token, compared in constant time.
pub fn csrf_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get("x-csrf-token")
        .is_some_and(|presented| bool::from(presented.as_bytes().ct_eq(expected.as_bytes())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_hashed() {
        let a = Token::generate();
        let b = Token::generate();
        assert_eq!(a.raw.len(), 43);
        assert_ne!(a.raw, b.raw);
        assert_eq!(a.hash, hash_token(&a.raw));
        assert!(
            a.raw
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn the_cookie_is_host_only_and_secure_over_https() {
        let https = Settings::new("https://ai.example.com/");
        assert_eq!(https.public_url, "https://ai.example.com");
        assert_eq!(
            https.session_cookie("abc"),
            "__Host-sy_session=abc; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax; Secure"
        );
        let http = Settings::new("http://127.0.0.1:8080");
        assert_eq!(
            http.session_cookie("abc"),
            "sy_session=abc; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            http.clearing_cookie(),
            "sy_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            HeaderValue::from_static("a=1; sy_session=xyz ; b=2"),
        );
        assert_eq!(cookie_value(&headers, "sy_session"), Some("xyz"));
        assert_eq!(cookie_value(&headers, "session"), None);
        headers.append("cookie", HeaderValue::from_static("__Host-sy_session=h"));
        assert_eq!(cookie_value(&headers, "__Host-sy_session"), Some("h"));
    }

    #[test]
    fn csrf_needs_the_token_and_no_other_site() {
        let mut headers = HeaderMap::new();
        assert!(same_origin(&headers));
        assert!(!csrf_matches(&headers, "t"));
        headers.insert("x-csrf-token", HeaderValue::from_static("t"));
        assert!(csrf_matches(&headers, "t"));
        assert!(!csrf_matches(&headers, "u"));
        assert!(!csrf_matches(&headers, "tt"));
        for (site, ok) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            headers.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert_eq!(same_origin(&headers), ok, "{site}");
        }
    }
}
