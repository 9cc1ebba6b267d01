//! Tests of the Responses stream decoder: a realistic upstream stream, errors, and properties
//! over streams our own encoder writes, cut at arbitrary byte boundaries.

use super::StreamDecoder;
use super::stream_tests::{encode, finish, render, segment};
use crate::neutral::{
    ErrorKind, FinishReason, Part, StreamDecoder as _, StreamEvent, Thinking, ToolCall,
};
use crate::sse;
use proptest::prelude::*;
use switchyard_core::Usage;

/// Feeds `bytes` to an SSE decoder in the pieces `cuts` makes, and the events to a stream
/// decoder.
fn decode(bytes: &[u8], cuts: &[usize]) -> Vec<StreamEvent> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut sse = sse::Decoder::new();
    let mut decoder = StreamDecoder::new();
    let mut out = Vec::new();
    let mut last = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        sse.push(&bytes[last..point]);
        last = point;
        while let Ok(Some(event)) = sse.next_event() {
            decoder.event(&event, &mut out);
        }
    }
    if let Some(event) = sse.finish() {
        decoder.event(&event, &mut out);
    }
    decoder.eof(&mut out);
    out
}

/// What a sequence of events adds up to: the answer's parts, finish and usage.
fn collect(events: &[StreamEvent]) -> (Vec<Part>, Option<FinishReason>, Option<Usage>) {
    let mut parts: Vec<Part> = Vec::new();
    let mut calls: Vec<(u32, usize)> = Vec::new();
    let (mut finish, mut usage) = (None, None);
    for event in events {
        match event {
            StreamEvent::TextDelta(d) => match parts.last_mut() {
                Some(Part::Text(t)) => t.push_str(d),
                _ => parts.push(Part::Text(d.clone())),
            },
            StreamEvent::ThinkingDelta(d) => match parts.last_mut() {
                Some(Part::Thinking(t)) => t.text.push_str(d),
                _ => parts.push(Part::Thinking(Thinking {
                    text: d.clone(),
                    signature: None,
                })),
            },
            StreamEvent::ThinkingSignature(s) => {
                if let Some(Part::Thinking(t)) = parts
                    .iter_mut()
                    .rev()
                    .find(|p| matches!(p, Part::Thinking(_)))
                {
                    t.signature = Some(s.clone());
                }
            }
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                calls.push((*index, parts.len()));
                parts.push(Part::ToolCall(ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                    signature: signature.clone(),
                }));
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let Some(&(_, at)) = calls.iter().find(|(i, _)| i == index)
                    && let Part::ToolCall(call) = &mut parts[at]
                {
                    call.arguments.push_str(arguments);
                }
            }
            StreamEvent::Finish(f) => finish = Some(f.clone()),
            StreamEvent::Usage(u) => usage = Some(*u),
            _ => {}
        }
    }
    (parts, finish, usage)
}

const OPENAI_STREAM: &str = concat!(
    "event: response.created\n",
    r#"data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_abc","object":"response","status":"in_progress","model":"gpt-5-codex","output":[],"usage":null}}"#,
    "\n\n",
    "event: response.output_item.added\n",
    r#"data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#,
    "\n\n",
    "event: response.reasoning_summary_part.added\n",
    r#"data: {"type":"response.reasoning_summary_part.added","sequence_number":2,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#,
    "\n\n",
    "event: response.reasoning_summary_text.delta\n",
    r#"data: {"type":"response.reasoning_summary_text.delta","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Look up"}"#,
    "\n\n",
    "event: response.output_item.done\n",
    r#"data: {"type":"response.output_item.done","sequence_number":4,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Look up"}],"encrypted_content":"gAAAAB-openai"}}"#,
    "\n\n",
    "event: response.output_item.added\n",
    r#"data: {"type":"response.output_item.added","sequence_number":5,"output_index":1,"item":{"id":"fc_1","type":"function_call","call_id":"call_9","name":"shell","arguments":"","status":"in_progress"}}"#,
    "\n\n",
    "event: response.function_call_arguments.delta\n",
    r#"data: {"type":"response.function_call_arguments.delta","sequence_number":6,"item_id":"fc_1","output_index":1,"delta":"{\"cmd\":[\"ls\"]}"}"#,
    "\n\n",
    "event: response.function_call_arguments.done\n",
    r#"data: {"type":"response.function_call_arguments.done","sequence_number":7,"item_id":"fc_1","output_index":1,"arguments":"{\"cmd\":[\"ls\"]}"}"#,
    "\n\n",
    "event: response.output_item.done\n",
    r#"data: {"type":"response.output_item.done","sequence_number":8,"output_index":1,"item":{"id":"fc_1","type":"function_call","call_id":"call_9","name":"shell","arguments":"{\"cmd\":[\"ls\"]}","status":"completed"}}"#,
    "\n\n",
    "event: response.completed\n",
    r#"data: {"type":"response.completed","sequence_number":9,"response":{"id":"resp_abc","status":"completed","model":"gpt-5-codex","output":[],"usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":10},"output_tokens":20,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":70}}}"#,
    "\n\n",
);

