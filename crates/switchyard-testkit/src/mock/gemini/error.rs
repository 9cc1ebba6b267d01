//! Gemini error responses (wire-formats §5.4): `{"error":{"code","message","status","details"?}}`.

use http::StatusCode;
use serde_json::{Value, json};

use crate::mock::body::{self, Response};
use crate::mock::faults::Failure;

/// One failure, rendered in Google's error shape.
#[derive(Debug, Clone)]
pub(crate) struct Error {
    pub(crate) status: StatusCode,
    /// The gRPC status name, such as `INVALID_ARGUMENT`.
    pub(crate) grpc: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
}

impl Error {
    /// A 400 `INVALID_ARGUMENT`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            grpc: "INVALID_ARGUMENT",
            message: message.into(),
            details: None,
        }
    }

    /// Gemini's answer to a wrong key: a 400, not a 401.
    pub(crate) fn key_invalid() -> Self {
        Self {
            details: Some(json!([{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
            }])),
            ..Self::invalid("API key not valid. Please pass a valid API key.")
        }
    }

    /// Gemini's answer to no key at all.
    pub(crate) fn key_missing() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            grpc: "PERMISSION_DENIED",
            message: "Method doesn't allow unregistered callers (callers without established \
                      identity). Please use API Key or other form of API consumer identity to \
                      call this API."
                .to_owned(),
            details: None,
        }
    }

    /// A 404 for a route or method the mock does not serve.
    pub(crate) fn unknown_route(method: &http::Method, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            grpc: "NOT_FOUND",
            message: format!("mock: no such method: {method} {path}"),
            details: None,
        }
    }

    /// `{"error":{…}}`.
    pub(crate) fn body(&self) -> Value {
        let mut error = json!({
            "code": self.status.as_u16(),
            "message": self.message,
            "status": self.grpc,
        });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }

    /// The response; `in_array` wraps the body in a JSON array, as Gemini does for errors of
    /// `streamGenerateContent` without `alt=sse`.
    pub(crate) fn into_response(self, in_array: bool) -> Response {
        let body = self.body();
        if in_array {
            body::json(self.status, &json!([body]))
        } else {
            body::json(self.status, &body)
        }
    }

    /// The failure a fault plays, in Google's shape.
    pub(crate) fn of(failure: Failure) -> Self {
        match failure {
            Failure::ServerError => Self {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                grpc: "INTERNAL",
                message: "mock: an internal error has occurred".to_owned(),
                details: None,
            },
            Failure::Unavailable | Failure::Overloaded | Failure::Flaky => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                grpc: "UNAVAILABLE",
                message: "mock: the model is overloaded. Please try again later.".to_owned(),
                details: None,
            },
            Failure::RateLimited => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                grpc: "RESOURCE_EXHAUSTED",
                message: "mock: you exceeded your current quota".to_owned(),
                details: Some(json!([{
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": "1s",
                }])),
            },
            Failure::Rejected | Failure::FlatRejected => {
                Self::invalid("mock: this model rejects the request")
            }
        }
    }

    /// The in-band error `fault-stream-error` sends mid-stream.
    pub(crate) fn mid_stream() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            grpc: "INTERNAL",
            message: "mock: the upstream failed mid-stream".to_owned(),
            details: None,
        }
    }
}
