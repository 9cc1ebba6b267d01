//! Operator-managed providers and models on the real server, both stores: a provider added
//! through `/api/admin/providers` and pointed at the mock upstream passes its connection test,
//! a model added on it is listed in `/v1/models` at once, serves chat and is charged exactly
//! its prices (and the new ones after an edit), reaches a second replica through the snapshot
//! refresher; keys are never answered nor stored in plaintext; and the refusals (400 naming the
//! field, 404, 409, 403).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{chat, expect_error, request_id};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchyard_core::Nanos;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    a_provider_and_a_model_added_through_the_api_serve_and_charge_their_prices,
    connection_tests_report_failures_without_the_key,
    keys_are_never_answered_nor_stored_in_plaintext,
    a_provider_in_use_cannot_be_deleted,
    another_replica_serves_the_new_model_after_its_refresh,
    only_admins_manage_the_catalogue,
    bad_input_is_refused_naming_the_field,
    configured_entries_are_listed_read_only,
);

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// An admin call that must answer `status`; returns its body.
async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let response = send(app, method.clone(), path, &app.admin_key, body.clone()).await;
    let got = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{method} {path} {body:?} answered {text}");
    serde_json::from_str(&text).unwrap()
}

/// Adds the provider `name` pointed at `app`'s mock with its key.
async fn add_provider(app: &TestApp, name: &str) -> Value {
    let body = json!({
        "name": name,
        "kind": "openai",
        "base_url": app.mock.base_url(),
        "api_key": app.mock.api_key(),
        "jurisdiction": "de",
        "retains_prompts": false,
        "trains_on_prompts": false,
        "first_byte_timeout_ms": 10_000,
    });
    admin(
        app,
        reqwest::Method::POST,
        "/api/admin/providers",
        Some(body),
        201,
    )
    .await
}

/// Adds the chat model `name` on `provider` at $1.50 in and $2.25 out per million tokens.
async fn add_model(app: &TestApp, name: &str, provider: &str) -> Value {
    let body = json!({
        "name": name,
        "provider": provider,
        "upstream_model": "gpt-operator",
        "aliases": [format!("{name}-alias")],
        "input_usd_per_mtok": "1.5",
        "output_usd_per_mtok": "2.25",
    });
    admin(
        app,
        reqwest::Method::POST,
        "/api/admin/models",
        Some(body),
        201,
    )
    .await
}

