//! Routing on the real server, both stores (issue 5's proofs): fallback past a failing
//! channel and its ejection, the retry budget under a flaky upstream with every success charged
//! once, a hung upstream's 504 and voided hold, fail-closed jurisdiction policies, and
//! latency-aware selection. The graceful drain of 200 streams is in `drain.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{balance, chat, expect_error, request_id, settled};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchyard_core::ledger::{AccountId, Phase};
use switchyard_core::{Nanos, UserId};
use switchyard_store::{Backend, LogFilter};
use switchyard_testkit::TestApp;

on_both_stores!(
    a_failing_channel_is_ejected_and_every_request_succeeds,
    an_ejected_channel_is_probed_and_restored,
    a_flaky_upstream_gets_bounded_retries_and_each_success_is_charged_once,
    a_hung_upstream_times_out_at_the_deadline_and_its_hold_is_voided,
    a_client_that_leaves_cancels_the_upstream_request_at_once,
    a_channel_past_its_own_first_byte_deadline_falls_back,
    a_stream_that_opens_with_an_error_is_retried_elsewhere,
    a_jurisdiction_policy_never_reaches_another_jurisdiction,
    the_faster_channel_gets_most_of_the_traffic,
    preferences_aliases_prefixes_and_fallback_models,
);

/// Providers at the mock in three jurisdictions, and the models of these tests.
const ROUTED: &str = r#"
[routing]
eject_ms = 60000

[[providers]]
name = "mock-us"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "US"
trains_on_prompts = false

[[providers]]
name = "mock-cn"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "CN"

[[providers]]
name = "mock-de"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "DE"
trains_on_prompts = false
retains_prompts = false

[[providers]]
name = "mock-hung"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "US"
first_byte_timeout_ms = 30000
total_timeout_ms = 2000

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
name = "flaky"
provider = "mock-us"
upstream_model = "fault-flaky-503"
input_usd_per_mtok = 1
output_usd_per_mtok = 2

[[models]]
name = "hung"
provider = "mock-hung"
upstream_model = "fault-hang"
input_usd_per_mtok = 1
output_usd_per_mtok = 2

[[models]]
name = "cn-only"
provider = "mock-cn"
upstream_model = "gpt-cn-only"
input_usd_per_mtok = 1
output_usd_per_mtok = 2

[[models]]
name = "world"
aliases = ["anywhere"]
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
provider = "mock-us"
upstream_model = "gpt-world-us"
[[models.channels]]
provider = "mock-cn"
upstream_model = "gpt-world-cn"
input_usd_per_mtok = 0.5
output_usd_per_mtok = 1
[[models.channels]]
provider = "mock-de"
upstream_model = "gpt-world-de"
priority = -1

[[models]]
name = "impatient"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
name = "slow-head"
provider = "mock-us"
upstream_model = "fault-slow-first-byte"
first_byte_timeout_ms = 300
[[models.channels]]
name = "backup"
provider = "mock-us"
upstream_model = "gpt-backup"
priority = -1

[[models]]
name = "opens-with-error"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
name = "broken"
provider = "mock-us"
upstream_model = "fault-early-stream-error"
[[models.channels]]
name = "backup"
provider = "mock-us"
upstream_model = "gpt-backup-stream"
priority = -1

[[models]]
name = "lat"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
name = "fast"
provider = "mock-us"
upstream_model = "latency-10-gpt"
[[models.channels]]
name = "slow"
provider = "mock-us"
upstream_model = "latency-50-gpt"
"#;

/// Sends `n` copies of `body` at concurrency `c`; returns the responses' statuses and
/// jurisdiction headers.
async fn blast(app: &TestApp, key: &str, body: Value, n: usize, c: usize) -> Vec<(u16, String)> {
    stream::iter(0..n)
        .map(|_| {
            let body = body.clone();
            async move {
                let response = app.post("/v1/chat/completions", key, &body).await;
                let status = response.status().as_u16();
                let jurisdiction = response
                    .headers()
                    .get("x-switchyard-jurisdiction")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                response.bytes().await.unwrap();
                (status, jurisdiction)
            }
        })
        .buffer_unordered(c)
        .collect()
        .await
}

