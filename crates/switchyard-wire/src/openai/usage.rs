//! OpenAI's `usage` object, and its conversion to the neutral [`Usage`].

use serde::Deserialize;
use switchyard_core::Usage;

/// `usage` as OpenAI-compatible upstreams send it; every field optional because compatible
/// servers differ.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct CompletionDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// OpenAI counts cached tokens inside `prompt_tokens` and reasoning tokens inside
    /// `completion_tokens`, which is already the neutral convention.
    pub fn to_usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens.unwrap_or(0),
            completion_tokens: self.completion_tokens.unwrap_or(0),
            cached_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            ..Usage::default()
        }
    }
}

/// The `usage` of a whole (non-streamed) response body, if it has one.
pub fn usage_of_response(body: &[u8]) -> Option<Usage> {
    crate::fields::top_level_usage::<WireUsage>(body).map(|u| u.to_usage())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cached_and_reasoning_tokens() {
        let body = br#"{"id":"x","usage":{"prompt_tokens":42,"completion_tokens":17,"total_tokens":59,
            "prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":5}}}"#;
        assert_eq!(
            usage_of_response(body),
            Some(Usage {
                prompt_tokens: 42,
                completion_tokens: 17,
                cached_tokens: 10,
                reasoning_tokens: 5,
                ..Usage::default()
            })
        );
    }

    #[test]
    fn absent_or_null_usage_is_none() {
        assert_eq!(usage_of_response(br#"{"id":"x"}"#), None);
        assert_eq!(usage_of_response(br#"{"usage":null}"#), None);
        assert_eq!(usage_of_response(b"not json"), None);
    }
}
