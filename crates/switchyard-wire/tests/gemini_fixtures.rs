//! Gemini translations from fixture files (`tests/fixtures/gemini/`), locked down by snapshots.
//!
//! The fixture's name prefix says what it is: `request_*` a Gemini body (decoded to neutral,
//! then encoded back), `schema_*` a JSON Schema to sanitize, `response_*` a JSON answer,
//! `stream_*.sse` the bytes of an `alt=sse` stream, `error_<status>_*` an error body.

// A test fails loudly on a missing or unreadable fixture; that is what unwrap is for here.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use switchyard_wire::neutral::{StreamDecoder as _, StreamEvent};
use switchyard_wire::{gemini, sse};

fn fixtures(prefix: &str) -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemini");
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
    for (name, path) in fixtures("schema_") {
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
    for (name, path) in fixtures("response_") {
        let response = gemini::decode_response(&std::fs::read(&path).unwrap()).unwrap();
        insta::assert_snapshot!(format!("gemini_{name}"), format!("{response:#?}"));
    }
}

/// Every event of a stream, one per line.
fn stream_events(bytes: &[u8]) -> Vec<StreamEvent> {
    let mut sse = sse::Decoder::new();
    let mut decoder = gemini::StreamDecoder::new();
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
fn streams_decode() {
    for (name, path) in fixtures("stream_") {
        let events = stream_events(&std::fs::read(&path).unwrap());
        let rendered: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        insta::assert_snapshot!(format!("gemini_{name}"), rendered.join("\n"));
    }
}

#[test]
fn errors_decode() {
    for (name, path) in fixtures("error_") {
        let status: u16 = name.split('_').nth(1).unwrap().parse().unwrap();
        let (info, retry_after) = gemini::decode_error(status, &std::fs::read(&path).unwrap());
        insta::assert_snapshot!(
            format!("gemini_{name}"),
            format!("HTTP {status}\n{info:#?}\nretry_after: {retry_after:?}")
        );
    }
}
