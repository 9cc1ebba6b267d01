//! The operator's channel controls on the real server, both stores (issue 5): the list of
//! channels with their health, overrides of weight, priority and enabled that move traffic at
//! once and reach another replica, the refusals (404, 400, 409, 403), and an ejected channel in
//! the list and in `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{chat, expect_error};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    every_configured_channel_is_listed_with_its_health,
    disabling_a_channel_moves_its_traffic_until_it_is_enabled_again,
    priority_and_weight_overrides_steer_traffic_and_null_restores_the_configuration,
    another_replica_applies_a_change_through_the_refresher,
    bad_changes_are_refused_with_the_reason,
    only_admins_see_or_change_channels,
    an_ejected_channel_is_down_in_the_list_and_in_metrics,
);

const CHANNELS: &str = r#"
[routing]
eject_ms = 60000

[[providers]]
name = "mock-us"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "US"

[[providers]]
name = "mock-de"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "DE"

[[models]]
name = "pair"
aliases = ["couple"]
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
name = "one"
provider = "mock-us"
upstream_model = "gpt-one"
[[models.channels]]
name = "two"
provider = "mock-de"
upstream_model = "gpt-two"
weight = 3
priority = 0

[[models]]
name = "dual"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
name = "good"
provider = "mock-us"
upstream_model = "gpt-good"
[[models.channels]]
name = "bad"
provider = "mock-us"
upstream_model = "fault-500"

[[models]]
name = "solo"
provider = "mock-us"
upstream_model = "gpt-solo"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
"#;

async fn list(app: &TestApp) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/channels"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    body["data"].as_array().unwrap().clone()
}

fn find<'a>(channels: &'a [Value], model: &str, channel: &str) -> &'a Value {
    channels
        .iter()
        .find(|c| c["model"] == model && c["channel"] == channel)
        .unwrap_or_else(|| panic!("{model}/{channel} in {channels:?}"))
}

async fn patch_as(app: &TestApp, key: &str, path: &str, body: &str) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// A successful `PATCH` by the admin; returns the channel as answered.
async fn patch(app: &TestApp, model: &str, channel: &str, body: Value) -> Value {
    let path = format!("/api/channels/{model}/{channel}");
    let response = patch_as(app, &app.admin_key, &path, &body.to_string()).await;
    assert_eq!(response.status(), 200, "{path} {body}");
    response.json().await.unwrap()
}

/// Sends `n` chat requests to `model` one at a time; all must succeed.
async fn send(app: &TestApp, model: &str, n: usize) {
    for _ in 0..n {
        let response = app
            .post("/v1/chat/completions", &app.admin_key, &chat(model, "hi"))
            .await;
        assert_eq!(response.status(), 200, "a request to {model}");
        response.bytes().await.unwrap();
    }
}

async fn every_configured_channel_is_listed_with_its_health(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    let channels = list(&app).await;
    let names: Vec<String> = channels
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["model"].as_str().unwrap(),
                c["channel"].as_str().unwrap()
            )
        })
        .collect();
    // The test configuration's own models follow ours.
    assert_eq!(
        names[..5],
        [
            "pair/one",
            "pair/two",
            "dual/good",
            "dual/bad",
            "solo/mock-us"
        ],
        "configuration order"
    );
    let two = find(&channels, "pair", "two");
    assert_eq!(
        *two,
        json!({
            "object": "channel",
            "model": "pair",
            "channel": "two",
            "provider": "mock-de",
            "upstream_model": "gpt-two",
            "jurisdiction": "DE",
            "weight": 3,
            "priority": 0,
            "enabled": true,
            "state": "healthy",
            "until": null,
            "latency_ms": null,
            "inflight": 0,
            "failures": 0,
            "ejections": 0,
        })
    );
    // After traffic, the moving latency is known.
    send(&app, "solo", 3).await;
    let solo = find(&list(&app).await, "solo", "mock-us").clone();
    assert!(solo["latency_ms"].as_f64().unwrap() > 0.0, "{solo}");
    assert_eq!(solo["inflight"], 0);
    app.shutdown().await;
}

async fn disabling_a_channel_moves_its_traffic_until_it_is_enabled_again(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    let answer = patch(&app, "pair", "two", json!({"enabled": false})).await;
    assert_eq!(answer["enabled"], false);
    assert_eq!(answer["channel"], "two");
    // Still listed, so it can be re-enabled, and kept in the store across restarts.
    assert_eq!(find(&list(&app).await, "pair", "two")["enabled"], false);
    assert!(!app.store.channel_settings().await.unwrap()[0].enabled);

    send(&app, "pair", 50).await;
    assert_eq!(
        app.mock.requests_for("gpt-two"),
        0,
        "a disabled channel serves nothing"
    );
    assert_eq!(app.mock.requests_for("gpt-one"), 50);

    // The alias names the same model.
    let answer = patch(&app, "couple", "two", json!({"enabled": true})).await;
    assert_eq!(
        (answer["model"].as_str(), answer["enabled"].as_bool()),
        (Some("pair"), Some(true))
    );
    send(&app, "pair", 50).await;
    // Weights 1 and 3: "two" gets about three quarters; at least some is certain.
    let two = app.mock.requests_for("gpt-two");
    assert!(two >= 5, "re-enabled, it serves again: {two} of 50");
    app.shutdown().await;
}

