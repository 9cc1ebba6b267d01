//! The mock upstream over real HTTP: shapes, stream framing, tool calls, embeddings, models
//! and the request log. The fault modes are in `mock_faults.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod openai;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use switchyard_testkit::{MockOptions, MockUpstream};

use openai::*;

#[tokio::test]
async fn requests_without_the_right_key_get_401_invalid_api_key() {
    let mock = MockUpstream::spawn().await;
    for key in [None, Some("sk-wrong-key-123456")] {
        let reply = send_as(&mock, key, Method::GET, "/models", None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["code"], "invalid_api_key");
        assert_eq!(error["param"], Value::Null);
        if key.is_some() {
            let message = error["message"].as_str().unwrap();
            assert!(
                message.starts_with("Incorrect API key provided"),
                "{message}"
            );
            assert!(
                !message.contains("wrong-key"),
                "the key must be masked: {message}"
            );
        }
    }
}

#[tokio::test]
async fn non_stream_completion_has_openai_shape_and_word_based_usage() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, ask("gpt-4o-mini", "What is the capital of Norway?")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.header("x-request-id"), "req_mock_1");
    assert_eq!(reply.header("x-ratelimit-limit-requests"), "10000");
    assert_eq!(reply.header("x-ratelimit-remaining-tokens"), "29999000");
    assert_eq!(reply.header("x-ratelimit-reset-requests"), "6ms");
    assert_eq!(
        reply.json(),
        json!({
            "id": "chatcmpl-mock-1",
            "object": "chat.completion",
            "created": 1730000000,
            "model": "gpt-4o-mini",
            "system_fingerprint": "fp_mock",
            "service_tier": "default",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Mock answer to: What is the capital of",
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": 6,
                "completion_tokens": 8,
                "total_tokens": 14,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0
                }
            }
        })
    );
    // The next request gets the next id.
    let second = chat(&mock, ask("gpt-4o-mini", "Hi")).await.json();
    assert_eq!(second["id"], "chatcmpl-mock-2");
    assert_eq!(
        second["choices"][0]["message"]["content"],
        "Mock answer to: Hi"
    );
}

#[tokio::test]
async fn answers_follow_the_last_user_message_and_max_tokens_truncates() {
    let mock = MockUpstream::spawn().await;
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "first question"}]},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "text", "text": "second question here"}]}
        ]
    });
    let reply = chat(&mock, body.clone()).await.json();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Mock answer to: second question here"
    );
    assert_eq!(reply["usage"]["prompt_tokens"], 9);

    for (field, limit) in [("max_tokens", 2), ("max_completion_tokens", 4)] {
        let mut limited = body.clone();
        limited[field] = json!(limit);
        let reply = chat(&mock, limited).await.json();
        let content = reply["choices"][0]["message"]["content"].as_str().unwrap();
        assert_eq!(content.split(' ').count(), limit, "{field}: {content}");
        assert_eq!(reply["choices"][0]["finish_reason"], "length");
        assert_eq!(reply["usage"]["completion_tokens"], limit);
    }
}

#[tokio::test]
async fn invalid_chat_requests_get_400_with_the_offending_param() {
    let mock = MockUpstream::spawn().await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (json!({"messages": user}), "model", Value::Null),
        (
            json!({"model": 7, "messages": user}),
            "model",
            json!("invalid_type"),
        ),
        (
            json!({"model": "m"}),
            "messages",
            json!("missing_required_parameter"),
        ),
        (
            json!({"model": "m", "messages": []}),
            "messages",
            json!("empty_array"),
        ),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "hi"}]}),
            "messages[0].role",
            json!("invalid_value"),
        ),
        (
            json!({"model": "m", "messages": user, "stream_options": {"include_usage": true}}),
            "stream_options",
            json!("invalid_value"),
        ),
        (
            json!({"model": "m", "messages": user, "max_tokens": 0}),
            "max_tokens",
            json!("integer_below_min_value"),
        ),
        (
            json!({"model": "m", "messages": user, "tools": [{"type": "function"}]}),
            "tools[0].function.name",
            json!("missing_required_parameter"),
        ),
    ];
    for (body, param, code) in cases {
        let reply = chat(&mock, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert_eq!(error["param"], param, "{body}");
        assert_eq!(error["code"], code, "{body}");
    }

    // A body that is not JSON at all.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::post(format!("{}/chat/completions", mock.base_url()))
        .header("authorization", format!("Bearer {}", mock.api_key()))
        .body(Full::new(Bytes::from_static(b"{not json")))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(mock.last_request().unwrap().body, Value::Null);
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_key_at_all() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, streamed("gpt-4o", "Tell me a joke", false)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        "text/event-stream; charset=utf-8"
    );
    assert!(!reply.cut);
    let chunks = reply.chunks();
    // Role chunk, one chunk per word of "Mock answer to: Tell me a joke", finish chunk.
    assert_eq!(chunks.len(), 1 + 7 + 1);
    for chunk in &chunks {
        assert_eq!(chunk["id"], "chatcmpl-mock-1");
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["created"], 1730000000);
        assert_eq!(chunk["model"], "gpt-4o");
        assert!(
            chunk.get("usage").is_none(),
            "no usage key when not asked: {chunk}"
        );
        assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "Mock"}));
    assert_eq!(
        chunks[2]["choices"][0]["delta"],
        json!({"content": " answer"})
    );
    let finish = &chunks[8]["choices"][0];
    assert_eq!(finish["delta"], json!({}));
    assert_eq!(finish["finish_reason"], "stop");
    assert!(
        chunks[..8]
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );
    assert_eq!(streamed_text(&chunks), "Mock answer to: Tell me a joke");
}

