//! "Sign in with Google / any OpenID Connect provider": the relying party's side of the
//! authorization code flow with PKCE (OIDC Core §3.1, RFC 7636), without the HTTP handlers
//! (those are `api::oidc`).
//!
//! Each configured provider ([`Provider`]) gets its discovery document and its JWKS fetched
//! on first use and cached, so start-up never needs the network. The JWKS is fetched again
//! once when an ID token names a key it lacks (providers rotate keys), and the token is
//! refused if the fresh set lacks it too.
//!
//! **Invariant:** an account is found by the ID token's (`iss`, `sub`), never by its email.

pub mod id_token;

use crate::auth::Token;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use id_token::{Claims, Expected, IdTokenError, Jwks};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use switchyard_core::Secret;
use tokio::sync::Mutex;

/// The scopes asked for: who the person is, their address and their name. Fixed, since
/// Switchyard uses nothing else.
pub const SCOPES: &str = "openid email profile";
/// How long a flow may take from start to callback (the provider's login page included).
pub const FLOW_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a fetched discovery document or JWKS is used before it is fetched again.
const CACHE_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long one call to a provider may take, connect to last byte.
const DEADLINE: Duration = Duration::from_secs(10);
/// The largest answer read from a provider: discovery documents and key sets are a few KiB.
const MAX_BODY: usize = 1024 * 1024;

/// One `[[oidc]]` entry: a provider people may sign in with.
#[derive(Clone, Debug)]
pub struct Provider {
    /// The slug in the URLs (`/api/auth/oidc/{id}/...`), such as `google`.
    pub id: String,
    /// The button's label, such as `Google`.
    pub name: String,
    /// The issuer identifier, exactly as ID tokens carry it in `iss`
    /// (`https://accounts.google.com`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
}

/// Why a sign-in or link through a provider failed. The web UI receives [`SignInError::code`]
/// as `?error=` on the page it is sent back to; the table of codes is in `docs/api.md`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("no sign-in provider has this id")]
    UnknownProvider,
    #[error("the provider answered with an error: {0}")]
    Denied(String),
    #[error("the sign-in is unknown, already used or expired; start again")]
    InvalidState,
    #[error("the sign-in was started in another browser (or the cookie was lost)")]
    BrowserMismatch,
    #[error("the provider cannot be reached or answered nonsense: {0}")]
    Unavailable(String),
    #[error("the provider refused the authorization code: {0}")]
    CodeRejected(String),
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    #[error("the provider gave no email address, which a new account needs")]
    EmailMissing,
    #[error("the provider has not verified the email address")]
    EmailUnverified,
    #[error(
        "an account with this email exists: sign in with its password, then link from settings"
    )]
    EmailTaken,
    #[error("this identity is linked to another account")]
    IdentityTaken,
    #[error("this account is disabled")]
    AccountDisabled,
    #[error("the session that started the link has ended")]
    SessionEnded,
    #[error("an internal error: {0}")]
    Internal(String),
}

impl SignInError {
    /// The stable code the UI reads from `?error=`.
    pub fn code(&self) -> &'static str {
        match self {
            SignInError::UnknownProvider => "unknown_provider",
            SignInError::Denied(_) => "provider_denied",
            SignInError::InvalidState => "invalid_state",
            SignInError::BrowserMismatch => "browser_mismatch",
            SignInError::Unavailable(_) => "provider_unavailable",
            SignInError::CodeRejected(_) => "code_rejected",
            SignInError::IdToken(e) => match e {
                IdTokenError::Malformed => "id_token_malformed",
                IdTokenError::Algorithm => "id_token_algorithm",
                IdTokenError::UnknownKey => "id_token_unknown_key",
                IdTokenError::Signature => "id_token_signature",
                IdTokenError::Issuer => "id_token_issuer",
                IdTokenError::Audience => "id_token_audience",
                IdTokenError::Expired => "id_token_expired",
                IdTokenError::Nonce => "id_token_nonce",
            },
            SignInError::EmailMissing => "email_missing",
            SignInError::EmailUnverified => "email_unverified",
            SignInError::EmailTaken => "email_taken",
            SignInError::IdentityTaken => "identity_taken",
            SignInError::AccountDisabled => "account_disabled",
            SignInError::SessionEnded => "session_ended",
            SignInError::Internal(_) => "internal_error",
        }
    }
}

/// What we use from a provider's discovery document (OIDC Discovery §3).
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// A provider and what has been fetched from it.
#[derive(Debug)]
struct Entry {
    provider: Provider,
    // tokio's Mutex: it is held across the fetch, so concurrent first sign-ins wait for one
    // fetch instead of each making their own.
    discovery: Mutex<Option<(Arc<Discovery>, Instant)>>,
    jwks: Mutex<Option<(Arc<Jwks>, Instant)>>,
}

