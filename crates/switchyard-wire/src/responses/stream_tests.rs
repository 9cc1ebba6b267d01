//! Tests of the Responses stream encoder: the lifecycle rules one case at a time, and
//! properties over generated event sequences (cut at arbitrary byte boundaries on the way
//! back through [`sse::Decoder`]).

use super::{StreamEncoder, decode_response};
use crate::neutral::{
    ErrorInfo, FinishReason, Part, Signature, StreamEncoder as _, StreamEvent, Thinking, ToolCall,
    Vendor,
};
use crate::sse;
use bytes::BytesMut;
use proptest::prelude::*;
use serde_json::Value;
use switchyard_core::Usage;

pub(super) fn encode(events: &[StreamEvent]) -> Vec<u8> {
    let mut encoder = StreamEncoder::new("client-model", 1_730_000_000);
    let mut out = BytesMut::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    out.to_vec()
}

/// The events in `bytes`, fed to the SSE decoder in the pieces `cuts` makes.
fn parse(bytes: &[u8], cuts: &[usize]) -> Vec<(String, Value)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut decoder = sse::Decoder::new();
    let mut events = Vec::new();
    let mut last = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        decoder.push(&bytes[last..point]);
        last = point;
        while let Ok(Some(event)) = decoder.next_event() {
            let data = serde_json::from_str(event.data.as_deref().unwrap_or("")).unwrap();
            events.push((event.name.unwrap_or_default(), data));
        }
    }
    assert_eq!(
        decoder.finish(),
        None,
        "the stream ends on an event boundary"
    );
    events
}

/// What every Responses stream must satisfy, whatever went in.
fn check_lifecycle(events: &[(String, Value)]) {
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i);
    }
    let terminal = events.iter().position(|(name, _)| {
        matches!(
            name.as_str(),
            "response.completed" | "response.incomplete" | "response.failed"
        )
    });
    if let Some(at) = terminal {
        assert_eq!(at + 1, events.len(), "nothing follows the terminal event");
    }
    if let Some((first, _)) = events.first() {
        assert_eq!(first, "response.created");
        assert_eq!(events[1].0, "response.in_progress");
    }
}

fn text_events(text: &str) -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "up".into(),
        },
        StreamEvent::TextDelta(text.into()),
        StreamEvent::Finish(FinishReason::Stop),
        StreamEvent::End,
    ]
}

#[test]
fn nothing_follows_the_end_and_no_done_marker() {
    let mut events = text_events("hi");
    events.push(StreamEvent::TextDelta("late".into()));
    events.push(StreamEvent::End);
    let bytes = encode(&events);
    assert!(!String::from_utf8_lossy(&bytes).contains("[DONE]"));
    let parsed = parse(&bytes, &[]);
    check_lifecycle(&parsed);
    assert_eq!(parsed.last().unwrap().0, "response.completed");
    assert_eq!(
        parsed.last().unwrap().1["response"]["output"][0]["content"][0]["text"],
        "hi"
    );
}

#[test]
fn a_stream_without_start_still_opens_properly() {
    let parsed = parse(
        &encode(&[StreamEvent::TextDelta("x".into()), StreamEvent::End]),
        &[],
    );
    check_lifecycle(&parsed);
    assert!(
        parsed[0].1["response"]["id"]
            .as_str()
            .unwrap()
            .starts_with("resp_")
    );
}

#[test]
fn a_late_piece_of_a_closed_call_reaches_only_the_final_object() {
    let events = [
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_a".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "g".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{}".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 7,
            arguments: "lost".into(),
        },
        StreamEvent::Finish(FinishReason::ToolCalls),
        StreamEvent::End,
    ];
    let parsed = parse(&encode(&events), &[]);
    check_lifecycle(&parsed);
    assert!(
        !parsed
            .iter()
            .any(|(n, _)| n == "response.function_call_arguments.delta")
    );
    let done = &parsed.last().unwrap().1["response"];
    assert_eq!(done["output"][0]["arguments"], "{}");
    assert_eq!(done["output"][1]["arguments"], "");
}