#[tokio::test]
async fn stream_with_include_usage_sends_null_usage_then_a_usage_chunk() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, streamed("gpt-4o", "Tell me a joke", true)).await;
    let chunks = reply.chunks();
    assert_eq!(chunks.len(), 1 + 7 + 1 + 1);
    let (usage_chunk, earlier) = chunks.split_last().unwrap();
    for chunk in earlier {
        assert_eq!(chunk.get("usage"), Some(&Value::Null), "{chunk}");
    }
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["id"], "chatcmpl-mock-1");
    let non_stream = chat(&mock, ask("gpt-4o", "Tell me a joke")).await.json();
    assert_eq!(usage_chunk["usage"], non_stream["usage"]);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 7);
}

#[tokio::test]
async fn weather_question_with_tools_calls_the_first_tool() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, weather_request()).await.json();
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{
            "id": "call_mock_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}
        }])
    );

    // No call once the tool has answered, or when tool_choice forbids it.
    let mut answered = weather_request();
    answered["messages"] = json!([
        {"role": "user", "content": "What is the weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_mock_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_mock_1", "content": "sunny"}
    ]);
    let mut refused = weather_request();
    refused["tool_choice"] = json!("none");
    for body in [answered, refused] {
        let reply = chat(&mock, body).await.json();
        assert_eq!(reply["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            reply["choices"][0]["message"]["content"],
            "Mock answer to: What is the weather in"
        );
    }
}

