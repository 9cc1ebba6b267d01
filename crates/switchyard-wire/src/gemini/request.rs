//! Neutral request → Gemini `generateContent` body (the model goes in the URL, not here).

use super::schema::sanitize_schema;
use crate::neutral::{
    self, ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, Signature, Tool,
    ToolChoice, ToolResult, Vendor,
};
use serde_json::{Map, Value, json};

/// Gemini rejects more than five stop sequences; the first five are kept.
pub(super) const MAX_STOP: usize = 5;

/// Thinking budgets for OpenAI's effort words (Gemini 2.5 takes a budget; Gemini 3 maps a
/// budget to its levels). `none` turns thinking off where the model allows it.
const EFFORT_BUDGETS: &[(&str, u64)] = &[
    ("none", 0),
    ("minimal", 128),
    ("low", 1024),
    ("medium", 8192),
    ("high", 24576),
];

/// The JSON body for `:generateContent` and `:streamGenerateContent?alt=sse`.
pub fn encode_request(request: &ChatRequest) -> Vec<u8> {
    let mut body = Map::new();
    let system: Vec<Value> = request
        .system
        .iter()
        .filter(|text| !text.is_empty())
        .map(|text| json!({ "text": text }))
        .collect();
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    body.insert("contents".into(), Value::Array(contents(&request.messages)));
    let declarations: Vec<Value> = request.tools.iter().map(declaration).collect();
    if !declarations.is_empty() {
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        body.insert(
            "toolConfig".into(),
            json!({ "functionCallingConfig": calling_config(choice) }),
        );
    }
    let config = generation_config(request);
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    // Serializing a `Value` cannot fail: every map key is a string.
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// The conversation as Gemini `contents`: roles `user`/`model`, no empty parts, no empty turns
/// (a turn left empty is dropped and its neighbours, now of one role, are merged).
fn contents(messages: &[Message]) -> Vec<Value> {
    let names = neutral::tool_names(messages);
    let mut out: Vec<(Role, Vec<Value>)> = Vec::new();
    for message in messages {
        let parts: Vec<Value> = message
            .content
            .iter()
            .filter_map(|part| encode_part(part, &names))
            .collect();
        if parts.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((role, previous)) if *role == message.role => previous.extend(parts),
            _ => out.push((message.role, parts)),
        }
    }
    out.into_iter()
        .map(|(role, parts)| {
            let role = match role {
                Role::User => "user",
                Role::Assistant => "model",
            };
            json!({ "role": role, "parts": parts })
        })
        .collect()
}

/// One part, or `None` for what Gemini must not receive (empty text, our copy of its thoughts).
fn encode_part(part: &Part, names: &std::collections::HashMap<&str, &str>) -> Option<Value> {
    match part {
        Part::Text(text) if text.is_empty() => None,
        Part::Text(text) => Some(json!({ "text": text })),
        Part::Image(Image::Base64 { media_type, data }) => {
            Some(json!({ "inlineData": { "mimeType": media_type, "data": data } }))
        }
        Part::Image(Image::Url(url)) => Some(json!({
            "fileData": { "mimeType": guess_mime_type(url), "fileUri": url }
        })),
        Part::ToolCall(call) => {
            let mut part = Map::new();
            part.insert(
                "functionCall".into(),
                json!({ "name": call.name, "args": neutral::arguments_object(&call.arguments) }),
            );
            // A client decoder splits a signature out of the id (`neutral::split_tool_id`); one
            // still folded into the id is recovered here, since Gemini 3 rejects a call without it.
            let signature = call
                .signature
                .clone()
                .or_else(|| neutral::split_tool_id(&call.id).1);
            if let Some(Signature {
                vendor: Vendor::Gemini,
                value,
            }) = signature
            {
                part.insert("thoughtSignature".into(), json!(value));
            }
            Some(Value::Object(part))
        }
        Part::ToolResult(result) => Some(function_response(result, names)),
        // Gemini regenerates its reasoning; thought text is never replayed to it.
        Part::Thinking(_) => None,
    }
}

/// `functionResponse{name, response}`; the response must be a JSON object.
fn function_response(result: &ToolResult, names: &std::collections::HashMap<&str, &str>) -> Value {
    let name = result
        .name
        .as_deref()
        .or_else(|| names.get(result.id.as_str()).copied())
        .unwrap_or(&result.id);
    let parsed = serde_json::from_str::<Value>(&result.content).ok();
    let response = match (result.is_error, parsed) {
        (false, Some(object @ Value::Object(_))) => object,
        (false, _) => json!({ "content": result.content }),
        // Gemini's documented key for a failed call is `error`.
        (true, Some(object @ Value::Object(_))) => json!({ "error": object }),
        (true, _) => json!({ "error": result.content }),
    };
    json!({ "functionResponse": { "name": name, "response": response } })
}

