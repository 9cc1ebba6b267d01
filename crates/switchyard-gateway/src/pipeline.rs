//! [`Gateway::proxy`]: the named steps of an inference request, in order, in one function.

use crate::error::{ApiError, Dialect};
use crate::limits::Limits;
use crate::logwriter::LogSender;
use crate::money::{Budget, Hold, Money};
use crate::relay::{Meter, Output, Pending, Relay};
use crate::snapshot::{Access, Caller, Catalog, Route};
use crate::translate::{self, Plan};
use crate::upstream::{ByteStream, FailureKind, Format, UpstreamError, UpstreamRequest};
use crate::{Body, meter, observe};
use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchyard_core::catalog::{ModelKind, UnixMillis};
use switchyard_core::error::ErrorCode;
use switchyard_core::key::{self, KeyHash};
use switchyard_core::ledger::Transfer;
use switchyard_core::{Nanos, RequestId, Secret, policy};
use switchyard_store::{HeldElsewhere, Store, StoreError};
use switchyard_wire::anthropic;
use switchyard_wire::neutral::ErrorKind;
use switchyard_wire::openai::usage::usage_of_response;
use switchyard_wire::openai::{Endpoint, RequestPeek};

/// Settings of the hot path.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The server secret under which key hashes are computed.
    pub key_secret: Secret,
    /// Largest non-streamed upstream body we buffer.
    pub max_response_bytes: usize,
}

/// What the server knows about a request before the gateway sees it.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub id: RequestId,
    pub received: Instant,
    pub received_at: UnixMillis,
    pub client_ip: Option<String>,
    /// The client's `anthropic-beta` header, forwarded when an Anthropic-dialect request passes
    /// through to an Anthropic upstream (beta features such as extended caching or tools used
    /// by coding agents need it).
    pub anthropic_beta: Option<HeaderValue>,
}

impl RequestMeta {
    pub fn now(id: RequestId, client_ip: Option<String>) -> RequestMeta {
        RequestMeta {
            id,
            received: Instant::now(),
            received_at: now_millis(),
            client_ip,
            anthropic_beta: None,
        }
    }
}

pub fn now_millis() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The hot path and its in-memory snapshot.
#[derive(Debug)]
pub struct Gateway {
    catalog: ArcSwap<Catalog>,
    access: ArcSwap<Access>,
    store: Store,
    log: LogSender,
    money: Arc<Money>,
    limits: Limits,
    config: GatewayConfig,
}

impl Gateway {
    /// A gateway serving `catalog`, with users and keys loaded from `store`.
    pub async fn new(
        catalog: Catalog,
        store: Store,
        log: LogSender,
        money: Arc<Money>,
        config: GatewayConfig,
    ) -> Result<Gateway, StoreError> {
        let gateway = Gateway {
            catalog: ArcSwap::from_pointee(catalog),
            access: ArcSwap::from_pointee(Access::default()),
            store,
            log,
            money,
            limits: Limits::default(),
            config,
        };
        gateway.reload_access().await?;
        gateway.reload_limits().await?;
        gateway.money.refresh(&gateway.store, true).await?;
        Ok(gateway)
    }

