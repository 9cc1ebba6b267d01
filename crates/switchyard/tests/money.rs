//! Money on the real server, both stores: prepaid holds and settlements (M1), every way a
//! request can end resolving its hold once (M3), 402s, and the sweeper.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    balance, cent_request, chat, chat_stream, expect_error, request_id, resolved_once, settled,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use switchyard_core::ledger::{AccountId, Transfer};
use switchyard_core::{Nanos, RequestId, UserId};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    m1_concurrent_requests_never_overspend,
    a_request_that_does_not_fit_gets_402_and_one_that_fits_passes,
    every_ending_resolves_its_hold_once,
    orphaned_holds_are_voided_by_the_sweeper,
    postpaid_charges_without_refusing,
    the_hold_includes_the_callers_markup,
);

const PRICED: &str = common::CENT_MODEL;

/// M1: $1.00, requests of $0.01 that reserve $0.05, 10,000 of them at concurrency 500.
async fn m1_concurrent_requests_never_overspend(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICED).await;
    let (user, key) = app.funded_user("m1@example.com", "1.00").await;
    let budget = app.gateway().money().budget(user);
    // Sample the balance in the store and the budget in memory while the load runs.
    let running = Arc::new(AtomicBool::new(true));
    let lowest = Arc::new(AtomicI64::new(i64::MAX));
    let sampler = {
        let (store, running, lowest, budget) = (
            app.store.clone(),
            running.clone(),
            lowest.clone(),
            budget.clone(),
        );
        tokio::spawn(async move {
            while running.load(Ordering::Acquire) {
                let stored = balance(&store, user).await;
                lowest.fetch_min(stored.0.min(budget.available().0), Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let total = std::env::var("SWITCHYARD_M1_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000usize);
    let statuses: Vec<(u16, Value)> = futures_util::stream::iter(0..total)
        .map(|_| {
            let (app, key) = (&app, &key);
            async move {
                let response = app.post("/v1/chat/completions", key, &cent_request()).await;
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        })
        .buffer_unordered(500)
        .collect()
        .await;
    settled(&app, user).await;
    running.store(false, Ordering::Release);
    sampler.await.unwrap();

    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let refused = statuses.iter().filter(|(s, _)| *s == 402).count();
    assert_eq!(
        ok + refused,
        total,
        "only 200 and 402: {:?}",
        statuses.iter().find(|(s, _)| *s != 200 && *s != 402)
    );
    for (_, body) in statuses.iter().filter(|(s, _)| *s == 402) {
        assert_eq!(body["error"]["type"], "insufficient_quota");
    }
    let spent = Nanos::from_usd(1) - balance(&app.store, user).await;
    assert_eq!(
        spent,
        Nanos(ok as i64 * 10_000_000),
        "each success charged exactly $0.01"
    );
    assert!(spent <= Nanos::from_usd(1), "settled {spent} > $1.00");
    // Requests stop fitting only when less than one hold ($0.05) is left.
    assert!(
        spent >= Nanos(960_000_000),
        "refused while $0.05 was still available: spent {spent}"
    );
    assert!(
        lowest.load(Ordering::Acquire) >= 0,
        "the balance went below zero"
    );
    assert_eq!(
        budget.available(),
        Nanos::from_usd(1) - spent,
        "memory agrees with the ledger"
    );
    // The sweep finds nothing: every hold was resolved by its request.
    let far = switchyard_gateway::pipeline_now_millis() + 24 * 3_600_000;
    assert!(
        app.store
            .expire_holds(far, 10_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
    eprintln!(
        "M1 ({backend:?}): {total} requests, {ok} served, {refused} refused with 402, settled {spent} of $1.00, lowest sampled {}",
        lowest.load(Ordering::Acquire)
    );
    app.shutdown().await;
}

async fn a_request_that_does_not_fit_gets_402_and_one_that_fits_passes(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICED).await;
    let (user, key) = app.funded_user("fit@example.com", "0.03").await;
    // max_tokens 20 reserves $0.05 > $0.03.
    let response = app
        .post("/v1/chat/completions", &key, &cent_request())
        .await;
    let error = expect_error(response, 402, "insufficient_quota").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("$0.03") && message.contains("$0.05"),
        "{message}"
    );
    // max_tokens 4 reserves $0.01: it fits.
    let mut small = cent_request();
    small["max_tokens"] = json!(4);
    let response = app.post("/v1/chat/completions", &key, &small).await;
    assert_eq!(response.status(), 200);
    settled(&app, user).await;
    assert_eq!(balance(&app.store, user).await, Nanos(20_000_000));
    // A zero balance refuses; a credit lets requests through again.
    let (broke, broke_key) = app.funded_user("broke@example.com", "0").await;
    let response = app.post("/v1/chat/completions", &broke_key, &small).await;
    expect_error(response, 402, "insufficient_quota").await;
    app.credit(broke, "1").await;
    let response = app.post("/v1/chat/completions", &broke_key, &small).await;
    assert_eq!(response.status(), 200);
    app.shutdown().await;
}

/// M3 on the OpenAI dialect: complete, client gone after 0 and after some chunks, upstream
/// without usage, upstream failing before and after the head. Each resolves once; output that
/// reached the client is charged; nothing is charged without output.
async fn every_ending_resolves_its_hold_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, key) = app.user_with_key("m3@example.com", json!({})).await;
    let user: UserId = user.parse().unwrap();
    let mut cases: Vec<(&str, String, bool)> = Vec::new();

    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            &chat_stream("mock-chat", "tell me a story"),
        )
        .await;
    let id = request_id(&response);
    response.text().await.unwrap();
    cases.push(("complete stream", id, true));

    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            &chat("fault-no-usage", "count me"),
        )
        .await;
    let id = request_id(&response);
    response.text().await.unwrap();
    cases.push(("no usage from upstream", id, true));

    let response = app
        .post("/v1/chat/completions", &key, &chat("fault-500", "fail"))
        .await;
    cases.push(("upstream 500", request_id(&response), false));

    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            &chat_stream("fault-stream-error", "fail later"),
        )
        .await;
    let id = request_id(&response);
    response.text().await.unwrap();
    cases.push(("upstream error after the head", id, true));

    for chunks in [0usize, 1, 5] {
        let response = app
            .post(
                "/v1/chat/completions",
                &key,
                &chat_stream("fault-slow-stream", "a long story please"),
            )
            .await;
        let id = request_id(&response);
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        while seen.matches("\"content\"").count() < chunks {
            let Some(Ok(chunk)) = body.next().await else {
                break;
            };
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        drop(body);
        cases.push(("client gone", id, chunks > 0));
    }

    for (name, id, delivered) in cases {
        resolved_once(&app, user, name, &id, delivered).await;
    }
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
    app.shutdown().await;
}

/// A crashed replica leaves holds behind; the sweeper voids them once their TTL passes and
/// the balance comes back.
async fn orphaned_holds_are_voided_by_the_sweeper(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[billing]\nwelcome_credit_usd = 1\nrefresh_ms = 50\nsweep_interval_ms = 100\nhold_ttl_ms = 6000\n").await;
    let (user, _key) = app.funded_user("orphan@example.com", "1").await;
    let now = switchyard_gateway::pipeline_now_millis();
    let orphan = Transfer::hold(
        RequestId::new(),
        user,
        Nanos::from_usd(1),
        now - 10_000,
        6_000,
    );
    app.store.apply_transfers(&[orphan]).await.unwrap();
    let budget = app.gateway().money().budget(user);
    for _ in 0..250 {
        let open = app
            .store
            .open_holds(Some(&AccountId::user(user)), None, 10)
            .await
            .unwrap();
        if open.is_empty() && budget.available() == Nanos::from_usd(1) {
            assert_eq!(balance(&app.store, user).await, Nanos::from_usd(1));
            assert_eq!(
                app.store.verify_ledger().await.unwrap(),
                Vec::<String>::new()
            );
            app.shutdown().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the orphaned hold was not voided within 5 s");
}

async fn postpaid_charges_without_refusing(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &format!("{PRICED}\n[billing]\nprepaid = false\nrefresh_ms = 50\n"),
    )
    .await;
    let (user, key) = app.funded_user("postpaid@example.com", "0").await;
    let response = app
        .post("/v1/chat/completions", &key, &cent_request())
        .await;
    assert_eq!(response.status(), 200);
    settled(&app, user).await;
    assert_eq!(balance(&app.store, user).await, Nanos(-10_000_000));
    app.shutdown().await;
}

/// A user in a +100 % group: the worst case doubles, so $0.06 no longer covers a request that
/// reserves $0.05 at provider prices; $0.10 does, and the charge is $0.02.
async fn the_hold_includes_the_callers_markup(backend: Backend) {
    let config =
        format!("{PRICED}\n[pricing]\n[[pricing.groups]]\nname = \"double\"\nmarkup_bps = 10000\n");
    let app = TestApp::spawn_with(backend, &config).await;
    let response = app
        .post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "double@example.com", "group": "double"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let user: UserId = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let key = app.create_key(json!({"user_id": user.to_string()})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.credit(user, "0.06").await;
    let response = app
        .post("/v1/chat/completions", &key, &cent_request())
        .await;
    let error = expect_error(response, 402, "insufficient_quota").await;
    assert!(
        error["message"].as_str().unwrap().contains("$0.10"),
        "{error}"
    );
    app.credit(user, "0.04").await;
    let response = app
        .post("/v1/chat/completions", &key, &cent_request())
        .await;
    assert_eq!(response.status(), 200);
    settled(&app, user).await;
    assert_eq!(balance(&app.store, user).await, Nanos(80_000_000));
    app.shutdown().await;
}
