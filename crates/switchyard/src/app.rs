//! Wiring: from a validated [`Config`] to a running server, and back down again.
//!
//! Start-up: open and migrate the store → load the server secret and the master keys → create the first admin on
//! an empty database → build the catalog → start the log writer, the gateway and the snapshot
//! refresher → serve.
//!
//! Shutdown (SIGTERM, SIGINT, [`Running::shutdown`] or its token) is a drain in four steps.
//! `/readyz` answers 503 `draining` at once, while the server keeps accepting and serving for
//! `server.shutdown_delay_ms`: load balancers take the node out of rotation before anyone is
//! refused. Then the listener closes, and requests and streams in flight get
//! `server.shutdown_grace_ms` to finish before the rest are cut. Then the background loops stop
//! (they run until here, so budgets and keys stay current while requests are still served), and
//! last the log writer drains every pending row.

use crate::config::Config;
use anyhow::Context;
use axum::serve::ListenerExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use switchyard_core::catalog::Role;
use switchyard_core::content::ContentLogging;
use switchyard_core::ledger::{AccountId, Transfer, TransferKind};
use switchyard_core::{Secret, UserId};
use switchyard_gateway::money::{Money, MoneyConfig};
use switchyard_gateway::snapshot::Catalog;
use switchyard_gateway::{Gateway, GatewayConfig, logwriter, meter, pipeline_now_millis};
use switchyard_server::accounts::{self, NewKey};
use switchyard_server::auth::Auth;
use switchyard_server::mail::{LogMailer, SmtpMailer};
/// What [`start_with_mailer`] takes, re-exported for tests that capture mail.
pub use switchyard_server::mail::{Mail, Mailer, Outbox};
use switchyard_server::{AppState, router};
use switchyard_store::{SharedReservations, Store, TokenPurpose};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The admin account made on first start, and its key (the only time it is visible).
#[derive(Debug)]
pub struct Bootstrap {
    pub email: String,
    pub user_id: UserId,
    pub key: Secret,
    /// A one-time link that sets the admin's dashboard password (the account has none yet).
    pub password_link: String,
}

/// How long the first admin's password link works.
const BOOTSTRAP_LINK_TTL_MS: i64 = 24 * 60 * 60 * 1000;

pub const BOOTSTRAP_EMAIL: &str = "admin@localhost";

/// A started server.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub bootstrap: Option<Bootstrap>,
    pub store: Store,
    /// Weak: the gateway must go away at shutdown so the writer can drain and end.
    gateway: std::sync::Weak<Gateway>,
    cancel: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The gateway, while the server runs.
    pub fn gateway(&self) -> Option<Arc<Gateway>> {
        self.gateway.upgrade()
    }

    /// A token that starts the graceful shutdown when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Starts a graceful shutdown and waits for it to complete.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.wait().await
    }

    /// Waits until the server has stopped (after the token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task panicked")?
    }
}

/// Opens the store named by the configuration and applies pending migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// The process-wide Prometheus recorder (installed once; tests start many servers).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const SECONDS: &[f64] = &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0, 60.0, 120.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(SECONDS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (embedding in a larger program): render ours
                // unattached rather than failing to start.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Creates the first admin and key when the database has no users yet.
