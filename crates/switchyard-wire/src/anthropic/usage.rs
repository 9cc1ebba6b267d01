//! Anthropic's `usage` object and its conversion to and from the neutral [`Usage`].
//!
//! Anthropic's `input_tokens` **excludes** cache tokens: the neutral prompt count is
//! `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`, and the neutral
//! cached count is `cache_read_input_tokens`. `output_tokens` already includes thinking.

use serde::{Deserialize, Serialize};
use switchyard_core::Usage;

/// `usage` as Anthropic sends it; every field optional (a `message_delta` may carry only
/// `output_tokens`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// The neutral usage; absent fields count as 0.
    pub fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: self
                .input_tokens
                .unwrap_or(0)
                .saturating_add(read)
                .saturating_add(created),
            completion_tokens: self.output_tokens.unwrap_or(0),
            cached_tokens: read,
            ..Usage::default()
        }
    }

    /// `self` with the fields `later` states replaced: how a `message_delta` restates counts.
    pub fn updated(self, later: &WireUsage) -> WireUsage {
        WireUsage {
            input_tokens: later.input_tokens.or(self.input_tokens),
            output_tokens: later.output_tokens.or(self.output_tokens),
            cache_creation_input_tokens: later
                .cache_creation_input_tokens
                .or(self.cache_creation_input_tokens),
            cache_read_input_tokens: later
                .cache_read_input_tokens
                .or(self.cache_read_input_tokens),
        }
    }
}

/// The neutral usage in Anthropic's shape, for our answers to Anthropic-dialect clients. The
/// neutral form does not know cache writes, so they are reported inside `input_tokens` and
/// `cache_creation_input_tokens` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reported {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub output_tokens: u64,
}

impl Reported {
    pub fn of(usage: &Usage) -> Reported {
        Reported {
            input_tokens: usage.prompt_tokens.saturating_sub(usage.cached_tokens),
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: usage.cached_tokens,
            output_tokens: usage.completion_tokens,
        }
    }
}

/// The usage of a whole Anthropic response body, read without building a JSON tree (for the
/// pass-through path). `None` when the body is not JSON or has no usage.
pub fn usage_of_response(body: &[u8]) -> Option<Usage> {
    crate::fields::top_level_usage::<WireUsage>(body).map(|u| u.to_usage())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_includes_both_cache_counts() {
        let body = br#"{"id":"msg_1","content":[{"type":"text","text":"hi"}],
            "usage":{"input_tokens":380,"output_tokens":41,"cache_creation_input_tokens":20,"cache_read_input_tokens":100}}"#;
        assert_eq!(
            usage_of_response(body),
            Some(Usage {
                prompt_tokens: 500,
                completion_tokens: 41,
                cached_tokens: 100,
                ..Usage::default()
            })
        );
        assert_eq!(usage_of_response(br#"{"usage":null}"#), None);
        assert_eq!(usage_of_response(b"<html>"), None);
    }

    #[test]
    fn wire_shape_subtracts_cached_tokens() {
        let usage = Usage {
            prompt_tokens: 500,
            completion_tokens: 41,
            cached_tokens: 100,
            ..Usage::default()
        };
        assert_eq!(
            serde_json::to_string(&Reported::of(&usage)).unwrap(),
            r#"{"input_tokens":400,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":41}"#
        );
    }

    #[test]
    fn restated_counts_replace_earlier_ones() {
        let start = WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(1),
            cache_read_input_tokens: Some(5),
            cache_creation_input_tokens: None,
        };
        let delta = WireUsage {
            output_tokens: Some(30),
            ..WireUsage::default()
        };
        let both = start.updated(&delta);
        assert_eq!(both.to_usage().prompt_tokens, 15);
        assert_eq!(both.to_usage().completion_tokens, 30);
    }
}
