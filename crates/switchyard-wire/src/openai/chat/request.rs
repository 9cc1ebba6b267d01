//! A client's Chat Completions request body → the neutral [`ChatRequest`].
//!
//! Only requests the gateway must translate come here (an OpenAI-compatible upstream takes the
//! pass-through path), so anything that cannot be translated is refused with a 400 that names
//! the field, rather than silently changing what the client asked for.

use super::read::{Obj, object_at, type_name};
use crate::neutral::{
    self, ChatRequest, Image, Part, Reasoning, ResponseFormat, Role, Thinking, Tool, ToolCall,
    ToolChoice, ToolResult, invalid, push_part,
};
use crate::openai::RequestError;
use serde_json::Value;

/// Reads an inbound `/v1/chat/completions` body into the neutral form.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| RequestError {
        message: format!("the request body is not valid JSON: {e}"),
        param: None,
        malformed_json: true,
    })?;
    let Value::Object(map) = &value else {
        return Err(RequestError {
            message: format!(
                "the request body must be a JSON object, not {}",
                type_name(&value)
            ),
            param: None,
            malformed_json: true,
        });
    };
    let top = Obj {
        map,
        at: String::new(),
    };
    for legacy in ["functions", "function_call"] {
        if top.get(legacy).is_some() {
            return Err(invalid(
                legacy,
                format!(
                    "`{legacy}` is the legacy function-calling API; send `tools` and `tool_choice` instead"
                ),
            ));
        }
    }
    let model = top.required_str("model", "a string naming a model")?;
    let items = top.array("messages")?.ok_or_else(|| {
        invalid(
            "messages",
            "you must provide `messages` (an array of messages)",
        )
    })?;
    if items.is_empty() {
        return Err(invalid(
            "messages",
            "`messages` must contain at least one message",
        ));
    }
    let mut request = ChatRequest {
        model: model.to_owned(),
        ..ChatRequest::default()
    };
    for (i, item) in items.iter().enumerate() {
        read_message(item, i, &mut request)?;
    }
    read_parameters(&top, &mut request)?;
    Ok(request)
}

fn read_message(item: &Value, i: usize, request: &mut ChatRequest) -> Result<(), RequestError> {
    let path = format!("messages[{i}]");
    let msg = object_at(item, &path)?;
    let role = msg.required_str("role", "one of system, developer, user, assistant, tool")?;
    let messages = &mut request.messages;
    match role {
        "system" | "developer" => {
            let text = texts(&msg, "content", &["text"])?.join("\n");
            if !text.is_empty() {
                request.system.push(text);
            }
        }
        "user" => {
            for part in user_content(&msg)? {
                push_part(messages, Role::User, part);
            }
        }
        "assistant" => {
            for part in assistant_content(&msg)? {
                push_part(messages, Role::Assistant, part);
            }
        }
        "tool" => {
            let id = msg.required_str("tool_call_id", "the id of the tool call this answers")?;
            let (id, _signature) = neutral::split_tool_id(id);
            let content = texts(&msg, "content", &["text"])?.join("\n");
            let result = ToolResult {
                id,
                name: None,
                content,
                is_error: false,
            };
            push_part(messages, Role::User, Part::ToolResult(result));
        }
        "function" => {
            return Err(invalid(
                &msg.path("role"),
                "the `function` role is the legacy function-calling API; send a `tool` message with `tool_call_id` instead",
            ));
        }
        other => {
            return Err(invalid(
                &msg.path("role"),
                format!("unknown role `{other}`; use system, developer, user, assistant or tool"),
            ));
        }
    }
    Ok(())
}

/// The text of `key` (a string, or an array of parts whose types are in `allowed`), one
/// entry per part; empty texts are left out.
fn texts(msg: &Obj<'_>, key: &str, allowed: &[&str]) -> Result<Vec<String>, RequestError> {
    let mut out = Vec::new();
    match msg.get(key) {
        None => {}
        Some(Value::String(s)) => out.push(s.clone()),
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let path = format!("{}[{j}]", msg.path(key));
                let part = object_at(part, &path)?;
                let kind = part.required_str("type", "the part's type")?;
                if !allowed.contains(&kind) {
                    return Err(unsupported_part(&part.path("type"), kind, allowed));
                }
                out.push(part.required_str(kind, "the part's text")?.to_owned());
            }
        }
        Some(other) => {
            let path = msg.path(key);
            return Err(invalid(
                &path,
                format!(
                    "`{path}` must be a string or an array of parts, not {}",
                    type_name(other)
                ),
            ));
        }
    }
    out.retain(|t| !t.is_empty());
    Ok(out)
}

