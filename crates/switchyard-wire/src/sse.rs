//! An incremental Server-Sent Events decoder that keeps each event's raw bytes.
//!
//! Upstream bytes arrive in arbitrary pieces. The decoder splits them into events (blocks
//! separated by a blank line, LF or CRLF), exposes the `event:` name and the joined `data:`
//! text for inspection, and keeps the event's original bytes so a pass-through can forward it
//! unchanged. Comment lines (`: keep-alive`) are events with no data.

use bytes::{Buf, Bytes, BytesMut};

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event exactly as received, including its terminating blank line.
    pub raw: Bytes,
    /// The `event:` field, if any.
    pub name: Option<String>,
    /// The `data:` lines joined with `\n`; `None` when the event had no data line.
    pub data: Option<String>,
}

/// Largest event we buffer before giving up on the stream (a protection against an upstream
/// that never sends a blank line).
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The stream sent an event larger than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge;

#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    /// How far `buf` has been scanned for an event boundary, so a slow trickle is not
    /// rescanned from the start on every piece.
    scanned: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, if one is buffered.
    pub fn next_event(&mut self) -> Result<Option<Event>, EventTooLarge> {
        match find_boundary(&self.buf, self.scanned) {
            Some(end) => {
                self.scanned = 0;
                let raw = self.buf.split_to(end).freeze();
                Ok(Some(parse_event(raw)))
            }
            None => {
                if self.buf.len() > MAX_EVENT_BYTES {
                    return Err(EventTooLarge);
                }
                // Re-check the last 3 bytes next time: a boundary may straddle two pieces.
                self.scanned = self.buf.len().saturating_sub(3);
                Ok(None)
            }
        }
    }

    /// What is left when the stream ends: an unterminated final event, if any.
    pub fn finish(&mut self) -> Option<Event> {
        if self.buf.iter().all(u8::is_ascii_whitespace) {
            self.buf.clear();
            return None;
        }
        let raw = self.buf.split().freeze();
        Some(parse_event(raw))
    }

    /// Bytes buffered but not yet returned as an event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The end (exclusive) of the first event in `buf`: the index after a blank line.
fn find_boundary(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            // "\n\n" or "\n\r\n" ends an event.
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        } else if buf[i] == b'\r' && buf.get(i + 1) == Some(&b'\r') {
            // Bare CR line endings ("\r\r").
            return Some(i + 2);
        }
        i += 1;
    }
    None
}

fn parse_event(mut raw: Bytes) -> Event {
    let text = String::from_utf8_lossy(&raw);
    let mut name = None;
    let mut data: Option<String> = None;
    for line in text.split(['\n', '\r']) {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => name = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    // Leading stray newlines are not part of any event; keep `raw` as received otherwise.
    while raw.first() == Some(&b'\n') && raw.len() > 1 {
        raw.advance(1);
    }
    Event { raw, name, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_events(pieces: &[&[u8]]) -> Vec<Event> {
        let mut d = Decoder::new();
        let mut out = vec![];
        for p in pieces {
            d.push(p);
            while let Some(e) = d.next_event().unwrap() {
                out.push(e);
            }
        }
        out.extend(d.finish());
        out
    }

    #[test]
    fn splits_lf_and_crlf_events() {
        let events = all_events(&[b"data: {\"a\":1}\n\ndata: [DONE]\r\n\r\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data.as_deref(), Some("{\"a\":1}"));
        assert_eq!(&events[0].raw[..], b"data: {\"a\":1}\n\n");
        assert_eq!(events[1].data.as_deref(), Some("[DONE]"));
    }

    #[test]
    fn named_events_multiline_data_and_comments() {
        let events =
            all_events(&[b": keep-alive\n\nevent: message_start\ndata: {\"x\":\ndata: 1}\n\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, None);
        assert_eq!(events[1].name.as_deref(), Some("message_start"));
        assert_eq!(events[1].data.as_deref(), Some("{\"x\":\n1}"));
    }

    #[test]
    fn unterminated_tail_is_returned_by_finish() {
        let events = all_events(&[b"data: a\n\ndata: partial"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].data.as_deref(), Some("partial"));
    }

    /// An event as a server might write it.
    #[derive(Debug, Clone)]
    struct GeneratedEvent {
        name: Option<String>,
        data: Vec<String>,
        comment: Option<String>,
        crlf: bool,
    }

    impl GeneratedEvent {
        fn render(&self) -> String {
            let eol = if self.crlf { "\r\n" } else { "\n" };
            let mut out = String::new();
            if let Some(comment) = &self.comment {
                out.push_str(&format!(":{comment}{eol}"));
            }
            if let Some(name) = &self.name {
                out.push_str(&format!("event: {name}{eol}"));
            }
            for line in &self.data {
                out.push_str(&format!("data: {line}{eol}"));
            }
            out.push_str(eol);
            out
        }

        fn expected(&self) -> (Option<String>, Option<String>) {
            let data = (!self.data.is_empty()).then(|| self.data.join("\n"));
            (self.name.clone(), data)
        }
    }

    fn generated_event() -> impl Strategy<Value = GeneratedEvent> {
        (
            prop::option::of("[a-z_]{1,12}"),
            prop::collection::vec("[^\r\n]{0,16}", 0..4),
            prop::option::of("[^\r\n]{0,12}"),
            any::<bool>(),
        )
            .prop_map(|(name, data, comment, crlf)| GeneratedEvent {
                name,
                data,
                comment,
                crlf,
            })
            // An event with no line at all would be a lone blank line, which is no event.
            .prop_filter("an event has a line", |e| {
                e.name.is_some() || !e.data.is_empty() || e.comment.is_some()
            })
    }

    proptest! {
        /// However the bytes are cut into pieces, the same events come out.
        #[test]
        fn piece_boundaries_do_not_matter(cuts in prop::collection::vec(0usize..120, 0..8)) {
            let stream: &[u8] = b"data: {\"id\":1}\n\n: ping\n\nevent: e\r\ndata: two\r\n\r\ndata: [DONE]\n\n";
            let whole = all_events(&[stream]);
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % stream.len()).collect();
            points.sort_unstable();
            let mut pieces = vec![];
            let mut last = 0;
            for p in points { pieces.push(&stream[last..p]); last = p; }
            pieces.push(&stream[last..]);
            let cut = all_events(&pieces);
            prop_assert_eq!(whole, cut);
        }

        /// Generated events (names, multi-line data, comments, LF or CRLF) all come out, in
        /// order and unchanged, whatever the piece boundaries.
        #[test]
        fn no_event_is_lost(
            events in prop::collection::vec(generated_event(), 0..12),
            cuts in prop::collection::vec(any::<usize>(), 0..16),
        ) {
            let mut stream = Vec::new();
            for event in &events {
                stream.extend_from_slice(event.render().as_bytes());
            }
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            points.sort_unstable();
            let mut pieces = vec![];
            let mut last = 0;
            for p in points { pieces.push(&stream[last..p]); last = p; }
            pieces.push(&stream[last..]);
            let got: Vec<(Option<String>, Option<String>)> =
                all_events(&pieces).into_iter().map(|e| (e.name, e.data)).collect();
            let want: Vec<(Option<String>, Option<String>)> =
                events.iter().map(GeneratedEvent::expected).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let mut d = Decoder::new();
            d.push(&bytes);
            while let Ok(Some(_)) = d.next_event() {}
            let _ = d.finish();
        }
    }
}
