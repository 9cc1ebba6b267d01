//! The background writer's cost per request (`bench/README.md`, "The writer"): what the
//! request log, the ledger and the spend counters cost the gateway's CPU, apart from HTTP.
//!
//! It drives the real writer (`switchyard_gateway::logwriter`) with what the hot path queues
//! for each paid request (a hold, its settlement and a log row) and measures the process's
//! CPU time (every thread: the writer task and sqlx's SQLite thread) per request. As the
//! baseline of the same run, it also measures the log rows alone.
//!
//!     cargo run --release -p switchyard --example writer_bench
//!     REQUESTS=50000 BATCH=2048 BACKENDS="sqlite postgres" (the defaults; BATCH is
//!     `log.batch_size`, records per batch: a paid request queues three). SQLX_TRACE=1
//!     prints every statement with its time (`sqlx::query=debug`).

// A benchmark, not product code: a failed set-up is a failed run, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;
use switchyard_core::catalog::Role;
use switchyard_core::ledger::Transfer;
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
use switchyard_gateway::logwriter::{self, WriterConfig};
use switchyard_gateway::money::Money;
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, Store};

// The allocator of the `switchyard` binary, so the writer allocates here as it does there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's user + system CPU time in microseconds, every thread included.
fn cpu_us() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks * 1_000_000 / 100
}

fn log_row(id: RequestId, user: UserId, key: KeyId, now: i64) -> RequestLog {
    RequestLog {
        id,
        created_at: now,
        user_id: Some(user),
        key_id: Some(key),
        endpoint: "chat.completions".into(),
        model: "gpt-4o-mini".into(),
        provider: Some("mock".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        channel: Some("mock".into()),
        jurisdiction: Some("local".into()),
        stream: false,
        prompt_tokens: 19,
        completion_tokens: 30,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(21_000),
        provider_cost: Nanos(21_000),
        latency_us: 20_600,
        ttft_us: None,
        status: 200,
        error_code: None,
        client_ip: Some("127.0.0.1".into()),
    }
}

/// Queues `requests` requests' records and waits until the writer has written them all.
/// Returns (CPU µs per request, wall seconds).
async fn run(store: &Store, user: UserId, key: KeyId, requests: usize, money: bool) -> (f64, f64) {
    let config = WriterConfig {
        batch_size: env_or("BATCH", WriterConfig::default().batch_size),
        ..WriterConfig::default()
    };
    let (tx, handle) = logwriter::spawn(
        store.clone(),
        config,
        Arc::new(Money::new(Default::default())),
    );
    let (cpu, wall) = (cpu_us(), Instant::now());
    for i in 0..requests {
        let id = RequestId::new();
        let now = switchyard_gateway::pipeline_now_millis();
        if money {
            tx.send_transfer(Transfer::hold(id, user, Nanos(4_000_000), now, 900_000));
            tx.send_transfer(Transfer::settle(id, user, Nanos(21_000), now));
        }
        tx.send(log_row(id, user, key, now));
        // The hot path queues at its own pace; yielding lets the writer run as it would.
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    drop(tx);
    handle.await.unwrap();
    let cpu = (cpu_us() - cpu) as f64 / requests as f64;
    (cpu, wall.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    if std::env::var_os("SQLX_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("sqlx::query=debug")
            .init();
    }
    let requests: usize = env_or("REQUESTS", 50_000);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite postgres".into());
    println!("| store | records | CPU µs/request | wall s | ratio to the log alone |");
    println!("|---|---|---:|---:|---:|");
    for name in backends.split_whitespace() {
        let backend = match name {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}"),
        };
        let db = TestDb::create(backend).await;
        let store = db.store().await;
        let user = store
            .create_user("bench@example.com", Role::User)
            .await
            .unwrap()
            .id;
        let key = KeyId::new();
        // A warm-up, so both measured runs meet the same table sizes and caches.
        run(&store, user, key, requests / 5, true).await;
        let (alone, alone_wall) = run(&store, user, key, requests, false).await;
        let (full, full_wall) = run(&store, user, key, requests, true).await;
        println!("| {name} | log rows | {alone:.1} | {alone_wall:.2} | 1.00 |");
        println!(
            "| {name} | hold + settlement + log row | {full:.1} | {full_wall:.2} | {:.2} |",
            full / alone
        );
    }
}
