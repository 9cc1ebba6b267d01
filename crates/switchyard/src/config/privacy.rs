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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::super::{EMBEDDED_DEFAULT, Sources, load};
    use std::path::PathBuf;
    use switchyard_core::content::ContentLogging;

    fn load_with(privacy: &str, env: &[(&str, &str)]) -> anyhow::Result<ContentLogging> {
        let sources = Sources {
            file: Some((
                PathBuf::from("test.toml"),
                format!("{EMBEDDED_DEFAULT}\n{privacy}"),
            )),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        load(&sources).map(|c| c.content_logging)
    }

    #[test]
    fn per_key_is_the_default_and_never_locks_it() {
        assert_eq!(load_with("", &[]).unwrap(), ContentLogging::PerKey);
        assert_eq!(
            load_with("[privacy]\ncontent_logging = \"never\"", &[]).unwrap(),
            ContentLogging::Never
        );
        assert_eq!(
            load_with("", &[("SWITCHYARD_PRIVACY_CONTENT_LOGGING", "never")]).unwrap(),
            ContentLogging::Never
        );
    }

    #[test]
    fn other_values_and_keys_are_refused_by_name() {
        let error = load_with("[privacy]\ncontent_logging = \"always\"", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("privacy.content_logging"), "{error}");
        let error = load_with("[privacy]\nlog_prompts = true", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("log_prompts"), "{error}");
    }
}
