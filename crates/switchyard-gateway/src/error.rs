//! `ApiError`: every failure the client sees, built from one row of the error-code table and
//! rendered in the caller's dialect: OpenAI's `{"error":{message,type,param,code}}` or
//! Anthropic's `{"type":"error","error":{type,message}}`.

use crate::Body;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use switchyard_core::error::ErrorCode;
use switchyard_core::policy::Denied;
use switchyard_wire::openai::{ErrorBody, ErrorObject, RequestError};

/// The error shape a client expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Chat Completions, Embeddings, Responses and the management API.
    OpenAi,
    /// `/v1/messages`.
    Anthropic,
}

impl Dialect {
    /// The dialect of `endpoint`'s clients.
    pub fn of(endpoint: switchyard_wire::openai::Endpoint) -> Dialect {
        match endpoint {
            switchyard_wire::openai::Endpoint::Messages => Dialect::Anthropic,
            _ => Dialect::OpenAi,
        }
    }
}

/// The `error.type` names Anthropic's API uses.
const ANTHROPIC_TYPES: [&str; 10] = [
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
    "timeout_error",
];

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub status: StatusCode,
    pub message: String,
    pub param: Option<String>,
    /// The `type` in the body; the table's unless an upstream's own error is relayed.
    pub kind: String,
    /// The `code` in the body; the table's unless an upstream's own error is relayed.
    pub body_code: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            status: StatusCode::from_u16(code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            message: message.into(),
            param: None,
            kind: code.kind().to_owned(),
            body_code: Some(code.code().to_owned()),
            headers: Vec::new(),
        }
    }

    pub fn with_param(mut self, param: impl Into<String>) -> ApiError {
        self.param = Some(param.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// The OpenAI-shaped JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorObject {
                message: self.message.clone(),
                kind: self.kind.clone(),
                param: self.param.clone(),
                code: self.body_code.clone(),
            },
        }
    }

    /// Anthropic's `error.type` for this error: a relayed upstream error's own when it is one
    /// of Anthropic's names, else the one its status means.
    pub fn anthropic_type(&self) -> &str {
        if self.code == ErrorCode::UpstreamRejected && ANTHROPIC_TYPES.contains(&self.kind.as_str())
        {
            return &self.kind;
        }
        match self.status.as_u16() {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            504 => "timeout_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// The error as `dialect`'s clients expect it: Anthropic's know an overloaded upstream as
    /// 529. Apply before logging, so the log records the status the client got.
    pub fn in_dialect(mut self, dialect: Dialect) -> ApiError {
        if dialect == Dialect::Anthropic && self.code == ErrorCode::UpstreamOverloaded {
            self.status = StatusCode::from_u16(529).unwrap_or(self.status);
        }
        self
    }

    /// The JSON body in `dialect`.
    pub fn body_json(&self, dialect: Dialect) -> Vec<u8> {
        match dialect {
            Dialect::OpenAi => serde_json::to_vec(&self.body()).unwrap_or_default(),
            Dialect::Anthropic => {
                switchyard_wire::anthropic::error_body(self.anthropic_type(), &self.message)
            }
        }
    }

    pub fn into_response(self) -> Response<Body> {
        self.into_response_for(Dialect::OpenAi)
    }

    pub fn into_response_for(self, dialect: Dialect) -> Response<Body> {
        let this = self.in_dialect(dialect);
        let json = this.body_json(dialect);
        let mut response = Response::new(
            Full::new(Bytes::from(json))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = this.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in this.headers {
            headers.insert(name, value);
        }
        response
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        let code = if e.malformed_json {
            ErrorCode::InvalidJson
        } else {
            ErrorCode::InvalidRequest
        };
        let mut error = ApiError::new(code, e.message);
        error.param = e.param;
        error
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> ApiError {
        let code = match d {
            Denied::Revoked => ErrorCode::KeyRevoked,
            Denied::Expired => ErrorCode::KeyExpired,
            Denied::UserDisabled => ErrorCode::AccountDisabled,
            Denied::ModelNotAllowed(_) => ErrorCode::ModelNotAllowed,
        };
        ApiError::new(code, d.to_string())
    }
}
