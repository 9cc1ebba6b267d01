//! The three client dialects as a test client speaks them: building a request from one
//! description of a conversation, and reading an answer (JSON or stream) back into one
//! [`Outcome`], so the same assertions hold for every pairing.

use serde_json::{Value, json};

/// A dialect clients speak to Switchyard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Chat,
    Messages,
    Responses,
}

/// One turn of a conversation, dialect-free.
#[derive(Clone, Debug)]
pub enum Turn {
    User(String),
    /// Text plus one image as a `data:` URL.
    UserImage(String, String),
    /// The assistant called tools: (id, name, arguments) each.
    Calls(Vec<(String, String, Value)>),
    /// The tools' answers: (call id, content) each.
    Results(Vec<(String, String)>),
}

/// What a request asks for besides its turns.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    pub system: Option<String>,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    /// Tool names offered (each takes `{"city": string}`).
    pub tools: Vec<String>,
    pub json_schema: bool,
    pub temperature: Option<f64>,
    pub stop: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

/// An answer, read back from any dialect.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub text: String,
    /// (id, name, arguments)
    pub calls: Vec<(String, String, Value)>,
    pub finish: Finish,
    /// Prompt tokens including cached ones (normalised from each dialect's convention).
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false})
}

impl Client {
    pub fn path(self) -> &'static str {
        match self {
            Client::Chat => "/v1/chat/completions",
            Client::Messages => "/v1/messages",
            Client::Responses => "/v1/responses",
        }
    }

    /// The request body for `turns` in this dialect.
    pub fn request(self, model: &str, turns: &[Turn], ask: &Ask) -> Value {
        match self {
            Client::Chat => chat_request(model, turns, ask),
            Client::Messages => messages_request(model, turns, ask),
            Client::Responses => responses_request(model, turns, ask),
        }
    }

    /// How many frames in `sse` carry generated text.
    pub fn deltas(self, sse: &str) -> usize {
        match self {
            // The role chunk says `"content":""`: not output.
            Client::Chat => {
                sse.matches("\"content\":\"").count() - sse.matches("\"content\":\"\"").count()
            }
            Client::Messages => sse.matches("text_delta").count(),
            Client::Responses => sse.matches("event: response.output_text.delta").count(),
        }
    }

    /// Reads a JSON answer.
    pub fn outcome(self, body: &Value) -> Outcome {
        match self {
            Client::Chat => chat_outcome(body),
            Client::Messages => messages_outcome(body),
            Client::Responses => responses_outcome(body),
        }
    }

    /// Reads a streamed answer, checking the dialect's framing on the way.
    pub fn stream_outcome(self, sse: &str) -> Outcome {
        let events = frames(sse);
        match self {
            Client::Chat => chat_stream(&events),
            Client::Messages => messages_stream(&events),
            Client::Responses => responses_stream(&events),
        }
    }

    /// Whether a stream ended with an in-band error in this dialect.
    pub fn stream_failed(self, sse: &str) -> bool {
        let events = frames(sse);
        match self {
            Client::Chat => events.iter().any(|(_, d)| d.get("error").is_some()),
            Client::Messages => events.iter().any(|(name, d)| {
                name.as_deref() == Some("error")
                    && d["type"] == "error"
                    && d["error"]["type"].is_string()
            }),
            Client::Responses => events.iter().any(|(name, _)| {
                matches!(name.as_deref(), Some("error") | Some("response.failed"))
            }),
        }
    }

    /// Checks an error body has this dialect's shape; returns (type, message).
    pub fn error_of(self, body: &Value) -> (String, String) {
        match self {
            Client::Messages => {
                assert_eq!(body["type"], "error", "Anthropic error shape: {body}");
                (
                    body["error"]["type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    body["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
            Client::Chat | Client::Responses => {
                let error = &body["error"];
                assert!(error.get("param").is_some(), "OpenAI error shape: {body}");
                (
                    error["type"].as_str().unwrap_or_default().to_owned(),
                    error["message"].as_str().unwrap_or_default().to_owned(),
                )
            }
        }
    }
}

/// `(event name, data)` of each SSE frame with JSON data; `[DONE]` is kept as a string.
fn frames(sse: &str) -> Vec<(Option<String>, Value)> {
    sse.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut data = Vec::new();
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.trim_start());
                }
            }
            if data.is_empty() {
                return None;
            }
            let data = data.join("\n");
            let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
            Some((name, value))
        })
        .collect()
}

