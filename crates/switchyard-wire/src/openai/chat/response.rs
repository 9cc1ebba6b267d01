//! A whole (non-streamed) `chat.completion`: read from an upstream, written for a client.

use crate::neutral::{self, ChatResponse, FinishReason, Part, Thinking, ToolCall};
use crate::openai::usage::{CompletionDetails, PromptDetails, WireUsage};
use serde_json::{Value, json};
use switchyard_core::Usage;

/// Reads an upstream's `chat.completion` (its first choice). Fails when the body is not a JSON
/// object or is an error body; missing or `null` fields read as empty.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the upstream's chat completion is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("the upstream's chat completion is not a JSON object".into());
    }
    // Some compatible servers answer 200 with an error body instead of a completion.
    if value.get("choices").is_none() && !value["error"].is_null() {
        let info = super::error_info(None, body);
        return Err(format!(
            "the upstream answered with an error: {}",
            info.message
        ));
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let choice = value["choices"].get(0).unwrap_or(&Value::Null);
    let message = &choice["message"];
    let mut content = Vec::new();
    if let Some(thinking) = reasoning_text(message) {
        content.push(Part::Thinking(Thinking {
            text: thinking.to_owned(),
            signature: None,
        }));
    }
    let answer = content_text(&message["content"]);
    if !answer.is_empty() {
        content.push(Part::Text(answer));
    }
    // OpenAI puts a refusal in its own field; other dialects know it as text plus a
    // content-filter stop.
    let refusal = message["refusal"].as_str().filter(|r| !r.is_empty());
    if let Some(refusal) = refusal {
        content.push(Part::Text(refusal.to_owned()));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        content.push(Part::ToolCall(ToolCall {
            id: text(&call["id"]),
            name: text(&call["function"]["name"]),
            arguments: arguments_text(&call["function"]["arguments"]),
            signature: None,
        }));
    }
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let mut finish = finish_reason(choice["finish_reason"].as_str(), has_calls);
    if refusal.is_some() && finish == FinishReason::Stop {
        finish = FinishReason::ContentFilter;
    }
    Ok(ChatResponse {
        id: text(&value["id"]),
        model: text(&value["model"]),
        content,
        finish,
        usage: wire_usage(&value["usage"]),
    })
}

/// `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, newer vLLM), if not empty.
pub(super) fn reasoning_text(message: &Value) -> Option<&str> {
    ["reasoning_content", "reasoning"]
        .iter()
        .filter_map(|key| message[*key].as_str())
        .find(|t| !t.is_empty())
}

/// `content` as a string, or the text of a parts array (some servers send one).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    }
}

/// Arguments as JSON text: a string as is, an object (some servers) serialized.
pub(super) fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Arguments for a client, which will parse them: `""` (no arguments) is sent as `{}`.
pub(super) fn arguments_or_empty_object(arguments: &str) -> &str {
    if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    }
}

/// OpenAI's `finish_reason`. Some compatible servers say `stop` after calling tools, which
/// other dialects must see as a tool-call stop or the client never runs the tools.
pub(super) fn finish_reason(reason: Option<&str>, has_calls: bool) -> FinishReason {
    match reason {
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// A `usage` object, if it is one; a count of the wrong type reads as absent.
pub(super) fn wire_usage(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let wire = WireUsage {
        prompt_tokens: usage["prompt_tokens"].as_u64(),
        completion_tokens: usage["completion_tokens"].as_u64(),
        prompt_tokens_details: Some(PromptDetails {
            cached_tokens: usage["prompt_tokens_details"]["cached_tokens"].as_u64(),
        }),
        completion_tokens_details: Some(CompletionDetails {
            reasoning_tokens: usage["completion_tokens_details"]["reasoning_tokens"].as_u64(),
        }),
    };
    Some(wire.to_usage())
}

/// The `usage` object we send to clients, with both details blocks.
pub(super) fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

/// Our `chat.completion` id for an upstream's answer id.
pub(super) fn completion_id(id: &str) -> String {
    if id.starts_with("chatcmpl-") {
        id.to_owned()
    } else {
        format!("chatcmpl-{id}")
    }
}

/// Writes `response` as a `chat.completion` for a client that calls the model `model`.
/// Thinking goes in the message's `reasoning_content` (DeepSeek's field, which most OpenAI
/// clients that show reasoning read); tool ids carry any Gemini signature back to us.
pub fn encode_response(response: &ChatResponse, model: &str, created: i64) -> Vec<u8> {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for part in &response.content {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Thinking(t) => thinking.push_str(&t.text),
            Part::ToolCall(call) => calls.push(json!({
                "id": neutral::client_tool_id(&call.id, call.signature.as_ref()),
                "type": "function",
                "function": {"name": call.name, "arguments": arguments_or_empty_object(&call.arguments)},
            })),
            Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    if !thinking.is_empty() {
        message["reasoning_content"] = Value::String(thinking);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let mut body = json!({
        "id": completion_id(&response.id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": response.finish.openai(),
        }],
    });
    if let Some(usage) = &response.usage {
        body["usage"] = usage_json(usage);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests;