fn unsupported_part(path: &str, kind: &str, allowed: &[&str]) -> RequestError {
    invalid(
        path,
        format!(
            "content parts of type `{kind}` cannot be translated for this model's provider; send {} parts",
            allowed.join(" or ")
        ),
    )
}

fn user_content(msg: &Obj<'_>) -> Result<Vec<Part>, RequestError> {
    let Some(Value::Array(parts)) = msg.get("content") else {
        return Ok(texts(msg, "content", &["text"])?
            .into_iter()
            .map(Part::Text)
            .collect());
    };
    let mut out = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let path = format!("{}[{j}]", msg.path("content"));
        let part = object_at(part, &path)?;
        match part.required_str("type", "the part's type")? {
            "text" => {
                let text = part.required_str("text", "the part's text")?;
                if !text.is_empty() {
                    out.push(Part::Text(text.to_owned()));
                }
            }
            // `detail` has no equivalent elsewhere and is dropped. Some clients send the URL
            // as a bare string instead of `{"url": …}`.
            "image_url" => {
                let url = match part.get("image_url") {
                    Some(Value::String(url)) => url.as_str(),
                    _ => {
                        let inner = part.object("image_url")?.ok_or_else(|| {
                            invalid(
                                &part.path("image_url"),
                                "an `image_url` part needs `image_url: {\"url\": …}`",
                            )
                        })?;
                        inner.required_str("url", "an https: or data: URL")?
                    }
                };
                out.push(Part::Image(Image::from_url(url)));
            }
            kind => {
                return Err(unsupported_part(
                    &part.path("type"),
                    kind,
                    &["text", "image_url"],
                ));
            }
        }
    }
    Ok(out)
}

/// Thinking first (the model reasoned before answering), then the text, then the calls.
fn assistant_content(msg: &Obj<'_>) -> Result<Vec<Part>, RequestError> {
    let mut out = Vec::new();
    let reasoning = match msg.str("reasoning_content")? {
        Some(text) => Some(text),
        None => msg.get("reasoning").and_then(Value::as_str),
    };
    if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
        out.push(Part::Thinking(Thinking {
            text: text.to_owned(),
            signature: None,
        }));
    }
    // A refusal is what the model said, so it stays in the history as text.
    let mut text = texts(msg, "content", &["text", "refusal"])?.concat();
    if let Some(refusal) = msg.str("refusal")? {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        out.push(Part::Text(text));
    }
    if msg.get("function_call").is_some() {
        return Err(invalid(
            &msg.path("function_call"),
            "`function_call` is the legacy function-calling API; send `tool_calls` instead",
        ));
    }
    for (k, call) in msg.array("tool_calls")?.into_iter().flatten().enumerate() {
        let path = format!("{}[{k}]", msg.path("tool_calls"));
        let call = object_at(call, &path)?;
        if let Some(kind) = call.str("type")?
            && kind != "function"
        {
            return Err(invalid(
                &call.path("type"),
                format!(
                    "tool calls of type `{kind}` cannot be translated; only `function` calls can"
                ),
            ));
        }
        let id = call.required_str("id", "the call's id")?;
        let function = call.object("function")?.ok_or_else(|| {
            invalid(
                &call.path("function"),
                "a tool call needs `function: {\"name\": …, \"arguments\": …}`",
            )
        })?;
        let name = function.required_str("name", "the function's name")?;
        let arguments = match function.get("arguments") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            // Some clients send the arguments as an object; keep it as JSON text.
            Some(other) => other.to_string(),
        };
        let (id, signature) = neutral::split_tool_id(id);
        out.push(Part::ToolCall(ToolCall {
            id,
            name: name.to_owned(),
            arguments,
            signature,
        }));
    }
    Ok(out)
}

