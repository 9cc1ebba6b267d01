//! Writing a neutral [`ChatRequest`] as the body of a request to an Anthropic upstream.
//!
//! Anthropic is the strictest of the dialects: `max_tokens` is required, turns must alternate,
//! text blocks must not be empty, a user turn answering tool calls lists its `tool_result`
//! blocks first, tool ids match `^[a-zA-Z0-9_-]+$`, and only Anthropic's own thinking
//! signatures may be replayed. Each rule is applied here so the upstream never sees a request it
//! would reject for its shape.

use super::thinking::{self, Replay};
use crate::neutral::{
    ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, ToolChoice,
    arguments_object, sanitize_tool_id,
};
use serde_json::{Map, Value, json};

/// The system instruction that stands in for OpenAI's `json_object` mode, which Anthropic lacks.
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else: no prose, no code fences.";

/// Anthropic's ceiling for `temperature` (OpenAI allows up to 2).
const MAX_TEMPERATURE: f64 = 1.0;

/// The lowest `top_p` Anthropic accepts with thinking on.
const THINKING_MIN_TOP_P: f64 = 0.95;

/// The request body for an Anthropic upstream. `upstream_model` replaces the client's model
/// name; `default_max_tokens` is sent when the client gave no limit (Anthropic requires one).
pub fn encode_request(
    request: &ChatRequest,
    upstream_model: &str,
    default_max_tokens: u64,
) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    // Anthropic refuses thinking together with a forced tool choice, so forcing wins.
    let forced = matches!(
        request.tool_choice,
        Some(ToolChoice::Required | ToolChoice::Tool(_))
    );
    let thinking = request.reasoning.as_ref().filter(|_| !forced);
    let budget = thinking.and_then(|r| r.budget_tokens);
    let mut max_tokens = request.max_tokens.unwrap_or(default_max_tokens);
    if let Some(budget) = budget
        && max_tokens <= budget
    {
        // Anthropic wants room for the answer beyond the thinking budget.
        max_tokens = budget.saturating_add(default_max_tokens.max(1));
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(system) = system(request) {
        body.insert("system".into(), system);
    }
    body.insert("messages".into(), Value::Array(messages(&request.messages)));
    // With thinking on, Anthropic rejects any temperature or top_k and a top_p below 0.95.
    if let Some(t) = request.temperature.filter(|_| thinking.is_none()) {
        body.insert("temperature".into(), json!(t.clamp(0.0, MAX_TEMPERATURE)));
    }
    if let Some(p) = request.top_p {
        let p = if thinking.is_some() {
            p.max(THINKING_MIN_TOP_P)
        } else {
            p
        };
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = request.top_k.filter(|_| thinking.is_none()) {
        body.insert("top_k".into(), json!(k));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                let mut t = Map::new();
                t.insert("name".into(), json!(tool.name));
                if let Some(d) = &tool.description {
                    t.insert("description".into(), json!(d));
                }
                let schema = match &tool.parameters {
                    schema @ Value::Object(_) => schema.clone(),
                    _ => json!({"type": "object", "properties": {}}),
                };
                t.insert("input_schema".into(), schema);
                if let Some(strict) = tool.strict {
                    t.insert("strict".into(), json!(strict));
                }
                Value::Object(t)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = tool_choice(request) {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    let mut output_config = Map::new();
    if let Some(reasoning) = thinking {
        body.insert("thinking".into(), thinking_config(reasoning));
    }
    if let Some(effort) = request.reasoning.as_ref().and_then(|r| r.effort.as_ref()) {
        output_config.insert("effort".into(), json!(anthropic_effort(effort)));
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &request.response_format {
        output_config.insert(
            "format".into(),
            json!({"type": "json_schema", "schema": schema}),
        );
    }
    if !output_config.is_empty() {
        body.insert("output_config".into(), Value::Object(output_config));
    }
    Value::Object(body).to_string().into_bytes()
}

/// `system`: a string for one prompt, text blocks for several; `json_object` mode adds its
/// instruction as the last one. Empty prompts are dropped (Anthropic rejects empty blocks).
fn system(request: &ChatRequest) -> Option<Value> {
    let mut prompts: Vec<&str> = request
        .system
        .iter()
        .map(String::as_str)
        .filter(|s| !s.trim().is_empty())
        .collect();
    if request.response_format == Some(ResponseFormat::JsonObject) {
        prompts.push(JSON_OBJECT_INSTRUCTION);
    }
    match prompts.as_slice() {
        [] => None,
        [one] => Some(json!(one)),
        many => Some(Value::Array(
            many.iter()
                .map(|text| json!({"type": "text", "text": text}))
                .collect(),
        )),
    }
}

/// The messages as Anthropic blocks: empty turns are dropped and their neighbours merged, and
/// every user turn lists its tool results first.
fn messages(messages: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();
    for message in messages {
        let blocks: Vec<Value> = message.content.iter().filter_map(block).collect();
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((role, existing)) if *role == message.role => existing.extend(blocks),
            _ => turns.push((message.role, blocks)),
        }
    }
    // A final assistant turn is a prefill, which Anthropic rejects with trailing whitespace.
    if let Some((Role::Assistant, blocks)) = turns.last_mut()
        && let Some(Value::Object(last)) = blocks.last_mut()
        && let Some(Value::String(text)) = last.get_mut("text")
    {
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
    }
    turns
        .into_iter()
        .map(|(role, mut blocks)| {
            let role = match role {
                Role::User => {
                    // Stable: results keep their order, and so does the rest.
                    blocks.sort_by_key(|b| b["type"] != "tool_result");
                    "user"
                }
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": blocks})
        })
        .collect()
}

/// One part as an Anthropic block, or `None` when it must not be sent: empty text, and
/// thinking without an Anthropic signature.
fn block(part: &Part) -> Option<Value> {
    match part {
        Part::Text(text) if text.trim().is_empty() => None,
        Part::Text(text) => Some(json!({"type": "text", "text": text})),
        Part::Image(Image::Base64 { media_type, data }) => Some(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        })),
        Part::Image(Image::Url(url)) => Some(json!({
            "type": "image",
            "source": {"type": "url", "url": url},
        })),
        Part::ToolCall(call) => Some(json!({
            "type": "tool_use",
            "id": sanitize_tool_id(&call.id),
            "name": call.name,
            "input": arguments_object(&call.arguments),
        })),
        Part::ToolResult(result) => {
            let mut b = Map::new();
            b.insert("type".into(), json!("tool_result"));
            b.insert("tool_use_id".into(), json!(sanitize_tool_id(&result.id)));
            if !result.content.is_empty() {
                b.insert("content".into(), json!(result.content));
            }
            if result.is_error {
                b.insert("is_error".into(), json!(true));
            }
            Some(Value::Object(b))
        }
        Part::Thinking(t) => match thinking::replay(t.signature.as_ref()) {
            Replay::Signed(signature) => Some(json!({
                "type": "thinking", "thinking": t.text, "signature": signature,
            })),
            Replay::Redacted(data) => Some(json!({"type": "redacted_thinking", "data": data})),
            Replay::Foreign => None,
        },
    }
}

fn tool_choice(request: &ChatRequest) -> Option<Value> {
    let mut choice = match &request.tool_choice {
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Tool(name)) => json!({"type": "tool", "name": name}),
        // Parallelism is a property of the choice object in Anthropic's format.
        None if request.parallel_tool_calls.is_some() && !request.tools.is_empty() => {
            json!({"type": "auto"})
        }
        None => return None,
    };
    if let (Some(parallel), Value::Object(c)) = (request.parallel_tool_calls, &mut choice) {
        c.insert("disable_parallel_tool_use".into(), json!(!parallel));
    }
    Some(choice)
}

/// A budget is `enabled` thinking; without one, `adaptive` thinking (its effort goes in
/// `output_config.effort`).
fn thinking_config(reasoning: &Reasoning) -> Value {
    match reasoning.budget_tokens {
        Some(budget) => json!({"type": "enabled", "budget_tokens": budget}),
        None => json!({"type": "adaptive"}),
    }
}

/// OpenAI's `minimal` has no Anthropic counterpart; `low` is the nearest.
fn anthropic_effort(effort: &str) -> &str {
    match effort {
        "minimal" => "low",
        other => other,
    }
}