async fn bootstrap(
    store: &Store,
    secret: &Secret,
    welcome_credit: switchyard_core::Nanos,
) -> anyhow::Result<Option<Bootstrap>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    // The operator's own account gets no new-user credit: it is not a sign-up.
    let signup = accounts::Signup {
        key_secret: secret,
        new_user_credit: switchyard_core::Nanos::ZERO,
        referral_code: None,
    };
    let user = accounts::create_user(store, BOOTSTRAP_EMAIL, Role::Admin, signup).await?;
    let new = NewKey {
        user_id: user.id,
        name: "first key".into(),
        ..NewKey::default()
    };
    let created = accounts::create_key(store, secret, new, pipeline_now_millis()).await?;
    // The dashboard needs a password: the operator sets one through the same reset link a
    // forgotten password gets, printed once instead of mailed (the address is not real).
    let token = switchyard_server::auth::Token::generate();
    let now = pipeline_now_millis();
    store
        .insert_email_token(
            &token.hash,
            user.id,
            TokenPurpose::Reset,
            now,
            now.saturating_add(BOOTSTRAP_LINK_TTL_MS),
        )
        .await?;
    if welcome_credit > switchyard_core::Nanos::ZERO {
        // The demo credit: the first request of a fresh install passes.
        let credit = Transfer::posted(
            format!("promo:welcome:{}", user.id),
            AccountId::promotions(),
            AccountId::user(user.id),
            welcome_credit,
            TransferKind::Promotion,
            pipeline_now_millis(),
        )
        .with_memo("welcome credit of the first admin");
        store.apply_transfers(&[credit]).await?;
    }
    Ok(Some(Bootstrap {
        email: user.email,
        user_id: user.id,
        key: created.secret,
        // Completed with the public URL once the address is known (see `start`).
        password_link: format!("/reset-password?token={}", token.raw),
    }))
}

/// Starts everything on `listener` and returns once the server accepts requests.
pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Running> {
    start_with_mailer(config, listener, None).await
}

/// The mailer `[smtp]` asks for, or the log when it is not configured.
fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match &config.smtp {
        Some(smtp) => Arc::new(SmtpMailer::new(smtp).map_err(|e| anyhow::anyhow!("{e}"))?),
        None => {
            if config.sessions.secure() {
                tracing::warn!(
                    "[smtp] is not configured: verification and reset links are written to the log"
                );
            }
            Arc::new(LogMailer)
        }
    })
}