/// Two channels, one failing every request with 500: all 1,000 requests succeed, and the
/// failing channel sees at most 5 requests (the breaker's threshold) before it is ejected.
async fn a_failing_channel_is_ejected_and_every_request_succeeds(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let key = app.admin_key.clone();
    // One at a time, so "after ≤ 5 failures" is exact (with concurrency, requests already in
    // flight when the fifth failure lands would still arrive).
    let results = blast(&app, &key, chat("dual", "hi"), 1_000, 1).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1_000, "every request succeeds");
    let failures = app.mock.requests_for("fault-500");
    assert!(
        (1..=5).contains(&failures),
        "{failures} requests reached the failing channel"
    );
    assert_eq!(app.mock.requests_for("gpt-good"), 1_000);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchyard_channel_ejections_total")
                && l.contains("channel=\"bad\"")),
        "the ejection is a metric"
    );
    println!(
        "failing channel: {failures} failures before ejection; 1,000/1,000 succeeded ({backend:?})"
    );
    app.shutdown().await;
}

/// A channel that recovers is probed once its ejection is over, and serves again.
async fn an_ejected_channel_is_probed_and_restored(backend: Backend) {
    let config = ROUTED.replace("eject_ms = 60000", "eject_ms = 2000");
    let app = TestApp::spawn_with(backend, &config).await;
    let key = app.admin_key.clone();
    app.mock.set_outage("latency-50-gpt", true);
    // Until ejected, failures on `slow` are retried on `fast`: nothing fails.
    for _ in 0..200 {
        if app.mock.requests_for("latency-50-gpt") >= 5 {
            break;
        }
        let results = blast(&app, &key, chat("lat", "hi"), 1, 1).await;
        assert_eq!(results[0].0, 200);
    }
    let during = app.mock.requests_for("latency-50-gpt");
    assert_eq!(during, 5, "the fifth failure in a row ejects");
    // Ejected (for 2 s): nothing reaches it.
    let results = blast(&app, &key, chat("lat", "hi"), 20, 1).await;
    assert!(results.iter().all(|(s, _)| *s == 200));
    assert_eq!(app.mock.requests_for("latency-50-gpt"), during);
    // Recovered: after the ejection the probe goes through and the channel serves again.
    app.mock.set_outage("latency-50-gpt", false);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let results = blast(&app, &key, chat("lat", "hi"), 200, 1).await;
    assert!(results.iter().all(|(s, _)| *s == 200));
    let after = app.mock.requests_for("latency-50-gpt") - during;
    assert!(
        after >= 2,
        "probed and restored: {after} requests after recovery"
    );
    app.shutdown().await;
}

