//! Property tests: neutral → Gemini → neutral is the identity on what Gemini can represent, and
//! the decoders of upstream bytes give the same events however the bytes are cut, and never
//! panic.
//!
//! Gemini has no call ids, so the generated calls carry the ids the decoder synthesizes
//! (`call_0`, `call_1`… in order) and results answer the previous turn's calls in order, as
//! Gemini requires. Other things Gemini cannot carry are not generated: thinking (dropped on
//! send), `user`, `parallel_tool_calls`, `strict`, `stream`, a text response format, effort
//! words (a budget is sent instead) and a JSON schema's name (decoded as `response`).

use super::*;
use crate::neutral::{
    self, ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, Signature, Tool,
    ToolCall, ToolChoice, ToolResult, Vendor,
};
use proptest::prelude::*;
use serde_json::json;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.°é]{1,16}"
}

fn image() -> impl Strategy<Value = Image> {
    prop_oneof![
        ("image/(png|jpeg|webp)", "[A-Za-z0-9+/]{4,12}")
            .prop_map(|(media_type, data)| { Image::Base64 { media_type, data } }),
        "[a-z]{1,8}\\.(png|jpg|gif)".prop_map(|file| Image::Url(format!("https://x.test/{file}"))),
    ]
}

/// A call without its id (assigned later, in conversation order).
fn call() -> impl Strategy<Value = ToolCall> {
    (
        "[a-z_]{1,8}",
        text(),
        0u32..100,
        proptest::option::of("[A-Za-z0-9+/]{4,16}"),
    )
        .prop_map(|(name, city, n, signature)| ToolCall {
            id: String::new(),
            name,
            arguments: json!({ "city": city, "n": n }).to_string(),
            signature: signature.map(|value| Signature {
                vendor: Vendor::Gemini,
                value,
            }),
        })
}

/// `(content, is_error)` of a tool result: plain text or a JSON object's text.
fn result_body() -> impl Strategy<Value = (String, bool)> {
    let content = prop_oneof![
        "[a-z ]{1,12}",
        (0i64..50, "[a-z]{1,4}").prop_map(|(t, u)| json!({ "temp": t, "unit": u }).to_string()),
    ];
    (content, any::<bool>())
}

/// One turn's parts before ids are assigned: user turns get texts and images, assistant turns
/// texts and calls.
#[derive(Clone, Debug)]
struct Turn {
    texts: Vec<Part>,
    calls: Vec<ToolCall>,
    results: Vec<(String, bool)>,
}

fn turn() -> impl Strategy<Value = Turn> {
    (
        prop::collection::vec(
            prop_oneof![text().prop_map(Part::Text), image().prop_map(Part::Image)],
            0..3,
        ),
        prop::collection::vec(call(), 0..3),
        prop::collection::vec(result_body(), 3),
    )
        .prop_map(|(texts, calls, results)| Turn {
            texts,
            calls,
            results,
        })
}

/// An alternating conversation starting with a user turn; each user turn after a turn with
/// calls begins with one result per call, in order.
fn conversation() -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec(turn(), 1..6).prop_map(|turns| {
        let mut messages = Vec::new();
        let mut next_id = 0;
        let mut open: Vec<ToolCall> = Vec::new();
        for (i, turn) in turns.into_iter().enumerate() {
            let mut content = Vec::new();
            if i % 2 == 0 {
                for (call, (body, is_error)) in open.drain(..).zip(turn.results.iter().cycle()) {
                    content.push(Part::ToolResult(ToolResult {
                        id: call.id,
                        name: Some(call.name),
                        content: body.clone(),
                        is_error: *is_error,
                    }));
                }
                content.extend(turn.texts);
            } else {
                content.extend(
                    turn.texts
                        .into_iter()
                        .filter(|p| matches!(p, Part::Text(_))),
                );
                for mut call in turn.calls {
                    call.id = format!("call_{next_id}");
                    next_id += 1;
                    open.push(call.clone());
                    content.push(Part::ToolCall(call));
                }
            }
            if content.is_empty() {
                content.push(Part::Text("x".into()));
            }
            let role = if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            };
            messages.push(Message { role, content });
        }
        messages
    })
}

fn tool() -> impl Strategy<Value = Tool> {
    ("[a-z_]{1,8}", proptest::option::of(text()), any::<bool>()).prop_map(|(name, description, empty)| Tool {
        name,
        description,
        parameters: if empty {
            json!({ "type": "object", "properties": {} })
        } else {
            json!({ "type": "object", "properties": { "city": { "type": "string" } }, "required": ["city"] })
        },
        strict: None,
    })
}

