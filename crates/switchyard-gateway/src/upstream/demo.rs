//! The built-in offline provider. It answers in OpenAI's wire format, in process, so a fresh
//! install works without internet or provider keys, and so the rest of the pipeline (metering,
//! streaming, logging) is exercised exactly as with a real upstream.
//!
//! Answers are deterministic: the same prompt always gets the same text. Token counts come
//! from the real tokenizer, so usage looks like a real model's.

use super::{ByteStream, UpstreamRequest, UpstreamResponse};
use crate::meter;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_wire::openai::Endpoint;

/// Dimensions of `demo-embed` vectors.
pub const EMBEDDING_DIMENSIONS: usize = 256;

const SENTENCES: &[&str] = &[
    "Hello from Switchyard's offline demo model.",
    "This answer was generated locally, without calling any provider.",
    "Point your OpenAI SDK at this gateway and change only the base URL.",
    "Every request is metered in tokens and priced in integer nano-dollars.",
    "The request log keeps metadata only: never your prompt, never this reply.",
    "Add a provider to the configuration file to reach real models.",
    "Streaming works word by word, just like a hosted model.",
    "The same prompt always gets the same answer, which makes tests repeatable.",
    "Keys are stored as keyed hashes, so a database dump reveals none of them.",
    "Ask anything; the demo model will politely answer with a few sentences.",
    "Switchyard speaks the OpenAI wire format to clients and to upstreams.",
    "Latency added by the gateway is measured in microseconds.",
];

#[derive(Debug, Clone)]
pub struct Demo {
    word_delay: Duration,
}

impl Demo {
    pub fn new(word_delay: Duration) -> Demo {
        Demo { word_delay }
    }

    pub fn send(&self, request: UpstreamRequest) -> UpstreamResponse {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match request.endpoint {
            Endpoint::Embeddings => embeddings(&request.body, &body),
            // The demo speaks OpenAI's format: every chat dialect reaches it translated.
            Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Responses => {
                self.chat(&request.body, &body, request.stream)
            }
        }
    }

    fn chat(&self, raw: &[u8], body: &Value, stream: bool) -> UpstreamResponse {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("demo-chat")
            .to_owned();
        let prompt = last_user_text(body);
        let seed = fnv1a(prompt.as_bytes());
        let limit = body
            .get("max_completion_tokens")
            .or_else(|| body.get("max_tokens"))
            .and_then(Value::as_u64);
        let (answer, finish) = compose(seed, limit);
        let prompt_tokens = meter::estimate_prompt(Endpoint::ChatCompletions, raw);
        let completion_tokens = meter::count(&answer);
        let usage = json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0}
        });
        let id = format!("chatcmpl-demo{:016x}", seed);
        let created = 1_735_689_600; // fixed, so answers are byte-for-byte repeatable
        if !stream {
            let response = json!({
                "id": id, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": null},
                             "logprobs": null, "finish_reason": finish}],
                "usage": usage,
            });
            return json_response(StatusCode::OK, &response);
        }
        let include_usage = body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let chunk = |delta: Value, finish: Value| {
            let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
            if include_usage {
                c["usage"] = Value::Null;
            }
            sse(&c)
        };
        let mut frames = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        frames.extend(words(&answer).map(|w| chunk(json!({"content": w}), Value::Null)));
        frames.push(chunk(json!({}), json!(finish)));
        if include_usage {
            frames.push(sse(
                &json!({"id": id, "object": "chat.completion.chunk", "created": created,
                                    "model": model, "choices": [], "usage": usage}),
            ));
        }
        frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let delay = self.word_delay;
        let body: ByteStream = futures_util::stream::iter(frames.into_iter().enumerate())
            .then(move |(i, frame)| async move {
                if i > 0 && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(frame)
            })
            .boxed();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        UpstreamResponse {
            status: StatusCode::OK,
            headers,
            body,
        }
    }
}

fn embeddings(raw: &[u8], body: &Value) -> UpstreamResponse {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("demo-embed");
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            vec![Value::Array(items.clone()).to_string()]
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        _ => vec![],
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(EMBEDDING_DIMENSIONS, |d| {
            (d as usize).clamp(1, EMBEDDING_DIMENSIONS)
        });
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embed(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = meter::estimate_prompt(Endpoint::Embeddings, raw);
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

/// A deterministic unit vector for `text`.
fn embed(text: &str, dims: usize) -> Vec<f32> {
    let mut state = fnv1a(text.as_bytes());
    let raw: Vec<f32> = (0..dims)
        .map(|_| {
            // splitmix64: a tiny, well-mixed generator seeded by the text.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    raw.into_iter().map(|x| x / norm).collect()
}

/// Three to five sentences chosen by `seed`, cut to `limit` tokens if given.
fn compose(seed: u64, limit: Option<u64>) -> (String, &'static str) {
    let count = 3 + (seed % 3) as usize;
    let mut answer = String::new();
    for i in 0..count {
        let pick = (seed.rotate_left(i as u32 * 7) as usize + i * 5) % SENTENCES.len();
        if !answer.is_empty() {
            answer.push(' ');
        }
        answer.push_str(SENTENCES[pick]);
    }
    match limit {
        Some(limit) if meter::count(&answer) > limit => {
            let mut cut = String::new();
            for w in words(&answer) {
                if meter::count(&format!("{cut}{w}")) > limit {
                    break;
                }
                cut.push_str(w);
            }
            (cut, "length")
        }
        _ => (answer, "stop"),
    }
}

/// Words with their leading space, as a model streams them.
fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let skip = rest.len() - rest.trim_start().len();
        let end = rest[skip..].find(' ').map_or(rest.len(), |i| i + skip);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

fn last_user_text(body: &Value) -> String {
    let messages = body.get("messages").and_then(Value::as_array);
    let last_user = messages
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    match last_user.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn sse(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

fn json_response(status: StatusCode, value: &Value) -> UpstreamResponse {
    let bytes = Bytes::from(value.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    UpstreamResponse {
        status,
        headers,
        body: futures_util::stream::once(async move { Ok(bytes) }).boxed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_their_spaces() {
        let joined: String = words("Hello there,  world!").collect();
        assert_eq!(joined, "Hello there,  world!");
        assert_eq!(words("a b").collect::<Vec<_>>(), vec!["a", " b"]);
    }

    #[test]
    fn answers_are_deterministic_and_limited() {
        assert_eq!(compose(42, None), compose(42, None));
        assert_ne!(compose(1, None).0, compose(2, None).0);
        let (cut, finish) = compose(42, Some(5));
        assert_eq!(finish, "length");
        assert!(meter::count(&cut) <= 5);
    }

    #[test]
    fn embeddings_are_unit_vectors() {
        let v = embed("hello", 16);
        let norm: f32 = v.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(v, embed("hello", 16));
        assert_ne!(v, embed("hellp", 16));
    }
}
