//! `encode_request` rules, and the round trip neutral → OpenAI body → neutral.

use super::*;
use crate::neutral::{Image, Reasoning, Signature, Thinking, ToolCall, ToolResult, Vendor};
use crate::openai::chat::decode_request;
use proptest::prelude::*;

fn encode(request: &ChatRequest) -> Value {
    serde_json::from_slice(&encode_request(request, "up-model")).unwrap()
}

fn turn(role: Role, content: Vec<Part>) -> Message {
    Message { role, content }
}

#[test]
fn system_prompts_join_into_one_leading_message() {
    let r = ChatRequest {
        system: vec!["a".into(), "b".into()],
        messages: vec![turn(Role::User, vec![Part::Text("hi".into())])],
        ..ChatRequest::default()
    };
    let body = encode(&r);
    assert_eq!(body["model"], "up-model");
    assert_eq!(
        body["messages"],
        json!([{"role": "system", "content": "a\n\nb"}, {"role": "user", "content": "hi"}])
    );
}

#[test]
fn tool_results_come_first_then_the_users_parts() {
    let r = ChatRequest {
        messages: vec![turn(
            Role::User,
            vec![
                Part::Text("see".into()),
                Part::ToolResult(ToolResult {
                    id: "call_1".into(),
                    name: Some("f".into()),
                    content: "{\"t\":1}".into(),
                    is_error: true,
                }),
                Part::Image(Image::Url("https://x.test/i.png".into())),
            ],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode(&r)["messages"],
        json!([
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"t\":1}"},
            {"role": "user", "content": [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "https://x.test/i.png"}},
            ]},
        ])
    );
}

#[test]
fn assistant_calls_drop_thinking_and_foreign_signatures() {
    let r = ChatRequest {
        messages: vec![turn(
            Role::Assistant,
            vec![
                Part::Thinking(Thinking {
                    text: "hmm".into(),
                    signature: Some(Signature {
                        vendor: Vendor::Anthropic,
                        value: "s".into(),
                    }),
                }),
                Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "f".into(),
                    arguments: String::new(),
                    signature: Some(Signature {
                        vendor: Vendor::Gemini,
                        value: "g".into(),
                    }),
                }),
            ],
        )],
        ..ChatRequest::default()
    };
    assert_eq!(
        encode(&r)["messages"],
        json!([{"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]}])
    );
}

#[test]
fn parameters_and_streaming() {
    let r = ChatRequest {
        messages: vec![turn(Role::User, vec![Part::Text("x".into())])],
        max_tokens: Some(100),
        top_k: Some(3),
        stop: vec!["END".into()],
        stream: true,
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(false),
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(2048),
        }),
        ..ChatRequest::default()
    };
    let body = encode(&r);
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    // No tools: OpenAI would refuse these two. No effort: a budget alone is not sent.
    for absent in [
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "top_k",
        "max_completion_tokens",
    ] {
        assert!(body.get(absent).is_none(), "{absent}");
    }
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,!?\"\\\\é😀\n]{1,12}"
}

fn image() -> impl Strategy<Value = Part> {
    prop_oneof![
        "[a-z]{1,8}".prop_map(|p| Part::Image(Image::Url(format!("https://x.test/{p}.png")))),
        "[A-Za-z0-9+/]{4,16}".prop_map(|data| Part::Image(Image::Base64 {
            media_type: "image/png".into(),
            data,
        })),
    ]
}

fn tool_result() -> impl Strategy<Value = Part> {
    ("[a-z0-9_]{1,8}", text()).prop_map(|(id, content)| {
        Part::ToolResult(ToolResult {
            id: format!("call_{id}"),
            name: None,
            content,
            is_error: false,
        })
    })
}

/// A user turn: tool results, then nothing, one text, or parts with at least one image
/// (text-only turns travel as one string, so several texts would come back joined).
fn user_turn_strategy() -> impl Strategy<Value = Message> {
    let rest = prop_oneof![
        Just(Vec::new()),
        text().prop_map(|t| vec![Part::Text(t)]),
        (
            prop::collection::vec(prop_oneof![text().prop_map(Part::Text), image()], 0..3),
            image()
        )
            .prop_map(|(mut parts, image)| {
                parts.push(image);
                parts
            }),
    ];
    (prop::collection::vec(tool_result(), 0..3), rest)
        .prop_filter("a turn has content", |(r, p)| {
            !r.is_empty() || !p.is_empty()
        })
        .prop_map(|(mut content, rest)| {
            content.extend(rest);
            turn(Role::User, content)
        })
}

