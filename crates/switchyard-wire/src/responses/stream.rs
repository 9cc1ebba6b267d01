//! Neutral stream events as a Responses event stream: `event: <type>` plus a `data:` JSON that
//! repeats `type` and carries a strictly increasing `sequence_number`, with the full lifecycle
//! strict clients (openai-python's `responses.stream()`) expect, and no `[DONE]`.
//!
//! Output items open lazily and close in order: an item closes when the next begins, or on
//! `Finish`. An argument piece for a call already closed (only an upstream interleaving
//! parallel calls sends one) is added to the final response object without a delta event.

use super::echo::echo;
use super::response::{
    call_item, call_item_id, envelope, item_id, message_item, output_text, reasoning_item,
    response_id,
};
use crate::neutral::{
    self, ChatRequest, ErrorInfo, ErrorKind, FinishReason, Signature, StreamEvent,
};
use bytes::{BufMut, BytesMut};
use serde_json::{Map, Value, json};
use switchyard_core::Usage;

/// Encodes one answer's stream for a Responses client.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    created_at: i64,
    id: String,
    sequence: u64,
    started: bool,
    /// Set once the terminal event is written; everything after it is ignored.
    done: bool,
    items: Vec<Item>,
    /// The output index of each tool call, by its neutral `index`.
    calls: Vec<(u32, usize)>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The request-echo fields of every response object sent.
    echo: Map<String, Value>,
}

