//! Step *translate*: how a client's dialect meets its upstream's format.
//!
//! Same format in and out (OpenAI chat or embeddings to an OpenAI-format upstream, Anthropic
//! Messages to an Anthropic upstream) is a pass-through: the body is forwarded with only its
//! `model` rewritten, and the answer's bytes are relayed as they came. Every other pairing goes
//! through the neutral form of `switchyard_wire::neutral`: the client's request is decoded and
//! re-encoded for the upstream, and the answer (JSON, stream events or error) comes back the
//! same way. This module only picks the converters; the formats live in `switchyard-wire`.

use crate::error::ApiError;
use crate::upstream::Format;
use switchyard_core::error::ErrorCode;
use switchyard_wire::neutral::{self, ChatRequest, ChatResponse, ErrorInfo};
use switchyard_wire::openai::{Endpoint, RequestError};
use switchyard_wire::{anthropic, gemini, openai, responses};

/// How one request travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Forward the client's bytes (model renamed) and relay the upstream's bytes.
    PassThrough,
    /// Translate through the neutral form, both ways.
    Translate,
}

/// The plan for `endpoint` served by an upstream speaking `format`; an error when the upstream
/// cannot serve the endpoint at all.
pub fn plan(endpoint: Endpoint, format: Format, model: &str) -> Result<Plan, ApiError> {
    Ok(match (endpoint, format) {
        (Endpoint::ChatCompletions | Endpoint::Embeddings, Format::OpenAi)
        | (Endpoint::Messages, Format::Anthropic) => Plan::PassThrough,
        (Endpoint::Embeddings, Format::Anthropic | Format::Gemini) => {
            return Err(ApiError::new(
                ErrorCode::WrongModelKind,
                format!(
                    "The model `{model}` is served by a provider whose API has no embeddings endpoint Switchyard can call."
                ),
            )
            .with_param("model"));
        }
        _ => Plan::Translate,
    })
}

/// The client's request in the neutral form.
pub fn decode_request(endpoint: Endpoint, body: &[u8]) -> Result<ChatRequest, ApiError> {
    let decoded: Result<ChatRequest, RequestError> = match endpoint {
        Endpoint::ChatCompletions => openai::chat::decode_request(body),
        Endpoint::Messages => anthropic::decode_request(body),
        Endpoint::Responses => responses::decode_request(body),
        Endpoint::Embeddings => Err(neutral::invalid(
            "model",
            "embeddings requests cannot be translated",
        )),
    };
    decoded.map_err(ApiError::from)
}

/// The neutral request as the upstream's body. `default_max_tokens` fills the output limit
/// for formats that require one (Anthropic) when the client set none.
pub fn encode_request(
    format: Format,
    request: &ChatRequest,
    upstream_model: &str,
    default_max_tokens: u64,
) -> Vec<u8> {
    match format {
        Format::OpenAi => openai::chat::encode_request(request, upstream_model),
        Format::Anthropic => anthropic::encode_request(request, upstream_model, default_max_tokens),
        Format::Gemini => gemini::encode_request(request),
    }
}

/// The output limit the upstream will apply: the client's, else the one we inject for formats
/// that require it. `None` means the model's own maximum.
pub fn effective_max_tokens(
    format: Format,
    plan: Plan,
    asked: Option<u64>,
    default: u64,
) -> Option<u64> {
    match (asked, format, plan) {
        (Some(n), _, _) => Some(n),
        (None, Format::Anthropic, Plan::Translate) => Some(default),
        (None, _, _) => None,
    }
}

/// An upstream's complete answer in the neutral form.
pub fn decode_response(format: Format, body: &[u8]) -> Result<ChatResponse, String> {
    match format {
        Format::OpenAi => openai::chat::decode_response(body),
        Format::Anthropic => anthropic::decode_response(body),
        Format::Gemini => gemini::decode_response(body),
    }
}

/// The neutral answer to `request` in the client's dialect. `model` is the client's name for
/// it.
pub fn encode_response(
    endpoint: Endpoint,
    request: &ChatRequest,
    response: &ChatResponse,
    model: &str,
    created_s: i64,
) -> Vec<u8> {
    match endpoint {
        Endpoint::Messages => anthropic::encode_response(response, model),
        Endpoint::Responses => responses::encode_response_for(request, response, model, created_s),
        Endpoint::ChatCompletions | Endpoint::Embeddings => {
            openai::chat::encode_response(response, model, created_s)
        }
    }
}

/// Reads the upstream's stream into neutral events.
pub fn stream_decoder(format: Format) -> Box<dyn neutral::StreamDecoder> {
    match format {
        Format::OpenAi => Box::new(openai::chat::StreamDecoder::new()),
        Format::Anthropic => Box::new(anthropic::StreamDecoder::new()),
        Format::Gemini => Box::new(gemini::StreamDecoder::new()),
    }
}

/// Writes neutral events as the client's stream of an answer to `request`.
pub fn stream_encoder(
    endpoint: Endpoint,
    request: &ChatRequest,
    model: &str,
    created_s: i64,
    include_usage: bool,
) -> Box<dyn neutral::StreamEncoder> {
    match endpoint {
        Endpoint::Messages => Box::new(anthropic::StreamEncoder::new(model)),
        Endpoint::Responses => Box::new(responses::StreamEncoder::for_request(
            request, model, created_s,
        )),
        Endpoint::ChatCompletions | Endpoint::Embeddings => Box::new(
            openai::chat::StreamEncoder::new(model, created_s, include_usage),
        ),
    }
}

/// What an upstream's error body says, and the retry delay it asks for (seconds).
pub fn decode_error(format: Format, status: u16, body: &[u8]) -> (ErrorInfo, Option<u64>) {
    match format {
        Format::OpenAi => (openai::chat::decode_error(status, body), None),
        Format::Anthropic => (anthropic::decode_error(status, body), None),
        Format::Gemini => gemini::decode_error(status, body),
    }
}
