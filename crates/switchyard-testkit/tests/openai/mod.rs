//! A raw OpenAI client for the mock's OpenAI-side test files (hyper, so a cut connection
//! still returns the bytes that came before it).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses some

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use switchyard_testkit::MockUpstream;

/// What came back for one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The connection broke before the body ended.
    pub cut: bool,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The `data:` payloads of an SSE body, in order.
    pub fn frames(&self) -> Vec<String> {
        let text = std::str::from_utf8(&self.body).unwrap();
        text.split("\n\n")
            .filter(|frame| !frame.is_empty())
            .map(|frame| {
                frame
                    .strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data frame: {frame:?}"))
                    .to_owned()
            })
            .collect()
    }

    /// The JSON frames of an SSE body, with a final `[DONE]` required and removed.
    pub fn chunks(&self) -> Vec<Value> {
        let mut frames = self.frames();
        assert_eq!(
            frames.pop().as_deref(),
            Some("[DONE]"),
            "[DONE] must be last"
        );
        frames
            .iter()
            .map(|frame| serde_json::from_str(frame).unwrap())
            .collect()
    }
}

pub async fn send(mock: &MockUpstream, method: Method, path: &str, body: Option<Value>) -> Reply {
    send_as(mock, Some(mock.api_key()), method, path, body).await
}

pub async fn send_as(
    mock: &MockUpstream,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{}{path}", mock.base_url()))
        .header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let bytes = body.map(|body| body.to_string()).unwrap_or_default();
    let response = client
        .request(request.body(Full::new(Bytes::from(bytes))).unwrap())
        .await
        .unwrap();
    let (parts, mut incoming) = response.into_parts();
    let mut body = BytesMut::new();
    let mut cut = false;
    while let Some(frame) = incoming.frame().await {
        match frame {
            Ok(frame) => body.extend_from_slice(&frame.into_data().unwrap_or_default()),
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.freeze(),
        cut,
    }
}

pub async fn chat(mock: &MockUpstream, body: Value) -> Reply {
    send(mock, Method::POST, "/chat/completions", Some(body)).await
}

pub fn ask(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

pub fn streamed(model: &str, prompt: &str, include_usage: bool) -> Value {
    let mut body = ask(model, prompt);
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

pub fn weather_request() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is the weather in Oslo?"}],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {}}}
        ]
    })
}

/// The text a stream spells out across its content deltas.
pub fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|chunk| chunk.pointer("/choices/0/delta/content")?.as_str())
        .collect()
}
