//! A faithful mock of the upstream APIs the gateway calls, served over real HTTP on 127.0.0.1:
//! OpenAI-compatible routes, Anthropic Messages and Google Gemini, all on one port.
//!
//! The gateway's tests point a channel at [`MockUpstream::base_url`] (OpenAI and Anthropic kinds)
//! or [`MockUpstream::gemini_base_url`] (Gemini) and then assert on what the gateway sent
//! ([`MockUpstream::requests`]) and on what reached the client. The mock follows the wire formats
//! in `shared/reference/wire-formats.md` §1, §3, §4 and §5: each provider's auth, error bodies,
//! headers and exact streaming frame order.
//!
//! Everything is deterministic: ids count up per mock, one number per request (`chatcmpl-mock-N`
//! and `call_mock_N`; `msg_mock_N` and `toolu_mock_N`; `responseId` `gemini-mock-N`; a second
//! tool call in the same answer is `call_mock_N_2` or `toolu_mock_N_2`), `created`
//! is always 1730000000, answers and token counts derive from the request's words, and embeddings
//! derive from a hash of each input.
//!
//! # Routes
//! | route | auth | answer |
//! | --- | --- | --- |
//! | `POST /v1/chat/completions` | `Authorization: Bearer` | "Mock answer to: <first 5 words of the last user message>", or tool calls (see *Tool calls* below) as `message.tool_calls`, streamed by `index` 0, 1, …; a history whose assistant `tool_calls` are not each answered by a `tool` message before the next other message is a 400 |
//! | `POST /v1/embeddings` | Bearer | unit vectors of 8 dimensions (or `dimensions`), as floats or base64 |
//! | `GET /v1/models`, `GET /v1/models/{id}` | Bearer | the configured models plus every fault model |
//! | `POST /v1/messages` | `x-api-key` and `anthropic-version` | the same answer as a `message` (§4.2) or an event stream (§4.3); each tool call is a `tool_use` block (streamed as its own start, `input_json_delta` pieces, stop), and every `tool_use` of a history needs a `tool_result` in the next message |
//! | `POST /v1/messages/count_tokens` | as above | `{"input_tokens":N}` |
//! | `POST /v1beta/models/{model}:generateContent` | `x-goog-api-key` or `?key=` | the same answer as a `GenerateContentResponse` (§5.2); tool calls are whole `functionCall` parts without ids, each signed; a function-response turn must answer every call of the turn before |
//! | `POST /v1beta/models/{model}:streamGenerateContent` | as above | with `alt=sse`, `data:` frames ending `\r\n\r\n` (a word each, or every function call in one chunk; finish and usage on the last, no `[DONE]`); without, a JSON array of the same chunks |
//! | `POST /v1beta/models/{model}:countTokens` | as above | `{"totalTokens":N}` |
//! | anything else | | 404 in the route's provider's shape |
//!
//! A wrong key is a 401 for OpenAI (`invalid_api_key`) and Anthropic (`authentication_error`);
//! Gemini answers a wrong key with 400 `API_KEY_INVALID` and a missing one with 403. Anthropic
//! without `anthropic-version` is a 400. Each dialect validates its requests as its provider does
//! (`anthropic::request`, `gemini::request` list the checks) and answers mistakes with that
//! provider's 400.
//!
//! # Tool calls
//! When the last turn is a user turn mentioning "weather" (any case, anywhere in a word) and
//! tools are offered, the answer calls the first tool with `{"city":"Oslo"}`. When that turn also
//! has the word "time" (any case, as a word of its own) and a second tool is offered, it calls the
//! second tool too, with the same arguments: parallel calls, in offered order. OpenAI's
//! `parallel_tool_calls:false` and Anthropic's `tool_choice.disable_parallel_tool_use:true` keep
//! only the first call; Gemini has no such switch. Turning tools off (`tool_choice` `none`,
//! `functionCallingConfig.mode` `NONE`) means no calls. Calls finish with `tool_calls`,
//! `tool_use` or `STOP`.
//!
//! The answer is decided once for every dialect (`answer::decide`). Token counts: the prompt is
//! the number of whitespace-separated words in all message and system text (tool results
//! included), the output the number of words answered (8 per tool call). An output limit
//! (`max_tokens`, `max_completion_tokens`, `maxOutputTokens`) truncates the answer to that many
//! words (`length`, `max_tokens`, `MAX_TOKENS`). An Anthropic or Gemini stop sequence equal to a
//! word of the answer ends it before that word (`stop_sequence` with the sequence; Gemini `STOP`).
//!
//! Models named `reasoning-*` report [`REASONING_TOKENS`] reasoning tokens: inside
//! `completion_tokens` (OpenAI) and `output_tokens` (Anthropic, which also sends a thinking block
//! [`THINKING`] signed [`THINKING_SIGNATURE`] before the text), apart from
//! `candidatesTokenCount` as `thoughtsTokenCount` (Gemini). Models named `cache-*` report
//! [`CACHED_TOKENS`] cached prompt tokens on top of the words: inside `prompt_tokens` as
//! `cached_tokens` (OpenAI) and `promptTokenCount` as `cachedContentTokenCount` (Gemini), outside
//! `input_tokens` as `cache_read_input_tokens` (Anthropic). Gemini `functionCall` parts carry
//! `thoughtSignature` [`THOUGHT_SIGNATURE`], and a `gemini-3*` model refuses a replayed
//! function-call turn whose first call lacks one.
//!
//! # Faults
//! A request picks a fault by its model name (for Gemini, the model in the path), so a gateway
//! test configures a model whose upstream model is one of these. They apply to every chat route;
//! the status, delay and hang faults, `fault-cut-stream` (non-stream) and `fault-no-usage` apply
//! to embeddings too. Error statuses use each provider's body: OpenAI `{"error":{…}}`, Anthropic
//! `{"type":"error","error":{"type","message"}}`, Gemini `{"error":{"code","message","status"}}`.
//!
//! | model | OpenAI | Anthropic | Gemini |
//! | --- | --- | --- | --- |
//! | `fault-500` | 500 `server_error` | 500 `api_error` | 500 `INTERNAL` |
//! | `fault-503` | 503 `server_error`, `retry-after: 1` | 503 `api_error`, `retry-after: 1` | 503 `UNAVAILABLE` |
//! | `fault-529` | as `fault-503` | 529 `overloaded_error` | as `fault-503` |
//! | `fault-429` | 429 `rate_limit_exceeded`, `retry-after: 1`, `retry-after-ms: 1000` | 429 `rate_limit_error`, `retry-after: 1` | 429 `RESOURCE_EXHAUSTED` with `RetryInfo{retryDelay:"1s"}` |
//! | `fault-400` | 400 `invalid_request_error`, param `messages`, code `mock_rejected` | 400 `invalid_request_error` | 400 `INVALID_ARGUMENT` |
//! | `fault-flat-400` | 400 with the flat Mistral/vLLM body `{"object":"error","message":"mock: flat error",…}` | as `fault-400` | as `fault-400` |
//! | `fault-blocked` | answers normally | answers normally | 200 without candidates, `promptFeedback:{blockReason:"SAFETY"}` |
//! | `fault-slow-first-byte` | waits 2 s before the response head, then answers normally | same | same |
//! | `fault-hang` | never answers; the connection is held until the client leaves or the mock stops | same | same |
//! | `fault-cut-stream` | stream: role chunk and 3 content chunks, then the connection is cut (no finish, usage or `[DONE]`) | stream: events up to the 3rd `content_block_delta`, then cut | stream: 3 chunks, then cut |
//! | | non-stream, every dialect: `content-length` of the whole body, half of it sent, then cut | | |
//! | `fault-no-usage` | no `usage` field, and no usage chunk even when `include_usage` is asked | no `usage` in the message, `message_start` or `message_delta` | no `usageMetadata` |
//! | `fault-stream-error` | stream: role chunk and 2 content chunks, then `data: {"error":{…}}` and the end of the body (no `[DONE]`) | events up to the 2nd delta, then `event: error` with `overloaded_error` | 2 chunks, then a `{"error":{…,"status":"INTERNAL"}}` frame |
//! | `fault-slow-stream` | a normal stream with 200 ms before each frame | same | same |
//! | `fault-flaky-503` | about half of the requests: as `fault-503` but without `retry-after`; the others answer normally | same | same |
//! | `latency-<N>-<model>` | waits N ms before the response head, then answers as for `<model>` (`latency-50-gpt` as `gpt`, `latency-50-fault-500` with a 500) | same | same |
//!
//! `fault-early-stream-error` is `fault-stream-error` with its error as the first event after
//! the 200 head (no role chunk, no `message_start`, no chunk before it).
//!
//! Non-stream requests answer normally under `fault-stream-error`, `fault-early-stream-error`
//! and `fault-slow-stream`.
//!
//! Which requests of `fault-flaky-503` fail is decided by the request's number among those naming
//! that exact model name, run through the SplitMix64 hash (low bit): reproducible from run to
//! run, yet not a strict alternation. Counts are per model name, so `latency-10-fault-flaky-503`
//! has its own.
//!
//! Besides the names, a test can switch an outage on for any model name with
//! [`MockUpstream::set_outage`]: while it is on, requests naming that model answer at once as
//! `fault-500` does. [`MockUpstream::requests_for`] counts the requests that named a model (in
//! the body, or in the path for Gemini), recorded or not, failed or not.

