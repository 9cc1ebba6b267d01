//! Stripe top-ups and refunds end to end: the real server, a fake Stripe API, and webhook events
//! signed the way Stripe signs them, on both stores. Every test ends with an intact ledger.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::expect_error;
use serde_json::{Value, json};
use switchyard_core::ledger::{AccountId, Transfer, TransferKind};
use switchyard_core::{Nanos, UserId};
use switchyard_store::Backend;
use switchyard_store::payments::PaymentStatus;
use switchyard_testkit::TestApp;
use switchyard_testkit::stripe::{
    self, FakeStripe, WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, WEBHOOK_SECRET_OLD,
    WEBHOOK_SECRET_OLD_ENV,
};

on_both_stores!(
    billing_is_off_without_a_stripe_section,
    checkout_creates_a_session_and_a_pending_payment,
    a_signed_completion_credits_once,
    the_same_event_fifty_times_at_once_credits_once,
    forged_stale_and_altered_events_are_rejected,
    both_secrets_work_during_rotation,
    refunds_credit_only_the_increase_and_may_go_negative,
    a_refund_before_its_completion_settles_the_same,
    a_referees_first_paid_top_up_rewards_the_referrer_once,
);

async fn spawn(backend: Backend, webhook_secret_env: &str) -> (TestApp, FakeStripe) {
    let fake = FakeStripe::spawn().await;
    let app = TestApp::spawn_with(backend, &fake.config(webhook_secret_env)).await;
    (app, fake)
}

/// A new user with a key: (id, key, balance before any payment: sign-up credit, if any).
async fn customer(app: &TestApp, email: &str) -> (UserId, String, Nanos) {
    let (id, key) = app.user_with_key(email, json!({"name": "billing"})).await;
    let id = id.parse().unwrap();
    (id, key, balance(app, id, Nanos::ZERO).await)
}