fn chat_request(model: &str, turns: &[Turn], ask: &Ask) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &ask.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for turn in turns {
        match turn {
            Turn::User(text) => messages.push(json!({"role": "user", "content": text})),
            Turn::UserImage(text, url) => messages.push(json!({"role": "user", "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": url}},
            ]})),
            Turn::Calls(calls) => messages.push(json!({"role": "assistant", "content": null, "tool_calls":
                calls.iter().map(|(id, name, arguments)| json!(
                    {"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}}
                )).collect::<Vec<_>>(),
            })),
            Turn::Results(results) => {
                for (id, content) in results {
                    messages.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
                }
            }
        }
    }
    let mut body = json!({"model": model, "messages": messages});
    if ask.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(n) = ask.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if !ask.tools.is_empty() {
        body["tools"] = ask
            .tools
            .iter()
            .map(|name| json!({"type": "function", "function": {"name": name, "description": "Look it up", "parameters": weather_schema()}}))
            .collect();
    }
    if let Some(t) = ask.temperature {
        body["temperature"] = json!(t);
    }
    if !ask.stop.is_empty() {
        body["stop"] = json!(ask.stop);
    }
    if ask.json_schema {
        body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}});
    }
    body
}

fn messages_request(model: &str, turns: &[Turn], ask: &Ask) -> Value {
    let messages: Vec<Value> = turns
        .iter()
        .map(|turn| match turn {
            Turn::User(text) => json!({"role": "user", "content": text}),
            Turn::UserImage(text, url) => {
                let (meta, data) = url
                    .trim_start_matches("data:")
                    .split_once(',')
                    .unwrap_or_default();
                json!({"role": "user", "content": [
                    {"type": "text", "text": text},
                    {"type": "image", "source": {"type": "base64", "media_type": meta.trim_end_matches(";base64"), "data": data}},
                ]})
            }
            Turn::Calls(calls) => json!({"role": "assistant", "content":
                calls.iter().map(|(id, name, arguments)| json!(
                    {"type": "tool_use", "id": id, "name": name, "input": arguments}
                )).collect::<Vec<_>>(),
            }),
            Turn::Results(results) => json!({"role": "user", "content":
                results.iter().map(|(id, content)| json!(
                    {"type": "tool_result", "tool_use_id": id, "content": content}
                )).collect::<Vec<_>>(),
            }),
        })
        .collect();
    let mut body =
        json!({"model": model, "messages": messages, "max_tokens": ask.max_tokens.unwrap_or(256)});
    if let Some(system) = &ask.system {
        body["system"] = json!(system);
    }
    if ask.stream {
        body["stream"] = json!(true);
    }
    if !ask.tools.is_empty() {
        body["tools"] = ask
            .tools
            .iter()
            .map(|name| json!({"name": name, "description": "Look it up", "input_schema": weather_schema()}))
            .collect();
    }
    if let Some(t) = ask.temperature {
        body["temperature"] = json!(t);
    }
    if !ask.stop.is_empty() {
        body["stop_sequences"] = json!(ask.stop);
    }
    if ask.json_schema {
        body["output_config"] = json!({"format": {"type": "json_schema", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}});
    }
    body
}

fn responses_request(model: &str, turns: &[Turn], ask: &Ask) -> Value {
    let input: Vec<Value> = turns
        .iter()
        .flat_map(|turn| match turn {
            Turn::User(text) => vec![json!({"role": "user", "content": text})],
            Turn::UserImage(text, url) => vec![json!({"role": "user", "content": [
                {"type": "input_text", "text": text},
                {"type": "input_image", "image_url": url},
            ]})],
            Turn::Calls(calls) => calls
                .iter()
                .map(|(id, name, arguments)| json!({"type": "function_call", "call_id": id, "name": name, "arguments": arguments.to_string()}))
                .collect(),
            Turn::Results(results) => results
                .iter()
                .map(|(id, content)| json!({"type": "function_call_output", "call_id": id, "output": content}))
                .collect(),
        })
        .collect();
    let mut body = json!({"model": model, "input": input});
    if let Some(system) = &ask.system {
        body["instructions"] = json!(system);
    }
    if ask.stream {
        body["stream"] = json!(true);
    }
    if let Some(n) = ask.max_tokens {
        body["max_output_tokens"] = json!(n);
    }
    if !ask.tools.is_empty() {
        body["tools"] = ask
            .tools
            .iter()
            .map(|name| json!({"type": "function", "name": name, "description": "Look it up", "parameters": weather_schema()}))
            .collect();
    }
    if let Some(t) = ask.temperature {
        body["temperature"] = json!(t);
    }
    if ask.json_schema {
        body["text"] = json!({"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object", "properties": {"answer": {"type": "string"}}}}});
    }
    body
}

fn u(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

fn arguments(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("tool arguments are JSON ({e}): {text}"))
}

