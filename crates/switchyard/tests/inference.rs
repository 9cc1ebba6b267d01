//! The OpenAI-compatible inference API over raw HTTP: what reaches the upstream, what the client
//! sees, and the metadata log row each request leaves.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{chat, chat_stream, request_id, sse_data};
use serde_json::{Value, json};
use switchyard_core::Nanos;
use switchyard_core::usage::UsageSource;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    chat_passes_every_field_and_rewrites_only_the_model,
    stream_without_usage_request_hides_the_usage_chunk,
    stream_with_usage_request_shows_it_last,
    embeddings_float_and_base64,
    demo_provider_answers_offline,
    models_list_and_get,
);

async fn chat_passes_every_field_and_rewrites_only_the_model(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({
        "model": "mock-chat",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}],
        "temperature": 0.7, "seed": 7, "user": "u-1", "custom_vendor_field": {"a": [1, 2]},
    });
    let response = app
        .post("/v1/chat/completions", &app.admin_key, &body)
        .await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");

    let sent = app.mock.last_request().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer mock-upstream-key")
    );
    let mut expected = body.clone();
    expected["model"] = json!("mock-gpt");
    assert_eq!(
        sent.body, expected,
        "every field passed, only model rewritten"
    );

    let row = app.log_row(&id).await;
    let usage = &answer["usage"];
    assert_eq!(row.prompt_tokens, usage["prompt_tokens"].as_u64().unwrap());
    assert_eq!(
        row.completion_tokens,
        usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(row.usage_source, UsageSource::Upstream);
    assert_eq!(
        (
            row.model.as_str(),
            row.provider.as_deref(),
            row.upstream_model.as_deref()
        ),
        ("mock-chat", Some("mock"), Some("mock-gpt"))
    );
    assert_eq!(row.user_id, Some(app.admin_id));
    assert!(row.key_id.is_some());
    assert_eq!(row.status, 200);
    assert!(!row.stream);
    assert_eq!(row.client_ip.as_deref(), Some("127.0.0.1"));
    // 0.15 USD/Mtok in, 0.60 out: ceil((p×150e6 + c×600e6) / 1e6) nano-USD.
    let expected_cost =
        (row.prompt_tokens * 150_000_000 + row.completion_tokens * 600_000_000).div_ceil(1_000_000);
    assert_eq!(row.cost, Nanos(expected_cost as i64));
    assert!(row.latency_us > 0);
}

async fn stream_without_usage_request_hides_the_usage_chunk(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &chat_stream("mock-chat", "tell me a story"),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let id = request_id(&response);
    let text = response.text().await.unwrap();
    let frames = sse_data(&text);
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    for frame in &frames[..frames.len() - 1] {
        let chunk: Value = serde_json::from_str(frame).unwrap();
        assert!(
            chunk["choices"].as_array().is_some_and(|c| !c.is_empty()),
            "no usage-only chunk: {frame}"
        );
        assert!(chunk["usage"].is_null(), "no usage shown: {frame}");
    }
    let sent = app.mock.last_request().unwrap();
    assert_eq!(
        sent.body["stream_options"],
        json!({"include_usage": true}),
        "the gateway always asks for usage"
    );
    let row = app.log_row(&id).await;
    assert!(row.stream);
    assert_eq!(
        row.usage_source,
        UsageSource::Upstream,
        "billed from the upstream's own count"
    );
    assert!(row.completion_tokens > 0 && row.prompt_tokens > 0);
    assert!(row.ttft_us.is_some_and(|t| t <= row.latency_us));
}

async fn stream_with_usage_request_shows_it_last(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = chat_stream("mock-chat", "tell me a story");
    body["stream_options"] = json!({"include_usage": true});
    let text = app
        .post("/v1/chat/completions", &app.admin_key, &body)
        .await
        .text()
        .await
        .unwrap();
    let frames = sse_data(&text);
    assert_eq!(frames.last().map(String::as_str), Some("[DONE]"));
    let usage_chunk: Value = serde_json::from_str(&frames[frames.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let usage_frames = frames
        .iter()
        .filter(|f| f.contains("\"choices\":[]"))
        .count();
    assert_eq!(usage_frames, 1);
}

async fn embeddings_float_and_base64(backend: Backend) {
    use base64::Engine;
    let app = TestApp::spawn(backend).await;
    for model in ["mock-embed", "demo-embed"] {
        let float: Value = app
            .post(
                "/v1/embeddings",
                &app.admin_key,
                &json!({"model": model, "input": ["alpha", "beta"], "encoding_format": "float"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let response = app
            .post(
                "/v1/embeddings",
                &app.admin_key,
                &json!({"model": model, "input": ["alpha", "beta"], "encoding_format": "base64"}),
            )
            .await;
        let id = request_id(&response);
        let b64: Value = response.json().await.unwrap();
        assert_eq!(float["data"].as_array().unwrap().len(), 2);
        for i in 0..2 {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64["data"][i]["embedding"].as_str().unwrap())
                .unwrap();
            let decoded: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let floats: Vec<f32> = float["data"][i]["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(decoded.len(), floats.len());
            assert!(
                decoded
                    .iter()
                    .zip(&floats)
                    .all(|(a, b)| (a - b).abs() < 1e-6),
                "{model}: base64 and float agree"
            );
        }
        let row = app.log_row(&id).await;
        assert_eq!(row.endpoint, "embeddings");
        assert!(row.prompt_tokens > 0);
        assert_eq!(row.completion_tokens, 0);
    }
}

async fn demo_provider_answers_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a: Value = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &chat("demo-chat", "Hi!"),
        )
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &chat("demo-chat", "Hi!"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a, b, "deterministic");
    let content = a["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.split(' ').count() > 10);
    assert!(a["usage"]["completion_tokens"].as_u64().unwrap() > 10);
    let streamed = app
        .post(
            "/v1/chat/completions",
            &app.admin_key,
            &chat_stream("demo-chat", "Hi!"),
        )
        .await
        .text()
        .await
        .unwrap();
    let frames = sse_data(&streamed);
    let joined: String = frames
        .iter()
        .filter(|f| f.as_str() != "[DONE]")
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        joined, content,
        "the stream spells the same answer word by word"
    );
    assert!(frames.len() > 10);
}

async fn models_list_and_get(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let list: Value = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"mock-chat") && ids.contains(&"demo-embed"));
    let limited = app
        .create_key(json!({"name": "limited", "allowed_models": ["demo-chat"]}))
        .await;
    let key = limited["key"].as_str().unwrap();
    let list: Value = app
        .client
        .get(app.url("/v1/models"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only what the key may use"
    );
    let one: Value = app
        .client
        .get(app.url("/v1/models/demo-chat"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "demo-chat");
    assert_eq!(one["object"], "model");
    let hidden = app
        .client
        .get(app.url("/v1/models/mock-chat"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    common::expect_error(hidden, 404, "model_not_found").await;
}
