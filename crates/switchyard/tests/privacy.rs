//! The privacy API over HTTP on both stores (docs/privacy.md): deleting an account needs a
//! browser session and the password, stops sign-in and keys at once, can be cancelled within
//! the grace window, and after it leaves no email, name or client IP in any table (nor in
//! Redis, in cluster mode); an account may shorten its own windows, never lengthen them;
//! operators place legal holds and read the audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::session::{
    PASSWORD, browser, delete_account, key_of, post_json, request, signin, signup,
};
use common::{chat, expect_error};
use serde_json::{Value, json};
use switchyard_core::retention::{DAY_MS, Windows};
use switchyard_gateway::pipeline_now_millis;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    deleting_needs_a_session_and_the_password,
    a_deleted_account_stops_at_once_and_can_be_restored,
    after_the_grace_nothing_personal_remains,
    an_account_may_only_shorten_its_windows,
    holds_and_the_audit_log_are_for_operators,
    the_server_purges_on_its_own,
);

async fn deleting_needs_a_session_and_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "careful@example.com").await;
    let key = key_of(&app, &b).await;
    // A key alone cannot delete the account it belongs to.
    let by_key = app
        .client
        .delete(app.url("/api/account"))
        .bearer_auth(&key)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(by_key, 403, "reauthentication_required").await;
    expect_error(
        delete_account(&app, &b, json!({})).await,
        403,
        "reauthentication_required",
    )
    .await;
    expect_error(
        delete_account(&app, &b, json!({"password": "wrong"})).await,
        403,
        "reauthentication_required",
    )
    .await;
    // Without the CSRF token a session's DELETE is refused like any other write.
    let forged = app
        .client
        .delete(app.url("/api/account"))
        .header("cookie", &b.cookie)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    expect_error(forged, 403, "csrf_failed").await;
    let me = request(&app, &b, reqwest::Method::GET, "/api/auth/me")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "nothing was deleted");
}

