//! Writing neutral stream events as Anthropic SSE for Anthropic-dialect clients.
//!
//! The frame order is Anthropic's: `message_start`, a `ping`, then content blocks, each opened
//! with `content_block_start`, fed with deltas and closed with `content_block_stop` before the
//! next opens (block `index` counts every block), then `message_delta` with the stop reason and
//! cumulative usage, then `message_stop`. Usage from most upstreams arrives after the finish
//! reason (OpenAI's usage chunk), so the encoder closes the open block on `Finish` but holds
//! `message_delta` until `End`, when the usage is known. Input and cache counts go in
//! `message_delta.usage` too: `message_start` (written lazily, with the first content) has
//! them only when the upstream said them early, as Anthropic does.

use super::error::Body as ErrorBody;
use super::error_type;
use super::response::{Block, stop_reason};
use super::thinking::{self, Replay};
use super::usage::Reported;
use crate::neutral::{self, ErrorInfo, FinishReason, StreamEvent, client_tool_id};
use bytes::BytesMut;
use serde::Serialize;
use switchyard_core::Usage;

/// Neutral events → Anthropic SSE. See the module docs.
#[derive(Debug)]
pub struct StreamEncoder {
    /// The model name the client asked for, which is what it is told answered.
    model: String,
    /// The message id from `Start`, kept until `message_start` is written.
    id: String,
    started: bool,
    /// `message_stop` or an error was written; nothing more is.
    done: bool,
    /// The index the next content block gets.
    next_index: u32,
    open: Option<Open>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
    /// A tool call: its block index and neutral tool index.
    Tool(u32, u32),
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Open::Text(i) | Open::Thinking(i) | Open::Tool(i, _) => i,
        }
    }
}

#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u32>,
    #[serde(flatten)]
    body: &'a T,
}

#[derive(Serialize)]
struct Nothing {}

#[derive(Serialize)]
struct StartBody<'a> {
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'static str>,
    usage: Reported,
}

#[derive(Serialize)]
struct BlockStartBody<'a> {
    content_block: Block<'a>,
}

#[derive(Serialize)]
struct DeltaBody<'a> {
    delta: BlockDelta<'a>,
}

