//! Token usage of one request, normalised to one convention before anything is priced.

use serde::{Deserialize, Serialize};

/// Tokens one request used, in OpenAI's convention: `prompt_tokens` *includes* cached tokens
/// and `completion_tokens` *includes* reasoning tokens. Every wire format's usage is converted
/// to this form before pricing, so cache tokens are never counted twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    /// Images generated (image endpoints).
    #[serde(default)]
    pub images: u64,
    /// Milliseconds of audio or video processed or generated.
    #[serde(default)]
    pub media_ms: u64,
}

/// Where a usage figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// Reported by the upstream.
    Upstream,
    /// Counted by Switchyard with a tokenizer because the upstream reported none.
    Estimated,
}
