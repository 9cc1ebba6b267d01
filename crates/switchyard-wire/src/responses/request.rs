//! Decoding a client's Responses request body into a neutral [`ChatRequest`]: the top-level
//! fields (the `input` items are read by [`super::input`]).

use super::input;
use crate::neutral::{self, ChatRequest, Reasoning, ResponseFormat, Tool, ToolChoice};
use crate::openai::RequestError;
use serde_json::{Map, Value};

/// Reads a `POST /v1/responses` body. Every problem names its field and says how to fix it.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| RequestError {
        message: format!("the request body is not valid JSON: {e}"),
        param: None,
        malformed_json: true,
    })?;
    let Value::Object(obj) = root else {
        return Err(neutral::invalid(
            "body",
            "the request body must be a JSON object",
        ));
    };
    refuse_stateful(&obj)?;

    let mut request = ChatRequest {
        model: match obj.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            _ => {
                return Err(neutral::invalid(
                    "model",
                    "`model` is required: a non-empty string naming the model",
                ));
            }
        },
        ..ChatRequest::default()
    };
    if let Some(text) = opt_string(&obj, "instructions")?
        && !text.is_empty()
    {
        request.system.push(text);
    }
    match obj.get("input") {
        None | Some(Value::Null) => {
            return Err(neutral::invalid(
                "input",
                "`input` is required: a string or an array of input items",
            ));
        }
        Some(value) => input::decode_input(value, &mut request)?,
    }
    request.max_tokens = opt_u64(&obj, "max_output_tokens")?;
    request.temperature = opt_f64(&obj, "temperature")?;
    request.top_p = opt_f64(&obj, "top_p")?;
    request.stream = opt_bool(&obj, "stream")?.unwrap_or(false);
    request.parallel_tool_calls = opt_bool(&obj, "parallel_tool_calls")?;
    request.user = match opt_string(&obj, "user")? {
        Some(user) => Some(user),
        // The newer name for the same abuse-tracking identifier.
        None => opt_string(&obj, "safety_identifier")?,
    };
    if let Some(tools) = obj.get("tools").filter(|v| !v.is_null()) {
        request.tools = decode_tools(tools)?;
    }
    if let Some(choice) = obj.get("tool_choice").filter(|v| !v.is_null()) {
        request.tool_choice = Some(decode_tool_choice(choice)?);
    }
    if let Some(text) = obj.get("text").filter(|v| !v.is_null()) {
        request.response_format = decode_text_format(text)?;
    }
    if let Some(reasoning) = obj.get("reasoning").filter(|v| !v.is_null()) {
        request.reasoning = decode_reasoning(reasoning)?;
    }
    Ok(request)
}

/// Refuses the fields whose meaning lives in state a gateway without storage cannot keep.
fn refuse_stateful(obj: &Map<String, Value>) -> Result<(), RequestError> {
    const NO_STATE: &str = "this gateway keeps no conversation state; send the whole \
        conversation in `input` instead";
    if obj
        .get("previous_response_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(neutral::invalid("previous_response_id", NO_STATE));
    }
    if obj.get("conversation").is_some_and(|v| !v.is_null()) {
        return Err(neutral::invalid("conversation", NO_STATE));
    }
    if obj.get("prompt").is_some_and(|v| !v.is_null()) {
        return Err(neutral::invalid(
            "prompt",
            "stored prompt templates are not available through this gateway; send the \
             prompt's text in `instructions` and `input`",
        ));
    }
    if obj.get("background") == Some(&Value::Bool(true)) {
        return Err(neutral::invalid(
            "background",
            "background responses need stored state, which this gateway does not keep; \
             omit `background` or set it to false",
        ));
    }
    Ok(())
}

