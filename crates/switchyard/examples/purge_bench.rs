//! The retention purge's benchmark (`bench/README.md`, "Retention"): does purging cost what
//! it removes, or what the table holds? On each store it purges the same number of expired
//! usage-log rows from a small log and from a log ten times larger, and reports both times and
//! their ratio (near 1: the purge reads only what it deletes). It also times the erasure of an
//! account with many log rows.
//!
//!     cargo run --release -p switchyard --example purge_bench
//!     EXPIRED=100000 LIVE=100000 SCALE=10 BACKENDS="sqlite postgres" (the defaults)

// A benchmark, not product code: a failed set-up is a failed run, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;
use switchyard_core::catalog::Role;
use switchyard_core::log::RequestLog;
use switchyard_core::retention::{DAY_MS, Windows};
use switchyard_core::usage::UsageSource;
use switchyard_core::{Nanos, RequestId, UserId};
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, Store};

const NOW: i64 = 1_800_000_000_000;
const SEED_BATCH: usize = 5_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(user: UserId, created_at: i64, i: u64) -> RequestLog {
    RequestLog {
        id: RequestId::new(),
        created_at,
        user_id: Some(user),
        key_id: None,
        endpoint: "chat.completions".into(),
        model: ["demo-chat", "mock-chat", "claude-chat"][(i % 3) as usize].into(),
        provider: Some("demo".into()),
        upstream_model: None,
        channel: None,
        jurisdiction: Some("US".into()),
        stream: false,
        prompt_tokens: 10,
        completion_tokens: 20,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_000),
        provider_cost: Nanos(800),
        latency_us: 20_000,
        ttft_us: None,
        status: 200,
        error_code: None,
        client_ip: Some("203.0.113.9".into()),
    }
}

/// `count` rows spread over users, with ages in `[from_days, to_days)` days.
async fn seed(store: &Store, users: &[UserId], count: u64, from_days: i64, to_days: i64) {
    let span = (to_days - from_days) * DAY_MS;
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..count {
        let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let age = from_days * DAY_MS + (mix % span as u64) as i64;
        batch.push(row(
            users[(mix % users.len() as u64) as usize],
            NOW - age,
            i,
        ));
        if batch.len() == SEED_BATCH {
            store.insert_request_logs(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.insert_request_logs(&batch).await.unwrap();
}

/// Seeds `live` rows inside every window and `expired` rows past the usage log's, then times
/// one purge. Returns (seconds, rows deleted).
async fn purge_once(backend: Backend, live: u64, expired: u64) -> (f64, u64) {
    let db = TestDb::create(backend).await;
    let store = db.store().await;
    let mut users = Vec::new();
    for n in 0..100 {
        users.push(
            store
                .create_user(&format!("u{n}@example.com"), Role::User)
                .await
                .unwrap()
                .id,
        );
    }
    // Live rows are younger than the IP window, so the purge has nothing else to do.
    seed(&store, &users, live, 0, 89).await;
    seed(&store, &users, expired, 366, 400).await;
    store.gather_statistics().await.unwrap();
    let started = Instant::now();
    let report = store.purge_expired(NOW, &Windows::default()).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.usage_rows, expired, "{report:?}");
    assert_eq!(
        store
            .purge_expired(NOW, &Windows::default())
            .await
            .unwrap()
            .total(),
        0
    );
    store.close().await;
    (seconds, report.usage_rows)
}

/// Times the erasure of one account holding `rows` log rows among `others` of other users.
async fn erase_once(backend: Backend, rows: u64, others: u64) -> f64 {
    let db = TestDb::create(backend).await;
    let store = db.store().await;
    let gone = store
        .create_user("gone@example.com", Role::User)
        .await
        .unwrap()
        .id;
    let stays = store
        .create_user("stays@example.com", Role::User)
        .await
        .unwrap()
        .id;
    seed(&store, &[gone], rows, 0, 30).await;
    seed(&store, &[stays], others, 0, 30).await;
    let windows = Windows::default();
    store
        .request_deletion(gone, NOW - 31 * DAY_MS, "hmac")
        .await
        .unwrap();
    let started = Instant::now();
    let report = store.purge_expired(NOW, &windows).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.accounts_erased, 1);
    store.close().await;
    seconds
}

#[tokio::main]
async fn main() {
    let expired: u64 = env_or("EXPIRED", 100_000);
    let live: u64 = env_or("LIVE", 100_000);
    let scale: u64 = env_or("SCALE", 10);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite postgres".into());
    println!(
        "## Retention purge: {expired} expired rows from a log of {} and of {} rows\n",
        live + expired,
        live * scale + expired
    );
    println!(
        "| store | small log: s | large log: s | large / small | rows/s (large) | erase an account of {expired} rows among {live}: s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for name in backends.split_whitespace() {
        let backend = match name {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}"),
        };
        let (small, _) = purge_once(backend, live, expired).await;
        let (large, deleted) = purge_once(backend, live * scale, expired).await;
        let erase = erase_once(backend, expired, live).await;
        println!(
            "| {name} | {small:.2} | {large:.2} | {:.2} | {:.0} | {erase:.2} |",
            large / small,
            deleted as f64 / large
        );
    }
}
