//! Parallel tool calls over real HTTP in every dialect: a last user turn mentioning "weather"
//! and the word "time" calls the first two offered tools, rendered as OpenAI `tool_calls`,
//! Anthropic `tool_use` blocks or Gemini `functionCall` parts; the switches that turn parallel
//! calls off; and the history checks that every call is answered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use switchyard_testkit::MockUpstream;
use switchyard_testkit::mock::THOUGHT_SIGNATURE;

mod reply;
use reply::{Reply, post};

/// The question that asks for both tools.
const BOTH: &str = "What is the weather and the time in Oslo?";
/// The arguments of every mock call, whole.
const ARGUMENTS: &str = "{\"city\":\"Oslo\"}";

async fn openai(mock: &MockUpstream, body: Value) -> Reply {
    let bearer = format!("Bearer {}", mock.api_key());
    let url = format!("{}/chat/completions", mock.base_url());
    post(&url, &[("authorization", &bearer)], body.to_string()).await
}

async fn anthropic(mock: &MockUpstream, body: Value) -> Reply {
    let key = mock.api_key().to_owned();
    let url = format!("{}/messages", mock.anthropic_base_url());
    let headers = [
        ("x-api-key", key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    post(&url, &headers, body.to_string()).await
}

async fn gemini(mock: &MockUpstream, method: &str, body: Value) -> Reply {
    let key = mock.api_key().to_owned();
    let url = format!("{}/models/gemini-3-mock:{method}", mock.gemini_base_url());
    post(&url, &[("x-goog-api-key", &key)], body.to_string()).await
}

fn openai_ask(messages: Value) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {}}}
        ]
    })
}

fn anthropic_ask(model: &str, messages: Value) -> Value {
    json!({
        "model": model, "max_tokens": 100, "messages": messages,
        "tools": [
            {"name": "get_weather", "input_schema": {"type": "object"}},
            {"name": "get_time", "input_schema": {"type": "object"}}
        ]
    })
}

fn gemini_ask(contents: Value) -> Value {
    json!({
        "contents": contents,
        "tools": [{"functionDeclarations": [{"name": "get_weather"}, {"name": "get_time"}]}]
    })
}

/// The JSON `data:` frames of an OpenAI stream, `[DONE]` required last and removed.
fn openai_chunks(reply: &Reply) -> Vec<Value> {
    let mut frames: Vec<&str> = reply
        .body
        .split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| frame.strip_prefix("data: ").expect("a data frame"))
        .collect();
    assert_eq!(frames.pop(), Some("[DONE]"));
    frames
        .into_iter()
        .map(|frame| serde_json::from_str(frame).unwrap())
        .collect()
}

/// The `(event name, data)` frames of an Anthropic stream.
fn anthropic_events(reply: &Reply) -> Vec<(String, Value)> {
    reply
        .body
        .split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let (event, data) = frame.split_once('\n').expect("event and data lines");
            let data = data.strip_prefix("data: ").expect("a data line");
            (
                event.strip_prefix("event: ").unwrap().to_owned(),
                serde_json::from_str(data).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn openai_weather_and_time_call_both_tools_in_one_message() {
    let mock = MockUpstream::spawn().await;
    let reply = openai(
        &mock,
        openai_ask(json!([{"role": "user", "content": BOTH}])),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = reply.json();
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            {"id": "call_mock_1", "type": "function",
             "function": {"name": "get_weather", "arguments": ARGUMENTS}},
            {"id": "call_mock_1_2", "type": "function",
             "function": {"name": "get_time", "arguments": ARGUMENTS}}
        ])
    );
    assert_eq!(reply["usage"]["completion_tokens"], 16);

    // parallel_tool_calls:false keeps only the first call, billed alone.
    let mut single = openai_ask(json!([{"role": "user", "content": BOTH}]));
    single["parallel_tool_calls"] = json!(false);
    let reply = openai(&mock, single).await.json();
    let calls = reply["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], "call_mock_2");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(reply["usage"]["completion_tokens"], 8);
}

#[tokio::test]
async fn openai_parallel_calls_stream_by_index_one_after_the_other() {
    let mock = MockUpstream::spawn().await;
    let mut body = openai_ask(json!([{"role": "user", "content": BOTH}]));
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = openai_chunks(&openai(&mock, body).await);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 16);
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "tool_calls");
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": null})
    );

    // Each call: an opening fragment with id, type, name and empty arguments, then pieces.
    let fragments: Vec<&Value> = chunks[1..chunks.len() - 2]
        .iter()
        .map(|chunk| {
            let calls = chunk["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .unwrap();
            assert_eq!(calls.len(), 1, "one fragment per chunk");
            &calls[0]
        })
        .collect();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for fragment in fragments {
        let index = fragment["index"].as_u64().unwrap() as usize;
        if let Some(id) = fragment["id"].as_str() {
            assert_eq!(index, calls.len(), "a new call opens at the next index");
            assert_eq!(fragment["type"], "function");
            assert_eq!(fragment["function"]["arguments"], "");
            let name = fragment["function"]["name"].as_str().unwrap();
            calls.push((id.to_owned(), name.to_owned(), String::new()));
        } else {
            assert_eq!(index + 1, calls.len(), "pieces follow their own opening");
            assert!(fragment["function"].get("name").is_none());
            calls[index]
                .2
                .push_str(fragment["function"]["arguments"].as_str().unwrap());
        }
    }
    let expected = [
        ("call_mock_1", "get_weather", ARGUMENTS),
        ("call_mock_1_2", "get_time", ARGUMENTS),
    ]
    .map(|(id, name, arguments)| (id.to_owned(), name.to_owned(), arguments.to_owned()));
    assert_eq!(calls, expected);
}