    /// Reloads spend limits and this period's counters from the store (after a change through
    /// the API, and periodically for other replicas' spending).
    pub async fn reload_limits(&self) -> Result<(), StoreError> {
        self.limits.reload(&self.store, now_millis()).await
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Returns once every log row and ledger transfer queued before this call is written.
    pub async fn flushed(&self) {
        self.log.flushed().await;
    }

    /// Tells the balance refresher that money moved outside the hot path.
    pub fn balances_changed(&self) {
        self.money.changed();
    }

    /// Like [`Gateway::balances_changed`], and returns once the budgets include the change.
    pub async fn refresh_balances(&self) {
        self.money.changed_and_refreshed().await;
    }

    pub fn money(&self) -> &Arc<Money> {
        &self.money
    }

    /// Rebuilds the users-and-keys index from the store and swaps it in.
    pub async fn reload_access(&self) -> Result<(), StoreError> {
        // Read the generation first: a write that lands between the two reads bumps it again,
        // so the next refresh reloads; we can never keep a stale index under a fresh number.
        let generation = self.store.generation().await?;
        let stored = self.store.load_access().await?;
        self.access
            .store(Arc::new(Access::build(stored, generation)));
        Ok(())
    }

    /// Reloads the index when the store's generation moved (a change made by the CLI or another
    /// replica). Returns whether it reloaded.
    pub async fn refresh_if_changed(&self) -> Result<bool, StoreError> {
        let generation = self.store.generation().await?;
        if generation == self.access.load().generation {
            return Ok(false);
        }
        self.reload_access().await?;
        Ok(true)
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The server secret under which keys are hashed (for creating keys).
    pub fn key_secret(&self) -> &Secret {
        &self.config.key_secret
    }

    /// The stored hash of a presented key secret.
    pub fn hash_key(&self, presented: &str) -> KeyHash {
        key::hash(self.config.key_secret.expose().as_bytes(), presented)
    }

    /// Step *authenticate*: a presented key → its record and owner, from memory.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Arc<Caller>, ApiError> {
        let presented = presented.filter(|p| !p.is_empty()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidApiKey,
                "You didn't provide an API key. Send it as `Authorization: Bearer <key>` or in the `x-api-key` header.",
            )
        })?;
        key::check_format(presented).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidApiKey,
                format!("Incorrect API key provided: {e}."),
            )
        })?;
        let hash = self.hash_key(presented);
        let caller = self.access.load().lookup(&hash).cloned().ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidApiKey,
                "Incorrect API key provided: this key is unknown.",
            )
        })?;
        policy::key_usable(&caller.key, &caller.user, now_millis())?;
        Ok(caller)
    }

    /// `POST /v1/messages/count_tokens`: the prompt tokens of an Anthropic-dialect request, as
    /// this gateway counts them when an upstream reports none (`o200k_base`; Claude's own
    /// tokenizer is not public, so this is an estimate).
    pub fn count_tokens(&self, credentials: Option<&str>, body: &[u8]) -> Result<u64, ApiError> {
        let caller = self.authenticate(credentials)?;
        // count_tokens takes a Messages body without `max_tokens`; supply one so the same
        // decoder validates everything else.
        let fields = switchyard_wire::fields::RawFields::parse(body).map_err(|e| {
            ApiError::from(switchyard_wire::openai::RequestError {
                message: e.message,
                param: None,
                malformed_json: true,
            })
        })?;
        let body = if fields.has("max_tokens") {
            body.to_vec()
        } else {
            fields.write_with(&[("max_tokens", "1")])
        };
        let request = translate::decode_request(Endpoint::Messages, &body)?;
        let catalog = self.catalog.load_full();
        let route = catalog.route(&request.model).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ModelNotFound,
                format!("The model `{}` does not exist.", request.model),
            )
            .with_param("model")
        })?;
        policy::model_allowed(&caller.key, &route.model)?;
        Ok(meter::estimate_neutral(&request))
    }

    /// Runs one inference request through every step and answers it. Every outcome, success
    /// or failure, produces exactly one log row.
    pub async fn proxy(
        &self,
        endpoint: Endpoint,
        meta: RequestMeta,
        credentials: Option<&str>,
        body: Bytes,
    ) -> Response<Body> {
        let mut pending = Pending::new(self.log.clone(), &meta, endpoint, body.clone());
        match self
            .run(endpoint, &meta, credentials, body, &mut pending)
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let dialect = Dialect::of(endpoint);
                let error = error.in_dialect(dialect);
                pending.fail(&error);
                error.into_response_for(dialect)
            }
        }
    }

    async fn run(
        &self,
        endpoint: Endpoint,
        meta: &RequestMeta,
        credentials: Option<&str>,
        body: Bytes,
        pending: &mut Pending,
    ) -> Result<Response<Body>, ApiError> {
        // authenticate
        let caller = self.authenticate(credentials)?;
        pending.set_caller(&caller);
        // parse: only the fields the gateway needs; the rest stays raw.
        let peek = RequestPeek::parse(endpoint, &body)?;
        pending.set_request(&peek.model, peek.stream);
        // authorize
        let catalog = self.catalog.load_full();
        let route = authorize(&catalog, &caller, &peek)?;
        pending.set_route(route);
        // translate (the plan): pass through when the dialects match, else decode the request
        // into the neutral form now, so a malformed one costs no hold.
        let format = route.provider.upstream.format();
        let plan = translate::plan(endpoint, format, &peek.model)?;
        let neutral = match plan {
            Plan::PassThrough => None,
            Plan::Translate => Some(translate::decode_request(endpoint, &body)?),
        };
        let default_max = self.money.config().default_max_output_tokens;
        let max_tokens =
            translate::effective_max_tokens(format, plan, peek.max_tokens, default_max);
        // limit and hold: reserve the worst-case cost; settled or voided with the log row.
        let ask = Ask {
            endpoint,
            max_tokens,
            choices: peek.choices,
        };
        self.hold(meta, &caller, route, &ask, &body, pending)
            .await?;
        // route: one provider per model for now; channels and fallback arrive with routing.
        let upstream_model = &route.model.upstream_model;
        let upstream_body = Bytes::from(match &neutral {
            None => peek.upstream_body(upstream_model),
            Some(request) => {
                translate::encode_request(format, request, upstream_model, default_max)
            }
        });
        // dispatch
        let timeouts = route.provider.upstream.timeouts();
        let deadline = meta.received + timeouts.total;
        let request = UpstreamRequest {
            endpoint: match endpoint {
                Endpoint::Embeddings => Endpoint::Embeddings,
                _ => Endpoint::ChatCompletions,
            },
            model: upstream_model.clone(),
            body: upstream_body,
            stream: peek.stream,
            anthropic_beta: match (plan, format) {
                (Plan::PassThrough, Format::Anthropic) => meta.anthropic_beta.clone(),
                _ => None,
            },
        };
        let response =
            match tokio::time::timeout_at(deadline.into(), route.provider.upstream.send(request))
                .await
            {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return Err(upstream_failure(&e)),
                Err(_) => return Err(total_timeout(route, timeouts.total)),
            };
        // translate back, meter, settle, log
        if !response.status.is_success() {
            let bytes = collect(response.body, 1 << 20, deadline, route, timeouts.total).await?;
            return Err(upstream_status_error(
                route,
                format,
                response.status,
                &response.headers,
                &bytes,
            ));
        }
        let is_sse = response
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if peek.stream && is_sse {
            let (meter, output) = match (&neutral, format) {
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
                (Some(request), _) => (
                    Meter::Decode(translate::stream_decoder(format)),
                    Output::Encode(translate::stream_encoder(
                        endpoint,
                        request,
                        &peek.model,
                        meta.received_at / 1_000,
                        peek.client_wants_usage,
                    )),
                ),
            };
            let relay = Relay::new(
                response.body,
                pending.hand_over(),
                meter,
                output,
                deadline,
                route.model.prices,
            );
            let mut http = Response::new(relay.into_body());
            let headers = http.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert(
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            );
            return Ok(http);
        }
        let bytes = collect(
            response.body,
            self.config.max_response_bytes,
            deadline,
            route,
            timeouts.total,
        )
        .await?;
        let (bytes, usage, generated) = match &neutral {
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
            Some(request) => {
                let answer = translate::decode_response(format, &bytes)
                    .map_err(|why| unreadable_answer(route, &why))?;
                let generated = if answer.usage.is_none() {
                    answer.generated_text()
                } else {
                    String::new()
                };
                let out = translate::encode_response(
                    endpoint,
                    request,
                    &answer,
                    &peek.model,
                    meta.received_at / 1_000,
                );
                (Bytes::from(out), answer.usage, generated)
            }
        };
        pending.complete(usage, &generated, true, route.model.prices);
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
        Ok(http)
    }
}

