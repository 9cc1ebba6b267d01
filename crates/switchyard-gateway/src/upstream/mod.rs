//! Upstream adapters: one per provider *kind*, each turning a prepared request body into the
//! provider's HTTP exchange. Only this module knows provider URLs and auth headers.
//!
//! Errors record where they happened ([`Phase`]) and whether a retry could be safe, so routing
//! (a later issue) can decide on fields, never on message text.

pub mod demo;
mod h1;
pub mod remote;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use http::{HeaderMap, StatusCode};
use std::time::Duration;
use switchyard_core::catalog::{Provider, ProviderKind, Timeouts};
use switchyard_wire::openai::Endpoint;

/// The body of an upstream response, as it arrives.
pub type ByteStream = BoxStream<'static, Result<Bytes, UpstreamError>>;

/// The wire format an upstream speaks, which decides how requests and answers translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Format {
    pub fn of(kind: ProviderKind) -> Format {
        match kind {
            ProviderKind::Openai | ProviderKind::Demo => Format::OpenAi,
            ProviderKind::Anthropic => Format::Anthropic,
            ProviderKind::Gemini => Format::Gemini,
        }
    }
}

/// What the gateway asks an upstream.
#[derive(Debug)]
pub struct UpstreamRequest {
    /// The operation: `ChatCompletions` (chat in the upstream's own dialect, whatever its path)
    /// or `Embeddings`.
    pub endpoint: Endpoint,
    /// The upstream's model id (Gemini names it in the URL; others read it from the body).
    pub model: String,
    /// The body in the upstream's wire format, model already rewritten.
    pub body: Bytes,
    pub stream: bool,
    /// The client's `anthropic-beta` header, for an Anthropic pass-through.
    pub anthropic_beta: Option<http::HeaderValue>,
    /// The channel's first-byte deadline, when it differs from the provider's.
    pub first_byte: Option<Duration>,
}

/// The head and body of an upstream's answer.
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: ByteStream,
}

impl std::fmt::Debug for UpstreamResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// When in the exchange an upstream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connect,
    /// Waiting for the response head.
    FirstByte,
    /// Reading the body.
    Body,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A deadline passed.
    Timeout,
    /// Connection refused, reset, TLS failure, malformed HTTP.
    Transport,
}

/// A failed upstream exchange.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider}: {kind:?} during {phase:?}: {detail}")]
pub struct UpstreamError {
    pub provider: String,
    pub phase: Phase,
    pub kind: FailureKind,
    pub detail: String,
}

impl UpstreamError {
    /// A retry on another channel is safe only if nothing reached the client yet, which is
    /// the case for every failure before the body.
    pub fn retry_safe(&self) -> bool {
        self.phase != Phase::Body
    }
}

/// One configured upstream, ready to send requests.
#[derive(Debug)]
pub enum Upstream {
    Http(Box<remote::Client>),
    Demo(demo::Demo),
}

impl Upstream {
    pub fn new(provider: &Provider, demo_word_delay: Duration) -> Result<Upstream, String> {
        Ok(match provider.kind {
            ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Gemini => {
                Upstream::Http(Box::new(remote::Client::new(provider)?))
            }
            ProviderKind::Demo => Upstream::Demo(demo::Demo::new(demo_word_delay)),
        })
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        match self {
            Upstream::Http(h) => h.send(request).await,
            Upstream::Demo(d) => Ok(d.send(request)),
        }
    }

    /// The wire format this upstream speaks.
    pub fn format(&self) -> Format {
        match self {
            Upstream::Http(h) => Format::of(h.kind()),
            Upstream::Demo(_) => Format::OpenAi,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        match self {
            Upstream::Http(h) => h.timeouts(),
            Upstream::Demo(_) => Timeouts {
                connect: Duration::from_secs(1),
                first_byte: Duration::from_secs(10),
                total: Duration::from_secs(120),
            },
        }
    }

    /// Tests the connection with the cheapest authenticated call the kind has (listing its
    /// models), within `within`. `Ok` carries the answer's status, whatever it is; `Err` a
    /// failure to get one. The demo provider always answers 200.
    pub async fn probe(&self, within: Duration) -> Result<StatusCode, UpstreamError> {
        match self {
            Upstream::Http(h) => h.probe(within).await,
            Upstream::Demo(_) => Ok(StatusCode::OK),
        }
    }
}
