//! The streaming answer: `chat.completion.chunk` frames in the order of wire-formats §1.4, and
//! the stream faults that break that order on purpose.

use bytes::Bytes;
use serde::Serialize;

use super::answer::Answer;
use super::body::{self, Response, Step};
use super::chat::{self, Request, Usage};
use super::completion::{CREATED, FINGERPRINT};
use super::error::ApiError;
use super::faults::Fault;
use super::route::Ctx;

/// Content frames `fault-cut-stream` sends before cutting the connection.
const CUT_AFTER: usize = 3;
/// Content frames `fault-stream-error` sends before its in-band error.
const ERROR_AFTER: usize = 2;

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    system_fingerprint: &'static str,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent, `null` on every chunk before the usage chunk when usage was asked for, or the
    /// usage itself on that last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a Usage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: (),
    finish_reason: Option<&'static str>,
}

#[derive(Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    /// `""` on the role chunk of a text answer, `null` on that of a tool call, else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

pub(crate) fn respond(
    ctx: &Ctx<'_>,
    id: &str,
    request: &Request,
    answer: &Answer,
    fault: Option<Fault>,
) -> Response {
    let model = &request.ask.model;
    let usage = Usage::of(&answer.tokens);
    let with_usage = request.include_usage && fault != Some(Fault::NoUsage);
    let chunk = |choices: Vec<ChunkChoice<'_>>| -> Bytes {
        frame(&Chunk {
            id,
            object: "chat.completion.chunk",
            created: CREATED,
            model,
            system_fingerprint: FINGERPRINT,
            choices,
            usage: with_usage.then_some(None),
        })
    };

    let role = Delta {
        role: Some("assistant"),
        content: Some(answer.tool_calls.is_empty().then_some("")),
        tool_calls: None,
    };
    let mut content = Vec::new();
    for piece in &answer.pieces {
        let delta = Delta {
            content: Some(Some(piece)),
            ..Delta::default()
        };
        content.push(chunk(vec![choice(delta, None)]));
    }
    // Calls stream one after another, each under its own `index`: the opening fragment with id,
    // type, name and empty arguments, then the argument pieces.
    for (at, call) in answer.tool_calls.iter().enumerate() {
        let opening = ToolCallDelta {
            index: at,
            id: Some(chat::tool_call_id(ctx.seq, at)),
            kind: Some("function"),
            function: FunctionDelta {
                name: Some(&call.name),
                arguments: "",
            },
        };
        let pieces = call.argument_pieces.iter().map(|piece| ToolCallDelta {
            index: at,
            id: None,
            kind: None,
            function: FunctionDelta {
                name: None,
                arguments: piece,
            },
        });
        for fragment in std::iter::once(opening).chain(pieces) {
            let delta = Delta {
                tool_calls: Some([fragment]),
                ..Delta::default()
            };
            content.push(chunk(vec![choice(delta, None)]));
        }
    }

    let mut steps = match fault {
        Some(Fault::EarlyStreamError) => vec![],
        _ => vec![Step::Send(chunk(vec![choice(role, None)]))],
    };
    match (fault, Fault::error_after(fault, ERROR_AFTER)) {
        (Some(Fault::CutStream), _) => {
            steps.extend(content.into_iter().take(CUT_AFTER).map(Step::Send));
            steps.push(Step::Cut);
        }
        (_, Some(after)) => {
            steps.extend(content.into_iter().take(after).map(Step::Send));
            steps.push(Step::Send(in_band_error()));
        }
        _ => {
            steps.extend(content.into_iter().map(Step::Send));
            let finish = choice(Delta::default(), Some(chat::finish_reason(&answer.finish)));
            steps.push(Step::Send(chunk(vec![finish])));
            if with_usage {
                steps.push(Step::Send(frame(&Chunk {
                    id,
                    object: "chat.completion.chunk",
                    created: CREATED,
                    model,
                    system_fingerprint: FINGERPRINT,
                    choices: Vec::new(),
                    usage: Some(Some(&usage)),
                })));
            }
            steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
        }
    }

    body::event_stream(steps, Fault::frame_gap(fault, ctx.options.chunk_delay))
}

fn choice<'a>(delta: Delta<'a>, finish_reason: Option<&'static str>) -> ChunkChoice<'a> {
    ChunkChoice {
        index: 0,
        delta,
        logprobs: (),
        finish_reason,
    }
}

/// The in-band failure report of §1.4: a data frame whose JSON carries an `error` key.
fn in_band_error() -> Bytes {
    #[derive(Serialize)]
    struct Envelope {
        error: ApiError,
    }
    frame(&Envelope {
        error: ApiError {
            status: http::StatusCode::INTERNAL_SERVER_ERROR,
            message: "mock: the upstream failed mid-stream".to_owned(),
            kind: "server_error",
            param: None,
            code: Some("mock_stream_error"),
        },
    })
}

/// One SSE frame: `data: <json>\n\n`.
fn frame(value: &impl Serialize) -> Bytes {
    let json = body::to_json(value);
    let mut frame = Vec::with_capacity(json.len() + 8);
    frame.extend_from_slice(b"data: ");
    frame.extend_from_slice(&json);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}
