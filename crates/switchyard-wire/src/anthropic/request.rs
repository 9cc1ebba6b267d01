//! Reading an inbound `POST /v1/messages` body into the neutral [`ChatRequest`].
//!
//! This is a client's request, so it is validated: every error names the offending field
//! (`messages[2].content[0].type`) and says how to fix it, in the words Anthropic's own API
//! would use where it has them ("max_tokens: Field required").

use super::thinking;
use crate::neutral::{
    ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, Thinking, Tool, ToolCall,
    ToolChoice, ToolResult, invalid, push_part, split_tool_id,
};
use crate::openai::RequestError;
use serde_json::{Map, Value};

/// Reads an Anthropic Messages request. See `docs/translation/anthropic.md` for each rule.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| RequestError {
        message: format!("the request body is not valid JSON: {e}"),
        param: None,
        malformed_json: true,
    })?;
    let Value::Object(root) = root else {
        return Err(RequestError {
            message: "the request body must be a JSON object".into(),
            param: None,
            malformed_json: true,
        });
    };
    let mut request = ChatRequest {
        model: required_str(&root, "model")?.to_owned(),
        max_tokens: Some(
            u64_field(&root, "max_tokens")?
                .ok_or_else(|| invalid("max_tokens", "max_tokens: Field required"))?,
        ),
        ..ChatRequest::default()
    };
    request.system = system(root.get("system"))?;
    request.messages = messages(root.get("messages"))?;
    request.temperature = f64_field(&root, "temperature")?;
    request.top_p = f64_field(&root, "top_p")?;
    request.top_k = u64_field(&root, "top_k")?;
    request.stop = stop_sequences(root.get("stop_sequences"))?;
    request.stream = match root.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream", "stream: Input should be a valid boolean")),
    };
    request.tools = tools(root.get("tools"))?;
    (request.tool_choice, request.parallel_tool_calls) = tool_choice(root.get("tool_choice"))?;
    request.user = match root.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(meta)) => match meta.get("user_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => {
                return Err(invalid(
                    "metadata.user_id",
                    "metadata.user_id: Input should be a valid string",
                ));
            }
        },
        Some(_) => return Err(invalid("metadata", "metadata: Input should be an object")),
    };
    let output = match root.get("output_config") {
        None | Some(Value::Null) => None,
        Some(Value::Object(config)) => Some(config),
        Some(_) => {
            return Err(invalid(
                "output_config",
                "output_config: Input should be an object",
            ));
        }
    };
    request.response_format = output.map(output_format).transpose()?.flatten();
    let effort = match output.and_then(|c| c.get("effort")) {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) => Some(e.clone()),
        Some(_) => {
            return Err(invalid(
                "output_config.effort",
                "output_config.effort: Input should be a string such as \"high\"",
            ));
        }
    };
    request.reasoning = reasoning(root.get("thinking"), effort)?;
    Ok(request)
}

fn required_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, RequestError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(invalid(name, format!("{name}: Field required"))),
        Some(_) => Err(invalid(
            name,
            format!("{name}: Input should be a valid string"),
        )),
    }
}

fn u64_field(obj: &Map<String, Value>, name: &str) -> Result<Option<u64>, RequestError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            invalid(
                name,
                format!("{name}: Input should be a non-negative integer"),
            )
        }),
    }
}

fn f64_field(obj: &Map<String, Value>, name: &str) -> Result<Option<f64>, RequestError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(name, format!("{name}: Input should be a valid number"))),
    }
}

/// `system`: a string, or text blocks (their `cache_control` is dropped).
fn system(value: Option<&Value>) -> Result<Vec<String>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let path = format!("system[{i}]");
                match block_type(block, &path)? {
                    "text" => text_of(block, &path),
                    other => Err(invalid(
                        &format!("{path}.type"),
                        format!("{path}.type: system blocks must be `text`, not `{other}`"),
                    )),
                }
            })
            .collect(),
        Some(_) => Err(invalid(
            "system",
            "system: Input should be a string or an array of text blocks",
        )),
    }
}

