//! Reading an Anthropic upstream's SSE stream into neutral events.
//!
//! The gateway runs this decoder on every event even when it forwards the bytes unchanged (to
//! meter usage), so it deserializes each frame into a small borrowed struct, never a tree.
//!
//! Usage: `message_start` carries the input and cache counts, each `message_delta` the
//! cumulative output count (and sometimes restated input/cache counts). The decoder emits a
//! [`StreamEvent::Usage`] with everything known after each of them, so a stream cut short still
//! reports its input tokens; the last one is the total.

use super::error::in_band;
use super::response::finish_reason;
use super::thinking;
use super::usage::WireUsage;
use crate::neutral::{self, StreamEvent};
use crate::sse;
use serde::Deserialize;
use std::borrow::Cow;

/// Anthropic SSE → neutral events. See the module docs.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// The usage reported so far, merged across frames.
    usage: Option<WireUsage>,
    /// Tool calls started so far: the next neutral tool index.
    tools: u32,
    /// Anthropic block index → neutral tool index, for the blocks that are tool calls.
    tool_blocks: Vec<(u64, u32)>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn tool_index(&self, block: Option<u64>) -> Option<u32> {
        let block = block?;
        self.tool_blocks
            .iter()
            .rev()
            .find(|(b, _)| *b == block)
            .map(|(_, t)| *t)
    }

    fn report_usage(&mut self, later: Option<WireUsage>, out: &mut Vec<StreamEvent>) {
        if let Some(later) = later {
            let merged = self.usage.unwrap_or_default().updated(&later);
            self.usage = Some(merged);
            out.push(StreamEvent::Usage(merged.to_usage()));
        }
    }
}

/// The fields of any Anthropic stream frame, borrowed where the JSON allows it.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default, borrow)]
    message: Option<StartMessage<'a>>,
    #[serde(default, borrow)]
    content_block: Option<BlockStart<'a>>,
    #[serde(default, borrow)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
struct StartMessage<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct BlockStart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a serde_json::value::RawValue>,
}

/// A `content_block_delta`'s or a `message_delta`'s `delta`.
#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_sequence: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

fn owned(text: Option<Cow<'_, str>>) -> String {
    text.map(Cow::into_owned).unwrap_or_default()
}

impl neutral::StreamDecoder for StreamDecoder {
    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Some(data) = event.data.as_deref() else {
            return;
        };
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(data) else {
            // A frame we cannot read says nothing we could act on; an `event: error` whose
            // data is not JSON is still an error.
            if event.name.as_deref() == Some("error") {
                out.push(StreamEvent::Error(in_band(None, Some(data))));
            }
            return;
        };
        let kind = frame.kind.as_deref().or(event.name.as_deref());
        match kind {
            Some("message_start") => {
                let message = frame.message;
                let (id, model, usage) = match message {
                    Some(m) => (owned(m.id), owned(m.model), m.usage),
                    None => (String::new(), String::new(), None),
                };
                out.push(StreamEvent::Start { id, model });
                self.report_usage(usage, out);
            }
            Some("content_block_start") => {
                let Some(block) = frame.content_block else {
                    return;
                };
                match block.kind.as_deref() {
                    Some("text") => push_text(out, block.text, StreamEvent::TextDelta),
                    Some("thinking") => push_text(out, block.thinking, StreamEvent::ThinkingDelta),
                    Some("redacted_thinking") => {
                        let data = owned(block.data);
                        out.push(StreamEvent::ThinkingSignature(
                            thinking::redacted_signature(&data),
                        ));
                    }
                    Some("tool_use") => {
                        let index = self.tools;
                        self.tools = self.tools.saturating_add(1);
                        if let Some(block_index) = frame.index {
                            self.tool_blocks.push((block_index, index));
                        }
                        out.push(StreamEvent::ToolCallStart {
                            index,
                            id: owned(block.id),
                            name: owned(block.name),
                            signature: None,
                        });
                        // The input is `{}` by convention; anything else is its first piece.
                        if let Some(input) = block.input
                            && !matches!(input.get().trim(), "{}" | "null")
                        {
                            out.push(StreamEvent::ToolCallDelta {
                                index,
                                arguments: input.get().to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            Some("content_block_delta") => {
                let Some(delta) = frame.delta else {
                    return;
                };
                match delta.kind.as_deref() {
                    Some("text_delta") => push_text(out, delta.text, StreamEvent::TextDelta),
                    Some("thinking_delta") => {
                        push_text(out, delta.thinking, StreamEvent::ThinkingDelta)
                    }
                    Some("signature_delta") => {
                        if let Some(signature) =
                            delta.signature.as_deref().and_then(thinking::signed)
                        {
                            out.push(StreamEvent::ThinkingSignature(signature));
                        }
                    }
                    Some("input_json_delta") => {
                        if let Some(index) = self.tool_index(frame.index) {
                            let arguments = owned(delta.partial_json);
                            if !arguments.is_empty() {
                                out.push(StreamEvent::ToolCallDelta { index, arguments });
                            }
                        }
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                if let Some(delta) = frame.delta
                    && delta.stop_reason.is_some()
                {
                    out.push(StreamEvent::Finish(finish_reason(
                        delta.stop_reason.as_deref(),
                        delta.stop_sequence.as_deref(),
                    )));
                }
                self.report_usage(frame.usage, out);
            }
            Some("message_stop") => out.push(StreamEvent::End),
            Some("error") => {
                let (kind, message) = match frame.error {
                    Some(e) => (e.kind, e.message),
                    None => (None, None),
                };
                out.push(StreamEvent::Error(in_band(
                    kind.as_deref(),
                    message.as_deref(),
                )));
            }
            // ping, content_block_stop and anything newer.
            _ => {}
        }
    }

    fn eof(&mut self, _out: &mut Vec<StreamEvent>) {
        // Anthropic ends with `message_stop`; a stream without it was cut short.
    }
}

fn push_text(
    out: &mut Vec<StreamEvent>,
    text: Option<Cow<'_, str>>,
    make: fn(String) -> StreamEvent,
) {
    if let Some(text) = text
        && !text.is_empty()
    {
        out.push(make(text.into_owned()));
    }
}
