//! `decode_response` and `encode_response` rules.

use super::*;
use crate::neutral::{Signature, Vendor};

fn decode(body: Value) -> ChatResponse {
    decode_response(body.to_string().as_bytes()).unwrap()
}

#[test]
fn reads_text_reasoning_calls_finish_and_usage() {
    let r = decode(
        json!({"id": "chatcmpl-1", "model": "deepseek-reasoner", "choices": [{
        "index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Checking.", "reasoning_content": "need weather",
            "tool_calls": [{"id": "call_a", "type": "function",
                            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}],
        "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59,
                  "prompt_tokens_details": {"cached_tokens": 10},
                  "completion_tokens_details": {"reasoning_tokens": 5}}}),
    );
    assert_eq!(
        (r.id.as_str(), r.model.as_str()),
        ("chatcmpl-1", "deepseek-reasoner")
    );
    assert_eq!(
        r.content,
        vec![
            Part::Thinking(Thinking {
                text: "need weather".into(),
                signature: None
            }),
            Part::Text("Checking.".into()),
            Part::ToolCall(ToolCall {
                id: "call_a".into(),
                name: "get_weather".into(),
                arguments: "{\"city\":\"Oslo\"}".into(),
                signature: None
            }),
        ]
    );
    assert_eq!(r.finish, FinishReason::ToolCalls);
    let usage = r.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            usage.reasoning_tokens
        ),
        (42, 17, 10, 5)
    );
}

#[test]
fn finish_reasons() {
    let finish = |reason: Value, calls: bool| {
        let mut message = json!({"content": "x"});
        if calls {
            message["tool_calls"] =
                json!([{"id": "c", "function": {"name": "f", "arguments": "{}"}}]);
        }
        decode(json!({"choices": [{"message": message, "finish_reason": reason}]})).finish
    };
    assert_eq!(finish(json!("stop"), false), FinishReason::Stop);
    assert_eq!(finish(json!("length"), false), FinishReason::Length);
    assert_eq!(
        finish(json!("content_filter"), false),
        FinishReason::ContentFilter
    );
    assert_eq!(
        finish(json!("function_call"), false),
        FinishReason::ToolCalls
    );
    assert_eq!(finish(json!(null), false), FinishReason::Stop);
    // Some compatible servers say `stop` after calling tools.
    assert_eq!(finish(json!("stop"), true), FinishReason::ToolCalls);
}

#[test]
fn refusal_is_text_with_a_content_filter_stop() {
    let r = decode(json!({"choices": [{"finish_reason": "stop",
        "message": {"content": null, "refusal": "I can't help with that."}}]}));
    assert_eq!(
        r.content,
        vec![Part::Text("I can't help with that.".into())]
    );
    assert_eq!(r.finish, FinishReason::ContentFilter);
}

#[test]
fn tolerates_missing_and_odd_fields() {
    let r = decode(json!({"choices": null, "usage": null}));
    assert_eq!(r, ChatResponse::default());
    let r = decode(
        json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}],
        "reasoning": "r", "tool_calls": [{"function": {"arguments": {"x": 1}}}]}}],
        "usage": {"prompt_tokens": "many", "completion_tokens": 3}}),
    );
    assert_eq!(r.content.len(), 3);
    let Part::ToolCall(call) = &r.content[2] else {
        panic!()
    };
    assert_eq!(call.arguments, "{\"x\":1}");
    assert_eq!(r.usage.unwrap().completion_tokens, 3);
    assert!(decode_response(b"<html>").is_err());
    assert!(decode_response(b"[]").is_err());
    let error =
        decode_response(br#"{"error":{"message":"model is loading","type":"server_error"}}"#);
    assert_eq!(
        error.unwrap_err(),
        "the upstream answered with an error: model is loading"
    );
}

#[test]
fn writes_a_chat_completion() {
    let response = ChatResponse {
        id: "msg_01".into(),
        model: "claude-x".into(),
        content: vec![
            Part::Thinking(Thinking {
                text: "think".into(),
                signature: Some(Signature {
                    vendor: Vendor::Anthropic,
                    value: "sig".into(),
                }),
            }),
            Part::Text("Let me check.".into()),
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: "{}".into(),
                signature: Some(Signature {
                    vendor: Vendor::Gemini,
                    value: "abc+/w==".into(),
                }),
            }),
        ],
        finish: FinishReason::ToolCalls,
        usage: Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 4,
            cached_tokens: 2,
            reasoning_tokens: 1,
            ..Usage::default()
        }),
    };
    let body: Value = serde_json::from_slice(&encode_response(&response, "my-model", 7)).unwrap();
    assert_eq!(
        body,
        json!({"id": "chatcmpl-msg_01", "object": "chat.completion", "created": 7, "model": "my-model",
            "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": "Let me check.", "refusal": null,
                    "reasoning_content": "think",
                    "tool_calls": [{"id": "call_1__thought__abc-_w", "type": "function",
                                    "function": {"name": "f", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14,
                "prompt_tokens_details": {"cached_tokens": 2},
                "completion_tokens_details": {"reasoning_tokens": 1}}})
    );
}

#[test]
fn a_tools_only_answer_has_null_content_and_no_usage_when_unknown() {
    let response = ChatResponse {
        id: "chatcmpl-9".into(),
        content: vec![Part::ToolCall(ToolCall {
            id: "c".into(),
            name: "f".into(),
            arguments: String::new(),
            signature: None,
        })],
        finish: FinishReason::ToolCalls,
        ..ChatResponse::default()
    };
    let body: Value = serde_json::from_slice(&encode_response(&response, "m", 0)).unwrap();
    assert_eq!(body["id"], "chatcmpl-9");
    assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
    assert!(body.get("usage").is_none());
}