fn messages(value: Option<&Value>) -> Result<Vec<Message>, RequestError> {
    let list = match value {
        Some(Value::Array(list)) => list,
        None | Some(Value::Null) => return Err(invalid("messages", "messages: Field required")),
        Some(_) => {
            return Err(invalid(
                "messages",
                "messages: Input should be a valid list",
            ));
        }
    };
    if list.is_empty() {
        return Err(invalid(
            "messages",
            "messages: at least one message is required",
        ));
    }
    let mut out = Vec::new();
    for (i, message) in list.iter().enumerate() {
        let path = format!("messages[{i}]");
        let Value::Object(message) = message else {
            return Err(invalid(&path, format!("{path}: Input should be an object")));
        };
        let role = match message.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => {
                return Err(invalid(
                    &format!("{path}.role"),
                    format!("{path}.role: Input should be 'user' or 'assistant'"),
                ));
            }
        };
        match message.get("content") {
            Some(Value::String(text)) => push_part(&mut out, role, Part::Text(text.clone())),
            Some(Value::Array(blocks)) => {
                for (j, block) in blocks.iter().enumerate() {
                    let part = content_block(block, role, &format!("{path}.content[{j}]"))?;
                    push_part(&mut out, role, part);
                }
            }
            _ => {
                return Err(invalid(
                    &format!("{path}.content"),
                    format!(
                        "{path}.content: Input should be a string or an array of content blocks"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn block_type<'a>(block: &'a Value, path: &str) -> Result<&'a str, RequestError> {
    block.get("type").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            &format!("{path}.type"),
            format!("{path}.type: Field required (a content block names its type)"),
        )
    })
}

fn str_at<'a>(block: &'a Value, key: &str, path: &str) -> Result<&'a str, RequestError> {
    block.get(key).and_then(Value::as_str).ok_or_else(|| {
        invalid(
            &format!("{path}.{key}"),
            format!("{path}.{key}: Field required (a string)"),
        )
    })
}

fn text_of(block: &Value, path: &str) -> Result<String, RequestError> {
    str_at(block, "text", path).map(str::to_owned)
}

fn content_block(block: &Value, role: Role, path: &str) -> Result<Part, RequestError> {
    let kind = block_type(block, path)?;
    let only = |wanted: Role| {
        if role == wanted {
            Ok(())
        } else {
            let who = if wanted == Role::User {
                "user"
            } else {
                "assistant"
            };
            Err(invalid(
                &format!("{path}.type"),
                format!("{path}.type: `{kind}` blocks may only appear in {who} messages"),
            ))
        }
    };
    match kind {
        "text" => Ok(Part::Text(text_of(block, path)?)),
        "image" => image(block, path).map(Part::Image),
        "tool_use" => {
            only(Role::Assistant)?;
            let (id, signature) = split_tool_id(str_at(block, "id", path)?);
            let input = block.get("input").cloned().unwrap_or(Value::Null);
            let arguments = match input {
                Value::Null => "{}".to_owned(),
                Value::Object(_) => input.to_string(),
                _ => {
                    return Err(invalid(
                        &format!("{path}.input"),
                        format!("{path}.input: Input should be an object"),
                    ));
                }
            };
            Ok(Part::ToolCall(ToolCall {
                id,
                name: str_at(block, "name", path)?.to_owned(),
                arguments,
                signature,
            }))
        }
        "tool_result" => {
            only(Role::User)?;
            let (id, _) = split_tool_id(str_at(block, "tool_use_id", path)?);
            Ok(Part::ToolResult(ToolResult {
                id,
                name: None,
                content: tool_result_content(block.get("content"), path)?,
                is_error: block
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }))
        }
        "thinking" => {
            only(Role::Assistant)?;
            Ok(Part::Thinking(Thinking {
                text: str_at(block, "thinking", path)?.to_owned(),
                signature: block
                    .get("signature")
                    .and_then(Value::as_str)
                    .and_then(thinking::signed),
            }))
        }
        "redacted_thinking" => {
            only(Role::Assistant)?;
            Ok(Part::Thinking(thinking::redacted(str_at(
                block, "data", path,
            )?)))
        }
        other => Err(invalid(
            &format!("{path}.type"),
            format!(
                "{path}.type: `{other}` blocks are not supported by this gateway; send text, \
                 image, tool_use, tool_result, thinking or redacted_thinking blocks"
            ),
        )),
    }
}

fn image(block: &Value, path: &str) -> Result<Image, RequestError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let source_path = format!("{path}.source");
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(Image::Base64 {
            media_type: str_at(source, "media_type", &source_path)?.to_owned(),
            data: str_at(source, "data", &source_path)?.to_owned(),
        }),
        Some("url") => Ok(Image::Url(str_at(source, "url", &source_path)?.to_owned())),
        _ => Err(invalid(
            &format!("{source_path}.type"),
            format!("{source_path}.type: image sources must be `base64` or `url`"),
        )),
    }
}

/// A tool result's content as text: a string, or its text blocks joined by newlines. Images in
/// a result have no neutral home; a placeholder says one was there.
fn tool_result_content(value: Option<&Value>, path: &str) -> Result<String, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::new();
            for (k, block) in blocks.iter().enumerate() {
                let block_path = format!("{path}.content[{k}]");
                match block_type(block, &block_path)? {
                    "text" => texts.push(text_of(block, &block_path)?),
                    _ => texts.push(IMAGE_PLACEHOLDER.to_owned()),
                }
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(invalid(
            &format!("{path}.content"),
            format!("{path}.content: Input should be a string or an array of blocks"),
        )),
    }
}

