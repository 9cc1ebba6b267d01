//! Gemini `generateContent` body → neutral request: the inverse of [`super::encode_request`],
//! used by the round-trip tests and by anything that must read a Gemini body (the mock).
//!
//! Gemini accepts camelCase and snake_case field names, so both are read here.

use crate::neutral::{
    self, ChatRequest, Image, Part, Reasoning, ResponseFormat, Role, Signature, Thinking, Tool,
    ToolCall, ToolChoice, ToolResult, Vendor,
};
use crate::openai::RequestError;
use serde_json::{Map, Value, json};

/// The name a decoded `responseSchema` gets: Gemini's has none.
pub(super) const SCHEMA_NAME: &str = "response";

/// Reads a Gemini request body for `model` (which Gemini carries in the URL).
///
/// Calls get ids `call_0`, `call_1`… in order of appearance (a `functionCall.id` wins when
/// present); each `functionResponse` without an id answers the call at its position in the
/// previous model turn.
pub fn decode_request(body: &[u8], model: &str) -> Result<ChatRequest, RequestError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| RequestError {
        message: format!("the body is not valid JSON: {e}"),
        param: None,
        malformed_json: true,
    })?;
    let Some(root) = root.as_object() else {
        return Err(neutral::invalid("", "the body must be a JSON object"));
    };
    let mut request = ChatRequest {
        model: model.to_owned(),
        ..ChatRequest::default()
    };
    if let Some(system) = field(root, "systemInstruction") {
        request.system = system_texts(system)?;
    }
    request.messages = messages(field(root, "contents"))?;
    if let Some(tools) = field(root, "tools") {
        request.tools = tools_of(tools)?;
    }
    if let Some(config) =
        field(root, "toolConfig").and_then(|c| field_of(c, "functionCallingConfig"))
    {
        request.tool_choice = tool_choice(config)?;
    }
    if let Some(config) = field(root, "generationConfig") {
        generation_config(config, &mut request)?;
    }
    Ok(request)
}

/// `obj[camel]`, or `obj[snake_case(camel)]`; `null` counts as absent.
fn field<'a>(obj: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    obj.get(camel)
        .or_else(|| obj.get(&snake(camel)))
        .filter(|v| !v.is_null())
}

fn field_of<'a>(value: &'a Value, camel: &str) -> Option<&'a Value> {
    field(value.as_object()?, camel)
}

fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn str_field(value: &Value, camel: &str, param: &str) -> Result<Option<String>, RequestError> {
    match field_of(value, camel) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(neutral::invalid(
            param,
            format!("`{param}` must be a string"),
        )),
    }
}

fn u64_field(config: &Value, camel: &str) -> Result<Option<u64>, RequestError> {
    match field_of(config, camel) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            let param = format!("generationConfig.{camel}");
            neutral::invalid(&param, format!("`{param}` must be a non-negative integer"))
        }),
    }
}

fn f64_field(config: &Value, camel: &str) -> Result<Option<f64>, RequestError> {
    match field_of(config, camel) {
        None => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| {
            let param = format!("generationConfig.{camel}");
            neutral::invalid(&param, format!("`{param}` must be a number"))
        }),
    }
}

fn system_texts(system: &Value) -> Result<Vec<String>, RequestError> {
    if let Value::String(text) = system {
        return Ok(vec![text.clone()]);
    }
    let parts = field_of(system, "parts")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            neutral::invalid(
                "systemInstruction.parts",
                "`systemInstruction` must be a Content object with a `parts` array of text parts",
            )
        })?;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let param = format!("systemInstruction.parts[{i}].text");
            str_field(part, "text", &param)?.ok_or_else(|| {
                neutral::invalid(&param, "system instruction parts must be text parts")
            })
        })
        .collect()
}

fn messages(contents: Option<&Value>) -> Result<Vec<neutral::Message>, RequestError> {
    let Some(contents) = contents else {
        return Err(neutral::invalid(
            "contents",
            "you must provide `contents`, an array of turns",
        ));
    };
    let contents = contents
        .as_array()
        .ok_or_else(|| neutral::invalid("contents", "`contents` must be an array of turns"))?;
    let mut out = Vec::new();
    let mut calls = 0usize;
    // Ids of the calls in the latest model turn, which the next user turn's responses answer.
    let mut open_calls: Vec<String> = Vec::new();
    for (t, turn) in contents.iter().enumerate() {
        let role = match field_of(turn, "role").and_then(Value::as_str) {
            None | Some("user") | Some("function") => Role::User,
            Some("model") => Role::Assistant,
            Some(other) => {
                return Err(neutral::invalid(
                    &format!("contents[{t}].role"),
                    format!("role `{other}` is not one of `user` or `model`"),
                ));
            }
        };
        let parts = field_of(turn, "parts")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                neutral::invalid(
                    &format!("contents[{t}].parts"),
                    "each turn needs a `parts` array",
                )
            })?;
        let mut answered = 0usize;
        let mut new_calls = Vec::new();
        for (p, part) in parts.iter().enumerate() {
            let param = format!("contents[{t}].parts[{p}]");
            let decoded = decode_part(part, role, &param, &mut calls, &open_calls, &mut answered)?;
            if let Some(decoded) = decoded {
                if let Part::ToolCall(call) = &decoded {
                    new_calls.push(call.id.clone());
                }
                neutral::push_part(&mut out, role, decoded);
            }
        }
        if role == Role::Assistant {
            open_calls = new_calls;
        }
    }
    Ok(out)
}