async fn a_deleted_account_stops_at_once_and_can_be_restored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "leaving@example.com").await;
    let key = key_of(&app, &b).await;
    app.credit(b.user, "1.00").await;
    app.refresh_balances().await;
    let served = app
        .post("/v1/chat/completions", &key, &chat("demo-chat", "hello"))
        .await;
    assert_eq!(served.status(), 200);

    let response = delete_account(&app, &b, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), 200);
    let cleared = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["purge_after"].as_i64().unwrap() - body["requested_at"].as_i64().unwrap(),
        30 * 86_400
    );
    // At once: the key, the session and sign-in.
    let refused = app
        .post("/v1/chat/completions", &key, &chat("demo-chat", "hello"))
        .await;
    assert_eq!(refused.status(), 401);
    let me = request(&app, &b, reqwest::Method::GET, "/api/auth/me")
        .send()
        .await
        .unwrap();
    expect_error(me, 401, "invalid_session").await;
    expect_error(
        signin(&app, "leaving@example.com").await,
        403,
        "account_pending_deletion",
    )
    .await;
    let mail = app.outbox.last_to("leaving@example.com").unwrap();
    assert!(mail.body.contains("30 days"), "{}", mail.body);

    // Cancelling needs the password too.
    expect_error(
        post_json(
            &app,
            "/api/auth/restore",
            json!({"email": "leaving@example.com", "password": "wrong"}),
        )
        .await,
        401,
        "invalid_credentials",
    )
    .await;
    let restored = post_json(
        &app,
        "/api/auth/restore",
        json!({"email": "leaving@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(restored.status(), 200);
    let again = browser(signin(&app, "leaving@example.com").await).await;
    let privacy: Value = request(&app, &again, reqwest::Method::GET, "/api/account/privacy")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(privacy["deletion"], Value::Null);
    // The old key stays revoked: it may have leaked with the intent to leave.
    let still = app
        .post("/v1/chat/completions", &key, &chat("demo-chat", "hello"))
        .await;
    assert_eq!(still.status(), 401);
    expect_error(
        post_json(
            &app,
            "/api/auth/restore",
            json!({"email": "leaving@example.com", "password": PASSWORD}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
}

/// Every key and value in Redis, as text.
async fn redis_text() -> String {
    let client = redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default(),
            ],
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        out.push_str(&key);
        out.push('\n');
        for value in values {
            out.push_str(&value);
            out.push('\n');
        }
    }
    out
}

async fn after_the_grace_nothing_personal_remains(backend: Backend) {
    // On PostgreSQL, cluster mode: the shared reservations live in Redis.
    let redis = match backend {
        Backend::Postgres => "redis_url = \"redis://127.0.0.1:6379/0\"\n",
        Backend::Sqlite => "",
    };
    let extra = format!("{redis}[promotions]\nnew_user_credit_usd = 5\n");
    let app = TestApp::spawn_with(backend, &extra).await;
    let email = format!(
        "Vanishing.Person+{}@Example.com",
        switchyard_core::RequestId::new()
            .to_string()
            .replace('-', "")
    );
    let b = signup(&app, &email).await;
    let welcome = app
        .store
        .account(&switchyard_core::ledger::AccountId::user(b.user))
        .await
        .unwrap()
        .totals
        .balance();
    assert_eq!(
        welcome,
        switchyard_core::Nanos(5_000_000_000),
        "the first sign-up's credit"
    );
    let profile = request(&app, &b, reqwest::Method::PATCH, "/api/auth/profile")
        .json(&json!({"display_name": "Perdita Vanishes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), 200);
    let billing = request(&app, &b, reqwest::Method::PUT, "/api/billing/profile")
        .json(&json!({"name": "Perdita Vanishes", "address": "7 Fading Street", "country": "FR"}))
        .send()
        .await
        .unwrap();
    assert!(billing.status().is_success(), "{}", billing.status());
    let key = key_of(&app, &b).await;
    app.credit(b.user, "1.00").await;
    app.refresh_balances().await;
    let served = app
        .post("/v1/chat/completions", &key, &chat("demo-chat", "hello"))
        .await;
    let request_id = served.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(served.status(), 200);
    let logged = app.log_row(&request_id).await;
    assert!(logged.client_ip.is_some(), "the IP is logged to begin with");

    let deleted = delete_account(&app, &b, json!({"password": PASSWORD})).await;
    assert_eq!(deleted.status(), 200);
    let before = app.store.dump_text().await.unwrap().to_lowercase();
    assert!(before.contains("perdita"), "still there during the grace");

    let now = pipeline_now_millis();
    let windows = Windows::default();
    let report = app
        .store
        .purge_expired(now + 30 * DAY_MS - 60_000, &windows)
        .await
        .unwrap();
    assert_eq!(report.accounts_erased, 0, "not before the grace ends");
    let report = app
        .store
        .purge_expired(now + 30 * DAY_MS + 60_000, &windows)
        .await
        .unwrap();
    assert_eq!(report.accounts_erased, 1);

    let dump = app.store.dump_text().await.unwrap().to_lowercase();
    let local = email.split('@').next().unwrap().to_lowercase();
    for trace in [local.as_str(), "perdita", "vanishes", "fading street"] {
        assert!(
            !dump.contains(trace),
            "`{trace}` survived erasure in the database"
        );
    }
    let rows = app
        .store
        .list_request_logs(&switchyard_store::LogFilter {
            user: Some(b.user),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(rows.is_empty(), "the usage log (and its IPs) went");
    if backend == Backend::Postgres {
        let redis = redis_text().await.to_lowercase();
        assert!(!redis.contains(&local), "the email is in Redis");
        assert!(!redis.contains("perdita"), "the name is in Redis");
    }
    // The books still balance, and the payment-side records stay under the pseudonym.
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
    expect_error(signin(&app, &email).await, 401, "invalid_credentials").await;
    // The address is free again, but its new-user credit was had: the keyed hash remembers.
    let again = signup(&app, &email).await;
    assert_eq!(
        common::balance(&app.store, again.user).await,
        switchyard_core::Nanos::ZERO,
        "credit claimed twice"
    );
}

async fn an_account_may_only_shorten_its_windows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "brief@example.com").await;
    let put = |body: Value| {
        request(&app, &b, reqwest::Method::PUT, "/api/account/retention")
            .json(&body)
            .send()
    };
    for (body, param) in [
        (
            json!({"usage_log_days": 0, "client_ip_days": null}),
            "usage_log_days",
        ),
        (
            json!({"usage_log_days": 366, "client_ip_days": null}),
            "usage_log_days",
        ),
        (
            json!({"usage_log_days": null, "client_ip_days": 91}),
            "client_ip_days",
        ),
    ] {
        let error = expect_error(put(body).await.unwrap(), 400, "invalid_request").await;
        assert_eq!(error["param"], param);
    }
    let set: Value = put(json!({"usage_log_days": 30, "client_ip_days": 1}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["retention"]["effective"]["usage_log_days"], 30);
    assert_eq!(set["retention"]["effective"]["client_ip_days"], 1);
    assert_eq!(set["retention"]["platform"]["usage_log_days"], 365);
    let state = app.store.privacy_state(b.user).await.unwrap().unwrap();
    assert_eq!(state.windows.usage_log_days, Some(30));
    let reset: Value = put(json!({"usage_log_days": null, "client_ip_days": null}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reset["retention"]["effective"]["usage_log_days"], 365);
}

async fn holds_and_the_audit_log_are_for_operators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "disputed@example.com").await;
    let own_key = key_of(&app, &b).await;
    let hold_path = format!("/api/admin/users/{}/hold", b.user);
    let by_user = app
        .client
        .put(app.url(&hold_path))
        .bearer_auth(&own_key)
        .json(&json!({"reason": "mine"}))
        .send()
        .await
        .unwrap();
    expect_error(by_user, 403, "admin_required").await;
    let empty = app
        .client
        .put(app.url(&hold_path))
        .bearer_auth(&app.admin_key)
        .json(&json!({"reason": "  "}))
        .send()
        .await
        .unwrap();
    expect_error(empty, 400, "invalid_request").await;
    let held: Value = app
        .client
        .put(app.url(&hold_path))
        .bearer_auth(&app.admin_key)
        .json(&json!({"reason": "chargeback 2026-11"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held["legal_hold"], true);
    assert_eq!(held["legal_hold_reason"], "chargeback 2026-11");
    // The user deletes; the hold keeps the purge away even long after the grace.
    assert_eq!(
        delete_account(&app, &b, json!({"password": PASSWORD}))
            .await
            .status(),
        200
    );
    let later = pipeline_now_millis() + 400 * DAY_MS;
    let report = app
        .store
        .purge_expired(later, &Windows::default())
        .await
        .unwrap();
    assert_eq!(report.accounts_erased, 0);
    let lifted = app
        .client
        .delete(app.url(&hold_path))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 200);
    // The operator may also restore, e.g. for an account without a password.
    let restore = app
        .client
        .post(app.url(&format!("/api/admin/users/{}/restore", b.user)))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(restore.status(), 200);

    let audit = |query: String| {
        app.client
            .get(app.url(&format!("/api/admin/audit{query}")))
            .bearer_auth(&app.admin_key)
            .send()
    };
    let page: Value = audit(format!("?user={}", b.user))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("account.restore", "admin"),
            ("user.release", "admin"),
            ("account.delete", "user"),
            ("user.hold", "admin"),
            // The key the test made through the session, by the user on their own account.
            ("create", "user"),
        ]
    );
    assert_eq!(page["data"][3]["detail"]["reason"], "chargeback 2026-11");
    // Keyset pages: two, then the rest.
    let first: Value = audit(format!("?user={}&limit=2", b.user))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = audit(format!("?user={}&limit=2&cursor={cursor}", b.user))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["data"][0]["action"], "account.delete");
    expect_error(
        audit("?cursor=nonsense".into()).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    let by_user = app
        .client
        .get(app.url("/api/admin/audit"))
        .bearer_auth(&own_key)
        .send()
        .await
        .unwrap();
    // The user's key was revoked by the deletion, so it no longer authenticates at all.
    assert_eq!(by_user.status(), 401);
}

/// The purge is wired into the server: with a one-second interval, expired rows go without
/// anyone calling it, and rows inside the window stay.
async fn the_server_purges_on_its_own(backend: Backend) {
    let app =
        TestApp::spawn_with(backend, "[retention]\nusage_log_days = 2\ninterval_s = 1\n").await;
    let b = signup(&app, "old@example.com").await;
    let now = pipeline_now_millis();
    let row = |age: i64| switchyard_core::log::RequestLog {
        id: switchyard_core::RequestId::new(),
        created_at: now - age,
        user_id: Some(b.user),
        key_id: None,
        endpoint: "chat.completions".into(),
        model: "demo-chat".into(),
        provider: Some("demo".into()),
        upstream_model: None,
        channel: None,
        jurisdiction: None,
        stream: false,
        prompt_tokens: 1,
        completion_tokens: 1,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: switchyard_core::usage::UsageSource::Upstream,
        cost: switchyard_core::Nanos(1),
        provider_cost: switchyard_core::Nanos(1),
        latency_us: 1_000,
        ttft_us: None,
        status: 200,
        error_code: None,
        client_ip: None,
    };
    let (young, old) = (row(DAY_MS), row(3 * DAY_MS));
    app.store
        .insert_request_logs(&[young.clone(), old.clone()])
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let left: Vec<_> = app
            .store
            .list_request_logs(&switchyard_store::LogFilter {
                user: Some(b.user),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        if left == [young.id] {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "the expired row is still there: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