/// A budget reservation given back when dropped, unless its amount was zeroed.
struct Unreserve(Arc<Budget>, Nanos);

impl Drop for Unreserve {
    fn drop(&mut self) {
        if self.1 != Nanos::ZERO {
            self.0.release(self.1);
        }
    }
}

/// What the hold step needs to know about a request.
struct Ask {
    endpoint: Endpoint,
    /// The output limit the upstream will apply, if any.
    max_tokens: Option<u64>,
    choices: u64,
}

impl Gateway {
    /// Step *hold*: reserves the request's worst-case cost from the caller's budget and queues
    /// the ledger hold. First with a bound that costs nothing to compute (a prompt has at most
    /// one token per byte); only if that does not fit, with the prompt's tokens counted.
    async fn hold(
        &self,
        meta: &RequestMeta,
        caller: &Caller,
        route: &Route,
        peek: &Ask,
        body: &[u8],
        pending: &mut Pending,
    ) -> Result<(), ApiError> {
        let money = &self.money;
        let enforce = money.config().prepaid;
        // The caller's markup, and every output token at the dearer of output and reasoning.
        let prices = route.hold_prices(&caller.user);
        let has_output = route.model.kind == ModelKind::Chat;
        let budget = money.budget(caller.user.id);
        let bound = |prompt: u64| {
            money.worst_case(prices, prompt, peek.max_tokens, peek.choices, has_output)
        };
        // Cluster mode: this user's reservations on this replica take turns through the shared
        // check, so the budget it reports there is exact.
        let cluster = money.shared().filter(|_| enforce);
        let turn_of = budget.clone();
        let _turn = match cluster {
            Some(_) => Some(turn_of.cluster_turn.lock().await),
            None => None,
        };
        let refuse = |available: Nanos, amount: Nanos| {
            let counted = meter::estimate_prompt(peek.endpoint, body);
            ApiError::new(
                ErrorCode::InsufficientQuota,
                format!(
                    "Your balance cannot cover this request: ${} is available and the request may cost up to ${amount} ({counted} prompt tokens and up to {} output tokens of `{}`). Top up your balance{}.",
                    available.max(Nanos::ZERO),
                    if has_output {
                        peek.max_tokens
                            .unwrap_or(money.config().default_max_output_tokens)
                            * peek.choices.max(1)
                    } else {
                        0
                    },
                    route.model.name,
                    if has_output && peek.max_tokens.is_none() {
                        " or set a lower `max_tokens`"
                    } else if has_output {
                        " or lower `max_tokens`"
                    } else {
                        ""
                    },
                ),
            )
        };
        let mut amount = bound(body.len() as u64);
        if budget.try_reserve(amount, enforce).is_err() {
            let counted = meter::estimate_prompt(peek.endpoint, body);
            amount = bound(counted);
            if let Err(available) = budget.try_reserve(amount, enforce) {
                return Err(refuse(available, amount));
            }
        }
        // From here every way out gives the reservation back (including the client leaving
        // while the cluster check is awaited), until `Pending` owns it as a hold.
        let mut unreserve = Unreserve(budget.clone(), amount);
        if let Some(shared) = cluster
            && amount > Nanos::ZERO
        {
            let own_after = budget.available();
            match shared
                .reserve(
                    caller.user.id,
                    &meta.id.to_string(),
                    amount,
                    own_after,
                    meta.received_at,
                )
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(HeldElsewhere(elsewhere))) => {
                    return Err(refuse(own_after + amount - elsewhere, amount));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster reservations unreachable; refusing paid requests");
                    return Err(ApiError::new(
                        ErrorCode::Unavailable,
                        "The balance check is unavailable right now (the cluster's shared reservations cannot be reached). Try again shortly.",
                    ));
                }
            }
        }
        if amount > Nanos::ZERO {
            let reservation =
                match self
                    .limits
                    .reserve(caller.key.id, caller.user.id, amount, meta.received_at)
                {
                    Ok(reservation) => reservation,
                    Err(error) => return Err(error),
                };
            pending.set_limits(reservation);
            let ttl = money.config().hold_ttl.as_millis() as i64;
            self.log.send_transfer(Transfer::hold(
                meta.id,
                caller.user.id,
                amount,
                meta.received_at,
                ttl,
            ));
            pending.set_hold(Hold {
                user: caller.user.id,
                amount,
                budget,
            });
        }
        unreserve.1 = Nanos::ZERO; // the hold (or nothing, for a free request) owns it now
        Ok(())
    }
}

