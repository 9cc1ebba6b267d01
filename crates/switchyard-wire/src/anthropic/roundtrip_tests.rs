//! Property: a neutral request that Anthropic's format can represent survives
//! `encode_request` → `decode_request` unchanged; and unit tests of the response mapping.

use super::*;
use crate::neutral::{
    ChatRequest, ChatResponse, FinishReason, Image, Message, Part, Reasoning, ResponseFormat, Role,
    Signature, Thinking, Tool, ToolCall, ToolChoice, ToolResult, Vendor, client_tool_id,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use switchyard_core::Usage;

/// Text Anthropic accepts anywhere: not blank, no trailing whitespace (a final assistant
/// turn's is trimmed).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9é\"{}]([a-zA-Z0-9 é\\n\"]{0,12}[a-z])?"
}

fn arguments() -> impl Strategy<Value = String> {
    prop::collection::btree_map("[a-z]{1,5}", any::<i32>(), 0..3).prop_map(|m| {
        let object: serde_json::Map<String, Value> =
            m.into_iter().map(|(k, v)| (k, json!(v))).collect();
        Value::Object(object).to_string()
    })
}

fn user_turn() -> impl Strategy<Value = Message> {
    let result = ("toolu_[a-zA-Z0-9]{1,8}", "[a-z ]{0,10}", any::<bool>()).prop_map(
        |(id, content, is_error)| {
            Part::ToolResult(ToolResult {
                id,
                name: None,
                content,
                is_error,
            })
        },
    );
    let other = prop_oneof![
        text().prop_map(Part::Text),
        "[A-Za-z0-9+/]{4,12}".prop_map(|data| Part::Image(Image::Base64 {
            media_type: "image/png".into(),
            data
        })),
        "[a-z]{1,8}".prop_map(|p| Part::Image(Image::Url(format!("https://x.test/{p}.png")))),
    ];
    (
        prop::collection::vec(result, 0..3),
        prop::collection::vec(other, 0..3),
    )
        .prop_filter("a turn has content", |(r, o)| {
            !r.is_empty() || !o.is_empty()
        })
        .prop_map(|(mut results, others)| {
            // Anthropic lists tool results first in a user turn.
            results.extend(others);
            Message {
                role: Role::User,
                content: results,
            }
        })
}

fn assistant_turn() -> impl Strategy<Value = Message> {
    let part = prop_oneof![
        text().prop_map(Part::Text),
        ("[a-z ]{0,10}", "[A-Za-z0-9+/]{1,12}").prop_map(|(text, sig)| {
            Part::Thinking(Thinking {
                text,
                signature: Some(Signature {
                    vendor: Vendor::Anthropic,
                    value: sig,
                }),
            })
        }),
        "[A-Za-z0-9+/]{1,12}".prop_map(|data| Part::Thinking(thinking::redacted(&data))),
        ("toolu_[a-zA-Z0-9]{1,8}", "[a-z_]{1,8}", arguments()).prop_map(|(id, name, arguments)| {
            Part::ToolCall(ToolCall {
                id,
                name,
                arguments,
                signature: None,
            })
        }),
    ];
    prop::collection::vec(part, 1..4).prop_map(|content| Message {
        role: Role::Assistant,
        content,
    })
}

fn conversation() -> impl Strategy<Value = Vec<Message>> {
    let pairs = prop::collection::vec((user_turn(), assistant_turn()), 1..4);
    (pairs, any::<bool>()).prop_map(|(pairs, end_with_user)| {
        let mut messages: Vec<Message> = pairs.into_iter().flat_map(|(u, a)| [u, a]).collect();
        if end_with_user {
            messages.pop();
        }
        messages
    })
}

fn tools() -> impl Strategy<Value = Vec<Tool>> {
    prop::collection::vec(
        (
            "[a-z_]{1,8}",
            prop::option::of("[a-z ]{1,12}"),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(name, description, strict)| Tool {
                name,
                description,
                parameters: json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                strict,
            }),
        0..3,
    )
}

fn choice() -> impl Strategy<Value = (Option<ToolChoice>, Option<bool>)> {
    prop_oneof![
        Just((None, None)),
        Just((Some(ToolChoice::None), None)),
        (
            prop_oneof![
                Just(ToolChoice::Auto),
                Just(ToolChoice::Required),
                "[a-z]{1,6}".prop_map(ToolChoice::Tool)
            ],
            prop::option::of(any::<bool>())
        )
            .prop_map(|(c, p)| (Some(c), p)),
    ]
}

fn limits() -> impl Strategy<Value = (u64, Option<Reasoning>)> {
    (1u64..200_000).prop_flat_map(|max| {
        let effort = prop::option::of(prop_oneof![
            Just("low".to_owned()),
            Just("medium".to_owned()),
            Just("high".to_owned())
        ]);
        let budget = if max > 1024 {
            prop::option::of(1024..max).boxed()
        } else {
            Just(None).boxed()
        };
        let reasoning =
            prop::option::of(
                (effort, budget).prop_map(|(effort, budget_tokens)| Reasoning {
                    effort,
                    budget_tokens,
                }),
            );
        (Just(max), reasoning)
    })
}

