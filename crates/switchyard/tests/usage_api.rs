//! The dashboard's JSON pages on both stores: the usage log (filters, keyset paging without
//! gaps or duplicates, the CSV export), the daily rollup against the log it sums, the models
//! catalogue, the operator's users and system view, and the playground key — with who may see
//! and change what, and CSRF on every state change of a session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::expect_error;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
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
    operators_search_and_page_users,
    the_system_view_matches_the_revenue_report,
);

const PASSWORD: &str = "correct horse battery staple";
const DAY_MS: i64 = 86_400_000;

/// A signed-in browser.
struct Browser {
    cookie: String,
    csrf: String,
    user_id: String,
}

async fn signup(app: &TestApp, email: &str) -> Browser {
    let response = app
        .client
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
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
        user_id: body["user"]["id"]
            .as_str()
            .or_else(|| body["id"].as_str())
            .unwrap_or_else(|| panic!("a user id in {body}"))
            .to_owned(),
    }
}

/// A browser's request; `csrf` says whether to send the token.
fn browser(
    app: &TestApp,
    b: &Browser,
    method: reqwest::Method,
    path: &str,
    csrf: bool,
) -> reqwest::RequestBuilder {
    let builder = app
        .client
        .request(method, app.url(path))
        .header("cookie", &b.cookie)
        .header("sec-fetch-site", "same-origin");
    if csrf {
        builder.header("x-csrf-token", &b.csrf)
    } else {
        builder
    }
}

