//! Decoding the `input` of a Responses request: a string, or an array of message,
//! function-call, function-call-output and reasoning items, into alternating neutral turns.

use crate::neutral::{
    self, ChatRequest, Image, Part, Role, Signature, Thinking, ToolCall, ToolResult, Vendor,
};
use crate::openai::RequestError;
use serde_json::Value;

/// How a thinking signature rides in a reasoning item's `encrypted_content`: the issuing
/// vendor, a colon, then the opaque value, so it is only ever replayed to its issuer.
pub(super) fn signature_to_wire(signature: &Signature) -> String {
    let vendor = match signature.vendor {
        Vendor::Anthropic => "anthropic",
        Vendor::Gemini => "gemini",
    };
    format!("{vendor}:{}", signature.value)
}

/// Reads `encrypted_content` written by [`signature_to_wire`]; anything else (OpenAI's own
/// encrypted reasoning, say) is not a signature we can use and yields `None`.
pub(super) fn signature_from_wire(text: &str) -> Option<Signature> {
    let (vendor, value) = text.split_once(':')?;
    let vendor = match vendor {
        "anthropic" => Vendor::Anthropic,
        "gemini" => Vendor::Gemini,
        _ => return None,
    };
    Some(Signature {
        vendor,
        value: value.to_owned(),
    })
}

/// Appends what `input` says to `request.system` and `request.messages`.
pub(super) fn decode_input(input: &Value, request: &mut ChatRequest) -> Result<(), RequestError> {
    match input {
        Value::String(text) => {
            if !text.is_empty() {
                neutral::push_part(&mut request.messages, Role::User, Part::Text(text.clone()));
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                decode_item(item, &format!("input[{i}]"), request)?;
            }
            Ok(())
        }
        _ => Err(neutral::invalid(
            "input",
            "`input` must be a string or an array of input items",
        )),
    }
}

fn decode_item(item: &Value, param: &str, request: &mut ChatRequest) -> Result<(), RequestError> {
    if !item.is_object() {
        return Err(neutral::invalid(param, "each input item must be an object"));
    }
    let messages = &mut request.messages;
    match item.get("type").and_then(Value::as_str) {
        None | Some("message") => decode_message(item, param, request),
        Some("function_call") => {
            let call_id = required_str(item, "call_id", param)?;
            let (id, signature) = neutral::split_tool_id(call_id);
            let arguments = match item.get("arguments") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => {
                    return Err(neutral::invalid(
                        &format!("{param}.arguments"),
                        "`arguments` must be a string of JSON text",
                    ));
                }
            };
            let call = ToolCall {
                id,
                name: required_str(item, "name", param)?.to_owned(),
                arguments,
                signature,
            };
            neutral::push_part(messages, Role::Assistant, Part::ToolCall(call));
            Ok(())
        }
        Some("function_call_output") => {
            let call_id = required_str(item, "call_id", param)?;
            let (id, _) = neutral::split_tool_id(call_id);
            let content = match item.get("output") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => output_text(parts, &format!("{param}.output"))?,
                _ => {
                    return Err(neutral::invalid(
                        &format!("{param}.output"),
                        "`output` must be a string or an array of `input_text` parts",
                    ));
                }
            };
            let result = ToolResult {
                id,
                name: None,
                content,
                is_error: false,
            };
            neutral::push_part(messages, Role::User, Part::ToolResult(result));
            Ok(())
        }
        Some("reasoning") => {
            if let Some(thinking) = decode_reasoning(item) {
                neutral::push_part(messages, Role::Assistant, Part::Thinking(thinking));
            }
            Ok(())
        }
        Some("item_reference") => Err(neutral::invalid(
            param,
            "`item_reference` points at stored items, and this gateway keeps no conversation \
             state; send the item itself",
        )),
        Some(other) => Err(neutral::invalid(
            &format!("{param}.type"),
            format!(
                "input items of type `{other}` are not supported; use `message`, \
                 `function_call`, `function_call_output` or `reasoning`"
            ),
        )),
    }
}

