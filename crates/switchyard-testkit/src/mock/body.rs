//! Response bodies: whole JSON documents, and paced byte sequences that may end in a cut.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use serde::Serialize;

/// The body type of every mock response.
pub(crate) type Body = UnsyncBoxBody<Bytes, Cut>;

/// The response type of every mock handler.
pub(crate) type Response = http::Response<Body>;

/// The body error that makes hyper drop the connection mid-body, on purpose.
#[derive(Debug)]
pub(crate) struct Cut;

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mock upstream cut the connection (fault injection)")
    }
}

impl std::error::Error for Cut {}

/// One step of a paced body.
#[derive(Debug)]
pub(crate) enum Step {
    /// Send these bytes as one body frame.
    Send(Bytes),
    /// Drop the connection without finishing the body.
    Cut,
}

/// A body that sends `steps` in order, waiting `gap` between two of them.
pub(crate) fn paced(steps: Vec<Step>, gap: Duration) -> Body {
    let frames = futures_util::stream::unfold(steps.into_iter(), move |mut steps| async move {
        let step = steps.next()?;
        // Before every frame, the first included: a client can leave after the head and
        // before any output, which is what "gone after 0 chunks" tests need.
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        let frame = match step {
            Step::Send(bytes) => Ok(Frame::data(bytes)),
            Step::Cut => {
                // hyper writes what it has buffered only once the body is pending; without
                // this yield the head and the frames before the cut would be lost with it.
                tokio::task::yield_now().await;
                Err(Cut)
            }
        };
        Some((frame, steps))
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A complete body of `bytes`.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON response, serialized compactly.
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let mut response = http::Response::new(full(to_json(value)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON response whose head announces the whole document but whose body stops halfway and
/// drops the connection, as an upstream that dies mid-body does.
pub(crate) fn cut_json(value: &impl Serialize) -> Response {
    let mut whole = Bytes::from(to_json(value));
    let length = whole.len();
    let half = whole.split_to(length / 2);
    let mut response =
        http::Response::new(paced(vec![Step::Send(half), Step::Cut], Duration::ZERO));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// Compact JSON bytes of `value`.
pub(crate) fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing the mock's own derive(Serialize) types and serde_json::Values cannot fail:
    // every map key is a string and no Serialize impl here returns an error.
    serde_json::to_vec(value).unwrap_or_default()
}

/// A `text/event-stream` response that sends `steps` with `gap` between them.
pub(crate) fn event_stream(steps: Vec<Step>, gap: Duration) -> Response {
    let mut response = http::Response::new(paced(steps, gap));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
