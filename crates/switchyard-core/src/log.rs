//! The request log: one metadata-only row per inference request.
//!
//! Invariant: no field here can hold prompt or completion text. Adding one needs an explicit
//! operator opt-in (DESIGN.md §4, privacy by default).

use crate::catalog::UnixMillis;
use crate::usage::UsageSource;
use crate::{KeyId, Nanos, RequestId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLog {
    pub id: RequestId,
    /// When the request arrived.
    pub created_at: UnixMillis,
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    /// The endpoint, e.g. `chat.completions` or `embeddings`.
    pub endpoint: String,
    /// The model the client asked for (as given; may be unknown to us).
    pub model: String,
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    /// The channel that served the request (the last one tried when none did).
    pub channel: Option<String>,
    /// The jurisdiction of that channel's provider: where the prompt was processed.
    pub jurisdiction: Option<String>,
    pub stream: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub usage_source: UsageSource,
    /// What the user is charged (what the ledger settles): the provider cost raised by the
    /// markup of the user's price group.
    pub cost: Nanos,
    /// What the provider charges the platform for this request, at the configured prices.
    pub provider_cost: Nanos,
    /// Total time to the last byte, in microseconds.
    pub latency_us: u64,
    /// Time to the first byte of the answer (streams), in microseconds.
    pub ttft_us: Option<u64>,
    /// HTTP status sent to the client.
    pub status: u16,
    /// The error code of the central table when the request failed.
    pub error_code: Option<String>,
    pub client_ip: Option<String>,
}