fn decode_message(
    item: &Value,
    param: &str,
    request: &mut ChatRequest,
) -> Result<(), RequestError> {
    let role = required_str(item, "role", param)?;
    let content_param = format!("{param}.content");
    let parts: Vec<Part> = match item.get("content") {
        Some(Value::String(text)) => vec![Part::Text(text.clone())],
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| decode_part(part, role, &format!("{content_param}[{j}]")))
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(neutral::invalid(
                &content_param,
                "`content` must be a string or an array of content parts",
            ));
        }
    };
    let role = match role {
        "system" | "developer" => {
            let texts: Vec<String> = parts
                .into_iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t),
                    _ => None,
                })
                .collect();
            let text = texts.join("\n");
            if !text.is_empty() {
                request.system.push(text);
            }
            return Ok(());
        }
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => {
            return Err(neutral::invalid(
                &format!("{param}.role"),
                "`role` must be \"user\", \"assistant\", \"system\" or \"developer\"",
            ));
        }
    };
    for part in parts {
        // Empty text blocks are rejected by Anthropic and Gemini; they say nothing anyway.
        if matches!(&part, Part::Text(t) if t.is_empty()) {
            continue;
        }
        neutral::push_part(&mut request.messages, role, part);
    }
    Ok(())
}

fn decode_part(part: &Value, role: &str, param: &str) -> Result<Part, RequestError> {
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "input_text" | "output_text" | "text" | "refusal" => {
            let key = if kind == "refusal" { "refusal" } else { "text" };
            Ok(Part::Text(required_str(part, key, param)?.to_owned()))
        }
        "input_image" if role == "user" => {
            if part.get("file_id").is_some_and(|v| !v.is_null()) {
                return Err(neutral::invalid(
                    &format!("{param}.file_id"),
                    "images by `file_id` are not supported (this gateway stores no files); \
                     send `image_url` with an https or data: URL",
                ));
            }
            let url = required_str(part, "image_url", param)?;
            Ok(Part::Image(Image::from_url(url)))
        }
        "input_image" => Err(neutral::invalid(
            param,
            "images are only allowed in `user` messages",
        )),
        "input_file" | "input_audio" => Err(neutral::invalid(
            &format!("{param}.type"),
            format!("`{kind}` parts are not supported; send text and images only"),
        )),
        _ => Err(neutral::invalid(
            &format!("{param}.type"),
            "a content part's `type` must be `input_text`, `output_text` or `input_image`",
        )),
    }
}

/// A tool output given as parts: the texts, concatenated.
fn output_text(parts: &[Value], param: &str) -> Result<String, RequestError> {
    let mut out = String::new();
    for (j, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                out.push_str(required_str(part, "text", &format!("{param}[{j}]"))?);
            }
            _ => {
                return Err(neutral::invalid(
                    &format!("{param}[{j}].type"),
                    "tool outputs may only hold `input_text` parts through this gateway",
                ));
            }
        }
    }
    Ok(out)
}