/// An upstream answering 503 half of the time: attempts stay within 1.2 × requests + 10, and
/// every successful request is charged exactly once (and no failed one at all).
async fn a_flaky_upstream_gets_bounded_retries_and_each_success_is_charged_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let (user, key) = app.user_with_key("flaky@example.com", json!({})).await;
    let user: UserId = user.parse().unwrap();
    let before = balance(&app.store, user).await;
    let requests = 1_000;
    let ids: Vec<(u16, String)> = stream::iter(0..requests)
        .map(|_| {
            let key = key.clone();
            let app = &app;
            async move {
                let response = app
                    .post("/v1/chat/completions", &key, &chat("flaky", "hi there"))
                    .await;
                let status = response.status().as_u16();
                let id = request_id(&response);
                response.bytes().await.unwrap();
                (status, id)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let attempts = app.mock.requests_for("fault-flaky-503");
    let ok = ids.iter().filter(|(s, _)| *s == 200).count();
    assert!(
        attempts <= requests * 12 / 10 + 10,
        "{attempts} attempts for {requests} requests"
    );
    assert!(ok > requests * 55 / 100, "retries help: {ok} succeeded");
    settled(&app, user).await;
    // Every request's charge: its settlement equals its log row's cost, once.
    let transfers = app
        .store
        .transfers_of(&AccountId::user(user), None, 10_000)
        .await
        .unwrap();
    let mut settles: HashMap<String, Vec<Nanos>> = HashMap::new();
    for t in transfers.iter().map(|e| &e.transfer) {
        if let (Some(reference), false) = (&t.reference, matches!(t.phase, Phase::Pending { .. }))
            && t.id.starts_with("settle:")
        {
            settles.entry(reference.clone()).or_default().push(t.amount);
        }
    }
    let rows = app
        .store
        .list_request_logs(&LogFilter {
            user: Some(user),
            limit: 10_000,
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), requests);
    let mut charged = Nanos::ZERO;
    for row in &rows {
        let id = row.id.to_string();
        let amounts = settles.get(&id).cloned().unwrap_or_default();
        if row.status == 200 {
            assert!(row.cost > Nanos::ZERO, "a success is charged");
            assert_eq!(amounts, vec![row.cost], "charged exactly once: {id}");
        } else {
            assert_eq!(row.cost, Nanos::ZERO);
            assert!(
                amounts.iter().all(|a| *a == Nanos::ZERO),
                "{id}: {amounts:?}"
            );
        }
        charged += row.cost;
    }
    assert_eq!(before - balance(&app.store, user).await, charged);
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
    println!(
        "flaky upstream ({backend:?}): {requests} requests, {attempts} attempts ({:.2}×), {ok} succeeded",
        attempts as f64 / requests as f64
    );
    app.shutdown().await;
}

/// A hung upstream: 504 at the channel's total deadline (2 s) ± 1 s, and the hold voided.
async fn a_hung_upstream_times_out_at_the_deadline_and_its_hold_is_voided(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let (user, key) = app.user_with_key("hung@example.com", json!({})).await;
    let user: UserId = user.parse().unwrap();
    let before = balance(&app.store, user).await;
    let started = Instant::now();
    let response = app
        .post("/v1/chat/completions", &key, &chat("hung", "hello?"))
        .await;
    let elapsed = started.elapsed();
    let id = request_id(&response);
    expect_error(response, 504, "upstream_timeout").await;
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed <= Duration::from_secs(3),
        "{elapsed:?}"
    );
    let row = app.log_row(&id).await;
    assert_eq!((row.status, row.cost), (504, Nanos::ZERO));
    settled(&app, user).await;
    let hold = app
        .store
        .transfers_of(&AccountId::user(user), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.transfer)
        .filter(|t| t.reference.as_deref() == Some(id.as_str()))
        .collect::<Vec<_>>();
    assert!(
        hold.iter()
            .all(|t| t.amount == Nanos::ZERO || !t.id.starts_with("settle:")),
        "nothing charged: {hold:?}"
    );
    assert_eq!(
        balance(&app.store, user).await,
        before,
        "the hold was voided"
    );
    println!("hung upstream ({backend:?}): 504 after {elapsed:?} (deadline 2 s)");
    app.shutdown().await;
}

/// A channel's own first-byte deadline (300 ms, its provider's is 30 s): past it, the next
/// priority answers, well before the slow upstream would have (2 s).
async fn a_channel_past_its_own_first_byte_deadline_falls_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let started = Instant::now();
    let response = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &chat("impatient", "hi"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1_500),
        "{elapsed:?}"
    );
    assert_eq!(app.mock.requests_for("fault-slow-first-byte"), 1);
    assert_eq!(app.mock.requests_for("gpt-backup"), 1);
    app.shutdown().await;
}

