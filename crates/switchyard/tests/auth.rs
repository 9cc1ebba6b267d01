//! Accounts for people through `/api/auth`, on both stores: sign-up, sign-in and sign-out with
//! a session cookie, CSRF on every state-changing request of a session, password change and
//! reset ending sessions, emailed links, throttling, and the management API reached with a
//! session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::expect_error;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    signup_me_signout,
    wrong_password_and_unknown_email_answer_alike,
    the_cookie_is_host_only_http_only_and_lax,
    csrf_is_required_on_state_changing_session_requests,
    a_password_change_ends_every_other_session,
    an_address_is_verified_through_the_mailed_link,
    a_reset_link_sets_the_password_and_ends_sessions,
    sign_in_is_throttled_and_the_throttle_expires,
    a_session_creates_an_api_key_and_admin_routes_stay_closed,
    profile_edits_are_validated,
    an_unknown_email_takes_as_long_as_a_wrong_password,
    an_idle_session_ends,
    reset_mails_are_limited_per_address,
);

const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser: its cookie (`name=value`) and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

/// The `name=value` of the response's one `Set-Cookie`, and the whole header.
fn set_cookie(response: &reqwest::Response) -> (String, String) {
    let all: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(all.len(), 1, "exactly one cookie: {all:?}");
    let header = all[0].to_str().unwrap().to_owned();
    let pair = header.split(';').next().unwrap().to_owned();
    (pair, header)
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn signup(app: &TestApp, email: &str) -> Browser {
    let response = post_json(
        app,
        "/api/auth/signup",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let (cookie, _) = set_cookie(&response);
    let body: Value = response.json().await.unwrap();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

async fn signin(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post_json(
        app,
        "/api/auth/signin",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let response = signin(app, email, password).await;
    assert_eq!(response.status(), 200);
    let (cookie, _) = set_cookie(&response);
    let body: Value = response.json().await.unwrap();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

/// A request as the browser sends it: the cookie, and the CSRF token for non-GET methods.
fn request(
    app: &TestApp,
    b: &Browser,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let builder = app
        .client
        .request(method.clone(), app.url(path))
        .header("cookie", &b.cookie)
        .header("sec-fetch-site", "same-origin");
    if method == reqwest::Method::GET {
        builder
    } else {
        builder.header("x-csrf-token", &b.csrf)
    }
}

async fn me(app: &TestApp, b: &Browser) -> reqwest::Response {
    request(app, b, reqwest::Method::GET, "/api/auth/me")
        .send()
        .await
        .unwrap()
}

/// The newest mail to `to`, waited for (mail is sent in the background).
async fn mail_to(app: &TestApp, to: &str) -> switchyard::app::Mail {
    for _ in 0..250 {
        if let Some(mail) = app.outbox.last_to(to) {
            return mail;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail to {to} after 5 s");
}

fn token_of(mail: &switchyard::app::Mail) -> String {
    assert!(mail.body.contains(&mail.link), "the link is in the body");
    mail.link.split("token=").nth(1).unwrap().to_owned()
}

async fn signup_me_signout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = signup(&app, "Ann@Example.com").await;
    let response = me(&app, &ann).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["role"], "user");
    assert_eq!(body["authenticated_by"], "session");
    assert_eq!(body["csrf_token"], ann.csrf.as_str());
    assert_eq!(body["profile"]["email_verified"], false);

    let response = request(&app, &ann, reqwest::Method::POST, "/api/auth/signout")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (cleared, header) = set_cookie(&response);
    assert_eq!(cleared, "sy_session=");
    assert!(header.contains("Max-Age=0"), "{header}");
    expect_error(me(&app, &ann).await, 401, "invalid_session").await;

    // Signing in again gives a new id; the old one stays dead.
    let again = signed_in(&app, "ann@example.com", PASSWORD).await;
    assert_ne!(again.cookie, ann.cookie);
    assert_eq!(me(&app, &again).await.status(), 200);
    // Signing up twice with one address is a conflict.
    let response = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "ann@example.com", "password": PASSWORD}),
    )
    .await;
    expect_error(response, 409, "conflict").await;
    // A short password is refused, saying the minimum.
    let response = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "bob@example.com", "password": "short"}),
    )
    .await;
    let error = expect_error(response, 400, "invalid_request").await;
    assert!(error["message"].as_str().unwrap().contains("12"), "{error}");
    assert_eq!(error["param"], "password");
}

