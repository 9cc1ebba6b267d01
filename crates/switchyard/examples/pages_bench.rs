//! The dashboard pages' benchmark: how long each JSON page takes with a million log rows,
//! against the same page on an empty log measured in the same run (`bench/README.md`,
//! "Pages"). Runs the real server ([`TestApp`]) on SQLite and on PostgreSQL, seeds the log
//! through the writer's own insert path (so the daily rollup is filled the way production
//! fills it), then times each endpoint for the heaviest user.
//!
//!     bash bench/pages.sh                 # ROWS=1000000 SAMPLES=30 BACKENDS="sqlite postgres"
//!
//! Prints a Markdown table: p50 and p95 per endpoint on the empty log and on the full one, the
//! ratio of the p50s, and PASS/MISS against the 100 ms budget of the issue.

// A benchmark, not product code: a failed set-up is a failed run, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

const BUDGET_MS: f64 = 100.0;
const USERS: usize = 1_000;
const MODELS: [&str; 8] = [
    "demo-chat",
    "mock-chat",
    "mock-cache",
    "mock-reasoning",
    "claude-chat",
    "gemini-chat",
    "gemini-cache",
    "claude-cache",
];
const DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;
/// Rows per `insert_request_logs` call while seeding: a large writer batch.
const SEED_BATCH: usize = 5_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic spread: one row in ten belongs to the heavy user, the rest to 999 others,
/// over `DAYS` days, eight models, three keys per user, one row in twenty failed.
fn seed_row(
    i: u64,
    now: i64,
    heavy: UserId,
    heavy_keys: &[KeyId],
    others: &[UserId],
) -> RequestLog {
    let mix = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let (user, key) = if i.is_multiple_of(10) {
        (heavy, Some(heavy_keys[(mix % 3) as usize]))
    } else {
        (others[(mix % others.len() as u64) as usize], None)
    };
    let age = (mix >> 8) % (DAYS as u64 * DAY_MS as u64);
    let status = if (mix >> 40).is_multiple_of(20) {
        502
    } else {
        200
    };
    RequestLog {
        id: RequestId::new(),
        created_at: now - age as i64,
        user_id: Some(user),
        key_id: key,
        endpoint: "chat.completions".into(),
        model: MODELS[((mix >> 20) % MODELS.len() as u64) as usize].into(),
        provider: Some("mock".into()),
        upstream_model: Some("gpt".into()),
        channel: Some("mock".into()),
        jurisdiction: Some("US".into()),
        stream: mix.is_multiple_of(2),
        prompt_tokens: 100 + mix % 900,
        completion_tokens: 10 + (mix >> 10) % 500,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_000 + (mix % 100_000) as i64),
        provider_cost: Nanos(800 + (mix % 80_000) as i64),
        latency_us: 20_000 + (mix >> 30) % 2_000_000,
        ttft_us: Some(5_000),
        status,
        error_code: (status != 200).then(|| "upstream_error".to_owned()),
        client_ip: None,
    }
}

/// p50 and p95 (nearest rank) in ms of `samples` GETs of `path`.
async fn time(app: &TestApp, key: &str, path: &str, samples: usize) -> (f64, f64) {
    // One untimed request warms caches and prepared statements, as a live server has them.
    let warm = app
        .client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 200, "{path}: {}", warm.text().await.unwrap());
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.bytes().await.unwrap();
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let rank = |q: usize| ms[((ms.len() * q).div_ceil(100)).max(1) - 1];
    (rank(50), rank(95))
}

/// The pages the dashboard loads, for the heavy user (`key`) and the operator (`admin`).
fn pages(heavy_key_id: &str, cursor: &str, today: &str) -> Vec<(String, bool)> {
    vec![
        ("/api/usage".into(), false),
        (format!("/api/usage?cursor={cursor}"), false),
        ("/api/usage?model=mock-cache".into(), false),
        ("/api/usage?status=error".into(), false),
        (format!("/api/usage?key={heavy_key_id}"), false),
        (
            format!("/api/usage?key={heavy_key_id}&model=claude-chat&status=error"),
            false,
        ),
        (format!("/api/usage?from={today}&to={today}"), false),
        ("/api/usage?limit=200".into(), false),
        ("/api/usage/daily?days=30".into(), false),
        ("/api/models".into(), false),
        ("/api/admin/users".into(), true),
        ("/api/admin/users?q=user-9".into(), true),
        ("/api/admin/stats?days=30".into(), true),
    ]
}

