//! One attempt on one channel: dispatch, then (when it answers) translate back, meter and
//! settle. A failure before anything reached the client is [`Failed::Retryable`] when another
//! channel might do better: a connect error, a first-byte timeout, a 429, a 408 or a 5xx, or a
//! body cut before it was complete. A client's own 4xx, a deadline that has passed and anything
//! after the first streamed byte are final.

use super::failure::{self, Collect};
use super::{Gateway, RequestMeta};
use crate::error::{ApiError, Dialect};
use crate::relay::{Meter, Output, Pending, Relay};
use crate::routing::{AfterFailure, Candidate, RoutingConfig};
use crate::translate::{self, Plan};
use crate::upstream::{ByteStream, UpstreamError};
use crate::upstream::{Format, UpstreamRequest};
use crate::{Body, meter, observe};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Response};
use http_body_util::{BodyExt, Full};
use std::time::Instant;
use switchyard_core::error::ErrorCode;
use switchyard_wire::anthropic;
use switchyard_wire::neutral::ChatRequest;
use switchyard_wire::neutral::{ErrorInfo, ErrorKind, StreamEvent};
use switchyard_wire::openai::usage::usage_of_response;
use switchyard_wire::openai::{Endpoint, RequestPeek};
use switchyard_wire::sse;

/// The receipt of where a request was processed.
pub const JURISDICTION_HEADER: &str = "x-switchyard-jurisdiction";

/// What every attempt of one request shares.
pub(super) struct Request<'a> {
    pub endpoint: Endpoint,
    pub meta: &'a RequestMeta,
    pub peek: &'a RequestPeek<'a>,
    /// The request in the neutral form, when some channel needs a translation.
    pub neutral: Option<&'a ChatRequest>,
    pub default_max: u64,
}

/// How an attempt failed.
pub(super) enum Failed {
    /// Nothing reached the client, and another channel may succeed.
    Retryable(ApiError),
    /// The request ends with this error.
    Final(ApiError),
}

