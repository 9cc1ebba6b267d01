//! A small local OpenID Connect provider for tests of "Sign in with Google / any OIDC provider".
//!
//! [`FakeOidc`] serves, on 127.0.0.1 port 0, what a relying party uses from a real provider:
//!
//! | endpoint | what it does |
//! | --- | --- |
//! | `GET /.well-known/openid-configuration` | the discovery document; `issuer` is [`FakeOidc::issuer`] |
//! | `GET /jwks` | the RSA public key as a JWK with `kid` [`KID`] |
//! | `GET /authorize` | the authorization code flow with PKCE S256: no login page, it signs in the current test user at once and answers `302` to `redirect_uri?code=…&state=…` |
//! | `POST /token` | `grant_type=authorization_code`, client auth `client_secret_post` or `client_secret_basic`; answers an access token and an RS256 ID token |
//! | `GET /userinfo` | a bearer access token → `sub`, `email`, `email_verified`, `name` |
//!
//! It is strict where a careful provider is (OAuth 2.1 rather than 2.0): PKCE with S256 is
//! required, codes are single use (a second use also revokes the access token the first one got,
//! RFC 6749 §4.1.2) and expire, `redirect_uri` must match a registered one exactly and be repeated
//! at the token endpoint, and a parameter sent twice is refused. A failed redemption burns the
//! code, so a verifier cannot be guessed by retrying.
//!
//! Failure cases of the relying party come from [`Fault`]s: switched on for the next token
//! response ([`FakeOidc::fail_next`]) or all of them ([`FakeOidc::fail_always`]), each makes the
//! ID token wrong in exactly one way. Every request is kept ([`FakeOidc::requests`]) so a test can
//! assert on what the relying party sent, such as its `code_verifier`.

// Test support: a failure to set up is a failed test, so panicking with a message is right here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod endpoint;
mod jwt;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use jwt::{KID, UNKNOWN_KID, public_key};

/// How long an authorization code can be redeemed, unless a test sets another
/// ([`FakeOidc::set_code_lifetime`]). Google's codes last minutes; ten is RFC 6749's maximum.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// The `expires_in` of access tokens, and the lifetime of ID tokens, in seconds.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;
/// The `aud` of an ID token under [`Fault::WrongAudience`].
pub const WRONG_AUDIENCE: &str = "another-client.apps.switchyard.test";
/// The `nonce` of an ID token under [`Fault::WrongNonce`].
pub const WRONG_NONCE: &str = "not-the-nonce-you-sent";
/// How far in the past `exp` is under [`Fault::Expired`]: more than any sane clock-skew leeway.
pub const EXPIRED_BY_SECS: u64 = 600;

/// The environment variable every [`crate::TestApp`] has, holding [`CLIENT_SECRET`], so a
/// test's `[[oidc]]` entry can say `client_secret_env = "FAKE_OIDC_CLIENT_SECRET"`.
pub const CLIENT_SECRET_ENV: &str = "FAKE_OIDC_CLIENT_SECRET";
/// The client secret to register with [`Client::new`] when the relying party is a TestApp.
pub const CLIENT_SECRET: &str = "switchyard-test-oidc-client-secret";

/// What a TestApp's environment gets for the relying party's configuration.
pub(crate) fn env() -> [(String, String); 1] {
    [(CLIENT_SECRET_ENV.to_owned(), CLIENT_SECRET.to_owned())]
}

/// The relying party the fake knows, as an operator would register it with Google.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub secret: String,
    /// Compared to the request's `redirect_uri` exactly, as Google does.
    pub redirect_uris: Vec<String>,
}

impl Client {
    pub fn new(
        id: impl Into<String>,
        secret: impl Into<String>,
        redirect_uris: impl IntoIterator<Item = impl Into<String>>,
    ) -> Client {
        Client {
            id: id.into(),
            secret: secret.into(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
        }
    }
}

/// The person the fake signs in at `/authorize`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

impl Default for User {
    /// Ada, with a verified address and a numeric subject like Google's.
    fn default() -> User {
        User {
            sub: "104857600000000000001".to_owned(),
            email: "ada@example.test".to_owned(),
            email_verified: true,
            name: "Ada Lovelace".to_owned(),
        }
    }
}

/// One way to make an ID token wrong, so the relying party's check for it can be tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// `iss` is the issuer with a `/` appended: close, but OIDC requires an exact match.
    WrongIssuer,
    /// `aud` is [`WRONG_AUDIENCE`] instead of the client id.
    WrongAudience,
    /// `exp` lies [`EXPIRED_BY_SECS`] in the past (and `iat` one token lifetime before it).
    Expired,
    /// `nonce` is [`WRONG_NONCE`], whatever the authorization request sent.
    WrongNonce,
    /// An unsecured token: header `{"alg":"none"}` and an empty signature.
    AlgNone,
    /// Signed with a second key, under `kid` [`UNKNOWN_KID`], which the JWKS does not list.
    UnknownKid,
    /// The right `kid` and key, with one bit of the signature flipped.
    BadSignature,
}

