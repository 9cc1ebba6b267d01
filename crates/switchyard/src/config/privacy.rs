//! `[privacy]`: whether prompts and completions may ever be stored.
//!
//! ```toml
//! [privacy]
//! content_logging = "per_key"   # default: operators may turn it on per key; every key starts off
//! # content_logging = "never"   # no key can capture; the API refuses to turn it on
//! ```

use serde::Deserialize;
use switchyard_core::content::ContentLogging;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct PrivacySection {
    content_logging: ContentLogging,
}

impl PrivacySection {
    /// The section has nothing to cross-check: serde already refused any other value.
    pub(super) fn content_logging(&self) -> ContentLogging {
        self.content_logging
    }
}
