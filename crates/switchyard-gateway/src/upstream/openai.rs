//! The adapter for every OpenAI-compatible HTTP API: OpenAI, DeepSeek, Mistral, OpenRouter,
//! vLLM, Ollama… They differ only in configuration (base URL, key), never in code.

use super::{ByteStream, FailureKind, Phase, UpstreamError, UpstreamRequest, UpstreamResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use switchyard_core::catalog::{Provider, Timeouts};

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A pooled HTTP client for one provider.
pub struct Client {
    name: String,
    client: HyperClient<Connector, Full<Bytes>>,
    /// `base_url` + endpoint path, pre-parsed per endpoint.
    chat_uri: Uri,
    embeddings_uri: Uri,
    auth: Option<HeaderValue>,
    timeouts: Timeouts,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("openai::Client")
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
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                    .map_err(|_| {
                        "the API key contains characters not allowed in a header".to_owned()
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            _ => None,
        };
        Ok(Client {
            name: provider.name.clone(),
            client,
            chat_uri: parse("/chat/completions")?,
            embeddings_uri: parse("/embeddings")?,
            auth,
            timeouts: provider.timeouts,
        })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let uri = match request.endpoint {
            switchyard_wire::openai::Endpoint::ChatCompletions => self.chat_uri.clone(),
            switchyard_wire::openai::Endpoint::Embeddings => self.embeddings_uri.clone(),
        };
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(auth) = &self.auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
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
        let response =
            match tokio::time::timeout(self.timeouts.first_byte, self.client.request(http_request))
                .await
            {
                Err(_) => {
                    return Err(self.error(
                        Phase::FirstByte,
                        FailureKind::Timeout,
                        format!(
                            "no response head within {} ms",
                            self.timeouts.first_byte.as_millis()
                        ),
                    ));
                }
                Ok(Err(e)) => return Err(self.classify_request_error(&e)),
                Ok(Ok(response)) => response,
            };
        let (parts, body) = response.into_parts();
        let name = self.name.clone();
        let body: ByteStream = body
            .into_data_stream()
            .map(move |chunk| {
                chunk.map_err(|e| UpstreamError {
                    provider: name.clone(),
                    phase: Phase::Body,
                    kind: FailureKind::Transport,
                    detail: e.to_string(),
                })
            })
            .boxed();
        Ok(UpstreamResponse {
            status: parts.status,
            headers: parts.headers,
            body,
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
            let kind = if text.contains("timed out") || text.contains("timeout") {
                FailureKind::Timeout
            } else {
                FailureKind::Transport
            };
            self.error(Phase::Connect, kind, text)
        } else {
            self.error(Phase::FirstByte, FailureKind::Transport, text)
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
