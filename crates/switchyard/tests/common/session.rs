//! A signed-in browser for the integration suites: its session cookie and CSRF token, and
//! requests sent the way the dashboard sends them.

#![allow(dead_code)]

use serde_json::{Value, json};
use switchyard_core::UserId;
use switchyard_testkit::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser: its cookie (`name=value`) and CSRF token.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
    pub user: UserId,
}

pub async fn post_json(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn browser(response: reqwest::Response) -> Browser {
    assert!(response.status().is_success(), "{}", response.status());
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user: body["user"]["id"].as_str().unwrap().parse().unwrap(),
    }
}

pub async fn signup(app: &TestApp, email: &str) -> Browser {
    browser(
        post_json(
            app,
            "/api/auth/signup",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
    )
    .await
}

pub async fn signin(app: &TestApp, email: &str) -> reqwest::Response {
    post_json(
        app,
        "/api/auth/signin",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
}

/// A browser's request, with its CSRF token as the dashboard sends it.
pub fn request(
    app: &TestApp,
    b: &Browser,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    request_without_csrf(app, b, method, path).header("x-csrf-token", &b.csrf)
}

/// A browser's request without its CSRF token (reads, and writes that must be refused).
pub fn request_without_csrf(
    app: &TestApp,
    b: &Browser,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("cookie", &b.cookie)
        .header("sec-fetch-site", "same-origin")
}

/// `GET path` as the browser sends it, which must answer 200; the JSON body.
pub async fn get_json(app: &TestApp, b: &Browser, path: &str) -> Value {
    let response = request_without_csrf(app, b, reqwest::Method::GET, path)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

pub async fn delete_account(app: &TestApp, b: &Browser, body: Value) -> reqwest::Response {
    request(app, b, reqwest::Method::DELETE, "/api/account")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A key for the browser's user, made through the session.
pub async fn key_of(app: &TestApp, b: &Browser) -> String {
    let response = request(app, b, reqwest::Method::POST, "/api/keys")
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}
