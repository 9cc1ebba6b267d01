//! Encoding a neutral [`ChatRequest`] as a Responses request body: used by the round-trip
//! tests, and ready for an upstream that speaks the Responses API.

use super::input::signature_to_wire;
use crate::neutral::{self, ChatRequest, Image, Message, Part, ResponseFormat, Role, ToolChoice};
use serde_json::{Map, Value, json};

/// The request body for `upstream_model`. Neutral fields the Responses API has no place for
/// (`stop`, `seed`, `n`, `top_k`, thinking budgets, tool-result error flags) are left out.
pub fn encode_request(request: &ChatRequest, upstream_model: &str) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("model".into(), json!(upstream_model));
    let mut system = request.system.iter();
    if let Some(first) = system.next() {
        body.insert("instructions".into(), json!(first));
    }
    let mut input: Vec<Value> = system
        .map(|text| json!({"type": "message", "role": "system", "content": text}))
        .collect();
    for message in &request.messages {
        encode_message(message, &mut input);
    }
    body.insert("input".into(), Value::Array(input));
    // The gateway keeps nothing and asks the upstream to keep nothing either.
    body.insert("store".into(), json!(false));
    if request.stream {
        body.insert("stream".into(), json!(true));
    }
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    put("max_output_tokens", request.max_tokens.map(Value::from));
    put("temperature", request.temperature.map(Value::from));
    put("top_p", request.top_p.map(Value::from));
    put(
        "parallel_tool_calls",
        request.parallel_tool_calls.map(Value::from),
    );
    put("user", request.user.clone().map(Value::from));
    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(|tool| {
            let mut t =
                json!({"type": "function", "name": tool.name, "parameters": tool.parameters});
            if let Some(description) = &tool.description {
                t["description"] = json!(description);
            }
            if let Some(strict) = tool.strict {
                t["strict"] = json!(strict);
            }
            t
        });
        put("tools", Some(Value::Array(tools.collect())));
    }
    put(
        "tool_choice",
        request.tool_choice.as_ref().map(|choice| match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
        }),
    );
    put(
        "text",
        request
            .response_format
            .as_ref()
            .map(|format| json!({ "format": text_format(format) })),
    );
    put(
        "reasoning",
        request
            .reasoning
            .as_ref()
            .and_then(|r| r.effort.as_ref())
            .map(|effort| json!({ "effort": effort })),
    );
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// `text.format` for a response format.
pub(super) fn text_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut f = json!({"type": "json_schema", "name": name, "schema": schema});
            if let Some(strict) = strict {
                f["strict"] = json!(strict);
            }
            f
        }
    }
}

/// One neutral turn as input items: each run of text and images becomes one message item, and
/// every call, result and piece of thinking its own item, in order.
fn encode_message(message: &Message, input: &mut Vec<Value>) {
    let (role, text_type) = match message.role {
        Role::User => ("user", "input_text"),
        Role::Assistant => ("assistant", "output_text"),
    };
    let mut run: Vec<Value> = Vec::new();
    let flush = |run: &mut Vec<Value>, input: &mut Vec<Value>| {
        if !run.is_empty() {
            let content = std::mem::take(run);
            input.push(json!({"type": "message", "role": role, "content": content}));
        }
    };
    for part in &message.content {
        match part {
            Part::Text(text) => run.push(json!({"type": text_type, "text": text})),
            Part::Image(image) => {
                run.push(json!({"type": "input_image", "image_url": image_url(image)}))
            }
            Part::ToolCall(call) => {
                flush(&mut run, input);
                input.push(json!({
                    "type": "function_call",
                    "call_id": neutral::client_tool_id(&call.id, call.signature.as_ref()),
                    "name": call.name,
                    "arguments": call.arguments,
                }));
            }
            Part::ToolResult(result) => {
                flush(&mut run, input);
                input.push(json!({
                    "type": "function_call_output",
                    "call_id": result.id,
                    "output": result.content,
                }));
            }
            Part::Thinking(thinking) => {
                flush(&mut run, input);
                let mut item = json!({
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": thinking.text}],
                });
                if let Some(signature) = &thinking.signature {
                    item["encrypted_content"] = json!(signature_to_wire(signature));
                }
                input.push(item);
            }
        }
    }
    flush(&mut run, input);
}

fn image_url(image: &Image) -> String {
    image.to_url()
}

#[cfg(test)]
mod tests {
    use super::super::decode_request;
    use super::*;
    use crate::neutral::{Reasoning, Thinking, Tool, ToolCall, ToolResult};
    use proptest::prelude::*;

