//! Relaying an answer back to the client, metering it, and finishing its log row exactly once.
//!
//! [`Pending`] owns a request's log row from arrival to its one and only write: whatever ends
//! the request (an error, a complete answer, a stream that ends or is cut, a client that goes
//! away), the row is finished once. Dropping an unfinished `Pending` (the client disconnected
//! while we waited) finishes it as `client_closed`.
//!
//! [`Relay`] forwards an upstream SSE stream event by event and meters it. In a pass-through the
//! events go out unchanged, except the OpenAI usage chunk the client did not ask for (we always
//! ask upstreams for usage so we can bill). In a translation each event is decoded into neutral
//! events and re-encoded in the client's dialect.

use crate::capture::Capture;
use crate::error::{ApiError, Dialect};
use crate::limits::Reservation;
use crate::logwriter::LogSender;
use crate::money::Hold;
use crate::routing::InFlight;
use crate::snapshot::{Caller, ChannelEntry, Route};
use crate::upstream::ByteStream;
use crate::{Body, RequestMeta, meter, observe};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use switchyard_core::ledger::{AccountId, Transfer, TransferKind};
use switchyard_core::log::RequestLog;
use switchyard_core::money::Prices;
use switchyard_core::usage::UsageSource;
use switchyard_core::{Nanos, Usage};
use switchyard_wire::neutral::{self, ErrorInfo, ErrorKind, StreamEncoder as _};
use switchyard_wire::openai::{Endpoint, StreamEvent};
use switchyard_wire::{anthropic, openai, sse};

/// Status logged when the client went away before an answer head was sent (nginx's 499).
const CLIENT_CLOSED: u16 = 499;

struct Inner {
    log: LogSender,
    row: RequestLog,
    /// The balance reserved for this request, resolved with the row.
    hold: Option<Hold>,
    /// What it reserved against spend limits, settled with the row.
    limits: Option<Reservation>,
    /// The caller's price group, kept until the route says what markup it carries.
    price_group: Option<String>,
    /// The caller's markup in basis points, applied to the provider cost when priced.
    markup_bps: u32,
    received: Instant,
    endpoint: Endpoint,
    request_body: Bytes,
    /// The attempt's channel counts this request in flight until it is finished.
    flight: Option<InFlight>,
    /// The request's content, only when its key captures it ([`Pending::capture`]).
    capture: Option<Capture>,
    /// Refused for a backlog ([`Pending::refuse`]): the row is kept only if there is room.
    shed: bool,
}

/// A request's log row, finished exactly once.
pub(crate) struct Pending {
    inner: Option<Box<Inner>>,
}

impl Pending {
    pub fn new(
        log: LogSender,
        meta: &RequestMeta,
        endpoint: Endpoint,
        request_body: Bytes,
    ) -> Pending {
        let row = RequestLog {
            id: meta.id,
            created_at: meta.received_at,
            user_id: None,
            key_id: None,
            endpoint: endpoint.name().to_owned(),
            model: String::new(),
            provider: None,
            upstream_model: None,
            channel: None,
            jurisdiction: None,
            stream: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
            reasoning_tokens: 0,
            usage_source: UsageSource::Upstream,
            cost: Nanos::ZERO,
            provider_cost: Nanos::ZERO,
            latency_us: 0,
            ttft_us: None,
            status: 0,
            error_code: None,
            client_ip: meta.client_ip.clone(),
        };
        Pending {
            inner: Some(Box::new(Inner {
                log,
                row,
                hold: None,
                price_group: None,
                markup_bps: 0,
                limits: None,
                received: meta.received,
                endpoint,
                request_body,
                flight: None,
                capture: None,
                shed: false,
            })),
        }
    }

    fn row(&mut self) -> Option<&mut RequestLog> {
        self.inner.as_mut().map(|i| &mut i.row)
    }

    pub fn set_caller(&mut self, caller: &Caller) {
        if let Some(inner) = self.inner.as_mut() {
            inner.row.user_id = Some(caller.user.id);
            inner.row.key_id = Some(caller.key.id);
            inner.price_group = caller.user.price_group.clone();
        }
    }

    pub fn set_request(&mut self, model: &str, stream: bool) {
        if let Some(row) = self.row() {
            row.model = model.to_owned();
            row.stream = stream;
        }
    }