async fn model_ids(app: &TestApp, key: &str) -> Vec<String> {
    let response = send(app, reqwest::Method::GET, "/v1/models", key, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A chat request that must succeed; returns the log row's (prompt, completion, cost).
async fn chat_cost(app: &TestApp, key: &str, model: &str) -> (u64, u64, Nanos, String) {
    let response = app
        .post("/v1/chat/completions", key, &chat(model, "hi"))
        .await;
    let id = request_id(&response);
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.bytes().await.unwrap();
    let row = app.log_row(&id).await;
    (
        row.prompt_tokens,
        row.completion_tokens,
        row.cost,
        row.provider.unwrap_or_default(),
    )
}

/// ceil((prompt × input + completion × output) / 1e6), the documented cost rule.
fn expected(prompt: u64, completion: u64, input: i64, output: i64) -> Nanos {
    let total =
        i128::from(prompt) * i128::from(input) + i128::from(completion) * i128::from(output);
    Nanos(i64::try_from((total + 999_999) / 1_000_000).unwrap())
}

async fn a_provider_and_a_model_added_through_the_api_serve_and_charge_their_prices(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (_, user_key) = app.user_with_key("buyer@example.com", json!({})).await;

    let provider = add_provider(&app, "acme").await;
    assert_eq!(provider["source"], "api");
    assert_eq!(provider["jurisdiction"], "DE", "codes are upper-cased");
    assert_eq!(provider["api_key_set"], true);
    let tested = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/acme/test",
        None,
        200,
    )
    .await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["status"], 200);
    assert!(tested["latency_ms"].is_u64());

    let model = add_model(&app, "acme-chat", "acme").await;
    assert_eq!(model["input_usd_per_mtok"], "1.50");
    assert_eq!(model["output_usd_per_mtok"], "2.25");
    assert_eq!(
        model["cached_input_usd_per_mtok"], "1.50",
        "defaults to the input price"
    );
    assert_eq!(model["channels"][0]["jurisdiction"], "DE");
    assert_eq!(model["serving"], true);

    // Listed to consumers at once, by name, in `/v1/models` and the dashboard's `/api/models`
    // with the provider's jurisdiction; the alias serves too.
    assert!(
        model_ids(&app, &user_key)
            .await
            .contains(&"acme-chat".to_owned())
    );
    let response = send(&app, reqwest::Method::GET, "/api/models", &user_key, None).await;
    assert_eq!(response.status(), 200);
    let catalogue: Value = response.json().await.unwrap();
    let listed = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "acme-chat")
        .unwrap_or_else(|| panic!("acme-chat in {catalogue}"));
    assert_eq!(listed["jurisdictions"], json!(["DE"]), "{listed}");
    let (prompt, completion, cost, served_by) = chat_cost(&app, &user_key, "acme-chat").await;
    assert_eq!(served_by, "acme");
    assert!(completion > 0);
    assert_eq!(
        cost,
        expected(prompt, completion, 1_500_000_000, 2_250_000_000)
    );
    assert_eq!(
        app.mock.last_request().unwrap().body["model"],
        "gpt-operator",
        "the upstream model name is sent"
    );
    chat_cost(&app, &user_key, "acme-chat-alias").await;

    // A new price applies from the next request.
    let patched = admin(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/models/acme-chat",
        Some(json!({"input_usd_per_mtok": "0.000001", "output_usd_per_mtok": "7"})),
        200,
    )
    .await;
    assert_eq!(patched["input_usd_per_mtok"], "0.000001");
    assert_eq!(
        patched["cached_input_usd_per_mtok"], "0.000001",
        "it followed the input price"
    );
    let (prompt, completion, cost, _) = chat_cost(&app, &user_key, "acme-chat").await;
    assert_eq!(cost, expected(prompt, completion, 1_000, 7_000_000_000));

    // Deleted: gone from the list and from routing.
    admin(
        &app,
        reqwest::Method::DELETE,
        "/api/admin/models/acme-chat",
        None,
        200,
    )
    .await;
    assert!(
        !model_ids(&app, &user_key)
            .await
            .contains(&"acme-chat".to_owned())
    );
    let response = app
        .post("/v1/chat/completions", &user_key, &chat("acme-chat", "hi"))
        .await;
    assert_eq!(response.status(), 404);
    app.shutdown().await;
}

async fn connection_tests_report_failures_without_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_provider(&app, "acme").await;
    let wrong = "sk-wrong-0123456789-secret";
    admin(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/providers/acme",
        Some(json!({"api_key": wrong})),
        200,
    )
    .await;
    let tested = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/acme/test",
        None,
        200,
    )
    .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["status"], 401);
    let message = tested["message"].as_str().unwrap();
    assert!(message.contains("api_key"), "{message}");
    assert!(!tested.to_string().contains(wrong));

    let dead = "sk-dead-0123456789-secret";
    let body = json!({
        "name": "nowhere",
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": dead,
    });
    admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers",
        Some(body),
        201,
    )
    .await;
    let tested = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/nowhere/test",
        None,
        200,
    )
    .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert_eq!(tested["status"], Value::Null);
    assert!(!tested["message"].as_str().unwrap().is_empty());
    assert!(!tested.to_string().contains(dead));

    // A configured provider can be tested too; an unknown one is a 404.
    let tested = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/mock/test",
        None,
        200,
    )
    .await;
    assert_eq!(tested["ok"], true, "{tested}");
    let response = send(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/ghost/test",
        &app.admin_key,
        None,
    )
    .await;
    expect_error(response, 404, "resource_not_found").await;
    app.shutdown().await;
}

