//! Anthropic error responses (wire-formats §4.4): `{"type":"error","error":{"type","message"}}`.

use http::{HeaderValue, StatusCode};
use serde_json::json;

use crate::mock::body::{self, Response};
use crate::mock::faults::Failure;

/// One failure, rendered in Anthropic's error shape.
#[derive(Debug, Clone)]
pub(crate) struct Error {
    pub(crate) status: StatusCode,
    /// `error.type`, such as `invalid_request_error`.
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl Error {
    /// A 400 `invalid_request_error`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
        }
    }

    /// A 401 `authentication_error`.
    pub(crate) fn unauthenticated(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            message: message.into(),
        }
    }

    /// A 404 `not_found_error` for a route the mock does not serve.
    pub(crate) fn unknown_route(method: &http::Method, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "not_found_error",
            message: format!("Not found: {method} {path}"),
        }
    }

    /// The event payload of an in-band stream error, and the body of a whole-response one.
    pub(crate) fn body(&self) -> serde_json::Value {
        json!({"type": "error", "error": {"type": self.kind, "message": self.message}})
    }

    pub(crate) fn into_response(self) -> Response {
        body::json(self.status, &self.body())
    }
}

/// The error every overloaded Anthropic answer carries, as a 529 or in-band in a stream.
pub(crate) fn overloaded() -> Error {
    Error {
        // 529 is a valid status code (three digits, 100 to 999); `from_u16` only refuses others.
        status: StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        kind: "overloaded_error",
        message: "Overloaded".to_owned(),
    }
}

/// A fault's error status in Anthropic's shape.
pub(crate) fn failure(failure: Failure) -> Response {
    let (error, retry) = match failure {
        Failure::ServerError => (
            Error {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "api_error",
                message: "mock: Internal server error".to_owned(),
            },
            false,
        ),
        Failure::Unavailable | Failure::Flaky => (
            Error {
                status: StatusCode::SERVICE_UNAVAILABLE,
                kind: "api_error",
                message: "mock: Service unavailable".to_owned(),
            },
            failure == Failure::Unavailable,
        ),
        Failure::RateLimited => (
            Error {
                status: StatusCode::TOO_MANY_REQUESTS,
                kind: "rate_limit_error",
                message: "mock: Number of request tokens has exceeded your per-minute rate limit"
                    .to_owned(),
            },
            true,
        ),
        Failure::Rejected | Failure::FlatRejected => (
            Error::invalid("mock: this model rejects the request"),
            false,
        ),
        Failure::Overloaded => (overloaded(), false),
    };
    let rate_limited = error.status == StatusCode::TOO_MANY_REQUESTS;
    let mut response = error.into_response();
    let headers = response.headers_mut();
    if retry {
        headers.insert("retry-after", HeaderValue::from_static("1"));
    }
    if rate_limited {
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("0"),
        );
    }
    response
}
