//! Shared helpers of the integration suites.

#![allow(dead_code)]

use serde_json::{Value, json};

/// Generates one `#[tokio::test]` per store backend for each named async test function taking
/// a `Backend`, so every suite runs against SQLite and PostgreSQL with one body.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(switchyard_store::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(switchyard_store::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn chat(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

pub fn chat_stream(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": true})
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// Asserts an OpenAI-shaped error with the given status and code; returns the error object.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "x-request-id on errors too"
    );
    let body: Value = response.json().await.expect("an error body is JSON");
    let error = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("OpenAI error shape: {body}"));
    assert_eq!(error["code"], code, "code in {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message in {body}"
    );
    assert!(
        error.get("type").is_some() && error.get("param").is_some(),
        "type and param in {body}"
    );
    error
}

pub fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// A model whose answer to "hi" from the mock (1 prompt token, 4 completion tokens) costs
/// exactly $0.01: input is free, output $2,500 per million tokens ($0.0025 a token), so a
/// request reserves $0.0025 × its `max_tokens`.
pub const CENT_MODEL: &str = r#"
[[models]]
name = "cent-chat"
provider = "mock"
upstream_model = "mock-gpt"
input_usd_per_mtok = 0
output_usd_per_mtok = 2500
"#;
