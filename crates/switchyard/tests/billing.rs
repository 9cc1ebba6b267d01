//! Money that does not come from inference: redemption codes, operator credit, overdrafts,
//! new-user credit and referrals, through the management API and the real binary's verbs, on
//! both stores. Every test ends with a sound ledger.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::expect_error;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use switchyard_core::ledger::{AccountId, Transfer, TransferKind};
use switchyard_core::{Nanos, UserId};
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, Redemption, Store, after_paid_top_up};
use switchyard_testkit::TestApp;

on_both_stores!(
    twenty_concurrent_redemptions_of_one_code_credit_once,
    used_unknown_and_malformed_codes_are_refused_clearly,
    credit_with_a_reason_shows_in_the_ledger_history,
    non_admins_cannot_create_codes_credit_or_read_revenue,
    new_user_credit_is_granted_once_per_email_in_any_case,
    referral_rewards_only_the_first_paid_top_up_once,
    cli_credits_prints_balances_and_makes_codes,
);

/// Creates a user (with `extra` fields, e.g. a referral code) and a key, and credits nothing,
/// unlike `TestApp::user_with_key`: these tests count every nano-USD.
async fn user_with_key(app: &TestApp, email: &str, extra: Value) -> (String, String) {
    let mut body = json!({"email": email});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let user = ok_json(app.post("/api/users", &app.admin_key, &body).await, 201).await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let key = app.create_key(json!({"user_id": user_id})).await;
    (user_id, key["key"].as_str().unwrap().to_owned())
}

async fn ok_json(response: reqwest::Response, status: u16) -> Value {
    let code = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, status, "{body}");
    body
}

async fn balance_usd(app: &TestApp, key: &str) -> String {
    let body = ok_json(app.get("/api/billing/balance", key).await, 200).await;
    body["balance"]["usd"].as_str().unwrap().to_owned()
}

async fn make_codes(app: &TestApp, count: u32, usd: &str) -> Vec<String> {
    let body = ok_json(
        app.post(
            "/api/admin/codes",
            &app.admin_key,
            &json!({"count": count, "usd": usd, "expires_days": 30}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        body["value"]["nanos"].as_i64(),
        Some(Nanos::from_usd_str(usd).unwrap().0)
    );
    body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

async fn finish(app: TestApp) {
    let store = app.shutdown().await;
    assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
}

async fn twenty_concurrent_redemptions_of_one_code_credit_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let code = make_codes(&app, 1, "7.25").await.remove(0);
    let mut keys = Vec::new();
    for i in 0..5 {
        let (_, key) = user_with_key(&app, &format!("racer{i}@example.com"), json!({})).await;
        keys.push(key);
    }
    let requests = (0..20).map(|i| {
        let (client, url, key) = (
            app.client.clone(),
            app.url("/api/billing/redeem"),
            keys[i % keys.len()].clone(),
        );
        let code = code.clone();
        async move {
            client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap()
        }
    });
    let handles: Vec<_> = requests.map(tokio::spawn).collect();
    let mut credited = 0;
    for handle in handles {
        let response = handle.await.unwrap();
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["credited"]["usd"], "7.25");
            credited += 1;
        } else {
            expect_error(response, 404, "resource_not_found").await;
        }
    }
    assert_eq!(credited, 1);
    let mut total = Nanos::ZERO;
    for key in &keys {
        total += Nanos::from_usd_str(&balance_usd(&app, key).await).unwrap();
    }
    assert_eq!(total, Nanos::from_usd_str("7.25").unwrap());
    finish(app).await;
}

async fn used_unknown_and_malformed_codes_are_refused_clearly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, key) = user_with_key(&app, "ann@example.com", json!({})).await;
    let code = make_codes(&app, 1, "3").await.remove(0);
    let redeem = |code: String| {
        let key = key.clone();
        let app = &app;
        async move {
            app.post("/api/billing/redeem", &key, &json!({"code": code}))
                .await
        }
    };
    // Written sloppily, the code still redeems.
    let body = ok_json(redeem(code.to_lowercase().replace('-', " ")).await, 200).await;
    assert_eq!(body["credited"]["usd"], "3.00");
    assert_eq!(body["balance"]["usd"], "3.00");
    let used = expect_error(redeem(code.clone()).await, 404, "resource_not_found").await;
    assert!(
        used["message"]
            .as_str()
            .unwrap()
            .contains("already redeemed"),
        "{used}"
    );
    let unknown = expect_error(
        redeem("SYC-0000-0000-0000-0000".into()).await,
        404,
        "resource_not_found",
    )
    .await;
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("no such redemption code"),
        "{unknown}"
    );
    expect_error(redeem("free money".into()).await, 404, "resource_not_found").await;
    expect_error(
        app.post("/api/billing/redeem", &key, &json!({"coupon": code}))
            .await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(balance_usd(&app, &key).await, "3.00");
    let history = ok_json(app.get("/api/billing/ledger", &key).await, 200).await;
    assert_eq!(history["data"].as_array().unwrap().len(), 1);
    assert_eq!(history["data"][0]["kind"], "redemption");
    assert_eq!(history["data"][0]["counterparty"], "codes");
    // The codes are stored only as keyed hashes.
    let dump = app.store.dump_text().await.unwrap();
    assert!(!dump.contains(&code[4..]));
    finish(app).await;
}

