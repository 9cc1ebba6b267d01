//! The export's benchmark (`bench/README.md`, "Export"): how long `GET /api/me/export` takes
//! for a user with 10,000 and with 100,000 usage rows, and how much memory it takes, on the
//! real server ([`TestApp`]) over SQLite and PostgreSQL.
//!
//!     CARGO_TARGET_DIR=/work/target-export-release \
//!       cargo run --release -p switchyard --example export_bench
//!     # ROWS="10000 100000" BACKENDS="sqlite postgres"
//!
//! Memory is the process's (server and client together): `VmRSS` before the download and
//! `VmHWM`, the peak, during it; the peak is reset before each download by writing `5` to
//! `/proc/self/clear_refs`, so it measures the download alone. Flat memory means the peak
//! grows by about the same small amount for 10,000 rows as for 100,000. The client writes
//! the body to a file as it arrives, then the file is opened with the zip reader to check it.
//! The largest chunk is the server side's (`export::spawn`'s summary, one more run).
//!
//! With `SWITCHYARD_BIN=target/release/switchyard`, each size is also exported by the CLI
//! (`switchyard export`) in its own process under `/usr/bin/time`, whose peak RSS is the
//! export's alone: no server, no seeding, no allocator memory left over from either.

// A benchmark, not product code: a failed set-up is a failed run, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::io::{Read, Write};
use std::time::Instant;
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

/// The budget for 100,000 rows.
const BUDGET_S: f64 = 60.0;
/// Rows per `insert_request_logs` call while seeding: a large writer batch.
const SEED_BATCH: usize = 5_000;

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn row(i: usize, user: UserId, key: KeyId, now: i64) -> RequestLog {
    // Spread over the last 90 days, newest last, with the variety a real log has.
    let at = now - 90 * 86_400_000 + (i as i64) * 60_000;
    let failed = i.is_multiple_of(23);
    RequestLog {
        id: RequestId::new(),
        created_at: at,
        user_id: Some(user),
        key_id: Some(key),
        endpoint: "chat.completions".into(),
        model: ["demo-chat", "mock-chat", "claude-chat", "gemini-chat"][i % 4].into(),
        provider: Some(["demo", "openai", "anthropic", "gemini"][i % 4].into()),
        upstream_model: Some("upstream-model".into()),
        channel: Some(format!("channel-{}", i % 3)),
        jurisdiction: Some(["US", "EU"][i % 2].into()),
        stream: i.is_multiple_of(2),
        prompt_tokens: 50 + (i as u64 * 7_919) % 4_000,
        completion_tokens: 20 + (i as u64 * 104_729) % 1_500,
        cached_tokens: (i as u64 * 31) % 200,
        reasoning_tokens: (i as u64 * 17) % 100,
        usage_source: UsageSource::Upstream,
        cost: Nanos(10_000 + (i as i64 * 7_907) % 900_000),
        provider_cost: Nanos(9_000),
        latency_us: 200_000 + (i as u64 * 6_151) % 3_000_000,
        ttft_us: (i.is_multiple_of(2)).then_some(80_000 + (i as u64 * 613) % 400_000),
        status: if failed { 502 } else { 200 },
        error_code: failed.then(|| "upstream_error".to_owned()),
        client_ip: Some(format!("203.0.{}.{}", i % 256, (i * 7) % 256)),
    }
}

struct Measured {
    rows: usize,
    /// The CLI's run in its own process: (seconds, peak RSS in KiB), with `SWITCHYARD_BIN`.
    cli: Option<(f64, u64)>,
    seconds: f64,
    bytes: u64,
    rss_before_kib: u64,
    peak_kib: u64,
    largest_chunk: usize,
}