/// The configured providers and their caches.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

/// A started authorization request: where to send the browser, and what the callback needs.
#[derive(Debug)]
pub struct Authorization {
    pub url: String,
    pub state: Token,
    pub nonce: String,
    pub code_verifier: String,
}

impl Registry {
    pub fn new(providers: Vec<Provider>) -> Registry {
        Registry {
            entries: providers
                .into_iter()
                .map(|provider| Entry {
                    provider,
                    discovery: Mutex::new(None),
                    jwks: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// The providers in configuration order.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.entries.iter().map(|e| &e.provider)
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.entry(id).map(|e| &e.provider)
    }

    fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.provider.id == id)
    }

    /// The authorization URL for a new flow with `provider` (which must exist), with fresh
    /// `state`, `nonce` and PKCE verifier, its `redirect_uri` being `redirect_uri`.
    pub async fn authorize(
        &self,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<Authorization, SignInError> {
        let entry = self.entry(provider).ok_or(SignInError::UnknownProvider)?;
        let discovery = entry.discovery().await?;
        let state = Token::generate();
        let nonce = Token::generate().raw;
        // 43 base64url characters: a valid verifier (RFC 7636 §4.1) with 256 bits.
        let code_verifier = Token::generate().raw;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|e| SignInError::Unavailable(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &entry.provider.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", &state.raw)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(Authorization {
            url: url.into(),
            state,
            nonce,
            code_verifier,
        })
    }

    /// Redeems `code` at the provider's token endpoint and verifies the ID token it answers
    /// with; returns its claims.
    pub async fn redeem(
        &self,
        provider: &str,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<Claims, SignInError> {
        let entry = self.entry(provider).ok_or(SignInError::UnknownProvider)?;
        let discovery = entry.discovery().await?;
        let id_token = entry
            .exchange(&discovery, code, code_verifier, redirect_uri)
            .await?;
        let parsed = id_token::parse(&id_token, &discovery.id_token_signing_alg_values_supported)?;
        let expected = Expected {
            issuer: &entry.provider.issuer,
            client_id: &entry.provider.client_id,
            nonce,
            now: unix_now(),
        };
        let jwks = entry.jwks(&discovery, false).await?;
        if let Some(key) = id_token::select_key(&jwks, &parsed) {
            return Ok(id_token::verify(&parsed, key, &expected)?);
        }
        // Perhaps the provider rotated its keys since we fetched them: once more, fresh.
        let jwks = entry.jwks(&discovery, true).await?;
        let key = id_token::select_key(&jwks, &parsed).ok_or(IdTokenError::UnknownKey)?;
        Ok(id_token::verify(&parsed, key, &expected)?)
    }
}

impl Entry {
    /// The discovery document, fetched if not cached (or stale).
    async fn discovery(&self) -> Result<Arc<Discovery>, SignInError> {
        let mut cached = self.discovery.lock().await;
        if let Some((doc, at)) = cached.as_ref()
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Arc::clone(doc));
        }
        // OIDC Discovery §4: the issuer, without a trailing `/`, then the well-known path.
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.provider.issuer.trim_end_matches('/')
        );
        let body = get(&url).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| SignInError::Unavailable(format!("discovery document: {e}")))?;
        // §4.3: the document must be about the issuer we asked, exactly.
        if doc.issuer != self.provider.issuer {
            return Err(SignInError::Unavailable(format!(
                "the discovery document's issuer `{}` is not the configured `{}`",
                doc.issuer, self.provider.issuer
            )));
        }
        for endpoint in [
            &doc.authorization_endpoint,
            &doc.token_endpoint,
            &doc.jwks_uri,
        ] {
            if !same_scheme(&self.provider.issuer, endpoint) {
                return Err(SignInError::Unavailable(format!(
                    "the endpoint `{endpoint}` does not use the issuer's scheme"
                )));
            }
        }
        let doc = Arc::new(doc);
        *cached = Some((Arc::clone(&doc), Instant::now()));
        Ok(doc)
    }

    /// The provider's keys; fetched if not cached, stale, or `refresh` is asked for.
    async fn jwks(&self, discovery: &Discovery, refresh: bool) -> Result<Arc<Jwks>, SignInError> {
        let mut cached = self.jwks.lock().await;
        if let Some((keys, at)) = cached.as_ref()
            && !refresh
            && at.elapsed() < CACHE_TTL
        {
            return Ok(Arc::clone(keys));
        }
        let body = get(&discovery.jwks_uri).await?;
        let keys = Arc::new(
            Jwks::parse(&body)
                .ok_or_else(|| SignInError::Unavailable("the JWKS is not a JWK Set".into()))?,
        );
        *cached = Some((Arc::clone(&keys), Instant::now()));
        Ok(keys)
    }

    /// The token request (RFC 6749 §4.1.3 with RFC 7636's `code_verifier`); returns the ID
    /// token of the answer.
    async fn exchange(
        &self,
        discovery: &Discovery,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, SignInError> {
        let provider = &self.provider;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        // client_secret_basic is the default when the provider lists no methods (OIDC
        // Discovery §3); client_secret_post only when it is the one listed.
        let methods = &discovery.token_endpoint_auth_methods_supported;
        let basic = methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic");
        let mut authorization = None;
        if basic {
            // RFC 6749 §2.3.1: each part form-encoded before base64.
            let pair = format!(
                "{}:{}",
                form_encode_one(&provider.client_id),
                form_encode_one(provider.client_secret.expose())
            );
            let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
                .map_err(|_| {
                    SignInError::Internal("the client secret is not header-safe".into())
                })?;
            value.set_sensitive(true);
            authorization = Some(value);
        } else {
            form.push(("client_id", provider.client_id.as_str()));
            form.push(("client_secret", provider.client_secret.expose()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&discovery.token_endpoint)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SignInError::Unavailable(format!("token endpoint: {e}")))?;
        let (status, body) = send(request).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            // RFC 6749 §5.2: `error` and perhaps `error_description`.
            let text = |k: &str| answer[k].as_str().unwrap_or_default().to_owned();
            return Err(SignInError::CodeRejected(format!(
                "{status} {} {}",
                text("error"),
                text("error_description")
            )));
        }
        answer["id_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SignInError::Unavailable("the token response has no id_token".into()))
    }
}

/// Whether `url` uses the scheme of `issuer`: an https issuer's endpoints must be https too
/// (an http issuer is allowed only on loopback, for tests and local providers).
fn same_scheme(issuer: &str, url: &str) -> bool {
    let scheme = |u: &str| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    scheme(issuer).is_some() && scheme(issuer) == scheme(url)
}

/// One value form-urlencoded (`application/x-www-form-urlencoded`).
fn form_encode_one(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

type Https = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One connection pool for every provider, on the rustls stack the rest of the server uses.
fn client() -> &'static Https {
    static CLIENT: OnceLock<Https> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(DEADLINE));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        HyperClient::builder(TokioExecutor::new()).build(https)
    })
}

