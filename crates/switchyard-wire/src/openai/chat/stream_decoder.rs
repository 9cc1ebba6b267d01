//! An upstream's `chat.completion.chunk` stream → neutral [`StreamEvent`]s.
//!
//! Compatible servers differ in small ways, all tolerated here: no role chunk, reasoning in
//! `reasoning_content` or `reasoning`, a whole tool call in one fragment, parallel calls that
//! all claim `index` 0 but carry different ids, usage on a choice chunk or in a chunk of its
//! own (`choices` empty, `null` or absent), `stop` as the finish reason after tool calls, and
//! no `[DONE]` at all.

use super::response::{arguments_text, finish_reason, reasoning_text, wire_usage};
use crate::neutral::{self, StreamEvent};
use crate::sse;
use serde_json::Value;

/// Reads one OpenAI-compatible upstream's stream. Create one per response.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    finished: bool,
    ended: bool,
    /// Each tool call seen, by neutral index: the upstream's `index` and id.
    calls: Vec<(u64, String)>,
}

impl StreamDecoder {
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk["id"].as_str().unwrap_or_default().to_owned(),
                model: chunk["model"].as_str().unwrap_or_default().to_owned(),
            });
        }
        // Only the first choice is translated; the other dialects have one answer.
        let first = chunk["choices"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["index"].as_u64().unwrap_or(0) == 0);
        if let Some(choice) = first {
            let delta = &choice["delta"];
            if let Some(text) = reasoning_text(delta) {
                out.push(StreamEvent::ThinkingDelta(text.to_owned()));
            }
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                out.push(StreamEvent::TextDelta(text.to_owned()));
            }
            let fragments = delta["tool_calls"].as_array().into_iter().flatten();
            for (position, fragment) in fragments.enumerate() {
                self.tool_fragment(fragment, position as u64, out);
            }
            if let Some(reason) = choice["finish_reason"].as_str()
                && !self.finished
            {
                self.finished = true;
                let reason = finish_reason(Some(reason), !self.calls.is_empty());
                out.push(StreamEvent::Finish(reason));
            }
        }
        if let Some(usage) = wire_usage(&chunk["usage"]) {
            out.push(StreamEvent::Usage(usage));
        }
    }

    fn tool_fragment(&mut self, fragment: &Value, position: u64, out: &mut Vec<StreamEvent>) {
        let upstream_index = fragment["index"].as_u64().unwrap_or(position);
        let id = fragment["id"].as_str().filter(|id| !id.is_empty());
        let name = fragment["function"]["name"]
            .as_str()
            .filter(|n| !n.is_empty());
        // Without an index or an id, only a name says that a new call begins.
        let unmarked_new_call = fragment["index"].is_null() && id.is_none() && name.is_some();
        let current = self.calls.iter().rposition(|(i, _)| *i == upstream_index);
        let index = match current {
            Some(k) if !unmarked_new_call && id.is_none_or(|id| id == self.calls[k].1) => k,
            _ => {
                let k = self.calls.len();
                let id = id.map_or_else(|| format!("call_{k}"), str::to_owned);
                self.calls.push((upstream_index, id.clone()));
                out.push(StreamEvent::ToolCallStart {
                    index: k as u32,
                    id,
                    name: name.unwrap_or_default().to_owned(),
                    signature: None,
                });
                k
            }
        };
        let arguments = arguments_text(&fragment["function"]["arguments"]);
        if !arguments.is_empty() {
            out.push(StreamEvent::ToolCallDelta {
                index: index as u32,
                arguments,
            });
        }
    }
}

impl neutral::StreamDecoder for StreamDecoder {
    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Some(data) = &event.data else { return };
        if self.ended {
            return;
        }
        if data.trim() == "[DONE]" {
            self.ended = true;
            out.push(StreamEvent::End);
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if !chunk.is_object() {
            return;
        }
        let flat_error = chunk["object"] == "error";
        if !chunk["error"].is_null() || flat_error {
            out.push(StreamEvent::Error(super::error_info(None, data.as_bytes())));
            return;
        }
        self.chunk(&chunk, out);
    }

    /// A stream that finished but lost its `[DONE]` still ends; one cut short does not.
    fn eof(&mut self, out: &mut Vec<StreamEvent>) {
        if self.finished && !self.ended {
            self.ended = true;
            out.push(StreamEvent::End);
        }
    }
}

#[cfg(test)]
mod tests;
