//! OpenAI error responses: the nested `{"error":{…}}` body OpenAI sends, and the flat body that
//! Mistral and some vLLM versions send instead (wire-formats §1.5).

use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::body::{self, Response};
use super::faults::Failure;

/// One failure, rendered in OpenAI's error shape.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ApiError {
    #[serde(skip)]
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<&'static str>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub(crate) fn invalid(
        message: impl Into<String>,
        param: Option<&str>,
        code: Option<&'static str>,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(str::to_owned),
            code,
        }
    }

    /// A 400 for a required field that is absent.
    pub(crate) fn missing(param: &str) -> Self {
        Self::invalid(
            format!("Missing required parameter: '{param}'."),
            Some(param),
            Some("missing_required_parameter"),
        )
    }

    /// A 400 for a field of the wrong JSON type.
    pub(crate) fn wrong_type(param: &str, expected: &str) -> Self {
        Self::invalid(
            format!("Invalid type for '{param}': expected {expected}."),
            Some(param),
            Some("invalid_type"),
        )
    }

    /// A 400 for a body that is not a JSON object.
    pub(crate) fn not_json() -> Self {
        Self::invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            None,
            None,
        )
    }

    /// A 404 for a route the mock does not serve.
    pub(crate) fn unknown_route(method: &http::Method, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("Invalid URL ({method} {path})"),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// The nested OpenAI body.
    pub(crate) fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: &'a ApiError,
        }
        body::json(self.status, &Envelope { error: &self })
    }

    /// The flat Mistral/vLLM body: `{"object":"error","message":…,"type":…,"param":…,"code":…}`.
    pub(crate) fn into_flat_response(self) -> Response {
        #[derive(Serialize)]
        struct Flat<'a> {
            object: &'static str,
            #[serde(flatten)]
            error: &'a ApiError,
        }
        body::json(
            self.status,
            &Flat {
                object: "error",
                error: &self,
            },
        )
    }
}

/// A fault's error status in OpenAI's shape, with the retry headers OpenAI sends.
pub(crate) fn failure(failure: Failure) -> Response {
    match failure {
        Failure::ServerError => server_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock: the server had an error while processing your request",
        ),
        // OpenAI has no 529; an overloaded engine is its 503.
        Failure::Unavailable | Failure::Overloaded => {
            let mut response = overloaded();
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        }
        Failure::Flaky => overloaded(),
        Failure::RateLimited => rate_limited(),
        Failure::Rejected => ApiError::invalid(
            "mock: this model rejects the request",
            Some("messages"),
            Some("mock_rejected"),
        )
        .into_response(),
        Failure::FlatRejected => {
            ApiError::invalid("mock: flat error", None, None).into_flat_response()
        }
    }
}

fn overloaded() -> Response {
    server_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "mock: the engine is currently overloaded, please try again later",
    )
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