fn chat_finish(reason: &Value) -> Finish {
    match reason.as_str() {
        Some("stop") => Finish::Stop,
        Some("length") => Finish::Length,
        Some("tool_calls") => Finish::ToolCalls,
        Some("content_filter") => Finish::ContentFilter,
        other => panic!("unknown finish_reason {other:?}"),
    }
}

fn chat_outcome(body: &Value) -> Outcome {
    assert_eq!(body["object"], "chat.completion", "{body}");
    let choice = &body["choices"][0];
    let message = &choice["message"];
    let calls = message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["function"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                arguments(c["function"]["arguments"].as_str().unwrap_or("{}")),
            )
        })
        .collect();
    let usage = &body["usage"];
    Outcome {
        text: message["content"].as_str().unwrap_or_default().to_owned(),
        calls,
        finish: chat_finish(&choice["finish_reason"]),
        prompt_tokens: u(&usage["prompt_tokens"]),
        completion_tokens: u(&usage["completion_tokens"]),
        cached_tokens: u(&usage["prompt_tokens_details"]["cached_tokens"]),
    }
}

fn chat_stream(events: &[(Option<String>, Value)]) -> Outcome {
    assert_eq!(
        events.last().map(|(_, d)| d.clone()),
        Some(Value::String("[DONE]".into())),
        "a chat stream ends with [DONE]"
    );
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    let mut usage = Value::Null;
    let mut ids = std::collections::HashSet::new();
    for (_, chunk) in &events[..events.len() - 1] {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        ids.insert(chunk["id"].to_string());
        if !chunk["usage"].is_null() {
            usage = chunk["usage"].clone();
        }
        for choice in chunk["choices"].as_array().into_iter().flatten() {
            let delta = &choice["delta"];
            if let Some(t) = delta["content"].as_str() {
                text.push_str(t);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = u(&call["index"]) as usize;
                if index == calls.len() {
                    calls.push((
                        call["id"]
                            .as_str()
                            .expect("the first fragment has the id")
                            .to_owned(),
                        call["function"]["name"]
                            .as_str()
                            .expect("and the name")
                            .to_owned(),
                        String::new(),
                    ));
                }
                if let Some(piece) = call["function"]["arguments"].as_str() {
                    calls[index].2.push_str(piece);
                }
            }
            if !choice["finish_reason"].is_null() {
                finish = Some(chat_finish(&choice["finish_reason"]));
            }
        }
    }
    assert_eq!(ids.len(), 1, "every chunk has the same id");
    Outcome {
        text,
        calls: calls
            .into_iter()
            .map(|(id, name, args)| (id, name, arguments(&args)))
            .collect(),
        finish: finish.expect("a finish_reason"),
        prompt_tokens: u(&usage["prompt_tokens"]),
        completion_tokens: u(&usage["completion_tokens"]),
        cached_tokens: u(&usage["prompt_tokens_details"]["cached_tokens"]),
    }
}

fn messages_finish(reason: &Value) -> Finish {
    match reason.as_str() {
        Some("end_turn") | Some("stop_sequence") => Finish::Stop,
        Some("max_tokens") => Finish::Length,
        Some("tool_use") => Finish::ToolCalls,
        Some("refusal") => Finish::ContentFilter,
        other => panic!("unknown stop_reason {other:?}"),
    }
}

fn messages_outcome(body: &Value) -> Outcome {
    assert_eq!(body["type"], "message", "{body}");
    assert_eq!(body["role"], "assistant");
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in body["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push((
                block["id"].as_str().unwrap_or_default().to_owned(),
                block["name"].as_str().unwrap_or_default().to_owned(),
                block["input"].clone(),
            )),
            _ => {}
        }
    }
    let usage = &body["usage"];
    let cached = u(&usage["cache_read_input_tokens"]);
    Outcome {
        text,
        calls,
        finish: messages_finish(&body["stop_reason"]),
        prompt_tokens: u(&usage["input_tokens"])
            + cached
            + u(&usage["cache_creation_input_tokens"]),
        completion_tokens: u(&usage["output_tokens"]),
        cached_tokens: cached,
    }
}