async fn run(backend: Backend, rows: u64, samples: usize) -> Vec<String> {
    let app = TestApp::spawn(backend).await;
    let (heavy, heavy_key) = app.user_with_key("heavy@example.com", json!({})).await;
    let heavy: UserId = heavy.parse().unwrap();
    let mut heavy_keys: Vec<KeyId> = app
        .store
        .list_keys(Some(heavy))
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    for name in ["two", "three"] {
        let k = app
            .create_key(json!({"user_id": heavy.to_string(), "name": name}))
            .await;
        heavy_keys.push(k["id"].as_str().unwrap().parse().unwrap());
    }
    let mut others = Vec::with_capacity(USERS - 1);
    for i in 0..USERS - 1 {
        let user = app
            .store
            .create_user(
                &format!("user-{i}@example.com"),
                switchyard_core::catalog::Role::User,
            )
            .await
            .unwrap();
        others.push(user.id);
    }
    app.gateway().reload_access().await.unwrap();
    let now = switchyard_gateway::pipeline_now_millis();
    let today = {
        let page: Value = app
            .client
            .get(app.url("/api/usage/daily?days=1"))
            .bearer_auth(&heavy_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["to"].as_str().unwrap().to_owned()
    };
    let key_id = heavy_keys[1].to_string();

    let measure = |cursor: String| {
        let app = &app;
        let heavy_key = heavy_key.clone();
        let key_id = key_id.clone();
        let today = today.clone();
        async move {
            let mut out = Vec::new();
            for (path, admin) in pages(&key_id, &cursor, &today) {
                let key = if admin { &app.admin_key } else { &heavy_key };
                out.push((path.clone(), time(app, key, &path, samples).await));
            }
            out
        }
    };
    // A cursor deep in the log: after the heavy user's first 5,000 rows (on the empty log,
    // a cursor that starts the same query at "now").
    let empty_cursor = {
        let page: Value = app
            .client
            .get(app.url("/api/usage?limit=1"))
            .bearer_auth(&heavy_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["next_cursor"].as_str().unwrap_or_default().to_owned()
    };
    let empty = measure(empty_cursor).await;

    let start = Instant::now();
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..rows {
        batch.push(seed_row(i, now, heavy, &heavy_keys, &others));
        if batch.len() == SEED_BATCH {
            app.store.insert_request_logs(&batch).await.unwrap();
            batch.clear();
        }
    }
    app.store.insert_request_logs(&batch).await.unwrap();
    let seeded = start.elapsed();
    // What autovacuum does after bulk writes on PostgreSQL; nothing on SQLite, whose plans
    // must hold without statistics since a deployment never gathers any.
    app.store.gather_statistics().await.unwrap();
    let mut cursor = None::<String>;
    for _ in 0..25 {
        let path = match &cursor {
            Some(c) => format!("/api/usage?limit=200&cursor={c}"),
            None => "/api/usage?limit=200".to_owned(),
        };
        let page: Value = app
            .client
            .get(app.url(&path))
            .bearer_auth(&heavy_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let full = measure(cursor.unwrap_or_default()).await;

    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let mut lines = vec![format!(
        "\n### {name}: {rows} rows ({} for the heavy user), seeded in {:.0} s\n",
        rows / 10,
        seeded.as_secs_f64()
    )];
    lines.push(
        "| endpoint | empty p50 ms | empty p95 ms | 1M p50 ms | 1M p95 ms | p50 ratio | ≤ 100 ms (p95) |"
            .to_owned(),
    );
    lines.push("|---|---:|---:|---:|---:|---:|---|".to_owned());
    for ((path, (e50, e95)), (_, (f50, f95))) in empty.iter().zip(&full) {
        let shown = if path.contains("cursor=") {
            "/api/usage?cursor=(page 26)".to_owned()
        } else {
            path.replace(&key_id, "K").replace(&today, "TODAY")
        };
        lines.push(format!(
            "| `{shown}` | {e50:.1} | {e95:.1} | {f50:.1} | {f95:.1} | {:.2} | {} |",
            f50 / e50,
            if *f95 <= BUDGET_MS { "PASS" } else { "MISS" }
        ));
    }
    drop(app);
    lines
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = env_or("ROWS", 1_000_000);
    let samples: usize = env_or("SAMPLES", 30);
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite postgres".into());
    let started = Instant::now();
    let mut report = vec![format!(
        "## Pages: {rows} log rows, {USERS} users, {DAYS} days, {} models; {samples} samples per endpoint",
        MODELS.len()
    )];
    for backend in backends.split_whitespace() {
        let backend = match backend {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend `{other}` (sqlite, postgres)"),
        };
        report.extend(run(backend, rows, samples).await);
    }
    report.push(format!(
        "\n(total run time {:.0} s)",
        Duration::from_secs_f64(started.elapsed().as_secs_f64()).as_secs_f64()
    ));
    println!("{}", report.join("\n"));
}
