//! Neutral [`StreamEvent`]s → a `chat.completion.chunk` stream for an OpenAI-dialect client.
//!
//! The frames follow OpenAI's order: a role chunk, content, reasoning and tool-call deltas, a
//! finish chunk, then (when the client asked for `include_usage`) one `choices: []` chunk with
//! the usage, and `data: [DONE]`. Usage is held back until `End`, so an upstream that reports
//! it before its finish reason still produces OpenAI's order.

use super::response::{completion_id, usage_json};
use crate::neutral::{self, ErrorInfo, StreamEvent};
use bytes::BytesMut;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_core::Usage;

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    /// Absent (`None`), `null` (`Some(None)`) or the usage object.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<Value>>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    delta: Value,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

/// Writes one response's stream. Create one per response.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    created: i64,
    include_usage: bool,
    id: String,
    started: bool,
    finished: bool,
    usage: Option<Usage>,
    /// Tool calls started whose arguments are still empty; they get `{}` before the finish
    /// chunk, since clients parse the arguments they collect and `""` is not JSON.
    argumentless: Vec<u32>,
    /// After `End` or an error nothing more is written.
    closed: bool,
}

impl StreamEncoder {
    /// `model` is the client's name for the model; `include_usage` is the client's own
    /// `stream_options.include_usage`.
    pub fn new(model: &str, created: i64, include_usage: bool) -> StreamEncoder {
        StreamEncoder {
            model: model.to_owned(),
            created,
            include_usage,
            id: completion_id(""),
            started: false,
            finished: false,
            usage: None,
            argumentless: Vec::new(),
            closed: false,
        }
    }

    fn frame(out: &mut BytesMut, value: &impl Serialize) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&serde_json::to_vec(value).unwrap_or_default());
        out.extend_from_slice(b"\n\n");
    }

    /// A chunk in OpenAI's field order; `usage` is `null` in every chunk but the usage chunk
    /// when the client asked for usage, and absent otherwise.
    fn write(&self, choices: Vec<Choice<'_>>, usage: Option<Value>, out: &mut BytesMut) {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: self.include_usage.then_some(usage),
        };
        Self::frame(out, &chunk);
    }

    /// A chunk with one choice carrying `delta`.
    fn chunk(&self, delta: Value, finish_reason: Option<&str>, out: &mut BytesMut) {
        let choice = Choice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason,
        };
        self.write(vec![choice], None, out);
    }

    /// The role chunk, if it has not been sent (an upstream may skip `Start`).
    fn start(&mut self, out: &mut BytesMut) {
        if !self.started {
            self.started = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None, out);
        }
    }

    /// The finish chunk, once; after it no more deltas are written.
    fn finish(&mut self, reason: &str, out: &mut BytesMut) {
        self.start(out);
        if self.finished {
            return;
        }
        self.finished = true;
        for index in std::mem::take(&mut self.argumentless) {
            let call = json!({"index": index, "function": {"arguments": "{}"}});
            self.chunk(json!({"tool_calls": [call]}), None, out);
        }
        self.chunk(json!({}), Some(reason), out);
    }

    fn end(&mut self, out: &mut BytesMut) {
        self.finish("stop", out);
        if self.include_usage
            && let Some(usage) = &self.usage
        {
            self.write(Vec::new(), Some(usage_json(usage)), out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.closed = true;
    }
}

impl neutral::StreamEncoder for StreamEncoder {
    fn event(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => {
                if !self.started && !id.is_empty() {
                    self.id = completion_id(id);
                }
                self.start(out);
            }
            StreamEvent::TextDelta(text) => {
                self.start(out);
                self.chunk(json!({"content": text}), None, out);
            }
            StreamEvent::ThinkingDelta(text) => {
                self.start(out);
                self.chunk(json!({"reasoning_content": text}), None, out);
            }
            // OpenAI clients have nowhere to keep a thinking signature.
            StreamEvent::ThinkingSignature(_) => {}
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.start(out);
                self.argumentless.push(*index);
                let call = json!({
                    "index": index,
                    "id": neutral::client_tool_id(id, signature.as_ref()),
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                });
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.start(out);
                if !arguments.trim().is_empty() {
                    self.argumentless.retain(|i| i != index);
                }
                let call = json!({"index": index, "function": {"arguments": arguments}});
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            StreamEvent::Finish(reason) => self.finish(reason.openai(), out),
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Error(error) => neutral::StreamEncoder::error(self, error, out),
            StreamEvent::End => self.end(out),
        }
    }

    /// `data: {"error": …}` (what openai-python raises on), and no `[DONE]`.
    fn error(&mut self, error: &ErrorInfo, out: &mut BytesMut) {
        if self.closed {
            return;
        }
        self.closed = true;
        Self::frame(out, &json!({"error": super::error_object(error)}));
    }
}

#[cfg(test)]
mod tests;
