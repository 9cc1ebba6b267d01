//! The dashboard's files, compiled in with `include_str!` so the binary is the whole install.
//! Each carries an ETag of its content, computed once on first use.

use sha2::{Digest, Sha256};
use std::sync::OnceLock;

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
    etag: OnceLock<String>,
}

impl Asset {
    const fn new(path: &'static str, content_type: &'static str, body: &'static str) -> Asset {
        Asset {
            path,
            content_type,
            body,
            etag: OnceLock::new(),
        }
    }

    pub fn etag(&self) -> &str {
        self.etag
            .get_or_init(|| format!("\"{}\"", digest(self.body)))
    }
}

fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The page every dashboard URL answers with; `{{lang}}`, `{{dir}}` and `{{v}}` are filled in.
pub const SHELL: &str = include_str!("web/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

macro_rules! assets {
    ($($path:literal => $kind:expr),* $(,)?) => {
        [$(Asset::new($path, $kind, include_str!(concat!("web/", $path)))),*]
    };
}

pub static ASSETS: [Asset; 22] = assets![
    "app.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "js/main.js" => JS,
    "js/core.js" => JS,
    "js/chart.js" => JS,
    "js/pages/auth.js" => JS,
    "js/pages/overview.js" => JS,
    "js/pages/keys.js" => JS,
    "js/pages/usage.js" => JS,
    "js/pages/billing.js" => JS,
    "js/pages/models.js" => JS,
    "js/pages/playground.js" => JS,
    "js/pages/settings.js" => JS,
    "js/pages/data.js" => JS,
    "js/pages/admin.js" => JS,
    "js/pages/catalog.js" => JS,
    "js/pages/system.js" => JS,
    "i18n/en.json" => JSON,
    "i18n/zh.json" => JSON,
    "i18n/ru.json" => JSON,
    "i18n/ko.json" => JSON,
    "i18n/tr.json" => JSON,
];

pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// One tag for the whole set, put in the shell's asset URLs so a browser that kept an old
/// shell open fetches matching modules after an upgrade.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let all: String = ASSETS.iter().map(Asset::etag).collect();
        digest(&all)
    })
}
