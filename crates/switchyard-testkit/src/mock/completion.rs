//! The non-streaming `chat.completion` object (wire-formats §1.3).

use http::StatusCode;
use serde::Serialize;

use super::answer::Answer;
use super::body::{self, Response};
use super::chat::{self, Usage};
use super::faults::Fault;
use super::route::Ctx;

/// The `created` of every mock object, so golden files stay stable.
pub(crate) const CREATED: u64 = 1_730_000_000;
pub(crate) const FINGERPRINT: &str = "fp_mock";

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    service_tier: &'static str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: (),
    annotations: [(); 0],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    arguments: String,
}

pub(crate) fn respond(
    ctx: &Ctx<'_>,
    id: &str,
    model: &str,
    answer: &Answer,
    fault: Option<Fault>,
) -> Response {
    let tool_calls = (!answer.tool_calls.is_empty()).then(|| {
        answer
            .tool_calls
            .iter()
            .enumerate()
            .map(|(at, call)| ToolCall {
                id: chat::tool_call_id(ctx.seq, at),
                kind: "function",
                function: Function {
                    name: &call.name,
                    arguments: call.arguments(),
                },
            })
            .collect()
    });
    let content = tool_calls.is_none().then(|| answer.pieces.concat());
    let completion = Completion {
        id,
        object: "chat.completion",
        created: CREATED,
        model,
        system_fingerprint: FINGERPRINT,
        service_tier: "default",
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content,
                refusal: (),
                annotations: [],
                tool_calls,
            },
            logprobs: (),
            finish_reason: chat::finish_reason(&answer.finish),
        }],
        usage: (fault != Some(Fault::NoUsage)).then(|| Usage::of(&answer.tokens)),
    };
    if fault == Some(Fault::CutStream) {
        body::cut_json(&completion)
    } else {
        body::json(StatusCode::OK, &completion)
    }
}
