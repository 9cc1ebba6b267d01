//! Counting tokens when an upstream does not: a cut-off stream, a provider that omits usage.
//!
//! Uses OpenAI's `o200k_base` encoding (tiktoken-rs ships it, no download). Loading it takes a
//! moment, so it is built once, lazily, and warmed at start-up off the request path.

use std::sync::OnceLock;
use switchyard_wire::neutral::{ChatRequest, Part};
use switchyard_wire::openai::Endpoint;
use switchyard_wire::{anthropic, responses};
use tiktoken_rs::CoreBPE;

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Builds the tokenizer now (call from a blocking task at start-up).
pub fn warm_up() {
    let _ = bpe();
}

/// Tokens in `text`. Falls back to OpenAI's rule of thumb (4 bytes a token) if the
/// tokenizer could not be built.
pub fn count(text: &str) -> u64 {
    match bpe() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => text.len().div_ceil(4) as u64,
    }
}

/// OpenAI's documented accounting for chat prompts: each message costs its content plus
/// three tokens of framing (plus one for a `name`), and every reply is primed with three.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_NAME: u64 = 1;
const REPLY_PRIMING: u64 = 3;
/// Tokens counted for an image when the upstream reports no usage: OpenAI's low-detail image.
const IMAGE_TOKENS: u64 = 85;

/// Estimated prompt tokens of a request body in `endpoint`'s dialect.
pub fn estimate_prompt(endpoint: Endpoint, body: &[u8]) -> u64 {
    match endpoint {
        Endpoint::Messages => {
            return anthropic::decode_request(body).map_or(0, |r| estimate_neutral(&r));
        }
        Endpoint::Responses => {
            return responses::decode_request(body).map_or(0, |r| estimate_neutral(&r));
        }
        Endpoint::ChatCompletions | Endpoint::Embeddings => {}
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    match endpoint {
        Endpoint::ChatCompletions => {
            let messages = value.get("messages").and_then(|m| m.as_array());
            let mut total = REPLY_PRIMING;
            for message in messages.into_iter().flatten() {
                total += TOKENS_PER_MESSAGE;
                if let Some(role) = message.get("role").and_then(|r| r.as_str()) {
                    total += count(role);
                }
                if let Some(name) = message.get("name").and_then(|r| r.as_str()) {
                    total += count(name) + TOKENS_PER_NAME;
                }
                total += content_tokens(message.get("content"));
                if let Some(calls) = message.get("tool_calls") {
                    total += count(&calls.to_string());
                }
            }
            if let Some(tools) = value.get("tools") {
                total += count(&tools.to_string());
            }
            total
        }
        Endpoint::Messages | Endpoint::Responses => 0,
        Endpoint::Embeddings => match value.get("input") {
            Some(serde_json::Value::String(s)) => count(s),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => count(s),
                    // A token array is already tokens.
                    serde_json::Value::Array(tokens) => tokens.len() as u64,
                    serde_json::Value::Number(_) => 1,
                    _ => 0,
                })
                .sum(),
            _ => 0,
        },
    }
}

fn content_tokens(content: Option<&serde_json::Value>) -> u64 {
    match content {
        Some(serde_json::Value::String(s)) => count(s),
        Some(serde_json::Value::Array(parts)) => parts
            .iter()
            .map(|part| match part.get("text").and_then(|t| t.as_str()) {
                Some(text) => count(text),
                // Images and audio are priced by their providers' own rules; without usage
                // from the upstream we count a flat, documented 85 tokens (OpenAI's low-detail image).
                None => IMAGE_TOKENS,
            })
            .sum(),
        _ => 0,
    }
}

/// Estimated prompt tokens of a neutral request, by the same accounting as OpenAI chat.
pub fn estimate_neutral(request: &ChatRequest) -> u64 {
    let mut total = REPLY_PRIMING;
    for text in &request.system {
        total += TOKENS_PER_MESSAGE + count(text);
    }
    for message in &request.messages {
        total += TOKENS_PER_MESSAGE;
        for part in &message.content {
            total += match part {
                Part::Text(text) => count(text),
                Part::Image(_) => IMAGE_TOKENS,
                Part::ToolCall(call) => count(&call.name) + count(&call.arguments),
                Part::ToolResult(result) => TOKENS_PER_MESSAGE + count(&result.content),
                Part::Thinking(thinking) => count(&thinking.text),
            };
        }
    }
    for tool in &request.tools {
        total += count(&tool.name) + count(&tool.parameters.to_string());
        if let Some(description) = &tool.description {
            total += count(description);
        }
    }
    total
}

/// The generated text of a non-streamed chat response (content, reasoning and tool calls),
/// for counting when the upstream reported no usage.
pub fn completion_text_of_response(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let mut text = String::new();
    for choice in value
        .get("choices")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
    {
        let Some(message) = choice.get("message") else {
            continue;
        };
        for field in ["content", "reasoning_content"] {
            if let Some(s) = message.get(field).and_then(|c| c.as_str()) {
                text.push_str(s);
            }
        }
        for call in message
            .get("tool_calls")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(function) = call.get("function") {
                for field in ["name", "arguments"] {
                    if let Some(s) = function.get(field).and_then(|c| c.as_str()) {
                        text.push_str(s);
                    }
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_real_tokens() {
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        assert!(count("The quick brown fox jumps over the lazy dog.") >= 9);
    }

    #[test]
    fn chat_prompt_estimate_includes_framing() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hello world"}]}"#;
        // 3 priming + 3 framing + "user" (1) + "hello world" (2)
        assert_eq!(estimate_prompt(Endpoint::ChatCompletions, body), 9);
        let parts = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hello world"}]}]}"#;
        assert_eq!(estimate_prompt(Endpoint::ChatCompletions, parts), 9);
    }

    #[test]
    fn embedding_inputs() {
        assert_eq!(
            estimate_prompt(Endpoint::Embeddings, br#"{"input":"hello world"}"#),
            2
        );
        assert_eq!(
            estimate_prompt(
                Endpoint::Embeddings,
                br#"{"input":["hello world","hello"]}"#
            ),
            3
        );
        assert_eq!(
            estimate_prompt(Endpoint::Embeddings, br#"{"input":[[1,2,3]]}"#),
            3
        );
        assert_eq!(estimate_prompt(Endpoint::Embeddings, b"garbage"), 0);
    }
}