/// [`start`] with the mail going to `mailer` instead of what the configuration says (tests
/// read links from an [`switchyard_server::mail::Outbox`]).
pub async fn start_with_mailer(
    config: Config,
    listener: TcpListener,
    mailer: Option<Arc<dyn Mailer>>,
) -> anyhow::Result<Running> {
    let mailer = match mailer {
        Some(mailer) => mailer,
        None => self::mailer(&config)?,
    };
    let store = open_store(&config).await?;
    let secret =
        crate::secret::load_or_create(std::env::var(crate::secret::ENV).ok(), &config.data_dir)?;
    let keyring = crate::secrets::load_or_create(
        std::env::var(crate::secrets::ENV).ok(),
        &config.master_keys_file,
        &secret,
    )?;
    let mut bootstrap = bootstrap(&store, &secret, config.billing.welcome_credit).await?;
    lock_content_logging(&store, config.content_logging).await?;
    let catalog = Catalog::build(
        config.providers.clone(),
        config.models.clone(),
        config.pricing.clone(),
        config.demo_word_delay,
        config.routing,
    )
    .map_err(anyhow::Error::msg)?
    .with_provider_defaults(config.timeouts);
    // The tokenizer takes a moment to build; do it now, off the request path.
    tokio::task::spawn_blocking(meter::warm_up);

    let writer_config = logwriter::WriterConfig {
        batch_size: config.log_batch_size,
        flush_interval: config.log_flush_interval,
        queue: config.log_queue,
        hold_write_delay: config.billing.hold_write_delay,
    };
    let mut money = Money::new(MoneyConfig {
        prepaid: config.billing.prepaid,
        hold_ttl: config.billing.hold_ttl,
        default_max_output_tokens: config.billing.default_max_output_tokens,
    });
    // Cluster mode: replicas share their recent reservations through Redis.
    if let Some(url) = &config.redis_url {
        let grace = config.billing.cluster_grace.as_millis() as i64;
        let shared = SharedReservations::connect(url, grace)
            .await
            .context("cannot reach Redis at `redis_url` (cluster mode's shared reservations)")?;
        money = money.with_shared(shared);
    }
    let money = Arc::new(money);
    // Holds left by a crashed predecessor are voided before budgets are loaded.
    sweep(&store).await;
    let (log, writer) = logwriter::spawn(store.clone(), writer_config, money.clone());
    let gateway_config = GatewayConfig {
        key_secret: secret,
        keyring,
        max_response_bytes: config.max_response_bytes,
        content_logging: config.content_logging,
    };
    let gateway =
        Arc::new(Gateway::new(catalog, store.clone(), log, money.clone(), gateway_config).await?);

    let cancel = CancellationToken::new();
    // The background loops have their own token, cancelled only once the server has stopped:
    // during the drain the node still serves requests, which need fresh keys and budgets.
    let background = CancellationToken::new();
    let balances = tokio::spawn(money.clone().run_refresher(
        store.clone(),
        config.billing.refresh_interval,
        background.child_token(),
    ));
    let sweeper = spawn_sweeper(
        store.clone(),
        money,
        config.billing.sweep_interval,
        config.sessions.idle,
        background.child_token(),
    );
    let retention = spawn_retention(store.clone(), config.retention, background.child_token());
    let refresher = spawn_refresher(
        Arc::downgrade(&gateway),
        config.snapshot_refresh,
        background.child_token(),
    );
    let draining = Arc::new(AtomicBool::new(false));
    let addr = listener.local_addr()?;
    let mut sessions = config.sessions.clone();
    if sessions.public_url.is_empty() {
        // `server.public_url` unset: links point at the address actually bound.
        sessions.public_url = format!("http://{addr}");
    }
    if let Some(first) = &mut bootstrap {
        first.password_link = format!("{}{}", sessions.public_url, first.password_link);
    }
    let weak_gateway = Arc::downgrade(&gateway);
    let state = AppState {
        gateway,
        metrics: metrics_handle(),
        max_body_bytes: config.max_body_bytes,
        stripe: config.stripe.clone().map(Arc::new),
        promotions: config.promotions,
        invoices: Arc::new(config.invoices.clone()),
        draining: draining.clone(),
        auth: Arc::new(Auth::new(sessions, mailer).with_oidc(config.oidc.clone())),
        retention: config.retention.windows,
        terms_notice_days: config.terms_notice_days,
        exports: Arc::default(),
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let (delay, grace) = (config.shutdown_delay, config.shutdown_grace);
    let shutdown = cancel.clone();
    // Resolves when the server should stop accepting: `delay` after shutdown began, during
    // which `/readyz` already answers 503 so load balancers stop routing here.
    let stop_accepting = {
        let shutdown = cancel.clone();
        async move {
            shutdown.cancelled().await;
            draining.store(true, Ordering::Relaxed);
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "shutting down: /readyz answers 503; still accepting during the delay"
            );
            tokio::time::sleep(delay).await;
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "no longer accepting; waiting for in-flight requests"
            );
        }
    };
    let task = tokio::spawn(async move {
        // Cancels the background loops when dropped: below once the server has stopped, or on
        // an early return if the server fails.
        let background = background.drop_guard();
        let server =
            // Streams are many small writes; without TCP_NODELAY Nagle holds each chunk back
            // until the previous one is acknowledged (40 ms of delayed ACK on Linux).
            axum::serve(listener.tap_io(|tcp| { let _ = tcp.set_nodelay(true); }), app)
                .with_graceful_shutdown(stop_accepting);
        tokio::select! {
            result = server => result.context("the HTTP server failed")?,
            () = async { shutdown.cancelled().await; tokio::time::sleep(delay + grace).await } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "in-flight requests still running after the grace period; closing them");
            }
        }
        drop(background);
        refresher.await.ok();
        balances.await.ok();
        sweeper.await.ok();
        retention.await.ok();
        // Every log sender lives in the gateway and in-flight streams; once they are gone the
        // writer drains its queue and ends. Bounded, so a broken database cannot hang exit.
        match tokio::time::timeout(grace + Duration::from_secs(10), writer).await {
            Ok(_) => tracing::info!("request log drained"),
            Err(_) => {
                tracing::error!("request log writer did not drain in time; pending rows lost")
            }
        }
        Ok(())
    });
    Ok(Running {
        addr,
        bootstrap,
        store,
        gateway: weak_gateway,
        cancel,
        task,
    })
}

