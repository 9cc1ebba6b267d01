//! Signing in with an OpenID Connect provider, on both stores, against the test kit's local
//! provider (`FakeOidc`): the authorization code flow with state, nonce and PKCE; accounts
//! keyed by (issuer, subject); linking and unlinking from settings; and every way the flow
//! can be attacked or go wrong, each of which must leave the browser without a session.
//!
//! The browser is played by [`Browser`] (`browser.rs`): it keeps the one cookie Switchyard sets and never
//! follows redirects, so each `303` and its `Location` can be checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
#[path = "../common/mod.rs"]
mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use browser::Browser;
use common::expect_error;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;
use switchyard_testkit::oidc::{CLIENT_SECRET, CLIENT_SECRET_ENV, Client, FakeOidc, Fault};

on_both_stores!(
    signing_in_creates_an_account_keyed_by_issuer_and_subject,
    a_password_account_links_an_identity_then_signs_in_with_it,
    unlinking_keeps_a_way_to_sign_in,
    an_email_owned_by_a_password_account_is_not_linked,
    an_unknown_or_replayed_state_is_refused,
    a_state_from_another_browser_is_refused,
    a_wrong_or_missing_pkce_verifier_is_refused,
    a_provider_error_is_reported,
    start_checks_provider_purpose_and_origin,
    wrong_issuer_is_refused,
    wrong_audience_is_refused,
    an_expired_token_is_refused,
    a_wrong_nonce_is_refused,
    alg_none_is_refused,
    an_unknown_kid_is_refused_after_one_refetch,
    a_bad_signature_is_refused,
);

const CLIENT_ID: &str = "switchyard.apps.example.test";
const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "/api/auth/oidc/fake/callback";

/// The server with one provider, `fake`, and the provider itself.
struct Setup {
    app: TestApp,
    idp: FakeOidc,
}

async fn setup(backend: Backend) -> Setup {
    let idp = FakeOidc::spawn(Client::new(CLIENT_ID, CLIENT_SECRET, Vec::<String>::new())).await;
    let config = format!(
        "[[oidc]]\nid = \"fake\"\nname = \"Fake IdP\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"{CLIENT_SECRET_ENV}\"\n",
        idp.issuer()
    );
    let app = TestApp::spawn_with(backend, &config).await;
    // The redirect URI is known only once the server has its port, as with a real
    // registration it is the public URL's.
    idp.add_redirect_uri(app.url(CALLBACK));
    Setup { app, idp }
}

/// The query of `url`, decoded.
fn query(url: &str) -> BTreeMap<String, String> {
    let parsed = url::Url::parse(url).unwrap();
    parsed.query_pairs().into_owned().collect()
}

