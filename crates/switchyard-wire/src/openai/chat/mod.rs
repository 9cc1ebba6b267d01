//! OpenAI Chat Completions to and from the neutral form, in both roles: the dialect of our
//! `/v1/chat/completions` clients (served by Anthropic or Gemini upstreams) and the format of
//! every OpenAI-compatible upstream (serving clients of the other dialects).
//!
//! Same-format traffic never comes here: it takes the pass-through path in
//! [`crate::openai::request`]. Every mapping decision and every dropped field is listed in
//! `docs/translation/openai.md`.

mod read;
mod request;
mod response;
mod stream_decoder;
mod stream_encoder;
mod upstream;

pub use request::decode_request;
pub use response::{decode_response, encode_response};
pub use stream_decoder::StreamDecoder;
pub use stream_encoder::StreamEncoder;
pub use upstream::encode_request;

use crate::neutral::{ErrorInfo, ErrorKind};
use crate::openai::UpstreamErrorInfo;
use serde_json::{Value, json};

/// Reads an OpenAI-compatible upstream's error response (nested or flat body, or no JSON).
pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    error_info(Some(status), body)
}

/// The error in `body`; `status` is `None` for an error sent inside a stream.
fn error_info(status: Option<u16>, body: &[u8]) -> ErrorInfo {
    let info = UpstreamErrorInfo::parse(body);
    let kind = kind_of(status, info.kind.as_deref(), info.code.as_deref());
    let message = info.message.filter(|m| !m.is_empty()).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text: String = text.trim().chars().take(200).collect();
        match (status, text.is_empty()) {
            (Some(status), true) => format!("the upstream answered HTTP {status}"),
            (Some(status), false) => format!("the upstream answered HTTP {status}: {text}"),
            (None, _) => "the upstream reported an error in its stream".to_owned(),
        }
    });
    ErrorInfo {
        kind,
        message,
        param: info.param,
        code: info.code,
    }
}

/// What an error is. A specific `code` says most; then a status that names a kind; then the
/// body's `type`; last, whatever the status suggests. So Gemini's OpenAI surface answering
/// 400 with `invalid_api_key` still reads as an authentication failure.
fn kind_of(status: Option<u16>, kind: Option<&str>, code: Option<&str>) -> ErrorKind {
    let by_code = match code {
        Some("invalid_api_key" | "API_KEY_INVALID") => Some(ErrorKind::Authentication),
        Some("model_not_found") => Some(ErrorKind::NotFound),
        Some("rate_limit_exceeded" | "insufficient_quota" | "RESOURCE_EXHAUSTED") => {
            Some(ErrorKind::RateLimit)
        }
        Some("context_length_exceeded") => Some(ErrorKind::InvalidRequest),
        _ => None,
    };
    if let Some(kind) = by_code {
        return kind;
    }
    if let Some(status) = status
        && matches!(status, 401 | 403 | 404 | 408 | 429 | 503 | 504 | 529)
    {
        return ErrorKind::from_status(status);
    }
    let by_type = match kind {
        Some("invalid_request_error") => Some(ErrorKind::InvalidRequest),
        Some("authentication_error") => Some(ErrorKind::Authentication),
        Some("permission_error" | "permission_denied") => Some(ErrorKind::Permission),
        Some("not_found_error") => Some(ErrorKind::NotFound),
        Some("rate_limit_error" | "requests" | "tokens" | "insufficient_quota") => {
            Some(ErrorKind::RateLimit)
        }
        Some("overloaded_error") => Some(ErrorKind::Overloaded),
        Some("timeout" | "timeout_error") => Some(ErrorKind::Timeout),
        Some("server_error" | "api_error") => Some(ErrorKind::Server),
        _ => None,
    };
    match (by_type, status) {
        (Some(kind), _) => kind,
        (None, Some(status)) => ErrorKind::from_status(status),
        (None, None) => ErrorKind::Server,
    }
}

/// OpenAI's error `type` for a kind, as the gateway's own errors name them.
fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::NotFound => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded | ErrorKind::Timeout | ErrorKind::Server => "api_error",
    }
}

/// The `{message, type, param, code}` object of an OpenAI error body.
fn error_object(error: &ErrorInfo) -> Value {
    json!({
        "message": error.message,
        "type": error_type(error.kind),
        "param": error.param,
        "code": error.code,
    })
}

#[cfg(test)]
mod tests;
