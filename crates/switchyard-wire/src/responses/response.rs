//! The `response` object: built from a neutral [`ChatResponse`] (and, piece by piece, by the
//! stream encoder), and read back into one for tests and Responses-speaking upstreams.

use super::echo::echo;
use super::input::{signature_from_wire, signature_to_wire};
use crate::neutral::{
    self, ChatRequest, ChatResponse, FinishReason, Part, Signature, Thinking, ToolCall,
};
use serde_json::{Map, Value, json};
use switchyard_core::Usage;

/// The body of a non-streamed answer: a complete `response` object. The request-echo fields
/// hold the API's defaults; [`encode_response_for`] echoes the client's request instead.
pub fn encode_response(response: &ChatResponse, model: &str, created_at: i64) -> Vec<u8> {
    encode(response, model, created_at, &echo(None))
}

/// [`encode_response`], with `tools`, `instructions`, `temperature` and the other request-echo
/// fields taken from the client's decoded `request`.
pub fn encode_response_for(
    request: &ChatRequest,
    response: &ChatResponse,
    model: &str,
    created_at: i64,
) -> Vec<u8> {
    encode(response, model, created_at, &echo(Some(request)))
}

fn encode(
    response: &ChatResponse,
    model: &str,
    created_at: i64,
    echo: &Map<String, Value>,
) -> Vec<u8> {
    let id = response_id(&response.id);
    let mut output = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    let flush = |texts: &mut Vec<&str>, output: &mut Vec<Value>| {
        if !texts.is_empty() {
            let item_id = item_id("msg", &id, output.len());
            output.push(message_item(&item_id, texts, "completed"));
            texts.clear();
        }
    };
    for part in &response.content {
        match part {
            Part::Text(text) => texts.push(text),
            Part::Thinking(thinking) => {
                flush(&mut texts, &mut output);
                let item_id = item_id("rs", &id, output.len());
                output.push(reasoning_item(
                    &item_id,
                    &thinking.text,
                    thinking.signature.as_ref(),
                    "completed",
                ));
            }
            Part::ToolCall(call) => {
                flush(&mut texts, &mut output);
                output.push(call_item(
                    &call_item_id(&call.id),
                    &neutral::client_tool_id(&call.id, call.signature.as_ref()),
                    &call.name,
                    &call.arguments,
                    "completed",
                ));
            }
            // Neither appears in an answer; there is nothing to show for them.
            Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    flush(&mut texts, &mut output);
    let finish = Some(&response.finish);
    let body = envelope(
        &id,
        model,
        created_at,
        output,
        response.usage.as_ref(),
        finish,
        echo,
    );
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `resp_…`: the upstream's id under the prefix Responses clients expect.
pub(super) fn response_id(upstream_id: &str) -> String {
    if upstream_id.starts_with("resp_") {
        return upstream_id.to_owned();
    }
    let tail = neutral::sanitize_tool_id(upstream_id);
    format!("resp_{tail}")
}

/// A deterministic id for output item `index` of response `id` (`msg_…`, `rs_…`).
pub(super) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let tail = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{tail}_{index}")
}

pub(super) fn message_item(id: &str, texts: &[&str], status: &str) -> Value {
    let content: Vec<Value> = texts.iter().map(|text| output_text(text)).collect();
    json!({"type": "message", "id": id, "role": "assistant", "status": status, "content": content})
}

pub(super) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(super) fn reasoning_item(
    id: &str,
    text: &str,
    signature: Option<&Signature>,
    status: &str,
) -> Value {
    let summary: Vec<Value> = if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "summary_text", "text": text})]
    };
    let mut item = json!({"type": "reasoning", "id": id, "summary": summary, "status": status});
    if let Some(signature) = signature {
        item["encrypted_content"] = json!(signature_to_wire(signature));
    }
    item
}

/// The item id of a function call: `fc_` and the neutral call id (without any signature).
pub(super) fn call_item_id(neutral_id: &str) -> String {
    let tail = neutral_id.strip_prefix("call_").unwrap_or(neutral_id);
    format!("fc_{}", neutral::sanitize_tool_id(tail))
}

/// A function-call item; `call_id` is the id the client sees and answers with.
pub(super) fn call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

pub(super) fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        // Writes to the cache are not counted in the neutral usage; the SDK requires the field.
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    })
}