fn assistant_turn_strategy() -> impl Strategy<Value = Message> {
    let call = ("[a-z0-9]{1,8}", "[a-z_]{1,8}", any::<u8>()).prop_map(|(id, name, n)| {
        Part::ToolCall(ToolCall {
            id: format!("call_{id}"),
            name,
            arguments: format!("{{\"n\":{n}}}"),
            signature: None,
        })
    });
    (prop::option::of(text()), prop::collection::vec(call, 0..3))
        .prop_filter("a turn has content", |(t, c)| t.is_some() || !c.is_empty())
        .prop_map(|(text, calls)| {
            let mut content: Vec<Part> = text.into_iter().map(Part::Text).collect();
            content.extend(calls);
            turn(Role::Assistant, content)
        })
}

fn tools_strategy() -> impl Strategy<Value = Vec<Tool>> {
    let tool = (
        "[a-z_]{1,8}",
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(name, description, strict)| Tool {
            name,
            description,
            parameters: json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
            strict,
        });
    prop::collection::vec(tool, 0..3)
}

fn request_strategy() -> impl Strategy<Value = ChatRequest> {
    let turns = prop::collection::vec((user_turn_strategy(), assistant_turn_strategy()), 1..4);
    let choice = prop_oneof![
        Just(ToolChoice::Auto),
        Just(ToolChoice::None),
        Just(ToolChoice::Required),
        "[a-z]{1,6}".prop_map(ToolChoice::Tool),
    ];
    let format = prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        ("[a-z]{1,6}", prop::option::of(any::<bool>())).prop_map(|(name, strict)| {
            ResponseFormat::JsonSchema {
                name,
                schema: json!({"type": "object"}),
                strict,
            }
        }),
    ];
    let sampling = (
        prop::option::of(0u64..100_000),
        prop::option::of((0u32..200).prop_map(|t| f64::from(t) / 100.0)),
        prop::option::of((0u32..100).prop_map(|t| f64::from(t) / 100.0)),
        prop::collection::vec(text(), 0..4),
        any::<bool>(),
        prop::option::of(1u64..4),
        prop::option::of(any::<i64>()),
    );
    let extras = (
        prop::option::of(text()),
        prop::option::of(text()),
        tools_strategy(),
        prop::option::of(choice),
        prop::option::of(any::<bool>()),
        prop::option::of(format),
        prop::option::of(prop_oneof![Just("low"), Just("medium"), Just("high")]),
    );
    (turns, any::<bool>(), sampling, extras).prop_map(|(turns, last_is_user, sampling, extras)| {
        let mut messages: Vec<Message> = turns.into_iter().flat_map(|(u, a)| [u, a]).collect();
        if last_is_user {
            messages.pop();
        }
        let (max_tokens, temperature, top_p, stop, stream, n, seed) = sampling;
        let (system, user, tools, tool_choice, parallel, format, effort) = extras;
        let has_tools = !tools.is_empty();
        ChatRequest {
            model: "up-model".into(),
            system: system.into_iter().collect(),
            messages,
            max_tokens,
            temperature,
            top_p,
            top_k: None,
            stop,
            stream,
            tools,
            tool_choice: tool_choice.filter(|_| has_tools),
            parallel_tool_calls: parallel.filter(|_| has_tools),
            response_format: format,
            user,
            seed,
            n,
            reasoning: effort.map(|e| Reasoning {
                effort: Some(e.to_owned()),
                budget_tokens: None,
            }),
        }
    })
}

proptest! {
    /// Whatever the OpenAI format can carry comes back unchanged from a trip through it.
    #[test]
    fn round_trip_through_the_openai_body(request in request_strategy()) {
        let body = encode_request(&request, "up-model");
        let back = decode_request(&body).unwrap();
        prop_assert_eq!(back, request);
    }
}
