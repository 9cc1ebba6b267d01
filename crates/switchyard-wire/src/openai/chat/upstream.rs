//! The neutral [`ChatRequest`] → a Chat Completions body for an OpenAI-compatible upstream.
//!
//! "OpenAI-compatible" covers OpenAI itself and servers (vLLM, DeepSeek, Mistral, Groq…) that
//! know less of the format, so the body sticks to what they all accept: one leading `system`
//! message, string content when a message is only text, `max_tokens`, and no vendor
//! extensions. What is left out and why is listed in `docs/translation/openai.md`.

use super::response::arguments_or_empty_object;
use crate::neutral::{ChatRequest, Message, Part, ResponseFormat, Role, Tool, ToolChoice};
use serde::Serialize;
use serde_json::{Value, json};

/// Separates system prompts, and text blocks of one turn, when they are joined into one string.
const JOIN: &str = "\n\n";

/// Writes `request` as a body for an OpenAI-compatible upstream that calls the model
/// `upstream_model`. A streamed request asks for the usage chunk so the answer can be billed.
pub fn encode_request(request: &ChatRequest, upstream_model: &str) -> Vec<u8> {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system.join(JOIN)}));
    }
    for message in &request.messages {
        match message.role {
            Role::User => user_turn(message, &mut messages),
            Role::Assistant => assistant_turn(message, &mut messages),
        }
    }
    // OpenAI refuses `tool_choice` and `parallel_tool_calls` without `tools`.
    let has_tools = !request.tools.is_empty();
    let body = Body {
        model: upstream_model,
        messages,
        max_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        stop: (!request.stop.is_empty()).then_some(&request.stop),
        n: request.n,
        seed: request.seed,
        user: request.user.as_deref(),
        tools: request.tools.iter().map(tool).collect(),
        tool_choice: request
            .tool_choice
            .as_ref()
            .filter(|_| has_tools)
            .map(tool_choice),
        parallel_tool_calls: request.parallel_tool_calls.filter(|_| has_tools),
        response_format: request.response_format.as_ref().map(response_format),
        reasoning_effort: request.reasoning.as_ref().and_then(|r| r.effort.as_deref()),
        stream: request.stream.then_some(true),
        stream_options: request.stream.then(|| json!({"include_usage": true})),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
}

/// Tool results first, one `tool` message each (OpenAI wants them right after the calls),
/// then a `user` message with the rest.
fn user_turn(message: &Message, out: &mut Vec<Value>) {
    let mut texts = Vec::new();
    let mut parts = Vec::new();
    let mut has_image = false;
    for part in &message.content {
        match part {
            Part::ToolResult(result) => out.push(json!({
                "role": "tool",
                "tool_call_id": result.id,
                "content": result.content,
            })),
            Part::Text(text) if !text.is_empty() => {
                texts.push(text.as_str());
                parts.push(json!({"type": "text", "text": text}));
            }
            Part::Image(image) => {
                has_image = true;
                parts.push(json!({"type": "image_url", "image_url": {"url": image.to_url()}}));
            }
            Part::Text(_) | Part::ToolCall(_) | Part::Thinking(_) => {}
        }
    }
    if has_image {
        out.push(json!({"role": "user", "content": parts}));
    } else if !texts.is_empty() {
        // Many compatible servers refuse content arrays: send text-only turns as a string.
        out.push(json!({"role": "user", "content": texts.join(JOIN)}));
    }
}

/// Text as a string (`null` when the turn only calls tools), then the calls with their plain
/// ids. Thinking is dropped (no OpenAI-compatible server accepts it back), and so are the
/// signatures of other vendors.
fn assistant_turn(message: &Message, out: &mut Vec<Value>) {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for part in &message.content {
        match part {
            Part::Text(text) if !text.is_empty() => texts.push(text.as_str()),
            Part::ToolCall(call) => {
                let arguments = arguments_or_empty_object(&call.arguments);
                calls.push(json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                }));
            }
            Part::Text(_) | Part::Image(_) | Part::ToolResult(_) | Part::Thinking(_) => {}
        }
    }
    let content = if texts.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        Value::String(texts.join(JOIN))
    };
    let mut msg = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    out.push(msg);
}

fn tool(tool: &Tool) -> Value {
    let mut function = json!({"name": tool.name});
    if let Some(description) = &tool.description {
        function["description"] = json!(description);
    }
    function["parameters"] = tool.parameters.clone();
    if let Some(strict) = tool.strict {
        function["strict"] = json!(strict);
    }
    json!({"type": "function", "function": function})
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn response_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut spec = json!({"name": name, "schema": schema});
            if let Some(strict) = strict {
                spec["strict"] = json!(strict);
            }
            json!({"type": "json_schema", "json_schema": spec})
        }
    }
}

#[cfg(test)]
mod tests;
