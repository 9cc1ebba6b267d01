//! Anthropic Messages (wire-formats §4): `POST /v1/messages` and `POST /v1/messages/count_tokens`.
//!
//! Requests need `x-api-key` and `anthropic-version`, are validated as Anthropic validates them
//! (`request`), get the answer every dialect shares (`answer::decide`), and are rendered as a
//! `message` object (`message`) or as the named-event stream of §4.3 (`stream`).

mod error;
mod message;
mod request;
mod stream;

use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::answer::{self, Finish};
use super::body::{self, Response};
use super::faults::Plan;
use super::route::Ctx;
use request::Endpoint;

pub(crate) use error::Error;

/// The thinking text `reasoning-*` models show before their answer.
pub const THINKING: &str = "The user wants a mock answer.";
/// The signature of every mock thinking block.
pub const THINKING_SIGNATURE: &str = "sig-mock";

/// The id of answer `seq`.
fn message_id(seq: u64) -> String {
    format!("msg_mock_{seq}")
}

/// The id of tool call `at` (counting from 0) in answer `seq`: `toolu_mock_N` for the first, so
/// single calls keep the id they always had, then `toolu_mock_N_2`, `toolu_mock_N_3`, ….
fn tool_use_id(seq: u64, at: usize) -> String {
    match at {
        0 => format!("toolu_mock_{seq}"),
        _ => format!("toolu_mock_{seq}_{}", at + 1),
    }
}

/// `stop_reason` and `stop_sequence` for how an answer ended.
fn stop(finish: &Finish) -> (&'static str, Option<&str>) {
    match finish {
        Finish::Complete => ("end_turn", None),
        Finish::Length => ("max_tokens", None),
        Finish::StopSequence(sequence) => ("stop_sequence", Some(sequence)),
        Finish::ToolCall => ("tool_use", None),
    }
}

/// Anthropic's usage object: cache reads apart from `input_tokens`, thinking inside
/// `output_tokens`.
fn usage(tokens: &answer::Tokens) -> Value {
    json!({
        "input_tokens": tokens.input,
        "output_tokens": tokens.output + tokens.reasoning,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": tokens.cached,
    })
}

pub(crate) async fn handle(ctx: &Ctx<'_>, body: Option<&Value>) -> Response {
    let request = match request::parse(body, Endpoint::Messages) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let plan = Plan::of(&request.ask.model);
    if let Some(failure) = plan.before_head(ctx.turn).await {
        return error::failure(failure);
    }
    let fault = plan.fault;
    let answer = answer::decide(&request.ask);
    if request.stream {
        stream::respond(ctx, &request.ask.model, &answer, fault)
    } else {
        message::respond(ctx.seq, &request.ask.model, &answer, fault)
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens":N}`, the words of the whole request.
pub(crate) fn count_tokens(body: Option<&Value>) -> Response {
    match request::parse(body, Endpoint::CountTokens) {
        Ok(request) => body::json(
            http::StatusCode::OK,
            &json!({"input_tokens": request.ask.prompt_tokens()}),
        ),
        Err(error) => error.into_response(),
    }
}

/// Checks `x-api-key`, then `anthropic-version`.
pub(crate) fn authorize(headers: &HeaderMap, key: &str) -> Result<(), Error> {
    match headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
    {
        Some(given) if given == key => {}
        Some(_) => return Err(Error::unauthenticated("invalid x-api-key")),
        None => {
            return Err(Error::unauthenticated(
                "x-api-key header is required (the mock's key is MockUpstream::api_key())",
            ));
        }
    }
    if headers.get("anthropic-version").is_none() {
        return Err(Error::invalid("anthropic-version: header is required"));
    }
    Ok(())
}

/// Adds the headers Anthropic sends on every response, keeping any a fault already set.
pub(crate) fn stamp(headers: &mut HeaderMap, seq: u64) {
    if let Ok(id) = HeaderValue::from_str(&format!("req_mock_{seq}")) {
        headers.entry("request-id").or_insert(id);
    }
    // A fixed reset time keeps responses byte-for-byte stable.
    let reset = "2026-01-01T00:00:00Z";
    let fixed = [
        ("anthropic-ratelimit-requests-limit", "4000"),
        ("anthropic-ratelimit-requests-remaining", "3999"),
        ("anthropic-ratelimit-requests-reset", reset),
        ("anthropic-ratelimit-tokens-limit", "400000"),
        ("anthropic-ratelimit-tokens-remaining", "399000"),
        ("anthropic-ratelimit-tokens-reset", reset),
    ];
    for (name, value) in fixed {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}