#[test]
fn an_openai_stream_becomes_neutral_events() {
    let events = decode(OPENAI_STREAM.as_bytes(), &[]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "resp_abc".into(),
                model: "gpt-5-codex".into()
            },
            StreamEvent::ThinkingDelta("Look up".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_9".into(),
                name: "shell".into(),
                signature: None
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"cmd\":[\"ls\"]}".into()
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                prompt_tokens: 50,
                completion_tokens: 20,
                cached_tokens: 10,
                reasoning_tokens: 12,
                ..Usage::default()
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn arguments_given_only_whole_are_not_lost_or_doubled() {
    let stream = concat!(
        "event: response.output_item.added\n",
        r#"data: {"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"c","name":"f","arguments":""}}"#,
        "\n\n",
        "event: response.function_call_arguments.done\n",
        r#"data: {"type":"response.function_call_arguments.done","item_id":"fc_1","arguments":"{}"}"#,
        "\n\n",
        "event: response.output_item.done\n",
        r#"data: {"type":"response.output_item.done","item":{"id":"fc_1","type":"function_call","call_id":"c","name":"f","arguments":"{}"}}"#,
        "\n\n",
    );
    let (parts, ..) = collect(&decode(stream.as_bytes(), &[]));
    assert!(matches!(&parts[..], [Part::ToolCall(c)] if c.arguments == "{}"));
}

#[test]
fn error_and_failed_events_become_neutral_errors() {
    let stream = "event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow down\",\"param\":null}\n\n";
    let events = decode(stream.as_bytes(), &[]);
    let Some(StreamEvent::Error(error)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(error.kind, ErrorKind::RateLimit);
    assert_eq!(error.message, "slow down");
    let stream = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n";
    let events = decode(stream.as_bytes(), &[]);
    assert!(matches!(events.last(), Some(StreamEvent::Error(e)) if e.message == "boom"));
}

proptest! {
    /// Our own encoder's streams decode to the same answer, wherever the bytes are cut.
    #[test]
    fn encoded_streams_decode_to_the_same_answer(
        segments in prop::collection::vec(segment(), 0..6),
        finish in finish(),
        prompt in 0u64..1000,
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let usage = Usage { prompt_tokens: prompt, completion_tokens: 7, ..Usage::default() };
        let (events, _) = render(&segments, &finish, usage);
        let bytes = encode(&events);
        let whole = decode(&bytes, &[]);
        prop_assert_eq!(&decode(&bytes, &cuts), &whole);
        let (parts, got_finish, got_usage) = collect(&whole);
        let (want_parts, _, _) = collect(&events);
        prop_assert_eq!(parts, want_parts.clone());
        let calls = want_parts.iter().any(|p| matches!(p, Part::ToolCall(_)));
        let want_finish = match finish {
            FinishReason::Length | FinishReason::ContentFilter => finish,
            _ if calls => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        };
        prop_assert_eq!(got_finish, Some(want_finish));
        prop_assert_eq!(got_usage, Some(usage));
        prop_assert_eq!(whole.last(), Some(&StreamEvent::End));
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, &[]);
    }

    /// Nor do well-formed events with arbitrary fields.
    #[test]
    fn any_fields_never_panic(
        kind in prop_oneof![
            Just("response.created"), Just("response.output_item.added"),
            Just("response.output_item.done"), Just("response.function_call_arguments.done"),
            Just("response.completed"), Just("response.failed"), Just("error"),
            Just("response.reasoning_summary_part.added"),
        ],
        body in "[\\[\\]{}\":,a-z0-9 ]{0,40}",
    ) {
        let stream = format!("event: {kind}\ndata: {{\"type\":\"{kind}\",\"item\":{body},\"response\":{body}}}\n\n");
        let _ = decode(stream.as_bytes(), &[]);
        let stream = format!("event: {kind}\ndata: {{\"type\":\"{kind}\",\"item\":{{\"type\":\"function_call\",\"id\":{body}}}}}\n\n");
        let _ = decode(stream.as_bytes(), &[]);
    }
}
