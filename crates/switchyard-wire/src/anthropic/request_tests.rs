//! Unit tests of the request mapping, one rule each: `decode_request` (clients) and
//! `encode_request` (upstreams).

use super::*;
use crate::neutral::{
    ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, Signature, Thinking,
    ToolCall, ToolChoice, ToolResult, Vendor, client_tool_id,
};
use serde_json::{Value, json};

fn decode(body: Value) -> ChatRequest {
    decode_request(body.to_string().as_bytes()).unwrap()
}

fn decode_err(body: Value) -> crate::openai::RequestError {
    decode_request(body.to_string().as_bytes()).unwrap_err()
}

fn base(messages: Value) -> Value {
    json!({"model": "claude-x", "max_tokens": 100, "messages": messages})
}

fn encode(request: &ChatRequest) -> Value {
    serde_json::from_slice(&encode_request(request, "claude-up", 4096)).unwrap()
}

fn user(parts: Vec<Part>) -> Message {
    Message {
        role: Role::User,
        content: parts,
    }
}

fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        content: parts,
    }
}

fn call(id: &str) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: "f".into(),
        arguments: r#"{"a":1}"#.into(),
        signature: None,
    })
}

fn result(id: &str) -> Part {
    Part::ToolResult(ToolResult {
        id: id.into(),
        name: None,
        content: "ok".into(),
        is_error: false,
    })
}

#[test]
fn max_tokens_is_required() {
    let err = decode_err(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(err.param.as_deref(), Some("max_tokens"));
    assert!(err.message.contains("max_tokens: Field required"));
}

#[test]
fn malformed_bodies_and_fields_are_named() {
    let err = decode_request(b"{").unwrap_err();
    assert!(err.malformed_json);
    assert_eq!(
        decode_err(base(json!([]))).param.as_deref(),
        Some("messages")
    );
    let err = decode_err(base(json!([{"role": "system", "content": "x"}])));
    assert_eq!(err.param.as_deref(), Some("messages[0].role"));
    let err = decode_err(base(
        json!([{"role": "user", "content": [{"type": "document"}]}]),
    ));
    assert_eq!(err.param.as_deref(), Some("messages[0].content[0].type"));
    let err = decode_err(base(
        json!([{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": {}}]}]),
    ));
    assert!(
        err.message.contains("assistant messages"),
        "{}",
        err.message
    );
}

#[test]
fn system_string_or_blocks() {
    let mut body = base(json!([{"role": "user", "content": "hi"}]));
    body["system"] = json!("be terse");
    assert_eq!(decode(body.clone()).system, vec!["be terse"]);
    body["system"] = json!([{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "b"}]);
    assert_eq!(decode(body).system, vec!["a", "b"]);
}

#[test]
fn blocks_become_parts_and_turns_merge() {
    let request = decode(base(json!([
        {"role": "user", "content": "look"},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                                     {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig1"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
            "content": [{"type": "text", "text": "l1"}, {"type": "text", "text": "l2"}], "is_error": true}]}
    ])));
    assert_eq!(request.messages.len(), 3);
    assert_eq!(request.messages[0].content.len(), 3);
    assert_eq!(
        request.messages[0].content[1],
        Part::Image(Image::Base64 {
            media_type: "image/png".into(),
            data: "iVBO".into()
        })
    );
    let assistant = &request.messages[1].content;
    assert_eq!(
        assistant[0],
        Part::Thinking(Thinking {
            text: "hmm".into(),
            signature: Some(Signature {
                vendor: Vendor::Anthropic,
                value: "sig1".into()
            })
        })
    );
    let Part::Thinking(redacted) = &assistant[1] else {
        panic!("{assistant:?}")
    };
    assert_eq!(redacted.text, "");
    assert_eq!(assistant[2], call("toolu_1"));
    assert_eq!(
        request.messages[2].content[0],
        Part::ToolResult(ToolResult {
            id: "toolu_1".into(),
            name: None,
            content: "l1\nl2".into(),
            is_error: true
        })
    );
}

#[test]
fn gemini_signatures_come_back_from_tool_ids() {
    let signature = Signature {
        vendor: Vendor::Gemini,
        value: "c2lnbmF0dXJl".into(),
    };
    let id = client_tool_id("call_1", Some(&signature));
    let request = decode(base(json!([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "r"}]}
    ])));
    let Part::ToolCall(call) = &request.messages[1].content[0] else {
        panic!()
    };
    assert_eq!(call.id, "call_1");
    assert_eq!(call.signature, Some(signature));
    let Part::ToolResult(result) = &request.messages[2].content[0] else {
        panic!()
    };
    assert_eq!(result.id, "call_1");
}

#[test]
fn parameters_map() {
    let mut body = base(json!([{"role": "user", "content": "hi"}]));
    body["tool_choice"] = json!({"type": "any", "disable_parallel_tool_use": true});
    body["stop_sequences"] = json!(["END"]);
    body["temperature"] = json!(0.5);
    body["top_k"] = json!(40);
    body["metadata"] = json!({"user_id": "u-1"});
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    body["output_config"] =
        json!({"format": {"type": "json_schema", "schema": {"type": "object"}}});
    let request = decode(body);
    assert_eq!(request.tool_choice, Some(ToolChoice::Required));
    assert_eq!(request.parallel_tool_calls, Some(false));
    assert_eq!(request.stop, vec!["END"]);
    assert_eq!(request.temperature, Some(0.5));
    assert_eq!(request.top_k, Some(40));
    assert_eq!(request.user.as_deref(), Some("u-1"));
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(2048)
        })
    );
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: SCHEMA_NAME.into(),
            schema: json!({"type": "object"}),
            strict: None
        })
    );
}