async fn measure(app: &TestApp, user: UserId, secret: &str, rows: usize) -> Measured {
    let path = std::env::temp_dir().join(format!("switchyard-export-bench-{}.zip", user));
    let rss_before_kib = status_kib("VmRSS:");
    // Resets VmHWM to the current RSS (Linux ≥ 4.0), so the peak below is this download's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let mut response = app
        .client
        .get(app.url("/api/me/export"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let peak_kib = status_kib("VmHWM:");
    drop(file);

    // The archive is whole: the usage log has every row.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut csv = String::new();
    zip.by_name("usage.csv")
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    assert_eq!(csv.lines().count(), rows + 1, "usage.csv has every row");
    drop(csv);
    let _ = std::fs::remove_file(&path);

    // The server side's largest chunk, from the same writer without HTTP.
    let (mut chunks, task) = switchyard_server::export::spawn(
        app.store.clone(),
        user,
        switchyard_gateway::pipeline_now_millis(),
        (),
    );
    while chunks.recv().await.is_some() {}
    let summary = task.await.unwrap().unwrap();
    let cli = std::env::var("SWITCHYARD_BIN")
        .ok()
        .map(|bin| cli_run(&bin, app.database_url().unwrap(), rows));
    Measured {
        rows,
        cli,
        seconds,
        bytes,
        rss_before_kib,
        peak_kib,
        largest_chunk: summary.largest_chunk,
    }
}

/// `switchyard export` of the heavy user in its own process: (seconds, peak RSS in KiB).
fn cli_run(bin: &str, database_url: &str, rows: usize) -> (f64, u64) {
    let out = std::env::temp_dir().join(format!("switchyard-export-bench-cli-{rows}.zip"));
    let started = Instant::now();
    let output = std::process::Command::new("/usr/bin/time")
        .args([
            "-f",
            "peak_kib=%M",
            bin,
            "export",
            "--user",
            "heavy@example.com",
            "--out",
        ])
        .arg(&out)
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "switchyard export failed: {stderr}"
    );
    let _ = std::fs::remove_file(&out);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (seconds, peak)
}

async fn run(backend: Backend, targets: &[usize]) -> Vec<Measured> {
    let app = TestApp::spawn(backend).await;
    let (user, secret) = app
        .user_with_key("heavy@example.com", json!({"name": "bench"}))
        .await;
    let user: UserId = user.parse().unwrap();
    let key = app.store.list_keys(Some(user)).await.unwrap()[0].id;
    let now = switchyard_gateway::pipeline_now_millis();
    let mut seeded = 0;
    let mut results = Vec::new();
    for &target in targets {
        let started = Instant::now();
        while seeded < target {
            let batch: Vec<RequestLog> = (seeded..target.min(seeded + SEED_BATCH))
                .map(|i| row(i, user, key, now))
                .collect();
            seeded += batch.len();
            app.store.insert_request_logs(&batch).await.unwrap();
        }
        app.store.gather_statistics().await.unwrap();
        eprintln!(
            "{backend:?}: seeded {seeded} rows in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        results.push(measure(&app, user, &secret, target).await);
    }
    results
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let targets: Vec<usize> = std::env::var("ROWS")
        .unwrap_or_else(|_| "10000 100000".into())
        .split_whitespace()
        .map(|n| n.parse().expect("ROWS are numbers"))
        .collect();
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite postgres".into());
    println!(
        "| backend | usage rows | time (s) | archive (MiB) | rows/s | RSS before (MiB) | peak during (MiB) | peak − before (MiB) | largest chunk (KiB) | CLI time (s) | CLI peak RSS (MiB) | budget |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for name in backends.split_whitespace() {
        let backend = match name {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}"),
        };
        for m in run(backend, &targets).await {
            let mib = |kib: u64| kib as f64 / 1024.0;
            let verdict = if m.seconds < BUDGET_S * (m.rows as f64 / 100_000.0).max(0.1) {
                "PASS"
            } else {
                "MISS"
            };
            let (cli_s, cli_peak) = match m.cli {
                Some((s, kib)) => (format!("{s:.2}"), format!("{:.1}", mib(kib))),
                None => ("–".to_owned(), "–".to_owned()),
            };
            println!(
                "| {name} | {} | {:.2} | {:.1} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} | {cli_s} | {cli_peak} | {verdict} |",
                m.rows,
                m.seconds,
                m.bytes as f64 / 1_048_576.0,
                m.rows as f64 / m.seconds,
                mib(m.rss_before_kib),
                mib(m.peak_kib),
                mib(m.peak_kib.saturating_sub(m.rss_before_kib)),
                m.largest_chunk as f64 / 1024.0,
            );
        }
    }
}