async fn keys_are_never_answered_nor_stored_in_plaintext(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.mock.api_key().to_owned();
    let mut answers = vec![add_provider(&app, "acme").await];
    answers.push(
        admin(
            &app,
            reqwest::Method::PATCH,
            "/api/admin/providers/acme",
            Some(json!({"jurisdiction": "FR"})),
            200,
        )
        .await,
    );
    answers.push(
        admin(
            &app,
            reqwest::Method::GET,
            "/api/admin/providers",
            None,
            200,
        )
        .await,
    );
    answers.push(add_model(&app, "acme-chat", "acme").await);
    answers.push(admin(&app, reqwest::Method::GET, "/api/admin/models", None, 200).await);
    for answer in &answers {
        assert!(!answer.to_string().contains(&key), "the key in {answer}");
    }
    // The key survived the edit that did not send it, and only its last four are shown.
    assert_eq!(answers[1]["api_key_set"], true);
    assert_eq!(answers[1]["api_key_last4"], key[key.len() - 4..]);
    assert!(answers[1].get("api_key").is_none());
    let (_, user_key) = app.user_with_key("u@example.com", json!({})).await;
    chat_cost(&app, &user_key, "acme-chat").await;

    // What the store holds: sealed bytes, never the key.
    let stored = app.store.stored_catalog().await.unwrap();
    let sealed = stored.providers[0].api_key_sealed.clone().unwrap();
    assert!(!sealed.windows(key.len()).any(|w| w == key.as_bytes()));
    assert!(
        sealed.len() >= key.len() + 12 + 16,
        "nonce, ciphertext and tag"
    );
    // On SQLite, nowhere in the database files either.
    if let Some(dir) = app.sqlite_dir() {
        for file in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()));
        }
    }

    // `null` removes the key.
    let cleared = admin(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/providers/acme",
        Some(json!({"api_key": null})),
        200,
    )
    .await;
    assert_eq!(cleared["api_key_set"], false);
    assert_eq!(cleared["api_key_last4"], Value::Null);
    let tested = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/acme/test",
        None,
        200,
    )
    .await;
    assert_eq!(tested["status"], 401, "{tested}");
    app.shutdown().await;
}

async fn a_provider_in_use_cannot_be_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_provider(&app, "acme").await;
    add_model(&app, "acme-chat", "acme").await;
    let response = send(
        &app,
        reqwest::Method::DELETE,
        "/api/admin/providers/acme",
        &app.admin_key,
        None,
    )
    .await;
    let error = expect_error(response, 409, "conflict").await;
    assert!(
        error["message"].as_str().unwrap().contains("acme-chat"),
        "{error}"
    );
    let listed = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/providers",
        None,
        200,
    )
    .await;
    let acme = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme")
        .unwrap()
        .clone();
    assert_eq!(acme["models"], json!(["acme-chat"]));

    admin(
        &app,
        reqwest::Method::DELETE,
        "/api/admin/models/acme-chat",
        None,
        200,
    )
    .await;
    admin(
        &app,
        reqwest::Method::DELETE,
        "/api/admin/providers/acme",
        None,
        200,
    )
    .await;
    let response = send(
        &app,
        reqwest::Method::DELETE,
        "/api/admin/providers/acme",
        &app.admin_key,
        None,
    )
    .await;
    expect_error(response, 404, "resource_not_found").await;
    let listed = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/providers",
        None,
        200,
    )
    .await;
    assert!(!listed.to_string().contains("\"acme\""));
    app.shutdown().await;
}