/// Step *authorize*: the model exists, serves this endpoint, and the key may use it.
fn authorize<'a>(
    catalog: &'a Catalog,
    caller: &Caller,
    peek: &RequestPeek<'_>,
) -> Result<&'a Arc<Route>, ApiError> {
    let route = catalog.route(&peek.model).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ModelNotFound,
            format!(
                "The model `{}` does not exist. GET /v1/models lists the models you can use.",
                peek.model
            ),
        )
        .with_param("model")
    })?;
    let wanted = match peek.endpoint {
        Endpoint::Embeddings => ModelKind::Embedding,
        Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Responses => ModelKind::Chat,
    };
    if route.model.kind != wanted {
        return Err(ApiError::new(
            ErrorCode::WrongModelKind,
            format!(
                "The model `{}` is not a {} model; it cannot serve /v1/{}.",
                peek.model,
                kind_name(wanted),
                peek.endpoint.path().trim_start_matches('/')
            ),
        )
        .with_param("model"));
    }
    policy::model_allowed(&caller.key, &route.model)?;
    Ok(route)
}

fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => "chat",
        ModelKind::Embedding => "embedding",
    }
}

fn upstream_failure(e: &UpstreamError) -> ApiError {
    match e.kind {
        FailureKind::Timeout => {
            observe::upstream_error(&e.provider, "timeout");
            ApiError::new(
                ErrorCode::UpstreamTimeout,
                format!(
                    "The upstream provider `{}` timed out ({:?}).",
                    e.provider, e.phase
                ),
            )
        }
        FailureKind::Transport => {
            observe::upstream_error(&e.provider, "transport");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The upstream provider `{}` could not be reached: {}.",
                    e.provider, e.detail
                ),
            )
        }
    }
}

