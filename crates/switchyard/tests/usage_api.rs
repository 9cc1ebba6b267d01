//! The dashboard's JSON pages on both stores: the usage log (filters, keyset paging without
//! gaps or duplicates, the CSV export), the daily rollup against the log it sums, the models
//! catalogue, disabling a user, and the playground key — with who may see and change what, and
//! CSRF on every state change of a session. The operator's user search and system view are in
//! `operator_pages.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::expect_error;
use common::session::{self, signup};
use common::usage::{page_through, row};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use switchyard_core::log::RequestLog;
use switchyard_core::{KeyId, UserId};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    pages_cover_every_row_once_under_each_filter,
    the_csv_export_quotes_fields_and_holds_every_row,
    the_rollup_equals_the_log_across_batches_and_retries,
    users_see_only_their_own_usage_and_admin_routes_are_closed,
    disabling_a_user_ends_sessions_and_stops_keys,
    the_playground_key_serves_inference_and_replaces_the_previous_one,
    the_models_page_shows_prices_practices_and_policy,
);

const DAY_MS: i64 = 86_400_000;

/// `(created_at, id)` newest first: the order every page reads in.
fn newest_first(rows: &[&RequestLog]) -> Vec<String> {
    let mut sorted: Vec<_> = rows
        .iter()
        .map(|r| (r.created_at, r.id.to_string()))
        .collect();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.into_iter().map(|(_, id)| id).collect()
}

/// Ann with two keys and 150 rows on colliding timestamps across three days, two models and
/// both outcomes, and Bob with rows at the same times. Returns Ann's key, her key ids and rows.
async fn seeded(app: &TestApp) -> (String, String, [KeyId; 2], Vec<RequestLog>) {
    let (ann, ann_key) = app
        .user_with_key("ann@example.com", json!({"name": "one"}))
        .await;
    let (bob, _) = app.user_with_key("bob@example.com", json!({})).await;
    let ann: UserId = ann.parse().unwrap();
    let bob: UserId = bob.parse().unwrap();
    let second = app
        .create_key(json!({"user_id": ann.to_string(), "name": "two"}))
        .await;
    let keys: Vec<KeyId> = app
        .store
        .list_keys(Some(ann))
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    let second: KeyId = second["id"].as_str().unwrap().parse().unwrap();
    let first = *keys.iter().find(|k| **k != second).unwrap();
    let base = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS;
    let mut rows = Vec::new();
    for i in 0..150i64 {
        // Five rows share each millisecond, so ties are broken by id alone.
        let at = base + (i / 5) * 3_600_000 * 3;
        let key = if i % 3 == 0 { second } else { first };
        let model = if i % 4 == 0 {
            "demo-embed"
        } else {
            "demo-chat"
        };
        let status = if i % 10 == 0 { 502 } else { 200 };
        rows.push(row(at, ann, Some(key), model, status));
    }
    let others: Vec<_> = (0..20)
        .map(|i| row(base + i * 3_600_000 * 3, bob, None, "demo-chat", 200))
        .collect();
    // Two batches for Ann (as the writer would send them) and one for Bob.
    app.store.insert_request_logs(&rows[..70]).await.unwrap();
    app.store.insert_request_logs(&rows[70..]).await.unwrap();
    app.store.insert_request_logs(&others).await.unwrap();
    (ann.to_string(), ann_key, [first, second], rows)
}

/// Which seeded rows a query should list.
type Keep<'a> = Box<dyn Fn(&RequestLog) -> bool + 'a>;

