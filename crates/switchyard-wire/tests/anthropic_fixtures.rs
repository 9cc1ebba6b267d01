//! Fixture snapshots of the Anthropic translations: each file under `fixtures/anthropic/<kind>/`
//! is an input as a client or an upstream would send it, and its snapshot is what we make of it.
//!
//! - `request/`: a client's `/v1/messages` body → the neutral request → the body we send to an
//!   Anthropic upstream (or, for `error_*`, the validation error the client gets).
//! - `response/`: an upstream's answer → the neutral response → our answer to a client.
//! - `stream/`: an upstream's SSE → neutral events (fed in small pieces) → our SSE to a client.
//! - `error/`: an upstream's error body (file name starts with the HTTP status) → the neutral
//!   error → the body we would send to an Anthropic-dialect client.

// An integration test is not `cfg(test)` to clippy; a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{decode_stream, pretty};

use bytes::BytesMut;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use switchyard_wire::anthropic;
use switchyard_wire::neutral::StreamEncoder as _;

const UPSTREAM_MODEL: &str = "claude-sonnet-4-5-20250929";
const DEFAULT_MAX_TOKENS: u64 = 8192;
const CLIENT_MODEL: &str = "claude-alias";

fn fixtures(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/anthropic")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn requests() {
    for path in fixtures("request") {
        let body = std::fs::read(&path).unwrap();
        let rendered = match anthropic::decode_request(&body) {
            Ok(request) => {
                let upstream =
                    anthropic::encode_request(&request, UPSTREAM_MODEL, DEFAULT_MAX_TOKENS);
                format!(
                    "## neutral\n{request:#?}\n\n## to an Anthropic upstream\n{}",
                    pretty(&upstream)
                )
            }
            Err(error) => format!("## rejected\n{error:#?}"),
        };
        insta::assert_snapshot!(format!("request_{}", stem(&path)), rendered);
    }
}

#[test]
fn responses() {
    for path in fixtures("response") {
        let body = std::fs::read(&path).unwrap();
        let response = anthropic::decode_response(&body).unwrap();
        let usage = anthropic::usage_of_response(&body);
        assert_eq!(usage, response.usage, "the cheap usage read agrees");
        let client = anthropic::encode_response(&response, CLIENT_MODEL);
        let rendered = format!(
            "## neutral\n{response:#?}\n\n## to an Anthropic client\n{}",
            pretty(&client)
        );
        insta::assert_snapshot!(format!("response_{}", stem(&path)), rendered);
    }
}

#[test]
fn streams() {
    for path in fixtures("stream") {
        let body = std::fs::read(&path).unwrap();
        let events = decode_stream(&mut anthropic::StreamDecoder::new(), &body, 7);
        assert_eq!(
            events,
            decode_stream(
                &mut anthropic::StreamDecoder::new(),
                &body,
                body.len().max(1)
            )
        );
        let mut rendered = String::from("## neutral events\n");
        for event in &events {
            writeln!(rendered, "{event:?}").unwrap();
        }
        let mut encoder = anthropic::StreamEncoder::new(CLIENT_MODEL);
        let mut out = BytesMut::new();
        for event in &events {
            encoder.event(event, &mut out);
        }
        rendered.push_str("\n## to an Anthropic client\n");
        rendered.push_str(std::str::from_utf8(&out).unwrap());
        insta::assert_snapshot!(format!("stream_{}", stem(&path)), rendered);
    }
}

#[test]
fn errors() {
    for path in fixtures("error") {
        let name = stem(&path);
        let status: u16 = name.split('_').next().unwrap().parse().unwrap();
        let body = std::fs::read(&path).unwrap();
        let info = anthropic::decode_error(status, &body);
        let client = anthropic::error_body(anthropic::error_type(info.kind), &info.message);
        let rendered = format!(
            "## HTTP {status}\n{info:#?}\n\n## to an Anthropic client\n{}",
            pretty(&client)
        );
        insta::assert_snapshot!(format!("error_{name}"), rendered);
    }
}