    /// Records the caller's markup under the catalogue's price groups.
    pub fn set_route(&mut self, route: &Route) {
        if let Some(inner) = self.inner.as_mut() {
            inner.markup_bps = route.groups.markup_bps(inner.price_group.as_deref());
        }
    }

    /// Records the channel an attempt uses (the last one is the one logged), and keeps it
    /// counted in flight until the row is finished.
    pub fn set_channel(&mut self, entry: &ChannelEntry, flight: InFlight) {
        if let Some(inner) = self.inner.as_mut() {
            let row = &mut inner.row;
            row.provider = Some(entry.provider.provider.name.clone());
            row.upstream_model = Some(entry.channel.upstream_model.clone());
            row.channel = Some(entry.channel.name.clone());
            row.jurisdiction = Some(entry.jurisdiction().to_owned());
            inner.flight = Some(flight);
        }
    }

    /// Captures this request's content for `content_logs`. Called once, after
    /// authentication, only when the key captures under the deployment's mode.
    pub fn capture(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            inner.capture = Some(Capture::new(inner.request_body.clone()));
        }
    }

    /// Records bytes sent to the client, when this request captures its content; otherwise
    /// (the default) it costs a branch and copies nothing.
    pub fn answer_sent(&mut self, sent: &[u8]) {
        if let Some(capture) = self.inner.as_mut().and_then(|i| i.capture.as_mut()) {
            capture.answer(sent);
        }
    }

    pub fn set_limits(&mut self, reservation: Reservation) {
        if let Some(inner) = self.inner.as_mut() {
            inner.limits = Some(reservation);
        }
    }

    pub fn set_hold(&mut self, hold: Hold) {
        if let Some(inner) = self.inner.as_mut() {
            inner.hold = Some(hold);
        }
    }

    /// Moves the row to a new owner (the stream relay); this one finishes nothing.
    pub fn hand_over(&mut self) -> Pending {
        Pending {
            inner: self.inner.take(),
        }
    }

    fn mark_first_token(&mut self) {
        if let Some(inner) = self.inner.as_mut()
            && inner.row.ttft_us.is_none()
        {
            inner.row.ttft_us = Some(inner.received.elapsed().as_micros() as u64);
        }
    }

    /// Finishes a request that failed before any answer was sent.
    pub fn fail(&mut self, error: &ApiError) {
        if let Some(row) = self.row() {
            row.status = error.status.as_u16();
            row.error_code = Some(error.code.code().to_owned());
        }
        self.finish();
    }

    /// Finishes a request refused on arrival because the log is backlogged
    /// ([`LogSender::backlogged`]). It moved no money, so its row may be shed.
    pub fn refuse(&mut self, error: &ApiError) {
        if let Some(inner) = self.inner.as_mut() {
            inner.shed = true;
        }
        self.fail(error);
    }

    /// Finishes a request that got an answer (complete or not), metering and pricing it.
    /// `prices` are the provider's; the caller's markup is added here.
    ///
    /// Without upstream usage, tokens are counted from the request and the output actually
    /// relayed, and marked estimated. The published rule: output reached the client → it is
    /// charged; nothing reached the client → nothing is charged.
    pub fn complete(
        &mut self,
        upstream_usage: Option<Usage>,
        generated: &str,
        delivered: bool,
        prices: Prices,
    ) {
        self.complete_with(
            200,
            None,
            upstream_usage,
            false,
            generated,
            delivered,
            prices,
        );
    }

    /// `partial`: the upstream's usage may be incomplete (a stream that did not finish), so
    /// output is charged at no less than what was counted from the relayed text.
    #[allow(clippy::too_many_arguments)]
    fn complete_with(
        &mut self,
        status: u16,
        error_code: Option<&str>,
        upstream_usage: Option<Usage>,
        partial: bool,
        generated: &str,
        delivered: bool,
        prices: Prices,
    ) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        let (usage, source) = match upstream_usage {
            // Anthropic reports input tokens first and output tokens at the end; a stream cut
            // in between must not be charged for less output than it delivered.
            Some(mut usage) if partial => {
                let counted = meter::count(generated);
                if counted > usage.completion_tokens {
                    usage.completion_tokens = counted;
                    (usage, UsageSource::Estimated)
                } else {
                    (usage, UsageSource::Upstream)
                }
            }
            Some(usage) => (usage, UsageSource::Upstream),
            None => {
                let prompt_tokens = meter::estimate_prompt(inner.endpoint, &inner.request_body);
                let completion_tokens = meter::count(generated);
                (
                    Usage {
                        prompt_tokens,
                        completion_tokens,
                        ..Usage::default()
                    },
                    UsageSource::Estimated,
                )
            }
        };
        let row = &mut inner.row;
        row.status = status;
        row.error_code = error_code.map(str::to_owned);
        row.prompt_tokens = usage.prompt_tokens;
        row.completion_tokens = usage.completion_tokens;
        row.cached_tokens = usage.cached_tokens;
        row.reasoning_tokens = usage.reasoning_tokens;
        row.usage_source = source;
        // A finished answer is charged at its upstream usage even when it produced no text;
        // an unfinished one only if something reached the client (the published rule).
        let finished_upstream = source == UsageSource::Upstream && !partial;
        (row.provider_cost, row.cost) = if finished_upstream || delivered {
            prices.cost_and_charge(&usage, inner.markup_bps)
        } else {
            (Nanos::ZERO, Nanos::ZERO)
        };
        self.finish();
    }

    fn finish(&mut self) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        inner.row.latency_us = inner.received.elapsed().as_micros() as u64;
        if inner.row.status >= 500 {
            tracing::warn!(request_id = %inner.row.id, status = inner.row.status, code = ?inner.row.error_code, "request failed");
        }
        observe::request_finished(&inner.row);
        if let Some(limits) = inner.limits.take() {
            limits.settle(inner.row.cost.max(Nanos::ZERO));
        }
        if let Some(hold) = inner.hold.take() {
            settle(&inner.log, &inner.row, hold);
        }
        if let Some(capture) = inner.capture.take() {
            inner.log.send_content(capture.finish(&inner.row));
        }
        if inner.shed {
            inner.log.send_or_shed(inner.row);
        } else {
            inner.log.send(inner.row);
        }
    }
}

