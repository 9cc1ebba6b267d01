//! Capturing a request's content for `content_logs`, for keys an operator turned content
//! logging on for (`switchyard_core::content`).
//!
//! The pipeline decides once, right after authentication, whether a request captures; only
//! then does its [`crate::relay::Pending`] own a [`Capture`]. Every other request carries
//! `None` and pays one branch per relayed frame: no copy, no allocation. The request body is
//! kept as the reference-counted `Bytes` the pipeline already holds; answer bytes are copied
//! up to [`CAPTURE_LIMIT`]. Turning the bytes into text happens in the log writer, off the
//! request path.

use bytes::{Bytes, BytesMut};
use switchyard_core::content::{CAPTURE_LIMIT, ContentLog};
use switchyard_core::log::RequestLog;

/// The content of one request being captured.
#[derive(Debug)]
pub(crate) struct Capture {
    request: Bytes,
    /// `None` until an answer body is sent.
    response: Option<BytesMut>,
    truncated: bool,
}

impl Capture {
    pub fn new(request: Bytes) -> Capture {
        let truncated = request.len() > CAPTURE_LIMIT;
        Capture {
            request: request.slice(..request.len().min(CAPTURE_LIMIT)),
            response: None,
            truncated,
        }
    }

    /// Appends bytes sent to the client, up to the bound.
    pub fn answer(&mut self, sent: &[u8]) {
        let response = self.response.get_or_insert_with(BytesMut::new);
        let room = CAPTURE_LIMIT.saturating_sub(response.len());
        if sent.len() > room {
            self.truncated = true;
        }
        response.extend_from_slice(&sent[..sent.len().min(room)]);
    }

    /// What the writer stores, under the request's finished log row.
    pub fn finish(self, row: &RequestLog) -> Captured {
        Captured {
            row: ContentLog {
                request_id: row.id,
                created_at: row.created_at,
                user_id: row.user_id,
                key_id: row.key_id,
                request_body: String::new(),
                response_body: None,
                truncated: self.truncated,
            },
            request: self.request,
            response: self.response.map(BytesMut::freeze),
        }
    }
}

/// A finished capture on its way to the writer, its bodies still bytes.
#[derive(Debug)]
pub struct Captured {
    row: ContentLog,
    request: Bytes,
    response: Option<Bytes>,
}

impl Captured {
    /// The row to store. Bodies are JSON or SSE text; anything else (or a cut in the middle of
    /// a character) keeps its valid text, with U+FFFD for the rest.
    pub fn into_row(self) -> ContentLog {
        ContentLog {
            request_body: String::from_utf8_lossy(&self.request).into_owned(),
            response_body: self
                .response
                .map(|r| String::from_utf8_lossy(&r).into_owned()),
            ..self.row
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_at_the_bound_and_marked() {
        let mut small = Capture::new(Bytes::from_static(b"{\"a\":1}"));
        small.answer(b"data: x\n\n");
        small.answer(b"data: y\n\n");
        assert!(!small.truncated);
        assert_eq!(
            small.response.as_deref().unwrap(),
            b"data: x\n\ndata: y\n\n"
        );

        let big = Bytes::from(vec![b'a'; CAPTURE_LIMIT + 10]);
        let mut cut = Capture::new(big);
        assert!(cut.truncated);
        assert_eq!(cut.request.len(), CAPTURE_LIMIT);
        cut.answer(&vec![b'b'; CAPTURE_LIMIT - 1]);
        cut.answer(b"cd");
        assert_eq!(cut.response.as_ref().unwrap().len(), CAPTURE_LIMIT);
        assert_eq!(cut.response.as_ref().unwrap().last(), Some(&b'c'));
    }

    #[test]
    fn an_answer_cut_is_marked_even_when_the_request_fit() {
        let mut capture = Capture::new(Bytes::from_static(b"{}"));
        capture.answer(&vec![b'x'; CAPTURE_LIMIT + 1]);
        assert!(capture.truncated);
    }
}
