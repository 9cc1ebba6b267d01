//! Content logging: whether a deployment may store prompts and completions at all, and what one
//! stored exchange is.
//!
//! The default is that nothing but metadata is stored (`docs/configuration.md`, `[privacy]`).
//! An operator may turn capture on for one key at a time, and only while the deployment's mode
//! is [`ContentLogging::PerKey`]; under [`ContentLogging::Never`] no key captures, whatever its
//! stored flag says.

use crate::catalog::UnixMillis;
use crate::{KeyId, RequestId, UserId};
use serde::{Deserialize, Serialize};

/// How much of a request body, and separately of an answer, one exchange keeps. Bounded so one
/// huge prompt cannot grow the writer's queue or the table without limit; what is cut is marked
/// [`ContentLog::truncated`].
pub const CAPTURE_LIMIT: usize = 1 << 20;

/// The deployment's `privacy.content_logging`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentLogging {
    /// Operators may turn capture on per key; every key starts with it off.
    #[default]
    PerKey,
    /// Capture is impossible: the API refuses to turn it on and the hot path ignores any
    /// stored flag.
    Never,
}

impl ContentLogging {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentLogging::PerKey => "per_key",
            ContentLogging::Never => "never",
        }
    }

    /// Whether a key whose stored flag is `flag` captures under this mode. The one rule the
    /// hot path, the API and the dashboard share.
    pub fn captures(self, flag: bool) -> bool {
        flag && self == ContentLogging::PerKey
    }
}

/// One captured exchange: the request body as received and the answer as sent, each cut at
/// [`CAPTURE_LIMIT`] bytes. Bodies that are not UTF-8 are stored with the invalid bytes
/// replaced (U+FFFD), as every answer this gateway relays is JSON or SSE text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentLog {
    pub request_id: RequestId,
    pub created_at: UnixMillis,
    pub user_id: Option<UserId>,
    pub key_id: Option<KeyId>,
    pub request_body: String,
    /// `None` when no answer body reached the client (the request failed before one).
    pub response_body: Option<String>,
    /// Whether either body was cut at [`CAPTURE_LIMIT`].
    pub truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_key_with_the_flag_on_captures() {
        assert!(ContentLogging::PerKey.captures(true));
        assert!(!ContentLogging::PerKey.captures(false));
        assert!(!ContentLogging::Never.captures(true));
        assert!(!ContentLogging::Never.captures(false));
        assert_eq!(ContentLogging::default(), ContentLogging::PerKey);
    }
}
