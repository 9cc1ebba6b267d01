//! The management API, the operational endpoints, graceful shutdown and the log's promises.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{chat, chat_stream, expect_error, request_id};
use serde_json::{Value, json};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    management_api_respects_roles,
    keys_are_stored_only_as_hashes,
    metrics_and_readiness,
    shutdown_drains_every_log_row,
    log_rows_hold_metadata_only,
);

async fn management_api_respects_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice_id, alice_key) = app
        .user_with_key("alice@example.com", json!({"name": "alice-1"}))
        .await;
    // A user cannot create users or list everyone.
    expect_error(
        app.post("/api/users", &alice_key, &json!({"email": "x@example.com"}))
            .await,
        403,
        "admin_required",
    )
    .await;
    expect_error(
        app.client
            .get(app.url("/api/users"))
            .bearer_auth(&alice_key)
            .send()
            .await
            .unwrap(),
        403,
        "admin_required",
    )
    .await;
    // A user manages their own keys.
    let own = app
        .post("/api/keys", &alice_key, &json!({"name": "alice-2"}))
        .await;
    assert_eq!(own.status(), 201);
    let own: Value = own.json().await.unwrap();
    assert_eq!(own["user_id"], alice_id.as_str());
    let mine: Value = app
        .client
        .get(app.url("/api/keys"))
        .bearer_auth(&alice_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["data"].as_array().unwrap().len(), 2);
    assert!(
        mine["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("key").is_none()),
        "secrets are never listed"
    );
    // …but not anyone else's: the admin's keys are invisible to Alice.
    let admin_keys: Value = app
        .client
        .get(app.url("/api/keys"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_key_id = admin_keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["user_id"] != alice_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    expect_error(
        app.client
            .delete(app.url(&format!("/api/keys/{admin_key_id}")))
            .bearer_auth(&alice_key)
            .send()
            .await
            .unwrap(),
        404,
        "resource_not_found",
    )
    .await;
    expect_error(
        app.post("/api/keys", &alice_key, &json!({"user_id": app.admin_id}))
            .await,
        403,
        "admin_required",
    )
    .await;
    // Validation errors are 400s in the same shape; duplicates are 409.
    expect_error(
        app.post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "not-an-email"}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        app.post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "ALICE@example.com"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    expect_error(
        app.post("/api/keys", &app.admin_key, &json!({"nme": "typo"}))
            .await,
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        app.client
            .delete(app.url("/api/keys/not-a-uuid"))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap(),
        404,
        "resource_not_found",
    )
    .await;
}

async fn keys_are_stored_only_as_hashes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_key(json!({"name": "secret-check"})).await;
    let secret = created["key"].as_str().unwrap().to_owned();
    let dump = app.store.dump_text().await.unwrap();
    assert!(
        !dump.contains(&secret),
        "the key secret is not in the database"
    );
    assert!(!dump.contains(&app.admin_key), "nor the bootstrap key");
    assert!(!dump.contains(&secret[6..]), "nor its random part");
    assert!(
        dump.contains(created["prefix"].as_str().unwrap()),
        "the visible prefix is"
    );
}

async fn metrics_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The OpenAPI document is served without a key, as JSON.
    let openapi = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status(), 200);
    let doc: serde_json::Value = openapi.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/chat/completions"]["post"].is_object());
    app.post(
        "/v1/chat/completions",
        &app.admin_key,
        &chat("mock-chat", "hi"),
    )
    .await
    .text()
    .await
    .unwrap();
    app.post(
        "/v1/chat/completions",
        &app.admin_key,
        &chat_stream("mock-chat", "hi"),
    )
    .await
    .text()
    .await
    .unwrap();
    app.post(
        "/v1/chat/completions",
        &app.admin_key,
        &chat("fault-500", "hi"),
    )
    .await
    .text()
    .await
    .unwrap();
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "switchyard_requests_total",
        "switchyard_request_duration_seconds_bucket",
        "switchyard_time_to_first_token_seconds_bucket",
        "switchyard_tokens_total",
        "switchyard_cost_nanousd_total",
        "switchyard_upstream_errors_total",
    ] {
        assert!(text.contains(name), "{name} in /metrics");
    }
    assert!(text.contains("model=\"mock-chat\""));
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
}

async fn shutdown_drains_every_log_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    let bodies: Vec<Value> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                chat("demo-chat", "hi")
            } else {
                chat_stream("mock-chat", "hi")
            }
        })
        .collect();
    let requests: Vec<_> = bodies
        .iter()
        .map(|body| app.post("/v1/chat/completions", &app.admin_key, body))
        .collect();
    for response in futures_util::future::join_all(requests).await {
        ids.push(request_id(&response));
        response.text().await.unwrap();
    }
    // Shut down at once: rows still queued in the writer must reach the database.
    let store = app.shutdown().await;
    for id in &ids {
        let filter = switchyard_store::LogFilter {
            request_id: Some(id.parse().unwrap()),
            limit: 1,
            ..Default::default()
        };
        assert_eq!(
            store.list_request_logs(&filter).await.unwrap().len(),
            1,
            "row {id} was written"
        );
    }
    assert_eq!(store.count_request_logs().await.unwrap(), 40);
}

async fn log_rows_hold_metadata_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let marker = format!("PRIVATE-MARKER-{}", std::process::id());
    let prompt = format!("my secret is {marker}");
    for body in [
        chat("mock-chat", &prompt),
        chat_stream("demo-chat", &prompt),
        chat("no-such-model", &prompt),
        json!({"model": "mock-embed", "input": prompt}),
    ] {
        let path = if body.get("input").is_some() {
            "/v1/embeddings"
        } else {
            "/v1/chat/completions"
        };
        app.post(path, &app.admin_key, &body)
            .await
            .text()
            .await
            .unwrap();
    }
    let sqlite_dir = app.sqlite_dir();
    let store = app.shutdown().await;
    assert_eq!(store.count_request_logs().await.unwrap(), 4);
    let dump = store.dump_text().await.unwrap();
    assert!(!dump.contains(&marker), "prompt text is stored nowhere");
    assert!(
        !dump.contains("Mock answer"),
        "completion text is stored nowhere"
    );
    // SQLite: not even in free pages or the write-ahead log.
    for entry in sqlite_dir
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
    {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "marker in a database file"
        );
    }
}