#[tokio::test]
async fn openai_every_tool_call_needs_a_tool_message_before_the_next_turn() {
    let mock = MockUpstream::spawn().await;
    let calls = json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}},
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ARGUMENTS}}
    ]});
    let question = json!({"role": "user", "content": BOTH});
    let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "fine"});

    let answered = json!([question, calls, result("call_b"), result("call_a")]);
    let reply = openai(&mock, openai_ask(answered)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "Mock answer to: What is the weather and"
    );

    let follow_up = json!({"role": "user", "content": "thanks"});
    let cases = [
        (
            json!([question, calls, result("call_a")]),
            "messages.[1].role",
            "call_b",
        ),
        (
            json!([
                question,
                calls,
                result("call_a"),
                follow_up,
                result("call_b")
            ]),
            "messages.[1].role",
            "call_b",
        ),
        (
            json!([question, result("call_a")]),
            "messages.[1].role",
            "preceeding message with 'tool_calls'",
        ),
        (
            json!([question, calls, result("call_a"), result("call_x")]),
            "messages.[3].tool_call_id",
            "call_x",
        ),
    ];
    for (messages, param, mentions) in cases {
        let reply = openai(&mock, openai_ask(messages.clone())).await;
        assert_eq!(reply.status, 400, "{messages}");
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["param"], param, "{messages}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{message}");
    }
}