fn decode_tools(tools: &Value) -> Result<Vec<Tool>, RequestError> {
    let Value::Array(items) = tools else {
        return Err(neutral::invalid(
            "tools",
            "`tools` must be an array of function tools",
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, tool) in items.iter().enumerate() {
        let param = format!("tools[{i}]");
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "function" {
            return Err(neutral::invalid(
                &param,
                format!(
                    "only function tools (`\"type\":\"function\"`) are supported through this \
                     gateway; `{kind}` is a hosted OpenAI tool"
                ),
            ));
        }
        let Some(name) = tool
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return Err(neutral::invalid(
                &format!("{param}.name"),
                "a function tool needs a non-empty `name` (tools are flat in the Responses API: \
                 `{\"type\":\"function\",\"name\":…,\"parameters\":…}`)",
            ));
        };
        out.push(Tool {
            name: name.to_owned(),
            description: tool
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters: match tool.get("parameters") {
                None | Some(Value::Null) => serde_json::json!({"type": "object", "properties": {}}),
                Some(schema @ Value::Object(_)) => schema.clone(),
                Some(_) => {
                    return Err(neutral::invalid(
                        &format!("{param}.parameters"),
                        "`parameters` must be a JSON Schema object",
                    ));
                }
            },
            strict: tool.get("strict").and_then(Value::as_bool),
        });
    }
    Ok(out)
}

fn decode_tool_choice(choice: &Value) -> Result<ToolChoice, RequestError> {
    const HINT: &str = "`tool_choice` must be \"auto\", \"none\", \"required\" or \
        {\"type\":\"function\",\"name\":…}";
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(neutral::invalid("tool_choice", HINT)),
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            match o.get("name").and_then(Value::as_str) {
                Some(name) if !name.is_empty() => Ok(ToolChoice::Tool(name.to_owned())),
                _ => Err(neutral::invalid("tool_choice.name", HINT)),
            }
        }
        _ => Err(neutral::invalid("tool_choice", HINT)),
    }
}

fn decode_text_format(text: &Value) -> Result<Option<ResponseFormat>, RequestError> {
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        // `text.verbosity` alone, or an empty object.
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Some(ResponseFormat::Text)),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let Some(name) = format.get("name").and_then(Value::as_str) else {
                return Err(neutral::invalid(
                    "text.format.name",
                    "a `json_schema` format needs a `name`",
                ));
            };
            let Some(schema @ Value::Object(_)) = format.get("schema") else {
                return Err(neutral::invalid(
                    "text.format.schema",
                    "a `json_schema` format needs a `schema` object",
                ));
            };
            Ok(Some(ResponseFormat::JsonSchema {
                name: name.to_owned(),
                schema: schema.clone(),
                strict: format.get("strict").and_then(Value::as_bool),
            }))
        }
        _ => Err(neutral::invalid(
            "text.format.type",
            "`text.format.type` must be \"text\", \"json_object\" or \"json_schema\"",
        )),
    }
}

fn decode_reasoning(reasoning: &Value) -> Result<Option<Reasoning>, RequestError> {
    let Value::Object(o) = reasoning else {
        return Err(neutral::invalid(
            "reasoning",
            "`reasoning` must be an object such as {\"effort\":\"low\"}",
        ));
    };
    match o.get("effort") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(effort)) => Ok(Some(Reasoning {
            effort: Some(effort.clone()),
            budget_tokens: None,
        })),
        Some(_) => Err(neutral::invalid(
            "reasoning.effort",
            "`reasoning.effort` must be a string: \"minimal\", \"low\", \"medium\" or \"high\"",
        )),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, RequestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(neutral::invalid(key, format!("`{key}` must be a string"))),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, RequestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(neutral::invalid(
            key,
            format!("`{key}` must be true or false"),
        )),
    }
}

fn opt_f64(obj: &Map<String, Value>, key: &str) -> Result<Option<f64>, RequestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(neutral::invalid(key, format!("`{key}` must be a number"))),
    }
}