/// Resolves a request's hold at its metered cost: settled (or voided at zero), and the budget
/// given back the difference. A cost above the hold (an upstream that ignored `max_tokens`) is
/// charged in full: the hold's part through the settlement, the rest as its own transfer.
fn settle(log: &LogSender, row: &RequestLog, hold: Hold) {
    let now = row
        .created_at
        .saturating_add((row.latency_us / 1_000) as i64);
    let cost = row.cost.max(Nanos::ZERO);
    log.send_transfer(Transfer::settle(
        row.id,
        hold.user,
        cost.min(hold.amount),
        now,
    ));
    if cost > hold.amount {
        log.send_transfer(
            Transfer::posted(
                format!("over:{}", row.id),
                AccountId::user(hold.user),
                AccountId::revenue(),
                cost - hold.amount,
                TransferKind::Request,
                now,
            )
            .with_reference(row.id.to_string()),
        );
    }
    hold.budget.release(hold.amount - cost);
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(row) = self.row() {
            row.status = CLIENT_CLOSED;
            row.error_code = Some("client_closed".to_owned());
        }
        self.finish();
    }
}

/// How a relay reads the upstream's events for metering.
pub(crate) enum Meter {
    /// OpenAI chat pass-through: peek at each chunk without building events (the fast path).
    OpenAiPeek { client_wants_usage: bool },
    /// Decode each event into neutral events.
    Decode(Box<dyn neutral::StreamDecoder>),
}

/// What a relay sends the client.
pub(crate) enum Output {
    /// The upstream's events as they came; in-band errors in this dialect.
    Raw(Dialect),
    /// The neutral events re-encoded in the client's dialect.
    Encode(Box<dyn neutral::StreamEncoder>),
}

/// Forwards an upstream chat stream to the client, metering it on the way.
pub(crate) struct Relay {
    upstream: ByteStream,
    decoder: sse::Decoder,
    meter: Meter,
    output: Output,
    /// Neutral events of the current SSE event (reused buffer).
    events: Vec<neutral::StreamEvent>,
    usage: Option<Usage>,
    /// Generated text seen so far, counted only if the upstream never reports usage.
    generated: String,
    delivered: bool,
    saw_done: bool,
    upstream_error: bool,
    deadline: Pin<Box<tokio::time::Sleep>>,
    pending: Pending,
    prices: Prices,
    ended: bool,
}