async fn pages_cover_every_row_once_under_each_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, key, [first, second], rows) = seeded(&app).await;
    let all: Vec<&RequestLog> = rows.iter().collect();
    let day = |n: i64| rows[0].created_at + n * DAY_MS;
    let date = |ms: i64| {
        // The seed starts at midnight UTC of 2023-11-14.
        let days = ms.div_euclid(DAY_MS) - rows[0].created_at.div_euclid(DAY_MS);
        format!("2023-11-{:02}", 14 + days)
    };
    let cases: Vec<(String, Keep<'_>)> = vec![
        ("/api/usage".into(), Box::new(|_| true)),
        (
            "/api/usage?model=demo-embed".into(),
            Box::new(|r| r.model == "demo-embed"),
        ),
        (
            "/api/usage?status=error".into(),
            Box::new(|r| r.status >= 400),
        ),
        ("/api/usage?status=ok".into(), Box::new(|r| r.status < 400)),
        (
            format!("/api/usage?key={second}"),
            Box::new(move |r| r.key_id == Some(second)),
        ),
        (
            format!("/api/usage?key={first}&model=demo-chat&status=ok"),
            Box::new(move |r| r.key_id == Some(first) && r.model == "demo-chat" && r.status < 400),
        ),
        (
            format!("/api/usage?from={}&to={}", day(1), day(2)),
            Box::new(move |r| r.created_at >= day(1) && r.created_at < day(2)),
        ),
        (
            format!("/api/usage?from={}&to={}", date(day(1)), date(day(1))),
            Box::new(move |r| r.created_at >= day(1) && r.created_at < day(2)),
        ),
        (
            format!(
                "/api/usage?from={}&model=demo-chat&status=error",
                date(day(1))
            ),
            Box::new(move |r| r.created_at >= day(1) && r.model == "demo-chat" && r.status >= 400),
        ),
    ];
    for (path, keep) in &cases {
        let expected = newest_first(&all.iter().copied().filter(|r| keep(r)).collect::<Vec<_>>());
        assert!(!expected.is_empty(), "{path} selects something");
        let listed = page_through(&app, &key, path, 7).await;
        assert_eq!(listed, expected, "{path}");
        let unique: BTreeSet<_> = listed.iter().collect();
        assert_eq!(unique.len(), listed.len(), "no duplicates in {path}");
    }
    // The default page is 50 rows, and its rows carry every field the page shows.
    let page = app.get_json("/api/usage", &key).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 50);
    let newest = &page["data"][0];
    for field in [
        "id",
        "created_at",
        "created_at_ms",
        "key_id",
        "key_name",
        "endpoint",
        "model",
        "provider",
        "channel",
        "jurisdiction",
        "status",
        "ok",
        "error_code",
        "stream",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "cost_nanos",
        "cost_usd",
        "latency_ms",
        "ttft_ms",
    ] {
        assert!(newest.get(field).is_some(), "{field} in {newest}");
    }
    assert!(["one", "two"].contains(&newest["key_name"].as_str().unwrap()));
    // Bad input is a 400 naming the parameter.
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("status=maybe", "status"),
        ("from=yesterday", "from"),
        ("cursor=zzz", "cursor"),
        ("key=nope", "key"),
    ] {
        let error = expect_error(
            app.get(&format!("/api/usage?{query}"), &key).await,
            400,
            "invalid_request",
        )
        .await;
        assert_eq!(error["param"], param, "{query}");
    }
}

/// Splits CSV text into records of fields (RFC 4180), for checking the export.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

async fn the_csv_export_quotes_fields_and_holds_every_row(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let name = "team \"alpha\", prod\nline two";
    let (user, key) = app
        .user_with_key("csv@example.com", json!({"name": name}))
        .await;
    let user: UserId = user.parse().unwrap();
    let key_id = app.store.list_keys(Some(user)).await.unwrap()[0].id;
    // More than one export page (1,000 rows), with ties on the page boundary.
    let rows: Vec<_> = (0..2_345i64)
        .map(|i| {
            row(
                1_700_000_000_000 + i / 3,
                user,
                Some(key_id),
                "demo-chat",
                200,
            )
        })
        .collect();
    app.store.insert_request_logs(&rows).await.unwrap();
    let response = app.get("/api/usage.csv", &key).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    let records = parse_csv(&text);
    assert_eq!(records[0][0], "id");
    assert_eq!(records[0].len(), 20);
    assert_eq!(records.len(), 1 + rows.len());
    let ids: Vec<String> = records[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, newest_first(&rows.iter().collect::<Vec<_>>()));
    for record in &records[1..] {
        assert_eq!(record.len(), 20);
        assert_eq!(record[3], name, "the key name survives quoting");
    }
    assert!(text.contains("\"team \"\"alpha\"\", prod\nline two\""));
    let first = &records[1];
    assert!(
        first[1].ends_with('Z') && first[1].starts_with("2023-11-14T"),
        "{first:?}"
    );
    // Filters apply to the export too.
    let none = app
        .get("/api/usage.csv?status=error", &key)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(parse_csv(&none).len(), 1, "only the header");
}

