//! The streaming answer: named events in the order of wire-formats §4.3, and the stream faults
//! that break that order on purpose.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{THINKING, THINKING_SIGNATURE, error, message_id, stop, tool_use_id, usage};
use crate::mock::answer::Answer;
use crate::mock::body::{self, Response, Step};
use crate::mock::faults::Fault;
use crate::mock::route::Ctx;

/// Delta events `fault-cut-stream` sends before cutting the connection.
const CUT_AFTER: usize = 3;
/// Delta events `fault-stream-error` sends before its `error` event.
const ERROR_AFTER: usize = 2;

/// One event, and whether it is a `content_block_delta` (what the faults count).
struct Event {
    bytes: Bytes,
    delta: bool,
}

fn event(name: &str, data: &Value) -> Event {
    let mut frame = format!("event: {name}\ndata: ").into_bytes();
    frame.extend_from_slice(&body::to_json(data));
    frame.extend_from_slice(b"\n\n");
    Event {
        bytes: Bytes::from(frame),
        delta: name == "content_block_delta",
    }
}

/// The events of one content block: start, deltas, stop.
fn block(index: usize, start: Value, deltas: Vec<Value>) -> Vec<Event> {
    let mut events = vec![event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": index, "content_block": start}),
    )];
    for delta in deltas {
        events.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    ));
    events
}

/// Splits `text` into words, spaces leading from the second on, as the answer pieces are.
fn words(text: &str) -> Vec<String> {
    text.split(' ')
        .enumerate()
        .map(|(at, word)| {
            if at == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect()
}

pub(crate) fn respond(
    ctx: &Ctx<'_>,
    model: &str,
    answer: &Answer,
    fault: Option<Fault>,
) -> Response {
    let with_usage = fault != Some(Fault::NoUsage);
    let mut message = json!({
        "id": message_id(ctx.seq),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if with_usage {
        let mut start_usage = usage(&answer.tokens);
        start_usage["output_tokens"] = json!(1);
        message["usage"] = start_usage;
    }

    let mut blocks: Vec<Vec<Event>> = Vec::new();
    if answer.tokens.reasoning > 0 {
        let mut deltas: Vec<Value> = words(THINKING)
            .into_iter()
            .map(|word| json!({"type": "thinking_delta", "thinking": word}))
            .collect();
        deltas.push(json!({"type": "signature_delta", "signature": THINKING_SIGNATURE}));
        blocks.push(block(
            blocks.len(),
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            deltas,
        ));
    }
    if !answer.pieces.is_empty() {
        let deltas = answer
            .pieces
            .iter()
            .map(|piece| json!({"type": "text_delta", "text": piece}))
            .collect();
        blocks.push(block(
            blocks.len(),
            json!({"type": "text", "text": ""}),
            deltas,
        ));
    }
    // One block per call; block indexes count every block, thinking and text included.
    for (at, call) in answer.tool_calls.iter().enumerate() {
        // The first fragment is empty, as Anthropic's often is; clients must cope.
        let deltas = std::iter::once("")
            .chain(call.argument_pieces.iter().copied())
            .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
            .collect();
        blocks.push(block(
            blocks.len(),
            json!({"type": "tool_use", "id": tool_use_id(ctx.seq, at), "name": call.name, "input": {}}),
            deltas,
        ));
    }

    let ping = event("ping", &json!({"type": "ping"}));
    let mut events = vec![event(
        "message_start",
        &json!({"type": "message_start", "message": message}),
    )];
    let mut blocks = blocks.into_iter();
    match blocks.next() {
        // A ping after the first block opens, as Anthropic sends it.
        Some(mut first) => {
            let rest = first.split_off(1);
            events.extend(first);
            events.push(ping);
            events.extend(rest);
        }
        None => events.push(ping),
    }
    events.extend(blocks.flatten());

    let (stop_reason, stop_sequence) = stop(&answer.finish);
    let mut delta = json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
    });
    if with_usage {
        delta["usage"] = json!({"output_tokens": answer.tokens.output + answer.tokens.reasoning});
    }
    events.push(event("message_delta", &delta));
    events.push(event("message_stop", &json!({"type": "message_stop"})));

    let steps = match (fault, Fault::error_after(fault, ERROR_AFTER)) {
        (Some(Fault::CutStream), _) => {
            let mut steps = until_deltas(events, CUT_AFTER);
            steps.push(Step::Cut);
            steps
        }
        (_, Some(0)) => vec![Step::Send(
            event("error", &error::overloaded().body()).bytes,
        )],
        (_, Some(after)) => {
            let mut steps = until_deltas(events, after);
            steps.push(Step::Send(
                event("error", &error::overloaded().body()).bytes,
            ));
            steps
        }
        _ => events
            .into_iter()
            .map(|event| Step::Send(event.bytes))
            .collect(),
    };
    body::event_stream(steps, Fault::frame_gap(fault, ctx.options.chunk_delay))
}

/// The events up to and including the `count`th delta.
fn until_deltas(events: Vec<Event>, count: usize) -> Vec<Step> {
    let mut seen = 0;
    let mut steps = Vec::new();
    for event in events {
        if seen == count {
            break;
        }
        seen += usize::from(event.delta);
        steps.push(Step::Send(event.bytes));
    }
    steps
}