fn decode_part(
    part: &Value,
    role: Role,
    param: &str,
    calls: &mut usize,
    open_calls: &[String],
    answered: &mut usize,
) -> Result<Option<Part>, RequestError> {
    if !part.is_object() {
        return Err(neutral::invalid(param, "each part must be an object"));
    }
    let signature = str_field(
        part,
        "thoughtSignature",
        &format!("{param}.thoughtSignature"),
    )?
    .map(|value| Signature {
        vendor: Vendor::Gemini,
        value,
    });
    if let Some(text) = str_field(part, "text", &format!("{param}.text"))? {
        if field_of(part, "thought").and_then(Value::as_bool) == Some(true) {
            return Ok(Some(Part::Thinking(Thinking { text, signature })));
        }
        return Ok((!text.is_empty()).then_some(Part::Text(text)));
    }
    if let Some(inline) = field_of(part, "inlineData") {
        let p = format!("{param}.inlineData");
        let media_type =
            str_field(inline, "mimeType", &format!("{p}.mimeType"))?.ok_or_else(|| {
                neutral::invalid(&format!("{p}.mimeType"), "`inlineData` needs a `mimeType`")
            })?;
        let data = str_field(inline, "data", &format!("{p}.data"))?.ok_or_else(|| {
            neutral::invalid(&format!("{p}.data"), "`inlineData` needs base64 `data`")
        })?;
        return Ok(Some(Part::Image(Image::Base64 { media_type, data })));
    }
    if let Some(file) = field_of(part, "fileData") {
        let p = format!("{param}.fileData.fileUri");
        let uri = str_field(file, "fileUri", &p)?
            .ok_or_else(|| neutral::invalid(&p, "`fileData` needs a `fileUri`"))?;
        return Ok(Some(Part::Image(Image::Url(uri))));
    }
    if let Some(call) = field_of(part, "functionCall") {
        if role != Role::Assistant {
            return Err(neutral::invalid(
                param,
                "`functionCall` parts belong in `model` turns",
            ));
        }
        let p = format!("{param}.functionCall");
        let name = str_field(call, "name", &format!("{p}.name"))?.ok_or_else(|| {
            neutral::invalid(&format!("{p}.name"), "`functionCall` needs a `name`")
        })?;
        let args = field_of(call, "args").cloned().unwrap_or_else(|| json!({}));
        if !args.is_object() {
            return Err(neutral::invalid(
                &format!("{p}.args"),
                "`args` must be a JSON object",
            ));
        }
        let id =
            str_field(call, "id", &format!("{p}.id"))?.unwrap_or_else(|| format!("call_{calls}"));
        *calls += 1;
        return Ok(Some(Part::ToolCall(ToolCall {
            id,
            name,
            arguments: args.to_string(),
            signature,
        })));
    }
    if let Some(response) = field_of(part, "functionResponse") {
        if role != Role::User {
            return Err(neutral::invalid(
                param,
                "`functionResponse` parts belong in `user` turns",
            ));
        }
        let p = format!("{param}.functionResponse");
        let name = str_field(response, "name", &format!("{p}.name"))?.ok_or_else(|| {
            neutral::invalid(&format!("{p}.name"), "`functionResponse` needs a `name`")
        })?;
        let id = str_field(response, "id", &format!("{p}.id"))?
            .or_else(|| open_calls.get(*answered).cloned())
            .unwrap_or_else(|| name.clone());
        *answered += 1;
        let body = field_of(response, "response")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let (content, is_error) = result_content(body, &format!("{p}.response"))?;
        return Ok(Some(Part::ToolResult(ToolResult {
            id,
            name: Some(name),
            content,
            is_error,
        })));
    }
    Err(neutral::invalid(
        param,
        "unsupported part: expected one of `text`, `inlineData`, `fileData`, `functionCall`, `functionResponse`",
    ))
}

/// The tool result text inside a `response` object: `{"content": text}` and `{"error": …}`
/// (the encoder's wrappings) are unwrapped, any other object is its JSON text.
fn result_content(body: Value, param: &str) -> Result<(String, bool), RequestError> {
    let Value::Object(mut object) = body else {
        return Err(neutral::invalid(param, "`response` must be a JSON object"));
    };
    if object.len() == 1 {
        for (key, is_error) in [("content", false), ("error", true)] {
            match object.remove(key) {
                Some(Value::String(text)) => return Ok((text, is_error)),
                Some(other @ Value::Object(_)) if is_error => return Ok((other.to_string(), true)),
                Some(other) => {
                    object.insert(key.to_owned(), other);
                }
                None => {}
            }
        }
    }
    Ok((Value::Object(object).to_string(), false))
}

