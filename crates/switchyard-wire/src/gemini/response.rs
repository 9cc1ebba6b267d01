//! Gemini `GenerateContentResponse` → neutral response, and the pieces of it that the stream
//! decoder shares: candidate parts, synthesized call ids, finish reasons and usage.

use crate::neutral::{
    self, ChatResponse, FinishReason, Part, Signature, Thinking, ToolCall, Vendor,
};
use serde_json::Value;
use switchyard_core::Usage;

/// Reads a JSON answer of `:generateContent`. A JSON array (the non-SSE stream mode) is read
/// as its chunks in order. Errors only when the bytes are not JSON at all.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, String> {
    let root: Value =
        serde_json::from_slice(body).map_err(|e| format!("the Gemini answer is not JSON: {e}"))?;
    let chunks: Vec<&Value> = match &root {
        Value::Array(chunks) => chunks.iter().collect(),
        single => vec![single],
    };
    let mut response = ChatResponse::default();
    let mut ids: Option<CallIds> = None;
    let mut saw_call = false;
    let mut finish: Option<&str> = None;
    let mut blocked = false;
    for chunk in chunks {
        if response.id.is_empty() {
            response.id = str_at(chunk, "responseId").unwrap_or_default().to_owned();
        }
        if response.model.is_empty() {
            response.model = str_at(chunk, "modelVersion").unwrap_or_default().to_owned();
        }
        let ids = ids.get_or_insert_with(|| CallIds::new(str_at(chunk, "responseId"), body));
        let candidate = first_candidate(chunk);
        for piece in pieces(candidate, ids) {
            let part = match piece {
                Piece::Text(text) => Part::Text(text),
                Piece::Thought(text, signature) => Part::Thinking(Thinking { text, signature }),
                Piece::Call(call) => {
                    saw_call = true;
                    Part::ToolCall(call)
                }
            };
            push_merged(&mut response.content, part);
        }
        if let Some(reason) = candidate.and_then(|c| str_at(c, "finishReason")) {
            finish = Some(reason);
        }
        blocked |= candidate.is_none() && block_reason(chunk).is_some();
        if let Some(usage) = chunk.get("usageMetadata").and_then(usage) {
            response.usage = Some(usage);
        }
    }
    response.finish = match finish {
        Some(reason) => finish_reason(reason, saw_call),
        None if blocked => FinishReason::ContentFilter,
        None if saw_call => FinishReason::ToolCalls,
        None => FinishReason::Stop,
    };
    Ok(response)
}

/// Appends `part`, joining it to the previous part when both are text (or both thoughts
/// without a signature in between): Gemini splits text into parts arbitrarily.
fn push_merged(content: &mut Vec<Part>, part: Part) {
    match (content.last_mut(), part) {
        (Some(Part::Text(last)), Part::Text(text)) => last.push_str(&text),
        (Some(Part::Thinking(last)), Part::Thinking(next)) if last.signature.is_none() => {
            last.text.push_str(&next.text);
            last.signature = next.signature;
        }
        (_, part) => content.push(part),
    }
}

pub(super) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The candidate we answer with: index 0 (or the first listed). The neutral form has one
/// choice, so other candidates (`candidateCount` > 1) are not returned.
pub(super) fn first_candidate(chunk: &Value) -> Option<&Value> {
    let candidates = chunk.get("candidates")?.as_array()?;
    candidates
        .iter()
        .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        .or_else(|| candidates.first())
}

/// `promptFeedback.blockReason`, set when the prompt itself was blocked (with HTTP 200).
pub(super) fn block_reason(chunk: &Value) -> Option<&str> {
    chunk.get("promptFeedback")?.get("blockReason")?.as_str()
}

/// What a candidate part means to us.
#[derive(Debug, PartialEq)]
pub(super) enum Piece {
    Text(String),
    Thought(String, Option<Signature>),
    Call(ToolCall),
}

/// The meaningful parts of a candidate. Empty text is skipped, and with it a signature riding
/// on an empty or visible text part: Gemini requires signatures back only on function calls.
pub(super) fn pieces(candidate: Option<&Value>, ids: &mut CallIds) -> Vec<Piece> {
    let Some(parts) = candidate
        .and_then(|c| c.get("content"))
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in parts {
        let signature = str_at(part, "thoughtSignature").map(|value| Signature {
            vendor: Vendor::Gemini,
            value: value.to_owned(),
        });
        if let Some(call) = part.get("functionCall").filter(|c| c.is_object()) {
            let name = str_at(call, "name").unwrap_or_default().to_owned();
            let arguments = match call.get("args") {
                Some(args @ Value::Object(_)) => args.to_string(),
                _ => "{}".to_owned(),
            };
            let id = ids.next(str_at(call, "id"));
            out.push(Piece::Call(ToolCall {
                id,
                name,
                arguments,
                signature,
            }));
        } else if let Some(text) = str_at(part, "text") {
            let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
            if thought && (!text.is_empty() || signature.is_some()) {
                out.push(Piece::Thought(text.to_owned(), signature));
            } else if !text.is_empty() {
                out.push(Piece::Text(text.to_owned()));
            }
        }
        // executableCode, codeExecutionResult, inlineData output: no neutral form; skipped.
    }
    out
}

/// Deterministic ids for calls, which Gemini usually leaves unnamed: `call_<seed>_<k>`, where
/// the seed is the `responseId` (or a hash of the body when there is none), so ids differ
/// across turns. A `functionCall.id` from the upstream is used as it is.
#[derive(Debug)]
pub(super) struct CallIds {
    seed: String,
    next: u32,
}

impl CallIds {
    pub(super) fn new(response_id: Option<&str>, fallback: &[u8]) -> CallIds {
        let seed = match response_id.filter(|id| !id.is_empty()) {
            Some(id) => neutral::sanitize_tool_id(id),
            None => format!("{:016x}", fnv1a(fallback)),
        };
        CallIds { seed, next: 0 }
    }

