//! Property: any well-formed neutral event sequence that `StreamEncoder` writes as Anthropic SSE
//! reads back the same through `StreamDecoder`, whatever the chunking of the bytes in between.

use super::*;
use crate::neutral::{
    FinishReason, Signature, StreamDecoder as _, StreamEncoder as _, StreamEvent, Vendor,
};
use crate::sse;
use bytes::BytesMut;
use proptest::prelude::*;
use switchyard_core::Usage;

/// One piece of content in a generated stream.
#[derive(Clone, Debug)]
enum Piece {
    Text(String),
    Thinking(String),
    Signature(String),
    Redacted(String),
    /// A tool call: name and argument pieces.
    Call(String, Vec<String>),
}

fn piece() -> impl Strategy<Value = Piece> {
    let text = "[a-zA-Z0-9 \"\\\\{}é\\n]{1,10}";
    prop_oneof![
        text.prop_map(Piece::Text),
        text.prop_map(Piece::Thinking),
        "[A-Za-z0-9+/]{1,12}".prop_map(Piece::Signature),
        "[A-Za-z0-9+/]{1,12}".prop_map(Piece::Redacted),
        ("[a-z_]{1,8}", prop::collection::vec(text, 0..3)).prop_map(|(n, a)| Piece::Call(n, a)),
    ]
}

fn finish() -> impl Strategy<Value = FinishReason> {
    prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::Length),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::ContentFilter),
        prop::option::of("[a-z#]{1,4}").prop_map(FinishReason::StopSequence),
    ]
}

/// The neutral events of a well-formed stream: `Start`, content, `Finish`, one `Usage`, `End`.
fn stream() -> impl Strategy<Value = Vec<StreamEvent>> {
    (
        prop::collection::vec(piece(), 0..8),
        finish(),
        (0u64..10_000, 0u64..10_000, 0u64..10_000),
    )
        .prop_map(|(pieces, finish, (input, output, cached))| {
            let mut events = vec![StreamEvent::Start {
                id: "msg_1".into(),
                model: "client-model".into(),
            }];
            let mut calls = 0;
            for piece in pieces {
                match piece {
                    Piece::Text(t) => events.push(StreamEvent::TextDelta(t)),
                    Piece::Thinking(t) => events.push(StreamEvent::ThinkingDelta(t)),
                    Piece::Signature(s) => events.push(StreamEvent::ThinkingSignature(Signature {
                        vendor: Vendor::Anthropic,
                        value: s,
                    })),
                    Piece::Redacted(d) => events.push(StreamEvent::ThinkingSignature(
                        thinking::redacted_signature(&d),
                    )),
                    Piece::Call(name, arguments) => {
                        events.push(StreamEvent::ToolCallStart {
                            index: calls,
                            id: format!("toolu_{calls}"),
                            name,
                            signature: None,
                        });
                        for arguments in arguments {
                            events.push(StreamEvent::ToolCallDelta {
                                index: calls,
                                arguments,
                            });
                        }
                        calls += 1;
                    }
                }
            }
            events.push(StreamEvent::Finish(finish));
            events.push(StreamEvent::Usage(Usage {
                prompt_tokens: input + cached,
                completion_tokens: output,
                cached_tokens: cached,
                ..Usage::default()
            }));
            events.push(StreamEvent::End);
            events
        })
}

fn decode(pieces: &[&[u8]]) -> Vec<StreamEvent> {
    let mut sse = sse::Decoder::new();
    let mut decoder = StreamDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        sse.push(piece);
        while let Ok(Some(event)) = sse.next_event() {
            decoder.event(&event, &mut out);
        }
    }
    out
}

proptest! {
    #[test]
    fn encoded_streams_decode_back(events in stream(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut encoder = StreamEncoder::new("client-model");
        let mut bytes = BytesMut::new();
        for event in &events {
            encoder.event(event, &mut bytes);
        }
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut last = 0;
        for p in points {
            pieces.push(&bytes[last..p]);
            last = p;
        }
        pieces.push(&bytes[last..]);
        let mut decoded = decode(&pieces);
        // `message_start` was written before any usage was known, and says zero.
        prop_assert_eq!(decoded.remove(1), StreamEvent::Usage(Usage::default()));
        prop_assert_eq!(decoded, events);
    }
}
