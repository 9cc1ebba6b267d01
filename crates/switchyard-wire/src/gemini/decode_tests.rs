//! Unit tests of `decode_request`: both spellings of field names, pairing of results with calls,
//! and errors that name the field at fault.

use super::decode_request;
use crate::neutral::{Part, Reasoning, ResponseFormat, Role, ToolChoice};
use serde_json::{Value, json};

fn decode(body: Value) -> crate::neutral::ChatRequest {
    decode_request(body.to_string().as_bytes(), "gemini-2.5-pro").unwrap()
}

fn param_of(body: Value) -> Option<String> {
    decode_request(body.to_string().as_bytes(), "m")
        .unwrap_err()
        .param
}

#[test]
fn snake_case_and_camel_case_read_alike() {
    let camel = decode(json!({
        "systemInstruction": {"parts": [{"text": "s"}]},
        "contents": [{"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}],
        "generationConfig": {"maxOutputTokens": 5, "thinkingConfig": {"thinkingBudget": 9}}
    }));
    let snake = decode(json!({
        "system_instruction": {"parts": [{"text": "s"}]},
        "contents": [{"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": "AA=="}}]}],
        "generation_config": {"max_output_tokens": 5, "thinking_config": {"thinking_budget": 9}}
    }));
    assert_eq!(camel, snake);
    assert_eq!(camel.model, "gemini-2.5-pro");
    assert_eq!(camel.max_tokens, Some(5));
    assert_eq!(
        camel.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(9)
        })
    );
}

#[test]
fn results_answer_the_previous_calls_in_order() {
    let request = decode(json!({"contents": [
        {"parts": [{"text": "go"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {"x": 1}}},
            {"functionCall": {"name": "b", "id": "own"}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "a", "response": {"content": "A"}}},
            {"functionResponse": {"name": "b", "response": {"error": {"why": "no"}}}}
        ]},
        {"role": "user", "parts": [{"text": "more"}]}
    ]}));
    assert_eq!(request.messages.len(), 3);
    assert_eq!(request.messages[2].role, Role::User);
    let ids: Vec<(&str, &str, bool)> = request.messages[2]
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolResult(r) => Some((r.id.as_str(), r.content.as_str(), r.is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        vec![("call_0", "A", false), ("own", "{\"why\":\"no\"}", true)]
    );
    assert_eq!(request.messages[2].content.len(), 3);
}

#[test]
fn choices_formats_and_thinking_levels() {
    let request = decode(json!({
        "contents": [],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}},
        "generationConfig": {"responseMimeType": "application/json", "thinkingConfig": {"thinkingLevel": "HIGH"}}
    }));
    assert_eq!(request.tool_choice, Some(ToolChoice::Required));
    assert_eq!(request.response_format, Some(ResponseFormat::JsonObject));
    assert_eq!(
        request.reasoning.and_then(|r| r.effort).as_deref(),
        Some("high")
    );
}

#[test]
fn errors_name_the_field() {
    assert_eq!(param_of(json!({})).as_deref(), Some("contents"));
    assert_eq!(
        param_of(json!({"contents": [{"role": "system", "parts": []}]})).as_deref(),
        Some("contents[0].role")
    );
    assert_eq!(
        param_of(
            json!({"contents": [{"role": "user", "parts": [{"functionCall": {"name": "f"}}]}]})
        )
        .as_deref(),
        Some("contents[0].parts[0]")
    );
    assert_eq!(
        param_of(
            json!({"contents": [{"parts": [{"functionResponse": {"name": "f", "response": "x"}}]}]})
        )
        .as_deref(),
        Some("contents[0].parts[0].functionResponse.response")
    );
    assert_eq!(
        param_of(json!({"contents": [], "generationConfig": {"stopSequences": ["1", "2", "3", "4", "5", "6"]}}))
            .as_deref(),
        Some("generationConfig.stopSequences")
    );
    assert_eq!(
        param_of(json!({"contents": [{"parts": [{"executableCode": {}}]}]})).as_deref(),
        Some("contents[0].parts[0]")
    );
    let not_json = decode_request(b"{", "m").unwrap_err();
    assert!(not_json.malformed_json);
}
