//! The mock's Anthropic Messages routes over real HTTP: auth, validation, answers, the event
//! stream of wire-formats §4.3, usage conventions and every fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_testkit::MockUpstream;
use switchyard_testkit::mock::{THINKING, THINKING_SIGNATURE};

mod reply;
use reply::{Reply, post};

/// The `(event name, data)` frames of an Anthropic event stream.
trait Events {
    fn events(&self) -> Vec<(String, Value)>;
}

impl Events for Reply {
    /// Checks each frame is an `event:` line, then a `data:` line whose `type` is the name.
    fn events(&self) -> Vec<(String, Value)> {
        self.body
            .split("\n\n")
            .filter(|frame| !frame.is_empty())
            .map(|frame| {
                let (event, data) = frame
                    .split_once('\n')
                    .unwrap_or_else(|| panic!("one-line frame: {frame:?}"));
                let name = event.strip_prefix("event: ").expect("event: line first");
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").expect("data: line")).unwrap();
                if name != "error" {
                    assert_eq!(data["type"], name, "type matches the event name");
                }
                (name.to_owned(), data)
            })
            .collect()
    }
}

/// Request headers as `(name, value)` pairs.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

/// Posts `body` to `path` under the Anthropic base URL with exactly `headers`.
async fn post_with(mock: &MockUpstream, path: &str, headers: Headers<'_>, body: String) -> Reply {
    post(
        &format!("{}{path}", mock.anthropic_base_url()),
        headers,
        body,
    )
    .await
}

/// Posts `body` to `/v1/messages` with the right key and version.
async fn messages(mock: &MockUpstream, body: Value) -> Reply {
    let key = mock.api_key().to_owned();
    let headers = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    post_with(mock, "/messages", &headers, body.to_string()).await
}

fn ask(model: &str, prompt: &str) -> Value {
    json!({"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": prompt}]})
}

fn streamed(model: &str, prompt: &str) -> Value {
    let mut body = ask(model, prompt);
    body["stream"] = json!(true);
    body
}

fn weather(model: &str) -> Value {
    json!({
        "model": model, "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is the weather in Oslo?"}]}],
        "tools": [
            {"name": "get_weather", "input_schema": {"type": "object"}},
            {"name": "get_time", "input_schema": {"type": "object"}}
        ]
    })
}

/// The text a stream spells out across its text deltas.
fn streamed_text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter_map(|(_, data)| data.pointer("/delta/text")?.as_str())
        .collect()
}

#[tokio::test]
async fn requests_need_the_key_as_x_api_key_and_a_version() {
    let mock = MockUpstream::spawn().await;
    let body = ask("claude-mock", "hi").to_string();
    let key = mock.api_key().to_owned();
    let bearer = format!("Bearer {key}");
    let cases: [(Headers, u16, &str); 4] = [
        (
            &[("anthropic-version", "2023-06-01")],
            401,
            "authentication_error",
        ),
        (
            &[("x-api-key", "wrong"), ("anthropic-version", "2023-06-01")],
            401,
            "authentication_error",
        ),
        (
            &[
                ("authorization", &bearer),
                ("anthropic-version", "2023-06-01"),
            ],
            401,
            "authentication_error",
        ),
        (&[("x-api-key", &key)], 400, "invalid_request_error"),
    ];
    for (headers, status, kind) in cases {
        let reply = post_with(&mock, "/messages", headers, body.clone()).await;
        assert_eq!(reply.status, status, "{headers:?}");
        let error = reply.json();
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], kind, "{headers:?}");
    }
}