fn opt_u64(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, RequestError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(_) => Err(neutral::invalid(
            key,
            format!("`{key}` must be a positive integer"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neutral::{Message, Part, Role};

    fn decode(body: &str) -> Result<ChatRequest, RequestError> {
        decode_request(body.as_bytes())
    }

    fn param(body: &str) -> Option<String> {
        decode(body).err().and_then(|e| e.param)
    }

    #[test]
    fn a_string_input_is_one_user_text_and_instructions_come_first() {
        let r = decode(
            r#"{"model":"m","instructions":"Be terse.","input":"Hi","max_output_tokens":256}"#,
        )
        .unwrap();
        assert_eq!(r.system, vec!["Be terse.".to_owned()]);
        assert_eq!(
            r.messages,
            vec![Message {
                role: Role::User,
                content: vec![Part::Text("Hi".into())]
            }]
        );
        assert_eq!(r.max_tokens, Some(256));
        assert!(!r.stream);
    }

    #[test]
    fn model_and_input_are_required() {
        assert_eq!(param(r#"{"input":"x"}"#).as_deref(), Some("model"));
        assert_eq!(
            param(r#"{"model":"","input":"x"}"#).as_deref(),
            Some("model")
        );
        assert_eq!(param(r#"{"model":"m"}"#).as_deref(), Some("input"));
        let err = decode("{nope").unwrap_err();
        assert!(err.malformed_json);
        assert_eq!(param("[1]").as_deref(), Some("body"));
    }

    #[test]
    fn previous_response_id_is_refused_and_store_is_ignored() {
        let err =
            decode(r#"{"model":"m","input":"x","previous_response_id":"resp_1"}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("previous_response_id"));
        assert!(err.message.contains("keeps no conversation state"));
        assert!(decode(r#"{"model":"m","input":"x","store":true,"metadata":{"a":"b"}}"#).is_ok());
        assert_eq!(
            param(r#"{"model":"m","input":"x","background":true}"#).as_deref(),
            Some("background")
        );
        assert_eq!(
            param(r#"{"model":"m","input":"x","conversation":"conv_1"}"#).as_deref(),
            Some("conversation")
        );
    }

    #[test]
    fn flat_function_tools_and_tool_choice() {
        let r = decode(
            r#"{"model":"m","input":"x","parallel_tool_calls":false,
               "tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":true}],
               "tool_choice":{"type":"function","name":"f"}}"#,
        )
        .unwrap();
        assert_eq!(r.tools.len(), 1);
        assert_eq!(r.tools[0].name, "f");
        assert_eq!(r.tools[0].strict, Some(true));
        assert_eq!(r.tool_choice, Some(ToolChoice::Tool("f".into())));
        assert_eq!(r.parallel_tool_calls, Some(false));
        for (s, want) in [
            ("auto", ToolChoice::Auto),
            ("none", ToolChoice::None),
            ("required", ToolChoice::Required),
        ] {
            let body = format!(r#"{{"model":"m","input":"x","tool_choice":"{s}"}}"#);
            assert_eq!(decode(&body).unwrap().tool_choice, Some(want));
        }
        assert_eq!(
            param(r#"{"model":"m","input":"x","tool_choice":"any"}"#).as_deref(),
            Some("tool_choice")
        );
    }

    #[test]
    fn hosted_tools_are_refused() {
        let err =
            decode(r#"{"model":"m","input":"x","tools":[{"type":"web_search"}]}"#).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("tools[0]"));
        assert!(err.message.contains("only function tools"));
        assert_eq!(
            param(r#"{"model":"m","input":"x","tools":[{"type":"function"}]}"#).as_deref(),
            Some("tools[0].name")
        );
    }

    #[test]
    fn text_format_becomes_response_format() {
        let r = decode(
            r#"{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"},"strict":true}}}"#,
        )
        .unwrap();
        assert_eq!(
            r.response_format,
            Some(ResponseFormat::JsonSchema {
                name: "w".into(),
                schema: serde_json::json!({"type":"object"}),
                strict: Some(true)
            })
        );
        let r = decode(r#"{"model":"m","input":"x","text":{"format":{"type":"json_object"}}}"#)
            .unwrap();
        assert_eq!(r.response_format, Some(ResponseFormat::JsonObject));
        let r = decode(r#"{"model":"m","input":"x","text":{"verbosity":"low"}}"#).unwrap();
        assert_eq!(r.response_format, None);
        assert_eq!(
            param(
                r#"{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"w"}}}"#
            )
            .as_deref(),
            Some("text.format.schema")
        );
    }

    #[test]
    fn sampling_reasoning_user_and_stream() {
        let r = decode(
            r#"{"model":"m","input":"x","temperature":0.5,"top_p":0.9,"stream":true,
               "reasoning":{"effort":"high","summary":"auto"},"user":"u1"}"#,
        )
        .unwrap();
        assert_eq!(r.temperature, Some(0.5));
        assert_eq!(r.top_p, Some(0.9));
        assert!(r.stream);
        assert_eq!(r.reasoning.and_then(|x| x.effort).as_deref(), Some("high"));
        assert_eq!(r.user.as_deref(), Some("u1"));
        let r = decode(r#"{"model":"m","input":"x","safety_identifier":"s"}"#).unwrap();
        assert_eq!(r.user.as_deref(), Some("s"));
        assert_eq!(
            param(r#"{"model":"m","input":"x","max_output_tokens":-1}"#).as_deref(),
            Some("max_output_tokens")
        );
        assert_eq!(
            param(r#"{"model":"m","input":"x","temperature":"hot"}"#).as_deref(),
            Some("temperature")
        );
    }
}