#[test]
fn an_error_is_an_error_event_then_response_failed() {
    let mut encoder = StreamEncoder::new("m", 0);
    let mut out = BytesMut::new();
    encoder.event(&StreamEvent::TextDelta("a".into()), &mut out);
    let error = ErrorInfo {
        message: "boom".into(),
        ..ErrorInfo::default()
    };
    encoder.error(&error, &mut out);
    encoder.event(&StreamEvent::End, &mut out);
    encoder.error(&error, &mut out);
    let parsed = parse(&out, &[]);
    check_lifecycle(&parsed);
    let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[names.len() - 2..], ["error", "response.failed"]);
    assert_eq!(parsed[names.len() - 2].1["code"], "server_error");
    assert_eq!(parsed[names.len() - 2].1["message"], "boom");
    let failed = &parsed.last().unwrap().1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["message"], "boom");
}

#[test]
fn a_stream_for_a_request_echoes_it_in_every_response_object() {
    let request = super::decode_request(
        br#"{"model":"m","input":"x","instructions":"terse","temperature":0.3,
             "tools":[{"type":"function","name":"f"}]}"#,
    )
    .unwrap();
    let mut encoder = StreamEncoder::for_request(&request, "m", 0);
    let mut out = BytesMut::new();
    for event in text_events("hi") {
        encoder.event(&event, &mut out);
    }
    let parsed = parse(&out, &[]);
    for (name, data) in [&parsed[0], &parsed[1], parsed.last().unwrap()] {
        let response = &data["response"];
        assert_eq!(response["instructions"], "terse", "{name}");
        assert_eq!(response["temperature"], 0.3, "{name}");
        assert_eq!(response["tools"][0]["name"], "f", "{name}");
    }
}

