//! `StreamEncoder`: OpenAI's chunk order, usage held back to the end, in-band errors.

use super::*;
use crate::neutral::{ErrorKind, FinishReason, Signature, StreamEncoder as _, Vendor};

fn encode(include_usage: bool, events: &[StreamEvent]) -> Vec<Value> {
    let mut encoder = StreamEncoder::new("my-model", 5, include_usage);
    let mut out = BytesMut::new();
    for event in events {
        encoder.event(event, &mut out);
    }
    let text = String::from_utf8(out.to_vec()).unwrap();
    text.split_terminator("\n\n")
        .map(|frame| {
            let data = frame.strip_prefix("data: ").unwrap();
            if data == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(data).unwrap()
            }
        })
        .collect()
}

fn usage() -> Usage {
    Usage {
        prompt_tokens: 9,
        completion_tokens: 3,
        ..Usage::default()
    }
}

#[test]
fn chunks_in_openais_order_with_usage_last() {
    let frames = encode(
        true,
        &[
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "claude".into(),
            },
            StreamEvent::ThinkingDelta("hm".into()),
            StreamEvent::TextDelta("Hi".into()),
            // Usage before the finish reason (Anthropic's message_delta order) waits for End.
            StreamEvent::Usage(usage()),
            StreamEvent::Finish(FinishReason::Length),
            StreamEvent::End,
        ],
    );
    let deltas: Vec<&Value> = frames
        .iter()
        .filter_map(|f| f["choices"].get(0).map(|c| &c["delta"]))
        .collect();
    assert_eq!(
        deltas,
        [
            &json!({"role": "assistant", "content": ""}),
            &json!({"reasoning_content": "hm"}),
            &json!({"content": "Hi"}),
            &json!({}),
        ]
    );
    for chunk in &frames[..4] {
        assert_eq!(chunk["id"], "chatcmpl-msg_1");
        assert_eq!(chunk["model"], "my-model");
        assert_eq!(chunk["created"], 5);
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some());
    }
    assert_eq!(frames[3]["choices"][0]["finish_reason"], "length");
    assert_eq!(frames[4]["choices"], json!([]));
    assert_eq!(frames[4]["usage"]["total_tokens"], 12);
    assert_eq!(frames[5], "[DONE]");
}

#[test]
fn without_include_usage_there_is_no_usage_at_all() {
    let frames = encode(
        false,
        &[
            StreamEvent::TextDelta("x".into()),
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Usage(usage()),
            StreamEvent::End,
        ],
    );
    assert_eq!(frames.len(), 4);
    assert!(frames.iter().all(|f| f.get("usage").is_none()));
    assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
}

#[test]
fn tool_calls_stream_by_index_and_empty_arguments_become_an_object() {
    let signature = Signature {
        vendor: Vendor::Gemini,
        value: "c2ln".into(),
    };
    let frames = encode(
        false,
        &[
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_a".into(),
                name: "f".into(),
                signature: Some(signature),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\":".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_b".into(),
                name: "g".into(),
                signature: None,
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::End,
        ],
    );
    let calls: Vec<&Value> = frames
        .iter()
        .filter_map(|f| f["choices"].get(0))
        .filter_map(|c| c["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(
        calls,
        [
            &json!({"index": 0, "id": "call_a__thought__c2ln", "type": "function", "function": {"name": "f", "arguments": ""}}),
            &json!({"index": 0, "function": {"arguments": "{\"a\":"}}),
            &json!({"index": 0, "function": {"arguments": "1}"}}),
            &json!({"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": ""}}),
            &json!({"index": 1, "function": {"arguments": "{}"}}),
        ]
    );
}

#[test]
fn an_error_ends_the_stream_without_done() {
    let error = ErrorInfo {
        kind: ErrorKind::Overloaded,
        message: "Overloaded".into(),
        param: None,
        code: Some("overloaded_error".into()),
    };
    let frames = encode(
        true,
        &[
            StreamEvent::TextDelta("x".into()),
            StreamEvent::Error(error),
            StreamEvent::End,
        ],
    );
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[2],
        json!({"error": {"message": "Overloaded", "type": "api_error", "param": null, "code": "overloaded_error"}})
    );
}

#[test]
fn end_without_finish_still_closes_properly() {
    let frames = encode(false, &[StreamEvent::End]);
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[1]["choices"][0]["finish_reason"], "stop");
    assert_eq!(frames[2], "[DONE]");
}
