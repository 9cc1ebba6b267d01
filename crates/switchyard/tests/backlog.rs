//! When the database falls behind the request log (here: another connection holds its write
//! lock), new inference requests are refused with 503 in the client's own error format and
//! `/readyz` says why, so memory stays bounded; every request admitted before keeps its row and
//! its charge, and service resumes by itself once the database catches up.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{CENT_MODEL, balance, cent_request, expect_error, request_id, settled};
use serde_json::Value;
use std::time::{Duration, Instant};
use switchyard_core::Nanos;
use switchyard_store::test_support::WriteLock;
use switchyard_store::{Backend, LogFilter};
use switchyard_testkit::TestApp;

on_both_stores!(a_stalled_database_refuses_new_requests_and_loses_no_charge);

/// The writer's queue: its last quarter (4 records) is the reserve for admitted requests.
const QUEUE: usize = 16;

/// Sends paid requests until three in a row are refused with 503 `unavailable`; keeps the
/// ids of those served. Returns how many were refused.
async fn until_refused(app: &TestApp, key: &str, served: &mut Vec<String>) -> usize {
    let (mut refused, mut in_a_row) = (0, 0);
    for _ in 0..60 {
        let response = app.post("/v1/chat/completions", key, &cent_request()).await;
        if response.status() == 200 {
            served.push(request_id(&response));
            in_a_row = 0;
            continue;
        }
        assert_eq!(response.headers()["retry-after"], "1");
        expect_error(response, 503, "unavailable").await;
        refused += 1;
        in_a_row += 1;
        if in_a_row == 3 {
            return refused;
        }
    }
    panic!("never refused three in a row while the database was locked");
}

async fn a_stalled_database_refuses_new_requests_and_loses_no_charge(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &format!("{CENT_MODEL}\n[log]\nqueue = {QUEUE}\nflush_ms = 10\n"),
    )
    .await;
    let (user, key) = app.funded_user("steady@example.com", "1").await;
    let mut served = Vec::new();
    let first = app
        .post("/v1/chat/completions", &key, &cent_request())
        .await;
    assert_eq!(first.status(), 200);
    served.push(request_id(&first));

    let lock = WriteLock::take(app.database_url().unwrap()).await;
    // Each paid request queues three records (hold, settlement, row): a handful fill the
    // queue down to its reserve, and the next is refused. The writer may still take what is
    // queued into one more batch before that batch blocks too, so fill it twice: after the
    // pause the writer is surely stuck, and the refusals hold.
    let mut refused = until_refused(&app, &key, &mut served).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    refused += until_refused(&app, &key, &mut served).await;
    assert!(
        served.len() >= 3,
        "admitted {} before refusing",
        served.len()
    );
    // Anthropic's clients get their own shape; readiness and metrics say why.
    let messages = app.post("/v1/messages", &key, &cent_request()).await;
    assert_eq!(messages.status(), 503);
    let body: Value = messages.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], "overloaded_error", "{body}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(
        ready["reason"].as_str().unwrap().contains("request log"),
        "{ready}"
    );
    // The depth itself is read from the gateway: the metrics recorder is one per process,
    // shared with the other store's test running beside this one.
    let metrics = app
        .get("/metrics", &app.admin_key)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nswitchyard_log_queue_depth "),
        "{metrics}"
    );
    let depth = app.gateway().log().queued();
    assert!(depth > QUEUE - QUEUE / 4, "depth {depth}");

    lock.release().await;
    // The writer retries (on SQLite after its busy timeout) and drains; admission resumes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app
            .post("/v1/chat/completions", &key, &cent_request())
            .await;
        if response.status() == 200 {
            served.push(request_id(&response));
            break;
        }
        assert_eq!(response.status(), 503);
        refused += 1;
        assert!(
            Instant::now() < deadline,
            "still refusing 30 s after the lock went"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // Every admitted request: its row, its cent, its hold resolved; the ledger balanced.
    settled(&app, user).await;
    for id in &served {
        let row = app.log_row(id).await;
        assert_eq!((row.status, row.cost), (200, Nanos(10_000_000)), "{id}");
    }
    assert_eq!(
        balance(&app.store, user).await,
        Nanos::from_usd(1) - Nanos(10_000_000 * served.len() as i64)
    );
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
    // A refused request's row is kept when there was room, else shed: never more rows.
    let rows = app
        .store
        .list_request_logs(&LogFilter {
            limit: 1_000,
            ..LogFilter::default()
        })
        .await
        .unwrap();
    let refused_rows = rows.iter().filter(|r| r.status == 503).count();
    // `refused` counts the chat requests; one more was `/v1/messages`.
    assert!(refused_rows <= refused + 1, "{refused_rows} rows of 503s");
    assert_eq!(rows.len() - refused_rows, served.len());
}
