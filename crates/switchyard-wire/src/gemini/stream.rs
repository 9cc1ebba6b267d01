//! Gemini `:streamGenerateContent?alt=sse` frames → neutral stream events.
//!
//! Every frame is a whole `GenerateContentResponse` holding only the new parts; a function call
//! arrives whole. There is no end marker: the answer is complete when a `finishReason` was
//! seen, and `eof` emits `End` only then.

use super::error::error_info;
use super::response::{
    CallIds, Piece, block_reason, finish_reason, first_candidate, pieces, str_at, usage,
};
use crate::neutral::{self, FinishReason, StreamEvent};
use crate::sse;
use serde_json::Value;
use switchyard_core::Usage;

/// The decoder of one Gemini stream; [`StreamDecoder::new`] per response.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    ids: Option<CallIds>,
    /// Tool calls seen so far: the next call's `index`, and whether `STOP` means tool calls.
    calls: u32,
    finished: bool,
    /// The latest `usageMetadata`, re-emitted after `Finish` (Gemini may send it earlier).
    usage: Option<Usage>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn chunk(&mut self, data: &str, chunk: &Value, out: &mut Vec<StreamEvent>) {
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            out.push(StreamEvent::Error(error_info(0, error).0));
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: str_at(chunk, "responseId").unwrap_or_default().to_owned(),
                model: str_at(chunk, "modelVersion").unwrap_or_default().to_owned(),
            });
        }
        let ids = self
            .ids
            .get_or_insert_with(|| CallIds::new(str_at(chunk, "responseId"), data.as_bytes()));
        let candidate = first_candidate(chunk);
        for piece in pieces(candidate, ids) {
            match piece {
                Piece::Text(text) => out.push(StreamEvent::TextDelta(text)),
                Piece::Thought(text, signature) => {
                    if !text.is_empty() {
                        out.push(StreamEvent::ThinkingDelta(text));
                    }
                    if let Some(signature) = signature {
                        out.push(StreamEvent::ThinkingSignature(signature));
                    }
                }
                Piece::Call(call) => {
                    let index = self.calls;
                    self.calls += 1;
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: call.id,
                        name: call.name,
                        signature: call.signature,
                    });
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: call.arguments,
                    });
                }
            }
        }
        let new_usage = chunk.get("usageMetadata").and_then(usage);
        if new_usage.is_some() {
            self.usage = new_usage;
        }
        let finish = match candidate.and_then(|c| str_at(c, "finishReason")) {
            Some(reason) => Some(finish_reason(reason, self.calls > 0)),
            None if candidate.is_none() && block_reason(chunk).is_some() => {
                Some(FinishReason::ContentFilter)
            }
            None => None,
        };
        match finish {
            Some(reason) if !self.finished => {
                self.finished = true;
                out.push(StreamEvent::Finish(reason));
                out.extend(self.usage.map(StreamEvent::Usage));
            }
            // Usage that trails the finish is still cumulative and still counts.
            _ if self.finished => out.extend(new_usage.map(StreamEvent::Usage)),
            _ => {}
        }
    }
}

impl neutral::StreamDecoder for StreamDecoder {
    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Some(data) = event.data.as_deref() else {
            return;
        };
        // A frame that is not JSON carries nothing we can use; the stream goes on.
        if let Ok(chunk) = serde_json::from_str::<Value>(data) {
            self.chunk(data, &chunk, out);
        }
    }

    fn eof(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished {
            out.push(StreamEvent::End);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neutral::{Signature, StreamDecoder as _, Vendor};
    use serde_json::json;

    fn run(frames: &[Value]) -> Vec<StreamEvent> {
        let mut decoder = StreamDecoder::new();
        let mut out = Vec::new();
        for frame in frames {
            let event = sse::Event {
                raw: bytes::Bytes::new(),
                name: None,
                data: Some(frame.to_string()),
            };
            decoder.event(&event, &mut out);
        }
        decoder.eof(&mut out);
        out
    }

    #[test]
    fn text_then_finish_usage_and_end() {
        let events = run(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}], "responseId": "r", "modelVersion": "m",
                   "usageMetadata": {"promptTokenCount": 3}}),
            json!({"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "STOP"}], "responseId": "r",
                   "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2}}),
        ]);
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
            ..Usage::default()
        };
        assert_eq!(
            events,
            vec![
                StreamEvent::Start {
                    id: "r".into(),
                    model: "m".into()
                },
                StreamEvent::TextDelta("Hel".into()),
                StreamEvent::TextDelta("lo".into()),
                StreamEvent::Finish(FinishReason::Stop),
                StreamEvent::Usage(usage),
                StreamEvent::End,
            ]
        );
    }

    #[test]
    fn whole_calls_become_a_start_and_one_delta() {
        let events = run(&[
            json!({"candidates": [{"content": {"parts": [{"text": "think", "thought": true, "thoughtSignature": "czE="}]}}], "responseId": "r"}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "czI="}]},
                   "finishReason": "STOP"}], "responseId": "r"}),
        ]);
        let signature = |value: &str| Signature {
            vendor: Vendor::Gemini,
            value: value.into(),
        };
        assert_eq!(
            events[1..],
            [
                StreamEvent::ThinkingDelta("think".into()),
                StreamEvent::ThinkingSignature(signature("czE=")),
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "call_r_0".into(),
                    name: "f".into(),
                    signature: Some(signature("czI="))
                },
                StreamEvent::ToolCallDelta {
                    index: 0,
                    arguments: "{\"a\":1}".into()
                },
                StreamEvent::Finish(FinishReason::ToolCalls),
                StreamEvent::End,
            ]
        );
    }

    #[test]
    fn a_cut_stream_has_no_end_and_errors_and_blocks_are_events() {
        let cut = run(&[json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})]);
        assert!(!cut.contains(&StreamEvent::End));
        let error =
            run(&[json!({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})]);
        assert!(
            matches!(&error[..], [StreamEvent::Error(e)] if e.kind == neutral::ErrorKind::Overloaded)
        );
        let blocked = run(&[json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})]);
        assert_eq!(
            blocked[1..],
            [
                StreamEvent::Finish(FinishReason::ContentFilter),
                StreamEvent::End
            ]
        );
    }
}
