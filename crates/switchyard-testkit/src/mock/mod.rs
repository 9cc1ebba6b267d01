//! A faithful mock of an OpenAI-compatible upstream, served over real HTTP on 127.0.0.1.
//!
//! The gateway's tests point a channel at [`MockUpstream::base_url`] and then assert on what the
//! gateway sent ([`MockUpstream::requests`]) and on what reached the client. The mock follows the
//! wire formats in `shared/reference/wire-formats.md` §1 and §3: OpenAI error bodies, Bearer auth,
//! `x-request-id` and `x-ratelimit-*` headers, and the exact streaming frame order of §1.4.
//!
//! Everything is deterministic: ids count up per mock (`chatcmpl-mock-1`, `call_mock_1`, …),
//! `created` is always 1730000000, answers and token counts derive from the request's words, and
//! embeddings derive from a hash of each input.
//!
//! # Routes
//! | route | answer |
//! | --- | --- |
//! | `POST /v1/chat/completions` | "Mock answer to: <first 5 words of the last user message>", or one call to the first tool when the last message is a user message mentioning "weather" |
//! | `POST /v1/embeddings` | unit vectors of 8 dimensions (or `dimensions`), as floats or base64 |
//! | `GET /v1/models`, `GET /v1/models/{id}` | the configured models plus every fault model |
//! | anything else | 404 `Invalid URL (METHOD /path)` |
//!
//! Token counts: `prompt_tokens` is the number of whitespace-separated words in all message
//! text, `completion_tokens` the number of words answered (8 for a tool call); `max_tokens` or
//! `max_completion_tokens` truncate the answer to that many words with `finish_reason:"length"`.
//!
//! # Faults
//! A request picks a fault by its `model` name, so a gateway test configures a model whose
//! upstream model is one of these. They apply to chat completions; the status, delay and hang
//! faults, `fault-cut-stream` (non-stream) and `fault-no-usage` apply to embeddings too.
//!
//! | model | behaviour |
//! | --- | --- |
//! | `fault-500` | 500 `server_error` |
//! | `fault-503` | 503 `server_error`, `retry-after: 1` |
//! | `fault-429` | 429 `rate_limit_exceeded`, `retry-after: 1`, `retry-after-ms: 1000` |
//! | `fault-400` | 400 `invalid_request_error`, param `messages`, code `mock_rejected`, message "mock: this model rejects the request" |
//! | `fault-flat-400` | 400 with the flat Mistral/vLLM body `{"object":"error","message":"mock: flat error",…}` |
//! | `fault-slow-first-byte` | waits 2 s before the response head, then answers normally |
//! | `fault-hang` | never answers; the connection is held until the client leaves or the mock stops |
//! | `fault-cut-stream` | stream: role chunk and 3 content chunks, then the connection is cut (no finish, usage or `[DONE]`); non-stream: `content-length` of the whole body, half of it sent, then cut |
//! | `fault-no-usage` | a complete answer without usage: no `usage` field, and no usage chunk even when `include_usage` is asked |
//! | `fault-stream-error` | stream: role chunk and 2 content chunks, then `data: {"error":{…}}` and the end of the body (no `[DONE]`); non-stream: normal |
//! | `fault-slow-stream` | a normal stream with 200 ms between frames; non-stream: normal |
//!
//! Models named `reasoning-*` answer normally and report [`REASONING_TOKENS`] reasoning tokens,
//! counted inside `completion_tokens`.

mod body;
mod chat;
mod completion;
mod embeddings;
mod error;
mod faults;
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

pub use chat::REASONING_TOKENS;
pub use record::Recorded;

/// The API key a [`MockUpstream`] accepts unless [`MockOptions::api_key`] says otherwise.
pub const DEFAULT_API_KEY: &str = "mock-upstream-key";

/// Tuning for a [`MockUpstream`]; `MockOptions::default()` is what [`MockUpstream::spawn`] uses.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Delay before every response head, after the request body has been read.
    pub latency: Duration,
    /// Delay between the frames of a normal stream.
    pub chunk_delay: Duration,
    /// Keep every request for [`MockUpstream::requests`]. Benchmarks turn it off so memory stays
    /// flat; [`MockUpstream::request_count`] counts either way.
    pub record: bool,
    /// Model ids listed by `GET /v1/models`; the fault models are always listed after them.
    pub models: Vec<String>,
    /// The key requests must carry as `Authorization: Bearer <key>`.
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

    /// The key requests must carry as `Authorization: Bearer <key>`.
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
