//! The web dashboard: one HTML shell, a few ES modules, a style sheet and the language
//! catalogues, all compiled into the binary (no CDN, no build step, no Node).
//!
//! The pages hold no data of their own: every figure comes from the management API
//! (`/api/...`), so whatever the dashboard does is scriptable with a key. The server's part is
//! small on purpose: pick a language for the first paint and serve files with validators.
//!
//! **Boundary:** nothing here reads the store. A page's server time is the shell's (rendered
//! once per language, then shared) plus the API calls it makes, which is what the page-speed
//! benchmark measures.

mod assets;
pub mod lang;
pub(crate) mod notice;

use crate::AppState;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::LazyLock;

/// The dashboard's routes, merged into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/app/") }))
        .route("/app", get(|| async { Redirect::to("/app/") }))
        .route("/app/", get(shell))
        .route("/app/{*page}", get(shell))
        .route("/assets/{*file}", get(asset))
        // The emailed links (see `api::auth`) land here; the pages live under `/app/`.
        .route("/verify-email", get(emailed_link("verify-email")))
        .route("/reset-password", get(emailed_link("reset-password")))
        .route("/privacy", get(notice::page))
}

/// The security headers of every dashboard answer. The shell runs only our own scripts and
/// styles (no inline code), talks only to this origin and may not be framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The shell in `lang` (one of [`lang::LANGUAGES`]): its only variables are the language and
/// the assets' version, so each language's page is rendered once and shared.
fn rendered_shell(lang: &str) -> Bytes {
    static SHELLS: LazyLock<Vec<(&'static str, Bytes)>> = LazyLock::new(|| {
        lang::LANGUAGES
            .iter()
            .map(|lang| {
                let page = assets::SHELL
                    .replace("{{lang}}", lang)
                    .replace("{{dir}}", "ltr")
                    .replace("{{v}}", assets::version());
                (*lang, Bytes::from(page))
            })
            .collect()
    });
    SHELLS
        .iter()
        .find(|(rendered, _)| *rendered == lang)
        .or_else(|| SHELLS.first())
        .map(|(_, page)| page.clone())
        .unwrap_or_default()
}

