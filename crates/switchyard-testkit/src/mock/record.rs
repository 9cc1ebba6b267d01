//! What the mock received, kept so tests can assert on what the gateway sent upstream.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query, such as `/v1/chat/completions`.
    pub path: String,
    /// The raw query string, if the request had one.
    pub query: Option<String>,
    /// Header names (lowercase) to values; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or `Value::Null` when it was empty or not JSON.
    pub body: Value,
}

impl Recorded {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub(crate) fn from_parts(parts: &http::request::Parts, body: Value) -> Self {
        let mut headers = BTreeMap::<String, String>::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        Self {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body,
        }
    }
}

/// The request log of one mock.
#[derive(Debug)]
pub(crate) struct Recorder {
    keep: bool,
    count: AtomicUsize,
    // A std Mutex, not tokio's: it is held only to push or clone, never across an await.
    requests: Mutex<Vec<Recorded>>,
}

impl Recorder {
    pub(crate) fn new(keep: bool) -> Self {
        Self {
            keep,
            count: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Whether requests are kept; callers skip building a [`Recorded`] when they are not.
    pub(crate) fn keeps(&self) -> bool {
        self.keep
    }

    pub(crate) fn count_one(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn push(&self, request: Recorded) {
        self.lock().push(request);
    }

    pub(crate) fn all(&self) -> Vec<Recorded> {
        self.lock().clone()
    }

    pub(crate) fn last(&self) -> Option<Recorded> {
        self.lock().last().cloned()
    }

    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        // A panic while holding this lock can only come from an allocation failure mid-push; the
        // log is still a valid Vec then, so keep using it rather than poisoning every later test.
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