/// Starts a checkout for `usd`; returns the session id.
async fn checkout(app: &TestApp, key: &str, usd: &str) -> String {
    let response = app
        .post("/api/billing/checkout", key, &json!({"usd": usd}))
        .await;
    assert_eq!(response.status(), 200, "checkout failed");
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Posts `event` to the webhook with a `Stripe-Signature` made by `secret` at `signed_at`.
async fn deliver_signed(
    app: &TestApp,
    event: &Value,
    secret: &str,
    signed_at: i64,
) -> reqwest::Response {
    let payload = serde_json::to_vec(event).unwrap();
    let header = stripe::sign(&payload, secret, signed_at);
    deliver_raw(app, payload, Some(&header)).await
}

async fn deliver_raw(app: &TestApp, payload: Vec<u8>, header: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(payload);
    if let Some(header) = header {
        request = request.header("stripe-signature", header);
    }
    request.send().await.unwrap()
}

/// Delivers a correctly signed event and expects Stripe's 2xx.
async fn deliver(app: &TestApp, event: &Value) -> Value {
    let response = deliver_signed(app, event, WEBHOOK_SECRET, stripe::now_secs()).await;
    assert_eq!(
        response.status(),
        200,
        "webhook refused {event}: {:?}",
        response.text().await
    );
    response.json().await.unwrap()
}

fn completed(event_id: &str, fake: &FakeStripe, session: &str, intent: &str) -> Value {
    stripe::event(
        event_id,
        "checkout.session.completed",
        fake.paid_session(session, intent),
    )
}

fn refunded(event_id: &str, charge: &str, intent: &str, amount: i64, refunded: i64) -> Value {
    stripe::event(
        event_id,
        "charge.refunded",
        stripe::refunded_charge(charge, intent, amount, refunded),
    )
}

/// What `user`'s balance gained since it was `start`.
async fn balance(app: &TestApp, user: UserId, start: Nanos) -> Nanos {
    common::balance(&app.store, user).await - start
}

fn usd(text: &str) -> Nanos {
    Nanos::from_usd_str(text).unwrap()
}

async fn assert_ledger_intact(app: &TestApp) {
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
}

async fn billing_is_off_without_a_stripe_section(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.admin_key.clone();
    let error = expect_error(
        app.post("/api/billing/checkout", &key, &json!({"usd": "10.00"}))
            .await,
        404,
        "not_found",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("[stripe]"),
        "{error}"
    );
    let event = stripe::event("evt_off", "checkout.session.completed", json!({}));
    expect_error(
        deliver_signed(&app, &event, WEBHOOK_SECRET, stripe::now_secs()).await,
        404,
        "not_found",
    )
    .await;
    assert_ledger_intact(&app).await;
}

async fn checkout_creates_a_session_and_a_pending_payment(backend: Backend) {
    let (app, fake) = spawn(backend, WEBHOOK_SECRET_ENV).await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;

    let response = app
        .post("/api/billing/checkout", &key, &json!({"usd": "10.50"}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let session = body["id"].as_str().unwrap();
    assert!(session.starts_with("cs_test_"), "{body}");
    assert_eq!(
        body["url"],
        format!("https://checkout.stripe.com/c/pay/{session}")
    );

    let made = fake.checkouts();
    assert_eq!(made.len(), 1);
    let form = &made[0].form;
    let user_text = user.to_string();
    let payment_id = body["payment_id"].as_str().unwrap();
    for (field, expected) in [
        ("mode", "payment"),
        ("line_items[0][price_data][unit_amount]", "1050"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", user_text.as_str()),
        ("metadata[user_id]", user_text.as_str()),
        ("metadata[payment_id]", payment_id),
        ("success_url", "https://switchyard.test/paid"),
        ("cancel_url", "https://switchyard.test/cancelled"),
    ] {
        assert_eq!(
            form.get(field).map(String::as_str),
            Some(expected),
            "{field}"
        );
    }
    assert_eq!(made[0].idempotency_key.as_deref(), Some(payment_id));

    let payment = app.store.payment_by_ref(session).await.unwrap().unwrap();
    assert_eq!(payment.id, payment_id);
    assert_eq!(payment.user_id, user);
    assert_eq!(payment.status, PaymentStatus::Pending);
    assert_eq!(payment.amount, usd("10.50"));
    assert_eq!(payment.paid_at, None);
    assert_eq!(
        balance(&app, user, user_start).await,
        Nanos::ZERO,
        "no money before payment"
    );

    // Amounts outside the range or finer than a cent, and callers without a key, are refused.
    for bad in [
        json!("0.99"),
        json!("500.01"),
        json!("10.001"),
        json!("ten"),
        json!(null),
    ] {
        let error = expect_error(
            app.post("/api/billing/checkout", &key, &json!({"usd": bad}))
                .await,
            400,
            "invalid_request",
        )
        .await;
        assert_eq!(error["param"], "usd");
    }
    expect_error(
        app.post("/api/billing/checkout", "sy-nope", &json!({"usd": "10"}))
            .await,
        401,
        "invalid_api_key",
    )
    .await;
    assert_eq!(
        fake.checkouts().len(),
        1,
        "refused requests reach no Stripe"
    );
    assert_ledger_intact(&app).await;
}

async fn a_signed_completion_credits_once(backend: Backend) {
    let (app, fake) = spawn(backend, WEBHOOK_SECRET_ENV).await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;
    let session = checkout(&app, &key, "10").await;

    let event = completed("evt_done_1", &fake, &session, "pi_1");
    let answer = deliver(&app, &event).await;
    assert_eq!(answer["handled"], true, "{answer}");
    assert_eq!(balance(&app, user, user_start).await, usd("10"));
    let payment = app.store.payment_by_ref(&session).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::Paid);
    assert_eq!(payment.payment_intent.as_deref(), Some("pi_1"));
    assert!(payment.paid_at.is_some());

    // The same event again, and the same money reported by the other event type.
    let answer = deliver(&app, &event).await;
    assert_eq!(answer["duplicate"], true, "{answer}");
    let async_event = stripe::event(
        "evt_async_1",
        "checkout.session.async_payment_succeeded",
        fake.paid_session(&session, "pi_1"),
    );
    deliver(&app, &async_event).await;
    assert_eq!(
        balance(&app, user, user_start).await,
        usd("10"),
        "credited once"
    );
    let credits = app
        .store
        .account(&AccountId::processor("stripe"))
        .await
        .unwrap();
    assert_eq!(credits.totals.debits_posted, usd("10"));

    // An unpaid completion (an asynchronous method still pending) and unknown types move nothing.
    let other = checkout(&app, &key, "7").await;
    let mut unpaid = fake.paid_session(&other, "pi_2");
    unpaid["payment_status"] = json!("unpaid");
    let answer = deliver(
        &app,
        &stripe::event("evt_unpaid", "checkout.session.completed", unpaid),
    )
    .await;
    assert_eq!(answer["handled"], false);
    let answer = deliver(
        &app,
        &stripe::event("evt_other", "customer.created", json!({"id": "cus_1"})),
    )
    .await;
    assert_eq!(answer["handled"], false);
    assert_eq!(balance(&app, user, user_start).await, usd("10"));
    assert_eq!(
        app.store
            .payment_by_ref(&other)
            .await
            .unwrap()
            .unwrap()
            .status,
        PaymentStatus::Pending
    );
    assert_ledger_intact(&app).await;
}

async fn the_same_event_fifty_times_at_once_credits_once(backend: Backend) {
    let (app, fake) = spawn(backend, WEBHOOK_SECRET_ENV).await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;
    let session = checkout(&app, &key, "25.00").await;
    let event = completed("evt_storm", &fake, &session, "pi_storm");

    let deliveries =
        (0..50).map(|_| deliver_signed(&app, &event, WEBHOOK_SECRET, stripe::now_secs()));
    let responses = futures_util::future::join_all(deliveries).await;
    for response in responses {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(balance(&app, user, user_start).await, usd("25"));
    let top_ups: Vec<_> = app
        .store
        .transfers_of(&AccountId::user(user), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.transfer.kind == TransferKind::TopUp)
        .collect();
    assert_eq!(top_ups.len(), 1, "one top-up transfer");
    assert_ledger_intact(&app).await;
}

async fn forged_stale_and_altered_events_are_rejected(backend: Backend) {
    let (app, fake) = spawn(backend, WEBHOOK_SECRET_ENV).await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;
    let session = checkout(&app, &key, "10").await;
    let event = completed("evt_attack", &fake, &session, "pi_attack");
    let now = stripe::now_secs();

    // Signed with a secret this endpoint does not hold (here: the old one, not configured).
    expect_error(
        deliver_signed(&app, &event, WEBHOOK_SECRET_OLD, now).await,
        401,
        "invalid_signature",
    )
    .await;
    // Signed 301 s ago, and 301 s in the future.
    expect_error(
        deliver_signed(&app, &event, WEBHOOK_SECRET, now - 301).await,
        401,
        "invalid_signature",
    )
    .await;
    expect_error(
        deliver_signed(&app, &event, WEBHOOK_SECRET, now + 301).await,
        401,
        "invalid_signature",
    )
    .await;
    // Changed after signing: a bigger amount, byte-for-byte the same otherwise.
    let payload = serde_json::to_vec(&event).unwrap();
    let header = stripe::sign(&payload, WEBHOOK_SECRET, now);
    let mut altered = event.clone();
    altered["data"]["object"]["amount_total"] = json!(100_000);
    expect_error(
        deliver_raw(&app, serde_json::to_vec(&altered).unwrap(), Some(&header)).await,
        401,
        "invalid_signature",
    )
    .await;
    // Even whitespace counts: the signature is over the raw body.
    let mut spaced = payload.clone();
    spaced.push(b' ');
    expect_error(
        deliver_raw(&app, spaced, Some(&header)).await,
        401,
        "invalid_signature",
    )
    .await;
    // No header, and a header without a timestamp.
    expect_error(
        deliver_raw(&app, payload.clone(), None).await,
        401,
        "invalid_signature",
    )
    .await;
    let no_t = header.split_once(',').unwrap().1.to_owned();
    expect_error(
        deliver_raw(&app, payload.clone(), Some(&no_t)).await,
        400,
        "invalid_request",
    )
    .await;

    assert_eq!(
        balance(&app, user, user_start).await,
        Nanos::ZERO,
        "nothing credited"
    );
    assert_eq!(
        app.store
            .payment_by_ref(&session)
            .await
            .unwrap()
            .unwrap()
            .status,
        PaymentStatus::Pending
    );
    assert!(
        !app.store.webhook_seen("evt_attack").await.unwrap(),
        "a rejected event is not marked as handled"
    );
    // The genuine delivery of the same event still works.
    deliver_raw(&app, payload, Some(&header)).await;
    assert_eq!(balance(&app, user, user_start).await, usd("10"));
    assert_ledger_intact(&app).await;
}

async fn both_secrets_work_during_rotation(backend: Backend) {
    let (app, fake) = spawn(
        backend,
        &format!("{WEBHOOK_SECRET_ENV},{WEBHOOK_SECRET_OLD_ENV}"),
    )
    .await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;
    let first = checkout(&app, &key, "3").await;
    let second = checkout(&app, &key, "4").await;
    let now = stripe::now_secs();

    let response = deliver_signed(
        &app,
        &completed("evt_old", &fake, &first, "pi_old"),
        WEBHOOK_SECRET_OLD,
        now,
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = deliver_signed(
        &app,
        &completed("evt_new", &fake, &second, "pi_new"),
        WEBHOOK_SECRET,
        now,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(balance(&app, user, user_start).await, usd("7"));
    // A third secret is still refused.
    let third = checkout(&app, &key, "5").await;
    expect_error(
        deliver_signed(
            &app,
            &completed("evt_third", &fake, &third, "pi_third"),
            "whsec_someone_else",
            now,
        )
        .await,
        401,
        "invalid_signature",
    )
    .await;
    assert_eq!(balance(&app, user, user_start).await, usd("7"));
    assert_ledger_intact(&app).await;
}

async fn refunds_credit_only_the_increase_and_may_go_negative(backend: Backend) {
    let (app, fake) = spawn(backend, WEBHOOK_SECRET_ENV).await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;
    let session = checkout(&app, &key, "10").await;
    deliver(&app, &completed("evt_paid", &fake, &session, "pi_r")).await;
    assert_eq!(balance(&app, user, user_start).await, usd("10"));

    // A partial refund of $3, then its replay, then the same total reported by another event.
    let partial = refunded("evt_ref_1", "ch_r", "pi_r", 1000, 300);
    deliver(&app, &partial).await;
    deliver(&app, &partial).await;
    deliver(&app, &refunded("evt_ref_1b", "ch_r", "pi_r", 1000, 300)).await;
    assert_eq!(balance(&app, user, user_start).await, usd("7"));
    let payment = app.store.payment_by_ref(&session).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(payment.refunded, usd("3"));

    // The rest, then a late copy of the older report: only increases move money.
    deliver(&app, &refunded("evt_ref_2", "ch_r", "pi_r", 1000, 1000)).await;
    deliver(&app, &refunded("evt_ref_late", "ch_r", "pi_r", 1000, 300)).await;
    assert_eq!(balance(&app, user, user_start).await, Nanos::ZERO);
    let payment = app.store.payment_by_ref(&session).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    assert_eq!(payment.refunded, usd("10"));

    // Money already spent: a full refund takes the balance below zero.
    let (spender, spender_key, spender_start) = customer(&app, "spender@example.com").await;
    let session = checkout(&app, &spender_key, "5").await;
    deliver(&app, &completed("evt_paid_s", &fake, &session, "pi_s")).await;
    let spent = Transfer::posted(
        "test:spent",
        AccountId::user(spender),
        AccountId::revenue(),
        usd("4"),
        TransferKind::Adjustment,
        0,
    );
    app.store.apply_transfers(&[spent]).await.unwrap();
    deliver(&app, &refunded("evt_ref_s", "ch_s", "pi_s", 500, 500)).await;
    assert_eq!(balance(&app, spender, spender_start).await, usd("-4"));
    let stripe_account = app
        .store
        .account(&AccountId::processor("stripe"))
        .await
        .unwrap();
    assert_eq!(
        stripe_account.totals.balance(),
        Nanos::ZERO,
        "all money received went back"
    );

    // Refund reports racing each other settle to the highest total.
    let (racer, racer_key, racer_start) = customer(&app, "racer@example.com").await;
    let session = checkout(&app, &racer_key, "9").await;
    deliver(
        &app,
        &completed("evt_paid_race", &fake, &session, "pi_race"),
    )
    .await;
    let reports: Vec<Value> = (1..=9)
        .map(|i| refunded(&format!("evt_race_{i}"), "ch_race", "pi_race", 900, i * 100))
        .collect();
    futures_util::future::join_all(reports.iter().map(|e| deliver(&app, e))).await;
    assert_eq!(balance(&app, racer, racer_start).await, Nanos::ZERO);
    assert_eq!(
        app.store
            .payment_by_ref(&session)
            .await
            .unwrap()
            .unwrap()
            .refunded,
        usd("9")
    );
    assert_ledger_intact(&app).await;
}

async fn a_refund_before_its_completion_settles_the_same(backend: Backend) {
    let (app, fake) = spawn(backend, WEBHOOK_SECRET_ENV).await;
    let (user, key, user_start) = customer(&app, "payer@example.com").await;
    let session = checkout(&app, &key, "20").await;

    // Stripe delivers the refund first: nothing to take from yet, but it is remembered.
    let answer = deliver(&app, &refunded("evt_early", "ch_e", "pi_e", 2000, 500)).await;
    assert_eq!(answer["handled"], true);
    assert_eq!(balance(&app, user, user_start).await, Nanos::ZERO);
    assert_eq!(
        app.store
            .payment_by_ref(&session)
            .await
            .unwrap()
            .unwrap()
            .status,
        PaymentStatus::Pending
    );

    deliver(&app, &completed("evt_late_paid", &fake, &session, "pi_e")).await;
    assert_eq!(balance(&app, user, user_start).await, usd("15"));
    let payment = app.store.payment_by_ref(&session).await.unwrap().unwrap();
    assert_eq!(payment.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(payment.refunded, usd("5"));

    // The completion again (another event type) and the early refund again change nothing.
    deliver(
        &app,
        &stripe::event(
            "evt_late_async",
            "checkout.session.async_payment_succeeded",
            fake.paid_session(&session, "pi_e"),
        ),
    )
    .await;
    deliver(
        &app,
        &refunded("evt_early_again", "ch_e", "pi_e", 2000, 500),
    )
    .await;
    assert_eq!(balance(&app, user, user_start).await, usd("15"));

    // A full refund and the payment arriving at the same time end at zero, whichever wins.
    let (other, other_key, other_start) = customer(&app, "other@example.com").await;
    let session = checkout(&app, &other_key, "8").await;
    let paid = completed("evt_race_paid", &fake, &session, "pi_both");
    let refund = refunded("evt_race_refund", "ch_both", "pi_both", 800, 800);
    tokio::join!(deliver(&app, &paid), deliver(&app, &refund));
    assert_eq!(balance(&app, other, other_start).await, Nanos::ZERO);
    assert_eq!(
        app.store
            .payment_by_ref(&session)
            .await
            .unwrap()
            .unwrap()
            .status,
        PaymentStatus::Refunded
    );
    assert_ledger_intact(&app).await;
}

async fn a_referees_first_paid_top_up_rewards_the_referrer_once(backend: Backend) {
    let fake = FakeStripe::spawn().await;
    let extra = format!(
        "{}[promotions]\nreferral_percent = 10\n",
        fake.config(WEBHOOK_SECRET_ENV)
    );
    let app = TestApp::spawn_with(backend, &extra).await;
    let (referrer, referrer_key, referrer_start) = customer(&app, "ref@example.com").await;
    let referral = app
        .client
        .get(app.url("/api/billing/referral"))
        .bearer_auth(&referrer_key)
        .send()
        .await
        .unwrap();
    assert_eq!(referral.status(), 200);
    let code = referral.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = app
        .post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "friend@example.com", "referral_code": code}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let friend: Value = created.json().await.unwrap();
    let friend_id: UserId = friend["id"].as_str().unwrap().parse().unwrap();
    let friend_key = app.create_key(json!({"user_id": friend_id})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let friend_start = balance(&app, friend_id, Nanos::ZERO).await;

    let first = checkout(&app, &friend_key, "20").await;
    let paid = completed("evt_ref_paid", &fake, &first, "pi_ref_1");
    deliver(&app, &paid).await;
    // A redelivery under another event id (the dedup table does not catch it) and a second,
    // larger top-up: neither rewards again.
    let mut again = paid.clone();
    again["id"] = json!("evt_ref_paid_again");
    deliver(&app, &again).await;
    let second = checkout(&app, &friend_key, "100").await;
    deliver(
        &app,
        &completed("evt_ref_paid_2", &fake, &second, "pi_ref_2"),
    )
    .await;

    assert_eq!(balance(&app, friend_id, friend_start).await, usd("120"));
    assert_eq!(
        balance(&app, referrer, referrer_start).await,
        usd("2"),
        "10% of the first top-up, once"
    );
    assert_ledger_intact(&app).await;
}