/// An upstream that answers 200 and then opens its stream with an error: nothing reached the
/// client yet, so the next channel serves the stream, and only that attempt is charged.
async fn a_stream_that_opens_with_an_error_is_retried_elsewhere(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let response = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &common::chat_stream("opens-with-error", "tell me more"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let body = response.text().await.unwrap();
    assert!(body.contains(r#""content":"Mock""#), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    assert!(
        !body.contains("\"error\""),
        "no error reached the client: {body}"
    );
    assert_eq!(app.mock.requests_for("fault-early-stream-error"), 1);
    assert_eq!(app.mock.requests_for("gpt-backup-stream"), 1);
    let row = app.log_row(&id).await;
    assert_eq!(row.channel.as_deref(), Some("backup"));
    assert!(row.cost > Nanos::ZERO);
    app.shutdown().await;
}

/// A client that disconnects while the upstream has not answered: the gateway drops the
/// upstream request at once (the mock sees its request go away), and logs a 499.
async fn a_client_that_leaves_cancels_the_upstream_request_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let sent = client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.admin_key)
        .json(&chat("hung", "anyone?"))
        .send();
    let waiting = async {
        // The request reaches the mock and waits there.
        while app.mock.awaiting_head() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (result, ()) = tokio::join!(sent, waiting);
    assert!(result.is_err(), "the client gave up");
    let gone = Instant::now();
    while app.mock.awaiting_head() > 0 {
        assert!(
            gone.elapsed() < Duration::from_millis(500),
            "the upstream request outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "cancellation ({backend:?}): upstream request dropped {:?} after the client left",
        gone.elapsed()
    );
    app.shutdown().await;
}

/// Under a `["US","EU"]` policy: a model served only in CN is refused with a 403 naming the
/// policy and the model, and one served in the US and CN only ever reaches the US (10,000
/// requests); DE counts as EU.
async fn a_jurisdiction_policy_never_reaches_another_jurisdiction(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let (_, key) = app
        .user_with_key(
            "eu-us@example.com",
            json!({"data_policy": {"jurisdictions": ["US", "EU"]}}),
        )
        .await;
    let e = expect_error(
        app.post("/v1/chat/completions", &key, &chat("cn-only", "hi"))
            .await,
        403,
        "data_policy_denied",
    )
    .await;
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("`cn-only`"), "{message}");
    assert!(message.contains("jurisdictions US, EU"), "{message}");
    assert!(message.contains("the API key"), "{message}");
    assert!(message.contains("CN"), "{message}");
    assert_eq!(app.mock.requests_for("gpt-cn-only"), 0);

    let results = blast(&app, &key, chat("world", "hi"), 10_000, 32).await;
    assert!(results.iter().all(|(s, _)| *s == 200), "all served");
    assert!(
        results.iter().all(|(_, j)| j == "US"),
        "the receipt header says US"
    );
    assert_eq!(app.mock.requests_for("gpt-world-cn"), 0, "never CN");
    assert_eq!(app.mock.requests_for("gpt-world-us"), 10_000);
    // The US channel failing falls back to DE (an EU member), never to CN.
    app.mock.set_outage("gpt-world-us", true);
    let results = blast(&app, &key, chat("world", "hi"), 20, 4).await;
    assert!(
        results.iter().all(|(s, j)| *s == 200 && j == "DE"),
        "{results:?}"
    );
    assert_eq!(app.mock.requests_for("gpt-world-cn"), 0, "never CN");
    // The open admin key may use CN (the cheaper channel, by price).
    let response = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &json!({"model": "world", "provider": {"sort": "price"}, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.headers()["x-switchyard-jurisdiction"], "CN");
    let id = request_id(&response);
    response.bytes().await.unwrap();
    let row = app.log_row(&id).await;
    assert_eq!(row.jurisdiction.as_deref(), Some("CN"));
    assert_eq!(row.channel.as_deref(), Some("mock-cn"));
    // The catalogue lists each model's jurisdictions.
    let models: Value = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let world = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "world")
        .unwrap();
    assert_eq!(world["jurisdictions"], json!(["US", "CN", "DE"]));
    println!("jurisdiction ({backend:?}): 10,000 requests under [US, EU], 0 reached CN");
    app.shutdown().await;
}

/// Two healthy channels, one five times slower: at least 80 % of the traffic goes to the
/// faster.
async fn the_faster_channel_gets_most_of_the_traffic(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let key = app.admin_key.clone();
    let results = blast(&app, &key, chat("lat", "hi"), 1_000, 8).await;
    assert!(results.iter().all(|(s, _)| *s == 200));
    let fast = app.mock.requests_for("latency-10-gpt");
    let slow = app.mock.requests_for("latency-50-gpt");
    assert_eq!(fast + slow, 1_000);
    assert!(fast >= 800, "{fast} of 1,000 to the faster channel");
    println!("latency-aware ({backend:?}): {fast} of 1,000 to the 5× faster channel");
    app.shutdown().await;
}

/// `provider` preferences (stripped before the upstream), the header form, aliases, the
/// `provider/model` prefix and the `models` fallback list.
async fn preferences_aliases_prefixes_and_fallback_models(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROUTED).await;
    let key = app.admin_key.clone();
    let ask = |body: Value| {
        let app = &app;
        let key = key.clone();
        async move {
            let response = app.post("/v1/chat/completions", &key, &body).await;
            let status = response.status().as_u16();
            let j = response
                .headers()
                .get("x-switchyard-jurisdiction")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (status, j, body)
        }
    };
    let msgs = json!([{"role": "user", "content": "hi"}]);
    // order + only: DE first.
    let (status, j, _) = ask(json!({"model": "world", "messages": msgs, "provider": {"order": ["mock-de"], "only": ["mock-de", "mock-us"]}})).await;
    assert_eq!((status, j.as_deref()), (200, Some("DE")));
    let sent = app.mock.last_request().unwrap();
    assert!(
        sent.body.get("provider").is_none(),
        "stripped: {:?}",
        sent.body
    );
    // The header form, and an alias.
    let response = app
        .client
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header(
            "x-switchyard-provider",
            r#"{"ignore":["mock-us","mock-cn"]}"#,
        )
        .json(&json!({"model": "anywhere", "messages": msgs}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-switchyard-jurisdiction"], "DE");
    // A provider prefix pins the provider.
    let (status, j, _) = ask(json!({"model": "mock-cn/world", "messages": msgs})).await;
    assert_eq!((status, j.as_deref()), (200, Some("CN")));
    // `cn-only` is down: the request falls back to `world`.
    app.mock.set_outage("gpt-cn-only", true);
    let (status, j, _) =
        ask(json!({"model": "cn-only", "models": ["world"], "messages": msgs})).await;
    assert_eq!(status, 200);
    assert!(j.is_some());
    let sent = app.mock.last_request().unwrap();
    assert!(
        sent.body.get("models").is_none(),
        "stripped: {:?}",
        sent.body
    );
    // Preferences apply to every model of the list: without CN, `world` serves at once.
    let asked = app.mock.requests_for("gpt-cn-only");
    let (status, j, _) = ask(json!({"model": "cn-only", "models": ["world"], "messages": msgs, "provider": {"ignore": ["mock-cn"]}})).await;
    assert_eq!((status, j.as_deref()), (200, Some("US")));
    assert_eq!(app.mock.requests_for("gpt-cn-only"), asked);
    // Bad preferences are the client's mistake, named.
    let (status, _, body) =
        ask(json!({"model": "world", "messages": msgs, "provider": {"sort": "throughput"}})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "provider");
    let (status, _, body) =
        ask(json!({"model": "world", "messages": msgs, "provider": {"only": ["nobody"]}})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "provider.only");
    let (status, _, body) = ask(json!({"model": "nope/world", "messages": msgs})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    app.shutdown().await;
}