fn request() -> impl Strategy<Value = ChatRequest> {
    let sampling = (
        proptest::option::of(1u64..100_000),
        proptest::option::of((0u32..=200).prop_map(|k| f64::from(k) / 100.0)),
        proptest::option::of((0u32..=100).prop_map(|k| f64::from(k) / 100.0)),
        proptest::option::of(1u64..100),
        prop::collection::vec(text(), 0..=5),
        proptest::option::of(1u64..4),
        proptest::option::of(any::<i64>()),
    );
    let shape = (
        prop::collection::vec(text(), 0..3),
        conversation(),
        prop::collection::vec(tool(), 0..3),
        proptest::option::of(prop_oneof![
            Just(ToolChoice::Auto),
            Just(ToolChoice::None),
            Just(ToolChoice::Required),
            "[a-z]{1,6}".prop_map(ToolChoice::Tool),
        ]),
        proptest::option::of(prop_oneof![
            Just(ResponseFormat::JsonObject),
            Just(ResponseFormat::JsonSchema {
                name: "response".into(),
                schema: json!({ "type": "object", "properties": { "ok": { "type": "boolean" } } }),
                strict: None,
            }),
        ]),
        proptest::option::of(0u64..32_768),
    );
    (sampling, shape).prop_map(
        |(
            (max_tokens, temperature, top_p, top_k, stop, n, seed),
            (system, messages, tools, tool_choice, response_format, budget),
        )| {
            ChatRequest {
                model: "gemini-2.5-flash".into(),
                system,
                messages,
                max_tokens,
                temperature,
                top_p,
                top_k,
                stop,
                tools,
                tool_choice,
                response_format,
                seed,
                n,
                reasoning: budget.map(|b| Reasoning {
                    effort: None,
                    budget_tokens: Some(b),
                }),
                ..ChatRequest::default()
            }
        },
    )
}

/// A stream as SSE frames: text, thoughts, whole calls, usage, then a finish.
fn frames() -> impl Strategy<Value = Vec<String>> {
    let part = prop_oneof![
        text().prop_map(|t| json!({ "text": t })),
        text().prop_map(|t| json!({ "text": t, "thought": true, "thoughtSignature": "c2ln" })),
        ("[a-z]{1,6}", 0u32..9)
            .prop_map(|(name, n)| json!({ "functionCall": { "name": name, "args": { "n": n } } })),
    ];
    (
        prop::collection::vec(prop::collection::vec(part, 0..3), 1..6),
        any::<bool>(),
    )
        .prop_map(|(chunks, finish)| {
            let last = chunks.len() - 1;
            chunks
                .into_iter()
                .enumerate()
                .map(|(i, parts)| {
                    let mut candidate =
                        json!({ "content": { "role": "model", "parts": parts }, "index": 0 });
                    if finish && i == last {
                        candidate["finishReason"] = json!("STOP");
                    }
                    json!({
                        "candidates": [candidate],
                        "usageMetadata": { "promptTokenCount": 7, "candidatesTokenCount": i },
                        "responseId": "r1", "modelVersion": "gemini-2.5-flash"
                    })
                    .to_string()
                })
                .collect()
        })
}

fn decode_stream(pieces: &[&[u8]]) -> Vec<neutral::StreamEvent> {
    crate::neutral::decode_sse(&mut StreamDecoder::new(), pieces.iter().copied())
}

proptest! {
    #[test]
    fn requests_survive_a_round_trip(request in request()) {
        let body = encode_request(&request);
        let back = decode_request(&body, &request.model).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn stream_events_do_not_depend_on_chunk_boundaries(
        frames in frames(),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let separator = if crlf { "\r\n\r\n" } else { "\n\n" };
        let bytes: Vec<u8> = frames.iter().flat_map(|f| format!("data: {f}{separator}").into_bytes()).collect();
        let whole = decode_stream(&[&bytes]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&bytes[last..p]);
            last = p;
        }
        pieces.push(&bytes[last..]);
        prop_assert_eq!(&decode_stream(&pieces), &whole);
        let started = matches!(whole.first(), Some(neutral::StreamEvent::Start { .. }));
        prop_assert!(started, "the first event is Start");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_stream(&[&bytes]);
        let _ = decode_response(&bytes);
        let _ = decode_error(429, &bytes);
        let _ = decode_request(&bytes, "m");
    }

    #[test]
    fn arbitrary_json_frames_never_panic(value in json_value()) {
        let frame = format!("data: {value}\n\n");
        let _ = decode_stream(&[frame.as_bytes()]);
        let _ = decode_response(value.to_string().as_bytes());
        let _ = decode_error(500, value.to_string().as_bytes());
        let _ = decode_request(value.to_string().as_bytes(), "m");
    }
}

/// JSON trees whose keys are the ones the decoders look for, so odd types reach deep code.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let key = prop::sample::select(vec![
        "candidates",
        "content",
        "parts",
        "text",
        "thought",
        "functionCall",
        "name",
        "args",
        "finishReason",
        "usageMetadata",
        "promptTokenCount",
        "error",
        "details",
        "retryDelay",
        "contents",
        "role",
        "functionResponse",
        "response",
        "generationConfig",
        "tools",
        "promptFeedback",
        "blockReason",
        "index",
        "thoughtSignature",
        "status",
        "code",
    ]);
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        prop::sample::select(vec!["STOP", "model", "user", "30s", "MAX_TOKENS", ""])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..5).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}