mod answer;
mod anthropic;
mod body;
mod chat;
mod completion;
mod embeddings;
mod error;
mod faults;
mod gemini;
mod models;
mod record;
mod route;
mod server;
mod sse;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use answer::{CACHED_TOKENS, REASONING_TOKENS};
pub use anthropic::{THINKING, THINKING_SIGNATURE};
pub use gemini::THOUGHT_SIGNATURE;
pub use record::Recorded;

/// The API key a [`MockUpstream`] accepts unless [`MockOptions::api_key`] says otherwise.
pub const DEFAULT_API_KEY: &str = "mock-upstream-key";

/// Tuning for a [`MockUpstream`]; `MockOptions::default()` is what [`MockUpstream::spawn`] uses.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Delay before every response head, after the request body has been read.
    pub latency: Duration,
    /// Delay before each frame of a normal stream.
    pub chunk_delay: Duration,
    /// Keep every request for [`MockUpstream::requests`]. Benchmarks turn it off so memory stays
    /// flat; [`MockUpstream::request_count`] counts either way.
    pub record: bool,
    /// Model ids listed by `GET /v1/models`; the fault models are always listed after them.
    pub models: Vec<String>,
    /// The key requests must carry, in the form each route's provider expects.
    pub api_key: String,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            record: true,
            models: ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
                .map(String::from)
                .to_vec(),
            api_key: DEFAULT_API_KEY.to_owned(),
        }
    }
}