fn messages_stream(events: &[(Option<String>, Value)]) -> Outcome {
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut block_kinds = std::collections::HashMap::new();
    let mut open: Option<u64> = None;
    let mut finish = None;
    let mut usage = serde_json::Map::new();
    for (name, data) in events {
        assert_eq!(
            Some(data["type"].as_str().unwrap_or_default()),
            name.as_deref(),
            "type repeats the event name"
        );
        match name.as_deref() {
            Some("message_start") => {
                for (k, v) in data["message"]["usage"].as_object().into_iter().flatten() {
                    usage.insert(k.clone(), v.clone());
                }
            }
            Some("content_block_start") => {
                assert_eq!(open, None, "the previous block is closed first");
                let index = u(&data["index"]);
                open = Some(index);
                let block = &data["content_block"];
                block_kinds.insert(index, block["type"].as_str().unwrap_or_default().to_owned());
                if block["type"] == "tool_use" {
                    calls.push((
                        block["id"].as_str().unwrap_or_default().to_owned(),
                        block["name"].as_str().unwrap_or_default().to_owned(),
                        String::new(),
                    ));
                }
            }
            Some("content_block_delta") => {
                assert_eq!(open, Some(u(&data["index"])), "deltas go to the open block");
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => text.push_str(delta["text"].as_str().unwrap_or_default()),
                    Some("input_json_delta") => calls
                        .last_mut()
                        .expect("a tool_use block is open")
                        .2
                        .push_str(delta["partial_json"].as_str().unwrap_or_default()),
                    _ => {}
                }
            }
            Some("content_block_stop") => {
                assert_eq!(open, Some(u(&data["index"])));
                open = None;
            }
            Some("message_delta") => {
                finish = Some(messages_finish(&data["delta"]["stop_reason"]));
                for (k, v) in data["usage"].as_object().into_iter().flatten() {
                    usage.insert(k.clone(), v.clone());
                }
            }
            _ => {}
        }
    }
    let usage = Value::Object(usage);
    let cached = u(&usage["cache_read_input_tokens"]);
    Outcome {
        text,
        calls: calls
            .into_iter()
            .map(|(id, name, args)| {
                (
                    id,
                    name,
                    arguments(if args.is_empty() { "{}" } else { &args }),
                )
            })
            .collect(),
        finish: finish.expect("a message_delta with stop_reason"),
        prompt_tokens: u(&usage["input_tokens"])
            + cached
            + u(&usage["cache_creation_input_tokens"]),
        completion_tokens: u(&usage["output_tokens"]),
        cached_tokens: cached,
    }
}

fn responses_outcome(body: &Value) -> Outcome {
    assert_eq!(body["object"], "response", "{body}");
    let mut text = String::new();
    let mut calls = Vec::new();
    for item in body["output"].as_array().into_iter().flatten() {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    if part["type"] == "output_text" {
                        text.push_str(part["text"].as_str().unwrap_or_default());
                    }
                }
            }
            Some("function_call") => calls.push((
                item["call_id"].as_str().unwrap_or_default().to_owned(),
                item["name"].as_str().unwrap_or_default().to_owned(),
                arguments(item["arguments"].as_str().unwrap_or("{}")),
            )),
            _ => {}
        }
    }
    let finish = match (
        body["status"].as_str(),
        body["incomplete_details"]["reason"].as_str(),
    ) {
        (Some("incomplete"), Some("max_output_tokens")) => Finish::Length,
        (Some("incomplete"), Some("content_filter")) => Finish::ContentFilter,
        (Some("completed"), _) if !calls.is_empty() => Finish::ToolCalls,
        (Some("completed"), _) => Finish::Stop,
        other => panic!("unexpected status {other:?}"),
    };
    let usage = &body["usage"];
    Outcome {
        text,
        calls,
        finish,
        prompt_tokens: u(&usage["input_tokens"]),
        completion_tokens: u(&usage["output_tokens"]),
        cached_tokens: u(&usage["input_tokens_details"]["cached_tokens"]),
    }
}

fn responses_stream(events: &[(Option<String>, Value)]) -> Outcome {
    let mut last = None;
    let mut deltas = String::new();
    for (name, data) in events {
        assert_eq!(
            Some(data["type"].as_str().unwrap_or_default()),
            name.as_deref(),
            "type repeats the event name"
        );
        let n = data["sequence_number"]
            .as_u64()
            .expect("every event has a sequence_number");
        if let Some(previous) = last {
            assert!(n > previous, "sequence numbers increase");
        }
        last = Some(n);
        if name.as_deref() == Some("response.output_text.delta") {
            deltas.push_str(data["delta"].as_str().unwrap_or_default());
        }
    }
    let names: Vec<&str> = events.iter().filter_map(|(n, _)| n.as_deref()).collect();
    assert_eq!(names.first(), Some(&"response.created"), "{names:?}");
    let (terminal, data) = events.last().expect("events");
    assert!(
        matches!(
            terminal.as_deref(),
            Some("response.completed") | Some("response.incomplete")
        ),
        "{names:?}"
    );
    let outcome = responses_outcome(&data["response"]);
    assert_eq!(outcome.text, deltas, "the deltas add up to the final text");
    outcome
}
