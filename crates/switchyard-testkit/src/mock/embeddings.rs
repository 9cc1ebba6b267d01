//! `POST /v1/embeddings`: deterministic unit vectors derived from a hash of each input, as a
//! float array or, when `encoding_format` is `"base64"`, as base64 of little-endian f32s (§3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

use super::body::{self, Response};
use super::error::ApiError;
use super::faults::{Fault, Plan};
use super::route::Ctx;

/// Dimensions of a vector when the request does not ask for `dimensions`.
pub(crate) const DEFAULT_DIMENSIONS: usize = 8;
const MAX_DIMENSIONS: u64 = 4096;
const MAX_INPUTS: usize = 2048;

/// One input, as the hash sees it.
#[derive(Debug)]
enum Input {
    Text(String),
    Tokens(Vec<u64>),
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<EmbeddingUsage>,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Encoded,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Encoded {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

pub(crate) async fn handle(ctx: &Ctx<'_>, body: Option<&Value>) -> Response {
    let body = match body.and_then(Value::as_object) {
        Some(body) => body,
        None => return ApiError::not_json().into_response(),
    };
    let parsed = model(body).and_then(|model| {
        Ok((
            model,
            inputs(body)?,
            dimensions(body)?,
            base64_wanted(body)?,
        ))
    });
    let (model, inputs, dimensions, base64) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return error.into_response(),
    };
    let plan = Plan::of(model);
    if let Some(failure) = plan.before_head(ctx.turn).await {
        return super::error::failure(failure);
    }
    let fault = plan.fault;

    let prompt_tokens = inputs.iter().map(Input::tokens).sum();
    let data = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = vector(input, dimensions);
            Embedding {
                object: "embedding",
                index,
                embedding: if base64 {
                    Encoded::Base64(encode(&vector))
                } else {
                    Encoded::Float(vector)
                },
            }
        })
        .collect();
    let list = List {
        object: "list",
        data,
        model,
        usage: (fault != Some(Fault::NoUsage)).then_some(EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        }),
    };
    if fault == Some(Fault::CutStream) {
        body::cut_json(&list)
    } else {
        body::json(StatusCode::OK, &list)
    }
}

fn model(body: &Map<String, Value>) -> Result<&str, ApiError> {
    match body.get("model") {
        Some(Value::String(model)) => Ok(model),
        Some(_) => Err(ApiError::wrong_type("model", "a string")),
        None => Err(ApiError::invalid(
            "you must provide a model parameter",
            Some("model"),
            None,
        )),
    }
}

/// `input` as string | string[] | int[] | int[][].
fn inputs(body: &Map<String, Value>) -> Result<Vec<Input>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "'$.input' is invalid. Please check the API reference: \
             https://platform.openai.com/docs/api-reference.",
            Some("input"),
            None,
        )
    };
    let inputs = match body.get("input") {
        None | Some(Value::Null) => return Err(ApiError::missing("input")),
        Some(Value::String(text)) => vec![Input::Text(text.clone())],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|text| Input::Text(text.to_owned()))
            .collect(),
        Some(Value::Array(items)) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|item| tokens(item).ok_or_else(invalid))
            .collect::<Result<_, _>>()?,
        Some(tokens_or_not @ Value::Array(_)) => vec![tokens(tokens_or_not).ok_or_else(invalid)?],
        Some(_) => return Err(invalid()),
    };
    let empty = |input: &Input| match input {
        Input::Text(text) => text.is_empty(),
        Input::Tokens(tokens) => tokens.is_empty(),
    };
    if inputs.is_empty() || inputs.len() > MAX_INPUTS || inputs.iter().any(empty) {
        return Err(invalid());
    }
    Ok(inputs)
}

fn tokens(value: &Value) -> Option<Input> {
    let items = value.as_array()?;
    items
        .iter()
        .map(Value::as_u64)
        .collect::<Option<Vec<_>>>()
        .map(Input::Tokens)
}

fn dimensions(body: &Map<String, Value>) -> Result<usize, ApiError> {
    match body.get("dimensions") {
        None | Some(Value::Null) => Ok(DEFAULT_DIMENSIONS),
        Some(value) => value
            .as_u64()
            .filter(|n| (1..=MAX_DIMENSIONS).contains(n))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::invalid(
                    format!(
                        "Invalid 'dimensions': expected an integer from 1 to {MAX_DIMENSIONS}."
                    ),
                    Some("dimensions"),
                    Some("invalid_value"),
                )
            }),
    }
}

fn base64_wanted(body: &Map<String, Value>) -> Result<bool, ApiError> {
    match body.get("encoding_format").map(Value::as_str) {
        None | Some(Some("float")) => Ok(false),
        Some(Some("base64")) => Ok(true),
        Some(_) => Err(ApiError::invalid(
            "Invalid value for 'encoding_format': expected 'float' or 'base64'.",
            Some("encoding_format"),
            Some("invalid_value"),
        )),
    }
}

impl Input {
    /// Words of a text, or the number of token ids.
    fn tokens(&self) -> u64 {
        match self {
            Input::Text(text) => text.split_whitespace().count().max(1) as u64,
            Input::Tokens(tokens) => tokens.len() as u64,
        }
    }

    /// FNV-1a over a tagged encoding, so `"1"` and `[1]` hash apart.
    fn hash(&self) -> u64 {
        let mut hash = Fnv(0xcbf2_9ce4_8422_2325);
        match self {
            Input::Text(text) => {
                hash.write(b"t");
                hash.write(text.as_bytes());
            }
            Input::Tokens(tokens) => {
                hash.write(b"n");
                for token in tokens {
                    hash.write(&token.to_le_bytes());
                }
            }
        }
        hash.0
    }
}

struct Fnv(u64);

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A unit-length vector seeded by the input's hash (SplitMix64 for the components).
fn vector(input: &Input, dimensions: usize) -> Vec<f32> {
    let mut state = input.hash();
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    // 53 random bits mapped onto [-1, 1).
    let raw: Vec<f64> = (0..dimensions)
        .map(|_| (next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0)
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 {
        let mut unit = vec![0.0; dimensions];
        unit[0] = 1.0;
        return unit;
    }
    raw.iter().map(|x| (x / norm) as f32).collect()
}

fn encode(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::{Input, vector};

    #[test]
    fn vectors_are_unit_length_and_depend_on_the_input() {
        let a = vector(&Input::Text("hello".into()), 8);
        let b = vector(&Input::Text("hello".into()), 8);
        let c = vector(&Input::Tokens(vec![1, 2]), 8);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let norm: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}