/// Stands in for a non-text block inside a tool result, which the neutral form cannot carry.
pub const IMAGE_PLACEHOLDER: &str = "[non-text tool output omitted by the gateway]";

fn stop_sequences(value: Option<&Value>) -> Result<Vec<String>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(
                        "stop_sequences",
                        "stop_sequences: every item should be a string",
                    )
                })
            })
            .collect(),
        Some(_) => Err(invalid(
            "stop_sequences",
            "stop_sequences: Input should be a list of strings",
        )),
    }
}

fn tools(value: Option<&Value>) -> Result<Vec<Tool>, RequestError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid("tools", "tools: Input should be a list of tools")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let path = format!("tools[{i}]");
            match tool.get("type").and_then(Value::as_str) {
                None | Some("custom") => {}
                Some(other) => {
                    return Err(invalid(
                        &format!("{path}.type"),
                        format!(
                            "{path}.type: server tools (`{other}`) are not supported by this \
                             gateway; declare a custom tool with name and input_schema"
                        ),
                    ));
                }
            }
            let parameters = match tool.get("input_schema") {
                Some(schema @ Value::Object(_)) => schema.clone(),
                _ => {
                    return Err(invalid(
                        &format!("{path}.input_schema"),
                        format!("{path}.input_schema: Field required (a JSON Schema object)"),
                    ));
                }
            };
            Ok(Tool {
                name: str_at(tool, "name", &path)?.to_owned(),
                description: tool
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                parameters,
                strict: tool.get("strict").and_then(Value::as_bool),
            })
        })
        .collect()
}

type Choice = (Option<ToolChoice>, Option<bool>);

fn tool_choice(value: Option<&Value>) -> Result<Choice, RequestError> {
    let choice = match value {
        None | Some(Value::Null) => return Ok((None, None)),
        Some(choice @ Value::Object(_)) => choice,
        Some(_) => {
            return Err(invalid(
                "tool_choice",
                "tool_choice: Input should be an object like {\"type\": \"auto\"}",
            ));
        }
    };
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => ToolChoice::Auto,
        Some("any") => ToolChoice::Required,
        Some("none") => ToolChoice::None,
        Some("tool") => ToolChoice::Tool(str_at(choice, "name", "tool_choice")?.to_owned()),
        _ => {
            return Err(invalid(
                "tool_choice.type",
                "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
            ));
        }
    };
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|disable| !disable);
    Ok((Some(mapped), parallel))
}

/// `output_config.format`: only `json_schema` exists; its schema has no name in Anthropic's
/// format, so the neutral name is `response`.
fn output_format(config: &Map<String, Value>) -> Result<Option<ResponseFormat>, RequestError> {
    let format = match config.get("format") {
        None | Some(Value::Null) => return Ok(None),
        Some(format) => format,
    };
    match format.get("type").and_then(Value::as_str) {
        Some("json_schema") => match format.get("schema") {
            Some(schema @ Value::Object(_)) => Ok(Some(ResponseFormat::JsonSchema {
                name: SCHEMA_NAME.to_owned(),
                schema: schema.clone(),
                strict: None,
            })),
            _ => Err(invalid(
                "output_config.format.schema",
                "output_config.format.schema: Field required (a JSON Schema object)",
            )),
        },
        _ => Err(invalid(
            "output_config.format.type",
            "output_config.format.type: Input should be 'json_schema'",
        )),
    }
}

/// The neutral name of an Anthropic output schema, which has none.
pub const SCHEMA_NAME: &str = "response";

/// `thinking` and `output_config.effort` as neutral reasoning. `disabled` thinking wins over an
/// effort (the client asked for no reasoning); an effort alone still counts as reasoning.
fn reasoning(
    value: Option<&Value>,
    effort: Option<String>,
) -> Result<Option<Reasoning>, RequestError> {
    let budget = match value {
        None | Some(Value::Null) => None,
        Some(thinking) => match thinking.get("type").and_then(Value::as_str) {
            Some("enabled") => Some(
                thinking
                    .get("budget_tokens")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| {
                        invalid(
                            "thinking.budget_tokens",
                            "thinking.budget_tokens: Field required (an integer ≥ 1024 and below max_tokens)",
                        )
                    })?,
            ),
            Some("disabled") => return Ok(None),
            Some("adaptive") => None,
            _ => {
                return Err(invalid(
                    "thinking.type",
                    "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'",
                ));
            }
        },
    };
    let thinking_on = value.is_some_and(|v| !v.is_null());
    if !thinking_on && effort.is_none() {
        return Ok(None);
    }
    Ok(Some(Reasoning {
        effort,
        budget_tokens: budget,
    }))
}