async fn shell(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let body = rendered_shell(lang::choose(query.as_deref(), &headers));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = assets::find(&file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let etag = asset.etag();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (
            header::ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
        // Revalidated on every load: a 304 costs one round trip on the loopback of a
        // self-hosted install, and an upgrade can never leave a stale module behind.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body,
    )
        .into_response()
}

/// Sends an emailed link on to its page under `/app/`, keeping the token in the query.
fn emailed_link(page: &'static str) -> impl Fn(RawQuery) -> std::future::Ready<Redirect> + Clone {
    move |RawQuery(query): RawQuery| {
        let target = match query {
            Some(q) => format!("/app/{page}?{q}"),
            None => format!("/app/{page}"),
        };
        std::future::ready(Redirect::to(&target))
    }
}

#[cfg(test)]
mod tests {
    use super::assets::{ASSETS, find};
    use super::lang::LANGUAGES;
    use serde_json::{Map, Value};
    use std::collections::BTreeSet;
    use std::path::Path;

    fn catalogue(lang: &str) -> Map<String, Value> {
        let asset = find(&format!("i18n/{lang}.json")).expect("a catalogue per language");
        serde_json::from_str(asset.body).expect("catalogues are JSON objects")
    }

    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    /// Each language's shell is rendered whole: its `lang`, the assets' version, no
    /// placeholder left; an unknown language gets English.
    #[test]
    fn the_shell_is_rendered_per_language() {
        for lang in LANGUAGES {
            let page = String::from_utf8(super::rendered_shell(lang).to_vec()).unwrap();
            assert!(page.contains(&format!("lang=\"{lang}\"")), "{lang}: {page}");
            assert!(page.contains(super::assets::version()), "{lang}");
            assert!(!page.contains("{{"), "{lang}: a placeholder is left");
        }
        assert_eq!(super::rendered_shell("xx"), super::rendered_shell("en"));
    }

    /// Every language has every string, with the same `{placeholders}` as English.
    #[test]
    fn catalogues_match_english() {
        let english = catalogue("en");
        for lang in LANGUAGES {
            let other = catalogue(lang);
            let want: BTreeSet<_> = english.keys().collect();
            let have: BTreeSet<_> = other.keys().collect();
            assert_eq!(
                want.difference(&have).collect::<Vec<_>>(),
                Vec::<&&String>::new(),
                "{lang} lacks these strings"
            );
            assert_eq!(
                have.difference(&want).collect::<Vec<_>>(),
                Vec::<&&String>::new(),
                "{lang} has strings English lacks"
            );
            for (key, text) in &english {
                let theirs = other[key].as_str().unwrap_or_default();
                assert!(!theirs.trim().is_empty(), "{lang}: `{key}` is empty");
                assert_eq!(
                    placeholders(text.as_str().unwrap_or_default()),
                    placeholders(theirs),
                    "{lang}: `{key}` has other placeholders than English"
                );
            }
        }
    }

    /// Every `t("key")` in the scripts names a string of the catalogue: no visible text is
    /// left untranslated by a typo.
    #[test]
    fn every_key_the_scripts_use_exists() {
        let english = catalogue("en");
        let mut missing = Vec::new();
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let source = asset.body;
            for (at, _) in source.match_indices("t(\"") {
                // `t(` as a call of its own, not the end of `get(` or `at(`.
                let before = source[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '.' {
                    continue;
                }
                let rest = &source[at + 3..];
                let key = &rest[..rest.find('"').unwrap_or(0)];
                if !english.contains_key(key) {
                    missing.push(format!("{}: {key}", asset.path));
                }
            }
        }
        assert!(missing.is_empty(), "strings not in en.json: {missing:#?}");
    }

    /// Every script parses as an ES module (Node's `--check`, which parses without running),
    /// so a syntax error fails here, naming its file and line, before a browser test meets a
    /// blank page. Each is checked as a `.mjs` copy: Node reads `.js` as CommonJS.
    #[test]
    fn every_script_parses() {
        let dir = std::env::temp_dir().join(format!("switchyard-scripts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut errors = Vec::new();
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let copy = dir.join(asset.path.replace('/', "__").replace(".js", ".mjs"));
            std::fs::write(&copy, asset.body).unwrap();
            let checked = std::process::Command::new("node")
                .arg("--check")
                .arg(&copy)
                .output()
                .unwrap_or_else(|e| {
                    panic!("`node` runs this test (Debian: apt install nodejs): {e}")
                });
            if !checked.status.success() {
                errors.push(format!(
                    "{}: {}",
                    asset.path,
                    String::from_utf8_lossy(&checked.stderr)
                ));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(errors.is_empty(), "scripts that do not parse: {errors:#?}");
    }

    /// Every file under `web/` is served, and every module a script imports exists, so no
    /// page can fail on a 404 for its own code.
    #[test]
    fn every_file_is_served_and_every_import_resolves() {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let relative = path.strip_prefix(root).unwrap();
                    out.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/web");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        for file in files.iter().filter(|f| *f != "index.html") {
            assert!(find(file).is_some(), "web/{file} is not in ASSETS");
        }
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let dir = Path::new(asset.path).parent().unwrap();
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                let target = line
                    .rsplit("from \"")
                    .next()
                    .unwrap()
                    .trim_end_matches("\";");
                let joined = dir.join(target);
                let mut parts: Vec<&str> = Vec::new();
                for part in joined.iter().map(|p| p.to_str().unwrap()) {
                    match part {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        other => parts.push(other),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    find(&resolved).is_some(),
                    "{} imports {resolved}",
                    asset.path
                );
            }
        }
        let pages = find("js/main.js").unwrap().body;
        for page in pages.split("page: \"").skip(1) {
            let name = &page[..page.find('"').unwrap()];
            assert!(
                find(&format!("js/pages/{name}")).is_some(),
                "no page module {name}"
            );
        }
    }
}