    #[test]
    fn system_prompts_split_into_instructions_and_system_items() {
        let request = ChatRequest {
            model: "client-name".into(),
            system: vec!["one".into(), "two".into()],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::Text("hi".into())],
            }],
            stop: vec!["x".into()],
            ..ChatRequest::default()
        };
        let body: Value = serde_json::from_slice(&encode_request(&request, "up")).unwrap();
        assert_eq!(body["model"], "up");
        assert_eq!(body["instructions"], "one");
        assert_eq!(body["input"][0]["role"], "system");
        assert_eq!(body["input"][1]["content"][0]["type"], "input_text");
        assert_eq!(body["store"], false);
        assert!(body.get("stop").is_none());
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 .,!?\"\\\\é☃]{1,12}"
    }

    /// Gemini signatures (base64, as Gemini sends them) ride on calls and thinking.
    fn gemini_signature() -> impl Strategy<Value = Option<neutral::Signature>> {
        proptest::option::of("[A-Za-z0-9+/]{4}{1,4}".prop_map(|v| neutral::Signature {
            vendor: neutral::Vendor::Gemini,
            value: v,
        }))
    }

    /// Anthropic signatures only ever sign thinking.
    fn thinking_signature() -> impl Strategy<Value = Option<neutral::Signature>> {
        prop_oneof![
            gemini_signature(),
            "[A-Za-z0-9+/=:]{4,16}".prop_map(|v| Some(neutral::Signature {
                vendor: neutral::Vendor::Anthropic,
                value: v
            })),
        ]
    }

    fn user_part() -> impl Strategy<Value = Part> {
        prop_oneof![
            text().prop_map(Part::Text),
            "[a-z]{1,8}".prop_map(|p| Part::Image(Image::Url(format!("https://x.test/{p}.png")))),
            "[A-Za-z0-9]{4,8}".prop_map(|d| Part::Image(Image::Base64 {
                media_type: "image/png".into(),
                data: d
            })),
            ("call_[a-z0-9]{1,6}", text()).prop_map(|(id, content)| Part::ToolResult(ToolResult {
                id,
                name: None,
                content,
                is_error: false
            })),
        ]
    }

    fn assistant_part() -> impl Strategy<Value = Part> {
        prop_oneof![
            text().prop_map(Part::Text),
            (
                "call_[a-z0-9]{1,6}",
                "[a-z_]{1,8}",
                gemini_signature(),
                "(\\{\"a\":[0-9]{1,3}\\})?"
            )
                .prop_map(|(id, name, signature, arguments)| Part::ToolCall(
                    ToolCall {
                        id,
                        name,
                        arguments,
                        signature
                    }
                )),
            (text(), thinking_signature())
                .prop_map(|(text, signature)| Part::Thinking(Thinking { text, signature })),
        ]
    }

    fn messages() -> impl Strategy<Value = Vec<Message>> {
        prop::collection::vec(
            (
                prop::collection::vec(user_part(), 1..4),
                prop::collection::vec(assistant_part(), 1..4),
            ),
            1..4,
        )
        .prop_map(|turns| {
            turns
                .into_iter()
                .flat_map(|(u, a)| {
                    [
                        Message {
                            role: Role::User,
                            content: u,
                        },
                        Message {
                            role: Role::Assistant,
                            content: a,
                        },
                    ]
                })
                .collect()
        })
    }

    fn request() -> impl Strategy<Value = ChatRequest> {
        (
            (prop::collection::vec(text(), 0..3), messages()),
            (
                proptest::option::of(1u64..100_000),
                proptest::option::of(0u8..=20),
                proptest::option::of(0u8..=10),
                any::<bool>(),
                proptest::option::of(any::<bool>()),
                proptest::option::of("[a-z0-9]{1,8}"),
            ),
            (
                prop::collection::vec(("[a-z_]{1,8}", proptest::option::of(text()), proptest::option::of(any::<bool>())), 0..3),
                proptest::option::of(prop_oneof![
                    Just(ToolChoice::Auto),
                    Just(ToolChoice::None),
                    Just(ToolChoice::Required),
                    "[a-z_]{1,8}".prop_map(ToolChoice::Tool),
                ]),
                proptest::option::of(prop_oneof![
                    Just(ResponseFormat::Text),
                    Just(ResponseFormat::JsonObject),
                    ("[a-z_]{1,8}", proptest::option::of(any::<bool>())).prop_map(|(name, strict)| {
                        ResponseFormat::JsonSchema {
                            name,
                            schema: json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
                            strict,
                        }
                    }),
                ]),
                proptest::option::of(prop_oneof![Just("low"), Just("medium"), Just("high")]),
            ),
        )
            .prop_map(
                |((system, messages), (max, temp, top, stream, ptc, user), (tools, choice, format, effort))| {
                    ChatRequest {
                        model: "m".into(),
                        system,
                        messages,
                        max_tokens: max,
                        temperature: temp.map(|t| f64::from(t) / 10.0),
                        top_p: top.map(|t| f64::from(t) / 10.0),
                        stream,
                        parallel_tool_calls: ptc,
                        user,
                        tools: tools
                            .into_iter()
                            .map(|(name, description, strict)| Tool {
                                name,
                                description,
                                parameters: json!({"type": "object"}),
                                strict,
                            })
                            .collect(),
                        tool_choice: choice,
                        response_format: format,
                        reasoning: effort.map(|e| Reasoning {
                            effort: Some(e.to_owned()),
                            budget_tokens: None,
                        }),
                        ..ChatRequest::default()
                    }
                },
            )
    }

    proptest! {
        /// Whatever the Responses API can represent survives encode → decode unchanged.
        #[test]
        fn round_trip_through_the_neutral_form(request in request()) {
            let body = encode_request(&request, "m");
            let back = decode_request(&body);
            prop_assert_eq!(back, Ok(request));
        }
    }
}
