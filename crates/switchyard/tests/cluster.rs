//! Cluster mode: two replicas on one PostgreSQL database and one Redis. A user's requests
//! spread over both cannot overspend together (M1 across replicas), because every reservation
//! is also checked against what the other replica reserved lately (`SharedReservations`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{balance, cent_request, request_id, settled};
use futures_util::StreamExt;
use switchyard_core::Nanos;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

/// The cent model (a request costs $0.01 and, with `max_tokens` 20, reserves $0.05), Redis,
/// and a grace just above a flush plus a refresh, so the test's load outlives many graces.
fn cluster_config() -> String {
    format!(
        "redis_url = \"redis://127.0.0.1:6379/0\"\n\
         [billing]\nwelcome_credit_usd = 100\nrefresh_ms = 50\ncluster_grace_ms = 500\nhold_write_delay_ms = 100\n{}",
        common::CENT_MODEL
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_overspend_one_balance() {
    let config = cluster_config();
    let a = TestApp::spawn_with(Backend::Postgres, &config).await;
    let b = a.spawn_replica(&config).await;
    let (user, key) = a.funded_user("cluster@example.com", "1.00").await;
    // Both replicas know the key and the balance before the load starts.
    for replica in [&a, &b] {
        for _ in 0..200 {
            let known = replica.gateway().authenticate(Some(&key)).is_ok();
            if known && replica.gateway().money().budget(user).available() == Nanos::from_usd(1) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            replica.gateway().money().budget(user).available(),
            Nanos::from_usd(1)
        );
    }

    let body = cent_request();
    let total = 2_000usize;
    let statuses: Vec<(u16, String)> = futures_util::stream::iter(0..total)
        .map(|i| {
            let (replica, key, body) = (if i % 2 == 0 { &a } else { &b }, &key, &body);
            async move {
                let response = replica.post("/v1/chat/completions", key, body).await;
                let status = response.status().as_u16();
                let id = request_id(&response);
                response.text().await.unwrap();
                (status, id)
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    settled(&a, user).await;
    settled(&b, user).await;

    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let refused = statuses.iter().filter(|(s, _)| *s == 402).count();
    assert_eq!(ok + refused, total, "only 200 and 402");
    let spent = Nanos::from_usd(1) - balance(&a.store, user).await;
    assert_eq!(
        spent,
        Nanos(ok as i64 * 10_000_000),
        "each success charged exactly $0.01"
    );
    assert!(
        spent <= Nanos::from_usd(1),
        "settled {spent} > $1.00 across two replicas"
    );
    assert!(
        ok >= 20,
        "at least the balance's worth of concurrent holds fit: {ok}"
    );
    assert_eq!(a.store.verify_ledger().await.unwrap(), Vec::<String>::new());
    println!("cluster M1: {ok} served, {refused} refused, {spent} settled of $1.00");
    b.shutdown().await;
    a.shutdown().await;
}

/// A TCP relay to Redis that the test can cut, standing in for a Redis outage.
async fn cuttable_redis() -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cut, mut watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut open = Vec::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((mut client, _)) = accepted else { break };
                    open.push(tokio::spawn(async move {
                        if let Ok(mut redis) = tokio::net::TcpStream::connect("127.0.0.1:6379").await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut redis).await;
                        }
                    }));
                }
                _ = watch.changed() => break,
            }
        }
        // The outage: every relayed connection dies and no new one is accepted.
        for connection in open {
            connection.abort();
        }
    });
    (format!("redis://{addr}/0"), cut)
}

/// Redis gone while serving: paid requests fail closed with 503 instead of falling back to
/// budgets that cannot see the other replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_refuses_paid_requests() {
    let (url, cut) = cuttable_redis().await;
    let config = format!(
        "redis_url = \"{url}\"\n[billing]\nwelcome_credit_usd = 100\nrefresh_ms = 50\ncluster_grace_ms = 500\nhold_write_delay_ms = 100\n{}",
        common::CENT_MODEL
    );
    let app = TestApp::spawn_with(Backend::Postgres, &config).await;
    let body = cent_request();
    let served = app
        .post("/v1/chat/completions", &app.admin_key, &body)
        .await;
    assert_eq!(served.status(), 200, "{}", served.text().await.unwrap());
    let budget = app.gateway().money().budget(app.admin_id);
    let before = budget.available();
    cut.send(true).unwrap();
    let refused = app
        .post("/v1/chat/completions", &app.admin_key, &body)
        .await;
    let id = request_id(&refused);
    common::expect_error(refused, 503, "unavailable").await;
    assert_eq!(
        budget.available(),
        before,
        "the refused request's reservation was given back"
    );
    app.gateway().flushed().await;
    assert_eq!(
        app.log_row(&id).await.cost,
        Nanos::ZERO,
        "nothing held or charged"
    );
    settled(&app, app.admin_id).await;
}
