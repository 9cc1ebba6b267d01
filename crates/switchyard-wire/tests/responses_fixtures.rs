//! Fixture snapshots for the Responses API: client requests decoded into the neutral form,
//! `response` objects read and re-encoded, and neutral event sequences encoded as the event
//! stream a Responses client receives. Inputs live in `tests/fixtures/responses/`.

// Test helpers outside `#[test]` functions: a fixture that does not parse should fail loudly.
#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use serde_json::Value;
use std::path::{Path, PathBuf};
use switchyard_core::Usage;
use switchyard_wire::neutral::{
    ErrorInfo, ErrorKind, FinishReason, Signature, StreamEncoder as _, StreamEvent, Vendor,
};
use switchyard_wire::{responses, sse};

fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/responses")
        .join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn requests() {
    for (name, body) in fixtures("requests") {
        let rendered = match responses::decode_request(&body) {
            Ok(request) => format!("{request:#?}"),
            Err(error) => format!("{error:#?}"),
        };
        insta::assert_snapshot!(format!("request_{name}"), rendered);
    }
}

#[test]
fn responses_are_read_and_written_back() {
    for (name, body) in fixtures("responses") {
        let neutral = responses::decode_response(&body).unwrap();
        let encoded = responses::encode_response(&neutral, "client-model", 1_730_000_000);
        let value: Value = serde_json::from_slice(&encoded).unwrap();
        let rendered = format!(
            "{neutral:#?}\n---\n{}",
            serde_json::to_string_pretty(&value).unwrap()
        );
        insta::assert_snapshot!(format!("response_{name}"), rendered);
    }
}

/// A neutral event written in the fixtures' small JSON notation.
fn event(value: &Value) -> StreamEvent {
    let str_of = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let signature = |v: &Value| {
        v.as_object().map(|_| Signature {
            vendor: match v["vendor"].as_str() {
                Some("gemini") => Vendor::Gemini,
                _ => Vendor::Anthropic,
            },
            value: str_of(v, "value"),
        })
    };
    if value == "end" {
        return StreamEvent::End;
    }
    let (key, v) = value.as_object().unwrap().iter().next().unwrap();
    match key.as_str() {
        "start" => StreamEvent::Start {
            id: str_of(v, "id"),
            model: str_of(v, "model"),
        },
        "text" => StreamEvent::TextDelta(v.as_str().unwrap().to_owned()),
        "thinking" => StreamEvent::ThinkingDelta(v.as_str().unwrap().to_owned()),
        "signature" => StreamEvent::ThinkingSignature(signature(v).unwrap()),
        "tool_start" => StreamEvent::ToolCallStart {
            index: v["index"].as_u64().unwrap() as u32,
            id: str_of(v, "id"),
            name: str_of(v, "name"),
            signature: signature(&v["signature"]),
        },
        "tool_delta" => StreamEvent::ToolCallDelta {
            index: v["index"].as_u64().unwrap() as u32,
            arguments: str_of(v, "arguments"),
        },
        "finish" => StreamEvent::Finish(match v.as_str().unwrap() {
            "length" => FinishReason::Length,
            "tool_calls" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            _ => FinishReason::Stop,
        }),
        "usage" => StreamEvent::Usage(serde_json::from_value::<Usage>(v.clone()).unwrap()),
        "error" => StreamEvent::Error(ErrorInfo {
            kind: match v["kind"].as_str() {
                Some("overloaded") => ErrorKind::Overloaded,
                Some("rate_limit") => ErrorKind::RateLimit,
                _ => ErrorKind::Server,
            },
            message: str_of(v, "message"),
            param: v["param"].as_str().map(str::to_owned),
            code: v["code"].as_str().map(str::to_owned),
        }),
        other => panic!("unknown fixture event {other}"),
    }
}

/// The encoded stream, one event per block, `data` pretty-printed, after checking what every
/// Responses stream must satisfy: names match `type`, sequence numbers count from 0, no
/// `[DONE]`.
fn render_stream(bytes: &[u8]) -> String {
    let mut decoder = sse::Decoder::new();
    decoder.push(bytes);
    let mut out = String::new();
    let mut expected_sequence = 0;
    while let Some(event) = decoder.next_event().unwrap() {
        let name = event.name.unwrap();
        let data: Value = serde_json::from_str(event.data.as_deref().unwrap()).unwrap();
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], expected_sequence);
        expected_sequence += 1;
        out.push_str(&format!(
            "event: {name}\n{}\n\n",
            serde_json::to_string_pretty(&data).unwrap()
        ));
    }
    assert!(decoder.finish().is_none());
    assert!(!out.contains("[DONE]"));
    out
}

#[test]
fn streams() {
    for (name, body) in fixtures("streams") {
        let events: Vec<Value> = serde_json::from_slice(&body).unwrap();
        let mut encoder = responses::StreamEncoder::new("client-model", 1_730_000_000);
        let mut out = BytesMut::new();
        for value in &events {
            encoder.event(&event(value), &mut out);
        }
        insta::assert_snapshot!(format!("stream_{name}"), render_stream(&out));
    }
}

/// With the client's request at hand, the response object echoes its settings.
#[test]
fn responses_echo_the_request() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/responses");
    let request = std::fs::read(dir.join("requests/tool_loop.json")).unwrap();
    let request = responses::decode_request(&request).unwrap();
    let answer = std::fs::read(dir.join("responses/text.json")).unwrap();
    let answer = responses::decode_response(&answer).unwrap();
    let encoded = responses::encode_response_for(&request, &answer, "gpt-4.1", 1_730_000_000);
    let value: Value = serde_json::from_slice(&encoded).unwrap();
    insta::assert_snapshot!(
        "response_echoing_tool_loop",
        serde_json::to_string_pretty(&value).unwrap()
    );
}