/// The whole `response` object. `finish: None` means still in progress; `echo` holds the
/// request-echo fields (see [`super::echo`]).
pub(super) fn envelope(
    id: &str,
    model: &str,
    created_at: i64,
    output: Vec<Value>,
    usage: Option<&Usage>,
    finish: Option<&FinishReason>,
    echo: &Map<String, Value>,
) -> Value {
    let (status, incomplete) = match finish {
        None => ("in_progress", Value::Null),
        Some(FinishReason::Length) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(FinishReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        Some(_) => ("completed", Value::Null),
    };
    let mut body = json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": output,
        "usage": usage.map(usage_json),
        "incomplete_details": incomplete,
        "error": null,
    });
    if let Value::Object(fields) = &mut body {
        fields.extend(echo.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    body
}

/// Reads a `response` object. Missing or null fields are tolerated; only a body that is not a
/// JSON object is an error.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, String> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| format!("response is not JSON: {e}"))?;
    if !root.is_object() {
        return Err("response is not a JSON object".into());
    }
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let mut content = Vec::new();
    for item in root
        .get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match part.get("type").and_then(Value::as_str) {
                        Some("output_text") => content.push(Part::Text(text(part, "text"))),
                        Some("refusal") => content.push(Part::Text(text(part, "refusal"))),
                        _ => {}
                    }
                }
            }
            Some("reasoning") => {
                let summary: Vec<String> = item
                    .get("summary")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|s| text(s, "text"))
                    .collect();
                let signature = item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .and_then(signature_from_wire);
                content.push(Part::Thinking(Thinking {
                    text: summary.join("\n\n"),
                    signature,
                }));
            }
            Some("function_call") => {
                let (id, signature) = neutral::split_tool_id(&text(item, "call_id"));
                content.push(Part::ToolCall(ToolCall {
                    id,
                    name: text(item, "name"),
                    arguments: text(item, "arguments"),
                    signature,
                }));
            }
            _ => {}
        }
    }
    let reason = root
        .get("incomplete_details")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    let finish = match (root.get("status").and_then(Value::as_str), reason) {
        (_, Some("max_output_tokens")) => FinishReason::Length,
        (_, Some("content_filter")) => FinishReason::ContentFilter,
        _ if content.iter().any(|p| matches!(p, Part::ToolCall(_))) => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    };
    let usage = root.get("usage").filter(|u| u.is_object()).map(|u| {
        let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        Usage {
            prompt_tokens: n(u.get("input_tokens")),
            completion_tokens: n(u.get("output_tokens")),
            cached_tokens: n(u.pointer("/input_tokens_details/cached_tokens")),
            reasoning_tokens: n(u.pointer("/output_tokens_details/reasoning_tokens")),
            ..Usage::default()
        }
    });
    Ok(ChatResponse {
        id: text(&root, "id"),
        model: text(&root, "model"),
        content,
        finish,
        usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neutral::Vendor;

    fn encode(response: &ChatResponse) -> Value {
        serde_json::from_slice(&encode_response(response, "gpt-x", 1_730_000_000)).unwrap()
    }

    #[test]
    fn text_thinking_and_calls_become_output_items() {
        let response = ChatResponse {
            id: "chatcmpl-1".into(),
            model: "up".into(),
            content: vec![
                Part::Thinking(Thinking {
                    text: "hmm".into(),
                    signature: Some(Signature {
                        vendor: Vendor::Anthropic,
                        value: "s".into(),
                    }),
                }),
                Part::Text("Hel".into()),
                Part::Text("lo".into()),
                Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                    signature: None,
                }),
            ],
            finish: FinishReason::ToolCalls,
            usage: Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 5,
                cached_tokens: 2,
                reasoning_tokens: 1,
                ..Usage::default()
            }),
        };
        let body = encode(&response);
        assert_eq!(body["id"], "resp_chatcmpl-1");
        assert_eq!(body["object"], "response");
        assert_eq!(body["model"], "gpt-x");
        assert_eq!(body["status"], "completed");
        assert_eq!(body["output"][0]["type"], "reasoning");
        assert_eq!(body["output"][0]["encrypted_content"], "anthropic:s");
        assert_eq!(body["output"][1]["content"][1]["text"], "lo");
        assert_eq!(body["output"][2]["call_id"], "call_1");
        assert_eq!(body["output"][2]["id"], "fc_1");
        assert_eq!(body["usage"]["total_tokens"], 15);
        assert_eq!(body["usage"]["input_tokens_details"]["cached_tokens"], 2);
        let back = decode_response(&encode_response(&response, "up", 0)).unwrap();
        assert_eq!(back.content, response.content);
        assert_eq!(back.finish, FinishReason::ToolCalls);
        assert_eq!(back.usage, response.usage);
    }

    #[test]
    fn length_and_content_filter_are_incomplete() {
        for (finish, reason) in [
            (FinishReason::Length, "max_output_tokens"),
            (FinishReason::ContentFilter, "content_filter"),
        ] {
            let response = ChatResponse {
                finish: finish.clone(),
                ..ChatResponse::default()
            };
            let body = encode(&response);
            assert_eq!(body["status"], "incomplete");
            assert_eq!(body["incomplete_details"]["reason"], reason);
            let back = decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
            assert_eq!(back.finish, finish);
        }
        let body = encode(&ChatResponse::default());
        assert_eq!(body["incomplete_details"], Value::Null);
        assert_eq!(body["usage"], Value::Null);
    }

    #[test]
    fn gemini_signatures_ride_in_the_call_id() {
        let sig = Signature {
            vendor: Vendor::Gemini,
            value: "AAAA".into(),
        };
        let response = ChatResponse {
            content: vec![Part::ToolCall(ToolCall {
                id: "call_g".into(),
                name: "f".into(),
                arguments: "{}".into(),
                signature: Some(sig.clone()),
            })],
            ..ChatResponse::default()
        };
        let body = encode(&response);
        assert_eq!(
            body["output"][0]["call_id"],
            neutral::client_tool_id("call_g", Some(&sig))
        );
        let back = decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(back.content, response.content);
    }

    #[test]
    fn decoding_tolerates_anything() {
        assert!(decode_response(b"nope").is_err());
        assert!(decode_response(b"[]").is_err());
        let r = decode_response(
            br#"{"output":[{"type":"message","content":null},{"type":7},null],"usage":null}"#,
        )
        .unwrap();
        assert_eq!(r, ChatResponse::default());
    }
}