// The variant names are Anthropic's delta types, which all end in `_delta`.
#[allow(clippy::enum_variant_names)]
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta<'a> {
    TextDelta { text: &'a str },
    ThinkingDelta { thinking: &'a str },
    SignatureDelta { signature: &'a str },
    InputJsonDelta { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDeltaBody<'a> {
    delta: StopDelta<'a>,
    usage: Reported,
}

#[derive(Serialize)]
struct StopDelta<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

/// Appends one SSE frame: `event: <name>` and the JSON of `{"type": name, index?, ..body}`.
fn frame<T: Serialize>(out: &mut BytesMut, name: &'static str, index: Option<u32>, body: &T) {
    let data = serde_json::to_vec(&Typed {
        kind: name,
        index,
        body,
    })
    .unwrap_or_default();
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\n\n");
}

impl StreamEncoder {
    /// An encoder that names `model` (the client's name for it) in `message_start`.
    pub fn new(model: &str) -> Self {
        StreamEncoder {
            model: model.to_owned(),
            id: String::new(),
            started: false,
            done: false,
            next_index: 0,
            open: None,
            finish: None,
            usage: None,
        }
    }

    /// Writes `message_start` (and a `ping`) if not yet written. It waits for the first content
    /// so that usage reported right after `Start` (an Anthropic upstream's input and cache
    /// counts) is in it.
    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let body = StartBody {
            message: StartMessage {
                id: &self.id,
                kind: "message",
                role: "assistant",
                model: &self.model,
                content: [],
                stop_reason: None,
                stop_sequence: None,
                usage: Reported::of(&self.usage.unwrap_or_default()),
            },
        };
        frame(out, "message_start", None, &body);
        frame(out, "ping", None, &Nothing {});
    }

    fn close(&mut self, out: &mut BytesMut) {
        if let Some(open) = self.open.take() {
            frame(out, "content_block_stop", Some(open.index()), &Nothing {});
        }
    }

    /// Closes the open block and opens `block`, returning its index.
    fn open(&mut self, block: Block<'_>, out: &mut BytesMut) -> u32 {
        self.start(out);
        self.close(out);
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        let body = BlockStartBody {
            content_block: block,
        };
        frame(out, "content_block_start", Some(index), &body);
        index
    }

    fn delta(&self, index: u32, delta: BlockDelta<'_>, out: &mut BytesMut) {
        frame(
            out,
            "content_block_delta",
            Some(index),
            &DeltaBody { delta },
        );
    }

    fn end(&mut self, out: &mut BytesMut) {
        self.start(out);
        self.close(out);
        let finish = self.finish.take().unwrap_or_default();
        let (reason, sequence) = stop_reason(&finish);
        let body = MessageDeltaBody {
            delta: StopDelta {
                stop_reason: reason,
                stop_sequence: sequence,
            },
            usage: Reported::of(&self.usage.unwrap_or_default()),
        };
        frame(out, "message_delta", None, &body);
        frame(out, "message_stop", None, &Nothing {});
        self.done = true;
    }
}

impl neutral::StreamEncoder for StreamEncoder {
    fn event(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => self.id.clone_from(id),
            StreamEvent::TextDelta(text) => {
                if text.is_empty() {
                    return;
                }
                let index = match self.open {
                    Some(Open::Text(index)) => index,
                    _ => {
                        let index = self.open(Block::Text { text: "" }, out);
                        self.open = Some(Open::Text(index));
                        index
                    }
                };
                self.delta(index, BlockDelta::TextDelta { text }, out);
            }
            StreamEvent::ThinkingDelta(text) => {
                if text.is_empty() {
                    return;
                }
                let index = self.thinking_block(out);
                self.delta(index, BlockDelta::ThinkingDelta { thinking: text }, out);
            }
            StreamEvent::ThinkingSignature(signature) => {
                match thinking::replay(Some(signature)) {
                    Replay::Signed(value) => {
                        let index = self.thinking_block(out);
                        self.delta(index, BlockDelta::SignatureDelta { signature: value }, out);
                    }
                    Replay::Redacted(data) => {
                        let index = self.open(Block::RedactedThinking { data }, out);
                        frame(out, "content_block_stop", Some(index), &Nothing {});
                    }
                    // Another vendor's signature is never shown to an Anthropic client.
                    Replay::Foreign => {}
                }
            }
            StreamEvent::ToolCallStart {
                index: tool,
                id,
                name,
                signature,
            } => {
                let block = Block::ToolUse {
                    id: client_tool_id(id, signature.as_ref()),
                    name,
                    input: serde_json::Value::Object(serde_json::Map::new()),
                };
                let index = self.open(block, out);
                self.open = Some(Open::Tool(index, *tool));
            }
            StreamEvent::ToolCallDelta {
                index: tool,
                arguments,
            } => {
                // Anthropic blocks cannot be reopened: pieces of a call whose block is closed
                // are dropped (OpenAI-compatible upstreams stream calls one after another).
                if let Some(Open::Tool(index, open_tool)) = self.open
                    && open_tool == *tool
                    && !arguments.is_empty()
                {
                    let delta = BlockDelta::InputJsonDelta {
                        partial_json: arguments,
                    };
                    self.delta(index, delta, out);
                }
            }
            StreamEvent::Finish(reason) => {
                self.start(out);
                self.close(out);
                self.finish = Some(reason.clone());
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Error(error) => neutral::StreamEncoder::error(self, error, out),
            StreamEvent::End => self.end(out),
        }
    }

    fn error(&mut self, error: &ErrorInfo, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.done = true;
        let body = ErrorBody::new(error_type(error.kind), &error.message);
        let data = serde_json::to_vec(&body).unwrap_or_default();
        out.extend_from_slice(b"event: error\ndata: ");
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\n\n");
    }
}

impl StreamEncoder {
    /// The open thinking block's index, opening one if needed.
    fn thinking_block(&mut self, out: &mut BytesMut) -> u32 {
        match self.open {
            Some(Open::Thinking(index)) => index,
            _ => {
                let block = Block::Thinking {
                    thinking: "",
                    signature: "",
                };
                let index = self.open(block, out);
                self.open = Some(Open::Thinking(index));
                index
            }
        }
    }
}