fn read_parameters(top: &Obj<'_>, r: &mut ChatRequest) -> Result<(), RequestError> {
    r.max_tokens = match top.u64("max_completion_tokens")? {
        Some(n) => Some(n),
        None => top.u64("max_tokens")?,
    };
    r.temperature = top.f64("temperature")?;
    r.top_p = top.f64("top_p")?;
    r.stop = match top.get("stop") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(
                    &format!("stop[{i}]"),
                    format!("`stop[{i}]` must be a string, not {}", type_name(other)),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(invalid(
                "stop",
                format!(
                    "`stop` must be a string or an array of strings, not {}",
                    type_name(other)
                ),
            ));
        }
    };
    r.n = top.u64("n")?;
    r.seed = top.i64("seed")?;
    r.user = top.str("user")?.map(str::to_owned);
    r.stream = top.bool("stream")?.unwrap_or(false);
    r.parallel_tool_calls = top.bool("parallel_tool_calls")?;
    if let Some(effort) = top.str("reasoning_effort")? {
        r.reasoning = Some(Reasoning {
            effort: Some(effort.to_owned()),
            budget_tokens: None,
        });
    }
    for (i, tool) in top.array("tools")?.into_iter().flatten().enumerate() {
        r.tools.push(read_tool(tool, i)?);
    }
    r.tool_choice = read_tool_choice(top)?;
    r.response_format = read_response_format(top)?;
    Ok(())
}

fn read_tool(tool: &Value, i: usize) -> Result<Tool, RequestError> {
    let path = format!("tools[{i}]");
    let tool = object_at(tool, &path)?;
    let kind = tool.required_str("type", "`function`")?;
    if kind != "function" {
        return Err(invalid(
            &tool.path("type"),
            format!(
                "tools of type `{kind}` cannot be translated for this model's provider; only `function` tools can"
            ),
        ));
    }
    let function = tool.object("function")?.ok_or_else(|| {
        invalid(
            &tool.path("function"),
            "a function tool needs `function: {\"name\": …, \"parameters\": …}`",
        )
    })?;
    let parameters = match function.get("parameters") {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(schema @ Value::Object(_)) => schema.clone(),
        Some(other) => {
            let path = function.path("parameters");
            return Err(invalid(
                &path,
                format!(
                    "`{path}` must be a JSON Schema object, not {}",
                    type_name(other)
                ),
            ));
        }
    };
    Ok(Tool {
        name: function
            .required_str("name", "the function's name")?
            .to_owned(),
        description: function.str("description")?.map(str::to_owned),
        parameters,
        strict: function.bool("strict")?,
    })
}

fn read_tool_choice(top: &Obj<'_>) -> Result<Option<ToolChoice>, RequestError> {
    let choice = match top.get("tool_choice") {
        None => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => {
                return Err(invalid(
                    "tool_choice",
                    format!(
                        "unknown `tool_choice` `{other}`; use auto, none, required or {{\"type\":\"function\",\"function\":{{\"name\":…}}}}"
                    ),
                ));
            }
        },
        Some(_) => {
            let choice = top.object("tool_choice")?;
            let name = match choice {
                Some(c) if c.str("type")? == Some("function") => c
                    .object("function")?
                    .map(|f| f.required_str("name", "the function to call"))
                    .transpose()?,
                _ => None,
            };
            let name = name.ok_or_else(|| {
                invalid(
                    "tool_choice",
                    "an object `tool_choice` must be {\"type\":\"function\",\"function\":{\"name\":…}}; other kinds cannot be translated",
                )
            })?;
            ToolChoice::Tool(name.to_owned())
        }
    };
    Ok(Some(choice))
}

fn read_response_format(top: &Obj<'_>) -> Result<Option<ResponseFormat>, RequestError> {
    let Some(format) = top.object("response_format")? else {
        return Ok(None);
    };
    let format = match format.required_str("type", "text, json_object or json_schema")? {
        "text" => ResponseFormat::Text,
        "json_object" => ResponseFormat::JsonObject,
        "json_schema" => {
            let spec = format.object("json_schema")?.ok_or_else(|| {
                invalid(
                    &format.path("json_schema"),
                    "a `json_schema` response format needs `json_schema: {\"name\": …, \"schema\": …}`",
                )
            })?;
            ResponseFormat::JsonSchema {
                name: spec
                    .required_str("name", "a name for the schema")?
                    .to_owned(),
                schema: spec
                    .get("schema")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
                strict: spec.bool("strict")?,
            }
        }
        other => {
            return Err(invalid(
                &format.path("type"),
                format!("unknown response format `{other}`; use text, json_object or json_schema"),
            ));
        }
    };
    Ok(Some(format))
}

#[cfg(test)]
mod tests;