async fn wrong_password_and_unknown_email_answer_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    signup(&app, "ann@example.com").await;
    let wrong = signin(&app, "ann@example.com", "not the password at all").await;
    let unknown = signin(&app, "nobody@example.com", "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let (wrong, unknown): (Value, Value) =
        (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(wrong, unknown, "identical bodies");
    assert_eq!(wrong["error"]["code"], "invalid_credentials");
    // Reset requests answer the same whether or not the address has an account.
    let known = post_json(
        &app,
        "/api/auth/reset/request",
        json!({"email": "ann@example.com"}),
    )
    .await;
    let unknown = post_json(
        &app,
        "/api/auth/reset/request",
        json!({"email": "nobody@example.com"}),
    )
    .await;
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.status(), 202);
    assert_eq!(
        known.json::<Value>().await.unwrap(),
        unknown.json::<Value>().await.unwrap()
    );
}

async fn the_cookie_is_host_only_http_only_and_lax(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "c@example.com", "password": PASSWORD}),
    )
    .await;
    let (pair, header) = set_cookie(&response);
    assert!(
        pair.starts_with("sy_session="),
        "plain http: no __Host- prefix"
    );
    assert_eq!(
        pair.len(),
        "sy_session=".len() + 43,
        "256 bits in base64url"
    );
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=2592000"] {
        assert!(header.contains(attribute), "{attribute} in {header}");
    }
    assert!(!header.contains("Domain"), "host-only: {header}");
    assert!(!header.contains("Secure"), "not over plain http: {header}");

    // Served over https, the cookie is `__Host-` and `Secure`.
    let tls =
        TestApp::spawn_with(backend, "[server]\npublic_url = \"https://ai.example.com\"").await;
    let response = post_json(
        &tls,
        "/api/auth/signup",
        json!({"email": "c@example.com", "password": PASSWORD}),
    )
    .await;
    let (pair, header) = set_cookie(&response);
    assert!(pair.starts_with("__Host-sy_session="), "{header}");
    assert!(
        header.ends_with("; Secure") && header.contains("Path=/"),
        "{header}"
    );
}

