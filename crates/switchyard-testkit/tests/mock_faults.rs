//! The mock upstream's fault modes on the OpenAI side, over real HTTP: error statuses, a slow
//! first byte, a hang, cut streams, missing usage, in-band errors and slow streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod openai;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use switchyard_testkit::MockUpstream;

use openai::*;

#[tokio::test]
async fn error_faults_answer_with_their_status_and_body_stream_or_not() {
    let mock = MockUpstream::spawn().await;
    let cases = [
        (
            "fault-500",
            500,
            json!({"error": {"message": "mock: the server had an error while processing your request", "type": "server_error", "param": null, "code": null}}),
        ),
        (
            "fault-503",
            503,
            json!({"error": {"message": "mock: the engine is currently overloaded, please try again later", "type": "server_error", "param": null, "code": null}}),
        ),
        (
            "fault-429",
            429,
            json!({"error": {"message": "mock: rate limit reached for requests. Please try again in 1s.", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        ),
        (
            "fault-400",
            400,
            json!({"error": {"message": "mock: this model rejects the request", "type": "invalid_request_error", "param": "messages", "code": "mock_rejected"}}),
        ),
        (
            "fault-flat-400",
            400,
            json!({"object": "error", "message": "mock: flat error", "type": "invalid_request_error", "param": null, "code": null}),
        ),
    ];
    for (model, status, expected) in cases {
        for stream in [false, true] {
            let body = if stream {
                streamed(model, "hi", true)
            } else {
                ask(model, "hi")
            };
            let reply = chat(&mock, body).await;
            assert_eq!(reply.status.as_u16(), status, "{model} stream={stream}");
            assert_eq!(reply.header("content-type"), "application/json");
            assert_eq!(reply.json(), expected, "{model} stream={stream}");
        }
        let embedding = send(
            &mock,
            Method::POST,
            "/embeddings",
            Some(json!({"model": model, "input": "x"})),
        )
        .await;
        assert_eq!(embedding.status.as_u16(), status, "{model} embeddings");
    }
    let limited = chat(&mock, ask("fault-429", "hi")).await;
    assert_eq!(limited.header("retry-after"), "1");
    assert_eq!(limited.header("retry-after-ms"), "1000");
    let overloaded = chat(&mock, ask("fault-503", "hi")).await;
    assert_eq!(overloaded.header("retry-after"), "1");
}

#[tokio::test]
async fn slow_first_byte_waits_two_seconds_then_answers_normally() {
    let mock = MockUpstream::spawn().await;
    let started = Instant::now();
    let reply = chat(&mock, ask("fault-slow-first-byte", "hello")).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Mock answer to: hello"
    );
}

#[tokio::test]
async fn hang_never_answers_until_the_mock_stops() {
    let mock = MockUpstream::spawn().await;
    let base_url = mock.base_url();
    let key = mock.api_key().to_owned();
    let pending = tokio::spawn(async move {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = Request::post(format!("{base_url}/chat/completions"))
            .header("authorization", format!("Bearer {key}"))
            .body(Full::new(Bytes::from(ask("fault-hang", "hi").to_string())))
            .unwrap();
        client.request(request).await
    });
    // Readiness wait: the request has arrived once the mock has counted it.
    while mock.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Other requests are still served meanwhile.
    assert_eq!(chat(&mock, ask("m", "hi")).await.status, StatusCode::OK);
    assert!(!pending.is_finished());
    mock.shutdown().await;
    let outcome = pending.await.unwrap();
    assert!(
        outcome.is_err(),
        "a hung request must end without a response: {outcome:?}"
    );
}

#[tokio::test]
async fn cut_stream_stops_after_three_words_without_finish_usage_or_done() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, streamed("fault-cut-stream", "Tell me a joke", true)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.cut, "the connection must break mid-body");
    let frames = reply.frames();
    assert_eq!(frames.len(), 4, "{frames:?}");
    let chunks: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(streamed_text(&chunks), "Mock answer to:");
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );

    let whole = chat(&mock, ask("fault-cut-stream", "Tell me a joke")).await;
    assert!(whole.cut, "the non-stream body must break too");
    let announced: usize = whole.header("content-length").parse().unwrap();
    assert!(whole.body.len() < announced);
    assert!(serde_json::from_slice::<Value>(&whole.body).is_err());
}

#[tokio::test]
async fn no_usage_fault_answers_completely_without_usage() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, ask("fault-no-usage", "hello")).await.json();
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert!(reply.get("usage").is_none(), "{reply}");

    let reply = chat(&mock, streamed("fault-no-usage", "hello", true)).await;
    assert!(!reply.cut);
    let chunks = reply.chunks();
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"].as_array().unwrap().len() == 1)
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );

    let embedding = send(
        &mock,
        Method::POST,
        "/embeddings",
        Some(json!({"model": "fault-no-usage", "input": "x"})),
    )
    .await
    .json();
    assert!(embedding.get("usage").is_none());
}

#[tokio::test]
async fn stream_error_fault_sends_an_in_band_error_after_two_words() {
    let mock = MockUpstream::spawn().await;
    let reply = chat(&mock, streamed("fault-stream-error", "hello there", true)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let frames = reply.frames();
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert!(!frames.iter().any(|f| f == "[DONE]"));
    let chunks: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    assert_eq!(streamed_text(&chunks[..3]), "Mock answer");
    let error = &chunks[3]["error"];
    assert_eq!(error["type"], "server_error");
    assert!(error["message"].as_str().unwrap().starts_with("mock:"));
}

#[tokio::test]
async fn slow_stream_spaces_frames_200ms_apart() {
    let mock = MockUpstream::spawn().await;
    let started = Instant::now();
    let reply = chat(&mock, streamed("fault-slow-stream", "hi", false)).await;
    // Role, 4 words, finish and [DONE]: 7 frames, 6 gaps.
    assert_eq!(reply.frames().len(), 7);
    assert!(
        started.elapsed() >= Duration::from_millis(6 * 200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(streamed_text(&reply.chunks()), "Mock answer to: hi");
}