#[test]
fn encode_hoists_system_and_clamps_temperature() {
    let request = ChatRequest {
        system: vec!["a".into(), "".into()],
        messages: vec![user(vec![Part::Text("hi".into())])],
        temperature: Some(1.7),
        seed: Some(7),
        n: Some(3),
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert_eq!(body["model"], "claude-up");
    assert_eq!(body["system"], "a");
    assert_eq!(body["temperature"], 1.0);
    assert_eq!(body["max_tokens"], 4096);
    assert!(body.get("seed").is_none() && body.get("n").is_none());
    assert!(body.get("stream").is_none());
}

#[test]
fn encode_puts_tool_results_first_and_drops_empty_text() {
    let request = ChatRequest {
        messages: vec![
            user(vec![Part::Text("go".into())]),
            assistant(vec![Part::Text("".into()), call("call:1")]),
            user(vec![Part::Text("and then".into()), result("call:1")]),
        ],
        ..ChatRequest::default()
    };
    let body = encode(&request);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(
        messages[1]["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}])
    );
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(messages[2]["content"][0]["tool_use_id"], "call_1");
    assert_eq!(messages[2]["content"][1]["type"], "text");
}

#[test]
fn encode_drops_empty_turns_and_merges_neighbours() {
    let gemini_thought = Part::Thinking(Thinking {
        text: "t".into(),
        signature: Some(Signature {
            vendor: Vendor::Gemini,
            value: "g".into(),
        }),
    });
    let request = ChatRequest {
        messages: vec![
            user(vec![Part::Text("a".into())]),
            assistant(vec![gemini_thought, Part::Text(" ".into())]),
            user(vec![Part::Text("b".into())]),
            assistant(vec![Part::Text("prefill  ".into())]),
        ],
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "prefill"}]}
        ])
    );
}

#[test]
fn encode_keeps_only_anthropic_thinking() {
    let request = ChatRequest {
        messages: vec![
            user(vec![Part::Text("a".into())]),
            assistant(vec![
                Part::Thinking(Thinking {
                    text: "unsigned".into(),
                    signature: None,
                }),
                Part::Thinking(Thinking {
                    text: "signed".into(),
                    signature: Some(Signature {
                        vendor: Vendor::Anthropic,
                        value: "s".into(),
                    }),
                }),
                Part::Thinking(super::thinking::redacted("enc")),
                Part::Text("x".into()),
            ]),
        ],
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "signed", "signature": "s"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "text", "text": "x"}
        ])
    );
}

#[test]
fn encode_tool_choice_and_formats() {
    let mut request = ChatRequest {
        messages: vec![user(vec![Part::Text("a".into())])],
        tools: vec![crate::neutral::Tool {
            name: "f".into(),
            description: None,
            parameters: json!({"type": "object"}),
            strict: None,
        }],
        tool_choice: Some(ToolChoice::Tool("f".into())),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonObject),
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
    );
    assert_eq!(body["system"], JSON_OBJECT_INSTRUCTION);
    request.tool_choice = Some(ToolChoice::None);
    request.response_format = Some(ResponseFormat::JsonSchema {
        name: "x".into(),
        schema: json!({"type": "object"}),
        strict: Some(true),
    });
    let body = encode(&request);
    assert_eq!(body["tool_choice"], json!({"type": "none"}));
    assert_eq!(
        body["output_config"],
        json!({"format": {"type": "json_schema", "schema": {"type": "object"}}})
    );
}

#[test]
fn encode_leaves_room_beyond_the_thinking_budget() {
    let mut request = ChatRequest {
        messages: vec![user(vec![Part::Text("a".into())])],
        max_tokens: Some(1000),
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(2048),
        }),
        stream: true,
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert_eq!(body["max_tokens"], 2048 + 4096);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(body["stream"], true);
    request.reasoning = Some(Reasoning {
        effort: Some("minimal".into()),
        budget_tokens: None,
    });
    let body = encode(&request);
    assert_eq!(body["max_tokens"], 1000);
    assert_eq!(body["thinking"], json!({"type": "adaptive"}));
    assert_eq!(body["output_config"]["effort"], "low");
}

#[test]
fn encode_images_as_sources() {
    let request = ChatRequest {
        messages: vec![user(vec![
            Part::Image(Image::from_url("data:image/jpeg;base64,/9j/")),
            Part::Image(Image::Url("https://x.test/a.png".into())),
        ])],
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}
        ])
    );
}

#[test]
fn encode_obeys_anthropic_thinking_rules() {
    let mut request = ChatRequest {
        messages: vec![user(vec![Part::Text("a".into())])],
        temperature: Some(0.3),
        top_p: Some(0.5),
        top_k: Some(5),
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(1024),
        }),
        ..ChatRequest::default()
    };
    let body = encode(&request);
    assert!(body.get("temperature").is_none() && body.get("top_k").is_none());
    assert_eq!(body["top_p"], 0.95);
    assert_eq!(body["thinking"]["type"], "enabled");
    // A forced tool choice wins over thinking, and sampling passes as asked.
    request.tool_choice = Some(ToolChoice::Required);
    let body = encode(&request);
    assert!(body.get("thinking").is_none());
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["top_k"], 5);
}