prop_compose! {
    fn request()(
        model in "[a-z0-9-]{1,12}",
        system in prop::collection::vec(text(), 0..3),
        messages in conversation(),
        (max_tokens, reasoning) in limits(),
        // Two decimals: serde_json (without `float_roundtrip`) may misread long ones.
        temperature in prop::option::of((0u32..=100).prop_map(|n| f64::from(n) / 100.0)),
        top_p in prop::option::of((0u32..=100).prop_map(|n| f64::from(n) / 100.0)),
        top_k in prop::option::of(0u64..500),
        stop in prop::collection::vec("[a-zA-Z#\\n]{1,6}", 0..3),
        stream in any::<bool>(),
        tools in tools(),
        (tool_choice, parallel_tool_calls) in choice(),
        json_schema in any::<bool>(),
        user in prop::option::of("[a-z0-9-]{1,10}"),
    ) -> ChatRequest {
        // Anthropic's thinking rules: no forced tool, no temperature or top_k, top_p ≥ 0.95.
        let thinking = reasoning.is_some();
        let tool_choice = match tool_choice {
            Some(ToolChoice::Required | ToolChoice::Tool(_)) if thinking => Some(ToolChoice::Auto),
            other => other,
        };
        let temperature = temperature.filter(|_| !thinking);
        let top_k = top_k.filter(|_| !thinking);
        let top_p = top_p.map(|p| if thinking { p.max(0.95) } else { p });
        ChatRequest {
            model,
            system,
            messages,
            max_tokens: Some(max_tokens),
            temperature,
            top_p,
            top_k,
            stop,
            stream,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format: json_schema.then(|| ResponseFormat::JsonSchema {
                name: SCHEMA_NAME.into(),
                schema: json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
                strict: None,
            }),
            user,
            seed: None,
            n: None,
            reasoning,
        }
    }
}

proptest! {
    #[test]
    fn requests_survive_a_round_trip(request in request()) {
        let body = encode_request(&request, &request.model, 4096);
        let back = decode_request(&body);
        prop_assert_eq!(back, Ok(request), "{}", String::from_utf8_lossy(&body));
    }

    #[test]
    fn arbitrary_request_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_request(&bytes);
        let _ = decode_response(&bytes);
        let _ = decode_error(500, &bytes);
        let _ = usage_of_response(&bytes);
    }
}

#[test]
fn responses_decode_every_block_and_reason() {
    let body = json!({
        "id": "msg_01X", "type": "message", "role": "assistant", "model": "claude-up",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "EqQB"},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "text", "text": "Checking."},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": 380, "output_tokens": 41, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20}
    });
    let response = decode_response(body.to_string().as_bytes()).unwrap();
    assert_eq!(response.id, "msg_01X");
    assert_eq!(response.content.len(), 4);
    assert_eq!(response.finish, FinishReason::ToolCalls);
    assert_eq!(
        response.usage,
        Some(Usage {
            prompt_tokens: 400,
            completion_tokens: 41,
            cached_tokens: 20,
            ..Usage::default()
        })
    );
    for (reason, sequence, finish) in [
        ("end_turn", None, FinishReason::Stop),
        ("pause_turn", None, FinishReason::Stop),
        (
            "stop_sequence",
            Some("##"),
            FinishReason::StopSequence(Some("##".into())),
        ),
        ("max_tokens", None, FinishReason::Length),
        ("model_context_window_exceeded", None, FinishReason::Length),
        ("refusal", None, FinishReason::ContentFilter),
    ] {
        let body = json!({"stop_reason": reason, "stop_sequence": sequence});
        let decoded = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(decoded.finish, finish, "{reason}");
    }
    assert!(decode_response(b"[]").is_err());
    assert!(decode_response(br#"{"type":"error","error":{"message":"x"}}"#).is_err());
    assert_eq!(decode_response(b"{}").unwrap(), ChatResponse::default());
}

#[test]
fn responses_encode_for_clients() {
    let gemini = Signature {
        vendor: Vendor::Gemini,
        value: "c2ln".into(),
    };
    let response = ChatResponse {
        id: "msg_1".into(),
        model: "gemini-up".into(),
        content: vec![
            Part::Thinking(Thinking {
                text: "t".into(),
                signature: Some(gemini.clone()),
            }),
            Part::Text(String::new()),
            Part::Text("hi".into()),
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: String::new(),
                signature: Some(gemini.clone()),
            }),
        ],
        finish: FinishReason::StopSequence(Some("##".into())),
        usage: Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 3,
            cached_tokens: 4,
            ..Usage::default()
        }),
    };
    let body: Value = serde_json::from_slice(&encode_response(&response, "alias")).unwrap();
    assert_eq!(
        body,
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "alias",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": ""},
                {"type": "text", "text": "hi"},
                {"type": "tool_use", "id": client_tool_id("call_1", Some(&gemini)), "name": "f", "input": {}}
            ],
            "stop_reason": "stop_sequence", "stop_sequence": "##",
            "usage": {"input_tokens": 6, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4, "output_tokens": 3}
        })
    );
}
