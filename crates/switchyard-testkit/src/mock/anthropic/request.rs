//! Validating a Messages request the way Anthropic does (wire-formats §4.1) and reducing it to
//! the neutral [`Ask`]. Messages name the offending field the way Anthropic's do
//! (`messages.1.content.0.text: …`), so a gateway test can tell which translation went wrong.

use serde_json::{Map, Value};

use super::error::Error;
use crate::mock::answer::{Ask, Role, Turn};

/// Top-level fields Anthropic accepts; any other is "Extra inputs are not permitted", which is
/// how a gateway leaking an OpenAI-only field (`n`, `stream_options`, …) shows up.
const FIELDS: [&str; 19] = [
    "model",
    "max_tokens",
    "messages",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "output_config",
    "container",
    "mcp_servers",
    "context_management",
    "inference_geo",
];

/// Content block types Anthropic knows; the mock reads only some of them.
const BLOCK_TYPES: [&str; 12] = [
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
];

/// A Messages request: the neutral ask plus what only Anthropic's shape decides.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) ask: Ask,
    pub(crate) stream: bool,
}

/// Which endpoint is asking: `count_tokens` does not require `max_tokens` and ignores `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Messages,
    CountTokens,
}

pub(crate) fn parse(body: Option<&Value>, endpoint: Endpoint) -> Result<Request, Error> {
    let body = body
        .and_then(Value::as_object)
        .ok_or_else(|| Error::invalid("The request body is not valid JSON: expected an object"))?;
    if let Some(extra) = body.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(Error::invalid(format!(
            "{extra}: Extra inputs are not permitted"
        )));
    }
    let model = match body.get("model") {
        Some(Value::String(model)) => model.clone(),
        Some(_) => return Err(Error::invalid("model: Input should be a valid string")),
        None => return Err(Error::invalid("model: Field required")),
    };
    let limit = match (body.get("max_tokens"), endpoint) {
        (None, Endpoint::Messages) => return Err(Error::invalid("max_tokens: Field required")),
        (None, Endpoint::CountTokens) => None,
        (Some(value), _) => match value.as_i64() {
            Some(n) if n >= 1 => Some(n.unsigned_abs()),
            Some(_) => {
                return Err(Error::invalid(
                    "max_tokens: Input should be greater than or equal to 1",
                ));
            }
            None => {
                return Err(Error::invalid(
                    "max_tokens: Input should be a valid integer",
                ));
            }
        },
    };
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(Error::invalid("messages: at least one message is required"));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(Error::invalid("messages: Input should be a valid list")),
        None => return Err(Error::invalid("messages: Field required")),
    };

    let mut turns = Vec::with_capacity(messages.len() + 1);
    if let Some(system) = system(body.get("system"))? {
        turns.push(Turn {
            role: Role::System,
            text: system,
        });
    }
    let parsed = messages
        .iter()
        .enumerate()
        .map(|(at, message)| Message::parse(at, message, at + 1 == messages.len()))
        .collect::<Result<Vec<_>, _>>()?;
    pair_tool_calls(&parsed)?;
    turns.extend(parsed.into_iter().map(|message| message.turn));

    number_within(body, "temperature", 0.0, 1.0)?;
    number_within(body, "top_p", 0.0, 1.0)?;
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream && endpoint == Endpoint::Messages,
        Some(_) => return Err(Error::invalid("stream: Input should be a valid boolean")),
    };
    let stop = match body.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(stops)) => stops
            .iter()
            .enumerate()
            .map(|(at, stop)| match stop {
                Value::String(stop) => Ok(stop.clone()),
                _ => Err(Error::invalid(format!(
                    "stop_sequences.{at}: Input should be a valid string"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Error::invalid(
                "stop_sequences: Input should be a valid list",
            ));
        }
    };
    thinking(body, limit)?;
    let (tools, parallel) = offered_tools(body)?;

    Ok(Request {
        ask: Ask {
            model,
            turns,
            tools,
            parallel,
            limit,
            stop,
        },
        stream,
    })
}

/// The top-level system prompt: a string or an array of text blocks.
fn system(system: Option<&Value>) -> Result<Option<String>, Error> {
    match system {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (at, block) in blocks.iter().enumerate() {
                if block.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(Error::invalid(format!(
                        "system.{at}.type: Input should be 'text'"
                    )));
                }
                texts.push(non_empty_text(block, &format!("system.{at}"))?);
            }
            Ok(Some(texts.join(" ")))
        }
        Some(_) => Err(Error::invalid("system: Input should be a valid list")),
    }
}

/// One message, checked, with the tool ids it uses for the pairing check.
struct Message {
    turn: Turn,
    tool_uses: Vec<String>,
    /// `(block index, tool_use_id)` of each `tool_result` block.
    tool_results: Vec<(usize, String)>,
}