#[tokio::test]
async fn anthropic_weather_and_time_are_two_tool_use_blocks() {
    let mock = MockUpstream::spawn().await;
    let question = json!([{"role": "user", "content": BOTH}]);
    let reply = anthropic(&mock, anthropic_ask("claude-mock", question.clone())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = reply.json();
    assert_eq!(reply["stop_reason"], "tool_use");
    assert_eq!(
        reply["content"],
        json!([
            {"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_mock_1_2", "name": "get_time", "input": {"city": "Oslo"}}
        ])
    );
    assert_eq!(reply["usage"]["output_tokens"], 16);

    // disable_parallel_tool_use keeps only the first call.
    let mut single = anthropic_ask("claude-mock", question);
    single["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
    let reply = anthropic(&mock, single).await.json();
    assert_eq!(
        reply["content"],
        json!([{"type": "tool_use", "id": "toolu_mock_2", "name": "get_weather", "input": {"city": "Oslo"}}])
    );
    assert_eq!(reply["usage"]["output_tokens"], 8);
}

#[tokio::test]
async fn anthropic_streams_each_call_as_its_own_block() {
    let mock = MockUpstream::spawn().await;
    let mut body = anthropic_ask("claude-mock", json!([{"role": "user", "content": BOTH}]));
    body["stream"] = json!(true);
    let events = anthropic_events(&anthropic(&mock, body).await);

    let starts: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "content_block_start")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(starts.len(), 2);
    for (index, (id, name)) in [
        ("toolu_mock_1", "get_weather"),
        ("toolu_mock_1_2", "get_time"),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(starts[index]["index"], index);
        assert_eq!(
            starts[index]["content_block"],
            json!({"type": "tool_use", "id": id, "name": name, "input": {}})
        );
        // The block's input pieces, between its own start and stop.
        let opened = events
            .iter()
            .position(|(_, data)| data == starts[index])
            .unwrap();
        let closed = opened
            + events[opened..]
                .iter()
                .position(|(name, _)| name == "content_block_stop")
                .unwrap();
        assert_eq!(events[closed].1["index"], index);
        let input: String = events[opened + 1..closed]
            .iter()
            .filter(|(name, _)| name != "ping")
            .map(|(_, data)| {
                assert_eq!(data["index"], index);
                assert_eq!(data["delta"]["type"], "input_json_delta");
                data["delta"]["partial_json"].as_str().unwrap()
            })
            .collect();
        assert_eq!(input, ARGUMENTS);
    }
    let (name, delta) = &events[events.len() - 2];
    assert_eq!(name, "message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], 16);
}

#[tokio::test]
async fn anthropic_every_tool_use_needs_a_tool_result_in_the_next_turn() {
    let mock = MockUpstream::spawn().await;
    let question = json!({"role": "user", "content": BOTH});
    let calls = json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {"city": "Oslo"}}
    ]});
    let result = |id: &str| json!({"type": "tool_result", "tool_use_id": id, "content": "fine"});

    let both = json!({"role": "user", "content": [result("toolu_a"), result("toolu_b")]});
    let reply = anthropic(
        &mock,
        anthropic_ask("claude-mock", json!([question, calls, both])),
    );
    let reply = reply.await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["stop_reason"], "end_turn");

    let one = json!({"role": "user", "content": [result("toolu_a")]});
    let reply = anthropic(
        &mock,
        anthropic_ask("claude-mock", json!([question, calls, one])),
    );
    let reply = reply.await;
    assert_eq!(reply.status, 400);
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("toolu_b") && !message.contains("toolu_a"),
        "{message}"
    );
}

#[tokio::test]
async fn gemini_weather_and_time_are_two_signed_function_calls() {
    let mock = MockUpstream::spawn().await;
    let question = json!([{"role": "user", "parts": [{"text": BOTH}]}]);
    let call = |name: &str| json!({"functionCall": {"name": name, "args": {"city": "Oslo"}}, "thoughtSignature": THOUGHT_SIGNATURE});
    let calls = json!([call("get_weather"), call("get_time")]);

    let reply = gemini(&mock, "generateContent", gemini_ask(question.clone())).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = reply.json();
    let candidate = &reply["candidates"][0];
    assert_eq!(candidate["content"]["parts"], calls);
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(reply["usageMetadata"]["candidatesTokenCount"], 16);

    // The stream sends both calls whole in one chunk, which also ends the answer.
    let reply = gemini(&mock, "streamGenerateContent?alt=sse", gemini_ask(question)).await;
    let chunks: Vec<Value> = reply
        .body
        .split("\r\n\r\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| serde_json::from_str(frame.strip_prefix("data: ").unwrap()).unwrap())
        .collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0]["candidates"][0]["content"]["parts"], calls);
    assert_eq!(chunks[0]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[0]["usageMetadata"]["candidatesTokenCount"], 16);
}

#[tokio::test]
async fn gemini_needs_as_many_function_responses_as_calls() {
    let mock = MockUpstream::spawn().await;
    let call = |name: &str| json!({"functionCall": {"name": name, "args": {"city": "Oslo"}}, "thoughtSignature": THOUGHT_SIGNATURE});
    let response =
        |name: &str| json!({"functionResponse": {"name": name, "response": {"result": "fine"}}});
    let question = json!({"role": "user", "parts": [{"text": BOTH}]});
    let calls = json!({"role": "model", "parts": [call("get_weather"), call("get_time")]});

    let both = json!({"role": "user", "parts": [response("get_weather"), response("get_time")]});
    let reply = gemini(
        &mock,
        "generateContent",
        gemini_ask(json!([question, calls, both])),
    );
    let reply = reply.await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["candidates"][0]["content"]["parts"][0]["text"],
        "Mock answer to: What is the weather and"
    );

    let one = json!({"role": "user", "parts": [response("get_weather")]});
    let reply = gemini(
        &mock,
        "generateContent",
        gemini_ask(json!([question, calls, one])),
    );
    let reply = reply.await;
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["status"], "INVALID_ARGUMENT");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("number of function response parts"),
        "{message}"
    );
}
