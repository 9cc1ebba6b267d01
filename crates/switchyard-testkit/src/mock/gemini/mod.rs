//! Google Gemini (wire-formats §5): `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent` (SSE with `alt=sse`, else a JSON array) and `:countTokens`.
//!
//! The model comes from the path. The key is `x-goog-api-key` or `?key=`; a wrong one is a 400,
//! as Gemini answers it. Requests are validated as Gemini validates them (`request`), accepting
//! camelCase and snake_case field names, get the answer every dialect shares, and are rendered
//! always in camelCase (`response`).

mod error;
mod request;
mod response;

use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use super::answer;
use super::body::{self, Response};
use super::faults::Plan;
use super::route::Ctx;

pub(crate) use error::Error;

/// The `thoughtSignature` on every mock `functionCall` part: base64 of `sig-mock`.
pub const THOUGHT_SIGNATURE: &str = "c2lnLW1vY2s=";

/// How the answer is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// `:generateContent`: one JSON document.
    Whole,
    /// `:streamGenerateContent?alt=sse`: `data:` frames.
    Sse,
    /// `:streamGenerateContent` without `alt=sse`: a JSON array of the chunks.
    Array,
}

/// The value of `name` in a query string.
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `(model, method)` of a `/v1beta/models/{model}:{method}` path.
fn split_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v1beta/models/")?;
    let (model, method) = rest.rsplit_once(':')?;
    (!model.is_empty()).then_some((model, method))
}

/// The model a Gemini route names in its path, if it names one.
pub(crate) fn model_in(path: &str) -> Option<&str> {
    split_path(path).map(|(model, _)| model)
}

/// Whether errors on this route are wrapped in an array (array-mode streaming).
pub(crate) fn in_array(path: &str, query: Option<&str>) -> bool {
    path.ends_with(":streamGenerateContent") && query_param(query, "alt") != Some("sse")
}

/// Checks `x-goog-api-key`, else `?key=`.
pub(crate) fn authorize(headers: &HeaderMap, query: Option<&str>, key: &str) -> Result<(), Error> {
    let given = headers
        .get("x-goog-api-key")
        .and_then(|value| value.to_str().ok())
        .or_else(|| query_param(query, "key"));
    match given {
        Some(given) if given == key => Ok(()),
        Some(_) => Err(Error::key_invalid()),
        None => Err(Error::key_missing()),
    }
}

pub(crate) async fn handle(
    ctx: &Ctx<'_>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let wrap = in_array(path, query);
    let delivery = match (method, split_path(path)) {
        (&Method::POST, Some((_, "generateContent"))) => Delivery::Whole,
        (&Method::POST, Some((_, "streamGenerateContent"))) if !wrap => Delivery::Sse,
        (&Method::POST, Some((_, "streamGenerateContent"))) => Delivery::Array,
        (&Method::POST, Some((model, "countTokens"))) => return count_tokens(model, body),
        _ => return Error::unknown_route(method, path).into_response(false),
    };
    let model = split_path(path).map(|(model, _)| model).unwrap_or_default();
    let ask = match request::parse(model, body) {
        Ok(ask) => ask,
        Err(error) => return error.into_response(wrap),
    };
    let plan = Plan::of(&ask.model);
    if let Some(failure) = plan.before_head(ctx.turn).await {
        return Error::of(failure).into_response(wrap);
    }
    let fault = plan.fault;
    let answer = answer::decide(&ask);
    response::respond(ctx, &ask.model, &answer, delivery, fault)
}

/// `:countTokens`: `{"totalTokens":N}`, the words of the whole request.
fn count_tokens(model: &str, body: Option<&Value>) -> Response {
    match request::parse(model, body) {
        Ok(ask) => body::json(StatusCode::OK, &json!({"totalTokens": ask.prompt_tokens()})),
        Err(error) => error.into_response(false),
    }
}