/// A running mock upstream. It serves until dropped or [`shut down`](MockUpstream::shutdown);
/// either way every open connection is closed, hung ones included.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    task: Option<JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts a mock with default options on a free port of 127.0.0.1.
    pub async fn spawn() -> MockUpstream {
        Self::spawn_with(MockOptions::default()).await
    }

    /// Starts a mock with `options` on a free port of 127.0.0.1.
    #[expect(
        clippy::expect_used,
        reason = "binding port 0 on loopback fails only on a machine unfit to run tests at all"
    )]
    pub async fn spawn_with(options: MockOptions) -> MockUpstream {
        Self::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options)
            .await
            .expect("bind the mock upstream to 127.0.0.1:0")
    }

    /// Starts a mock on `addr`, for the standalone binary that listens on a chosen port.
    pub async fn bind(addr: SocketAddr, options: MockOptions) -> io::Result<MockUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(server::Shared::new(options));
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(MockUpstream {
            addr,
            shared,
            task: Some(task),
        })
    }

    /// The address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client appends routes to, such as `http://127.0.0.1:40123/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL of the Anthropic routes, the same as [`base_url`](Self::base_url): a client
    /// appends `/messages`.
    pub fn anthropic_base_url(&self) -> String {
        self.base_url()
    }

    /// The base URL of the Gemini routes, such as `http://127.0.0.1:40123/v1beta`: a client
    /// appends `/models/{model}:generateContent` or `/models/{model}:streamGenerateContent?alt=sse`.
    pub fn gemini_base_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// The key every route accepts: as `Authorization: Bearer <key>` (OpenAI), `x-api-key`
    /// (Anthropic), or `x-goog-api-key` or `?key=` (Gemini).
    pub fn api_key(&self) -> &str {
        &self.shared.options.api_key
    }

    /// Every request received so far, in the order their bodies finished arriving. Empty when
    /// [`MockOptions::record`] is off.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorder.all()
    }

    /// The most recent request, if any was recorded.
    pub fn last_request(&self) -> Option<Recorded> {
        self.shared.recorder.last()
    }

    /// How many requests were received, whether or not they were recorded.
    pub fn request_count(&self) -> usize {
        self.shared.recorder.count()
    }

    /// How many requests named `model` (exactly, the body's `model` or Gemini's path model),
    /// whatever they were answered with and whether or not [`MockOptions::record`] is on.
    pub fn requests_for(&self, model: &str) -> usize {
        usize::try_from(self.shared.models.count(model)).unwrap_or(usize::MAX)
    }

    /// Requests whose response head has not been sent yet. A `fault-hang` request leaves this
    /// count only when its client (the gateway) drops the request: the test of cancellation.
    pub fn awaiting_head(&self) -> usize {
        usize::try_from(
            self.shared
                .awaiting_head
                .load(std::sync::atomic::Ordering::Relaxed),
        )
        .unwrap_or(usize::MAX)
    }

    /// Switches an outage of `model` on or off: while on, every request naming exactly that
    /// model answers at once with `fault-500`'s error, in its dialect's shape.
    pub fn set_outage(&self, model: &str, on: bool) {
        self.shared.models.set_outage(model, on);
    }

    /// Stops serving, closes every open connection and waits until the port is released.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The task ends cancelled; that is the expected outcome, not an error to report.
            let _ = task.await;
        }
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        // Aborting the accept loop drops its set of connection tasks, which aborts each of them.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