async fn the_rollup_equals_the_log_across_batches_and_retries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, key) = app.user_with_key("roll@example.com", json!({})).await;
    // Real requests through the writer, in several batches.
    for round in 0..3 {
        for i in 0..4 {
            let response = app
                .post(
                    "/v1/chat/completions",
                    &key,
                    &common::chat("demo-chat", &format!("hello {round} {i}")),
                )
                .await;
            assert_eq!(response.status(), 200);
        }
        app.gateway().flushed().await;
    }
    let failed = app
        .post(
            "/v1/chat/completions",
            &key,
            &common::chat("dead-chat", "hi"),
        )
        .await;
    assert!(failed.status().as_u16() >= 500);
    app.gateway().flushed().await;
    // Direct batches, one of them written twice (a writer's retry) and one overlapping.
    let user_id: UserId = user.parse().unwrap();
    let now = switchyard_gateway::pipeline_now_millis();
    let extra: Vec<_> = (0..30)
        .map(|i| {
            row(
                now - i * 1_000,
                user_id,
                None,
                "demo-chat",
                if i % 7 == 0 { 500 } else { 200 },
            )
        })
        .collect();
    app.store.insert_request_logs(&extra[..20]).await.unwrap();
    app.store.insert_request_logs(&extra[..20]).await.unwrap();
    app.store.insert_request_logs(&extra[10..]).await.unwrap();

    let logged = app
        .store
        .list_request_logs(&switchyard_store::LogFilter {
            user: Some(user_id),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 12 + 1 + 30);
    let daily = app.get_json("/api/usage/daily?days=7", &key).await;
    let days = daily["data"].as_array().unwrap();
    assert_eq!(days.len(), 7, "every day present");
    let today = &days[6];
    let sum = |f: fn(&RequestLog) -> i64| logged.iter().map(f).sum::<i64>();
    assert_eq!(today["requests"], json!(logged.len()));
    assert_eq!(today["errors"], json!(sum(|r| i64::from(r.status >= 400))));
    assert_eq!(
        today["prompt_tokens"],
        json!(sum(|r| r.prompt_tokens as i64))
    );
    assert_eq!(
        today["completion_tokens"],
        json!(sum(|r| r.completion_tokens as i64))
    );
    assert_eq!(today["cost"]["nanos"], json!(sum(|r| r.cost.0)));
    assert!(
        days[..6]
            .iter()
            .all(|d| d["requests"] == 0 && d["cost"]["nanos"] == 0)
    );
    assert_eq!(daily["totals"]["requests"], json!(logged.len()));
    let top = daily["top_models"].as_array().unwrap();
    assert_eq!(top[0]["model"], "demo-chat");
    let error = expect_error(
        app.get("/api/usage/daily?days=0", &key).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(error["param"], "days");
}

async fn users_see_only_their_own_usage_and_admin_routes_are_closed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ann, ann_key, _, rows) = seeded(&app).await;
    let bob = app
        .store
        .user_by_email("bob@example.com")
        .await
        .unwrap()
        .unwrap();
    // Ann's pages hold only her rows, whatever she asks.
    let listed = page_through(&app, &ann_key, "/api/usage", 200).await;
    assert_eq!(listed.len(), rows.len());
    for path in [
        format!("/api/usage?user={}", bob.id),
        format!("/api/usage.csv?user={}", bob.id),
        format!("/api/usage/daily?user={}", bob.id),
    ] {
        expect_error(app.get(&path, &ann_key).await, 403, "admin_required").await;
    }
    // Naming herself is fine; an admin may read anyone's.
    let own = app
        .get_json(&format!("/api/usage?user={ann}&limit=1"), &ann_key)
        .await;
    assert_eq!(own["data"].as_array().unwrap().len(), 1);
    let bobs = page_through(
        &app,
        &app.admin_key,
        &format!("/api/usage?user={}", bob.id),
        50,
    )
    .await;
    assert_eq!(bobs.len(), 20);
    // The admin's own usage is empty: an admin sees others only when asking.
    let mine = app.get_json("/api/usage", &app.admin_key).await;
    assert_eq!(mine["data"], json!([]));
    assert_eq!(mine["next_cursor"], Value::Null);
    // Operator routes refuse users.
    for path in ["/api/admin/users", "/api/admin/stats"] {
        expect_error(app.get(path, &ann_key).await, 403, "admin_required").await;
    }
    let patch = app
        .client
        .patch(app.url(&format!("/api/admin/users/{}", bob.id)))
        .bearer_auth(&ann_key)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    expect_error(patch, 403, "admin_required").await;
    // Without credentials nothing is readable.
    let anonymous = app.client.get(app.url("/api/usage")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn disabling_a_user_ends_sessions_and_stops_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "dora@example.com").await;
    let user: UserId = b.user;
    app.credit(user, "10").await;
    let created = session::request(&app, &b, reqwest::Method::POST, "/api/keys")
        .json(&json!({"name": "cli"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key = created.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = app
        .post(
            "/v1/chat/completions",
            &key,
            &common::chat("demo-chat", "hi"),
        )
        .await;
    assert_eq!(ok.status(), 200);

    // An admin's browser session must carry CSRF for the change, like any state change.
    let admin = app.store.user_by_id(app.admin_id).await.unwrap().unwrap();
    let admin_browser = signup(&app, "ops@example.com").await;
    let ops: UserId = admin_browser.user;
    let promote = app
        .client
        .patch(app.url(&format!("/api/admin/users/{ops}")))
        .bearer_auth(&app.admin_key)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(promote.status(), 200);
    assert_eq!(promote.json::<Value>().await.unwrap()["role"], "admin");
    let path = format!("/api/admin/users/{user}");
    let without =
        session::request_without_csrf(&app, &admin_browser, reqwest::Method::PATCH, &path)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
    expect_error(without, 403, "csrf_failed").await;
    let disabled = session::request(&app, &admin_browser, reqwest::Method::PATCH, &path)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(disabled.json::<Value>().await.unwrap()["disabled"], true);

    // Her session is gone and her key is refused, at once.
    let me = session::request_without_csrf(&app, &b, reqwest::Method::GET, "/api/auth/me")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let refused = app
        .post(
            "/v1/chat/completions",
            &key,
            &common::chat("demo-chat", "hi"),
        )
        .await;
    expect_error(refused, 403, "account_disabled").await;

    // An admin can neither disable nor demote themselves.
    for body in [json!({"disabled": true}), json!({"role": "user"})] {
        let response = app
            .client
            .patch(app.url(&format!("/api/admin/users/{}", admin.id)))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(response, 400, "invalid_request").await;
    }
    let unknown = app
        .client
        .patch(app.url(&format!("/api/admin/users/{}", UserId::new())))
        .bearer_auth(&app.admin_key)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404, "resource_not_found").await;

    // Enabling her again brings the key back.
    let enabled = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&app.admin_key)
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    let again = app
        .post(
            "/v1/chat/completions",
            &key,
            &common::chat("demo-chat", "hi"),
        )
        .await;
    assert_eq!(again.status(), 200);
}

