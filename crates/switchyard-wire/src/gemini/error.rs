//! Gemini's error body (`{"error":{code,message,status,details}}`, bare or wrapped in an array)
//! → neutral error, plus the retry delay that `RetryInfo` carries in place of a header.

use crate::neutral::{ErrorInfo, ErrorKind};
use serde_json::Value;

/// Reads an error answer. Never fails: a body that is not Gemini's shape still yields an error
/// of the kind its HTTP status suggests.
pub fn decode_error(status: u16, body: &[u8]) -> (ErrorInfo, Option<u64>) {
    let root = serde_json::from_slice::<Value>(body).ok();
    let error = root.as_ref().and_then(|root| match root {
        Value::Array(items) => items.iter().find_map(|item| item.get("error")),
        other => other.get("error"),
    });
    match error {
        Some(error) if error.is_object() => error_info(status, error),
        _ => {
            let text = String::from_utf8_lossy(body);
            let message = match text.trim() {
                "" => format!("the upstream answered HTTP {status} with no body"),
                text => text.chars().take(500).collect(),
            };
            (
                ErrorInfo {
                    kind: ErrorKind::from_status(status),
                    message,
                    ..ErrorInfo::default()
                },
                None,
            )
        }
    }
}

/// The contents of an `error` object; `status` is the HTTP status (0 inside a stream).
pub(super) fn error_info(status: u16, error: &Value) -> (ErrorInfo, Option<u64>) {
    let details: &[Value] = error
        .get("details")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let rpc_status = error.get("status").and_then(Value::as_str);
    let reason = details
        .iter()
        .find_map(|d| d.get("reason").and_then(Value::as_str));
    let http = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(status);
    let kind = match (rpc_status, reason) {
        (_, Some("API_KEY_INVALID")) | (Some("UNAUTHENTICATED"), _) => ErrorKind::Authentication,
        (Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE"), _) => {
            ErrorKind::InvalidRequest
        }
        (Some("PERMISSION_DENIED"), _) => ErrorKind::Permission,
        (Some("NOT_FOUND"), _) => ErrorKind::NotFound,
        (Some("RESOURCE_EXHAUSTED"), _) => ErrorKind::RateLimit,
        (Some("UNAVAILABLE"), _) => ErrorKind::Overloaded,
        (Some("DEADLINE_EXCEEDED"), _) => ErrorKind::Timeout,
        (Some("INTERNAL"), _) => ErrorKind::Server,
        _ => ErrorKind::from_status(http),
    };
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map_or_else(
            || format!("the upstream answered HTTP {http}"),
            str::to_owned,
        );
    // A `BadRequest` detail names the offending field.
    let param = details.iter().find_map(|d| {
        d.get("fieldViolations")?
            .as_array()?
            .first()?
            .get("field")?
            .as_str()
            .map(str::to_owned)
    });
    let retry = details.iter().find_map(|d| {
        d.get("retryDelay")
            .and_then(Value::as_str)
            .and_then(parse_delay)
    });
    let info = ErrorInfo {
        kind,
        message,
        param,
        code: reason.or(rpc_status).map(str::to_owned),
    };
    (info, retry)
}

/// A protobuf `Duration` in JSON ("30s", "1.5s", "0.2s") as whole seconds, rounded up so a
/// client never retries early.
fn parse_delay(delay: &str) -> Option<u64> {
    let seconds: f64 = delay.trim().strip_suffix('s')?.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    // Bounded to a day, so the float-to-integer cast is exact and cannot saturate.
    Some(seconds.min(86_400.0).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(status: u16, body: Value) -> (ErrorInfo, Option<u64>) {
        decode_error(status, body.to_string().as_bytes())
    }

    #[test]
    fn statuses_map_to_kinds() {
        for (status, rpc, kind) in [
            (400, "INVALID_ARGUMENT", ErrorKind::InvalidRequest),
            (400, "FAILED_PRECONDITION", ErrorKind::InvalidRequest),
            (403, "PERMISSION_DENIED", ErrorKind::Permission),
            (404, "NOT_FOUND", ErrorKind::NotFound),
            (429, "RESOURCE_EXHAUSTED", ErrorKind::RateLimit),
            (503, "UNAVAILABLE", ErrorKind::Overloaded),
            (504, "DEADLINE_EXCEEDED", ErrorKind::Timeout),
            (500, "INTERNAL", ErrorKind::Server),
        ] {
            let (info, retry) = decode(
                status,
                json!({"error": {"code": status, "message": "m", "status": rpc}}),
            );
            assert_eq!(info.kind, kind, "{rpc}");
            assert_eq!(info.code.as_deref(), Some(rpc));
            assert_eq!(retry, None);
        }
    }

    #[test]
    fn an_invalid_key_is_an_authentication_error() {
        let (info, _) = decode(
            400,
            json!([{"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}]),
        );
        assert_eq!(info.kind, ErrorKind::Authentication);
        assert_eq!(info.code.as_deref(), Some("API_KEY_INVALID"));
        assert_eq!(info.message, "API key not valid.");
    }

    #[test]
    fn retry_delay_and_field_violations() {
        let (info, retry) = decode(
            429,
            json!({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}]}}),
        );
        assert_eq!((info.kind, retry), (ErrorKind::RateLimit, Some(30)));
        assert_eq!(parse_delay("1.2s"), Some(2));
        assert_eq!(parse_delay("soon"), None);
        let (info, _) = decode(
            400,
            json!({"error": {"status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "contents[0]"}]}]}}),
        );
        assert_eq!(info.param.as_deref(), Some("contents[0]"));
        assert_eq!(info.message, "the upstream answered HTTP 400");
    }

    #[test]
    fn bodies_of_any_shape_do_not_crash() {
        let (info, _) = decode_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(
            (info.kind, info.message.as_str()),
            (ErrorKind::Server, "<html>Bad Gateway</html>")
        );
        assert_eq!(decode_error(401, b"").0.kind, ErrorKind::Authentication);
        assert_eq!(
            decode(429, json!({"error": "x"})).0.kind,
            ErrorKind::RateLimit
        );
        assert_eq!(
            decode(429, json!({"error": {"details": [1, null]}})).0.kind,
            ErrorKind::RateLimit
        );
    }
}
