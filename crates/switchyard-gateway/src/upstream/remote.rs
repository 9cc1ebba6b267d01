//! The HTTP adapter for every remote provider kind. One pooled client; what differs per kind is
//! only the URL of an operation and how the key is presented:
//!
//! | kind | chat | embeddings | key |
//! | --- | --- | --- | --- |
//! | `openai` (OpenAI, DeepSeek, Mistral, OpenRouter, vLLM, Ollama…) | `/chat/completions` | `/embeddings` | `Authorization: Bearer` |
//! | `anthropic` | `/messages` | — | `x-api-key` + `anthropic-version` |
//! | `gemini` | `/models/{model}:generateContent`, `:streamGenerateContent?alt=sse` | — | `x-goog-api-key` |

use super::h1;
use super::{ByteStream, FailureKind, Phase, UpstreamError, UpstreamRequest, UpstreamResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use switchyard_core::catalog::{Provider, ProviderKind, Timeouts};
use switchyard_wire::openai::Endpoint;

/// The Messages API version every Anthropic request names.
const ANTHROPIC_VERSION: &str = "2023-06-01";

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A pooled HTTP client for one provider.
pub struct Client {
    name: String,
    kind: ProviderKind,
    client: HyperClient<Connector, Full<Bytes>>,
    /// For an `http://` base URL, the connections the request's own task drives (`h1.rs`);
    /// HTTPS goes through `client`.
    direct: Option<h1::Pool>,
    base: String,
    /// `base_url` + operation path, pre-parsed (none for Gemini, whose path names the model).
    chat_uri: Option<Uri>,
    embeddings_uri: Option<Uri>,
    /// The key header, as this kind presents it.
    auth: Option<(HeaderName, HeaderValue)>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("remote::Client")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(provider: &Provider) -> Result<Client, String> {
        let base = provider.base_url.trim_end_matches('/');
        let parse = |path: &str| -> Result<Uri, String> {
            format!("{base}{path}")
                .parse::<Uri>()
                .map_err(|e| format!("base_url `{}` is not a valid URL: {e}", provider.base_url))
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(provider.timeouts.connect));
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let base_uri = parse("")?;
        let direct = if base_uri.scheme() == Some(&http::uri::Scheme::HTTP) {
            Some(h1::Pool::new(base_uri, http.clone())?)
        } else {
            None
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .build(https);
        let auth = match &provider.api_key {
            Some(key) if !key.is_empty() => {
                let (name, text) = match provider.kind {
                    ProviderKind::Anthropic => (
                        HeaderName::from_static("x-api-key"),
                        key.expose().to_owned(),
                    ),
                    ProviderKind::Gemini => (
                        HeaderName::from_static("x-goog-api-key"),
                        key.expose().to_owned(),
                    ),
                    ProviderKind::Openai | ProviderKind::Demo => {
                        (AUTHORIZATION, format!("Bearer {}", key.expose()))
                    }
                };
                let mut value = HeaderValue::from_str(&text).map_err(|_| {
                    "the API key contains characters not allowed in a header".to_owned()
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
            _ => None,
        };
        let (chat_uri, embeddings_uri) = match provider.kind {
            ProviderKind::Openai | ProviderKind::Demo => (
                Some(parse("/chat/completions")?),
                Some(parse("/embeddings")?),
            ),
            ProviderKind::Anthropic => (Some(parse("/messages")?), None),
            ProviderKind::Gemini => {
                parse("/models/m:generateContent")?;
                (None, None)
            }
        };
        Ok(Client {
            name: provider.name.clone(),
            kind: provider.kind,
            client,
            direct,
            base: base.to_owned(),
            chat_uri,
            embeddings_uri,
            auth,
            timeouts: provider.timeouts,
        })
    }

    /// Where `request` goes.
    fn uri(&self, request: &UpstreamRequest) -> Result<Uri, UpstreamError> {
        let fixed = match request.endpoint {
            Endpoint::Embeddings => &self.embeddings_uri,
            _ => &self.chat_uri,
        };
        if let Some(uri) = fixed {
            return Ok(uri.clone());
        }
        if self.kind != ProviderKind::Gemini || request.endpoint == Endpoint::Embeddings {
            return Err(self.error(
                Phase::Connect,
                FailureKind::Transport,
                format!(
                    "provider kind `{}` has no {} endpoint",
                    self.kind.as_str(),
                    request.endpoint.name()
                ),
            ));
        }
        let method = if request.stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        format!(
            "{}/models/{}:{method}",
            self.base,
            percent_encode_path(&request.model)
        )
        .parse::<Uri>()
        .map_err(|e| self.error(Phase::Connect, FailureKind::Transport, e))
    }

    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let uri = self.uri(&request)?;
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some((name, value)) = &self.auth {
            builder = builder.header(name, value.clone());
        }
        if self.kind == ProviderKind::Anthropic {
            builder = builder.header(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
            if let Some(beta) = &request.anthropic_beta {
                builder = builder.header(HeaderName::from_static("anthropic-beta"), beta.clone());
            }
        }
        if request.stream {
            builder = builder.header(
                http::header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            );
        }
        let http_request = builder
            .body(Full::new(request.body))
            .map_err(|e| self.error(Phase::Connect, FailureKind::Transport, e))?;
        let first_byte = request.first_byte.unwrap_or(self.timeouts.first_byte);
        if let Some(pool) = &self.direct {
            return self.send_direct(pool, http_request, first_byte).await;
        }
        let response =
            match tokio::time::timeout(first_byte, self.client.request(http_request)).await {
                Err(_) => return Err(self.no_head(first_byte)),
                Ok(Err(e)) => return Err(self.classify_request_error(&e)),
                Ok(Ok(response)) => response,
            };
        let (parts, body) = response.into_parts();
        Ok(self.answer(parts, body.into_data_stream()))
    }

    /// [`Client::send`] over a connection of the `http://` pool.
    async fn send_direct(
        &self,
        pool: &h1::Pool,
        mut request: Request<Full<Bytes>>,
        first_byte: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        // HTTP/1.1 names the origin in `Host` (the pool sets it) and the path alone here.
        if let Some(path) = request.uri().path_and_query() {
            *request.uri_mut() = Uri::from(path.clone());
        }
        let response = match tokio::time::timeout(first_byte, pool.send(request)).await {
            Err(_) => return Err(self.no_head(first_byte)),
            Ok(Err(h1::Failure::Connect(text))) => return Err(self.connect_error(text)),
            Ok(Err(h1::Failure::Exchange(e))) => {
                return Err(self.error(Phase::FirstByte, FailureKind::Transport, error_chain(&e)));
            }
            Ok(Ok(response)) => response,
        };
        let (parts, body) = response.into_parts();
        Ok(self.answer(parts, body))
    }

    /// The first-byte deadline passed.
    fn no_head(&self, first_byte: Duration) -> UpstreamError {
        self.error(
            Phase::FirstByte,
            FailureKind::Timeout,
            format!("no response head within {} ms", first_byte.as_millis()),
        )
    }

    /// A response head and its body, whose failures become body-phase transport errors.
    fn answer<S>(&self, head: http::response::Parts, body: S) -> UpstreamResponse
    where
        S: futures_util::Stream<Item = Result<Bytes, hyper::Error>> + Send + 'static,
    {
        let name = self.name.clone();
        let body: ByteStream = body
            .map(move |chunk| {
                chunk.map_err(|e| UpstreamError {
                    provider: name.clone(),
                    phase: Phase::Body,
                    kind: FailureKind::Transport,
                    detail: e.to_string(),
                })
            })
            .boxed();
        UpstreamResponse {
            status: head.status,
            headers: head.headers,
            body,
        }
    }

    /// `GET {base_url}/models` with the provider's key (each kind lists its models there), the
    /// body read and dropped. Nothing is billed and nothing is generated.
    pub async fn probe(&self, within: Duration) -> Result<http::StatusCode, UpstreamError> {
        let uri: Uri = format!("{}/models", self.base)
            .parse()
            .map_err(|e| self.error(Phase::Connect, FailureKind::Transport, e))?;
        let mut builder = Request::builder().method(Method::GET).uri(uri);
        if let Some((name, value)) = &self.auth {
            builder = builder.header(name, value.clone());
        }
        if self.kind == ProviderKind::Anthropic {
            builder = builder.header(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
        }
        let request = builder
            .body(Full::new(Bytes::new()))
            .map_err(|e| self.error(Phase::Connect, FailureKind::Transport, e))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| self.classify_request_error(&e))?;
            let status = response.status();
            // Read the body so the connection returns to the pool; what it says is not used.
            let _ = response.into_body().collect().await;
            Ok(status)
        };
        tokio::time::timeout(within, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(self.error(
                    Phase::FirstByte,
                    FailureKind::Timeout,
                    format!("no answer within {} ms", within.as_millis()),
                ))
            })
    }

    fn error(
        &self,
        phase: Phase,
        kind: FailureKind,
        detail: impl std::fmt::Display,
    ) -> UpstreamError {
        UpstreamError {
            provider: self.name.clone(),
            phase,
            kind,
            detail: detail.to_string(),
        }
    }

    fn classify_request_error(&self, e: &hyper_util::client::legacy::Error) -> UpstreamError {
        // hyper-util reports connect failures (including the connect timeout) as `is_connect`.
        let text = error_chain(e);
        if e.is_connect() {
            self.connect_error(text)
        } else {
            self.error(Phase::FirstByte, FailureKind::Transport, text)
        }
    }

    /// A failure to open a connection; the connector reports its deadline only in words.
    fn connect_error(&self, text: String) -> UpstreamError {
        let kind = if text.contains("timed out") || text.contains("timeout") {
            FailureKind::Timeout
        } else {
            FailureKind::Transport
        };
        self.error(Phase::Connect, kind, text)
    }
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `text` safe inside one URL path segment (model ids are plain, but an operator could write
/// anything in the config).
fn percent_encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
