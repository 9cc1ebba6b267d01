//! `StreamDecoder`: each server quirk it tolerates, and properties over generated streams.

use super::*;
use crate::neutral::{FinishReason, StreamEncoder as _};
use crate::openai::chat::StreamEncoder;
use proptest::prelude::*;
use switchyard_core::Usage;

/// Decodes `pieces` of SSE bytes, fed one after another.
fn decode_pieces(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    crate::neutral::decode_sse(&mut StreamDecoder::new(), pieces.iter().copied())
}

fn decode(frames: &[&str]) -> Vec<StreamEvent> {
    let text: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
    decode_pieces(&[text.as_bytes()])
}

fn start(id: &str, model: &str) -> StreamEvent {
    StreamEvent::Start {
        id: id.into(),
        model: model.into(),
    }
}

fn call_start(index: u32, id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCallStart {
        index,
        id: id.into(),
        name: name.into(),
        signature: None,
    }
}

fn delta(index: u32, arguments: &str) -> StreamEvent {
    StreamEvent::ToolCallDelta {
        index,
        arguments: arguments.into(),
    }
}

#[test]
fn a_plain_openai_stream() {
    let events = decode(&[
        r#"{"id":"c1","model":"gpt","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","model":"gpt","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}"#,
        r#"{"id":"c1","model":"gpt","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}"#,
        r#"{"id":"c1","model":"gpt","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#,
        "[DONE]",
    ]);
    assert_eq!(
        events,
        vec![
            start("c1", "gpt"),
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::Finish(FinishReason::Length),
            StreamEvent::Usage(Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
                ..Usage::default()
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn comments_and_crlf_are_fine() {
    let bytes = b": keep-alive\r\n\r\ndata: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\r\n\r\n";
    assert_eq!(
        decode_pieces(&[bytes]),
        vec![start("c", ""), StreamEvent::TextDelta("x".into())]
    );
}

#[test]
fn reasoning_and_tool_calls_by_index() {
    let events = decode(&[
        r#"{"id":"c","model":"m","choices":[{"delta":{"reasoning_content":"think"}}]}"#,
        r#"{"id":"c","model":"m","choices":[{"delta":{"reasoning":"more"}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#,
    ]);
    assert_eq!(
        events,
        vec![
            start("c", "m"),
            StreamEvent::ThinkingDelta("think".into()),
            StreamEvent::ThinkingDelta("more".into()),
            call_start(0, "call_a", "f"),
            delta(0, "{\"a\":"),
            call_start(1, "call_b", "g"),
            delta(1, "{}"),
            delta(0, "1}"),
            // `stop` after tool calls is a tool-call stop; the missing [DONE] is supplied.
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                prompt_tokens: 1,
                completion_tokens: 1,
                ..Usage::default()
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn parallel_calls_that_all_claim_index_zero_are_told_apart_by_id() {
    let events = decode(&[
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"h","arguments":{"x":1}}}]}}]}"#,
    ]);
    assert_eq!(
        events[1..],
        [
            call_start(0, "a", "f"),
            delta(0, "{}"),
            call_start(1, "b", "g"),
            delta(1, "{}"),
            call_start(2, "call_2", "h"),
            delta(2, "{\"x\":1}"),
        ]
    );
}

