//! The answer in Gemini's shape (wire-formats §5.2, §5.3): one `GenerateContentResponse`, or
//! chunks of one (a word each, every function call whole in one) sent as SSE `data:` frames or as
//! a JSON array. Usage and the finish reason ride only on the last chunk.

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::error::Error;
use super::{Delivery, THOUGHT_SIGNATURE};
use crate::mock::answer::{Answer, Finish, Tokens};
use crate::mock::body::{self, Response, Step};
use crate::mock::faults::Fault;
use crate::mock::route::Ctx;

/// Chunks `fault-cut-stream` sends before cutting the connection.
const CUT_AFTER: usize = 3;
/// Chunks `fault-stream-error` sends before its in-band error.
const ERROR_AFTER: usize = 2;

/// Gemini's usage: cached tokens inside `promptTokenCount`, thoughts apart from
/// `candidatesTokenCount`.
fn usage(tokens: &Tokens) -> Value {
    let prompt = tokens.input + tokens.cached;
    let mut usage = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": tokens.output,
        "totalTokenCount": prompt + tokens.output + tokens.reasoning,
    });
    if tokens.reasoning > 0 {
        usage["thoughtsTokenCount"] = json!(tokens.reasoning);
    }
    if tokens.cached > 0 {
        usage["cachedContentTokenCount"] = json!(tokens.cached);
    }
    usage
}

fn finish_reason(finish: &Finish) -> &'static str {
    match finish {
        // Gemini ends tool calls and stop sequences with a plain STOP too.
        Finish::Complete | Finish::StopSequence(_) | Finish::ToolCall => "STOP",
        Finish::Length => "MAX_TOKENS",
    }
}

/// Builds the chunks of one answer; a whole answer is the same with every part in one chunk.
struct Chunks<'a> {
    model: &'a str,
    response_id: String,
}

impl Chunks<'_> {
    /// One `GenerateContentResponse` holding `parts`, ending the answer when `last` is given.
    fn chunk(&self, parts: Vec<Value>, last: Option<(&Answer, bool)>) -> Value {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut chunk = json!({"candidates": [candidate.take()]});
        if let Some((answer, with_usage)) = last {
            chunk["candidates"][0]["finishReason"] = json!(finish_reason(&answer.finish));
            if with_usage {
                chunk["usageMetadata"] = usage(&answer.tokens);
            }
        }
        chunk["modelVersion"] = json!(self.model);
        chunk["responseId"] = json!(self.response_id);
        chunk
    }

    /// A prompt blocked before any answer: HTTP 200, no candidates, `promptFeedback`.
    fn blocked(&self, answer: &Answer) -> Value {
        let prompt = answer.tokens.input + answer.tokens.cached;
        json!({
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
            "modelVersion": self.model,
            "responseId": self.response_id,
        })
    }
}

/// The parts of an answer, one group per chunk. Parallel function calls travel together in one
/// chunk, each a whole `functionCall` part with its own signature.
fn part_groups(answer: &Answer) -> Vec<Vec<Value>> {
    if !answer.tool_calls.is_empty() {
        let calls = answer
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "functionCall": {"name": call.name, "args": call.arguments_value()},
                    "thoughtSignature": THOUGHT_SIGNATURE,
                })
            })
            .collect();
        return vec![calls];
    }
    if answer.pieces.is_empty() {
        return vec![vec![json!({"text": ""})]];
    }
    answer
        .pieces
        .iter()
        .map(|piece| vec![json!({"text": piece})])
        .collect()
}

pub(super) fn respond(
    ctx: &Ctx<'_>,
    model: &str,
    answer: &Answer,
    delivery: Delivery,
    fault: Option<Fault>,
) -> Response {
    let chunks = Chunks {
        model,
        response_id: format!("gemini-mock-{}", ctx.seq),
    };
    let with_usage = fault != Some(Fault::NoUsage);
    let groups = part_groups(answer);

    if delivery == Delivery::Whole {
        let whole = if fault == Some(Fault::Blocked) {
            chunks.blocked(answer)
        } else {
            let parts = if !answer.tool_calls.is_empty() {
                groups.concat()
            } else {
                vec![json!({"text": answer.text()})]
            };
            chunks.chunk(parts, Some((answer, with_usage)))
        };
        return if fault == Some(Fault::CutStream) {
            body::cut_json(&whole)
        } else {
            body::json(StatusCode::OK, &whole)
        };
    }

    let values: Vec<Value> = if fault == Some(Fault::Blocked) {
        vec![chunks.blocked(answer)]
    } else {
        let count = groups.len();
        groups
            .into_iter()
            .enumerate()
            .map(|(at, parts)| {
                let last = (at + 1 == count).then_some((answer, with_usage));
                chunks.chunk(parts, last)
            })
            .collect()
    };
    let (values, ending) = match (fault, Fault::error_after(fault, ERROR_AFTER)) {
        (Some(Fault::CutStream), _) => (values.into_iter().take(CUT_AFTER).collect(), Ending::Cut),
        (_, Some(after)) => (
            values.into_iter().take(after).collect(),
            Ending::Error(Error::mid_stream().body()),
        ),
        _ => (values, Ending::Done),
    };
    let gap = Fault::frame_gap(fault, ctx.options.chunk_delay);
    match delivery {
        Delivery::Array => array(values, ending, gap),
        _ => sse(values, ending, gap),
    }
}

/// How a stream ends.
enum Ending {
    /// At EOF, after the last chunk.
    Done,
    /// With the connection cut, nothing more sent.
    Cut,
    /// With this error object in place of the next chunk, then EOF.
    Error(Value),
}

/// `data: <json>` frames delimited by `\r\n\r\n`, as Google sends them; no `[DONE]`.
fn sse(values: Vec<Value>, ending: Ending, gap: std::time::Duration) -> Response {
    let frame = |value: &Value| {
        let mut frame = b"data: ".to_vec();
        frame.extend_from_slice(&body::to_json(value));
        frame.extend_from_slice(b"\r\n\r\n");
        Step::Send(Bytes::from(frame))
    };
    let mut steps: Vec<Step> = values.iter().map(frame).collect();
    match ending {
        Ending::Done => {}
        Ending::Cut => steps.push(Step::Cut),
        Ending::Error(error) => steps.push(frame(&error)),
    }
    body::event_stream(steps, gap)
}

/// A JSON array written element by element: `[{…},\r\n{…}]`.
fn array(values: Vec<Value>, ending: Ending, gap: std::time::Duration) -> Response {
    let mut steps = Vec::with_capacity(values.len() + 2);
    let mut first = true;
    let mut element = |value: &Value| {
        let mut bytes = if first {
            b"[".to_vec()
        } else {
            b",\r\n".to_vec()
        };
        first = false;
        bytes.extend_from_slice(&body::to_json(value));
        Step::Send(Bytes::from(bytes))
    };
    for value in &values {
        steps.push(element(value));
    }
    match ending {
        Ending::Done => steps.push(Step::Send(Bytes::from_static(b"]"))),
        Ending::Cut => steps.push(Step::Cut),
        Ending::Error(error) => {
            steps.push(element(&error));
            steps.push(Step::Send(Bytes::from_static(b"]")));
        }
    }
    let mut response = http::Response::new(body::paced(steps, gap));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}
