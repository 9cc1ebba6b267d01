//! OpenAI Chat Completions translations from fixture files (`tests/fixtures/openai/`), locked
//! down by snapshots.
//!
//! The fixture's name prefix says what it is: `request_*` a client's body (decoded to neutral,
//! then encoded for an OpenAI-compatible upstream), `invalid_*` a client's body that must be
//! refused, `response_*` an upstream's `chat.completion` (decoded, then encoded for a client),
//! `stream_*.sse` the bytes of an upstream's stream (decoded, then encoded for a client that
//! asked for usage), `error_<status>_*` an upstream's error body.

// A test fails loudly on a missing or unreadable fixture; that is what unwrap is for here.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
mod common;

use common::{decode_stream, fixtures, pretty};
use switchyard_wire::neutral::StreamEncoder as _;
use switchyard_wire::openai::chat;

/// The client's name for the model, and the time, in everything we write to clients.
const CLIENT_MODEL: &str = "client-model";
const CREATED: i64 = 1_730_000_000;

#[test]
fn requests_decode_and_encode() {
    for (name, path) in fixtures("openai", "request_") {
        let body = std::fs::read(&path).unwrap();
        let neutral = chat::decode_request(&body).unwrap();
        let encoded = chat::encode_request(&neutral, "upstream-model");
        let rendered = format!(
            "# neutral\n{neutral:#?}\n\n# for an OpenAI-compatible upstream\n{}",
            pretty(&encoded)
        );
        insta::assert_snapshot!(format!("openai_{name}"), rendered);
    }
}

#[test]
fn invalid_requests_are_refused() {
    for (name, path) in fixtures("openai", "invalid_") {
        let error = chat::decode_request(&std::fs::read(&path).unwrap()).unwrap_err();
        insta::assert_snapshot!(format!("openai_{name}"), format!("{error:#?}"));
    }
}

#[test]
fn responses_decode_and_encode() {
    for (name, path) in fixtures("openai", "response_") {
        let response = chat::decode_response(&std::fs::read(&path).unwrap()).unwrap();
        let encoded = chat::encode_response(&response, CLIENT_MODEL, CREATED);
        let rendered = format!(
            "# neutral\n{response:#?}\n\n# for a client\n{}",
            pretty(&encoded)
        );
        insta::assert_snapshot!(format!("openai_{name}"), rendered);
    }
}

/// Every event of a stream.
#[test]
fn streams_decode_and_encode() {
    for (name, path) in fixtures("openai", "stream_") {
        let events = decode_stream(
            &mut chat::StreamDecoder::new(),
            &std::fs::read(&path).unwrap(),
            usize::MAX,
        );
        let mut encoder = chat::StreamEncoder::new(CLIENT_MODEL, CREATED, true);
        let mut bytes = BytesMut::new();
        for event in &events {
            encoder.event(event, &mut bytes);
        }
        let decoded: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        let rendered = format!(
            "# neutral\n{}\n\n# for a client with include_usage\n{}",
            decoded.join("\n"),
            String::from_utf8(bytes.to_vec()).unwrap()
        );
        insta::assert_snapshot!(format!("openai_{name}"), rendered);
    }
}

#[test]
fn errors_decode() {
    for (name, path) in fixtures("openai", "error_") {
        let status: u16 = name.split('_').nth(1).unwrap().parse().unwrap();
        let info = chat::decode_error(status, &std::fs::read(&path).unwrap());
        insta::assert_snapshot!(
            format!("openai_{name}"),
            format!("HTTP {status}\n{info:#?}")
        );
    }
}
