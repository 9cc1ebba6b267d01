//! Unit tests and properties of the stream decoder (upstream SSE → neutral) and the stream
//! encoder (neutral → client SSE).

use super::*;
use crate::neutral::{
    ErrorInfo, ErrorKind, FinishReason, Signature, StreamEncoder as _, StreamEvent, Vendor,
};
use bytes::BytesMut;
use proptest::prelude::*;
use switchyard_core::Usage;

/// Decodes `pieces` of an SSE body as the gateway does: through `sse::Decoder`, then ours.
fn decode_pieces(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    crate::neutral::decode_sse(&mut StreamDecoder::new(), pieces.iter().copied())
}

fn frame(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn sample_stream() -> String {
    [
        frame(
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":380,"output_tokens":1,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}}}"#,
        ),
        frame("ping", r#"{"type":"ping"}"#),
        frame(
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        ),
        frame(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me check."}}"#,
        ),
        frame(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        ),
        frame("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        frame(
            "content_block_start",
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        ),
        frame(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Checking."}}"#,
        ),
        frame("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        frame(
            "content_block_start",
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01B","name":"get_weather","input":{}}}"#,
        ),
        frame(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        ),
        frame(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Os"}}"#,
        ),
        frame(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"lo\"}"}}"#,
        ),
        frame("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
        frame(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":41}}"#,
        ),
        frame("message_stop", r#"{"type":"message_stop"}"#),
    ]
    .concat()
}

fn anthropic(value: &str) -> Signature {
    Signature {
        vendor: Vendor::Anthropic,
        value: value.into(),
    }
}

fn usage(prompt: u64, completion: u64, cached: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: cached,
        ..Usage::default()
    }
}

#[test]
fn decodes_a_full_stream() {
    let events = decode_pieces(&[sample_stream().as_bytes()]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "claude-up".into()
            },
            StreamEvent::Usage(usage(500, 1, 100)),
            StreamEvent::ThinkingDelta("Let me check.".into()),
            StreamEvent::ThinkingSignature(anthropic("EqQB")),
            StreamEvent::TextDelta("Checking.".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_01B".into(),
                name: "get_weather".into(),
                signature: None
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"city\": \"Os".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "lo\"}".into()
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(usage(500, 41, 100)),
            StreamEvent::End,
        ]
    );
}

#[test]
fn in_band_errors_and_restated_usage() {
    let body = [
        frame(
            "message_start",
            r#"{"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":10,"output_tokens":1}}}"#,
        ),
        frame(
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":5,"input_tokens":12,"cache_read_input_tokens":3}}"#,
        ),
        frame(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
    ]
    .concat();
    let events = decode_pieces(&[body.as_bytes()]);
    assert_eq!(
        events[2],
        StreamEvent::Finish(FinishReason::StopSequence(Some("END".into())))
    );
    assert_eq!(events[3], StreamEvent::Usage(usage(15, 5, 3)));
    assert_eq!(
        events[4],
        StreamEvent::Error(ErrorInfo {
            kind: ErrorKind::Overloaded,
            message: "Overloaded".into(),
            param: None,
            code: Some("overloaded_error".into())
        })
    );
    // A stream cut short ends without `End`.
    assert!(!events.contains(&StreamEvent::End));
}

fn encode_events(events: &[StreamEvent]) -> String {
    let mut encoder = StreamEncoder::new("client-model");
    let mut out = BytesMut::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// The `event:` names of an encoded stream, with each frame's `index` if it has one.
fn frame_names(encoded: &str) -> Vec<String> {
    encoded
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let name = f.lines().next().unwrap().trim_start_matches("event: ");
            let data: serde_json::Value =
                serde_json::from_str(f.lines().nth(1).unwrap().trim_start_matches("data: "))
                    .unwrap();
            match data.get("index") {
                Some(i) => format!("{name}:{i}"),
                None => name.to_owned(),
            }
        })
        .collect()
}

