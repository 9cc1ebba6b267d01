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
use std::path::{Path, PathBuf};
use switchyard_wire::neutral::{StreamDecoder as _, StreamEncoder as _, StreamEvent};
use switchyard_wire::openai::chat;
use switchyard_wire::sse;

/// The client's name for the model, and the time, in everything we write to clients.
const CLIENT_MODEL: &str = "client-model";
const CREATED: i64 = 1_730_000_000;

fn fixtures(prefix: &str) -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_owned();
            stem.starts_with(prefix).then_some((stem, path))
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no {prefix}* fixtures");
    out
}

fn pretty(bytes: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_string_pretty(&value).unwrap()
}

#[test]
fn requests_decode_and_encode() {
    for (name, path) in fixtures("request_") {
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
    for (name, path) in fixtures("invalid_") {
        let error = chat::decode_request(&std::fs::read(&path).unwrap()).unwrap_err();
        insta::assert_snapshot!(format!("openai_{name}"), format!("{error:#?}"));
    }
}

#[test]
fn responses_decode_and_encode() {
    for (name, path) in fixtures("response_") {
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
fn stream_events(bytes: &[u8]) -> Vec<StreamEvent> {
    let mut sse = sse::Decoder::new();
    let mut decoder = chat::StreamDecoder::new();
    let mut out = Vec::new();
    sse.push(bytes);
    while let Ok(Some(event)) = sse.next_event() {
        decoder.event(&event, &mut out);
    }
    if let Some(event) = sse.finish() {
        decoder.event(&event, &mut out);
    }
    decoder.eof(&mut out);
    out
}

#[test]
fn streams_decode_and_encode() {
    for (name, path) in fixtures("stream_") {
        let events = stream_events(&std::fs::read(&path).unwrap());
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
    for (name, path) in fixtures("error_") {
        let status: u16 = name.split('_').nth(1).unwrap().parse().unwrap();
        let info = chat::decode_error(status, &std::fs::read(&path).unwrap());
        insta::assert_snapshot!(
            format!("openai_{name}"),
            format!("HTTP {status}\n{info:#?}")
        );
    }
}