#[test]
fn length_ends_in_response_incomplete() {
    let mut events = text_events("cut");
    events[2] = StreamEvent::Finish(FinishReason::Length);
    let parsed = parse(&encode(&events), &[]);
    let (name, data) = parsed.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(
        data["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

/// One stretch of a generated answer.
#[derive(Clone, Debug)]
pub(super) enum Segment {
    Text(Vec<String>),
    Thinking(Vec<String>, Option<String>),
    Call(String, Vec<String>, Option<String>),
}

pub(super) fn segment() -> impl Strategy<Value = Segment> {
    let pieces = || prop::collection::vec("[a-zA-Z \"\\\\{}:é\n]{1,6}", 1..4);
    prop_oneof![
        pieces().prop_map(Segment::Text),
        (pieces(), proptest::option::of("[A-Za-z0-9+/]{8}"))
            .prop_map(|(p, s)| Segment::Thinking(p, s)),
        (
            "[a-z_]{1,6}",
            pieces(),
            proptest::option::of("[A-Za-z0-9+/]{8}")
        )
            .prop_map(|(n, p, s)| Segment::Call(n, p, s)),
    ]
}

pub(super) fn finish() -> impl Strategy<Value = FinishReason> {
    prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::Length),
        Just(FinishReason::ContentFilter),
    ]
}

/// The neutral events of `segments`, and the content the final response must show.
pub(super) fn render(
    segments: &[Segment],
    finish: &FinishReason,
    usage: Usage,
) -> (Vec<StreamEvent>, Vec<Part>) {
    let mut events = vec![StreamEvent::Start {
        id: "msg_1".into(),
        model: "up".into(),
    }];
    let mut content: Vec<Part> = Vec::new();
    let mut calls = 0;
    for segment in segments {
        match segment {
            Segment::Text(pieces) => {
                events.extend(pieces.iter().cloned().map(StreamEvent::TextDelta));
                match content.last_mut() {
                    Some(Part::Text(text)) => text.push_str(&pieces.concat()),
                    _ => content.push(Part::Text(pieces.concat())),
                }
            }
            Segment::Thinking(pieces, signature) => {
                events.extend(pieces.iter().cloned().map(StreamEvent::ThinkingDelta));
                let signature = signature.clone().map(|value| Signature {
                    vendor: Vendor::Anthropic,
                    value,
                });
                events.extend(signature.clone().map(StreamEvent::ThinkingSignature));
                match content.last_mut() {
                    Some(Part::Thinking(t)) => {
                        t.text.push_str(&pieces.concat());
                        t.signature = signature.or(t.signature.take());
                    }
                    _ => content.push(Part::Thinking(Thinking {
                        text: pieces.concat(),
                        signature,
                    })),
                }
            }
            Segment::Call(name, pieces, signature) => {
                let signature = signature.clone().map(|value| Signature {
                    vendor: Vendor::Gemini,
                    value,
                });
                let id = format!("call_{calls}");
                events.push(StreamEvent::ToolCallStart {
                    index: calls,
                    id: id.clone(),
                    name: name.clone(),
                    signature: signature.clone(),
                });
                events.extend(pieces.iter().map(|p| StreamEvent::ToolCallDelta {
                    index: calls,
                    arguments: p.clone(),
                }));
                content.push(Part::ToolCall(ToolCall {
                    id,
                    name: name.clone(),
                    arguments: pieces.concat(),
                    signature,
                }));
                calls += 1;
            }
        }
    }
    events.push(StreamEvent::Finish(finish.clone()));
    events.push(StreamEvent::Usage(usage));
    events.push(StreamEvent::End);
    (events, content)
}

fn any_event() -> impl Strategy<Value = StreamEvent> {
    prop_oneof![
        ("[a-z0-9]{0,4}", "[a-z]{0,4}").prop_map(|(id, model)| StreamEvent::Start { id, model }),
        ".{0,4}".prop_map(StreamEvent::TextDelta),
        ".{0,4}".prop_map(StreamEvent::ThinkingDelta),
        ".{0,4}".prop_map(|value| StreamEvent::ThinkingSignature(Signature {
            vendor: Vendor::Gemini,
            value
        })),
        (0u32..3, ".{0,4}", ".{0,4}").prop_map(|(index, id, name)| StreamEvent::ToolCallStart {
            index,
            id,
            name,
            signature: None
        }),
        (0u32..3, ".{0,4}")
            .prop_map(|(index, arguments)| StreamEvent::ToolCallDelta { index, arguments }),
        finish().prop_map(StreamEvent::Finish),
        Just(StreamEvent::Usage(Usage::default())),
        ".{0,4}".prop_map(|message| StreamEvent::Error(ErrorInfo {
            message,
            ..ErrorInfo::default()
        })),
        Just(StreamEvent::End),
    ]
}

proptest! {
    /// However the bytes are cut, the same events come back; they keep the lifecycle rules,
    /// the deltas add up to each item's final text, and the terminal response holds exactly
    /// the answer that was streamed.
    #[test]
    fn streams_reassemble_into_the_answer(
        segments in prop::collection::vec(segment(), 0..6),
        finish in finish(),
        prompt in 0u64..1000,
        completion in 0u64..1000,
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let usage = Usage { prompt_tokens: prompt, completion_tokens: completion, ..Usage::default() };
        let (events, content) = render(&segments, &finish, usage);
        let bytes = encode(&events);
        let whole = parse(&bytes, &[]);
        let cut = parse(&bytes, &cuts);
        prop_assert_eq!(&whole, &cut);
        check_lifecycle(&whole);

        let mut texts: std::collections::HashMap<String, String> = Default::default();
        for (name, data) in &whole {
            let id = data["item_id"].as_str().unwrap_or_default().to_owned();
            match name.as_str() {
                "response.output_text.delta" | "response.reasoning_summary_text.delta"
                | "response.function_call_arguments.delta" => {
                    texts.entry(id).or_default().push_str(data["delta"].as_str().unwrap());
                }
                "response.output_text.done" | "response.reasoning_summary_text.done" => {
                    prop_assert_eq!(texts.get(&id).map(String::as_str), data["text"].as_str());
                }
                "response.function_call_arguments.done" => {
                    let args = data["arguments"].as_str().unwrap();
                    prop_assert_eq!(texts.get(&id).map_or("", String::as_str), args);
                }
                _ => {}
            }
        }

        let (last, data) = whole.last().unwrap();
        let incomplete = matches!(finish, FinishReason::Length | FinishReason::ContentFilter);
        prop_assert_eq!(last.as_str(), if incomplete { "response.incomplete" } else { "response.completed" });
        let response = decode_response(&serde_json::to_vec(&data["response"]).unwrap()).unwrap();
        prop_assert_eq!(response.content, content);
        prop_assert_eq!(response.usage, Some(usage));
    }

    /// Any sequence of events, however ill-formed, yields a well-formed stream and no panic.
    #[test]
    fn any_events_never_panic(events in prop::collection::vec(any_event(), 0..24)) {
        check_lifecycle(&parse(&encode(&events), &[]));
    }
}
