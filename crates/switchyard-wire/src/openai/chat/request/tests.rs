//! One test per mapping rule of `decode_request`.

use super::*;
use crate::neutral::{Signature, Vendor};
use serde_json::json;

fn decode(body: Value) -> Result<ChatRequest, RequestError> {
    decode_request(body.to_string().as_bytes())
}

fn ok(body: Value) -> ChatRequest {
    decode(body).unwrap()
}

fn err(body: Value) -> RequestError {
    decode(body).unwrap_err()
}

fn user(content: Value) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": content}]})
}

#[test]
fn system_and_developer_messages_are_hoisted_in_order() {
    let r = ok(json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "system", "content": ""},
    ]}));
    assert_eq!(r.system, vec!["be brief".to_owned(), "a\nb".to_owned()]);
    assert_eq!(r.messages.len(), 1);
}

#[test]
fn user_parts_become_text_and_images() {
    let r = ok(user(json!([
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO", "detail": "high"}},
        {"type": "image_url", "image_url": "https://x.test/a.png"},
    ])));
    assert_eq!(
        r.messages[0].content,
        vec![
            Part::Text("what is this?".into()),
            Part::Image(Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBO".into()
            }),
            Part::Image(Image::Url("https://x.test/a.png".into())),
        ]
    );
}

#[test]
fn audio_and_file_parts_are_refused_by_name() {
    let e = err(user(
        json!([{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]),
    ));
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
    assert!(e.message.contains("`input_audio`"), "{}", e.message);
    let e = err(user(json!([{"type": "file", "file": {"file_id": "f"}}])));
    assert!(e.message.contains("`file`"));
}

#[test]
fn assistant_text_calls_and_reasoning() {
    let r = ok(json!({"model": "m", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "reasoning_content": "look it up",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
    ]}));
    assert_eq!(
        r.messages[1].content,
        vec![
            Part::Thinking(Thinking {
                text: "look it up".into(),
                signature: None
            }),
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: "{\"city\": \"Oslo\"}".into(),
                signature: None,
            }),
        ]
    );
}

#[test]
fn assistant_refusal_stays_as_text() {
    let r = ok(json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
    ]}));
    assert_eq!(r.messages[1].content, vec![Part::Text("I can't.".into())]);
}

#[test]
fn tool_messages_join_one_user_turn_and_ids_give_back_signatures() {
    let id = neutral::client_tool_id(
        "call_9",
        Some(&Signature {
            vendor: Vendor::Gemini,
            value: "c2ln".into(),
        }),
    );
    let r = ok(json!({"model": "m", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"id": id, "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": id, "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "name": "g", "content": [{"type": "text", "text": "t"}, {"type": "text", "text": "u"}]},
        {"role": "user", "content": "thanks"},
    ]}));
    assert_eq!(r.messages.len(), 3);
    let Part::ToolCall(call) = &r.messages[1].content[0] else {
        panic!()
    };
    assert_eq!(call.id, "call_9");
    assert_eq!(
        call.signature.as_ref().map(|s| s.value.as_str()),
        Some("c2ln")
    );
    assert_eq!(
        r.messages[2].content,
        vec![
            Part::ToolResult(ToolResult {
                id: "call_9".into(),
                name: None,
                content: "one".into(),
                is_error: false
            }),
            Part::ToolResult(ToolResult {
                id: "call_2".into(),
                name: None,
                content: "t\nu".into(),
                is_error: false
            }),
            Part::Text("thanks".into()),
        ]
    );
}

#[test]
fn parameters() {
    let r = ok(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 5, "max_completion_tokens": 7, "temperature": 0.5, "top_p": 0.9,
        "stop": "END", "n": 2, "seed": -3, "user": "u1", "stream": true,
        "parallel_tool_calls": false, "reasoning_effort": "low",
        "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                   "parameters": {"type": "object"}, "strict": true}},
                  {"type": "function", "function": {"name": "g"}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": true}},
        "logprobs": true, "frequency_penalty": 1, "stream_options": {"include_usage": true}}),
    );
    assert_eq!(r.max_tokens, Some(7));
    assert_eq!(r.temperature, Some(0.5));
    assert_eq!(r.top_p, Some(0.9));
    assert_eq!(r.stop, vec!["END".to_owned()]);
    assert_eq!(
        (r.n, r.seed, r.user.as_deref()),
        (Some(2), Some(-3), Some("u1"))
    );
    assert!(r.stream);
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(r.reasoning.unwrap().effort.as_deref(), Some("low"));
    assert_eq!(r.tools[0].strict, Some(true));
    assert_eq!(
        r.tools[1].parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool("f".into())));
    assert_eq!(
        r.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "s".into(),
            schema: json!({"type": "object"}),
            strict: Some(true)
        })
    );
    let r = ok(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 5, "stop": ["a", "b"], "tool_choice": "required", "response_format": {"type": "json_object"}}),
    );
    assert_eq!(r.max_tokens, Some(5));
    assert_eq!(r.stop.len(), 2);
    assert_eq!(r.tool_choice, Some(ToolChoice::Required));
    assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (json!({"model": "m"}), "messages"),
        (json!({"model": "m", "messages": []}), "messages"),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "bot", "content": "x"}]}),
            "messages[0].role",
        ),
        (json!({"model": "m", "messages": ["hi"]}), "messages[0]"),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 3}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (
            user(json!("x")).merge("temperature", json!("hot")),
            "temperature",
        ),
        (user(json!("x")).merge("stop", json!([1])), "stop[0]"),
        (
            user(json!("x")).merge("tools", json!([{"type": "web_search"}])),
            "tools[0].type",
        ),
        (
            user(json!("x")).merge("tool_choice", json!("sometimes")),
            "tool_choice",
        ),
        (
            user(json!("x")).merge("tool_choice", json!({"type": "allowed_tools"})),
            "tool_choice",
        ),
        (
            user(json!("x")).merge("response_format", json!({"type": "yaml"})),
            "response_format.type",
        ),
        (user(json!("x")).merge("functions", json!([])), "functions"),
        (
            user(json!("x")).merge("max_tokens", json!(-1)),
            "max_tokens",
        ),
    ];
    for (body, param) in cases {
        let e = err(body.clone());
        assert_eq!(e.param.as_deref(), Some(param), "{body} → {}", e.message);
        assert!(!e.malformed_json);
    }
    assert!(decode_request(b"{\"model\":").unwrap_err().malformed_json);
    assert!(decode_request(b"[1]").unwrap_err().malformed_json);
}

trait Merge {
    fn merge(self, key: &str, value: Value) -> Value;
}

impl Merge for Value {
    fn merge(mut self, key: &str, value: Value) -> Value {
        self[key] = value;
        self
    }
}

/// Any JSON value, small.
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("tool"),
            Just("system"),
            Just("text"),
            Just("image_url"),
            Just("function"),
            Just("x")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let key = prop_oneof![
            Just("role"),
            Just("content"),
            Just("type"),
            Just("text"),
            Just("image_url"),
            Just("url"),
            Just("tool_calls"),
            Just("tool_call_id"),
            Just("function"),
            Just("name"),
            Just("arguments"),
            Just("id"),
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..5).prop_map(|fields| {
                Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest::proptest! {
    /// Whatever a client sends, the answer is a request or an error, never a panic.
    #[test]
    fn any_messages_never_panic(messages in any_json(), tools in any_json(), choice in any_json()) {
        let body = json!({"model": "m", "messages": messages, "tools": tools, "tool_choice": choice,
                          "response_format": choice, "stop": tools});
        let _ = decode(body);
    }
}
