//! The non-streaming `message` object (wire-formats §4.2).

use http::StatusCode;
use serde_json::{Value, json};

use super::{THINKING, THINKING_SIGNATURE, message_id, stop, tool_use_id, usage};
use crate::mock::answer::Answer;
use crate::mock::body::{self, Response};
use crate::mock::faults::Fault;

/// The content blocks of an answer: thinking (for `reasoning-*` models), text, a `tool_use` block
/// per call.
pub(super) fn blocks(seq: u64, answer: &Answer) -> Vec<Value> {
    let mut blocks = Vec::new();
    if answer.tokens.reasoning > 0 {
        blocks.push(
            json!({"type": "thinking", "thinking": THINKING, "signature": THINKING_SIGNATURE}),
        );
    }
    let text = answer.text();
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for (at, call) in answer.tool_calls.iter().enumerate() {
        blocks.push(json!({
            "type": "tool_use",
            "id": tool_use_id(seq, at),
            "name": call.name,
            "input": call.arguments_value(),
        }));
    }
    blocks
}

pub(super) fn respond(seq: u64, model: &str, answer: &Answer, fault: Option<Fault>) -> Response {
    let (stop_reason, stop_sequence) = stop(&answer.finish);
    let mut message = json!({
        "id": message_id(seq),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks(seq, answer),
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
    });
    if fault != Some(Fault::NoUsage) {
        message["usage"] = usage(&answer.tokens);
    }
    if fault == Some(Fault::CutStream) {
        body::cut_json(&message)
    } else {
        body::json(StatusCode::OK, &message)
    }
}
