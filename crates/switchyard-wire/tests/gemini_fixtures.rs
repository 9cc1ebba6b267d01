//! Gemini translations from fixture files (`tests/fixtures/gemini/`), locked down by snapshots.
//!
//! The fixture's name prefix says what it is: `request_*` a Gemini body (decoded to neutral,
//! then encoded back), `schema_*` a JSON Schema to sanitize, `response_*` a JSON answer,
//! `stream_*.sse` the bytes of an `alt=sse` stream, `error_<status>_*` an error body.

// A test fails loudly on a missing or unreadable fixture; that is what unwrap is for here.
#![allow(clippy::unwrap_used)]

mod common;

use common::{decode_stream, fixtures, pretty};
use switchyard_wire::gemini;

#[test]
fn requests_decode_and_encode() {
    for (name, path) in fixtures("gemini", "request_") {
        let body = std::fs::read(&path).unwrap();
        let neutral = gemini::decode_request(&body, "gemini-2.5-flash").unwrap();
        let encoded = gemini::encode_request(&neutral);
        let rendered = format!(
            "# neutral\n{neutral:#?}\n\n# encoded again\n{}",
            pretty(&encoded)
        );
        insta::assert_snapshot!(format!("gemini_{name}"), rendered);
    }
}

#[test]
fn schemas_sanitize() {
    for (name, path) in fixtures("gemini", "schema_") {
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let clean = gemini::sanitize_schema(&schema);
        insta::assert_snapshot!(
            format!("gemini_{name}"),
            serde_json::to_string_pretty(&clean).unwrap()
        );
    }
}

#[test]
fn responses_decode() {
    for (name, path) in fixtures("gemini", "response_") {
        let response = gemini::decode_response(&std::fs::read(&path).unwrap()).unwrap();
        insta::assert_snapshot!(format!("gemini_{name}"), format!("{response:#?}"));
    }
}

/// Every event of a stream, one per line.
#[test]
fn streams_decode() {
    for (name, path) in fixtures("gemini", "stream_") {
        let events = decode_stream(
            &mut gemini::StreamDecoder::new(),
            &std::fs::read(&path).unwrap(),
            usize::MAX,
        );
        let rendered: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        insta::assert_snapshot!(format!("gemini_{name}"), rendered.join("\n"));
    }
}

#[test]
fn errors_decode() {
    for (name, path) in fixtures("gemini", "error_") {
        let status: u16 = name.split('_').nth(1).unwrap().parse().unwrap();
        let (info, retry_after) = gemini::decode_error(status, &std::fs::read(&path).unwrap());
        insta::assert_snapshot!(
            format!("gemini_{name}"),
            format!("HTTP {status}\n{info:#?}\nretry_after: {retry_after:?}")
        );
    }
}