async fn csrf_is_required_on_state_changing_session_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = signup(&app, "ann@example.com").await;
    let patch = |token: Option<&str>, site: &str| {
        let mut builder = app
            .client
            .patch(app.url("/api/auth/profile"))
            .header("cookie", &ann.cookie)
            .header("sec-fetch-site", site)
            .json(&json!({"display_name": "Ann"}));
        if let Some(token) = token {
            builder = builder.header("x-csrf-token", token);
        }
        builder.send()
    };
    expect_error(
        patch(None, "same-origin").await.unwrap(),
        403,
        "csrf_failed",
    )
    .await;
    expect_error(
        patch(Some("wrong-token"), "same-origin").await.unwrap(),
        403,
        "csrf_failed",
    )
    .await;
    expect_error(
        patch(Some(&ann.csrf), "cross-site").await.unwrap(),
        403,
        "csrf_failed",
    )
    .await;
    expect_error(
        patch(Some(&ann.csrf), "same-site").await.unwrap(),
        403,
        "csrf_failed",
    )
    .await;
    let body: Value = me(&app, &ann).await.json().await.unwrap();
    assert_eq!(
        body["profile"]["display_name"],
        Value::Null,
        "nothing changed"
    );
    assert_eq!(
        patch(Some(&ann.csrf), "same-origin")
            .await
            .unwrap()
            .status(),
        200
    );
    // Without Sec-Fetch-Site (an older browser, a script), the token alone decides.
    let response = app
        .client
        .patch(app.url("/api/auth/profile"))
        .header("cookie", &ann.cookie)
        .header("x-csrf-token", &ann.csrf)
        .json(&json!({"display_name": "Ann B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A forged cross-site sign-in is refused before any password is checked.
    let response = app
        .client
        .post(app.url("/api/auth/signin"))
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "csrf_failed").await;
    // An API key needs no CSRF token, even with a cookie beside it.
    let (_, key) = app.user_with_key("bob@example.com", json!({})).await;
    let response = app
        .client
        .patch(app.url("/api/auth/profile"))
        .bearer_auth(&key)
        .header("cookie", &ann.cookie)
        .json(&json!({"display_name": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "bob@example.com", "the key wins");
    assert_eq!(body["authenticated_by"], "key");
}

async fn a_password_change_ends_every_other_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let laptop = signup(&app, "ann@example.com").await;
    let phone = signed_in(&app, "ann@example.com", PASSWORD).await;
    let new_password = "an entirely new passphrase";
    let response = request(&app, &laptop, reqwest::Method::POST, "/api/auth/password")
        .json(&json!({"current": "not the current one", "new": new_password}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 400, "invalid_request").await;
    assert_eq!(error["param"], "current");

    let response = request(&app, &laptop, reqwest::Method::POST, "/api/auth/password")
        .json(&json!({"current": PASSWORD, "new": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (cookie, _) = set_cookie(&response);
    let body: Value = response.json().await.unwrap();
    let fresh = Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    };
    expect_error(me(&app, &phone).await, 401, "invalid_session").await;
    expect_error(me(&app, &laptop).await, 401, "invalid_session").await;
    assert_eq!(me(&app, &fresh).await.status(), 200);
    assert_eq!(
        signin(&app, "ann@example.com", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        signin(&app, "ann@example.com", new_password).await.status(),
        200
    );
}

async fn an_address_is_verified_through_the_mailed_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = signup(&app, "ann@example.com").await;
    let mail = mail_to(&app, "ann@example.com").await;
    assert!(
        mail.link
            .starts_with(&format!("{}/verify-email?token=", app.base_url)),
        "links start with server.public_url (default http://<listen>): {}",
        mail.link
    );
    let token = token_of(&mail);
    let response = post_json(&app, "/api/auth/verify", json!({"token": "forged"})).await;
    expect_error(response, 400, "invalid_request").await;
    let response = post_json(&app, "/api/auth/verify", json!({"token": token})).await;
    assert_eq!(response.status(), 200);
    let body: Value = me(&app, &ann).await.json().await.unwrap();
    assert_eq!(body["profile"]["email_verified"], true);
    // A link works once.
    let response = post_json(&app, "/api/auth/verify", json!({"token": token})).await;
    expect_error(response, 400, "invalid_request").await;
    // Asking again once verified sends nothing.
    let sent = app.outbox.sent().len();
    let response = request(
        &app,
        &ann,
        reqwest::Method::POST,
        "/api/auth/verify/request",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.outbox.sent().len(), sent);
}

async fn a_reset_link_sets_the_password_and_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = signup(&app, "ann@example.com").await;
    let verify_mail = mail_to(&app, "ann@example.com").await;
    let response = post_json(
        &app,
        "/api/auth/reset/request",
        json!({"email": "ANN@example.com"}),
    )
    .await;
    assert_eq!(response.status(), 202);
    let mut mail = mail_to(&app, "ann@example.com").await;
    for _ in 0..250 {
        if mail != verify_mail {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        mail = mail_to(&app, "ann@example.com").await;
    }
    assert!(
        mail.link.contains("/reset-password?token="),
        "{}",
        mail.link
    );
    let token = token_of(&mail);
    // A verification token is not a reset token.
    let response = post_json(
        &app,
        "/api/auth/reset",
        json!({"token": token_of(&verify_mail), "password": "a brand new passphrase"}),
    )
    .await;
    expect_error(response, 400, "invalid_request").await;
    let response = post_json(
        &app,
        "/api/auth/reset",
        json!({"token": token, "password": "a brand new passphrase"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    expect_error(me(&app, &ann).await, 401, "invalid_session").await;
    assert_eq!(
        signin(&app, "ann@example.com", PASSWORD).await.status(),
        401
    );
    let again = signed_in(&app, "ann@example.com", "a brand new passphrase").await;
    let body: Value = me(&app, &again).await.json().await.unwrap();
    assert_eq!(
        body["profile"]["email_verified"], true,
        "the reset mail proved it"
    );
    let response = post_json(
        &app,
        "/api/auth/reset",
        json!({"token": token, "password": "yet another passphrase"}),
    )
    .await;
    expect_error(response, 400, "invalid_request").await;
}

async fn sign_in_is_throttled_and_the_throttle_expires(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[sessions]\nsignin_window_s = 1\nsignin_failures_per_account = 3\nsignin_failures_per_address = 100",
    )
    .await;
    signup(&app, "ann@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            signin(&app, "ann@example.com", "wrong password!!")
                .await
                .status(),
            401
        );
    }
    // Throttled, even with the right password, and for an unknown address alike.
    let response = signin(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(response.headers()["retry-after"], "1");
    expect_error(response, 429, "too_many_attempts").await;
    for _ in 0..3 {
        signin(&app, "nobody@example.com", "wrong password!!").await;
    }
    expect_error(
        signin(&app, "nobody@example.com", "wrong password!!").await,
        429,
        "too_many_attempts",
    )
    .await;
    // Another account is not affected; the owner gets in once the window has passed.
    assert_eq!(
        signin(&app, "bob@example.com", "wrong password!!")
            .await
            .status(),
        401
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        signin(&app, "ann@example.com", PASSWORD).await.status(),
        200
    );
}

async fn a_session_creates_an_api_key_and_admin_routes_stay_closed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = signup(&app, "ann@example.com").await;
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("cookie", &ann.cookie)
        .json(&json!({"name": "from the browser"}))
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "csrf_failed").await;
    let response = request(&app, &ann, reqwest::Method::POST, "/api/keys")
        .json(&json!({"name": "from the browser"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let me_body: Value = me(&app, &ann).await.json().await.unwrap();
    assert_eq!(created["user_id"], me_body["user"]["id"]);
    // The key works on the inference API (new-user credit is not configured, so it is
    // authenticated and then refused for want of balance, not for its key).
    let key = created["key"].as_str().unwrap();
    let response = app
        .post(
            "/v1/chat/completions",
            key,
            &common::chat("demo-chat", "hi"),
        )
        .await;
    assert_ne!(response.status(), 401, "the key authenticates");
    // Listing works with GET and no token.
    let response = request(&app, &ann, reqwest::Method::GET, "/api/keys")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // Admin routes are an admin's, whatever the way in.
    let response = request(&app, &ann, reqwest::Method::GET, "/api/users")
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "admin_required").await;
    let response = request(&app, &ann, reqwest::Method::POST, "/api/users")
        .json(&json!({"email": "eve@example.com", "role": "admin"}))
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "admin_required").await;
    // No credentials at all: 401, naming both ways in.
    let response = app.client.get(app.url("/api/keys")).send().await.unwrap();
    let error = expect_error(response, 401, "invalid_api_key").await;
    assert!(
        error["message"].as_str().unwrap().contains("Sign in"),
        "{error}"
    );
}

async fn profile_edits_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = signup(&app, "ann@example.com").await;
    let patch = |body: Value| {
        request(&app, &ann, reqwest::Method::PATCH, "/api/auth/profile")
            .json(&body)
            .send()
    };
    let response = patch(json!({"display_name": " Ann ", "language": "tr"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["profile"]["display_name"], "Ann");
    assert_eq!(body["profile"]["language"], "tr");
    // Left out: kept; null: cleared.
    let body: Value = patch(json!({"display_name": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["profile"]["display_name"], Value::Null);
    assert_eq!(body["profile"]["language"], "tr");
    let error = expect_error(
        patch(json!({"language": "xx"})).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["param"], "language");
    let long = "x".repeat(101);
    let error = expect_error(
        patch(json!({"display_name": long})).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["param"], "display_name");
    expect_error(
        patch(json!({"company": "Acme"})).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
}

async fn an_unknown_email_takes_as_long_as_a_wrong_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    signup(&app, "ann@example.com").await;
    // Warm up: the first unknown email also builds the dummy hash.
    signin(&app, "warm@example.com", "wrong password!!").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..3 {
        let started = std::time::Instant::now();
        assert_eq!(
            signin(&app, "ann@example.com", "wrong password!!")
                .await
                .status(),
            401
        );
        wrong.push(started.elapsed());
        let started = std::time::Instant::now();
        let email = format!("nobody{i}@example.com");
        assert_eq!(signin(&app, &email, "wrong password!!").await.status(), 401);
        unknown.push(started.elapsed());
    }
    wrong.sort();
    unknown.sort();
    // Without the dummy hash an unknown email answers many times faster (no argon2 at all);
    // with it the two are alike. A third leaves room for a busy machine.
    assert!(
        unknown[1] * 3 >= wrong[1],
        "unknown email {unknown:?} vs wrong password {wrong:?}"
    );
}

async fn an_idle_session_ends(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[sessions]\nidle_timeout_s = 1").await;
    let ann = signup(&app, "ann@example.com").await;
    assert_eq!(me(&app, &ann).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    expect_error(me(&app, &ann).await, 401, "invalid_session").await;
    // Signing in again works, with a new session.
    let again = signed_in(&app, "ann@example.com", PASSWORD).await;
    assert_eq!(me(&app, &again).await.status(), 200);
}

async fn reset_mails_are_limited_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    signup(&app, "ann@example.com").await;
    let resets = || {
        app.outbox
            .sent()
            .iter()
            .filter(|m| m.to == "ann@example.com" && m.link.contains("/reset-password"))
            .count()
    };
    for _ in 0..7 {
        let response = post_json(
            &app,
            "/api/auth/reset/request",
            json!({"email": "ann@example.com"}),
        )
        .await;
        assert_eq!(response.status(), 202, "the same answer, limited or not");
    }
    for _ in 0..250 {
        if resets() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The two over the limit were dropped before any work; give a stray one time to show.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(resets(), 5, "five reset mails an hour");
}