async fn get(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> Value {
    let response = get(app, key, path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

fn row(created_at: i64, user: UserId, key: Option<KeyId>, model: &str, status: u16) -> RequestLog {
    RequestLog {
        id: RequestId::new(),
        created_at,
        user_id: Some(user),
        key_id: key,
        endpoint: "chat.completions".into(),
        model: model.into(),
        provider: Some("demo".into()),
        upstream_model: Some(model.into()),
        channel: Some("demo".into()),
        jurisdiction: Some("US".into()),
        stream: status == 200,
        prompt_tokens: 10 + (created_at % 7) as u64,
        completion_tokens: 20,
        cached_tokens: 3,
        reasoning_tokens: 1,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_000 + created_at % 13),
        provider_cost: Nanos(900),
        latency_us: 5_000 + (created_at % 11) as u64 * 1_000,
        ttft_us: (status == 200).then_some(1_500),
        status,
        error_code: (status != 200).then(|| "upstream_error".to_owned()),
        client_ip: None,
    }
}

/// `(created_at, id)` newest first: the order every page reads in.
fn newest_first(rows: &[&RequestLog]) -> Vec<String> {
    let mut sorted: Vec<_> = rows
        .iter()
        .map(|r| (r.created_at, r.id.to_string()))
        .collect();
    sorted.sort_by(|a, b| b.cmp(a));
    sorted.into_iter().map(|(_, id)| id).collect()
}

/// Every id `path` (a query without `cursor` and `limit`) lists, following `next_cursor`.
async fn page_through(app: &TestApp, key: &str, path: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(app, key, &url).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit as usize);
        ids.extend(data.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(data.len(), limit as usize, "only a full page has a next");
                cursor = Some(next.to_owned());
            }
            None => return ids,
        }
    }
    panic!("paging did not end");
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
    let page = get_json(&app, &key, "/api/usage").await;
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
            get(&app, &key, &format!("/api/usage?{query}")).await,
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
    let response = get(&app, &key, "/api/usage.csv").await;
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
    let none = get(&app, &key, "/api/usage.csv?status=error")
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
    let daily = get_json(&app, &key, "/api/usage/daily?days=7").await;
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
        get(&app, &key, "/api/usage/daily?days=0").await,
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
        expect_error(get(&app, &ann_key, &path).await, 403, "admin_required").await;
    }
    // Naming herself is fine; an admin may read anyone's.
    let own = get_json(&app, &ann_key, &format!("/api/usage?user={ann}&limit=1")).await;
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
    let mine = get_json(&app, &app.admin_key, "/api/usage").await;
    assert_eq!(mine["data"], json!([]));
    assert_eq!(mine["next_cursor"], Value::Null);
    // Operator routes refuse users.
    for path in ["/api/admin/users", "/api/admin/stats"] {
        expect_error(get(&app, &ann_key, path).await, 403, "admin_required").await;
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
    let user: UserId = b.user_id.parse().unwrap();
    app.credit(user, "10").await;
    let created = browser(&app, &b, reqwest::Method::POST, "/api/keys", true)
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
    let ops: UserId = admin_browser.user_id.parse().unwrap();
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
    let without = browser(&app, &admin_browser, reqwest::Method::PATCH, &path, false)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    expect_error(without, 403, "csrf_failed").await;
    let disabled = browser(&app, &admin_browser, reqwest::Method::PATCH, &path, true)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(disabled.json::<Value>().await.unwrap()["disabled"], true);

    // Her session is gone and her key is refused, at once.
    let me = browser(&app, &b, reqwest::Method::GET, "/api/auth/me", false)
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
    app.credit(b.user_id.parse().unwrap(), "10").await;
    let without = browser(
        &app,
        &b,
        reqwest::Method::POST,
        "/api/playground/key",
        false,
    )
    .send()
    .await
    .unwrap();
    expect_error(without, 403, "csrf_failed").await;

    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for expected_revoked in [0, 1] {
        let response = browser(&app, &b, reqwest::Method::POST, "/api/playground/key", true)
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
    let all: Value = browser(&app, &b, reqwest::Method::GET, "/api/keys", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<_> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("playground"), json!("playground")]);
    let standard: Value = browser(
        &app,
        &b,
        reqwest::Method::GET,
        "/api/keys?kind=standard",
        false,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(standard["data"], json!([]));
    let one: Value = browser(
        &app,
        &b,
        reqwest::Method::GET,
        &format!("/api/keys/{}", ids[1]),
        false,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(one["kind"], "playground");
    assert_eq!(one["revoked_at"], Value::Null);
}

async fn the_models_page_shows_prices_practices_and_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "models@example.com").await;
    let list: Value = browser(&app, &b, reqwest::Method::GET, "/api/models", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
        .put(app.url(&format!("/api/users/{}/data_policy", b.user_id)))
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
    let list: Value = browser(&app, &b, reqwest::Method::GET, "/api/models", false)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let list = get_json(&app, &limited, "/api/models").await;
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(ids, [json!("demo-chat")]);
}

async fn operators_search_and_page_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["zed", "mory", "amory", "bea", "a_b"] {
        app.user_with_key(&format!("{name}@example.com"), json!({}))
            .await;
    }
    let everyone = page_through(&app, &app.admin_key, "/api/admin/users", 2).await;
    assert_eq!(everyone.len(), 6, "five users and the admin");
    let unique: BTreeSet<_> = everyone.iter().collect();
    assert_eq!(unique.len(), 6);
    let found = get_json(&app, &app.admin_key, "/api/admin/users?q=MORY").await;
    let emails: Vec<_> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].clone())
        .collect();
    assert_eq!(
        emails,
        [json!("mory@example.com"), json!("amory@example.com")]
    );
    // `_` is a literal, not LIKE's wildcard.
    let literal = get_json(&app, &app.admin_key, "/api/admin/users?q=a_b").await;
    assert_eq!(literal["data"].as_array().unwrap().len(), 1);
    let user = &found["data"][0];
    assert_eq!(user["balance"]["usd"], "100.00");
    assert_eq!(user["role"], "user");
    assert_eq!(user["disabled"], false);
    assert_eq!(user["last_active_at"], Value::Null);
    let by_id = get_json(
        &app,
        &app.admin_key,
        &format!("/api/admin/users?q={}", user["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(by_id["data"][0]["email"], "mory@example.com");
    // The old list still answers.
    let old = get_json(&app, &app.admin_key, "/api/users").await;
    assert_eq!(old["data"].as_array().unwrap().len(), 6);
}

async fn the_system_view_matches_the_revenue_report(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, _key) = app.user_with_key("sys@example.com", json!({})).await;
    let user: UserId = user.parse().unwrap();
    let now = switchyard_gateway::pipeline_now_millis();
    let rows: Vec<_> = (0..40)
        .map(|i| {
            row(
                now - i * 5_000 - 1,
                user,
                None,
                "demo-chat",
                if i % 4 == 0 { 500 } else { 200 },
            )
        })
        .collect();
    app.store.insert_request_logs(&rows).await.unwrap();
    let stats = get_json(&app, &app.admin_key, "/api/admin/stats?days=3").await;
    let in_minute = rows.iter().filter(|r| r.created_at >= now - 60_000).count();
    assert!(stats["last_minute"]["requests"].as_u64().unwrap() >= in_minute as u64);
    assert_eq!(stats["last_5_minutes"]["requests"], 40);
    assert_eq!(stats["last_5_minutes"]["errors"], 10);
    assert_eq!(stats["last_5_minutes"]["error_rate"], 0.25);
    assert_eq!(stats["latency"]["sample"], 40);
    // Percentiles come from latency buckets: within an eighth of the nearest-rank value.
    let mut latencies: Vec<u64> = rows.iter().map(|r| r.latency_us).collect();
    latencies.sort_unstable();
    for (field, truth) in [("p50_ms", latencies[19]), ("p99_ms", latencies[39])] {
        let got = stats["latency"][field].as_f64().unwrap() * 1000.0;
        let truth = truth as f64;
        assert!(
            (got - truth).abs() <= truth / 8.0,
            "{field}: {got} vs {truth}"
        );
    }
    let days = stats["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    let revenue = get_json(&app, &app.admin_key, "/api/admin/revenue").await;
    let stats_total: i64 = days
        .iter()
        .map(|d| d["revenue"]["nanos"].as_i64().unwrap())
        .sum();
    assert_eq!(json!(stats_total), revenue["total"]["nanos"]);
    assert_eq!(days[2]["requests"], 40);
    assert_eq!(days[2]["errors"], 10);
    assert_eq!(
        days[2]["provider_cost"]["nanos"],
        json!(rows.iter().map(|r| r.provider_cost.0).sum::<i64>())
    );
}