/// `POST /start` from `b`; returns the authorization URL.
async fn start(s: &Setup, b: &mut Browser, purpose: &str) -> String {
    let response = b
        .call(
            reqwest::Method::POST,
            &s.app.url("/api/auth/oidc/fake/start"),
            Some(json!({"purpose": purpose})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    body["url"].as_str().unwrap().to_owned()
}

/// Visits the provider's authorization URL, where the fake signs its current user in at once;
/// returns the callback URL it redirects to.
async fn authorize(url: &str) -> String {
    let response = Browser::new().http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 302, "{:?}", response.text().await);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Delivers a callback URL in `b`; returns where Switchyard sends the browser (a 303).
async fn callback(b: &mut Browser, url: &str) -> String {
    let response = b.get(url).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// A whole sign-in in `b`; returns the final `Location`.
async fn sign_in(s: &Setup, b: &mut Browser) -> String {
    let url = start(s, b, "signin").await;
    let back = authorize(&url).await;
    callback(b, &back).await
}

async fn signup(s: &Setup, b: &mut Browser, email: &str) -> String {
    let response = b
        .call(
            reqwest::Method::POST,
            &s.app.url("/api/auth/signup"),
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), 201);
    b.me(&s.app).await.unwrap().0
}

async fn identities(s: &Setup, b: &mut Browser) -> Vec<Value> {
    let response = b.get(&s.app.url("/api/auth/identities")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

async fn signing_in_creates_an_account_keyed_by_issuer_and_subject(backend: Backend) {
    let s = setup(backend).await;
    let providers: Value = s
        .app
        .client
        .get(s.app.url("/api/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers, json!([{"id": "fake", "name": "Fake IdP"}]));

    s.idp.set_user("sub-ada", "Ada@Example.test", true, "Ada");
    let mut b = Browser::new();
    let url = start(&s, &mut b, "signin").await;
    let pre_session = b.cookie.clone().expect("a pre-session binds the flow");
    // The pre-session authenticates nothing.
    assert_eq!(b.me(&s.app).await, None);
    b.cookie = Some(pre_session.clone());

    // The authorization request: code flow, fixed scopes, state, nonce and PKCE S256.
    assert!(
        url.starts_with(&format!("{}/authorize?", s.idp.issuer())),
        "{url}"
    );
    let params = query(&url);
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["redirect_uri"], s.app.url(CALLBACK));
    assert_eq!(params["scope"], "openid email profile");
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params["state"].len() >= 43 && params["nonce"].len() >= 43);

    let back = authorize(&url).await;
    assert_eq!(callback(&mut b, &back).await, "/app/");
    let session = b.cookie.clone().expect("signed in");
    assert_ne!(
        session, pre_session,
        "a new session id, not the pre-session"
    );
    let (user_id, email) = b.me(&s.app).await.expect("signed in");
    assert_eq!(email, "ada@example.test");

    // What went to the token endpoint: the verifier of the challenge, and client auth.
    let token = s.idp.requests_to("/token").pop().unwrap();
    let verifier = &token.form["code_verifier"];
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
        params["code_challenge"]
    );
    assert!(token.header("authorization").unwrap().starts_with("Basic "));

    // The account is keyed by (issuer, subject), and the provider's address is verified.
    let identity = s
        .app
        .store
        .identity_by_subject(&s.idp.issuer(), "sub-ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.user_id.to_string(), user_id);
    let profile = s
        .app
        .store
        .profile(identity.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(profile.email_verified_at.is_some());

    // The provider changes the address: the same subject still lands on the same account.
    s.idp.set_user("sub-ada", "ada@elsewhere.test", true, "Ada");
    let mut again = Browser::new();
    assert_eq!(sign_in(&s, &mut again).await, "/app/");
    let (same_id, _) = again.me(&s.app).await.unwrap();
    assert_eq!(same_id, user_id);
    let listed = identities(&s, &mut again).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["email"], "ada@elsewhere.test");
    assert_eq!(
        listed[0]["provider"],
        json!({"id": "fake", "name": "Fake IdP"})
    );
    assert_eq!(listed[0]["provider_name"], "Fake IdP");
    assert_eq!(listed[0]["issuer"], s.idp.issuer());
    // Both browsers have their own session.
    assert!(b.me(&s.app).await.is_some());

    // Another subject is another person, with another account.
    s.idp.set_user("sub-eve", "eve@example.test", true, "Eve");
    let mut eve = Browser::new();
    assert_eq!(sign_in(&s, &mut eve).await, "/app/");
    assert_ne!(eve.me(&s.app).await.unwrap().0, user_id);

    // An address the provider has not verified does not make an account.
    s.idp
        .set_user("sub-unverified", "new@example.test", false, "New");
    let mut new = Browser::new();
    assert_eq!(
        sign_in(&s, &mut new).await,
        "/app/signin?error=email_unverified"
    );
    assert_eq!(new.cookie, None, "the pre-session is cleared");
    assert!(
        s.app
            .store
            .user_by_email("new@example.test")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_password_account_links_an_identity_then_signs_in_with_it(backend: Backend) {
    let s = setup(backend).await;
    let mut bob = Browser::new();
    let bob_id = signup(&s, &mut bob, "bob@example.test").await;
    s.idp
        .set_user("sub-bob", "bob.at.idp@example.test", true, "Bob");

    // Linking needs the CSRF token of the session...
    let csrf = bob.csrf.take();
    let response = bob
        .call(
            reqwest::Method::POST,
            &s.app.url("/api/auth/oidc/fake/start"),
            Some(json!({"purpose": "link"})),
        )
        .await;
    expect_error(response, 403, "csrf_failed").await;
    bob.csrf = csrf;
    // ...and a session, not a key.
    let (_, key) = s.app.user_with_key("keyed@example.test", json!({})).await;
    let response = s
        .app
        .post(
            "/api/auth/oidc/fake/start",
            &key,
            &json!({"purpose": "link"}),
        )
        .await;
    expect_error(response, 400, "invalid_request").await;

    let session = bob.cookie.clone();
    let url = start(&s, &mut bob, "link").await;
    assert_eq!(bob.cookie, session, "a link keeps the session");
    let back = authorize(&url).await;
    assert_eq!(callback(&mut bob, &back).await, "/app/settings");
    assert_eq!(bob.cookie, session);
    let listed = identities(&s, &mut bob).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["email"], "bob.at.idp@example.test");

    // Now the provider signs Bob into his password account.
    let mut elsewhere = Browser::new();
    assert_eq!(sign_in(&s, &mut elsewhere).await, "/app/");
    let (id, email) = elsewhere.me(&s.app).await.unwrap();
    assert_eq!(
        (id.as_str(), email.as_str()),
        (bob_id.as_str(), "bob@example.test")
    );

    // Linking it again to Bob is done already; to someone else, refused.
    let url = start(&s, &mut bob, "link").await;
    assert_eq!(
        callback(&mut bob, &authorize(&url).await).await,
        "/app/settings"
    );
    let mut carol = Browser::new();
    signup(&s, &mut carol, "carol@example.test").await;
    let url = start(&s, &mut carol, "link").await;
    assert_eq!(
        callback(&mut carol, &authorize(&url).await).await,
        "/app/settings?error=identity_taken"
    );
    assert!(
        carol.me(&s.app).await.is_some(),
        "a failed link keeps the session"
    );
    assert!(identities(&s, &mut carol).await.is_empty());

    // A link whose session ended on the way is refused, even with the old cookie.
    s.idp.set_user("sub-carol", "carol@idp.test", true, "Carol");
    let url = start(&s, &mut carol, "link").await;
    let cookie = carol.cookie.clone();
    let response = carol
        .call(reqwest::Method::POST, &s.app.url("/api/auth/signout"), None)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(carol.cookie, None);
    let back = authorize(&url).await;
    carol.cookie = cookie;
    assert_eq!(
        callback(&mut carol, &back).await,
        "/app/settings?error=session_ended"
    );
    assert!(
        s.app
            .store
            .identity_by_subject(&s.idp.issuer(), "sub-carol")
            .await
            .unwrap()
            .is_none()
    );
}

async fn unlinking_keeps_a_way_to_sign_in(backend: Backend) {
    let s = setup(backend).await;
    s.idp.set_user("sub-1", "dan@example.test", true, "Dan");
    let mut dan = Browser::new();
    assert_eq!(sign_in(&s, &mut dan).await, "/app/");
    dan.me(&s.app).await.unwrap();
    let first = identities(&s, &mut dan).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = |id: &str| s.app.url(&format!("/api/auth/identities/{id}"));

    // Without a password it is the only way in.
    let response = dan.call(reqwest::Method::DELETE, &path(&first), None).await;
    let error = expect_error(response, 409, "conflict").await;
    assert!(
        error["message"].as_str().unwrap().contains("password"),
        "{error}"
    );

    // A second identity (another subject at the provider) makes the first removable.
    s.idp.set_user("sub-2", "dan2@example.test", true, "Dan");
    let url = start(&s, &mut dan, "link").await;
    assert_eq!(
        callback(&mut dan, &authorize(&url).await).await,
        "/app/settings"
    );
    assert_eq!(identities(&s, &mut dan).await.len(), 2);
    // CSRF applies.
    let csrf = dan.csrf.take();
    let response = dan.call(reqwest::Method::DELETE, &path(&first), None).await;
    expect_error(response, 403, "csrf_failed").await;
    dan.csrf = csrf;
    let response = dan.call(reqwest::Method::DELETE, &path(&first), None).await;
    assert_eq!(response.status(), 200);
    let left = identities(&s, &mut dan).await;
    assert_eq!(left.len(), 1);
    let second = left[0]["id"].as_str().unwrap().to_owned();
    let response = dan
        .call(reqwest::Method::DELETE, &path(&second), None)
        .await;
    expect_error(response, 409, "conflict").await;
    // The unlinked subject no longer reaches the account: it would make a new one, whose
    // address is taken by Dan's.
    s.idp.set_user("sub-1", "dan@example.test", true, "Dan");
    let mut again = Browser::new();
    assert_eq!(
        sign_in(&s, &mut again).await,
        "/app/signin?error=email_taken"
    );

    // Someone else's identity, or a malformed id, is not found.
    let mut eve = Browser::new();
    signup(&s, &mut eve, "eve@example.test").await;
    let response = eve
        .call(reqwest::Method::DELETE, &path(&second), None)
        .await;
    expect_error(response, 404, "resource_not_found").await;
    let response = eve.call(reqwest::Method::DELETE, &path("nope"), None).await;
    expect_error(response, 404, "resource_not_found").await;

    // With a password, the last identity may go.
    s.idp.set_user("sub-eve", "eve@idp.test", true, "Eve");
    let url = start(&s, &mut eve, "link").await;
    assert_eq!(
        callback(&mut eve, &authorize(&url).await).await,
        "/app/settings"
    );
    let only = identities(&s, &mut eve).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = eve.call(reqwest::Method::DELETE, &path(&only), None).await;
    assert_eq!(response.status(), 200);
    assert!(identities(&s, &mut eve).await.is_empty());
}

async fn an_email_owned_by_a_password_account_is_not_linked(backend: Backend) {
    let s = setup(backend).await;
    let mut owner = Browser::new();
    let owner_id = signup(&s, &mut owner, "carol@example.test").await;
    // Someone controls an identity whose (verified) address is Carol's.
    s.idp
        .set_user("sub-mallory", "Carol@Example.test", true, "Carol?");
    let mut mallory = Browser::new();
    assert_eq!(
        sign_in(&s, &mut mallory).await,
        "/app/signin?error=email_taken"
    );
    assert_eq!(mallory.cookie, None);
    assert_eq!(mallory.me(&s.app).await, None);
    assert!(
        s.app
            .store
            .identity_by_subject(&s.idp.issuer(), "sub-mallory")
            .await
            .unwrap()
            .is_none()
    );
    let owner_id = owner_id.parse().unwrap();
    assert!(
        s.app
            .store
            .identities_of(owner_id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The browser has no session, and nothing was created for the provider's current subject.
async fn no_session(s: &Setup, b: &mut Browser, subject: &str) {
    assert_eq!(b.me(&s.app).await, None, "no session");
    assert!(
        s.app
            .store
            .identity_by_subject(&s.idp.issuer(), subject)
            .await
            .unwrap()
            .is_none(),
        "no identity"
    );
}

async fn an_unknown_or_replayed_state_is_refused(backend: Backend) {
    let s = setup(backend).await;
    s.idp.set_user("sub-r", "r@example.test", true, "R");
    let mut b = Browser::new();
    let url = start(&s, &mut b, "signin").await;
    let back = authorize(&url).await;
    // A state nobody issued, or none.
    let forged = back.replace(&query(&back)["state"], "forged-state");
    assert_eq!(
        callback(&mut b, &forged).await,
        "/app/signin?error=invalid_state"
    );
    let bare = format!("{}?code=x", s.app.url(CALLBACK));
    assert_eq!(
        callback(&mut b, &bare).await,
        "/app/signin?error=invalid_state"
    );
    assert!(
        b.cookie.is_some(),
        "a forged callback does not touch the cookie"
    );
    no_session(&s, &mut b, "sub-r").await;

    // The real one still works (the forged attempts did not spend it)...
    let pre_session = b.cookie.clone();
    assert_eq!(callback(&mut b, &back).await, "/app/");
    // ...once: replayed with the same pre-session, it is unknown.
    let mut replay = Browser::new();
    replay.cookie = pre_session;
    let response = replay.get(&back).await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        "/app/signin?error=invalid_state"
    );
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(replay.me(&s.app).await, None);
    // The code went to the provider once.
    assert_eq!(s.idp.requests_to("/token").len(), 1);
}

async fn a_state_from_another_browser_is_refused(backend: Backend) {
    let s = setup(backend).await;
    s.idp.set_user("sub-v", "victim@example.test", true, "V");
    // The attacker starts a flow and sends its callback URL to the victim (login CSRF).
    let mut attacker = Browser::new();
    let url = start(&s, &mut attacker, "signin").await;
    let back = authorize(&url).await;
    let mut victim = Browser::new();
    assert_eq!(
        callback(&mut victim, &back).await,
        "/app/signin?error=browser_mismatch"
    );
    no_session(&s, &mut victim, "sub-v").await;
    // A victim with a pre-session of their own fares the same.
    let mut other = Browser::new();
    start(&s, &mut other, "signin").await;
    let url = start(&s, &mut attacker, "signin").await;
    let back2 = authorize(&url).await;
    assert_eq!(
        callback(&mut other, &back2).await,
        "/app/signin?error=browser_mismatch"
    );
    no_session(&s, &mut other, "sub-v").await;
    // The mismatch spent the flow: not even its own browser can finish it now.
    assert_eq!(
        callback(&mut attacker, &back2).await,
        "/app/signin?error=invalid_state"
    );
    no_session(&s, &mut attacker, "sub-v").await;
    assert!(
        s.idp.requests_to("/token").is_empty(),
        "no code was redeemed"
    );
}

async fn a_wrong_or_missing_pkce_verifier_is_refused(backend: Backend) {
    let s = setup(backend).await;
    s.idp.set_user("sub-p", "p@example.test", true, "P");
    let token_url = format!("{}/token", s.idp.issuer());
    for (verifier, said) in [
        (None, "code_verifier is required"),
        (Some("a".repeat(43)), "does not match"),
    ] {
        let mut b = Browser::new();
        let url = start(&s, &mut b, "signin").await;
        let back = authorize(&url).await;
        // Someone redeems the code first, without the verifier Switchyard holds: the provider
        // refuses it (and burns the code).
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", query(&back)["code"].clone()),
            ("redirect_uri", s.app.url(CALLBACK)),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", CLIENT_SECRET.to_owned()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        let response = reqwest::Client::new()
            .post(&token_url)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert!(
            body["error_description"].as_str().unwrap().contains(said),
            "{body}"
        );
        // Switchyard's own redemption then fails, and says so.
        assert_eq!(
            callback(&mut b, &back).await,
            "/app/signin?error=code_rejected"
        );
        assert_eq!(b.cookie, None);
        no_session(&s, &mut b, "sub-p").await;
    }
}

async fn a_provider_error_is_reported(backend: Backend) {
    let s = setup(backend).await;
    let mut b = Browser::new();
    let url = start(&s, &mut b, "signin").await;
    let state = query(&url)["state"].clone();
    let denied = format!("{}?error=access_denied&state={state}", s.app.url(CALLBACK));
    assert_eq!(
        callback(&mut b, &denied).await,
        "/app/signin?error=provider_denied"
    );
    assert_eq!(b.cookie, None);
    // A parameter sent twice is refused outright.
    let url = start(&s, &mut b, "signin").await;
    let back = authorize(&url).await;
    let doubled = format!("{back}&code=again");
    assert_eq!(
        callback(&mut b, &doubled).await,
        "/app/signin?error=invalid_state"
    );
    no_session(&s, &mut b, "104857600000000000001").await;
}

async fn start_checks_provider_purpose_and_origin(backend: Backend) {
    let s = setup(backend).await;
    let mut b = Browser::new();
    let response = b
        .call(
            reqwest::Method::POST,
            &s.app.url("/api/auth/oidc/nope/start"),
            Some(json!({"purpose": "signin"})),
        )
        .await;
    expect_error(response, 404, "resource_not_found").await;
    let response = b
        .call(
            reqwest::Method::POST,
            &s.app.url("/api/auth/oidc/fake/start"),
            Some(json!({"purpose": "steal"})),
        )
        .await;
    expect_error(response, 400, "invalid_request").await;
    // A sign-in started from another site is refused (and sets no cookie).
    let response = s
        .app
        .client
        .post(s.app.url("/api/auth/oidc/fake/start"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"purpose": "signin"}))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("set-cookie").is_none());
    expect_error(response, 403, "csrf_failed").await;
    // Linking without a session.
    let response = b
        .call(
            reqwest::Method::POST,
            &s.app.url("/api/auth/oidc/fake/start"),
            Some(json!({"purpose": "link"})),
        )
        .await;
    assert_eq!(response.status(), 401);
    // Starting a sign-in ends the session the browser had.
    let mut signed_in = Browser::new();
    signup(&s, &mut signed_in, "ann@example.test").await;
    let old = signed_in.cookie.clone();
    start(&s, &mut signed_in, "signin").await;
    let mut stale = Browser::new();
    stale.cookie = old;
    assert_eq!(stale.me(&s.app).await, None);
}

/// A sign-in whose ID token carries `fault` is refused with `code`, leaving no session and no
/// account.
async fn refused_with(backend: Backend, fault: Fault, code: &str) {
    let s = setup(backend).await;
    s.idp.set_user("sub-f", "f@example.test", true, "F");
    s.idp.fail_next(fault);
    let mut b = Browser::new();
    assert_eq!(
        sign_in(&s, &mut b).await,
        format!("/app/signin?error={code}")
    );
    assert_eq!(b.cookie, None, "the pre-session is cleared");
    no_session(&s, &mut b, "sub-f").await;
    assert!(
        s.app
            .store
            .user_by_email("f@example.test")
            .await
            .unwrap()
            .is_none()
    );
    // The next, correct token is accepted: the refusal was about the fault.
    assert_eq!(sign_in(&s, &mut b).await, "/app/");
}

async fn wrong_issuer_is_refused(backend: Backend) {
    refused_with(backend, Fault::WrongIssuer, "id_token_issuer").await;
}

async fn wrong_audience_is_refused(backend: Backend) {
    refused_with(backend, Fault::WrongAudience, "id_token_audience").await;
}

async fn an_expired_token_is_refused(backend: Backend) {
    refused_with(backend, Fault::Expired, "id_token_expired").await;
}

async fn a_wrong_nonce_is_refused(backend: Backend) {
    refused_with(backend, Fault::WrongNonce, "id_token_nonce").await;
}

async fn alg_none_is_refused(backend: Backend) {
    refused_with(backend, Fault::AlgNone, "id_token_algorithm").await;
}

async fn a_bad_signature_is_refused(backend: Backend) {
    refused_with(backend, Fault::BadSignature, "id_token_signature").await;
}

async fn an_unknown_kid_is_refused_after_one_refetch(backend: Backend) {
    let s = setup(backend).await;
    // A first sign-in caches the keys.
    let mut first = Browser::new();
    assert_eq!(sign_in(&s, &mut first).await, "/app/");
    assert_eq!(s.idp.requests_to("/jwks").len(), 1);
    assert_eq!(
        s.idp.requests_to("/.well-known/openid-configuration").len(),
        1,
        "discovery is cached"
    );
    s.idp.set_user("sub-k", "k@example.test", true, "K");
    s.idp.fail_next(Fault::UnknownKid);
    let mut b = Browser::new();
    assert_eq!(
        sign_in(&s, &mut b).await,
        "/app/signin?error=id_token_unknown_key"
    );
    no_session(&s, &mut b, "sub-k").await;
    assert_eq!(
        s.idp.requests_to("/jwks").len(),
        2,
        "fetched once more, then refused"
    );
    // Good tokens go on using the cache.
    assert_eq!(sign_in(&s, &mut b).await, "/app/");
    assert_eq!(s.idp.requests_to("/jwks").len(), 2);
}