fn total_timeout(route: &Route, total: Duration) -> ApiError {
    observe::upstream_error(&route.provider.provider.name, "timeout");
    ApiError::new(
        ErrorCode::UpstreamTimeout,
        format!(
            "The upstream provider `{}` did not finish within {} ms.",
            route.provider.provider.name,
            total.as_millis()
        ),
    )
}

/// An upstream answered 200 with a body its format's decoder cannot read.
fn unreadable_answer(route: &Route, why: &str) -> ApiError {
    let name = &route.provider.provider.name;
    observe::upstream_error(name, "unreadable");
    ApiError::new(
        ErrorCode::UpstreamFailed,
        format!("The upstream provider `{name}` sent an answer that could not be read: {why}"),
    )
}

/// An upstream answered with an error status: relay its own 4xx (in the client's dialect),
/// hide our credentials' problems, and report its 5xx as a failed or overloaded upstream.
fn upstream_status_error(
    route: &Route,
    format: Format,
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) -> ApiError {
    let name = &route.provider.provider.name;
    let (info, retry_after) = translate::decode_error(format, status.as_u16(), body);
    let said = if info.message.is_empty() {
        format!("status {}", status.as_u16())
    } else {
        info.message.clone()
    };
    let retry_headers = |mut error: ApiError| {
        for header in [RETRY_AFTER, HeaderName::from_static("retry-after-ms")] {
            if let Some(value) = headers.get(&header) {
                error = error.with_header(header, value.clone());
            }
        }
        if let Some(seconds) = retry_after
            && !headers.contains_key(RETRY_AFTER)
        {
            error = error.with_header(RETRY_AFTER, HeaderValue::from(seconds));
        }
        error
    };
    // Gemini reports a bad key as 400 API_KEY_INVALID; the decoder says what it means.
    let kind = match status.as_u16() {
        400 if info.kind == ErrorKind::Authentication => ErrorKind::Authentication,
        code => match info.kind {
            ErrorKind::Overloaded if code >= 500 || code == 429 => ErrorKind::Overloaded,
            _ => ErrorKind::from_status(code),
        },
    };
    match kind {
        ErrorKind::RateLimit => {
            observe::upstream_error(name, "rate_limited");
            retry_headers(ApiError::new(
                ErrorCode::UpstreamRateLimited,
                format!("The upstream provider `{name}` is rate limiting requests: {said}"),
            ))
        }
        // The upstream rejected *our* provider credentials: the client's key is fine, so
        // relaying a 401 would mislead them. It is an operator problem: a failed upstream.
        ErrorKind::Authentication | ErrorKind::Permission => {
            observe::upstream_error(name, "credentials");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The upstream provider `{name}` rejected the platform's credentials ({}); the operator must check its API key.",
                    status.as_u16()
                ),
            )
        }
        ErrorKind::Overloaded => {
            observe::upstream_error(name, "overloaded");
            retry_headers(ApiError::new(
                ErrorCode::UpstreamOverloaded,
                format!("The upstream provider `{name}` is overloaded: {said}"),
            ))
        }
        ErrorKind::InvalidRequest | ErrorKind::NotFound => {
            observe::upstream_error(name, "rejected");
            let mut error = ApiError::new(ErrorCode::UpstreamRejected, said);
            error.status = status;
            error.param = info.param;
            if format == Format::OpenAi
                && let Some(kind) = openai_type(body)
            {
                error.kind = kind;
            } else if format == Format::Anthropic {
                error.kind = anthropic::error_type(info.kind).to_owned();
            }
            error.body_code = info.code;
            error
        }
        ErrorKind::Timeout | ErrorKind::Server => {
            observe::upstream_error(name, "status");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The upstream provider `{name}` failed with status {}: {said}",
                    status.as_u16()
                ),
            )
        }
    }
}

/// The `type` of an OpenAI-shaped error body, relayed as the upstream wrote it.
fn openai_type(body: &[u8]) -> Option<String> {
    switchyard_wire::openai::UpstreamErrorInfo::parse(body).kind
}

/// Reads a whole upstream body, bounded in size and time.
async fn collect(
    mut body: ByteStream,
    limit: usize,
    deadline: Instant,
    route: &Route,
    total: Duration,
) -> Result<Bytes, ApiError> {
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline.into(), body.next()).await {
            Err(_) => return Err(total_timeout(route, total)),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Err(e))) => return Err(upstream_failure(&e)),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    observe::upstream_error(&route.provider.provider.name, "too_large");
                    return Err(ApiError::new(
                        ErrorCode::UpstreamFailed,
                        format!(
                            "The upstream provider `{}` sent a response larger than {limit} bytes.",
                            route.provider.provider.name
                        ),
                    ));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}
