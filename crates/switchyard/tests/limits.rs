//! Spend limits per key and per user, through the management API and the inference API, on
//! both stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::expect_error;
use serde_json::{Value, json};
use switchyard_core::Nanos;
use switchyard_core::limits::{Scope, Window, period};
use switchyard_store::{Backend, SpendCounter};
use switchyard_testkit::TestApp;

on_both_stores!(
    a_key_over_its_daily_limit_gets_429_with_reset_headers,
    a_user_limit_spans_all_their_keys,
    spending_seen_elsewhere_counts_after_a_reload,
    the_limits_api_checks_input_and_ownership,
);

const PRICED: &str = common::CENT_MODEL;

fn cent() -> Value {
    json!({"model": "cent-chat", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})
}

async fn put(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn a_key_over_its_daily_limit_gets_429_with_reset_headers(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICED).await;
    let (_, key) = app.user_with_key("daily@example.com", json!({})).await;
    let keys: Value = app
        .client
        .get(app.url("/api/keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let response = put(
        &app,
        &format!("/api/keys/{key_id}/limits"),
        &key,
        json!({"daily_usd": "0.05"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let limits: Value = response.json().await.unwrap();
    assert_eq!(limits["daily"]["limit_usd"], "0.05");
    for _ in 0..5 {
        let response = app.post("/v1/chat/completions", &key, &cent()).await;
        assert_eq!(response.status(), 200);
    }
    let response = app.post("/v1/chat/completions", &key, &cent()).await;
    let headers = response.headers().clone();
    let error = expect_error(response, 429, "spend_limit_exceeded").await;
    assert_eq!(error["type"], "insufficient_quota");
    assert!(
        error["message"].as_str().unwrap().contains("daily"),
        "{error}"
    );
    assert_eq!(headers["x-ratelimit-limit-usd"], "0.05");
    assert_eq!(headers["x-ratelimit-remaining-usd"], "0.00");
    assert_eq!(headers["x-ratelimit-scope"], "key/day");
    let now = switchyard_gateway::pipeline_now_millis();
    let reset: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    let expected = (period(Window::Day, now).ends.unwrap() - now) / 1_000;
    assert!(
        (reset - expected).abs() <= 2,
        "resets at the next UTC midnight: {reset} vs {expected}"
    );
    assert_eq!(headers["x-ratelimit-reset-usd"], format!("{reset}s"));
    // The counters reached the store with the log rows.
    app.gateway().flushed().await;
    let counters = app
        .store
        .spend_counters(&[period(Window::Day, now).label])
        .await
        .unwrap();
    let mine = counters
        .iter()
        .find(|c| c.scope == Scope::Key && c.owner == key_id)
        .unwrap();
    assert_eq!(mine.spent, Nanos(50_000_000));
    // Lifting the limit lets the key through again at once.
    let response = put(&app, &format!("/api/keys/{key_id}/limits"), &key, json!({})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.post("/v1/chat/completions", &key, &cent())
            .await
            .status(),
        200
    );
    app.shutdown().await;
}

async fn a_user_limit_spans_all_their_keys(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICED).await;
    let (user, key_a) = app.user_with_key("spans@example.com", json!({})).await;
    let key_b = app.create_key(json!({"user_id": user})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = put(
        &app,
        &format!("/api/admin/users/{user}/limits"),
        &app.admin_key,
        json!({"total_usd": "0.03", "monthly_usd": "1"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    for key in [&key_a, &key_b, &key_a] {
        assert_eq!(
            app.post("/v1/chat/completions", key, &cent())
                .await
                .status(),
            200
        );
    }
    let response = app.post("/v1/chat/completions", &key_b, &cent()).await;
    let headers = response.headers().clone();
    expect_error(response, 429, "spend_limit_exceeded").await;
    assert_eq!(headers["x-ratelimit-scope"], "user/total");
    assert!(
        headers.get("retry-after").is_none(),
        "a total limit does not reset"
    );
    let limits: Value = app
        .client
        .get(app.url(&format!("/api/admin/users/{user}/limits")))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limits["total"]["used_usd"], "0.03");
    assert_eq!(limits["monthly"]["used_usd"], "0.03");
    app.shutdown().await;
}

/// Another replica (or this node before a restart) spent; after a reload it counts here.
async fn spending_seen_elsewhere_counts_after_a_reload(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICED).await;
    let (user, key) = app.user_with_key("elsewhere@example.com", json!({})).await;
    let response = put(
        &app,
        &format!("/api/admin/users/{user}/limits"),
        &app.admin_key,
        json!({"monthly_usd": "0.10"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.post("/v1/chat/completions", &key, &cent())
            .await
            .status(),
        200
    );
    app.gateway().flushed().await;
    let now = switchyard_gateway::pipeline_now_millis();
    // With the $0.01 already counted in the store, $0.10 of $0.10 is used.
    app.store
        .add_spend(&[SpendCounter {
            scope: Scope::User,
            owner: user.clone(),
            period: period(Window::Month, now).label,
            spent: Nanos(90_000_000),
        }])
        .await
        .unwrap();
    app.gateway().reload_limits().await.unwrap();
    let response = app.post("/v1/chat/completions", &key, &cent()).await;
    expect_error(response, 429, "spend_limit_exceeded").await;
    app.shutdown().await;
}

async fn the_limits_api_checks_input_and_ownership(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, key) = app.user_with_key("owner@example.com", json!({})).await;
    let (_, other) = app.user_with_key("other@example.com", json!({})).await;
    let keys: Value = app
        .client
        .get(app.url("/api/keys"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = keys["data"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/keys/{key_id}/limits");
    expect_error(
        put(&app, &path, &key, json!({"daily_usd": "-1"})).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        put(&app, &path, &key, json!({"daily_usd": "lots"})).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        put(&app, &path, &key, json!({"hourly_usd": "1"})).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        put(&app, &path, &other, json!({"daily_usd": "1"})).await,
        404,
        "resource_not_found",
    )
    .await;
    let user_path = format!("/api/admin/users/{user}/limits");
    expect_error(
        put(&app, &user_path, &key, json!({"total_usd": "1"})).await,
        403,
        "admin_required",
    )
    .await;
    expect_error(
        put(
            &app,
            "/api/admin/users/nope/limits",
            &app.admin_key,
            json!({}),
        )
        .await,
        404,
        "resource_not_found",
    )
    .await;
    app.shutdown().await;
}
