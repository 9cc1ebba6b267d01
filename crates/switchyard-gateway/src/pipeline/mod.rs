//! [`Gateway::proxy`]: the named steps of an inference request, in order, in one function.

mod dispatch;
mod failure;

pub use dispatch::JURISDICTION_HEADER;

use crate::error::{ApiError, Dialect};
use crate::limits::Limits;
use crate::logwriter::LogSender;
use crate::money::{Budget, Hold, Money};
use crate::relay::Pending;
use crate::routing::{self, Attempts, Exhausted, Targets, Wanted};
use crate::snapshot::{Access, Caller, Catalog};
use crate::translate::{self, Plan};
use crate::{Body, meter, observe};
use arc_swap::ArcSwap;
use bytes::Bytes;
use dispatch::{Failed, Request};
use http::header::RETRY_AFTER;
use http::{HeaderValue, Response};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use switchyard_core::catalog::{ModelKind, UnixMillis};
use switchyard_core::content::ContentLogging;
use switchyard_core::credential::{CredentialError, Keyring};
use switchyard_core::error::ErrorCode;
use switchyard_core::key::{self, KeyHash};
use switchyard_core::ledger::Transfer;
use switchyard_core::routing::Preferences;
use switchyard_core::{Nanos, RequestId, Secret, policy};
use switchyard_store::{HeldElsewhere, Store, StoreError};
use switchyard_wire::openai::{Endpoint, RequestPeek};

/// Settings of the hot path.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// The server secret under which key hashes are computed.
    pub key_secret: Secret,
    /// The master keys that seal and open stored providers' credentials.
    pub keyring: Keyring,
    /// Largest non-streamed upstream body we buffer.
    pub max_response_bytes: usize,
    /// `privacy.content_logging`: whether any key may capture content.
    pub content_logging: ContentLogging,
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
    /// The `x-switchyard-provider` header: provider preferences when the body has none.
    pub provider_header: Option<HeaderValue>,
}

impl RequestMeta {
    pub fn now(id: RequestId, client_ip: Option<String>) -> RequestMeta {
        RequestMeta {
            id,
            received: Instant::now(),
            received_at: now_millis(),
            client_ip,
            anthropic_beta: None,
            provider_header: None,
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
    /// Seals and opens stored providers' credentials (`config.keyring`).
    credentials: Keyring,
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
            credentials: config.keyring.clone(),
            config,
        };
        gateway.reload_access().await?;
        gateway.reload_catalog().await?;
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
        let fresh = Arc::new(Access::build(stored, generation));
        // Of two reloads racing (the refresher's and an API write's), the one that read the
        // older generation must not overwrite the other's newer index: a key created a moment
        // ago would be unknown until the next refresh.
        self.access.rcu(|current| {
            if current.generation > generation {
                current.clone()
            } else {
                fresh.clone()
            }
        });
        Ok(())
    }

    /// Reloads the index and the stored catalogue when the store's generation moved (a change
    /// made by the CLI or another replica). Returns whether it reloaded.
    pub async fn refresh_if_changed(&self) -> Result<bool, StoreError> {
        let generation = self.store.generation().await?;
        let mut reloaded = false;
        if generation != self.access.load().generation {
            self.reload_access().await?;
            reloaded = true;
        }
        if generation != self.catalog.load().settings_generation() {
            self.reload_catalog().await?;
            reloaded = true;
        }
        Ok(reloaded)
    }

    /// Applies what the operator stored (channel overrides, providers, models) to the
    /// configured catalogue and swaps the result in. Channels keep their health and connections
    /// across the swap; requests in flight keep the routes they hold.
    pub async fn reload_catalog(&self) -> Result<(), StoreError> {
        // As in `reload_access`, the generation is read first, so the stored catalogue is at
        // least as new as it. Of two reloads racing, the one that read the older generation
        // must not overwrite the other's newer catalogue.
        let generation = self.store.generation().await?;
        let stored = self.store.stored_catalog().await?;
        self.catalog.rcu(|current| {
            if current.settings_generation() > generation {
                current.clone()
            } else {
                Arc::new(current.with_stored(stored.clone(), generation, &self.credentials))
            }
        });
        Ok(())
    }