#[derive(Debug)]
struct Item {
    id: String,
    open: bool,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Message {
        text: String,
    },
    Reasoning {
        text: String,
        signature: Option<Signature>,
    },
    Call {
        /// The neutral id, which names the item.
        id: String,
        /// The id the client sees, with any Gemini signature folded in.
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Item {
    fn value(&self) -> Value {
        let status = if self.open {
            "in_progress"
        } else {
            "completed"
        };
        match &self.kind {
            Kind::Message { text } if self.open && text.is_empty() => {
                message_item(&self.id, &[], status)
            }
            Kind::Message { text } => message_item(&self.id, &[text], status),
            Kind::Reasoning { text, signature } => {
                reasoning_item(&self.id, text, signature.as_ref(), status)
            }
            Kind::Call {
                call_id,
                name,
                arguments,
                ..
            } => call_item(&self.id, call_id, name, arguments, status),
        }
    }
}

impl StreamEncoder {
    /// `model` is the name the client asked for; `created_at` is the Unix time of the request.
    /// The response objects' request-echo fields hold the API's defaults.
    pub fn new(model: &str, created_at: i64) -> StreamEncoder {
        StreamEncoder::with_echo(model, created_at, echo(None))
    }

    /// [`StreamEncoder::new`], with the request-echo fields (`tools`, `instructions`,
    /// `temperature`…) taken from the client's decoded `request`.
    pub fn for_request(request: &ChatRequest, model: &str, created_at: i64) -> StreamEncoder {
        StreamEncoder::with_echo(model, created_at, echo(Some(request)))
    }

    fn with_echo(model: &str, created_at: i64, echo: Map<String, Value>) -> StreamEncoder {
        StreamEncoder {
            model: model.to_owned(),
            created_at,
            id: response_id(""),
            sequence: 0,
            started: false,
            done: false,
            items: Vec::new(),
            calls: Vec::new(),
            finish: None,
            usage: None,
            echo,
        }
    }

    fn emit(&mut self, out: &mut BytesMut, kind: &str, mut payload: Value) {
        payload["type"] = json!(kind);
        payload["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.put_slice(b"event: ");
        out.put_slice(kind.as_bytes());
        out.put_slice(b"\ndata: ");
        out.put_slice(&serde_json::to_vec(&payload).unwrap_or_default());
        out.put_slice(b"\n\n");
    }

    fn snapshot(&self, finish: Option<&FinishReason>) -> Value {
        let output = self.items.iter().map(Item::value).collect();
        envelope(
            &self.id,
            &self.model,
            self.created_at,
            output,
            self.usage.as_ref(),
            finish,
            &self.echo,
        )
    }

    /// `response.created` and `response.in_progress`, once, before anything else.
    fn start(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.snapshot(None);
        self.emit(out, "response.created", json!({ "response": response }));
        self.emit(out, "response.in_progress", json!({ "response": response }));
    }

    /// Opens a new item at the end of the output and announces it.
    fn open(&mut self, out: &mut BytesMut, prefix: &str, kind: Kind) -> usize {
        let index = self.items.len();
        let id = match &kind {
            Kind::Call { id, .. } => call_item_id(id),
            _ => item_id(prefix, &self.id, index),
        };
        self.items.push(Item {
            id,
            open: true,
            kind,
        });
        let item = self.items[index].value();
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        index
    }

    /// Closes the open item, if any. Only the last item can be open: each one closes when the
    /// next begins, as OpenAI streams them.
    fn close(&mut self, out: &mut BytesMut) {
        for index in 0..self.items.len() {
            let item = &self.items[index];
            if !item.open {
                continue;
            }
            let at = json!({"item_id": item.id, "output_index": index});
            let with = |extra: Value| {
                let mut v = at.clone();
                if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                    v.extend(extra);
                }
                v
            };
            match &item.kind {
                Kind::Message { text } => {
                    let (done, part) = (
                        with(json!({"content_index": 0, "text": text, "logprobs": []})),
                        with(json!({"content_index": 0, "part": output_text(text)})),
                    );
                    self.emit(out, "response.output_text.done", done);
                    self.emit(out, "response.content_part.done", part);
                }
                Kind::Reasoning { text, .. } if !text.is_empty() => {
                    let summary = json!({"type": "summary_text", "text": text});
                    let (done, part) = (
                        with(json!({"summary_index": 0, "text": text})),
                        with(json!({"summary_index": 0, "part": summary})),
                    );
                    self.emit(out, "response.reasoning_summary_text.done", done);
                    self.emit(out, "response.reasoning_summary_part.done", part);
                }
                Kind::Reasoning { .. } => {}
                Kind::Call {
                    name, arguments, ..
                } => {
                    let done = with(json!({"name": name, "arguments": arguments}));
                    self.emit(out, "response.function_call_arguments.done", done);
                }
            }
            self.items[index].open = false;
            let item = self.items[index].value();
            self.emit(
                out,
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
            );
        }
    }

    /// The open item at the end of the output, if it is text (`reasoning: false`) or
    /// reasoning (`true`).
    fn open_tail(&self, reasoning: bool) -> Option<usize> {
        let index = self.items.len().checked_sub(1)?;
        let item = &self.items[index];
        let fits = match item.kind {
            Kind::Message { .. } => !reasoning,
            Kind::Reasoning { .. } => reasoning,
            Kind::Call { .. } => false,
        };
        (item.open && fits).then_some(index)
    }

    fn text_delta(&mut self, out: &mut BytesMut, delta: &str) {
        let index = match self.open_tail(false) {
            Some(index) => index,
            None => {
                self.close(out);
                let text = String::new();
                let index = self.open(out, "msg", Kind::Message { text });
                let part = json!({"item_id": self.items[index].id, "output_index": index,
                    "content_index": 0, "part": output_text("")});
                self.emit(out, "response.content_part.added", part);
                index
            }
        };
        if let Kind::Message { text } = &mut self.items[index].kind {
            text.push_str(delta);
        }
        let event = json!({"item_id": self.items[index].id, "output_index": index,
            "content_index": 0, "delta": delta, "logprobs": []});
        self.emit(out, "response.output_text.delta", event);
    }

    fn thinking_delta(&mut self, out: &mut BytesMut, delta: &str) {
        let index = match self.open_tail(true) {
            Some(index) => index,
            None => {
                self.close(out);
                let kind = Kind::Reasoning {
                    text: String::new(),
                    signature: None,
                };
                self.open(out, "rs", kind)
            }
        };
        let at =
            json!({"item_id": self.items[index].id, "output_index": index, "summary_index": 0});
        let Kind::Reasoning { text, .. } = &mut self.items[index].kind else {
            return;
        };
        let first = text.is_empty();
        text.push_str(delta);
        if first {
            let mut added = at.clone();
            added["part"] = json!({"type": "summary_text", "text": ""});
            self.emit(out, "response.reasoning_summary_part.added", added);
        }
        let mut event = at;
        event["delta"] = json!(delta);
        self.emit(out, "response.reasoning_summary_text.delta", event);
    }

    fn thinking_signature(&mut self, out: &mut BytesMut, signature: &Signature) {
        let last = self
            .items
            .iter()
            .rposition(|i| matches!(i.kind, Kind::Reasoning { .. }));
        let index = match last {
            Some(index) => index,
            None => {
                self.close(out);
                let kind = Kind::Reasoning {
                    text: String::new(),
                    signature: None,
                };
                self.open(out, "rs", kind)
            }
        };
        if let Kind::Reasoning { signature: s, .. } = &mut self.items[index].kind {
            *s = Some(signature.clone());
        }
    }

    fn tool_call_start(
        &mut self,
        out: &mut BytesMut,
        index: u32,
        id: &str,
        name: &str,
        signature: Option<&Signature>,
    ) {
        self.close(out);
        let kind = Kind::Call {
            id: id.to_owned(),
            call_id: neutral::client_tool_id(id, signature),
            name: name.to_owned(),
            arguments: String::new(),
        };
        let at = self.open(out, "fc", kind);
        self.calls.retain(|(i, _)| *i != index);
        self.calls.push((index, at));
    }

    fn tool_call_delta(&mut self, out: &mut BytesMut, index: u32, delta: &str) {
        let Some(&(_, at)) = self.calls.iter().find(|(i, _)| *i == index) else {
            return;
        };
        let item = &mut self.items[at];
        if let Kind::Call { arguments, .. } = &mut item.kind {
            arguments.push_str(delta);
        }
        // A piece for a call already closed still reaches the final response object, but no
        // delta event may follow its `.done`.
        if item.open {
            let event = json!({"item_id": item.id, "output_index": at, "delta": delta});
            self.emit(out, "response.function_call_arguments.delta", event);
        }
    }

    fn end(&mut self, out: &mut BytesMut) {
        self.close(out);
        let finish = self.finish.clone().unwrap_or_default();
        let kind = match finish {
            FinishReason::Length | FinishReason::ContentFilter => "response.incomplete",
            _ => "response.completed",
        };
        let response = self.snapshot(Some(&finish));
        self.emit(out, kind, json!({ "response": response }));
        self.done = true;
    }
}

/// The `code` of a failed response's `error`, from the few the API defines.
fn failure_code(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimit => "rate_limit_exceeded",
        ErrorKind::InvalidRequest => "invalid_prompt",
        _ => "server_error",
    }
}

impl neutral::StreamEncoder for StreamEncoder {
    fn event(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        if let StreamEvent::Start { id, .. } = event
            && !self.started
        {
            self.id = response_id(id);
        }
        self.start(out);
        match event {
            StreamEvent::Start { .. } => {}
            StreamEvent::TextDelta(delta) if !delta.is_empty() => self.text_delta(out, delta),
            StreamEvent::ThinkingDelta(delta) if !delta.is_empty() => {
                self.thinking_delta(out, delta)
            }
            StreamEvent::TextDelta(_) | StreamEvent::ThinkingDelta(_) => {}
            StreamEvent::ThinkingSignature(signature) => self.thinking_signature(out, signature),
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => self.tool_call_start(out, *index, id, name, signature.as_ref()),
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.tool_call_delta(out, *index, arguments)
            }
            StreamEvent::Finish(reason) => {
                self.close(out);
                self.finish = Some(reason.clone());
            }
            StreamEvent::Usage(usage) => self.usage = Some(*usage),
            StreamEvent::Error(error) => self.error(error, out),
            StreamEvent::End => self.end(out),
        }
    }

    /// An `error` event (what openai-python surfaces as `ResponseErrorEvent`), then
    /// `response.failed` carrying the response so far, so SDK accumulators end cleanly.
    fn error(&mut self, error: &ErrorInfo, out: &mut BytesMut) {
        if self.done {
            return;
        }
        self.start(out);
        let code = error
            .code
            .clone()
            .unwrap_or_else(|| failure_code(error.kind).to_owned());
        let event = json!({"code": code, "message": error.message, "param": error.param});
        self.emit(out, "error", event);
        let mut response = self.snapshot(Some(&FinishReason::Stop));
        response["status"] = json!("failed");
        response["error"] = json!({"code": failure_code(error.kind), "message": error.message});
        self.emit(out, "response.failed", json!({ "response": response }));
        self.done = true;
    }
}
