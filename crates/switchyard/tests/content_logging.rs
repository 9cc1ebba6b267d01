//! Content logging (`privacy.content_logging`, docs/configuration.md): prompts and completions
//! are stored only for a key an operator turned it on for, and never on a deployment that says
//! `never`. The marker tests send a unique string through every kind of request and then prove
//! it is in no row of any table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

mod common;

use common::{expect_error, request_id};
use serde_json::{Value, json};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    nothing_is_stored_for_a_key_with_the_flag_off,
    nothing_is_stored_under_never_even_for_an_old_flag,
    an_enabled_key_stores_exactly_its_own_requests,
    never_refuses_to_enable_it,
    only_an_operator_may_enable_it,
    a_never_deployment_clears_old_flags_at_start,
);

const NEVER: &str = "[privacy]\ncontent_logging = \"never\"\n";

/// A string that appears nowhere unless this test put it there.
fn marker(tag: &str) -> String {
    let unique = switchyard_core::RequestId::new()
        .to_string()
        .replace('-', "");
    format!("zqmarker{tag}{unique}")
}

/// How a request is sent and how its answer text is read back.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Chat,
    ChatStream,
    Messages,
    MessagesStream,
}

/// One request of each kind: OpenAI chat (plain and streamed) to the mock in OpenAI's format
/// and to the built-in demo provider, Anthropic Messages (plain and streamed) to the mock in
/// Anthropic's format and, translated, to the mock in OpenAI's.
const CASES: &[(Kind, &str)] = &[
    (Kind::Chat, "mock-chat"),
    (Kind::ChatStream, "mock-chat"),
    (Kind::ChatStream, "demo-chat"),
    (Kind::Messages, "claude-chat"),
    (Kind::MessagesStream, "claude-chat"),
    (Kind::MessagesStream, "mock-chat"),
];

/// A sent request: its id and the answer text the client received.
struct Sent {
    id: String,
    answer: String,
}

async fn send(app: &TestApp, key: &str, kind: Kind, model: &str, prompt: &str) -> Sent {
    let stream = matches!(kind, Kind::ChatStream | Kind::MessagesStream);
    let (path, body) = match kind {
        Kind::Chat | Kind::ChatStream => (
            "/v1/chat/completions",
            json!({"model": model, "stream": stream,
                   "messages": [{"role": "user", "content": prompt}]}),
        ),
        Kind::Messages | Kind::MessagesStream => (
            "/v1/messages",
            json!({"model": model, "stream": stream, "max_tokens": 64,
                   "messages": [{"role": "user", "content": prompt}]}),
        ),
    };
    let response = app.post(path, key, &body).await;
    assert_eq!(response.status(), 200, "{kind:?} {model}");
    let id = request_id(&response);
    let text = response.text().await.unwrap();
    let answer = answer_text(kind, &text);
    assert!(
        !answer.is_empty(),
        "{kind:?} {model} answered nothing: {text}"
    );
    Sent { id, answer }
}