#[tokio::test]
async fn invalid_requests_get_400_naming_what_anthropic_would() {
    let mock = MockUpstream::spawn().await;
    let user = |content: Value| json!({"role": "user", "content": content});
    let tool_use = |id: &str| json!({"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "f", "input": {}}]});
    let cases = [
        (
            json!({"model": "m", "messages": [user(json!("hi"))]}),
            "max_tokens: Field required",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": []}),
            "at least one message",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
            "top-level `system`",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [user(json!([{"type": "text", "text": ""}]))]}),
            "text content blocks must be non-empty",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [user(json!(""))]}),
            "non-empty content",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [user(json!("q")), tool_use("call.1"), user(json!([{"type": "tool_result", "tool_use_id": "call.1"}]))]}),
            "^[a-zA-Z0-9_-]+$",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [user(json!("q")), tool_use("t1"), user(json!("no result"))]}),
            "without `tool_result` blocks immediately after: t1",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [user(json!([{"type": "tool_result", "tool_use_id": "t9"}]))]}),
            "unexpected `tool_use_id`",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "temperature": 1.5, "messages": [user(json!("q"))]}),
            "temperature: Input should be less than or equal to 1",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "system": 7, "messages": [user(json!("q"))]}),
            "system:",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "n": 2, "messages": [user(json!("q"))]}),
            "n: Extra inputs are not permitted",
        ),
        (
            json!({"model": "m", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 2000}, "messages": [user(json!("q"))]}),
            "greater than `thinking.budget_tokens`",
        ),
    ];
    for (body, expected) in cases {
        let reply = messages(&mock, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}");
        let error = reply.json();
        assert_eq!(error["error"]["type"], "invalid_request_error", "{body}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    let key = mock.api_key().to_owned();
    let headers = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let garbage = post_with(&mock, "/messages", &headers, "{not json".to_owned()).await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn an_answer_has_anthropic_shape_ids_and_word_based_usage() {
    let mock = MockUpstream::spawn().await;
    let mut body = ask("claude-mock", "Tell me about the sea today please");
    body["system"] = json!([{"type": "text", "text": "Be brief."}]);
    let reply = messages(&mock, body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("request-id"), "req_mock_1");
    assert!(
        reply
            .headers
            .contains_key("anthropic-ratelimit-requests-remaining")
    );
    assert_eq!(
        reply.json(),
        json!({
            "id": "msg_mock_1", "type": "message", "role": "assistant", "model": "claude-mock",
            "content": [{"type": "text", "text": "Mock answer to: Tell me about the sea"}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 9, "output_tokens": 8, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        })
    );
}

#[tokio::test]
async fn max_tokens_and_stop_sequences_cut_the_answer() {
    let mock = MockUpstream::spawn().await;
    let mut body = ask("claude-mock", "alpha beta gamma");
    body["max_tokens"] = json!(2);
    let cut = messages(&mock, body).await.json();
    assert_eq!(cut["content"][0]["text"], "Mock answer");
    assert_eq!(cut["stop_reason"], "max_tokens");
    assert_eq!(cut["usage"]["output_tokens"], 2);

    let mut body = ask("claude-mock", "alpha beta gamma");
    body["stop_sequences"] = json!(["beta"]);
    let stopped = messages(&mock, body).await.json();
    assert_eq!(stopped["content"][0]["text"], "Mock answer to: alpha");
    assert_eq!(stopped["stop_reason"], "stop_sequence");
    assert_eq!(stopped["stop_sequence"], "beta");
}

#[tokio::test]
async fn weather_calls_the_first_tool_and_its_result_gets_an_answer() {
    let mock = MockUpstream::spawn().await;
    let reply = messages(&mock, weather("claude-mock")).await.json();
    assert_eq!(reply["stop_reason"], "tool_use");
    assert_eq!(
        reply["content"],
        json!([{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"city": "Oslo"}}])
    );
    assert_eq!(reply["usage"]["output_tokens"], 8);

    let mut next = weather("claude-mock");
    let history = next["messages"].as_array_mut().unwrap();
    history.push(json!({"role": "assistant", "content": reply["content"]}));
    history.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1", "content": "3 degrees"}]}));
    let answered = messages(&mock, next).await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    let answered = answered.json();
    assert_eq!(answered["stop_reason"], "end_turn");
    assert_eq!(
        answered["content"][0]["text"],
        "Mock answer to: What is the weather in"
    );
}

#[tokio::test]
async fn a_stream_sends_named_events_in_order_with_cumulative_usage() {
    let mock = MockUpstream::spawn().await;
    let reply = messages(&mock, streamed("claude-mock", "hello there")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        "text/event-stream; charset=utf-8"
    );
    assert!(!reply.body.contains("[DONE]"));
    let events = reply.events();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&events), expected);
    let start = &events[0].1["message"];
    assert_eq!(start["id"], "msg_mock_1");
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["usage"]["input_tokens"], 2);
    assert_eq!(start["usage"]["output_tokens"], 1);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(streamed_text(&events), "Mock answer to: hello there");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn a_streamed_tool_call_sends_its_input_in_json_pieces() {
    let mock = MockUpstream::spawn().await;
    let mut body = weather("claude-mock");
    body["stream"] = json!(true);
    let events = messages(&mock, body).await.events();
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
    );
    let pieces: Vec<&str> = events
        .iter()
        .filter_map(|(_, data)| data.pointer("/delta/partial_json")?.as_str())
        .collect();
    assert_eq!(pieces.first(), Some(&""));
    let input: Value = serde_json::from_str(&pieces.concat()).unwrap();
    assert_eq!(input, json!({"city": "Oslo"}));
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn cache_models_read_ten_tokens_outside_input_and_reasoning_models_think() {
    let mock = MockUpstream::spawn().await;
    let cached = messages(&mock, ask("cache-claude", "one two three"))
        .await
        .json();
    assert_eq!(cached["usage"]["input_tokens"], 3);
    assert_eq!(cached["usage"]["cache_read_input_tokens"], 10);

    let thought = messages(&mock, ask("reasoning-claude", "one two"))
        .await
        .json();
    assert_eq!(
        thought["content"][0],
        json!({"type": "thinking", "thinking": THINKING, "signature": THINKING_SIGNATURE})
    );
    assert_eq!(thought["content"][0]["signature"], "sig-mock");
    assert_eq!(thought["content"][1]["text"], "Mock answer to: one two");
    assert_eq!(thought["usage"]["output_tokens"], 5 + 1_000);

    let events = messages(&mock, streamed("reasoning-claude", "one two"))
        .await
        .events();
    assert_eq!(events[1].1["content_block"]["type"], "thinking");
    let thinking: String = events
        .iter()
        .filter_map(|(_, data)| data.pointer("/delta/thinking")?.as_str())
        .collect();
    assert_eq!(thinking, THINKING);
    assert!(
        events
            .iter()
            .any(|(_, data)| data["delta"]["signature"] == "sig-mock")
    );
    let stream_cached = messages(&mock, streamed("cache-claude", "x"))
        .await
        .events();
    assert_eq!(
        stream_cached[0].1["message"]["usage"]["cache_read_input_tokens"],
        10
    );
}

