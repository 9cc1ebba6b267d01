//! The privacy API over HTTP on both stores (docs/privacy.md): deleting an account needs a
//! browser session and the password, stops sign-in and keys at once, can be cancelled within
//! the grace window, and after it leaves no email, name or client IP in any table (nor in
//! Redis, in cluster mode); an account may shorten its own windows, never lengthen them;
//! operators place legal holds and read the audit log.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{chat, expect_error};
use serde_json::{Value, json};
use switchyard_core::UserId;
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
    every_write_is_in_the_audit_log_without_secrets,
    the_notice_follows_the_running_configuration,
    new_terms_are_announced_ahead_and_accepted,
    the_email_address_changes_only_through_the_new_addresss_link,
);

const PASSWORD: &str = "correct horse battery staple";

/// A signed-in browser: its cookie (`name=value`) and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
    user: UserId,
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn browser(response: reqwest::Response) -> Browser {
    assert!(response.status().is_success(), "{}", response.status());
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        user: body["user"]["id"].as_str().unwrap().parse().unwrap(),
    }
}

async fn signup(app: &TestApp, email: &str) -> Browser {
    browser(
        post_json(
            app,
            "/api/auth/signup",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
    )
    .await
}

async fn signin(app: &TestApp, email: &str) -> reqwest::Response {
    post_json(
        app,
        "/api/auth/signin",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
}

fn request(
    app: &TestApp,
    b: &Browser,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    app.client
        .request(method, app.url(path))
        .header("cookie", &b.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("x-csrf-token", &b.csrf)
}

async fn delete_account(app: &TestApp, b: &Browser, body: Value) -> reqwest::Response {
    request(app, b, reqwest::Method::DELETE, "/api/account")
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A key for the browser's user, made through the session.
async fn key_of(app: &TestApp, b: &Browser) -> String {
    let response = request(app, b, reqwest::Method::POST, "/api/keys")
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

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
    let balance = app
        .store
        .account(&switchyard_core::ledger::AccountId::user(again.user))
        .await
        .unwrap()
        .totals
        .balance();
    assert_eq!(
        balance,
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

async fn every_write_is_in_the_audit_log_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "audited@example.com").await;
    // Rectification: the profile's change history, before and after.
    for name in ["Ada", "Ada L."] {
        let response = request(&app, &b, reqwest::Method::PATCH, "/api/auth/profile")
            .json(&json!({"display_name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let key = key_of(&app, &b).await;
    // An operator's changes: a provider with a credential, a credit, a disabled account.
    let secret = "sk-audit-trail-0123456789abcdef";
    let provider = app
        .post(
            "/api/admin/providers",
            &app.admin_key,
            &json!({"name": "acme", "kind": "openai", "base_url": app.mock.base_url(), "api_key": secret}),
        )
        .await;
    assert_eq!(provider.status(), 201);
    let credit = app
        .post(
            &format!("/api/admin/users/{}/credit", b.user),
            &app.admin_key,
            &json!({"usd": "2.50", "reason": "goodwill"}),
        )
        .await;
    assert!(credit.status().is_success(), "{}", credit.status());
    let disabled = app
        .client
        .patch(app.url(&format!("/api/admin/users/{}", b.user)))
        .bearer_auth(&app.admin_key)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    // A refused write is not an entry.
    let refused = app
        .post("/api/admin/providers", &key, &json!({"name": "nope"}))
        .await;
    assert_eq!(
        refused.status(),
        403,
        "the disabled account's key is refused"
    );

    let all: Value = app
        .client
        .get(app.url("/api/admin/audit?limit=200"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = all.to_string();
    assert!(!text.contains(secret), "a credential reached the audit log");
    assert!(!text.contains(PASSWORD), "a password reached the audit log");
    assert!(!text.contains(&key), "an API key reached the audit log");
    let entries = all["data"].as_array().unwrap();
    let find = |target: &str, action: &str| {
        entries
            .iter()
            .filter(|e| e["target"] == target && e["action"] == action)
            .collect::<Vec<_>>()
    };
    let profile: Vec<&Value> = find("user", "update")
        .into_iter()
        .filter(|e| e["detail"].get("changes").is_some())
        .collect();
    let renames: Vec<&Value> = profile
        .iter()
        .filter_map(|e| e["detail"]["changes"].get("display_name"))
        .collect();
    assert_eq!(
        renames,
        [
            &json!({"from": "Ada", "to": "Ada L."}),
            &json!({"from": null, "to": "Ada"}),
        ]
    );
    assert!(profile.iter().all(|e| e["actor_role"] == "user"));
    let provider = find("provider", "create");
    assert_eq!(provider.len(), 1);
    assert_eq!(provider[0]["actor_role"], "admin");
    let credit = find("balance", "create");
    assert_eq!(credit.len(), 1);
    assert_eq!(credit[0]["subject_id"], json!(b.user.to_string()));
    let disable = find("user", "update")
        .into_iter()
        .filter(|e| e["actor_role"] == "admin")
        .count();
    assert_eq!(disable, 1);
    assert_eq!(find("key", "create").len(), 1);
    assert_eq!(
        find("other", "create").len(),
        0,
        "every route names its target"
    );
}

async fn the_notice_follows_the_running_configuration(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[retention]\nclient_ip_days = 14\nusage_log_days = 60\ndeleted_account_days = 7\n",
    )
    .await;
    let notice = |path: &'static str| app.client.get(app.url(path)).send();
    let facts: Value = notice("/api/privacy").await.unwrap().json().await.unwrap();
    let days = |class: &str| {
        facts["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["class"] == class)
            .unwrap()["days"]
            .clone()
    };
    assert_eq!(days("client_ip"), 14);
    assert_eq!(days("usage_log"), 60);
    assert_eq!(days("account"), 7);
    assert_eq!(facts["cookies"].as_array().unwrap().len(), 1);
    assert_eq!(facts["cookies"][0]["name"], "sy_session");
    assert_eq!(facts["trackers"], json!([]));

    // A provider added at runtime is on the notice at once, with where and how it processes.
    let added = app
        .post(
            "/api/admin/providers",
            &app.admin_key,
            &json!({"name": "acme", "kind": "openai", "base_url": app.mock.base_url(),
                    "api_key": "sk-notice-0123456789abcdef", "jurisdiction": "de",
                    "retains_prompts": false, "trains_on_prompts": false}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let model = app
        .post(
            "/api/admin/models",
            &app.admin_key,
            &json!({"name": "acme-chat", "provider": "acme", "upstream_model": "gpt-x",
                    "input_usd_per_mtok": "1", "output_usd_per_mtok": "2"}),
        )
        .await;
    assert_eq!(model.status(), 201);
    let page = notice("/privacy").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers().get("set-cookie").is_none(),
        "the notice sets no cookie"
    );
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<td>14 days, or less"),
        "the IP window: {html}"
    );
    assert!(html.contains("<td>60 days, or less"), "the log window");
    assert!(
        html.contains("erased 7 days after it is deleted"),
        "the grace"
    );
    assert!(html.contains("7 years (2557 days)"), "payment records");
    let acme = html
        .split("data-provider=\"acme\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(acme.contains("DE") && acme.contains("acme-chat"), "{acme}");
    assert!(
        acme.contains("keeps no prompts; never trains on them"),
        "{acme}"
    );
    assert!(html.contains("<code>sy_session</code>"));
    assert!(!html.contains("sk-notice"), "no credential on the notice");
    // Only the session cookie is ever set: by sign-up, never by the dashboard's pages.
    for path in ["/app/", "/app/signin", "/api/privacy", "/assets/app.css"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{path} set a cookie"
        );
    }
    let signup = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "cookie@example.com", "password": PASSWORD}),
    )
    .await;
    let cookies: Vec<_> = signup.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].to_str().unwrap().starts_with("sy_session="));
    assert_eq!(facts["content_logging"], "per_key");
    // A deployment that locks content logging off says so.
    let locked = TestApp::spawn_with(backend, "[privacy]\ncontent_logging = \"never\"\n").await;
    let html = locked
        .client
        .get(locked.url("/privacy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("never stored; this deployment makes storing them impossible"));
}

async fn new_terms_are_announced_ahead_and_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let early = signup(&app, "early@example.com").await;
    let now_s = pipeline_now_millis() / 1000;
    let publish = |body: Value| {
        let app = &app;
        async move { app.post("/api/admin/terms", &app.admin_key, &body).await }
    };
    // The first version of a kind may take effect at once.
    let first = publish(json!({"kind": "terms", "version": "2026-01", "summary": "The first terms.", "effective_at": now_s})).await;
    assert_eq!(first.status(), 201);
    // Signing up now means accepting it, and records that.
    let refused = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "late@example.com", "password": PASSWORD}),
    )
    .await;
    let error = expect_error(refused, 400, "invalid_request").await;
    assert_eq!(error["param"], "accept_terms");
    let late = browser(
        post_json(
            &app,
            "/api/auth/signup",
            json!({"email": "late@example.com", "password": PASSWORD, "accept_terms": true}),
        )
        .await,
    )
    .await;
    let consents =
        |b: &Browser| request(&app, b, reqwest::Method::GET, "/api/account/consents").send();
    let mine: Value = consents(&late).await.unwrap().json().await.unwrap();
    assert_eq!(mine["accepted"][0]["version"], "2026-01");
    assert_eq!(mine["pending"], json!([]));
    // Someone who signed up before it has it pending, and accepts it.
    let theirs: Value = consents(&early).await.unwrap().json().await.unwrap();
    assert_eq!(theirs["pending"][0]["version"], "2026-01");
    let accepted: Value = request(&app, &early, reqwest::Method::POST, "/api/account/consents")
        .json(&json!({"kind": "terms", "version": "2026-01"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["pending"], json!([]));

    // A new version must be announced at least 14 days ahead; then everyone is mailed.
    let soon = publish(
        json!({"kind": "terms", "version": "2026-02", "summary": "Refund window changes.",
                              "effective_at": now_s + 13 * 86_400}),
    )
    .await;
    let error = expect_error(soon, 400, "invalid_request").await;
    assert_eq!(error["param"], "effective_at");
    let announced = publish(
        json!({"kind": "terms", "version": "2026-02", "summary": "Refund window changes.",
                                   "effective_at": now_s + 15 * 86_400}),
    )
    .await;
    assert_eq!(announced.status(), 201);
    let again = publish(
        json!({"kind": "terms", "version": "2026-02", "summary": "x",
                               "effective_at": now_s + 15 * 86_400}),
    )
    .await;
    expect_error(again, 409, "conflict").await;
    for email in ["early@example.com", "late@example.com"] {
        let mut mail = None;
        for _ in 0..250 {
            mail = app
                .outbox
                .sent()
                .into_iter()
                .rev()
                .find(|m| m.to == email && m.subject.contains("terms of service"));
            if mail.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mail = mail.unwrap_or_else(|| panic!("no notice to {email}"));
        assert!(
            mail.body.contains("Refund window changes."),
            "{}",
            mail.body
        );
    }
    // Shown as upcoming, not yet pending; the public list says the same.
    let mine: Value = consents(&late).await.unwrap().json().await.unwrap();
    assert_eq!(mine["pending"], json!([]));
    assert_eq!(mine["upcoming"][0]["version"], "2026-02");
    let public: Value = app
        .client
        .get(app.url("/api/terms"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["data"][0]["current"]["version"], "2026-01");
    assert_eq!(public["data"][0]["upcoming"][0]["version"], "2026-02");
    let unknown = request(&app, &late, reqwest::Method::POST, "/api/account/consents")
        .json(&json!({"kind": "terms", "version": "1999"}))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404, "resource_not_found").await;
}

async fn the_email_address_changes_only_through_the_new_addresss_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "old@example.com").await;
    signup(&app, "taken@example.com").await;
    let change = |body: Value| {
        request(&app, &b, reqwest::Method::POST, "/api/auth/email")
            .json(&body)
            .send()
    };
    expect_error(
        change(json!({"email": "new@example.com"})).await.unwrap(),
        403,
        "reauthentication_required",
    )
    .await;
    expect_error(
        change(json!({"email": "not an address", "password": PASSWORD}))
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        change(json!({"email": "Taken@Example.com", "password": PASSWORD}))
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    let started = change(json!({"email": "New@Example.com", "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    // Nothing changes until the new address proves itself.
    assert_eq!(
        app.store.user_by_id(b.user).await.unwrap().unwrap().email,
        "old@example.com"
    );
    let notice = app.outbox.last_to("old@example.com").unwrap();
    assert!(notice.body.contains("new@example.com"), "{}", notice.body);
    let mail = app.outbox.last_to("new@example.com").unwrap();
    let token = mail.link.split("token=").nth(1).unwrap().to_owned();
    let confirm =
        |token: String| post_json(&app, "/api/auth/email/confirm", json!({"token": token}));
    let done: Value = confirm(token.clone()).await.json().await.unwrap();
    assert_eq!(done["email"], "new@example.com");
    let user = app.store.user_by_id(b.user).await.unwrap().unwrap();
    assert_eq!(user.email, "new@example.com");
    // Once only.
    expect_error(confirm(token).await, 400, "invalid_request").await;
    assert_eq!(signin(&app, "new@example.com").await.status(), 200);
    expect_error(
        signin(&app, "old@example.com").await,
        401,
        "invalid_credentials",
    )
    .await;
    // The change history keeps both addresses, for the account's own export.
    let audit: Value = app
        .client
        .get(app.url(&format!("/api/admin/audit?user={}", b.user)))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"]["changes"].get("email"))
        .collect();
    assert_eq!(
        emails,
        [&json!({"from": "old@example.com", "to": "new@example.com"})]
    );
}