#[test]
fn errors_in_band_and_a_stream_cut_short() {
    let events = decode(&[
        r#"{"id":"c","choices":[{"delta":{"content":"x"}}]}"#,
        r#"{"error":{"message":"overloaded","type":"server_error","code":null}}"#,
    ]);
    let StreamEvent::Error(error) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!(error.message, "overloaded");
    assert_eq!(error.kind, crate::neutral::ErrorKind::Server);
    // No finish, no [DONE]: no End either, so the gateway knows the answer is incomplete.
    assert_eq!(events.len(), 3);
    let flat = decode(&[r#"{"object":"error","message":"bad","type":"invalid_request_error"}"#]);
    assert!(matches!(&flat[0], StreamEvent::Error(e) if e.message == "bad"));
}

#[test]
fn ignores_other_choices_unknown_json_and_anything_after_done() {
    let events = decode(&[
        r#"{"choices":[{"index":1,"delta":{"content":"second choice"}}]}"#,
        r#"[1,2]"#,
        "not json",
        r#"{"choices":null,"usage":null}"#,
        "[DONE]",
        r#"{"choices":[{"delta":{"content":"late"}}]}"#,
    ]);
    assert_eq!(events, vec![start("", ""), StreamEvent::End]);
}

/// What a generated stream is made of, before it is rendered to events.
#[derive(Clone, Debug)]
enum Item {
    Text(String),
    Thinking(String),
    Call(String, Vec<String>),
}

fn item() -> impl Strategy<Value = Item> {
    let text = "[a-zA-Z0-9 \"\\\\\n😀]{1,10}";
    prop_oneof![
        text.prop_map(Item::Text),
        text.prop_map(Item::Thinking),
        // Argument pieces are never blank: the encoder completes blank arguments to `{}`.
        (
            "[a-z_]{1,8}",
            prop::collection::vec("[a-z{}:\"0-9][a-z{}: ,\"0-9]{0,8}", 1..4)
        )
            .prop_map(|(n, a)| Item::Call(n, a)),
    ]
}

/// A well-formed neutral stream, as an upstream would produce it.
fn stream() -> impl Strategy<Value = Vec<StreamEvent>> {
    let finish = prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::Length),
        Just(FinishReason::ContentFilter)
    ];
    (prop::collection::vec(item(), 0..8), finish, 0u64..1000).prop_map(|(items, finish, tokens)| {
        let mut events = vec![start("chatcmpl-x", "my-model")];
        let mut calls = 0;
        for item in items {
            match item {
                Item::Text(t) => events.push(StreamEvent::TextDelta(t)),
                Item::Thinking(t) => events.push(StreamEvent::ThinkingDelta(t)),
                Item::Call(name, pieces) => {
                    events.push(call_start(calls, &format!("call_{calls}"), &name));
                    events.extend(pieces.iter().map(|p| delta(calls, p)));
                    calls += 1;
                }
            }
        }
        let finish = if calls > 0 {
            FinishReason::ToolCalls
        } else {
            finish
        };
        events.push(StreamEvent::Finish(finish));
        events.push(StreamEvent::Usage(Usage {
            prompt_tokens: tokens,
            completion_tokens: tokens / 2,
            ..Usage::default()
        }));
        events.push(StreamEvent::End);
        events
    })
}

fn render(events: &[StreamEvent]) -> Vec<u8> {
    let mut encoder = StreamEncoder::new("my-model", 1, true);
    let mut out = bytes::BytesMut::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    out.to_vec()
}

proptest! {
    /// Our encoder's output decodes to the events it was given, however the bytes are cut.
    #[test]
    fn boundaries_do_not_matter(events in stream(), cuts in prop::collection::vec(any::<usize>(), 0..12)) {
        let bytes = render(&events);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&bytes[last..p]);
            last = p;
        }
        pieces.push(&bytes[last..]);
        prop_assert_eq!(decode_pieces(&pieces), decode_pieces(&[&bytes]));
        prop_assert_eq!(decode_pieces(&pieces), events);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_pieces(&[&bytes]);
    }

    /// Chunk-shaped JSON with fields of any type never panics either.
    #[test]
    fn odd_chunks_never_panic(
        values in prop::collection::vec(prop_oneof![
            Just("null"), Just("1"), Just("\"s\""), Just("[]"), Just("{}"), Just("[{}]"),
            Just("[{\"index\":\"0\",\"id\":7,\"function\":[]}]"),
        ], 6),
    ) {
        let frame = format!(
            "data: {{\"id\":{},\"choices\":[{{\"index\":{},\"delta\":{{\"content\":{},\"tool_calls\":{}}},\"finish_reason\":{}}}],\"usage\":{}}}\n\n",
            values[0], values[1], values[2], values[3], values[4], values[5],
        );
        decode_pieces(&[frame.as_bytes()]);
    }
}