impl Message {
    fn parse(at: usize, message: &Value, last: bool) -> Result<Message, Error> {
        let assistant = match message.get("role").and_then(Value::as_str) {
            Some("user") => false,
            Some("assistant") => true,
            Some("system") => {
                return Err(Error::invalid(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level \
                     `system` parameter, not \"system\" as an input message role.",
                ));
            }
            Some(_) | None => {
                return Err(Error::invalid(format!(
                    "messages.{at}.role: Input should be 'user' or 'assistant'"
                )));
            }
        };
        let empty = || {
            Error::invalid(format!(
                "messages.{at}: all messages must have non-empty content except for the \
                 optional final assistant message"
            ))
        };
        let mut parsed = Message {
            turn: Turn {
                role: if assistant {
                    Role::Assistant
                } else {
                    Role::User
                },
                text: String::new(),
            },
            tool_uses: Vec::new(),
            tool_results: Vec::new(),
        };
        let blocks = match message.get("content") {
            Some(Value::String(text)) => {
                if text.is_empty() && !(last && assistant) {
                    return Err(empty());
                }
                parsed.turn.text = text.clone();
                return Ok(parsed);
            }
            Some(Value::Array(blocks)) => blocks,
            Some(_) => {
                return Err(Error::invalid(format!(
                    "messages.{at}.content: Input should be a valid list"
                )));
            }
            None => {
                return Err(Error::invalid(format!(
                    "messages.{at}.content: Field required"
                )));
            }
        };
        if blocks.is_empty() && !(last && assistant) {
            return Err(empty());
        }
        let mut texts = Vec::new();
        for (index, block) in blocks.iter().enumerate() {
            let path = format!("messages.{at}.content.{index}");
            let kind = match block.get("type").and_then(Value::as_str) {
                Some(kind) if BLOCK_TYPES.contains(&kind) => kind,
                Some(kind) => {
                    return Err(Error::invalid(format!(
                        "{path}: Input tag '{kind}' found using 'type' does not match any of the \
                         expected tags: {}",
                        BLOCK_TYPES.map(|tag| format!("'{tag}'")).join(", ")
                    )));
                }
                None => return Err(Error::invalid(format!("{path}.type: Field required"))),
            };
            let only = |role: &str| {
                Error::invalid(format!(
                    "{path}: `{kind}` blocks can only appear in `{role}` messages"
                ))
            };
            match kind {
                "text" => texts.push(non_empty_text(block, &path)?),
                "tool_use" => {
                    if !assistant {
                        return Err(only("assistant"));
                    }
                    let id = tool_id(block, "id", &format!("{path}.tool_use"))?;
                    if !block.get("name").is_some_and(Value::is_string) {
                        return Err(Error::invalid(format!(
                            "{path}.tool_use.name: Field required"
                        )));
                    }
                    if !block.get("input").is_some_and(Value::is_object) {
                        return Err(Error::invalid(format!(
                            "{path}.tool_use.input: Input should be a valid dictionary"
                        )));
                    }
                    parsed.tool_uses.push(id);
                }
                "tool_result" => {
                    if assistant {
                        return Err(only("user"));
                    }
                    let id = tool_id(block, "tool_use_id", &format!("{path}.tool_result"))?;
                    texts.push(tool_result_text(block, &path)?);
                    parsed.tool_results.push((index, id));
                }
                "thinking" | "redacted_thinking" if !assistant => return Err(only("assistant")),
                _ => {}
            }
        }
        if !parsed.tool_results.is_empty() {
            parsed.turn.role = Role::Tool;
        }
        parsed.turn.text = texts.join(" ");
        Ok(parsed)
    }
}

/// The text of a `text` block, which Anthropic requires to hold more than whitespace.
fn non_empty_text(block: &Value, path: &str) -> Result<String, Error> {
    match block.get("text") {
        Some(Value::String(text)) if text.is_empty() => Err(Error::invalid(
            "messages: text content blocks must be non-empty",
        )),
        Some(Value::String(text)) if text.trim().is_empty() => Err(Error::invalid(
            "messages: text content blocks must contain non-whitespace text",
        )),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(Error::invalid(format!(
            "{path}.text: Input should be a valid string"
        ))),
        None => Err(Error::invalid(format!("{path}.text: Field required"))),
    }
}

/// A tool id field, which must match `^[a-zA-Z0-9_-]+$`.
fn tool_id(block: &Value, field: &str, path: &str) -> Result<String, Error> {
    let id = match block.get(field) {
        Some(Value::String(id)) => id,
        Some(_) => {
            return Err(Error::invalid(format!(
                "{path}.{field}: Input should be a valid string"
            )));
        }
        None => return Err(Error::invalid(format!("{path}.{field}: Field required"))),
    };
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(id.clone())
    } else {
        Err(Error::invalid(format!(
            "{path}.{field}: String should match pattern '^[a-zA-Z0-9_-]+$'"
        )))
    }
}