async fn credit_with_a_reason_shows_in_the_ledger_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user_id, key) = user_with_key(&app, "bob@example.com", json!({})).await;
    let credit = |body: Value| {
        let app = &app;
        let path = format!("/api/admin/users/{user_id}/credit");
        async move { app.post(&path, &app.admin_key, &body).await }
    };
    let missing = expect_error(
        credit(json!({"usd": "5", "reason": "  "})).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(missing["message"].as_str().unwrap().contains("reason"));
    expect_error(
        credit(json!({"usd": "5.0000000001", "reason": "x"})).await,
        400,
        "invalid_request",
    )
    .await;
    let body = ok_json(
        credit(
            json!({"usd": "12.5", "reason": "goodwill for ticket 42", "idempotency_key": "t42"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["balance"]["usd"], "12.50");
    assert_eq!(body["duplicate"], false);
    // A retry with the same idempotency key changes nothing.
    let again = ok_json(
        credit(
            json!({"usd": "12.5", "reason": "goodwill for ticket 42", "idempotency_key": "t42"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["balance"]["nanos"], 12_500_000_000_i64);
    ok_json(
        credit(json!({"usd": "-2.5", "reason": "duplicate refund"})).await,
        200,
    )
    .await;
    let overdraft = app
        .client
        .put(app.url(&format!("/api/admin/users/{user_id}/overdraft")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"usd": "1.5"}))
        .send()
        .await
        .unwrap();
    let overdraft = ok_json(overdraft, 200).await;
    assert_eq!(overdraft["overdraft"]["usd"], "1.50");
    expect_error(
        app.post(
            "/api/admin/users/00000000-0000-0000-0000-000000000000/credit",
            &app.admin_key,
            &json!({"usd": "1", "reason": "nobody"}),
        )
        .await,
        404,
        "resource_not_found",
    )
    .await;

    let balance = ok_json(app.get("/api/billing/balance", &key).await, 200).await;
    assert_eq!(balance["balance"]["usd"], "10.00");
    assert_eq!(balance["available"]["usd"], "10.00");
    assert_eq!(balance["holds"]["nanos"], 0);
    assert_eq!(balance["overdraft"]["usd"], "1.50");
    let holds = ok_json(app.get("/api/billing/holds", &key).await, 200).await;
    assert_eq!(holds["data"], json!([]));
    // Newest first, one per page.
    let page = ok_json(app.get("/api/billing/ledger?limit=1", &key).await, 200).await;
    assert_eq!(page["data"][0]["memo"], "duplicate refund");
    assert_eq!(page["data"][0]["amount"]["usd"], "-2.50");
    assert_eq!(page["data"][0]["kind"], "adjustment");
    let before = page["next_before"].as_i64().unwrap();
    let page = ok_json(
        app.get(
            &format!("/api/billing/ledger?limit=1&before={before}"),
            &key,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["data"][0]["memo"], "goodwill for ticket 42");
    assert_eq!(page["data"][0]["amount"]["usd"], "12.50");
    assert_eq!(page["data"][0]["counterparty"], "adjustments");
    let last = page["next_before"].as_i64().unwrap();
    let page = ok_json(
        app.get(&format!("/api/billing/ledger?before={last}"), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(page["data"], json!([]));
    assert_eq!(page["next_before"], Value::Null);
    finish(app).await;
}

async fn non_admins_cannot_create_codes_credit_or_read_revenue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user_id, key) = user_with_key(&app, "eve@example.com", json!({})).await;
    expect_error(
        app.post("/api/admin/codes", &key, &json!({"count": 1, "usd": "100"}))
            .await,
        403,
        "admin_required",
    )
    .await;
    expect_error(
        app.post(
            &format!("/api/admin/users/{user_id}/credit"),
            &key,
            &json!({"usd": "100", "reason": "because"}),
        )
        .await,
        403,
        "admin_required",
    )
    .await;
    let overdraft = app
        .client
        .put(app.url(&format!("/api/admin/users/{user_id}/overdraft")))
        .bearer_auth(&key)
        .json(&json!({"usd": "100"}))
        .send()
        .await
        .unwrap();
    expect_error(overdraft, 403, "admin_required").await;
    expect_error(
        app.get("/api/admin/revenue", &key).await,
        403,
        "admin_required",
    )
    .await;
    expect_error(
        app.get("/api/billing/balance", "sk-sy-nope").await,
        401,
        "invalid_api_key",
    )
    .await;
    assert_eq!(balance_usd(&app, &key).await, "0.00");
    // The admin may read revenue: the request log grouped by model and UTC day.
    let revenue = ok_json(
        app.get(
            "/api/admin/revenue?from=2026-01-01&to=2026-01-31",
            &app.admin_key,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (revenue["from"].as_str(), revenue["to"].as_str()),
        (Some("2026-01-01"), Some("2026-01-31"))
    );
    assert_eq!(revenue["data"], json!([]));
    expect_error(
        app.get("/api/admin/revenue?from=2026-02-30", &app.admin_key)
            .await,
        400,
        "invalid_request",
    )
    .await;
    finish(app).await;
}

async fn new_user_credit_is_granted_once_per_email_in_any_case(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[promotions]\nnew_user_credit_usd = \"2.50\"\nreferral_percent = 10\n",
    )
    .await;
    let (_, key) = user_with_key(&app, "Carol@Example.com", json!({})).await;
    assert_eq!(balance_usd(&app, &key).await, "2.50");
    let history = ok_json(app.get("/api/billing/ledger", &key).await, 200).await;
    assert_eq!(history["data"][0]["kind"], "promotion");
    assert!(
        history["data"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("promo:new-user:")
    );
    // The same address in another case is the same user: refused, and no second credit.
    expect_error(
        app.post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "CAROL@example.com"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    // A plus-tagged alias is a new account but not a new person: no credit.
    let (_, alias_key) = user_with_key(&app, "carol+again@EXAMPLE.com", json!({})).await;
    assert_eq!(balance_usd(&app, &alias_key).await, "0.00");
    let (_, dave_key) = user_with_key(&app, "dave@example.com", json!({})).await;
    assert_eq!(balance_usd(&app, &dave_key).await, "2.50");
    let promotions = app
        .store
        .account(&AccountId::promotions())
        .await
        .unwrap()
        .totals;
    assert_eq!(promotions.debits_posted - promotions.credits_posted, {
        // Two new users, plus whatever the bootstrap admin was welcomed with.
        let admin = app
            .store
            .transfers_of(&AccountId::user(app.admin_id), None, 10)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.transfer.debit == AccountId::promotions())
            .fold(Nanos::ZERO, |sum, e| sum + e.transfer.amount);
        Nanos::from_usd(5) + admin
    });
    let dump = app.store.dump_text().await.unwrap().to_lowercase();
    for line in dump.lines().filter(|l| !l.starts_with("users:")) {
        assert!(!line.contains("carol"), "an email outside `users`: {line}");
    }
    finish(app).await;
}

async fn referral_rewards_only_the_first_paid_top_up_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, "[promotions]\nreferral_percent = 10\n").await;
    let (_, referrer_key) = user_with_key(&app, "ref@example.com", json!({})).await;
    let referral = ok_json(app.get("/api/billing/referral", &referrer_key).await, 200).await;
    assert_eq!(referral["referral_percent"], 10);
    let code = referral["code"].as_str().unwrap().to_owned();
    let again = ok_json(app.get("/api/billing/referral", &referrer_key).await, 200).await;
    assert_eq!(again["code"], code.as_str());
    // An unknown code is refused before any account exists.
    expect_error(
        app.post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "friend@example.com", "referral_code": "REF-NOTACODE"}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        app.store
            .user_by_email("friend@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let friend = ok_json(
        app.post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "friend@example.com", "referral_code": code}),
        )
        .await,
        201,
    )
    .await;
    let friend: UserId = friend["id"].as_str().unwrap().parse().unwrap();
    // What the Stripe webhook does for each paid top-up: credit, then reward the referrer.
    let paid = |payment: &'static str, usd: i64| {
        let store = app.store.clone();
        async move {
            let top_up = Transfer::posted(
                format!("topup:{payment}"),
                AccountId::processor("stripe"),
                AccountId::user(friend),
                Nanos::from_usd(usd),
                TransferKind::TopUp,
                1,
            );
            store.apply_transfers(&[top_up]).await.unwrap();
            after_paid_top_up(&store, friend, Nanos::from_usd(usd), payment, 10)
                .await
                .unwrap();
        }
    };
    paid("pay_1", 20).await;
    paid("pay_1", 20).await; // a retried webhook
    paid("pay_2", 100).await;
    assert_eq!(balance_usd(&app, &referrer_key).await, "2.00");
    let history = ok_json(app.get("/api/billing/ledger", &referrer_key).await, 200).await;
    assert_eq!(history["data"].as_array().unwrap().len(), 1);
    assert_eq!(history["data"][0]["kind"], "referral");
    assert_eq!(history["data"][0]["reference"], "pay_1");
    finish(app).await;
}

const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

/// Runs a CLI verb against `db` with a known server secret; returns (success, stdout, stderr).
fn cli(db: &TestDb, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", &db.url)
        .env("SWITCHYARD_DATA_DIR", dir)
        .env("SWITCHYARD_SECRET_KEY", SECRET)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn cli_ok(db: &TestDb, dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let (ok, stdout, stderr) = cli(db, dir, env, args);
    assert!(ok, "switchyard {args:?} failed: {stderr}");
    stdout
}

async fn cli_credits_prints_balances_and_makes_codes(backend: Backend) {
    let db = TestDb::create(backend).await;
    let dir = std::env::temp_dir().join(format!("switchyard-billing-cli-{}", UserId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let promo = [("SWITCHYARD_PROMOTIONS_NEW_USER_CREDIT_USD", "1.25")];
    let id = cli_ok(
        &db,
        &dir,
        &promo,
        &["user", "create", "--email", "Ops@Example.com"],
    );
    let user: UserId = id.trim().parse().unwrap();
    let balance =
        |env: &[(&str, &str)]| cli_ok(&db, &dir, env, &["balance", "--user", "ops@example.com"]);
    assert_eq!(balance(&[]), "1.25\n");
    let transfer = cli_ok(
        &db,
        &dir,
        &[],
        &[
            "credit",
            "--user",
            "ops@example.com",
            "--usd",
            "12.345",
            "--reason",
            "ticket 7",
        ],
    );
    assert!(transfer.trim().starts_with("adjust:"), "{transfer}");
    cli_ok(
        &db,
        &dir,
        &[],
        &["credit", "--user", "ops@example.com", "--usd", "-3.595"],
    );
    assert_eq!(balance(&[]), "10.00\n");
    let (ok, stdout, stderr) = cli(
        &db,
        &dir,
        &[],
        &["credit", "--user", "nobody@example.com", "--usd", "1"],
    );
    assert!(!ok && stdout.is_empty() && stderr.contains("no user with email"));
    let (ok, _, stderr) = cli(
        &db,
        &dir,
        &[],
        &["credit", "--user", "ops@example.com", "--usd", "1.5x"],
    );
    assert!(!ok && stderr.contains("1.5x"), "{stderr}");
    let (ok, _, stderr) = cli(
        &db,
        &dir,
        &[],
        &[
            "user",
            "create",
            "--email",
            "x@example.com",
            "--referral",
            "REF-BOGUS",
        ],
    );
    assert!(!ok && stderr.contains("not a referral code"), "{stderr}");

    let codes = cli_ok(
        &db,
        &dir,
        &[],
        &[
            "codes",
            "create",
            "--count",
            "3",
            "--usd",
            "1.5",
            "--expires-days",
            "1",
        ],
    );
    let codes: Vec<&str> = codes.lines().collect();
    assert_eq!(codes.len(), 3);
    for code in &codes {
        assert_eq!(
            switchyard_store::canonical_code(code).as_deref(),
            Some(*code)
        );
    }
    // The CLI's codes redeem under the same server secret, once, and expire on time.
    let store: Store = db.store().await;
    let now = switchyard_gateway::pipeline_now_millis();
    let key = SECRET.as_bytes();
    assert_eq!(
        store.redeem_code(key, codes[0], user, now).await.unwrap(),
        Redemption::Credited {
            value: Nanos::from_usd_str("1.5").unwrap()
        }
    );
    assert_eq!(
        store.redeem_code(key, codes[0], user, now).await.unwrap(),
        Redemption::AlreadyRedeemed
    );
    assert_eq!(
        store
            .redeem_code(key, codes[1], user, now + 2 * 86_400_000)
            .await
            .unwrap(),
        Redemption::Expired
    );
    assert_eq!(balance(&[]), "11.50\n");
    let history = store
        .transfers_of(&AccountId::user(user), None, 10)
        .await
        .unwrap();
    let memos: Vec<Option<&str>> = history.iter().map(|e| e.transfer.memo.as_deref()).collect();
    assert_eq!(
        memos,
        [
            None,
            Some("operator adjustment (CLI)"),
            Some("ticket 7"),
            Some("new-user credit")
        ]
    );
    assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
