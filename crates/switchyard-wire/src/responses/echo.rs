//! The request fields a `response` object repeats (`tools`, `tool_choice`, `temperature`…).
//! openai-python requires some of them to parse a response; with the request at hand they echo
//! what the client sent, without it they hold the API's defaults.

use super::encode::text_format;
use crate::neutral::{ChatRequest, ToolChoice};
use serde_json::{Map, Value, json};

/// The echo fields for `request`, or the defaults when there is none.
pub(super) fn echo(request: Option<&ChatRequest>) -> Map<String, Value> {
    let default = ChatRequest::default();
    let r = request.unwrap_or(&default);
    let tools: Vec<Value> = r
        .tools
        .iter()
        .map(|tool| {
            json!({
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": tool.strict,
            })
        })
        .collect();
    let tool_choice = match &r.tool_choice {
        None | Some(ToolChoice::Auto) => json!("auto"),
        Some(ToolChoice::None) => json!("none"),
        Some(ToolChoice::Required) => json!("required"),
        Some(ToolChoice::Tool(name)) => json!({"type": "function", "name": name}),
    };
    let format = r
        .response_format
        .as_ref()
        .map_or_else(|| json!({"type": "text"}), text_format);
    let effort = r.reasoning.as_ref().and_then(|x| x.effort.clone());
    let fields = json!({
        // The first system prompt: `instructions`, or the first system message if none.
        "instructions": r.system.first(),
        "metadata": {},
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": r.parallel_tool_calls.unwrap_or(true),
        "temperature": r.temperature.unwrap_or(1.0),
        "top_p": r.top_p.unwrap_or(1.0),
        "max_output_tokens": r.max_tokens,
        "previous_response_id": null,
        "reasoning": {"effort": effort, "summary": null},
        "text": {"format": format},
        "truncation": "disabled",
        "store": false,
        "background": false,
        "user": r.user,
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::decode_request;

    #[test]
    fn defaults_without_a_request() {
        let e = echo(None);
        assert_eq!(e["tools"], json!([]));
        assert_eq!(e["tool_choice"], "auto");
        assert_eq!(e["parallel_tool_calls"], true);
        assert_eq!(e["temperature"], 1.0);
        assert_eq!(e["instructions"], Value::Null);
        assert_eq!(e["text"], json!({"format": {"type": "text"}}));
    }

    #[test]
    fn the_clients_own_values_come_back() {
        let request = decode_request(
            br#"{"model":"m","instructions":"terse","input":"x","temperature":0.2,
                 "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],
                 "tool_choice":"required","parallel_tool_calls":false,"max_output_tokens":9,
                 "text":{"format":{"type":"json_object"}},"reasoning":{"effort":"low"},"user":"u"}"#,
        )
        .unwrap();
        let e = echo(Some(&request));
        assert_eq!(e["instructions"], "terse");
        assert_eq!(e["tools"][0]["name"], "f");
        assert_eq!(e["tool_choice"], "required");
        assert_eq!(e["parallel_tool_calls"], false);
        assert_eq!(e["temperature"], 0.2);
        assert_eq!(e["max_output_tokens"], 9);
        assert_eq!(e["text"]["format"]["type"], "json_object");
        assert_eq!(e["reasoning"]["effort"], "low");
        assert_eq!(e["user"], "u");
    }
}