#[test]
fn encoder_opens_blocks_lazily_and_waits_for_end() {
    let events = vec![
        StreamEvent::Start {
            id: "msg_9".into(),
            model: "gpt-up".into(),
        },
        StreamEvent::ThinkingDelta("hm".into()),
        StreamEvent::TextDelta("Hi".into()),
        StreamEvent::TextDelta(" there".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{}".into(),
        },
        StreamEvent::Finish(FinishReason::ToolCalls),
    ];
    let before_end = encode_events(&events);
    assert_eq!(
        frame_names(&before_end),
        [
            "message_start",
            "ping",
            "content_block_start:0",
            "content_block_delta:0",
            "content_block_stop:0",
            "content_block_start:1",
            "content_block_delta:1",
            "content_block_delta:1",
            "content_block_stop:1",
            "content_block_start:2",
            "content_block_delta:2",
            "content_block_stop:2",
        ]
    );
    let mut all = events.clone();
    all.push(StreamEvent::Usage(usage(50, 7, 20)));
    all.push(StreamEvent::End);
    let encoded = encode_events(&all);
    assert!(encoded.starts_with(&before_end));
    let tail = &encoded[before_end.len()..];
    assert_eq!(
        tail,
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":30,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":20,\"output_tokens\":7}}\n\n\
         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
    );
    assert!(encoded.contains("\"model\":\"client-model\""));
}

#[test]
fn encoder_error_is_in_band_and_final() {
    let mut encoder = StreamEncoder::new("m");
    let mut out = BytesMut::new();
    encoder.event(&StreamEvent::TextDelta("x".into()), &mut out);
    let error = ErrorInfo {
        kind: ErrorKind::RateLimit,
        message: "slow down".into(),
        ..ErrorInfo::default()
    };
    encoder.error(&error, &mut out);
    encoder.event(&StreamEvent::End, &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n"
    ));
    assert!(!text.contains("message_stop"));
}

#[test]
fn encoder_output_decodes_back() {
    let events = vec![
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "client-model".into(),
        },
        StreamEvent::ThinkingDelta("a".into()),
        StreamEvent::ThinkingSignature(anthropic("sig")),
        StreamEvent::ThinkingSignature(super::thinking::redacted_signature("enc")),
        StreamEvent::TextDelta("b".into()),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
            signature: None,
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{\"x\":".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "1}".into(),
        },
        StreamEvent::Finish(FinishReason::StopSequence(Some("##".into()))),
        StreamEvent::Usage(usage(9, 4, 2)),
        StreamEvent::End,
    ];
    let encoded = encode_events(&events);
    let mut decoded = decode_pieces(&[encoded.as_bytes()]);
    // message_start reports zero usage, which the decoder passes on.
    assert_eq!(decoded.remove(1), StreamEvent::Usage(Usage::default()));
    assert_eq!(decoded, events);
}

/// Frames an upstream might send, for the chunking property.
fn arbitrary_frame() -> impl Strategy<Value = String> {
    let text = "[a-zA-Z \\\\\"é{}:]{0,12}";
    prop_oneof![
        text.prop_map(|t| frame(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}}}"#,
                serde_json::to_string(&t).unwrap()
            )
        )),
        text.prop_map(|t| frame(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":1,"delta":{{"type":"input_json_delta","partial_json":{}}}}}"#,
                serde_json::to_string(&t).unwrap()
            )
        )),
        Just(frame("ping", r#"{"type":"ping"}"#)),
        Just(": keep-alive\n\n".to_owned()),
        (0u64..1000).prop_map(|n| frame(
            "message_delta",
            &format!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn"}},"usage":{{"output_tokens":{n}}}}}"#
            )
        )),
        Just(frame(
            "error",
            r#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#
        )),
    ]
}

proptest! {
    /// However the upstream's bytes are cut, the same neutral events come out.
    #[test]
    fn chunk_boundaries_do_not_matter(
        frames in prop::collection::vec(arbitrary_frame(), 0..12),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
        crlf in any::<bool>(),
    ) {
        let mut body = sample_stream();
        body.push_str(&frames.concat());
        body.push_str(&frame("message_stop", r#"{"type":"message_stop"}"#));
        if crlf {
            body = body.replace('\n', "\r\n");
        }
        let bytes = body.as_bytes();
        let whole = decode_pieces(&[bytes]);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&bytes[last..p]);
            last = p;
        }
        pieces.push(&bytes[last..]);
        prop_assert_eq!(decode_pieces(&pieces), whole);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_pieces(&[&bytes]);
    }

    /// Arbitrary JSON-ish data lines in well-formed frames never panic it either.
    #[test]
    fn arbitrary_frames_never_panic(name in "[a-z_]{0,20}", data in "\\PC{0,80}") {
        let _ = decode_pieces(&[frame(&name, &data).as_bytes()]);
        let typed = format!(r#"{{"type":"{name}","index":0,"delta":{data},"message":{data}}}"#);
        let _ = decode_pieces(&[frame(&name, &typed).as_bytes()]);
    }
}