/// The assistant's text in an answer body, however it was shaped.
fn answer_text(kind: Kind, body: &str) -> String {
    let events = || {
        common::sse_data(body)
            .into_iter()
            .filter_map(|d| serde_json::from_str::<Value>(&d).ok())
    };
    match kind {
        Kind::Chat => {
            let v: Value = serde_json::from_str(body).unwrap();
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        }
        Kind::ChatStream => events()
            .filter_map(|e| {
                e["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect(),
        Kind::Messages => {
            let v: Value = serde_json::from_str(body).unwrap();
            v["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect()
        }
        Kind::MessagesStream => events()
            .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
            .collect(),
    }
}

/// Sends every case with `prompt`; waits until each request's log row, and everything queued
/// with it (a captured exchange included), is written.
async fn send_all(app: &TestApp, key: &str, prompt: &str) -> Vec<Sent> {
    let mut sent = Vec::new();
    for &(kind, model) in CASES {
        sent.push(send(app, key, kind, model, prompt).await);
    }
    settle(app, &sent).await;
    sent
}

async fn settle(app: &TestApp, sent: &[Sent]) {
    for s in sent {
        app.log_row(&s.id).await;
    }
    app.gateway().flushed().await;
}

/// Asserts that neither the marker nor any answer text is stored anywhere.
async fn assert_stored_nowhere(app: &TestApp, marker: &str, sent: &[Sent]) {
    let dump = app.store.dump_text().await.unwrap();
    assert!(
        dump.lines().any(|l| l.starts_with("request_logs:")),
        "the dump reads the log rows"
    );
    assert!(!dump.contains(marker), "the marker is stored:\n{dump}");
    for s in sent {
        assert!(
            !dump.contains(s.answer.trim()),
            "the answer `{}` of {} is stored",
            s.answer,
            s.id
        );
    }
    assert!(!dump.contains("content_logs:"), "a content row exists");
}

async fn patch_key(app: &TestApp, auth: &str, id: &str, on: bool) -> reqwest::Response {
    reqwest::Client::new()
        .patch(app.url(&format!("/api/keys/{id}")))
        .bearer_auth(auth)
        .json(&json!({"log_content": on}))
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, auth: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(auth)
        .send()
        .await
        .unwrap()
}

/// A user with a key; returns (key id, key secret).
async fn user_key(app: &TestApp, email: &str) -> (String, String) {
    let (user_id, secret) = app.user_with_key(email, json!({"name": "k"})).await;
    let keys: Value = get(app, &app.admin_key, &format!("/api/keys?user_id={user_id}"))
        .await
        .json()
        .await
        .unwrap();
    let key = &keys["data"][0];
    assert_eq!(key["log_content"], false, "every key starts off: {key}");
    (key["id"].as_str().unwrap().to_owned(), secret)
}

async fn nothing_is_stored_for_a_key_with_the_flag_off(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, key) = user_key(&app, "off@example.com").await;
    let marker = marker("off");
    let sent = send_all(&app, &key, &format!("{marker} tell me something")).await;
    // The mock echoes the prompt's first words (the demo provider does not), so five of the
    // six answers carry the marker too: it must vanish from the answers as well.
    assert_eq!(
        sent.iter().filter(|s| s.answer.contains(&marker)).count(),
        5
    );
    assert_stored_nowhere(&app, &marker, &sent).await;
    // And after a graceful shutdown drained the writer, still nothing.
    let stopped = app.shutdown().await;
    assert!(!stopped.dump_text().await.unwrap().contains(&marker));
}

async fn nothing_is_stored_under_never_even_for_an_old_flag(backend: Backend) {
    let app = TestApp::spawn_with(backend, NEVER).await;
    let (key_id, key) = user_key(&app, "never@example.com").await;
    // Off, as every key starts.
    let marker_off = marker("neveroff");
    let mut sent = send_all(&app, &key, &format!("{marker_off} tell me something")).await;
    // A flag left on in the store (a row from before the mode changed, or written by a process
    // configured otherwise) must capture nothing either.
    assert!(
        app.store
            .set_key_log_content(key_id.parse().unwrap(), true)
            .await
            .unwrap()
    );
    app.gateway().reload_access().await.unwrap();
    let marker_on = marker("neveron");
    sent.extend(send_all(&app, &key, &format!("{marker_on} tell me something")).await);
    assert_stored_nowhere(&app, &marker_off, &sent).await;
    assert_stored_nowhere(&app, &marker_on, &sent).await;
    // The API shows what happens: the key captures nothing.
    let shown: Value = get(&app, &app.admin_key, &format!("/api/keys/{key_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["log_content"], false, "{shown}");
}

async fn an_enabled_key_stores_exactly_its_own_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (on_id, on_key) = user_key(&app, "on@example.com").await;
    let (_, off_key) = user_key(&app, "stays-off@example.com").await;
    let me: Value = get(&app, &app.admin_key, "/api/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["privacy"]["content_logging"], "per_key", "{me}");

    let response = patch_key(&app, &app.admin_key, &on_id, true).await;
    assert_eq!(response.status(), 200);
    let shown: Value = response.json().await.unwrap();
    assert_eq!(shown["log_content"], true, "{shown}");

    let on_marker = marker("on");
    let plain = send(
        &app,
        &on_key,
        Kind::Chat,
        "mock-chat",
        &format!("{on_marker} plain"),
    )
    .await;
    let stream_marker = marker("onstream");
    let streamed = send(
        &app,
        &on_key,
        Kind::MessagesStream,
        "claude-chat",
        &format!("{stream_marker} streamed"),
    )
    .await;
    let off_marker = marker("other");
    let other = send(
        &app,
        &off_key,
        Kind::Chat,
        "mock-chat",
        &format!("{off_marker} other"),
    )
    .await;
    for s in [&plain, &streamed, &other] {
        app.log_row(&s.id).await;
    }
    app.gateway().flushed().await;

    // Each marker of the enabled key is in its own request's content row and nowhere else:
    // with both captured bodies cut out of the dump, no marker is left.
    let mut dump = app.store.dump_text().await.unwrap();
    for (marker, s) in [(&on_marker, &plain), (&stream_marker, &streamed)] {
        let captured = app
            .store
            .content_log(s.id.parse().unwrap())
            .await
            .unwrap()
            .expect("the enabled key's request is captured");
        assert!(captured.request_body.contains(marker.as_str()));
        let response = captured.response_body.expect("an answer was sent");
        assert!(response.contains(marker.as_str()), "the echoed answer");
        assert_eq!(
            dump.matches(marker.as_str()).count(),
            2,
            "request and answer"
        );
        dump = dump
            .replace(&captured.request_body, "")
            .replace(&response, "");
    }
    assert!(!dump.contains(&on_marker) && !dump.contains(&stream_marker));
    assert_eq!(dump.matches("content_logs: ").count(), 2, "one row each");
    assert!(
        !dump.contains(&off_marker),
        "another key's prompt is stored"
    );
    assert!(!dump.contains(other.answer.trim()));

    // The operator reads it back; the body is the request as sent and the answer as received.
    let content: Value = get(
        &app,
        &app.admin_key,
        &format!("/api/admin/content/{}", plain.id),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(content["request_id"], plain.id.as_str());
    assert_eq!(content["key_id"], on_id.as_str());
    assert_eq!(content["truncated"], false);
    let request: Value = serde_json::from_str(content["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(
        request["messages"][0]["content"],
        format!("{on_marker} plain")
    );
    let answer: Value = serde_json::from_str(content["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        plain.answer.as_str()
    );
    // A stream is stored as the bytes relayed, events and all.
    let content: Value = get(
        &app,
        &app.admin_key,
        &format!("/api/admin/content/{}", streamed.id),
    )
    .await
    .json()
    .await
    .unwrap();
    let relayed = content["response_body"].as_str().unwrap();
    assert_eq!(
        answer_text(Kind::MessagesStream, relayed),
        streamed.answer,
        "{relayed}"
    );
    assert!(relayed.contains("message_stop"), "the stream's end is kept");

    // Not for the user whose key it is; not for a request that captured nothing.
    let response = get(&app, &on_key, &format!("/api/admin/content/{}", plain.id)).await;
    expect_error(response, 403, "admin_required").await;
    let response = get(
        &app,
        &app.admin_key,
        &format!("/api/admin/content/{}", other.id),
    )
    .await;
    expect_error(response, 404, "resource_not_found").await;

    // Turned off again, it stops at once; and what is queued is drained at shutdown.
    assert_eq!(
        patch_key(&app, &app.admin_key, &on_id, false)
            .await
            .status(),
        200
    );
    let after = marker("after");
    let late = send(&app, &on_key, Kind::Chat, "mock-chat", &after).await;
    assert_eq!(
        patch_key(&app, &app.admin_key, &on_id, true).await.status(),
        200
    );
    let last = marker("last");
    let drained = send(&app, &on_key, Kind::ChatStream, "mock-chat", &last).await;
    let stopped = app.shutdown().await;
    let dump = stopped.dump_text().await.unwrap();
    assert!(!dump.contains(&after), "captured after it was turned off");
    assert!(!dump.contains(late.answer.trim()));
    assert!(
        stopped
            .content_log(drained.id.parse().unwrap())
            .await
            .unwrap()
            .is_some_and(|c| c.request_body.contains(&last)),
        "a capture queued at shutdown is drained"
    );
}

async fn never_refuses_to_enable_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, NEVER).await;
    let (key_id, _) = user_key(&app, "locked@example.com").await;
    let me: Value = get(&app, &app.admin_key, "/api/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["privacy"]["content_logging"], "never", "{me}");

    let response = patch_key(&app, &app.admin_key, &key_id, true).await;
    let error = expect_error(response, 409, "content_logging_locked").await;
    assert_eq!(error["param"], "log_content");
    let response = app
        .post(
            "/api/keys",
            &app.admin_key,
            &json!({"name": "wants content", "log_content": true}),
        )
        .await;
    expect_error(response, 409, "content_logging_locked").await;
    // Turning it off is always allowed.
    assert_eq!(
        patch_key(&app, &app.admin_key, &key_id, false)
            .await
            .status(),
        200
    );
    let stored = app
        .store
        .key_by_id(key_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.log_content);
    assert!(
        !app.store
            .dump_text()
            .await
            .unwrap()
            .contains("wants content")
    );
}

async fn only_an_operator_may_enable_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (key_id, key) = user_key(&app, "owner@example.com").await;
    let response = patch_key(&app, &key, &key_id, true).await;
    expect_error(response, 403, "admin_required").await;
    let response = app
        .post("/api/keys", &key, &json!({"log_content": true}))
        .await;
    expect_error(response, 403, "admin_required").await;
    let stored = app
        .store
        .key_by_id(key_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.log_content, "the owner turned it on");
    let keys = app.store.list_keys(None).await.unwrap();
    assert!(keys.iter().all(|k| !k.log_content), "{keys:?}");
    // The owner's requests are still not captured.
    let marker = marker("owner");
    let sent = send_all(&app, &key, &marker).await;
    assert_stored_nowhere(&app, &marker, &sent).await;
}

async fn a_never_deployment_clears_old_flags_at_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (key_id, key) = user_key(&app, "old@example.com").await;
    assert_eq!(
        patch_key(&app, &app.admin_key, &key_id, true)
            .await
            .status(),
        200
    );
    // A replica configured `never` starts on the same database: the old flag goes.
    let locked = app.spawn_replica(NEVER).await;
    let stored = app
        .store
        .key_by_id(key_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.log_content, "the flag survived a `never` start");
    let marker = marker("replica");
    let sent = send_all(&locked, &key, &marker).await;
    assert_stored_nowhere(&locked, &marker, &sent).await;
}

/// `switchyard key create --log-content`: an operator's way to create a capturing key, refused
/// where the configuration says `never` (here through its environment override).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_flag_follows_the_deployments_mode() {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-content-cli-{}",
        switchyard_core::RequestId::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str], never: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command
            .args(args)
            .current_dir(&dir)
            .env_remove("DATABASE_URL");
        if never {
            command.env("SWITCHYARD_PRIVACY_CONTENT_LOGGING", "never");
        }
        command.output().unwrap()
    };
    let created = run(&["user", "create", "--email", "cli@example.com"], false);
    assert!(created.status.success());
    let key = [
        "key",
        "create",
        "--user",
        "cli@example.com",
        "--log-content",
    ];
    let refused = run(&key, true);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("locked off"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(refused.stdout.is_empty(), "no key printed");
    let made = run(&key, false);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let plain = run(&["key", "create", "--user", "cli@example.com"], true);
    assert!(plain.status.success(), "a key without content is fine");

    let store = switchyard_store::Store::connect(&format!(
        "sqlite://{}",
        dir.join("switchyard-data/switchyard.db").display()
    ))
    .await
    .unwrap();
    let flags: Vec<bool> = store
        .list_keys(None)
        .await
        .unwrap()
        .iter()
        .map(|k| k.log_content)
        .collect();
    // Newest first: the plain key, then the capturing one; the refused one was never made.
    assert_eq!(flags, [false, true]);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
