//! A whole (non-streamed) Anthropic message: reading an upstream's, writing ours for clients.

use super::thinking::{self, Replay};
use super::usage::{Reported, WireUsage};
use crate::neutral::{
    ChatResponse, FinishReason, Part, Signature, Thinking, ToolCall, arguments_object,
    client_tool_id,
};
use serde::Serialize;
use serde_json::Value;

/// Reads an Anthropic upstream's JSON answer. Missing or null fields are tolerated; blocks the
/// neutral form has no place for (server tool use, search results) are skipped. `Err` says why
/// the body is not a message at all.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the upstream's answer is not valid JSON: {e}"))?;
    let Value::Object(message) = value else {
        return Err("the upstream's answer is not a JSON object".into());
    };
    if message.get("type").and_then(Value::as_str) == Some("error") {
        let text = message
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(format!("the upstream answered with an error: {text}"));
    }
    let text_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let blocks = message.get("content").and_then(Value::as_array);
    let content = blocks
        .into_iter()
        .flatten()
        .filter_map(|block| match block.get("type").and_then(Value::as_str)? {
            "text" => Some(Part::Text(text_of(block, "text")?)),
            "thinking" => Some(Part::Thinking(Thinking {
                text: text_of(block, "thinking").unwrap_or_default(),
                signature: block
                    .get("signature")
                    .and_then(Value::as_str)
                    .and_then(thinking::signed),
            })),
            "redacted_thinking" => Some(Part::Thinking(thinking::redacted(
                block.get("data").and_then(Value::as_str)?,
            ))),
            "tool_use" => Some(Part::ToolCall(ToolCall {
                id: text_of(block, "id").unwrap_or_default(),
                name: text_of(block, "name").unwrap_or_default(),
                arguments: match block.get("input") {
                    Some(input @ Value::Object(_)) => input.to_string(),
                    _ => "{}".to_owned(),
                },
                signature: None,
            })),
            _ => None,
        })
        .collect();
    let usage = message
        .get("usage")
        .and_then(|u| serde_json::from_value::<WireUsage>(u.clone()).ok())
        .map(|u| u.to_usage());
    Ok(ChatResponse {
        id: message
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        model: message
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        content,
        finish: finish_reason(
            message.get("stop_reason").and_then(Value::as_str),
            message.get("stop_sequence").and_then(Value::as_str),
        ),
        usage,
    })
}

/// Anthropic's `stop_reason` (and `stop_sequence`) as a neutral finish reason.
pub(crate) fn finish_reason(
    stop_reason: Option<&str>,
    stop_sequence: Option<&str>,
) -> FinishReason {
    match stop_reason {
        Some("stop_sequence") => FinishReason::StopSequence(stop_sequence.map(str::to_owned)),
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        // end_turn, pause_turn, null and reasons added after this was written.
        _ => FinishReason::Stop,
    }
}

/// A neutral finish reason as Anthropic's `stop_reason` and `stop_sequence`.
pub(crate) fn stop_reason(finish: &FinishReason) -> (&'static str, Option<&str>) {
    match finish {
        FinishReason::Stop => ("end_turn", None),
        FinishReason::StopSequence(sequence) => ("stop_sequence", sequence.as_deref()),
        FinishReason::Length => ("max_tokens", None),
        FinishReason::ToolCalls => ("tool_use", None),
        FinishReason::ContentFilter => ("refusal", None),
    }
}

/// One content block as we write it to Anthropic-dialect clients.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: Value,
    },
}

impl<'a> Block<'a> {
    /// The block for a thinking part. Only Anthropic's signatures are shown to the client:
    /// anything else would come back to us labelled as Anthropic's.
    pub(crate) fn thinking(text: &'a str, signature: Option<&'a Signature>) -> Block<'a> {
        match thinking::replay(signature) {
            Replay::Redacted(data) => Block::RedactedThinking { data },
            Replay::Signed(signature) => Block::Thinking {
                thinking: text,
                signature,
            },
            Replay::Foreign => Block::Thinking {
                thinking: text,
                signature: "",
            },
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
    usage: Reported,
}

/// Our answer to an Anthropic-dialect client. `model` is the name the client asked for. A tool
/// call's id carries its Gemini signature, if any (see [`client_tool_id`]); empty text is
/// left out.
pub fn encode_response(response: &ChatResponse, model: &str) -> Vec<u8> {
    let content = response
        .content
        .iter()
        .filter_map(|part| match part {
            Part::Text(text) if text.is_empty() => None,
            Part::Text(text) => Some(Block::Text { text }),
            Part::Thinking(t) => Some(Block::thinking(&t.text, t.signature.as_ref())),
            Part::ToolCall(call) => Some(Block::ToolUse {
                id: client_tool_id(&call.id, call.signature.as_ref()),
                name: &call.name,
                input: arguments_object(&call.arguments),
            }),
            Part::Image(_) | Part::ToolResult(_) => None,
        })
        .collect();
    let (stop_reason, stop_sequence) = stop_reason(&response.finish);
    let message = Message {
        id: &response.id,
        kind: "message",
        role: "assistant",
        model,
        content,
        stop_reason,
        stop_sequence,
        usage: Reported::of(&response.usage.unwrap_or_default()),
    };
    serde_json::to_vec(&message).unwrap_or_default()
}