    pub(super) fn next(&mut self, explicit: Option<&str>) -> String {
        let k = self.next;
        self.next += 1;
        match explicit.filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => format!("call_{}_{k}", self.seed),
        }
    }
}

/// FNV-1a: a stable hash with no dependency, for ids only (not security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reference §6.2: `STOP` means tool calls when any call was emitted.
pub(super) fn finish_reason(reason: &str, saw_call: bool) -> FinishReason {
    match reason {
        "STOP" if saw_call => FinishReason::ToolCalls,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "LANGUAGE" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" => {
            FinishReason::ContentFilter
        }
        image if image.starts_with("IMAGE_") => FinishReason::ContentFilter,
        // STOP without calls, MALFORMED_FUNCTION_CALL, OTHER, …: LiteLLM's choice, `stop`.
        _ => FinishReason::Stop,
    }
}

/// `usageMetadata` in the neutral convention (reference §6.4).
pub(super) fn usage(meta: &Value) -> Option<Usage> {
    if !meta.is_object() {
        return None;
    }
    let count = |key: &str| meta.get(key).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = count("thoughtsTokenCount");
    Some(Usage {
        prompt_tokens: count("promptTokenCount").saturating_add(count("toolUsePromptTokenCount")),
        completion_tokens: count("candidatesTokenCount").saturating_add(thoughts),
        cached_tokens: count("cachedContentTokenCount"),
        reasoning_tokens: thoughts,
        ..Usage::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(value: Value) -> ChatResponse {
        decode_response(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn text_thoughts_and_usage() {
        let response = decode(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "plan", "thought": true},
                {"text": "It is "}, {"text": "3°C."},
                {"text": "", "thoughtSignature": "c2ln"}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 8, "thoughtsTokenCount": 64,
                "cachedContentTokenCount": 100, "toolUsePromptTokenCount": 5, "totalTokenCount": 197},
            "modelVersion": "gemini-2.5-flash", "responseId": "abc"
        }));
        assert_eq!(response.id, "abc");
        assert_eq!(response.model, "gemini-2.5-flash");
        assert_eq!(
            response.content,
            vec![
                Part::Thinking(Thinking {
                    text: "plan".into(),
                    signature: None
                }),
                Part::Text("It is 3°C.".into())
            ]
        );
        assert_eq!(response.finish, FinishReason::Stop);
        assert_eq!(
            response.usage,
            Some(Usage {
                prompt_tokens: 125,
                completion_tokens: 72,
                cached_tokens: 100,
                reasoning_tokens: 64,
                ..Usage::default()
            })
        );
    }

    #[test]
    fn calls_get_ids_signatures_and_the_tool_calls_finish() {
        let response = decode(json!({
            "candidates": [{"content": {"parts": [
                {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "b", "id": "given"}}
            ]}, "finishReason": "STOP"}],
            "responseId": "r:1"
        }));
        let Part::ToolCall(first) = &response.content[0] else {
            panic!()
        };
        assert_eq!(first.id, "call_r_1_0");
        assert_eq!(first.arguments, "{\"x\":1}");
        assert_eq!(
            first.signature,
            Some(Signature {
                vendor: Vendor::Gemini,
                value: "c2ln".into()
            })
        );
        let Part::ToolCall(second) = &response.content[1] else {
            panic!()
        };
        assert_eq!(
            (second.id.as_str(), second.arguments.as_str()),
            ("given", "{}")
        );
        assert_eq!(response.finish, FinishReason::ToolCalls);
    }

    #[test]
    fn ids_without_a_response_id_are_stable_per_body() {
        let body =
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "a"}}]}}]});
        let a = decode(body.clone());
        let b = decode(body);
        assert_eq!(a, b);
        assert_eq!(a.finish, FinishReason::ToolCalls);
    }

    #[test]
    fn finish_reasons() {
        for (reason, expected) in [
            ("STOP", FinishReason::Stop),
            ("MAX_TOKENS", FinishReason::Length),
            ("SAFETY", FinishReason::ContentFilter),
            ("RECITATION", FinishReason::ContentFilter),
            ("IMAGE_PROHIBITED_CONTENT", FinishReason::ContentFilter),
            ("MALFORMED_FUNCTION_CALL", FinishReason::Stop),
            ("OTHER", FinishReason::Stop),
        ] {
            assert_eq!(finish_reason(reason, false), expected, "{reason}");
        }
        assert_eq!(finish_reason("MAX_TOKENS", true), FinishReason::Length);
    }

    #[test]
    fn blocked_prompts_and_odd_bodies_do_not_crash() {
        let blocked = decode(
            json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}),
        );
        assert!(blocked.content.is_empty());
        assert_eq!(blocked.finish, FinishReason::ContentFilter);
        assert_eq!(blocked.usage.map(|u| u.prompt_tokens), Some(9));
        let safety = decode(json!({"candidates": [{"finishReason": "SAFETY"}]}));
        assert_eq!(safety.finish, FinishReason::ContentFilter);
        for odd in [
            json!(null),
            json!(3),
            json!({"candidates": null}),
            json!({"candidates": [{"content": {"parts": [1, {"text": 2}]}}]}),
        ] {
            decode(odd);
        }
        assert!(decode_response(b"<html>").is_err());
    }

    #[test]
    fn array_bodies_are_read_as_chunks() {
        let response = decode(json!([
            {"candidates": [{"content": {"parts": [{"text": "a"}]}}], "responseId": "r"},
            {"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS"}]}
        ]));
        assert_eq!(response.content, vec![Part::Text("ab".into())]);
        assert_eq!(response.finish, FinishReason::Length);
    }
}
