//! How an upstream failed, in the client's terms: the error each failure becomes, and whether
//! another attempt may follow.

use crate::error::ApiError;
use crate::observe;
use crate::translate;
use crate::upstream::{ByteStream, FailureKind, Format, UpstreamError};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::RETRY_AFTER;
use http::{HeaderName, HeaderValue, StatusCode};
use std::time::{Duration, Instant};
use switchyard_core::error::ErrorCode;
use switchyard_wire::anthropic;
use switchyard_wire::neutral::ErrorKind;

/// Why a whole body could not be read.
pub(super) enum Collect {
    /// The request's deadline passed: no time is left for another attempt.
    Deadline(ApiError),
    /// The connection failed mid-body.
    Failed(ApiError),
    /// Larger than allowed.
    TooLarge(ApiError),
}

impl Collect {
    pub(super) fn into_error(self) -> ApiError {
        match self {
            Collect::Deadline(e) | Collect::Failed(e) | Collect::TooLarge(e) => e,
        }
    }
}

pub(super) fn upstream_failure(e: &UpstreamError) -> ApiError {
    match e.kind {
        FailureKind::Timeout => {
            observe::upstream_error(&e.provider, "timeout");
            ApiError::new(
                ErrorCode::UpstreamTimeout,
                format!(
                    "The upstream provider `{}` timed out ({:?}).",
                    e.provider, e.phase
                ),
            )
        }
        FailureKind::Transport => {
            observe::upstream_error(&e.provider, "transport");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The upstream provider `{}` could not be reached: {}.",
                    e.provider, e.detail
                ),
            )
        }
    }
}

/// A provider whose stored credential does not open: the request is not sent. The client
/// learns which provider and that an operator must act; the details (key ids, what to do)
/// are for the operator, in the log and the admin API.
pub(super) fn unusable_provider(name: &str) -> ApiError {
    observe::upstream_error(name, "unusable");
    ApiError::new(
        ErrorCode::UpstreamFailed,
        format!(
            "The provider `{name}` cannot be used: its stored credential cannot be opened. \
             An operator must restore its master key or set its API key again."
        ),
    )
}

pub(super) fn total_timeout(name: &str, total: Duration) -> ApiError {
    observe::upstream_error(name, "timeout");
    ApiError::new(
        ErrorCode::UpstreamTimeout,
        format!(
            "The upstream provider `{name}` did not finish within {} ms.",
            total.as_millis()
        ),
    )
}

/// An upstream answered 200 with a body its format's decoder cannot read.
pub(super) fn unreadable_answer(name: &str, why: &str) -> ApiError {
    observe::upstream_error(name, "unreadable");
    ApiError::new(
        ErrorCode::UpstreamFailed,
        format!("The upstream provider `{name}` sent an answer that could not be read: {why}"),
    )
}

/// An upstream answered with an error status: relay its own 4xx (in the client's dialect),
/// hide our credentials' problems, and report its 5xx as a failed or overloaded upstream.
pub(super) fn upstream_status_error(
    name: &str,
    format: Format,
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> ApiError {
    let (info, retry_after) = translate::decode_error(format, status.as_u16(), body);
    let said = if info.message.is_empty() {
        format!("status {}", status.as_u16())
    } else {
        info.message.clone()
    };
    let retry_headers = |mut error: ApiError| {
        for header in [RETRY_AFTER, HeaderName::from_static("retry-after-ms")] {
            if let Some(value) = headers.get(&header) {
                error = error.with_header(header, value.clone());
            }
        }
        if let Some(seconds) = retry_after
            && !headers.contains_key(RETRY_AFTER)
        {
            error = error.with_header(RETRY_AFTER, HeaderValue::from(seconds));
        }
        error
    };
    // Gemini reports a bad key as 400 API_KEY_INVALID; the decoder says what it means.
    let kind = match status.as_u16() {
        400 if info.kind == ErrorKind::Authentication => ErrorKind::Authentication,
        code => match info.kind {
            ErrorKind::Overloaded if code >= 500 || code == 429 => ErrorKind::Overloaded,
            _ => ErrorKind::from_status(code),
        },
    };
    match kind {
        ErrorKind::RateLimit => {
            observe::upstream_error(name, "rate_limited");
            retry_headers(ApiError::new(
                ErrorCode::UpstreamRateLimited,
                format!("The upstream provider `{name}` is rate limiting requests: {said}"),
            ))
        }
        // The upstream rejected *our* provider credentials: the client's key is fine, so
        // relaying a 401 would mislead them. It is an operator problem: a failed upstream.
        ErrorKind::Authentication | ErrorKind::Permission => {
            observe::upstream_error(name, "credentials");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The upstream provider `{name}` rejected the platform's credentials ({}); the operator must check its API key.",
                    status.as_u16()
                ),
            )
        }
        ErrorKind::Overloaded => {
            observe::upstream_error(name, "overloaded");
            retry_headers(ApiError::new(
                ErrorCode::UpstreamOverloaded,
                format!("The upstream provider `{name}` is overloaded: {said}"),
            ))
        }
        ErrorKind::InvalidRequest | ErrorKind::NotFound => {
            observe::upstream_error(name, "rejected");
            let mut error = ApiError::new(ErrorCode::UpstreamRejected, said);
            error.status = status;
            error.param = info.param;
            if format == Format::OpenAi
                && let Some(kind) = openai_type(body)
            {
                error.kind = kind;
            } else if format == Format::Anthropic {
                error.kind = anthropic::error_type(info.kind).to_owned();
            }
            error.body_code = info.code;
            error
        }
        ErrorKind::Timeout | ErrorKind::Server => {
            observe::upstream_error(name, "status");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The upstream provider `{name}` failed with status {}: {said}",
                    status.as_u16()
                ),
            )
        }
    }
}

/// The `type` of an OpenAI-shaped error body, relayed as the upstream wrote it.
fn openai_type(body: &[u8]) -> Option<String> {
    switchyard_wire::openai::UpstreamErrorInfo::parse(body).kind
}

/// Reads a whole upstream body, bounded in size and time.
pub(super) async fn collect(
    mut body: ByteStream,
    limit: usize,
    deadline: Instant,
    name: &str,
    total: Duration,
) -> Result<Bytes, Collect> {
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline.into(), body.next()).await {
            Err(_) => return Err(Collect::Deadline(total_timeout(name, total))),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => return Err(Collect::Failed(upstream_failure(&e))),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    observe::upstream_error(name, "too_large");
                    return Err(Collect::TooLarge(ApiError::new(
                        ErrorCode::UpstreamFailed,
                        format!(
                            "The upstream provider `{name}` sent a response larger than {limit} bytes."
                        ),
                    )));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// How long an upstream asked us to wait (`retry-after-ms`, else `retry-after` in seconds),
/// as carried by the error it became.
pub(super) fn retry_after(error: &ApiError) -> Option<Duration> {
    let header = |name: &str| {
        error
            .headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    header("retry-after-ms")
        .map(|ms| Duration::from_millis(ms as u64))
        .or_else(|| header("retry-after").map(|s| Duration::from_millis((s * 1_000.0) as u64)))
}