    /// Seals a provider credential for the store (see [`switchyard_core::credential`]).
    pub fn seal_credential(
        &self,
        provider: &str,
        credential: &Secret,
    ) -> Result<Vec<u8>, CredentialError> {
        self.credentials.seal(provider, credential)
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The request log's queue: how deep it is and whether new requests are refused.
    pub fn log(&self) -> &LogSender {
        &self.log
    }

    /// The deployment's `privacy.content_logging`.
    pub fn content_logging(&self) -> ContentLogging {
        self.config.content_logging
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
        // The model must resolve as it would for `/v1/messages` (aliases, prefixes, the data
        // policy), so a count never succeeds for a request that would be refused.
        let catalog = self.catalog.load_full();
        let wanted = Wanted {
            kind: Some(ModelKind::Chat),
            path: "messages",
            ..Wanted::default()
        };
        routing::resolve(&catalog, &caller, &request.model, &wanted)?;
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
        let dialect = Dialect::of(endpoint);
        if self.log.backlogged() {
            // The store has fallen behind: admitting more would grow memory without bound
            // or, once records were dropped, lose charges. Refused before any work.
            let error = backlog_error().in_dialect(dialect);
            pending.refuse(&error);
            return error.into_response_for(dialect);
        }
        match self
            .run(endpoint, &meta, credentials, body, &mut pending)
            .await
        {
            Ok(response) => response,
            Err(error) => {
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
        // The one place a request's content capture is decided: under `never` no key
        // captures, whatever its stored flag says.
        if self.config.content_logging.captures(caller.key.log_content) {
            pending.capture();
        }
        // parse: only the fields the gateway needs; the rest stays raw.
        let peek = RequestPeek::parse(endpoint, &body)?;
        pending.set_request(&peek.model, peek.stream);
        // authorize and route: the channels the key, the data policies and the preferences
        // allow, best first.
        let preferences = preferences(&peek, meta)?;
        let catalog = self.catalog.load_full();
        let wanted = Wanted {
            kind: Some(match endpoint {
                Endpoint::Embeddings => ModelKind::Embedding,
                _ => ModelKind::Chat,
            }),
            fallbacks: &peek.models,
            preferences: preferences.as_ref(),
            path: endpoint.path().trim_start_matches('/'),
        };
        let targets = routing::resolve(&catalog, &caller, &peek.model, &wanted)?;
        pending.set_route(&targets.primary);
        // translate (the plans): decode the request into the neutral form now if any channel
        // needs it, so a malformed one costs no hold.
        let default_max = self.money.config().default_max_output_tokens;
        let mut neutral_needed = false;
        let mut max_tokens = Some(0);
        for candidate in &targets.candidates {
            let format = candidate.entry().provider.upstream.format();
            let plan = translate::plan(endpoint, format, &peek.model)?;
            neutral_needed |= plan == Plan::Translate;
            let limit = translate::effective_max_tokens(format, plan, peek.max_tokens, default_max);
            max_tokens = max_tokens.zip(limit).map(|(a, b)| a.max(b));
        }
        let neutral = match neutral_needed {
            false => None,
            true => Some(translate::decode_request(endpoint, &body)?),
        };
        // limit and hold: reserve the worst-case cost over every channel that may serve it;
        // settled or voided with the log row.
        let ask = Ask {
            endpoint,
            max_tokens,
            choices: peek.choices,
        };
        self.hold(meta, &caller, &targets, &ask, &body, pending)
            .await?;
        // dispatch, retrying on another channel while nothing has reached the client.
        let retries = &targets.primary.retries;
        retries.deposit();
        let config = catalog.routing();
        let mut attempts = Attempts::new(&targets);
        let mut last_error: Option<ApiError> = None;
        let request = Request {
            endpoint,
            meta,
            peek: &peek,
            neutral: neutral.as_ref(),
            default_max,
        };
        loop {
            if attempts.made() >= config.max_attempts.max(1) {
                break;
            }
            let now = now_millis();
            let pick = match attempts.next(&targets, now) {
                Ok(pick) => pick,
                Err(exhausted) if last_error.is_none() => {
                    return Err(no_channel(&targets, exhausted, now));
                }
                Err(_) => break,
            };
            if attempts.made() > 1 {
                if !retries.withdraw() {
                    observe::retry_budget_exhausted(&targets.primary.model.name);
                    break;
                }
                observe::retried(&targets.primary.model.name);
            }
            let candidate = &targets.candidates[pick.candidate];
            match self
                .attempt(&request, candidate, pick.probe, config, pending)
                .await
            {
                Ok(response) => return Ok(response),
                Err(Failed::Final(error)) => return Err(error),
                Err(Failed::Retryable(error)) => {
                    if matches!(
                        error.code,
                        ErrorCode::UpstreamTimeout | ErrorCode::UpstreamRateLimited
                    ) {
                        attempts.spend(pick.candidate);
                    }
                    last_error = Some(error);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| no_channel(&targets, Exhausted::Tried, now_millis())))
    }
}

/// The request's provider preferences: the body's `provider` object, else the
/// `x-switchyard-provider` header.
fn preferences(
    peek: &RequestPeek<'_>,
    meta: &RequestMeta,
) -> Result<Option<Preferences>, ApiError> {
    let (text, param) = match (peek.provider, &meta.provider_header) {
        (Some(raw), _) => (raw.get(), "provider"),
        (None, Some(header)) => (
            header.to_str().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "The `x-switchyard-provider` header must be a JSON object in ASCII.",
                )
            })?,
            "x-switchyard-provider",
        ),
        (None, None) => return Ok(None),
    };
    Preferences::parse(text)
        .map(Some)
        .map_err(|message| ApiError::new(ErrorCode::InvalidRequest, message).with_param(param))
}

/// The answer while the log is backlogged ([`crate::logwriter::LogSender::backlogged`]).
fn backlog_error() -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        "Switchyard is not taking requests for a moment: its database is not keeping up with the request log. Try again shortly.",
    )
    .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
}

