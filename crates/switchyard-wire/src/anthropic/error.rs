//! Anthropic's error body: reading an upstream's, writing ours for Anthropic-dialect clients.

use crate::neutral::{ErrorInfo, ErrorKind};
use serde::Serialize;
use serde_json::Value;

/// Anthropic's `error.type` for a kind of failure.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimit => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Server => "api_error",
    }
}

/// The kind an Anthropic `error.type` names, if it is one we know.
fn kind_of(error_type: &str) -> Option<ErrorKind> {
    Some(match error_type {
        "invalid_request_error" | "request_too_large" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" | "billing_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "rate_limit_error" => ErrorKind::RateLimit,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        "api_error" => ErrorKind::Server,
        _ => return None,
    })
}

/// The error an in-band `event: error` frame reports (its HTTP status is long gone).
pub(crate) fn in_band(error_type: Option<&str>, message: Option<&str>) -> ErrorInfo {
    ErrorInfo {
        kind: error_type.and_then(kind_of).unwrap_or(ErrorKind::Server),
        message: message
            .filter(|m| !m.is_empty())
            .unwrap_or("the upstream reported an error mid-stream")
            .to_owned(),
        param: None,
        code: error_type.map(str::to_owned),
    }
}

/// `{"type":"error","error":{"type":..,"message":..}}`.
pub fn error_body(error_type: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&Body::new(error_type, message)).unwrap_or_default()
}

/// Anthropic's error body, fields in the order Anthropic writes them.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Inner<'a>,
}

#[derive(Debug, Serialize)]
struct Inner<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

impl<'a> Body<'a> {
    pub(crate) fn new(error_type: &'a str, message: &'a str) -> Body<'a> {
        Body {
            kind: "error",
            error: Inner {
                kind: error_type,
                message,
            },
        }
    }
}

/// Longest piece of a non-JSON error body quoted in the message.
const QUOTE_LIMIT: usize = 200;

/// Reads an Anthropic upstream's error body. Anything that is not Anthropic's JSON shape (a
/// Cloudflare 413 HTML page, an empty body) still yields a kind from the status and a message
/// quoting what the body says. An unknown `error.type` also defers to the status.
pub fn decode_error(status: u16, body: &[u8]) -> ErrorInfo {
    let Some(mut info) = decode_json(body) else {
        return ErrorInfo {
            kind: ErrorKind::from_status(status),
            message: describe_text(status, body),
            param: None,
            code: (status == 413).then(|| "request_too_large".to_owned()),
        };
    };
    if info.code.as_deref().and_then(kind_of).is_none() {
        info.kind = ErrorKind::from_status(status);
    }
    if info.message.is_empty() {
        info.message = format!("the upstream answered HTTP {status} with no error message");
    }
    info
}

/// A message for an error body that is not Anthropic's JSON: an HTML page's `<title>`, else
/// the start of the text with its whitespace collapsed.
fn describe_text(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let title = text
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| title);
    let words: Vec<&str> = title.unwrap_or(&text).split_whitespace().collect();
    let quoted: String = words.join(" ").chars().take(QUOTE_LIMIT).collect();
    match (quoted.is_empty(), status) {
        (true, _) => format!("the upstream answered HTTP {status} with no error details"),
        (false, 413) => format!("the request is too large for the upstream ({quoted})"),
        (false, _) => format!("the upstream answered HTTP {status}: {quoted}"),
    }
}

/// The info an Anthropic-shaped body gives; `None` for anything else.
fn decode_json(body: &[u8]) -> Option<ErrorInfo> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let (kind_text, message) = match error {
        Value::Object(inner) => (
            inner.get("type").and_then(Value::as_str),
            inner.get("message").and_then(Value::as_str),
        ),
        Value::String(message) => (None, Some(message.as_str())),
        _ => return None,
    };
    Some(ErrorInfo {
        // Replaced by the status's kind when the type is unknown.
        kind: kind_text.and_then(kind_of).unwrap_or(ErrorKind::Server),
        message: message.unwrap_or_default().to_owned(),
        param: None,
        code: kind_text.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_anthropic_errors() {
        let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
        let info = decode_error(529, body);
        assert_eq!(info.kind, ErrorKind::Overloaded);
        assert_eq!(info.message, "Overloaded");
        assert_eq!(info.code.as_deref(), Some("overloaded_error"));
    }

    #[test]
    fn tolerates_html_and_empty_bodies() {
        let info = decode_error(
            413,
            b"<html><head><title>413 Request Entity Too Large</title></head><body>nginx</body></html>",
        );
        assert_eq!(info.kind, ErrorKind::InvalidRequest);
        assert_eq!(
            info.message,
            "the request is too large for the upstream (413 Request Entity Too Large)"
        );
        assert_eq!(info.code.as_deref(), Some("request_too_large"));
        let info = decode_error(502, b"");
        assert_eq!(info.kind, ErrorKind::Server);
        assert!(info.message.contains("502"));
        let info = decode_error(429, br#"{"error":{"type":"something_new"}}"#);
        assert_eq!(info.kind, ErrorKind::RateLimit);
    }

    #[test]
    fn every_kind_has_a_type_that_reads_back() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::Permission,
            ErrorKind::NotFound,
            ErrorKind::RateLimit,
            ErrorKind::Overloaded,
            ErrorKind::Timeout,
            ErrorKind::Server,
        ] {
            let body = error_body(error_type(kind), "m");
            assert_eq!(decode_error(500, &body).kind, kind);
        }
        assert_eq!(
            String::from_utf8(error_body("rate_limit_error", "slow down")).unwrap(),
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
        );
    }
}