fn tools_of(tools: &Value) -> Result<Vec<Tool>, RequestError> {
    let tools = tools
        .as_array()
        .ok_or_else(|| neutral::invalid("tools", "`tools` must be an array of Tool objects"))?;
    let mut out = Vec::new();
    for (t, tool) in tools.iter().enumerate() {
        let Some(declarations) = field_of(tool, "functionDeclarations") else {
            // Built-in tools (googleSearch, codeExecution) have no neutral form.
            continue;
        };
        let declarations = declarations.as_array().ok_or_else(|| {
            neutral::invalid(
                &format!("tools[{t}].functionDeclarations"),
                "`functionDeclarations` must be an array",
            )
        })?;
        for (d, declaration) in declarations.iter().enumerate() {
            let p = format!("tools[{t}].functionDeclarations[{d}]");
            let name = str_field(declaration, "name", &format!("{p}.name"))?.ok_or_else(|| {
                neutral::invalid(
                    &format!("{p}.name"),
                    "each function declaration needs a `name`",
                )
            })?;
            let description = str_field(declaration, "description", &format!("{p}.description"))?;
            let parameters = field_of(declaration, "parameters")
                .cloned()
                .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
            out.push(Tool {
                name,
                description,
                parameters,
                strict: None,
            });
        }
    }
    Ok(out)
}

fn tool_choice(config: &Value) -> Result<Option<ToolChoice>, RequestError> {
    let param = "toolConfig.functionCallingConfig.mode";
    let allowed: Vec<&str> = field_of(config, "allowedFunctionNames")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(match str_field(config, "mode", param)?.as_deref() {
        None | Some("MODE_UNSPECIFIED") => None,
        Some("AUTO") | Some("VALIDATED") => Some(ToolChoice::Auto),
        Some("NONE") => Some(ToolChoice::None),
        Some("ANY") => match allowed.as_slice() {
            [one] => Some(ToolChoice::Tool((*one).to_owned())),
            _ => Some(ToolChoice::Required),
        },
        Some(other) => {
            return Err(neutral::invalid(
                param,
                format!("mode `{other}` is not one of AUTO, ANY, NONE, VALIDATED"),
            ));
        }
    })
}

fn generation_config(config: &Value, request: &mut ChatRequest) -> Result<(), RequestError> {
    if !config.is_object() {
        return Err(neutral::invalid(
            "generationConfig",
            "`generationConfig` must be an object",
        ));
    }
    request.max_tokens = u64_field(config, "maxOutputTokens")?;
    request.temperature = f64_field(config, "temperature")?;
    request.top_p = f64_field(config, "topP")?;
    request.top_k = u64_field(config, "topK")?;
    request.n = u64_field(config, "candidateCount")?;
    request.seed = match field_of(config, "seed") {
        None => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            neutral::invalid(
                "generationConfig.seed",
                "`generationConfig.seed` must be an integer",
            )
        })?),
    };
    if let Some(stop) = field_of(config, "stopSequences") {
        let param = "generationConfig.stopSequences";
        let stop = stop
            .as_array()
            .filter(|s| s.len() <= super::request::MAX_STOP)
            .ok_or_else(|| {
                neutral::invalid(
                    param,
                    "`stopSequences` must be an array of at most 5 strings",
                )
            })?;
        request.stop = stop
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| neutral::invalid(param, "`stopSequences` must hold strings"))?;
    }
    let mime = str_field(
        config,
        "responseMimeType",
        "generationConfig.responseMimeType",
    )?;
    if mime.as_deref() == Some("application/json") {
        request.response_format = Some(match field_of(config, "responseSchema") {
            Some(schema) => ResponseFormat::JsonSchema {
                name: SCHEMA_NAME.to_owned(),
                schema: schema.clone(),
                strict: None,
            },
            None => ResponseFormat::JsonObject,
        });
    }
    if let Some(thinking) = field_of(config, "thinkingConfig") {
        let budget = match field_of(thinking, "thinkingBudget") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                let param = "generationConfig.thinkingConfig.thinkingBudget";
                neutral::invalid(param, "`thinkingBudget` must be a non-negative integer (-1, dynamic, has no neutral form)")
            })?),
        };
        let level = str_field(
            thinking,
            "thinkingLevel",
            "generationConfig.thinkingConfig.thinkingLevel",
        )?;
        if budget.is_some() || level.is_some() {
            request.reasoning = Some(Reasoning {
                effort: level.map(|l| l.to_ascii_lowercase()),
                budget_tokens: budget,
            });
        }
    }
    Ok(())
}
