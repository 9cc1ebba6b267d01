//! One request's path through the mock: read and record it, check the key the way the route's
//! provider does, dispatch by route, and stamp the headers that provider puts on every response.

use std::time::Instant;

use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::body::Response;
use super::error::ApiError;
use super::faults::Turn;
use super::record::Recorded;
use super::server::Shared;
use super::{MockOptions, anthropic, chat, embeddings, gemini, models};

/// Whose API a route belongs to; it decides the auth check, the error shape and the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Dialect {
    fn of(path: &str) -> Dialect {
        if path == "/v1/messages" || path.starts_with("/v1/messages/") {
            Dialect::Anthropic
        } else if path.starts_with("/v1beta/") {
            Dialect::Gemini
        } else {
            Dialect::OpenAi
        }
    }
}

/// What a route handler needs besides the request body.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// This request's number within the mock, from 1.
    pub(crate) seq: u64,
    pub(crate) options: &'a MockOptions,
    /// Its place among the requests naming the same model (for `fault-flaky-503` and outages).
    pub(crate) turn: Turn,
}

/// Counts a request in [`Shared::awaiting_head`] until it is answered or dropped.
struct AwaitingHead<'a>(&'a Shared);

impl Drop for AwaitingHead<'_> {
    fn drop(&mut self) {
        self.0
            .awaiting_head
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

pub(crate) async fn handle(shared: &Shared, request: Request<Incoming>) -> Response {
    shared
        .awaiting_head
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _awaiting = AwaitingHead(shared);
    let started = Instant::now();
    let (parts, incoming) = request.into_parts();
    let bytes = match incoming.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body; nobody will read this answer.
        Err(_) => return ApiError::invalid("request body ended early", None, None).into_response(),
    };
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();

    shared.recorder.count_one();
    if shared.recorder.keeps() {
        let recorded = body.clone().unwrap_or(Value::Null);
        shared.recorder.push(Recorded::from_parts(&parts, recorded));
    }
    let (path, query) = (parts.uri.path(), parts.uri.query());
    let dialect = Dialect::of(path);
    // Gemini names the model in the path, the others in the body.
    let model = match dialect {
        Dialect::Gemini => gemini::model_in(path),
        Dialect::OpenAi | Dialect::Anthropic => body
            .as_ref()
            .and_then(|body| body.get("model"))
            .and_then(Value::as_str),
    };
    let ctx = Ctx {
        seq: shared.next_seq(),
        options: &shared.options,
        turn: model.map_or_else(Turn::default, |model| shared.models.arrive(model)),
    };
    if !ctx.options.latency.is_zero() {
        precise_sleep(ctx.options.latency).await;
    }

    let key = &ctx.options.api_key;
    let authorized = match dialect {
        Dialect::OpenAi => authorize(&parts.headers, key).map_err(ApiError::into_response),
        Dialect::Anthropic => {
            anthropic::authorize(&parts.headers, key).map_err(anthropic::Error::into_response)
        }
        Dialect::Gemini => gemini::authorize(&parts.headers, query, key)
            .map_err(|denied| denied.into_response(gemini::in_array(path, query))),
    };
    let mut response = match authorized {
        Err(denied) => denied,
        Ok(()) => match dialect {
            Dialect::OpenAi => dispatch(&ctx, &parts.method, path, body.as_ref()).await,
            Dialect::Anthropic => match (&parts.method, path) {
                (&Method::POST, "/v1/messages") => anthropic::handle(&ctx, body.as_ref()).await,
                (&Method::POST, "/v1/messages/count_tokens") => {
                    anthropic::count_tokens(body.as_ref())
                }
                _ => anthropic::Error::unknown_route(&parts.method, path).into_response(),
            },
            Dialect::Gemini => {
                gemini::handle(&ctx, &parts.method, path, query, body.as_ref()).await
            }
        },
    };
    match dialect {
        Dialect::OpenAi => stamp(response.headers_mut(), ctx.seq, started),
        Dialect::Anthropic => anthropic::stamp(response.headers_mut(), ctx.seq),
        // Gemini sends no request-id or rate-limit headers (wire-formats §5.4).
        Dialect::Gemini => {}
    }
    response
}

async fn dispatch(ctx: &Ctx<'_>, method: &Method, path: &str, body: Option<&Value>) -> Response {
    match (method, path) {
        (&Method::POST, "/v1/chat/completions") => chat::handle(ctx, body).await,
        (&Method::POST, "/v1/embeddings") => embeddings::handle(ctx, body).await,
        (&Method::GET, "/v1/models") => models::list(ctx.options),
        (&Method::GET, _) => match path.strip_prefix("/v1/models/") {
            Some(id) if !id.is_empty() => models::get(ctx.options, id),
            _ => ApiError::unknown_route(method, path).into_response(),
        },
        _ => ApiError::unknown_route(method, path).into_response(),
    }
}

fn authorize(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let message = match given {
        Some(token) if token == key => return Ok(()),
        Some(token) => format!(
            "Incorrect API key provided: {}. You can find the mock's key with MockUpstream::api_key().",
            mask(token)
        ),
        None => "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            .to_owned(),
    };
    Err(ApiError {
        status: StatusCode::UNAUTHORIZED,
        message,
        kind: "invalid_request_error",
        param: None,
        code: Some("invalid_api_key"),
    })
}

/// Shows a key the way OpenAI does in its 401 message: its ends only.
fn mask(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

/// Adds the headers OpenAI sends on every response, keeping any a fault already set.
fn stamp(headers: &mut HeaderMap, seq: u64, started: Instant) {
    let elapsed_ms = started.elapsed().as_millis();
    let computed = [
        (
            "x-request-id",
            HeaderValue::from_str(&format!("req_mock_{seq}")),
        ),
        (
            "openai-processing-ms",
            HeaderValue::from_str(&elapsed_ms.to_string()),
        ),
    ];
    for (name, value) in computed {
        if let Ok(value) = value {
            headers.entry(name).or_insert(value);
        }
    }
    let fixed = [
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-limit-tokens", "30000000"),
        ("x-ratelimit-remaining-requests", "9999"),
        ("x-ratelimit-remaining-tokens", "29999000"),
        ("x-ratelimit-reset-requests", "6ms"),
        ("x-ratelimit-reset-tokens", "0s"),
    ];
    for (name, value) in fixed {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

/// Waits `duration` on a blocking thread, whose sleep ends within tens of microseconds of its
/// deadline. tokio's timer rounds every deadline up to a whole millisecond and wakes all the
/// sleeps due in one millisecond together: the answers would leave in bursts that any proxy in
/// front of the mock queues, and a benchmark would charge that queueing to the proxy
/// (`bench/README.md`, "Method").
async fn precise_sleep(duration: std::time::Duration) {
    // An error means the runtime is shutting down, when the answer no longer matters.
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(duration)).await;
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_all_but_the_ends_of_a_key() {
        assert_eq!(mask("sk-abcdefghijkl"), "sk-***ijkl");
        assert_eq!(mask("short"), "*****");
    }
}