/// The MIME type an image URL's extension suggests; JPEG when it says nothing.
pub(super) fn guess_mime_type(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => "image/jpeg",
    }
}

fn declaration(tool: &Tool) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        out.insert("description".into(), json!(description));
    }
    let parameters = sanitize_schema(&tool.parameters);
    // Gemini rejects an object schema without properties; no `parameters` means "no arguments".
    let empty = parameters
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    if !empty {
        out.insert("parameters".into(), parameters);
    }
    Value::Object(out)
}

fn calling_config(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!({ "mode": "AUTO" }),
        ToolChoice::None => json!({ "mode": "NONE" }),
        ToolChoice::Required => json!({ "mode": "ANY" }),
        ToolChoice::Tool(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
    }
}

fn generation_config(request: &ChatRequest) -> Map<String, Value> {
    let mut config = Map::new();
    let mut put = |key: &str, value: Value| {
        config.insert(key.to_owned(), value);
    };
    if let Some(max) = request.max_tokens {
        put("maxOutputTokens", json!(max));
    }
    if let Some(temperature) = request.temperature {
        put("temperature", json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        put("topP", json!(top_p));
    }
    if let Some(top_k) = request.top_k {
        put("topK", json!(top_k));
    }
    let stop: Vec<&String> = request.stop.iter().take(MAX_STOP).collect();
    if !stop.is_empty() {
        put("stopSequences", json!(stop));
    }
    if let Some(n) = request.n {
        put("candidateCount", json!(n));
    }
    if let Some(seed) = request.seed {
        put("seed", json!(seed));
    }
    match &request.response_format {
        Some(ResponseFormat::JsonObject) => put("responseMimeType", json!("application/json")),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            put("responseMimeType", json!("application/json"));
            put("responseSchema", sanitize_schema(schema));
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if let Some(thinking) = request.reasoning.as_ref().and_then(thinking_config) {
        put("thinkingConfig", thinking);
    }
    config
}

/// `thinkingConfig` from a budget, else from an effort word; thought summaries are asked for
/// whenever thinking is on, since the client asked for reasoning.
fn thinking_config(reasoning: &Reasoning) -> Option<Value> {
    let budget = reasoning.budget_tokens.or_else(|| {
        let effort = reasoning.effort.as_deref()?;
        EFFORT_BUDGETS
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(effort))
            .map(|(_, budget)| *budget)
    })?;
    Some(json!({ "thinkingBudget": budget, "includeThoughts": budget > 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neutral::ToolCall;

    fn encode(request: &ChatRequest) -> Value {
        serde_json::from_slice(&encode_request(request)).unwrap()
    }

    fn user(parts: Vec<Part>) -> Message {
        Message {
            role: Role::User,
            content: parts,
        }
    }

    fn assistant(parts: Vec<Part>) -> Message {
        Message {
            role: Role::Assistant,
            content: parts,
        }
    }

    #[test]
    fn system_goes_to_system_instruction_and_roles_are_user_and_model() {
        let request = ChatRequest {
            system: vec!["Be terse.".into(), String::new()],
            messages: vec![
                user(vec![Part::Text("Hi".into())]),
                assistant(vec![Part::Text("Hello".into())]),
            ],
            ..ChatRequest::default()
        };
        let body = encode(&request);
        assert_eq!(
            body["systemInstruction"],
            json!({"parts": [{"text": "Be terse."}]})
        );
        assert_eq!(
            body["contents"][0],
            json!({"role": "user", "parts": [{"text": "Hi"}]})
        );
        assert_eq!(body["contents"][1]["role"], "model");
        assert!(body.get("generationConfig").is_none());
    }

    #[test]
    fn images_become_inline_data_or_file_data() {
        let request = ChatRequest {
            messages: vec![user(vec![
                Part::Image(Image::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBO".into(),
                }),
                Part::Image(Image::Url("https://x.test/cat.webp?s=1".into())),
                Part::Image(Image::Url("https://x.test/photo".into())),
            ])],
            ..ChatRequest::default()
        };
        let parts = &encode(&request)["contents"][0]["parts"];
        assert_eq!(
            parts[0],
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBO"}})
        );
        assert_eq!(
            parts[1],
            json!({"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/cat.webp?s=1"}})
        );
        assert_eq!(parts[2]["fileData"]["mimeType"], "image/jpeg");
    }

    #[test]
    fn calls_keep_only_gemini_signatures_and_results_name_their_function() {
        let call = |id: &str, vendor| {
            Part::ToolCall(ToolCall {
                id: id.into(),
                name: format!("fn_{id}"),
                arguments: String::new(),
                signature: Some(Signature {
                    vendor,
                    value: "sig".into(),
                }),
            })
        };
        let result = |id: &str, name: Option<&str>, content: &str, is_error| {
            Part::ToolResult(ToolResult {
                id: id.into(),
                name: name.map(str::to_owned),
                content: content.into(),
                is_error,
            })
        };
        let request = ChatRequest {
            messages: vec![
                user(vec![Part::Text("go".into())]),
                assistant(vec![
                    Part::Thinking(neutral::Thinking {
                        text: "hmm".into(),
                        signature: None,
                    }),
                    call("a", Vendor::Gemini),
                    call("b", Vendor::Anthropic),
                ]),
                user(vec![
                    result("a", None, "{\"t\":3}", false),
                    result("b", Some("named"), "plain", false),
                    result("zz", None, "boom", true),
                ]),
            ],
            ..ChatRequest::default()
        };
        let body = encode(&request);
        let model = &body["contents"][1]["parts"];
        assert_eq!(
            model,
            &json!([
                {"functionCall": {"name": "fn_a", "args": {}}, "thoughtSignature": "sig"},
                {"functionCall": {"name": "fn_b", "args": {}}}
            ])
        );
        let results = &body["contents"][2]["parts"];
        assert_eq!(
            results,
            &json!([
                {"functionResponse": {"name": "fn_a", "response": {"t": 3}}},
                {"functionResponse": {"name": "named", "response": {"content": "plain"}}},
                {"functionResponse": {"name": "zz", "response": {"error": "boom"}}}
            ])
        );
    }

    #[test]
    fn empty_turns_vanish_and_neighbours_merge() {
        let request = ChatRequest {
            messages: vec![
                user(vec![Part::Text("a".into())]),
                assistant(vec![Part::Text(String::new())]),
                user(vec![Part::Text("b".into())]),
            ],
            ..ChatRequest::default()
        };
        assert_eq!(
            encode(&request)["contents"],
            json!([{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}])
        );
    }

    #[test]
    fn tools_and_tool_choice() {
        let tool = |name: &str, parameters| Tool {
            name: name.into(),
            description: Some("d".into()),
            parameters,
            strict: Some(true),
        };
        let request = ChatRequest {
            tools: vec![
                tool("none", json!({"type": "object", "properties": {}})),
                tool(
                    "city",
                    json!({"type": "object", "properties": {"c": {"type": "string"}}, "additionalProperties": false}),
                ),
            ],
            tool_choice: Some(ToolChoice::Tool("city".into())),
            parallel_tool_calls: Some(false),
            ..ChatRequest::default()
        };
        let body = encode(&request);
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [
                {"name": "none", "description": "d"},
                {"name": "city", "description": "d", "parameters": {"type": "object", "properties": {"c": {"type": "string"}}}}
            ]}])
        );
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["city"]}})
        );
        for (choice, mode) in [
            (ToolChoice::Auto, "AUTO"),
            (ToolChoice::None, "NONE"),
            (ToolChoice::Required, "ANY"),
        ] {
            assert_eq!(calling_config(&choice), json!({"mode": mode}));
        }
    }

    #[test]
    fn generation_config_fields() {
        let request = ChatRequest {
            max_tokens: Some(100),
            temperature: Some(0.5),
            top_p: Some(0.9),
            top_k: Some(40),
            stop: (1..=7).map(|i| format!("s{i}")).collect(),
            n: Some(2),
            seed: Some(7),
            user: Some("u".into()),
            response_format: Some(ResponseFormat::JsonSchema {
                name: "x".into(),
                schema: json!({"type": "object", "properties": {"a": {"const": "b"}}}),
                strict: Some(true),
            }),
            reasoning: Some(Reasoning {
                effort: Some("low".into()),
                budget_tokens: None,
            }),
            ..ChatRequest::default()
        };
        let body = encode(&request);
        assert_eq!(
            body["generationConfig"],
            json!({
                "maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9, "topK": 40,
                "stopSequences": ["s1", "s2", "s3", "s4", "s5"], "candidateCount": 2, "seed": 7,
                "responseMimeType": "application/json",
                "responseSchema": {"type": "object", "properties": {"a": {"type": "string", "enum": ["b"]}}},
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}
            })
        );
        assert!(body.get("user").is_none());
        let budget = Reasoning {
            effort: Some("high".into()),
            budget_tokens: Some(0),
        };
        assert_eq!(
            thinking_config(&budget),
            Some(json!({"thinkingBudget": 0, "includeThoughts": false}))
        );
        let unknown = Reasoning {
            effort: Some("extreme".into()),
            budget_tokens: None,
        };
        assert_eq!(thinking_config(&unknown), None);
    }
}