async fn another_replica_serves_the_new_model_after_its_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The user first, so the replica knows the key from its start.
    let (_, user_key) = app.user_with_key("r@example.com", json!({})).await;
    let replica = app.spawn_replica("").await;
    add_provider(&app, "acme").await;
    add_model(&app, "acme-chat", "acme").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !model_ids(&replica, &user_key)
        .await
        .contains(&"acme-chat".to_owned())
    {
        assert!(
            Instant::now() < deadline,
            "the replica never listed the model"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replica.refresh_balances().await;
    let (prompt, completion, cost, _) = chat_cost(&replica, &user_key, "acme-chat").await;
    assert_eq!(
        cost,
        expected(prompt, completion, 1_500_000_000, 2_250_000_000)
    );
    // The replica decrypted the key: the mock accepted it.
    assert_eq!(
        replica
            .gateway()
            .catalog()
            .provider("acme")
            .unwrap()
            .provider
            .api_key
            .as_ref()
            .unwrap()
            .expose(),
        app.mock.api_key()
    );
    replica.shutdown().await;
    app.shutdown().await;
}

async fn only_admins_manage_the_catalogue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user_key) = app.user_with_key("plain@example.com", json!({})).await;
    let calls = [
        (reqwest::Method::GET, "/api/admin/providers", None),
        (
            reqwest::Method::POST,
            "/api/admin/providers",
            Some(json!({"name": "x", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"})),
        ),
        (
            reqwest::Method::PATCH,
            "/api/admin/providers/x",
            Some(json!({"zdr": true})),
        ),
        (reqwest::Method::DELETE, "/api/admin/providers/x", None),
        (
            reqwest::Method::POST,
            "/api/admin/providers/mock/test",
            None,
        ),
        (reqwest::Method::GET, "/api/admin/models", None),
        (
            reqwest::Method::POST,
            "/api/admin/models",
            Some(
                json!({"name": "y", "provider": "mock", "input_usd_per_mtok": "1", "output_usd_per_mtok": "1"}),
            ),
        ),
        (
            reqwest::Method::PATCH,
            "/api/admin/models/y",
            Some(json!({"aliases": []})),
        ),
        (reqwest::Method::DELETE, "/api/admin/models/y", None),
    ];
    for (method, path, body) in calls {
        let response = send(&app, method, path, &user_key, body).await;
        expect_error(response, 403, "admin_required").await;
    }
    assert_eq!(app.store.stored_catalog().await.unwrap().providers.len(), 0);
    app.shutdown().await;
}

async fn bad_input_is_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_provider(&app, "acme").await;
    let provider = |extra: Value| {
        let mut body =
            json!({"name": "p2", "kind": "openai", "base_url": "https://api.example.com/v1"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let model = |extra: Value| {
        let mut body = json!({"name": "m2", "provider": "acme", "input_usd_per_mtok": "1", "output_usd_per_mtok": "2"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            "/api/admin/providers",
            provider(json!({"kind": "demo"})),
            400,
            "kind",
        ),
        (
            "/api/admin/providers",
            provider(json!({"kind": "cohere"})),
            400,
            "kind",
        ),
        (
            "/api/admin/providers",
            provider(json!({"base_url": "ftp://example.com"})),
            400,
            "base_url",
        ),
        (
            "/api/admin/providers",
            provider(json!({"base_url": "not a url"})),
            400,
            "base_url",
        ),
        (
            "/api/admin/providers",
            provider(json!({"jurisdiction": "Europe"})),
            400,
            "jurisdiction",
        ),
        (
            "/api/admin/providers",
            provider(json!({"name": ""})),
            400,
            "name",
        ),
        (
            "/api/admin/providers",
            provider(json!({"api_key": ""})),
            400,
            "api_key",
        ),
        (
            "/api/admin/providers",
            provider(json!({"total_timeout_ms": 0})),
            400,
            "total_timeout_ms",
        ),
        (
            "/api/admin/providers",
            provider(json!({"zdr": true, "retains_prompts": true})),
            400,
            "zdr",
        ),
        (
            "/api/admin/providers",
            provider(json!({"name": "acme"})),
            409,
            "name",
        ),
        (
            "/api/admin/providers",
            provider(json!({"name": "mock"})),
            409,
            "name",
        ),
        (
            "/api/admin/models",
            model(json!({"kind": "image"})),
            400,
            "kind",
        ),
        (
            "/api/admin/models",
            model(json!({"input_usd_per_mtok": "-1"})),
            400,
            "input_usd_per_mtok",
        ),
        (
            "/api/admin/models",
            model(json!({"output_usd_per_mtok": 0.5})),
            400,
            "output_usd_per_mtok",
        ),
        (
            "/api/admin/models",
            model(json!({"input_usd_per_mtok": "0.0000000001"})),
            400,
            "input_usd_per_mtok",
        ),
        (
            "/api/admin/models",
            model(json!({"provider": "ghost"})),
            400,
            "provider",
        ),
        (
            "/api/admin/models",
            model(json!({"name": "mock-chat"})),
            409,
            "name",
        ),
        (
            "/api/admin/models",
            model(json!({"aliases": ["mock-embed"]})),
            409,
            "aliases",
        ),
        (
            "/api/admin/models",
            json!({"name": "m3", "provider": "acme", "input_usd_per_mtok": "1"}),
            400,
            "output_usd_per_mtok",
        ),
        (
            "/api/admin/models",
            json!({"name": "m3", "channels": [{"provider": "acme", "weight": 0}], "input_usd_per_mtok": "1", "output_usd_per_mtok": "1"}),
            400,
            "channels[0].weight",
        ),
        (
            "/api/admin/models",
            json!({"name": "m3", "channels": [{"provider": "ghost"}], "input_usd_per_mtok": "1", "output_usd_per_mtok": "1"}),
            400,
            "channels[0].provider",
        ),
    ];
    for (path, body, status, param) in cases {
        let response = send(
            &app,
            reqwest::Method::POST,
            path,
            &app.admin_key,
            Some(body.clone()),
        )
        .await;
        let code = if status == 400 {
            "invalid_request"
        } else {
            "conflict"
        };
        let error = expect_error(response, status, code).await;
        assert_eq!(error["param"], param, "{body} → {error}");
    }
    // An unknown field is refused too.
    let response = send(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers",
        &app.admin_key,
        Some(provider(json!({"api_key_env": "X"}))),
    )
    .await;
    expect_error(response, 400, "invalid_request").await;
    // Nothing was stored but the first provider.
    let stored = app.store.stored_catalog().await.unwrap();
    assert_eq!((stored.providers.len(), stored.models.len()), (1, 0));
    // Edits of what does not exist, or of what the configuration owns.
    let response = send(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/models/ghost",
        &app.admin_key,
        Some(json!({"aliases": []})),
    )
    .await;
    expect_error(response, 404, "resource_not_found").await;
    let response = send(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/models/mock-chat",
        &app.admin_key,
        Some(json!({"aliases": []})),
    )
    .await;
    expect_error(response, 409, "conflict").await;
    let response = send(
        &app,
        reqwest::Method::DELETE,
        "/api/admin/providers/mock",
        &app.admin_key,
        None,
    )
    .await;
    expect_error(response, 409, "conflict").await;
    app.shutdown().await;
}

async fn configured_entries_are_listed_read_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_provider(&app, "acme").await;
    add_model(&app, "acme-chat", "acme").await;
    let providers = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/providers",
        None,
        200,
    )
    .await;
    let providers = providers["data"].as_array().unwrap();
    let mock = providers.iter().find(|p| p["name"] == "mock").unwrap();
    assert_eq!(mock["source"], "config");
    assert_eq!(mock["api_key_set"], true);
    assert_eq!(
        providers.last().unwrap()["name"],
        "acme",
        "stored ones follow"
    );
    let models = admin(&app, reqwest::Method::GET, "/api/admin/models", None, 200).await;
    let models = models["data"].as_array().unwrap();
    let chat_model = models.iter().find(|m| m["name"] == "mock-chat").unwrap();
    assert_eq!(chat_model["source"], "config");
    assert_eq!(chat_model["input_usd_per_mtok"], "0.15");
    assert_eq!(chat_model["channels"][0]["provider"], "mock");
    let last = models.last().unwrap();
    assert_eq!(
        (last["name"].as_str(), last["source"].as_str()),
        (Some("acme-chat"), Some("api"))
    );
    app.shutdown().await;
}