impl Relay {
    pub fn new(
        upstream: ByteStream,
        pending: Pending,
        meter: Meter,
        output: Output,
        deadline: Instant,
        prices: Prices,
    ) -> Relay {
        Relay {
            upstream,
            decoder: sse::Decoder::new(),
            meter,
            output,
            events: Vec::new(),
            usage: None,
            generated: String::new(),
            delivered: false,
            saw_done: false,
            upstream_error: false,
            deadline: Box::pin(tokio::time::sleep_until(deadline.into())),
            pending,
            prices,
            ended: false,
        }
    }

    pub fn into_body(self) -> Body {
        StreamBody::new(self).boxed_unsync()
    }

    /// Handles one event: meter it, and append what the client should see to `out`.
    fn process(&mut self, event: sse::Event, out: &mut BytesMut) {
        match &mut self.meter {
            Meter::OpenAiPeek { client_wants_usage } => {
                let client_wants_usage = *client_wants_usage;
                self.peek_openai(event, client_wants_usage, out);
            }
            Meter::Decode(decoder) => {
                let mut events = std::mem::take(&mut self.events);
                decoder.event(&event, &mut events);
                if let Output::Raw(_) = self.output {
                    out.extend_from_slice(&event.raw);
                }
                self.emit(&mut events, out);
                self.events = events;
            }
        }
    }

    /// The fast path for OpenAI chat pass-through.
    fn peek_openai(&mut self, event: sse::Event, client_wants_usage: bool, out: &mut BytesMut) {
        let Some(data) = event.data.as_deref() else {
            out.extend_from_slice(&event.raw); // comments and keep-alives
            return;
        };
        match StreamEvent::classify(data) {
            StreamEvent::Done => self.saw_done = true,
            StreamEvent::UsageOnly(chunk) => {
                self.usage = chunk.usage.map(|u| u.to_usage());
                if !client_wants_usage {
                    return;
                }
            }
            StreamEvent::Chunk(chunk) => {
                if let Some(usage) = &chunk.usage {
                    self.usage = Some(usage.to_usage());
                }
                if chunk.error.is_some() {
                    self.upstream_error = true;
                }
                let before = self.generated.len();
                chunk.collect_text(&mut self.generated);
                if self.generated.len() > before {
                    self.delivered = true;
                    self.pending.mark_first_token();
                }
            }
            StreamEvent::Opaque => {}
        }
        out.extend_from_slice(&event.raw);
    }

    /// Meters neutral events and, when translating, encodes them for the client. Drains
    /// `events`.
    fn emit(&mut self, events: &mut Vec<neutral::StreamEvent>, out: &mut BytesMut) {
        for event in events.drain(..) {
            if self.ended {
                break;
            }
            let before = self.generated.len();
            match &event {
                neutral::StreamEvent::TextDelta(text)
                | neutral::StreamEvent::ThinkingDelta(text) => self.generated.push_str(text),
                neutral::StreamEvent::ToolCallStart { name, .. } => self.generated.push_str(name),
                neutral::StreamEvent::ToolCallDelta { arguments, .. } => {
                    self.generated.push_str(arguments)
                }
                neutral::StreamEvent::Usage(usage) => self.usage = Some(*usage),
                neutral::StreamEvent::End => self.saw_done = true,
                neutral::StreamEvent::Error(info) => {
                    self.upstream_error = true;
                    if let Output::Encode(encoder) = &mut self.output {
                        // The client's stream ends with the error; so does the request.
                        encoder.error(info, out);
                        self.end(Some("upstream_error"), out);
                        break;
                    }
                }
                neutral::StreamEvent::Start { .. }
                | neutral::StreamEvent::ThinkingSignature(_)
                | neutral::StreamEvent::Finish(_) => {}
            }
            if self.generated.len() > before {
                self.delivered = true;
                self.pending.mark_first_token();
            }
            if let Output::Encode(encoder) = &mut self.output {
                encoder.event(&event, out);
            }
        }
    }