#[tokio::test]
async fn count_tokens_counts_the_words_without_max_tokens() {
    let mock = MockUpstream::spawn().await;
    let key = mock.api_key().to_owned();
    let headers = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let body = json!({"model": "m", "system": "be kind", "messages": [{"role": "user", "content": "one two three"}]});
    let reply = post_with(&mock, "/messages/count_tokens", &headers, body.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({"input_tokens": 5}));
}

#[tokio::test]
async fn error_faults_answer_in_anthropic_shape_stream_or_not() {
    let mock = MockUpstream::spawn().await;
    let cases = [
        ("fault-500", 500, "api_error"),
        ("fault-503", 503, "api_error"),
        ("fault-429", 429, "rate_limit_error"),
        ("fault-400", 400, "invalid_request_error"),
        ("fault-529", 529, "overloaded_error"),
    ];
    for (model, status, kind) in cases {
        for body in [ask(model, "hi"), streamed(model, "hi")] {
            let reply = messages(&mock, body).await;
            assert_eq!(reply.status, status, "{model}");
            assert_eq!(reply.header("content-type"), "application/json");
            let error = reply.json();
            assert_eq!(error["type"], "error");
            assert_eq!(error["error"]["type"], kind, "{model}");
            assert!(error["error"]["message"].is_string());
        }
    }
    assert_eq!(
        messages(&mock, ask("fault-429", "hi"))
            .await
            .header("retry-after"),
        "1"
    );
}

#[tokio::test]
async fn slow_first_byte_waits_and_hang_never_answers() {
    let mock = MockUpstream::spawn().await;
    let started = Instant::now();
    let reply = messages(&mock, ask("fault-slow-first-byte", "hello")).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(reply.json()["content"][0]["text"], "Mock answer to: hello");

    let key = mock.api_key().to_owned();
    let hung = reqwest::Client::new()
        .post(format!("{}/messages", mock.anthropic_base_url()))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(&ask("fault-hang", "hello"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
}

#[tokio::test]
async fn cut_stream_stops_after_three_deltas_and_a_whole_body_is_cut_halfway() {
    let mock = MockUpstream::spawn().await;
    let reply = messages(&mock, streamed("fault-cut-stream", "a b c d e")).await;
    assert!(reply.cut, "the connection is cut");
    let events = reply.events();
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta"
        ]
    );
    let whole = messages(&mock, ask("fault-cut-stream", "a b")).await;
    assert!(whole.cut);
    assert!(serde_json::from_str::<Value>(&whole.body).is_err());
}

#[tokio::test]
async fn no_usage_fault_drops_usage_everywhere() {
    let mock = MockUpstream::spawn().await;
    let whole = messages(&mock, ask("fault-no-usage", "hi")).await.json();
    assert!(whole.get("usage").is_none());
    assert_eq!(whole["stop_reason"], "end_turn");
    let events = messages(&mock, streamed("fault-no-usage", "hi"))
        .await
        .events();
    assert!(events[0].1["message"].get("usage").is_none());
    assert!(events[events.len() - 2].1.get("usage").is_none());
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn stream_error_fault_ends_with_an_overloaded_error_event() {
    let mock = MockUpstream::spawn().await;
    let events = messages(&mock, streamed("fault-stream-error", "a b c"))
        .await
        .events();
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(
        *data,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(streamed_text(&events), "Mock answer");
    assert!(!names(&events).contains(&"message_stop"));
}

#[tokio::test]
async fn slow_stream_spaces_events_200ms_apart() {
    let mock = MockUpstream::spawn().await;
    let started = Instant::now();
    let events = messages(&mock, streamed("fault-slow-stream", "hi"))
        .await
        .events();
    assert_eq!(events.len(), 10);
    assert!(started.elapsed() >= Duration::from_millis(200 * 9));
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn requests_are_recorded_with_their_anthropic_headers() {
    let mock = MockUpstream::spawn().await;
    messages(&mock, ask("claude-mock", "hi")).await;
    let recorded = mock.last_request().unwrap();
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded.body["max_tokens"], 100);
}