#[tokio::test]
async fn tool_calls_stream_by_index_with_the_name_first() {
    let mock = MockUpstream::spawn().await;
    let mut body = weather_request();
    body["stream"] = json!(true);
    let chunks = chat(&mock, body).await.chunks();
    let deltas: Vec<&Value> = chunks.iter().map(|c| &c["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": null}));
    assert_eq!(
        deltas[1],
        &json!({"tool_calls": [{"index": 0, "id": "call_mock_1", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}}]})
    );
    let pieces = &deltas[2..deltas.len() - 1];
    assert!(pieces.len() >= 2);
    let mut arguments = String::new();
    for piece in pieces {
        let call = &piece["tool_calls"][0];
        assert_eq!(call["index"], 0);
        assert!(call.get("id").is_none() && call["function"].get("name").is_none());
        arguments.push_str(call["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(arguments, "{\"city\":\"Oslo\"}");
    let finish = &chunks.last().unwrap()["choices"][0];
    assert_eq!(finish["delta"], json!({}));
    assert_eq!(finish["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn embeddings_as_float_and_base64_decode_to_the_same_unit_vectors() {
    let mock = MockUpstream::spawn().await;
    let input = json!(["hello world", "another text"]);
    let float = send(
        &mock,
        Method::POST,
        "/embeddings",
        Some(json!({"model": "text-embedding-3-small", "input": input})),
    )
    .await
    .json();
    let base64 = send(
        &mock,
        Method::POST,
        "/embeddings",
        Some(
            json!({"model": "text-embedding-3-small", "input": input, "encoding_format": "base64"}),
        ),
    )
    .await
    .json();
    assert_eq!(float["object"], "list");
    assert_eq!(float["model"], "text-embedding-3-small");
    assert_eq!(
        float["usage"],
        json!({"prompt_tokens": 4, "total_tokens": 4})
    );
    let floats: Vec<Vec<f32>> = float["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(index, item)| {
            assert_eq!(item["object"], "embedding");
            assert_eq!(item["index"], index);
            let vector: Vec<f32> = item["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            vector
        })
        .collect();
    let decoded: Vec<Vec<f32>> = base64["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let bytes = STANDARD
                .decode(item["embedding"].as_str().unwrap())
                .unwrap();
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect();
    assert_eq!(floats, decoded);
    assert_eq!(floats.len(), 2);
    assert_ne!(floats[0], floats[1]);
    for vector in &floats {
        assert_eq!(vector.len(), 8);
        let norm = vector
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }

    // Deterministic, `dimensions` honoured, token-id inputs accepted.
    let again = send(
        &mock,
        Method::POST,
        "/embeddings",
        Some(json!({"model": "e", "input": "hello world"})),
    )
    .await
    .json();
    assert_eq!(again["data"][0]["embedding"], float["data"][0]["embedding"]);
    let tokens = send(
        &mock,
        Method::POST,
        "/embeddings",
        Some(json!({"model": "e", "input": [[1, 2, 3], [4]], "dimensions": 3})),
    )
    .await
    .json();
    assert_eq!(tokens["data"][1]["embedding"].as_array().unwrap().len(), 3);
    assert_eq!(tokens["usage"]["prompt_tokens"], 4);
}

#[tokio::test]
async fn invalid_embedding_requests_get_400() {
    let mock = MockUpstream::spawn().await;
    let cases = [
        (json!({"model": "e"}), "input"),
        (json!({"model": "e", "input": ""}), "input"),
        (json!({"model": "e", "input": [1, "a"]}), "input"),
        (
            json!({"model": "e", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (
            json!({"model": "e", "input": "x", "dimensions": 0}),
            "dimensions",
        ),
        (json!({"input": "x"}), "model"),
    ];
    for (body, param) in cases {
        let reply = send(&mock, Method::POST, "/embeddings", Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(reply.json()["error"]["param"], param, "{body}");
    }
}

#[tokio::test]
async fn models_are_listed_and_fetched_in_openai_shape() {
    let mock = MockUpstream::spawn().await;
    let list = send(&mock, Method::GET, "/models", None).await.json();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        &ids[..3],
        ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
    );
    assert!(ids.contains(&"fault-429"));
    let one = send(&mock, Method::GET, "/models/gpt-4o", None)
        .await
        .json();
    assert_eq!(
        one,
        json!({"id": "gpt-4o", "object": "model", "created": 1686935002, "owned_by": "switchyard-mock"})
    );
    let missing = send(&mock, Method::GET, "/models/nope", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn unknown_routes_get_404_in_openai_shape() {
    let mock = MockUpstream::spawn().await;
    for (method, path) in [(Method::POST, "/nope"), (Method::GET, "/chat/completions")] {
        let reply = send(&mock, method.clone(), path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let error = &reply.json()["error"];
        assert_eq!(
            error["message"],
            format!("Invalid URL ({method} /v1{path})")
        );
        assert_eq!(error["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn every_request_is_recorded_in_order() {
    let mock = MockUpstream::spawn().await;
    let mut body = streamed("gpt-4o-mini", "hi", true);
    body["temperature"] = json!(0.5);
    chat(&mock, body.clone()).await;
    send_as(&mock, None, Method::GET, "/models?limit=2", None).await;
    assert_eq!(mock.request_count(), 2);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.query, None);
    assert_eq!(first.body, body);
    assert_eq!(first.body["stream_options"]["include_usage"], true);
    assert_eq!(
        first.header("Authorization"),
        Some("Bearer mock-upstream-key")
    );
    assert_eq!(first.headers["content-type"], "application/json");
    let second = &requests[1];
    assert_eq!(second.method, "GET");
    assert_eq!(second.query.as_deref(), Some("limit=2"));
    assert_eq!(second.body, Value::Null);
    assert_eq!(second.header("authorization"), None);
    assert_eq!(mock.last_request().as_ref(), Some(second));
}

#[tokio::test]
async fn options_add_latency_and_can_turn_recording_off() {
    let mock = MockUpstream::spawn_with(MockOptions {
        latency: Duration::from_millis(150),
        chunk_delay: Duration::from_millis(20),
        record: false,
        ..MockOptions::default()
    })
    .await;
    let started = Instant::now();
    let reply = chat(&mock, streamed("m", "hi", false)).await;
    // 150 ms before the head, then 6 gaps of 20 ms between the 7 frames.
    assert!(started.elapsed() >= Duration::from_millis(150 + 6 * 20));
    assert_eq!(reply.frames().len(), 7);
    assert_eq!(mock.request_count(), 1);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn model_prefixes_report_reasoning_and_cached_tokens_inside_the_totals() {
    let mock = MockUpstream::spawn().await;
    let reasoning = chat(&mock, ask("reasoning-gpt", "one two")).await.json();
    assert_eq!(reasoning["usage"]["completion_tokens"], 5 + 1_000);
    assert_eq!(
        reasoning["usage"]["completion_tokens_details"]["reasoning_tokens"],
        1_000
    );
    let cached = chat(&mock, ask("cache-gpt", "one two")).await.json();
    assert_eq!(cached["usage"]["prompt_tokens"], 2 + 10);
    assert_eq!(
        cached["usage"]["prompt_tokens_details"]["cached_tokens"],
        10
    );
    // OpenAI has no 529: the overloaded fault is its 503.
    let overloaded = chat(&mock, ask("fault-529", "hi")).await;
    assert_eq!(overloaded.status, StatusCode::SERVICE_UNAVAILABLE);
}