impl Fault {
    pub const ALL: [Fault; 7] = [
        Fault::WrongIssuer,
        Fault::WrongAudience,
        Fault::Expired,
        Fault::WrongNonce,
        Fault::AlgNone,
        Fault::UnknownKid,
        Fault::BadSignature,
    ];
}

/// One request as the fake received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query, such as `/token`.
    pub path: String,
    /// The query parameters (`/authorize`), decoded.
    pub query: BTreeMap<String, String>,
    /// The form parameters of a form-encoded body (`/token`), decoded.
    pub form: BTreeMap<String, String>,
    /// Header names (lowercase) to values; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
}

impl Recorded {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// An authorization code and what it was issued for.
#[derive(Debug)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    scopes: BTreeSet<String>,
    nonce: Option<String>,
    code_challenge: String,
    user: User,
    expires: Instant,
    /// Set at the first redemption attempt: a code is good for one.
    used: bool,
    /// The access token the code was exchanged for, revoked if the code comes back.
    access_token: Option<String>,
}

/// What an access token lets `/userinfo` tell.
#[derive(Debug)]
struct Access {
    user: User,
    scopes: BTreeSet<String>,
    expires: Instant,
}

#[derive(Debug)]
struct State {
    client: Client,
    user: User,
    code_lifetime: Duration,
    next_faults: BTreeSet<Fault>,
    always_faults: BTreeSet<Fault>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Access>,
    requests: Vec<Recorded>,
}

#[derive(Debug)]
struct Shared {
    issuer: String,
    // A std Mutex, not tokio's: it is held only to read or change the maps, never across an
    // await (nor while signing a token).
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a bug in this file; the state is
        // still usable for the test to report it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A local OpenID Connect provider on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct FakeOidc {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeOidc {
    /// Starts a provider that knows `client` and signs in [`User::default`].
    pub async fn spawn(client: Client) -> FakeOidc {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake OIDC provider to 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared {
            issuer: format!("http://{addr}"),
            state: Mutex::new(State {
                client,
                user: User::default(),
                code_lifetime: CODE_LIFETIME,
                next_faults: BTreeSet::new(),
                always_faults: BTreeSet::new(),
                codes: HashMap::new(),
                tokens: HashMap::new(),
                requests: Vec::new(),
            }),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        FakeOidc { shared, task }
    }

    /// The issuer identifier: the base URL, without a trailing slash, exactly as `iss` carries it.
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// Where the discovery document is.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.shared.issuer)
    }

    /// The client registration as it stands.
    pub fn client(&self) -> Client {
        self.shared.state().client.clone()
    }

    /// Registers one more redirect URI: the relying party's address is often known only after
    /// the fake is running (its issuer goes into the relying party's configuration).
    pub fn add_redirect_uri(&self, uri: impl Into<String>) {
        self.shared.state().client.redirect_uris.push(uri.into());
    }

    /// Chooses who the next `/authorize` signs in; codes already issued keep their user.
    pub fn set_user(&self, sub: &str, email: &str, email_verified: bool, name: &str) {
        self.shared.state().user = User {
            sub: sub.to_owned(),
            email: email.to_owned(),
            email_verified,
            name: name.to_owned(),
        };
    }

    /// How long codes issued from now on can be redeemed; `Duration::ZERO` makes them expired
    /// on arrival, to test that without waiting.
    pub fn set_code_lifetime(&self, lifetime: Duration) {
        self.shared.state().code_lifetime = lifetime;
    }

    /// The next successful token response carries an ID token with `fault` (calls add up, so
    /// several faults can go into one token).
    pub fn fail_next(&self, fault: Fault) {
        self.shared.state().next_faults.insert(fault);
    }

    /// Every token response carries an ID token with `fault`, until [`FakeOidc::clear_faults`].
    pub fn fail_always(&self, fault: Fault) {
        self.shared.state().always_faults.insert(fault);
    }

    /// Back to correct tokens.
    pub fn clear_faults(&self) {
        let mut state = self.shared.state();
        state.next_faults.clear();
        state.always_faults.clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().requests.clone()
    }

    /// The requests received on `path` (such as `/token`), in order.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        let state = self.shared.state();
        state
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for FakeOidc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(endpoint::handle(&shared, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