/// The text a `tool_result` carries: a string, or text blocks (images count for nothing).
fn tool_result_text(block: &Value, path: &str) -> Result<String, Error> {
    match block.get("content") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for (at, part) in parts.iter().enumerate() {
                if part.get("type").and_then(Value::as_str) == Some("text") {
                    texts.push(non_empty_text(part, &format!("{path}.content.{at}"))?);
                }
            }
            Ok(texts.join(" "))
        }
        Some(_) => Err(Error::invalid(format!(
            "{path}.tool_result.content: Input should be a valid list"
        ))),
    }
}

/// Every `tool_use` must be answered by a `tool_result` in the very next message, and every
/// `tool_result` must answer a `tool_use` of the message just before it.
fn pair_tool_calls(messages: &[Message]) -> Result<(), Error> {
    for (at, message) in messages.iter().enumerate() {
        let previous: &[String] = match at.checked_sub(1) {
            Some(before) => &messages[before].tool_uses,
            None => &[],
        };
        if let Some((index, id)) = message
            .tool_results
            .iter()
            .find(|(_, id)| !previous.contains(id))
        {
            return Err(Error::invalid(format!(
                "messages.{at}.content.{index}: unexpected `tool_use_id` found in `tool_result` \
                 blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` \
                 block in the previous message."
            )));
        }
        if message.tool_uses.is_empty() {
            continue;
        }
        let answered: Vec<&str> = messages
            .get(at + 1)
            .map(|next| {
                next.tool_results
                    .iter()
                    .map(|(_, id)| id.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&str> = message
            .tool_uses
            .iter()
            .map(String::as_str)
            .filter(|id| !answered.contains(id))
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately \
                 after: {}. Each `tool_use` block must have a corresponding `tool_result` block \
                 in the next message.",
                at + 1,
                missing.join(", ")
            )));
        }
    }
    Ok(())
}

fn number_within(body: &Map<String, Value>, field: &str, min: f64, max: f64) -> Result<(), Error> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(()),
        Some(value) => match value.as_f64() {
            Some(n) if n < min => Err(Error::invalid(format!(
                "{field}: Input should be greater than or equal to {min}"
            ))),
            Some(n) if n > max => Err(Error::invalid(format!(
                "{field}: Input should be less than or equal to {max}"
            ))),
            Some(_) => Ok(()),
            None => Err(Error::invalid(format!(
                "{field}: Input should be a valid number"
            ))),
        },
    }
}

/// Extended thinking: the legacy `enabled` form needs a budget of at least 1024 below
/// `max_tokens`.
fn thinking(body: &Map<String, Value>, limit: Option<u64>) -> Result<(), Error> {
    let Some(thinking) = body.get("thinking").filter(|value| !value.is_null()) else {
        return Ok(());
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::invalid("thinking.enabled.budget_tokens: Field required"))?;
            if budget < 1024 {
                return Err(Error::invalid(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                ));
            }
            if limit.is_some_and(|limit| limit <= budget) {
                return Err(Error::invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`",
                ));
            }
            Ok(())
        }
        Some("disabled" | "adaptive") => Ok(()),
        _ => Err(Error::invalid(
            "thinking: Input tag found using 'type' does not match any of the expected tags: \
             'enabled', 'disabled', 'adaptive'",
        )),
    }
}

/// The names of the offered tools (none when `tool_choice` is `{"type":"none"}`), and whether
/// parallel calls are allowed (not when `tool_choice.disable_parallel_tool_use` is `true`).
fn offered_tools(body: &Map<String, Value>) -> Result<(Vec<String>, bool), Error> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok((Vec::new(), true)),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(Error::invalid("tools: Input should be a valid list")),
    };
    let mut names = Vec::with_capacity(tools.len());
    for (at, tool) in tools.iter().enumerate() {
        let name = match tool.get("name") {
            Some(Value::String(name)) => name,
            _ => return Err(Error::invalid(format!("tools.{at}.name: Field required"))),
        };
        // Server tools (`web_search_20250305`, …) carry a `type` and no schema.
        let custom = matches!(
            tool.get("type").and_then(Value::as_str),
            None | Some("custom")
        );
        if custom && !tool.get("input_schema").is_some_and(Value::is_object) {
            return Err(Error::invalid(format!(
                "tools.{at}.custom.input_schema: Field required"
            )));
        }
        names.push(name.clone());
    }
    let choice = body.get("tool_choice");
    let parallel = match choice.and_then(|choice| choice.get("disable_parallel_tool_use")) {
        None | Some(Value::Null) => true,
        Some(Value::Bool(disable)) => !disable,
        Some(_) => {
            return Err(Error::invalid(
                "tool_choice.disable_parallel_tool_use: Input should be a valid boolean",
            ));
        }
    };
    if choice
        .and_then(|choice| choice.get("type"))
        .and_then(Value::as_str)
        == Some("none")
    {
        return Ok((Vec::new(), parallel));
    }
    Ok((names, parallel))
}
