//! Reading a Responses event stream from an upstream into neutral events, for upstreams that
//! speak the Responses API (some OpenAI models are served only there). Never panics: events it
//! does not know, or cannot parse, are skipped.

use super::input::signature_from_wire;
use crate::neutral::{self, ErrorInfo, ErrorKind, FinishReason, StreamEvent};
use crate::sse;
use serde_json::Value;
use switchyard_core::Usage;

/// Decodes one upstream Responses stream.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    /// Ended by a terminal event; anything after it is ignored.
    done: bool,
    /// Each function-call item's id, its neutral `index`, and whether arguments were streamed.
    calls: Vec<(String, u32, bool)>,
}

impl StreamDecoder {
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: id.to_owned(),
                model: model.to_owned(),
            });
        }
    }

    fn call_start(&mut self, item_id: &str, item: &Value, out: &mut Vec<StreamEvent>) {
        if self.calls.iter().any(|(id, ..)| id == item_id) {
            return;
        }
        let index = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
        let (id, signature) = neutral::split_tool_id(str_of(item, "call_id"));
        out.push(StreamEvent::ToolCallStart {
            index,
            id,
            name: str_of(item, "name").to_owned(),
            signature,
        });
        self.calls.push((item_id.to_owned(), index, false));
    }

    fn call_arguments(&mut self, item_id: &str, arguments: &str, out: &mut Vec<StreamEvent>) {
        let Some(call) = self.calls.iter_mut().find(|(id, ..)| id == item_id) else {
            return;
        };
        if !arguments.is_empty() {
            call.2 = true;
            out.push(StreamEvent::ToolCallDelta {
                index: call.1,
                arguments: arguments.to_owned(),
            });
        }
    }

    /// Arguments given only whole (in `.done` or the finished item) when none streamed.
    fn call_done(&mut self, item_id: &str, arguments: &str, out: &mut Vec<StreamEvent>) {
        let streamed = self
            .calls
            .iter()
            .any(|(id, _, streamed)| id == item_id && *streamed);
        if !streamed {
            self.call_arguments(item_id, arguments, out);
        }
    }

    fn finish(&mut self, response: &Value, out: &mut Vec<StreamEvent>) {
        let reason = response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str);
        out.push(StreamEvent::Finish(match reason {
            Some("max_output_tokens") => FinishReason::Length,
            Some("content_filter") => FinishReason::ContentFilter,
            _ if !self.calls.is_empty() => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }));
        if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
            let n = |path: &str| usage.pointer(path).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamEvent::Usage(Usage {
                prompt_tokens: n("/input_tokens"),
                completion_tokens: n("/output_tokens"),
                cached_tokens: n("/input_tokens_details/cached_tokens"),
                reasoning_tokens: n("/output_tokens_details/reasoning_tokens"),
                ..Usage::default()
            }));
        }
        out.push(StreamEvent::End);
        self.done = true;
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn error_kind(code: &str) -> ErrorKind {
    match code {
        "rate_limit_exceeded" | "insufficient_quota" => ErrorKind::RateLimit,
        "invalid_prompt" | "invalid_request_error" | "context_length_exceeded" => {
            ErrorKind::InvalidRequest
        }
        "server_is_overloaded" | "slow_down" => ErrorKind::Overloaded,
        _ => ErrorKind::Server,
    }
}

fn error_info(error: &Value) -> ErrorInfo {
    let code = error.get("code").and_then(Value::as_str).map(str::to_owned);
    ErrorInfo {
        kind: error_kind(code.as_deref().unwrap_or("")),
        message: str_of(error, "message").to_owned(),
        param: error
            .get("param")
            .and_then(Value::as_str)
            .map(str::to_owned),
        code,
    }
}

impl neutral::StreamDecoder for StreamDecoder {
    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        let Some(data) = event
            .data
            .as_deref()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        else {
            return;
        };
        let kind = match data.get("type").and_then(Value::as_str) {
            Some(kind) => kind,
            None => event.name.as_deref().unwrap_or(""),
        };
        let response = data.get("response").unwrap_or(&Value::Null);
        if kind == "error" {
            // `{type:"error",code,message,param}`, or the same inside an `error` object.
            let error = data.get("error").filter(|e| e.is_object()).unwrap_or(&data);
            out.push(StreamEvent::Error(error_info(error)));
            self.done = true;
            return;
        }
        self.start(str_of(response, "id"), str_of(response, "model"), out);
        let item = data.get("item").unwrap_or(&Value::Null);
        let item_id = data
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_else(|| str_of(item, "id"));
        let delta = str_of(&data, "delta");
        match kind {
            "response.output_text.delta" | "response.refusal.delta" if !delta.is_empty() => {
                out.push(StreamEvent::TextDelta(delta.to_owned()));
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta"
                if !delta.is_empty() =>
            {
                out.push(StreamEvent::ThinkingDelta(delta.to_owned()));
            }
            // Summary parts after the first are separated as `decode_response` joins them.
            "response.reasoning_summary_part.added"
                if data.get("summary_index").and_then(Value::as_u64) > Some(0) =>
            {
                out.push(StreamEvent::ThinkingDelta("\n\n".to_owned()));
            }
            "response.output_item.added" if str_of(item, "type") == "function_call" => {
                self.call_start(item_id, item, out);
                self.call_arguments(item_id, str_of(item, "arguments"), out);
            }
            "response.function_call_arguments.delta" => {
                self.call_arguments(item_id, delta, out);
            }
            "response.function_call_arguments.done" => {
                self.call_done(item_id, str_of(&data, "arguments"), out);
            }
            "response.output_item.done" => match str_of(item, "type") {
                "function_call" => {
                    self.call_start(item_id, item, out);
                    self.call_done(item_id, str_of(item, "arguments"), out);
                }
                "reasoning" => {
                    let signature = item
                        .get("encrypted_content")
                        .and_then(Value::as_str)
                        .and_then(signature_from_wire);
                    out.extend(signature.map(StreamEvent::ThinkingSignature));
                }
                _ => {}
            },
            "response.completed" | "response.incomplete" => self.finish(response, out),
            "response.failed" => {
                let error = response.get("error").unwrap_or(&Value::Null);
                out.push(StreamEvent::Error(error_info(error)));
                self.done = true;
            }
            _ => {}
        }
    }

    /// The terminal events end a Responses stream; a body that stops before one was cut short
    /// and emits nothing more.
    fn eof(&mut self, _out: &mut Vec<StreamEvent>) {}
}