async fn priority_and_weight_overrides_steer_traffic_and_null_restores_the_configuration(
    backend: Backend,
) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    // A lower priority makes "two" a fallback only.
    let answer = patch(&app, "pair", "two", json!({"priority": -1, "weight": 7})).await;
    assert_eq!(
        (answer["priority"].as_i64(), answer["weight"].as_i64()),
        (Some(-1), Some(7))
    );
    send(&app, "pair", 30).await;
    assert_eq!(app.mock.requests_for("gpt-two"), 0);
    assert_eq!(app.mock.requests_for("gpt-one"), 30);

    // A field left out keeps its override; null returns to the configured value.
    let answer = patch(&app, "pair", "two", json!({"priority": null})).await;
    assert_eq!(
        (answer["priority"].as_i64(), answer["weight"].as_i64()),
        (Some(0), Some(7))
    );
    let answer = patch(&app, "pair", "two", json!({"weight": null})).await;
    assert_eq!(answer["weight"], 3);
    send(&app, "pair", 30).await;
    assert!(app.mock.requests_for("gpt-two") > 0);

    // Priority above the other's makes "two" the only choice while it is healthy.
    patch(&app, "pair", "one", json!({"priority": -5})).await;
    let before = app.mock.requests_for("gpt-one");
    send(&app, "pair", 30).await;
    assert_eq!(app.mock.requests_for("gpt-one"), before);
    app.shutdown().await;
}

async fn another_replica_applies_a_change_through_the_refresher(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    let replica = app.spawn_replica(CHANNELS).await;
    patch(&app, "pair", "two", json!({"enabled": false})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while find(&list(&replica).await, "pair", "two")["enabled"] != false {
        assert!(
            Instant::now() < deadline,
            "the replica never applied the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send(&replica, "pair", 20).await;
    assert_eq!(replica.mock.requests_for("gpt-two"), 0);
    assert_eq!(replica.mock.requests_for("gpt-one"), 20);
    replica.shutdown().await;
    app.shutdown().await;
}

async fn bad_changes_are_refused_with_the_reason(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    let admin = app.admin_key.clone();
    let refused = |path: &'static str, body: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move { patch_as(app, &admin, path, body).await }
    };
    expect_error(
        refused("/api/channels/nope/one", r#"{"enabled": false}"#).await,
        404,
        "resource_not_found",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/nope", r#"{"enabled": false}"#).await,
        404,
        "resource_not_found",
    )
    .await;
    let error = expect_error(
        refused("/api/channels/pair/one", r#"{"weight": 0}"#).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["param"], "weight");
    expect_error(
        refused("/api/channels/pair/one", r#"{"weight": -1}"#).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/one", r#"{"weight": 1.5}"#).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/one", r#"{"priority": 3000000000}"#).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/one", r#"{"enabled": "no"}"#).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/one", r#"{"wieght": 2}"#).await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/one", "{}").await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        refused("/api/channels/pair/one", "{").await,
        400,
        "invalid_json",
    )
    .await;

    // The last enabled channel of a model cannot be disabled.
    let error = expect_error(
        refused("/api/channels/solo/mock-us", r#"{"enabled": false}"#).await,
        409,
        "conflict",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("last enabled channel"),
        "{error}"
    );
    patch(&app, "pair", "one", json!({"enabled": false})).await;
    expect_error(
        refused("/api/channels/pair/two", r#"{"enabled": false}"#).await,
        409,
        "conflict",
    )
    .await;
    // Once another is enabled, it can be.
    patch(&app, "pair", "one", json!({"enabled": true})).await;
    patch(&app, "pair", "two", json!({"enabled": false})).await;

    // Nothing refused was stored.
    let stored = app.store.channel_settings().await.unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    let two = find(&list(&app).await, "pair", "two").clone();
    assert_eq!(
        (two["weight"].as_i64(), two["enabled"].as_bool()),
        (Some(3), Some(false))
    );
    send(&app, "solo", 1).await;
    app.shutdown().await;
}

async fn only_admins_see_or_change_channels(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    let (_, key) = app.user_with_key("user@example.com", json!({})).await;
    let response = app
        .client
        .get(app.url("/api/channels"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    expect_error(response, 403, "admin_required").await;
    let response = patch_as(
        &app,
        &key,
        "/api/channels/pair/two",
        r#"{"enabled": false}"#,
    )
    .await;
    expect_error(response, 403, "admin_required").await;
    let response = app
        .client
        .get(app.url("/api/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(app.store.channel_settings().await.unwrap().is_empty());
    app.shutdown().await;
}

async fn an_ejected_channel_is_down_in_the_list_and_in_metrics(backend: Backend) {
    let app = TestApp::spawn_with(backend, CHANNELS).await;
    // One at a time: the failing channel is ejected after 5 failures in a row, each retried
    // on the good one.
    send(&app, "dual", 40).await;
    let failures = app.mock.requests_for("fault-500");
    assert!((1..=5).contains(&failures), "{failures}");

    let channels = list(&app).await;
    let bad = find(&channels, "dual", "bad");
    assert_eq!(bad["state"], "ejected", "{bad}");
    let now = switchyard_gateway::pipeline_now_millis();
    assert!(bad["until"].as_i64().unwrap() > now, "{bad}");
    assert_eq!(bad["failures"].as_u64(), Some(failures as u64));
    assert_eq!(bad["ejections"], 1);
    assert_eq!(find(&channels, "dual", "good")["state"], "healthy");

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    for expected in [
        r#"switchyard_channel_up{model="dual",channel="bad"} 0"#,
        r#"switchyard_channel_up{model="dual",channel="good"} 1"#,
        r#"switchyard_channel_enabled{model="dual",channel="bad"} 1"#,
        "# TYPE switchyard_channel_up gauge",
    ] {
        assert!(lines.contains(&expected), "`{expected}` in\n{metrics}");
    }
    // Disabling an ejected channel keeps its breaker: re-enabled, it is still ejected.
    patch(&app, "dual", "bad", json!({"enabled": false})).await;
    let bad = patch(&app, "dual", "bad", json!({"enabled": true})).await;
    assert_eq!(bad["state"], "ejected");
    app.shutdown().await;
}