/// A replayed reasoning item: its summary texts (or, failing those, its reasoning texts),
/// with the signature we put in `encrypted_content`. Empty items carry nothing and vanish.
fn decode_reasoning(item: &Value) -> Option<Thinking> {
    let texts = |key: &str| -> Vec<String> {
        item.get(key)
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = texts("summary");
    if text.is_empty() {
        text = texts("content");
    }
    let signature = item
        .get("encrypted_content")
        .and_then(Value::as_str)
        .and_then(signature_from_wire);
    let text = text.join("\n\n");
    if text.is_empty() && signature.is_none() {
        return None;
    }
    Some(Thinking { text, signature })
}

fn required_str<'a>(item: &'a Value, key: &str, param: &str) -> Result<&'a str, RequestError> {
    item.get(key).and_then(Value::as_str).ok_or_else(|| {
        neutral::invalid(
            &format!("{param}.{key}"),
            format!("`{key}` is required here and must be a string"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neutral::Message;

    fn decode(input: Value) -> Result<ChatRequest, RequestError> {
        let mut request = ChatRequest::default();
        decode_input(&input, &mut request).map(|()| request)
    }

    #[test]
    fn roles_map_and_same_role_items_merge() {
        let r = decode(serde_json::json!([
            {"role":"developer","content":"Be terse."},
            {"role":"system","content":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]},
            {"role":"user","content":"Hi"},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"there"}]},
            {"role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]}
        ]))
        .unwrap();
        assert_eq!(r.system, vec!["Be terse.".to_owned(), "a\nb".to_owned()]);
        assert_eq!(
            r.messages,
            vec![
                Message {
                    role: Role::User,
                    content: vec![Part::Text("Hi".into()), Part::Text("there".into())]
                },
                Message {
                    role: Role::Assistant,
                    content: vec![Part::Text("Hello".into())]
                },
            ]
        );
    }

    #[test]
    fn function_calls_and_outputs_become_tool_parts() {
        let r = decode(serde_json::json!([
            {"role":"user","content":"weather?"},
            {"type":"function_call","call_id":"call_1","name":"w","arguments":"{\"c\":1}"},
            {"type":"function_call_output","call_id":"call_1","output":"sunny"},
            {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"a"},{"type":"input_text","text":"b"}]}
        ]))
        .unwrap();
        assert_eq!(r.messages.len(), 3);
        assert_eq!(
            r.messages[1].content,
            vec![Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "w".into(),
                arguments: "{\"c\":1}".into(),
                signature: None
            })]
        );
        assert_eq!(r.messages[2].role, Role::User);
        assert_eq!(r.messages[2].content.len(), 2);
        assert!(matches!(&r.messages[2].content[1], Part::ToolResult(t) if t.content == "ab"));
    }

    #[test]
    fn gemini_signatures_come_back_out_of_call_ids() {
        let sig = Signature {
            vendor: Vendor::Gemini,
            value: "c2lnbmF0dXJl".into(),
        };
        let id = neutral::client_tool_id("call_9", Some(&sig));
        let r = decode(serde_json::json!([
            {"type":"function_call","call_id":id,"name":"f","arguments":""},
            {"type":"function_call_output","call_id":id,"output":"{}"}
        ]))
        .unwrap();
        let Part::ToolCall(call) = &r.messages[0].content[0] else {
            panic!("{r:?}")
        };
        assert_eq!(call.id, "call_9");
        assert_eq!(call.signature, Some(sig));
        assert!(matches!(&r.messages[1].content[0], Part::ToolResult(t) if t.id == "call_9"));
    }

    #[test]
    fn images_by_url_or_data_and_never_by_file_id() {
        let r = decode(serde_json::json!([{"role":"user","content":[
            {"type":"input_image","image_url":"https://x.test/a.png","detail":"auto"},
            {"type":"input_image","image_url":"data:image/png;base64,AAAA"}
        ]}]))
        .unwrap();
        assert_eq!(
            r.messages[0].content,
            vec![
                Part::Image(Image::Url("https://x.test/a.png".into())),
                Part::Image(Image::Base64 {
                    media_type: "image/png".into(),
                    data: "AAAA".into()
                })
            ]
        );
        let err = decode(serde_json::json!([{"role":"user","content":[
            {"type":"input_image","file_id":"file_1"}
        ]}]))
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("input[0].content[0].file_id"));
    }

    #[test]
    fn reasoning_items_become_thinking_with_their_signature() {
        let r = decode(serde_json::json!([
            {"role":"user","content":"q"},
            {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"hmm"}],
             "encrypted_content":"anthropic:sig=="},
            {"type":"reasoning","id":"rs_2","summary":[],"encrypted_content":"gAAAA-openai-blob"}
        ]))
        .unwrap();
        assert_eq!(
            r.messages[1].content,
            vec![Part::Thinking(Thinking {
                text: "hmm".into(),
                signature: Some(Signature {
                    vendor: Vendor::Anthropic,
                    value: "sig==".into()
                })
            })]
        );
    }

    #[test]
    fn unsupported_items_and_parts_name_their_place() {
        let param = |v: Value| decode(v).unwrap_err().param;
        assert_eq!(
            param(serde_json::json!([{"role":"tool","content":"x"}])).as_deref(),
            Some("input[0].role")
        );
        assert_eq!(
            param(serde_json::json!([{"type":"item_reference","id":"msg_1"}])).as_deref(),
            Some("input[0]")
        );
        assert_eq!(
            param(serde_json::json!([{"type":"web_search_call"}])).as_deref(),
            Some("input[0].type")
        );
        assert_eq!(
            param(
                serde_json::json!([{"role":"user","content":[{"type":"input_file","file_id":"f"}]}])
            )
            .as_deref(),
            Some("input[0].content[0].type")
        );
        assert_eq!(
            param(serde_json::json!([{"type":"function_call","name":"f"}])).as_deref(),
            Some("input[0].call_id")
        );
        assert_eq!(param(serde_json::json!(5)).as_deref(), Some("input"));
        assert_eq!(param(serde_json::json!(["x"])).as_deref(), Some("input[0]"));
    }
}