async fn the_playground_key_serves_inference_and_replaces_the_previous_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "play@example.com").await;
    app.credit(b.user, "10").await;
    let without =
        session::request_without_csrf(&app, &b, reqwest::Method::POST, "/api/playground/key")
            .send()
            .await
            .unwrap();
    expect_error(without, 403, "csrf_failed").await;

    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for expected_revoked in [0, 1] {
        let response = session::request(&app, &b, reqwest::Method::POST, "/api/playground/key")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["kind"], "playground");
        assert_eq!(body["name"], "Playground");
        assert_eq!(body["revoked_previous"], expected_revoked);
        let lifetime = body["expires_at"].as_i64().unwrap() - body["created_at"].as_i64().unwrap();
        assert_eq!(lifetime, 12 * 3600);
        secrets.push(body["key"].as_str().unwrap().to_owned());
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let chat = common::chat("demo-chat", "hello from the playground");
    let served = app.post("/v1/chat/completions", &secrets[1], &chat).await;
    assert_eq!(served.status(), 200);
    let old = app.post("/v1/chat/completions", &secrets[0], &chat).await;
    assert_eq!(old.status(), 401, "the previous playground key is revoked");

    // Key lists mark playground keys and can leave them out.
    let all = session::get_json(&app, &b, "/api/keys").await;
    let kinds: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("playground"), json!("playground")]);
    let standard = session::get_json(&app, &b, "/api/keys?kind=standard").await;
    assert_eq!(standard["data"], json!([]));
    let one = session::get_json(&app, &b, &format!("/api/keys/{}", ids[1])).await;
    assert_eq!(one["kind"], "playground");
    assert_eq!(one["revoked_at"], Value::Null);
}