impl Gateway {
    pub(super) async fn attempt(
        &self,
        request: &Request<'_>,
        candidate: &Candidate,
        probe: bool,
        config: &RoutingConfig,
        pending: &mut Pending,
    ) -> Result<Response<Body>, Failed> {
        let Request {
            endpoint,
            meta,
            peek,
            ..
        } = *request;
        let entry = candidate.entry();
        let health = &entry.health;
        let name = entry.provider.provider.name.as_str();
        if entry.provider.unusable.is_some() {
            // Nothing was sent, so another channel may serve; the channel's health is left
            // alone (its upstream did nothing wrong) and the operator was told at load.
            return Err(Failed::Retryable(failure::unusable_provider(name)));
        }
        let upstream = &entry.provider.upstream;
        let format = upstream.format();
        let plan = translate::plan(endpoint, format, &peek.model).map_err(Failed::Final)?;
        let neutral = match plan {
            Plan::PassThrough => None,
            Plan::Translate => request.neutral,
        };
        pending.set_channel(entry, health.start(probe));
        let upstream_model = &entry.channel.upstream_model;
        let body = Bytes::from(match neutral {
            None => peek.upstream_body(upstream_model),
            Some(neutral) => {
                translate::encode_request(format, neutral, upstream_model, request.default_max)
            }
        });
        let mut timeouts = upstream.timeouts();
        timeouts.total = entry.channel.total_timeout.unwrap_or(timeouts.total);
        let deadline = meta.received + timeouts.total;
        let sent = Instant::now();
        let upstream_request = UpstreamRequest {
            endpoint: match endpoint {
                Endpoint::Embeddings => Endpoint::Embeddings,
                _ => Endpoint::ChatCompletions,
            },
            model: upstream_model.clone(),
            body,
            stream: peek.stream,
            anthropic_beta: match (plan, format) {
                (Plan::PassThrough, Format::Anthropic) => meta.anthropic_beta.clone(),
                _ => None,
            },
            first_byte: entry.channel.first_byte_timeout,
        };
        let failed = |error: ApiError, retry: bool| {
            if let AfterFailure::Ejected(period) = health.failed(super::now_millis(), config) {
                observe::channel_ejected(&candidate.route.model.name, entry.name());
                tracing::warn!(model = %candidate.route.model.name, channel = entry.name(), seconds = period.as_secs(), "channel ejected after consecutive failures");
            }
            if retry {
                Failed::Retryable(error)
            } else {
                Failed::Final(error)
            }
        };
        let response =
            match tokio::time::timeout_at(deadline.into(), upstream.send(upstream_request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return Err(failed(failure::upstream_failure(&e), e.retry_safe())),
                Err(_) => return Err(failed(failure::total_timeout(name, timeouts.total), false)),
            };
        if !response.status.is_success() {
            let bytes = failure::collect(response.body, 1 << 20, deadline, name, timeouts.total)
                .await
                .map_err(|e| failed(e.into_error(), false))?;
            let status = response.status.as_u16();
            let error = failure::upstream_status_error(
                name,
                format,
                response.status,
                &response.headers,
                &bytes,
            );
            if let Some(wait) = failure::retry_after(&error)
                && (status == 429 || status >= 500)
            {
                health.cool(super::now_millis(), wait.min(config.max_cooling));
            }
            return Err(match status {
                // Rate limited: the channel is fine, only busy for now.
                429 => Failed::Retryable(error),
                408 | 500.. => failed(error, true),
                // The client's own mistake: the channel works.
                _ => {
                    health.succeeded(sent.elapsed());
                    Failed::Final(error)
                }
            });
        }
        let latency = sent.elapsed();
        let jurisdiction = HeaderValue::from_str(entry.jurisdiction()).ok();
        let prices = entry.prices;
        let is_sse = response
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if peek.stream && is_sse {
            // Nothing has reached the client until the first event is relayed: an upstream
            // that opens its stream with an error is as retryable as one that answers 5xx.
            let (opening, rest) = match first_event(response.body, format, deadline).await {
                Opening::Events(opening, rest) => (opening, rest),
                // A rate limit says nothing about the channel's health.
                Opening::Error(error) if error.kind == ErrorKind::RateLimit => {
                    return Err(Failed::Retryable(error_of(name, &error)));
                }
                Opening::Error(error) => return Err(failed(error_of(name, &error), true)),
                Opening::Failed(e) => return Err(failed(failure::upstream_failure(&e), true)),
                Opening::Deadline => {
                    return Err(failed(failure::total_timeout(name, timeouts.total), false));
                }
            };
            health.succeeded(latency);
            let body = futures_util::stream::iter(opening.into_iter().map(Ok))
                .chain(rest)
                .boxed();
            let (meter, output) = match (neutral, format) {
                (None, Format::OpenAi) => (
                    Meter::OpenAiPeek {
                        client_wants_usage: peek.client_wants_usage,
                    },
                    Output::Raw(Dialect::of(endpoint)),
                ),
                (None, _) => (
                    Meter::Decode(translate::stream_decoder(format)),
                    Output::Raw(Dialect::of(endpoint)),
                ),
                (Some(neutral), _) => (
                    Meter::Decode(translate::stream_decoder(format)),
                    Output::Encode(translate::stream_encoder(
                        endpoint,
                        neutral,
                        &peek.model,
                        meta.received_at / 1_000,
                        peek.client_wants_usage,
                    )),
                ),
            };
            let relay = Relay::new(body, pending.hand_over(), meter, output, deadline, prices);
            let mut http = Response::new(relay.into_body());
            let headers = http.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            );
            if let Some(j) = jurisdiction {
                headers.insert(HeaderName::from_static(JURISDICTION_HEADER), j);
            }
            return Ok(http);
        }
        health.succeeded(latency);
        let bytes = failure::collect(
            response.body,
            self.config.max_response_bytes,
            deadline,
            name,
            timeouts.total,
        )
        .await
        .map_err(|e| match e {
            // Cut mid-body: nothing reached the client yet, so another channel may answer.
            Collect::Failed(error) => failed(error, true),
            Collect::Deadline(error) => failed(error, false),
            Collect::TooLarge(error) => Failed::Final(error),
        })?;
        let (bytes, usage, generated) = match neutral {
            None => {
                let usage = match format {
                    Format::Anthropic => anthropic::usage_of_response(&bytes),
                    Format::OpenAi | Format::Gemini => usage_of_response(&bytes),
                };
                let generated = match (usage, format) {
                    (Some(_), _) => String::new(),
                    (None, Format::OpenAi) => meter::completion_text_of_response(&bytes),
                    (None, _) => translate::decode_response(format, &bytes)
                        .map(|r| r.generated_text())
                        .unwrap_or_default(),
                };
                (bytes, usage, generated)
            }
            Some(neutral) => {
                let answer = translate::decode_response(format, &bytes)
                    .map_err(|why| Failed::Final(failure::unreadable_answer(name, &why)))?;
                let generated = if answer.usage.is_none() {
                    answer.generated_text()
                } else {
                    String::new()
                };
                let out = translate::encode_response(
                    endpoint,
                    neutral,
                    &answer,
                    &peek.model,
                    meta.received_at / 1_000,
                );
                (Bytes::from(out), answer.usage, generated)
            }
        };
        pending.answer_sent(&bytes);
        pending.complete(usage, &generated, true, prices);
        let content_type = match neutral {
            None => response.headers.get(CONTENT_TYPE).cloned(),
            Some(_) => None,
        }
        .unwrap_or(HeaderValue::from_static("application/json"));
        let mut http = Response::new(
            Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        http.headers_mut().insert(CONTENT_TYPE, content_type);
        if let Some(j) = jurisdiction {
            http.headers_mut()
                .insert(HeaderName::from_static(JURISDICTION_HEADER), j);
        }
        Ok(http)
    }
}

/// How an upstream stream opened.
enum Opening {
    /// The bytes read up to and including the first complete event, and the rest of the body.
    Events(Vec<Bytes>, ByteStream),
    /// Its first event was an error.
    Error(ErrorInfo),
    /// The connection failed before the first event.
    Failed(UpstreamError),
    Deadline,
}

/// Reads an upstream stream up to its first complete event (or its end).
async fn first_event(mut body: ByteStream, format: Format, deadline: Instant) -> Opening {
    let mut sse = sse::Decoder::new();
    let mut read = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline.into(), body.next()).await {
            Err(_) => return Opening::Deadline,
            Ok(None) => return Opening::Events(read, body),
            Ok(Some(Err(e))) => return Opening::Failed(e),
            Ok(Some(Ok(chunk))) => {
                sse.push(&chunk);
                read.push(chunk);
                match sse.next_event() {
                    Ok(None) => continue,
                    // Too large to be an error event; the relay will say what it is.
                    Err(_) => return Opening::Events(read, body),
                    Ok(Some(event)) => {
                        let mut events = Vec::new();
                        translate::stream_decoder(format).event(&event, &mut events);
                        for decoded in events {
                            if let StreamEvent::Error(info) = decoded {
                                return Opening::Error(info);
                            }
                        }
                        return Opening::Events(read, body);
                    }
                }
            }
        }
    }
}

/// The error an upstream's in-band error becomes when nothing reached the client yet.
fn error_of(name: &str, info: &ErrorInfo) -> ApiError {
    let (code, kind) = match info.kind {
        ErrorKind::Overloaded => (ErrorCode::UpstreamOverloaded, "overloaded"),
        ErrorKind::RateLimit => (ErrorCode::UpstreamRateLimited, "rate_limited"),
        _ => (ErrorCode::UpstreamFailed, "stream_error"),
    };
    observe::upstream_error(name, kind);
    ApiError::new(
        code,
        format!(
            "The upstream provider `{name}` opened its stream with an error: {}",
            info.message
        ),
    )
}