/// `GET url`, expecting 200; returns the body.
async fn get(url: &str) -> Result<Bytes, SignInError> {
    let request = Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| SignInError::Unavailable(format!("{url}: {e}")))?;
    let (status, body) = send(request).await?;
    if status != StatusCode::OK {
        return Err(SignInError::Unavailable(format!("{url} answered {status}")));
    }
    Ok(body)
}

/// Sends `request` within [`DEADLINE`], reading at most [`MAX_BODY`] bytes of the answer.
async fn send(request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), SignInError> {
    let url = request.uri().to_string();
    let exchange = async {
        let response = client()
            .request(request)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    tokio::time::timeout(DEADLINE, exchange)
        .await
        .map_err(|_| format!("{url}: no answer within {} s", DEADLINE.as_secs()))
        .and_then(|r| r)
        .map_err(SignInError::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_the_issuers_scheme() {
        assert!(same_scheme("https://a.example", "https://b.example/token"));
        assert!(!same_scheme("https://a.example", "http://a.example/token"));
        assert!(same_scheme("http://127.0.0.1:1", "http://127.0.0.1:1/jwks"));
        assert!(!same_scheme("https://a.example", "a.example/token"));
    }

    #[test]
    fn error_codes_are_distinct() {
        let all = [
            SignInError::UnknownProvider,
            SignInError::Denied(String::new()),
            SignInError::InvalidState,
            SignInError::BrowserMismatch,
            SignInError::Unavailable(String::new()),
            SignInError::CodeRejected(String::new()),
            IdTokenError::Malformed.into(),
            IdTokenError::Algorithm.into(),
            IdTokenError::UnknownKey.into(),
            IdTokenError::Signature.into(),
            IdTokenError::Issuer.into(),
            IdTokenError::Audience.into(),
            IdTokenError::Expired.into(),
            IdTokenError::Nonce.into(),
            SignInError::EmailMissing,
            SignInError::EmailUnverified,
            SignInError::EmailTaken,
            SignInError::IdentityTaken,
            SignInError::AccountDisabled,
            SignInError::SessionEnded,
            SignInError::Internal(String::new()),
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(SignInError::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
