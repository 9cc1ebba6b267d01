//! `ApiError`: every failure the client sees, built from one row of the error-code table and
//! rendered in the caller's dialect (OpenAI's shape for now).

use crate::Body;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use switchyard_core::error::ErrorCode;
use switchyard_core::policy::Denied;
use switchyard_wire::openai::{ErrorBody, ErrorObject, RequestError};

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

    pub fn into_response(self) -> Response<Body> {
        let json = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = Response::new(
            Full::new(Bytes::from(json))
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
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