async fn the_models_page_shows_prices_practices_and_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "models@example.com").await;
    let list = session::get_json(&app, &b, "/api/models").await;
    let models = list["data"].as_array().unwrap();
    let cache = models.iter().find(|m| m["id"] == "mock-cache").unwrap();
    assert_eq!(cache["admitted"], true);
    // 0.15 and 0.60 USD per million tokens at the default group's markup.
    assert_eq!(cache["prices"]["input"]["nanos"], 150_000_000);
    assert_eq!(cache["prices"]["output"]["nanos"], 600_000_000);
    assert_eq!(cache["prices"]["cached_input"]["nanos"], 75_000_000);
    assert_eq!(cache["prices"]["input"]["display"], "$0.15 / 1M tokens");
    let channel = &cache["channels"][0];
    assert_eq!(channel["provider"], "mock");
    assert_eq!(channel["jurisdiction"], "US");
    for field in [
        "retains_prompts",
        "trains_on_prompts",
        "zdr",
        "admitted",
        "prices",
    ] {
        assert!(channel.get(field).is_some(), "{field} in {channel}");
    }
    // An account restricted to the EU sees US models as not admitted, and why.
    let restricted = app
        .client
        .put(app.url(&format!("/api/users/{}/data_policy", b.user)))
        .bearer_auth(&app.admin_key)
        .json(&json!({"jurisdictions": ["EU"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        restricted.status(),
        200,
        "{}",
        restricted.text().await.unwrap()
    );
    let list = session::get_json(&app, &b, "/api/models").await;
    let cache = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock-cache")
        .unwrap();
    assert_eq!(cache["admitted"], false);
    assert_eq!(cache["prices"], Value::Null);
    assert_eq!(cache["channels"][0]["admitted"], false);
    assert!(
        cache["channels"][0]["refused_because"]
            .as_str()
            .unwrap()
            .contains("US")
    );
    // A key limited to some models lists only those.
    let (_, limited) = app
        .user_with_key(
            "limited@example.com",
            json!({"allowed_models": ["demo-chat"]}),
        )
        .await;
    let list = app.get_json("/api/models", &limited).await;
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!("demo-chat")]);
}
