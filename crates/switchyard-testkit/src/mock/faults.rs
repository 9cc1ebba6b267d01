//! Fault injection, chosen by the request's `model` name (the table is in the module doc of
//! `mock`). A fault acts in up to two places: before the response head (an error status, a delay,
//! or no answer at all) and in the body (a cut, a missing usage, an in-band error, slow frames).

use std::convert::Infallible;
use std::time::Duration;

use http::{HeaderValue, StatusCode};

use super::body::Response;
use super::error::ApiError;

/// How long `fault-slow-first-byte` waits before the response head.
pub(crate) const SLOW_FIRST_BYTE: Duration = Duration::from_secs(2);
/// The gap between frames under `fault-slow-stream`.
pub(crate) const SLOW_STREAM_GAP: Duration = Duration::from_millis(200);

/// A failure the mock can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    ServerError,
    Unavailable,
    RateLimited,
    Rejected,
    FlatRejected,
    SlowFirstByte,
    Hang,
    CutStream,
    NoUsage,
    StreamError,
    SlowStream,
}

impl Fault {
    pub(crate) const ALL: [Fault; 11] = [
        Fault::ServerError,
        Fault::Unavailable,
        Fault::RateLimited,
        Fault::Rejected,
        Fault::FlatRejected,
        Fault::SlowFirstByte,
        Fault::Hang,
        Fault::CutStream,
        Fault::NoUsage,
        Fault::StreamError,
        Fault::SlowStream,
    ];

    /// The model name that selects this fault.
    pub(crate) fn model(self) -> &'static str {
        match self {
            Fault::ServerError => "fault-500",
            Fault::Unavailable => "fault-503",
            Fault::RateLimited => "fault-429",
            Fault::Rejected => "fault-400",
            Fault::FlatRejected => "fault-flat-400",
            Fault::SlowFirstByte => "fault-slow-first-byte",
            Fault::Hang => "fault-hang",
            Fault::CutStream => "fault-cut-stream",
            Fault::NoUsage => "fault-no-usage",
            Fault::StreamError => "fault-stream-error",
            Fault::SlowStream => "fault-slow-stream",
        }
    }

    /// The fault a request's model selects, if any.
    pub(crate) fn from_model(model: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.model() == model)
    }

    /// Plays the part of the fault that comes before the response head. Returns the whole
    /// response when the fault is an error status; `None` when the normal answer should follow.
    pub(crate) async fn before_head(fault: Option<Fault>) -> Option<Response> {
        match fault? {
            Fault::ServerError => Some(server_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "mock: the server had an error while processing your request",
            )),
            Fault::Unavailable => {
                let mut response = server_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "mock: the engine is currently overloaded, please try again later",
                );
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                Some(response)
            }
            Fault::RateLimited => Some(rate_limited()),
            Fault::Rejected => Some(
                ApiError::invalid(
                    "mock: this model rejects the request",
                    Some("messages"),
                    Some("mock_rejected"),
                )
                .into_response(),
            ),
            Fault::FlatRejected => {
                Some(ApiError::invalid("mock: flat error", None, None).into_flat_response())
            }
            Fault::SlowFirstByte => {
                tokio::time::sleep(SLOW_FIRST_BYTE).await;
                None
            }
            Fault::Hang => {
                // Never answers. The future is dropped when hyper notices the client left, or
                // when the mock stops and aborts the connection.
                let never: Infallible = std::future::pending().await;
                match never {}
            }
            Fault::CutStream | Fault::NoUsage | Fault::StreamError | Fault::SlowStream => None,
        }
    }
}

fn server_error(status: StatusCode, message: &str) -> Response {
    ApiError {
        status,
        message: message.to_owned(),
        kind: "server_error",
        param: None,
        code: None,
    }
    .into_response()
}

fn rate_limited() -> Response {
    let mut response = ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        message: "mock: rate limit reached for requests. Please try again in 1s.".to_owned(),
        kind: "requests",
        param: None,
        code: Some("rate_limit_exceeded"),
    }
    .into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        ("retry-after", "1"),
        ("retry-after-ms", "1000"),
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1s"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