    /// The upstream's body ended: formats without an end marker report their last events.
    fn upstream_ended(&mut self, out: &mut BytesMut) {
        if let Meter::Decode(decoder) = &mut self.meter {
            let mut events = std::mem::take(&mut self.events);
            decoder.eof(&mut events);
            self.emit(&mut events, out);
            self.events = events;
        }
    }

    /// Appends an in-band error in the client's dialect, written by that dialect's own stream
    /// encoder (a fresh one for a pass-through, whose events were never encoded).
    fn in_band_error(&mut self, code: &str, message: &str, out: &mut BytesMut) {
        let error = ErrorInfo {
            kind: if code == "upstream_timeout" {
                ErrorKind::Timeout
            } else {
                ErrorKind::Server
            },
            message: message.to_owned(),
            param: None,
            code: Some(code.to_owned()),
        };
        match &mut self.output {
            Output::Raw(Dialect::OpenAi) => {
                openai::chat::StreamEncoder::new("", 0, false).error(&error, out)
            }
            Output::Raw(Dialect::Anthropic) => anthropic::StreamEncoder::new("").error(&error, out),
            Output::Encode(encoder) => encoder.error(&error, out),
        }
    }

    /// Finishes the request. `out` is what this poll is about to send: the last bytes the
    /// client gets, captured (when the key captures content) before the row is finished.
    fn end(&mut self, error_code: Option<&str>, out: &[u8]) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.pending.answer_sent(out);
        let generated = std::mem::take(&mut self.generated);
        self.pending.complete_with(
            200,
            error_code,
            self.usage,
            !self.saw_done,
            &generated,
            self.delivered,
            self.prices,
        );
    }
}

impl Stream for Relay {
    type Item = Result<Frame<Bytes>, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    this.decoder.push(&bytes);
                    let mut out = BytesMut::new();
                    while !this.ended {
                        match this.decoder.next_event() {
                            Ok(Some(event)) => this.process(event, &mut out),
                            Ok(None) => break,
                            Err(sse::EventTooLarge) => {
                                this.in_band_error(
                                    "upstream_error",
                                    "The upstream sent an oversized stream event.",
                                    &mut out,
                                );
                                this.end(Some("upstream_error"), &out);
                                break;
                            }
                        }
                    }
                    if !out.is_empty() {
                        // A no-op once `end` has finished the row (it captured `out` itself).
                        this.pending.answer_sent(&out);
                        return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    observe::upstream_error(&e.provider, "stream_cut");
                    let mut out = BytesMut::new();
                    if let Some(event) = this.decoder.finish() {
                        this.process(event, &mut out);
                    }
                    if !this.ended {
                        this.in_band_error(
                            "upstream_error",
                            "The upstream connection failed mid-stream.",
                            &mut out,
                        );
                        this.end(Some("upstream_error"), &out);
                    }
                    this.pending.answer_sent(&out);
                    return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                }
                Poll::Ready(None) => {
                    let mut out = BytesMut::new();
                    if let Some(event) = this.decoder.finish() {
                        this.process(event, &mut out);
                    }
                    if !this.ended {
                        this.upstream_ended(&mut out);
                    }
                    let code = if this.upstream_error {
                        Some("upstream_error")
                    } else if this.saw_done {
                        None
                    } else {
                        // A translated stream must still end in a way the client's SDK
                        // understands as a failure, not as a complete answer.
                        if matches!(this.output, Output::Encode(_)) && !this.ended {
                            this.in_band_error(
                                "upstream_truncated",
                                "The upstream ended the stream before it was complete.",
                                &mut out,
                            );
                        }
                        Some("upstream_truncated")
                    };
                    this.end(code, &out);
                    return if out.is_empty() {
                        Poll::Ready(None)
                    } else {
                        Poll::Ready(Some(Ok(Frame::data(out.freeze()))))
                    };
                }
                Poll::Pending => {
                    if this.deadline.as_mut().poll(cx).is_ready() {
                        let mut out = BytesMut::new();
                        this.in_band_error(
                            "upstream_timeout",
                            "The upstream did not finish the stream in time.",
                            &mut out,
                        );
                        this.end(Some("upstream_timeout"), &out);
                        return Poll::Ready(Some(Ok(Frame::data(out.freeze()))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.ended {
            // The client went away mid-stream: charge what was relayed (see `Pending::complete`).
            self.end(Some("client_closed"), &[]);
        }
    }
}