/// Every channel is out of reach before a single attempt: cooling after `Retry-After`, or
/// (after failures) tried as often as allowed.
fn no_channel(targets: &Targets, exhausted: Exhausted, now: UnixMillis) -> ApiError {
    let model = &targets.primary.model.name;
    match exhausted {
        Exhausted::Cooling(until) => {
            let seconds = ((until - now).max(0) + 999) / 1_000;
            ApiError::new(
                ErrorCode::NoChannelAvailable,
                format!("Every channel of the model `{model}` asked to be left alone for now (its upstream's Retry-After). Try again in {seconds} s."),
            )
            .with_header(RETRY_AFTER, HeaderValue::from(seconds.max(1)))
        }
        Exhausted::Tried => ApiError::new(
            ErrorCode::NoChannelAvailable,
            format!("No channel of the model `{model}` could take the request."),
        ),
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
        targets: &Targets,
        peek: &Ask,
        body: &[u8],
        pending: &mut Pending,
    ) -> Result<(), ApiError> {
        let money = &self.money;
        let enforce = money.config().prepaid;
        // The caller's markup, and every output token at the dearer of output and reasoning.
        let prices = targets.hold_prices(|route| route.markup_bps(&caller.user));
        let route = &targets.primary;
        let has_output = route.model.kind == ModelKind::Chat;
        let budget = money.budget(caller.user.id);
        let output = money.max_output_tokens(peek.max_tokens, peek.choices, has_output);
        let bound = |prompt: u64| Money::worst_case(prices, prompt, output);
        // Cluster mode: this user's reservations on this replica take turns through the shared
        // check, so the budget it reports there is exact.
        let cluster = money.shared().filter(|_| enforce);
        let turn_of = budget.clone();
        let _turn = match cluster {
            Some(_) => Some(turn_of.cluster_turn.lock().await),
            None => None,
        };
        let refuse = |available: Nanos, amount: Nanos, counted: u64| {
            ApiError::new(
                ErrorCode::InsufficientQuota,
                format!(
                    "Your balance cannot cover this request: ${} is available and the request may cost up to ${amount} ({counted} prompt tokens and up to {output} output tokens of `{}`). Top up your balance{}.",
                    available.max(Nanos::ZERO),
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
                return Err(refuse(available, amount, counted));
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
                    let counted = meter::estimate_prompt(peek.endpoint, body);
                    return Err(refuse(own_after + amount - elsewhere, amount, counted));
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