/// Under `privacy.content_logging = "never"`, turns off every key's content logging flag left
/// from an earlier mode. The hot path already ignores such flags under `never`; clearing them
/// as well means relaxing the mode later cannot silently resume capture for old keys: an
/// operator has to turn each one on again.
async fn lock_content_logging(store: &Store, mode: ContentLogging) -> anyhow::Result<()> {
    if mode != ContentLogging::Never {
        return Ok(());
    }
    let cleared = store
        .clear_log_content()
        .await
        .context("cannot turn off content logging on keys that still have it on")?;
    if cleared > 0 {
        tracing::warn!(
            keys = cleared,
            "privacy.content_logging is \"never\": turned off content logging on keys that still had it on"
        );
    }
    Ok(())
}

/// Voids expired holds (a crashed replica's requests), in bounded batches.
async fn sweep(store: &Store) -> usize {
    let mut voided = 0;
    loop {
        match store.expire_holds(pipeline_now_millis(), 1_000).await {
            Ok(batch) if batch.is_empty() => return voided,
            Ok(batch) => {
                voided += batch.len();
                tracing::warn!(holds = batch.len(), "voided expired holds");
            }
            Err(e) => {
                tracing::warn!(error = %e, "sweeping expired holds failed");
                return voided;
            }
        }
    }
}

/// How often ended sessions and expired email tokens are deleted: they are refused anyway,
/// so this only keeps the tables from growing.
const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Voids expired holds every `every`; and hourly, deletes sessions that ended (past their
/// absolute end, or unused for `idle`) and email tokens past their expiry.
fn spawn_sweeper(
    store: Store,
    money: Arc<Money>,
    every: Duration,
    idle: Duration,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_purge: Option<std::time::Instant> = None;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if sweep(&store).await > 0 {
                money.changed();
            }
            if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                last_purge = Some(std::time::Instant::now());
                let now = pipeline_now_millis();
                let idle = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
                if let Err(e) = store
                    .purge_ended_sessions(now, now.saturating_sub(idle))
                    .await
                {
                    tracing::warn!(error = %e, "deleting ended sessions failed");
                }
            }
        }
    })
}

/// Runs the retention purge (docs/privacy.md) ten minutes after start (or `interval`, if
/// shorter) and then every
/// `retention.interval`. Each replica runs it: the purge is idempotent and works in short
/// batches, so two at once only share the work. Cancelled between batches' statements at
/// shutdown, which leaves nothing half done (each batch is a transaction).
fn spawn_retention(
    store: Store,
    retention: crate::config::Retention,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Not at once: a node that restarts in a loop should not purge in a loop, and a short
        // test run never meets a purge it did not ask for.
        let mut wait = Duration::from_secs(600).min(retention.interval);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = retention.interval;
            let started = std::time::Instant::now();
            let purge = store.purge_expired(pipeline_now_millis(), &retention.windows);
            let report = tokio::select! {
                () = cancel.cancelled() => return,
                report = purge => report,
            };
            match report {
                Ok(report) if report.total() > 0 => tracing::info!(
                    ?report,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "retention purge"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "retention purge failed; retrying at the next run")
                }
            }
        }
    })
}

/// Reloads the key snapshot when the store changed elsewhere (CLI, another replica). Holds
/// only a weak reference, so it never keeps the gateway (and its log sender) alive.
fn spawn_refresher(
    gateway: std::sync::Weak<Gateway>,
    every: Duration,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let Some(gateway) = gateway.upgrade() else {
                return;
            };
            if let Err(e) = gateway.refresh_if_changed().await {
                tracing::warn!(error = %e, "snapshot refresh failed; serving the previous snapshot");
            }
            // Spend limits, and what other replicas spent against them.
            if let Err(e) = gateway.reload_limits().await {
                tracing::warn!(error = %e, "spend limit refresh failed; keeping the previous limits");
            }
        }
    })
}
