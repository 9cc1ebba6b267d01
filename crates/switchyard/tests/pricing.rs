//! Reseller pricing on the real server, both stores: a user pays the provider cost raised by
//! their price group's markup (log row and ledger), reasoning tokens are priced at their own
//! rate, users carry their group through the API, and the margin report adds up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{chat, chat_stream, expect_error, request_id};
use serde_json::{Value, json};
use switchyard_core::ledger::AccountId;
use switchyard_core::log::RequestLog;
use switchyard_core::{Nanos, UserId};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;
use switchyard_testkit::mock::REASONING_TOKENS;

on_both_stores!(
    a_group_with_a_markup_pays_the_provider_cost_raised,
    reasoning_tokens_are_priced_at_the_reasoning_rate,
    the_api_assigns_known_groups_only,
    the_margin_report_adds_up,
);

/// A `resale` group at +25 %, and a model whose upstream thinks (the mock reports
/// `REASONING_TOKENS` for `reasoning-*` models).
const PRICING: &str = r#"
[pricing]
default_group = "default"

[[pricing.groups]]
name = "resale"
markup_bps = 2500

[[models]]
name = "mock-reasoner"
provider = "mock"
upstream_model = "reasoning-mock"
input_usd_per_mtok = 0.16
output_usd_per_mtok = 0.64
reasoning_usd_per_mtok = 2
"#;

/// A user in `group` (the default without one) with $10 and a key.
async fn user_in(app: &TestApp, email: &str, group: Option<&str>) -> (UserId, String) {
    let mut body = json!({"email": email});
    if let Some(group) = group {
        body["group"] = json!(group);
    }
    let response = app.post("/api/users", &app.admin_key, &body).await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["group"], group.unwrap_or("default"), "{user}");
    let id: UserId = user["id"].as_str().unwrap().parse().unwrap();
    let key = app.create_key(json!({"user_id": id.to_string()})).await;
    app.credit(id, "10").await;
    (id, key["key"].as_str().unwrap().to_owned())
}

/// mock-chat's provider cost of a row in nano-USD: 0.15 and 0.60 USD per million tokens are
/// 150 and 600 nanos per token, exactly.
fn mock_chat_cost(row: &RequestLog) -> i64 {
    (row.prompt_tokens * 150 + row.completion_tokens * 600) as i64
}

/// `ceil(nanos × 1.25)`.
fn plus_25_percent(nanos: i64) -> i64 {
    (nanos * 5 + 3) / 4
}

/// What the ledger took from `user` for `request`: its settlement and any overage.
async fn charged_in_ledger(app: &TestApp, user: UserId, request: &str) -> Nanos {
    app.gateway().flushed().await;
    let entries = app
        .store
        .transfers_of(&AccountId::user(user), None, 100)
        .await
        .unwrap();
    let settle = format!("settle:{request}");
    let over = format!("over:{request}");
    let moved: Vec<_> = entries
        .into_iter()
        .map(|e| e.transfer)
        .filter(|t| t.id == settle || t.id == over)
        .collect();
    assert!(
        moved.iter().any(|t| t.id == settle),
        "request {request} settled: {moved:?}"
    );
    moved
        .iter()
        .inspect(|t| assert_eq!(t.debit, AccountId::user(user)))
        .fold(Nanos::ZERO, |sum, t| sum + t.amount)
}

async fn a_group_with_a_markup_pays_the_provider_cost_raised(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICING).await;
    let (reseller, reseller_key) = user_in(&app, "resale@example.com", Some("resale")).await;
    let (plain, plain_key) = user_in(&app, "plain@example.com", None).await;

    for (body, what) in [
        (chat("mock-chat", "price this answer please"), "whole"),
        (
            chat_stream("mock-chat", "price this streamed answer please"),
            "stream",
        ),
    ] {
        let response = app.post("/v1/chat/completions", &reseller_key, &body).await;
        assert_eq!(response.status(), 200, "{what}");
        let id = request_id(&response);
        response.text().await.unwrap();
        let row = app.log_row(&id).await;
        let provider = mock_chat_cost(&row);
        assert!(provider > 0, "{what}: {row:?}");
        assert_eq!(row.provider_cost, Nanos(provider), "{what}");
        assert_eq!(row.cost, Nanos(plus_25_percent(provider)), "{what}");
        assert!(row.cost > row.provider_cost, "{what}");
        assert_eq!(
            charged_in_ledger(&app, reseller, &id).await,
            row.cost,
            "{what}: the ledger settles the charge, not the provider cost"
        );
    }

    let response = app
        .post(
            "/v1/chat/completions",
            &plain_key,
            &chat("mock-chat", "price this answer please"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let row = app.log_row(&id).await;
    assert_eq!(row.provider_cost, Nanos(mock_chat_cost(&row)));
    assert_eq!(
        row.cost, row.provider_cost,
        "the default group has no markup"
    );
    assert_eq!(charged_in_ledger(&app, plain, &id).await, row.cost);
    app.shutdown().await;
}

async fn reasoning_tokens_are_priced_at_the_reasoning_rate(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICING).await;
    let (user, key) = user_in(&app, "thinker@example.com", None).await;
    let response = app
        .post(
            "/v1/chat/completions",
            &key,
            &chat("mock-reasoner", "think about this"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let row = app.log_row(&id).await;
    assert_eq!(row.reasoning_tokens, REASONING_TOKENS);
    assert!(row.completion_tokens > REASONING_TOKENS, "{row:?}");
    // 0.16, 0.64 and 2 USD per million tokens: 160, 640 and 2,000 nanos per token.
    let visible = row.completion_tokens - REASONING_TOKENS;
    let expected = row.prompt_tokens * 160 + visible * 640 + REASONING_TOKENS * 2_000;
    assert_eq!(row.provider_cost, Nanos(expected as i64));
    assert_eq!(row.cost, row.provider_cost);
    assert_eq!(charged_in_ledger(&app, user, &id).await, row.cost);
    app.shutdown().await;
}

async fn the_api_assigns_known_groups_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICING).await;
    let response = app
        .post(
            "/api/users",
            &app.admin_key,
            &json!({"email": "vip@example.com", "group": "vip"}),
        )
        .await;
    let error = expect_error(response, 400, "invalid_request").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`vip`") && message.contains("default, resale"),
        "{message}"
    );
    assert!(
        app.store
            .user_by_email("vip@example.com")
            .await
            .unwrap()
            .is_none(),
        "nothing created"
    );
    let (reseller, _) = user_in(&app, "resale@example.com", Some("resale")).await;
    let list: Value = app
        .client
        .get(app.url("/api/users"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u["group"].as_str().unwrap()))
        .collect();
    assert!(
        groups.contains(&(reseller.to_string().as_str(), "resale")),
        "{list}"
    );
    assert!(
        groups.iter().filter(|(_, g)| *g == "default").count() == 1,
        "the bootstrap admin is in the default group: {list}"
    );

    // Moving a user: unknown groups and users are refused; the next request pays the new markup.
    let (mover, mover_key) = user_in(&app, "mover@example.com", None).await;
    let put = |user: String, body: Value| {
        app.client
            .put(app.url(&format!("/api/admin/users/{user}/group")))
            .bearer_auth(&app.admin_key)
            .json(&body)
            .send()
    };
    let response = put(mover.to_string(), json!({"group": "vip"}))
        .await
        .unwrap();
    expect_error(response, 400, "invalid_request").await;
    let response = put(UserId::new().to_string(), json!({"group": "resale"}))
        .await
        .unwrap();
    expect_error(response, 404, "resource_not_found").await;
    let response = put(mover.to_string(), json!({"group": "resale"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(moved["group"], "resale", "{moved}");
    let response = app
        .post(
            "/v1/chat/completions",
            &mover_key,
            &chat("mock-chat", "after the move"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let row = app.log_row(&request_id(&response)).await;
    assert_eq!(row.provider_cost, Nanos(mock_chat_cost(&row)));
    assert_eq!(row.cost, Nanos(plus_25_percent(mock_chat_cost(&row))));
    let response = put(mover.to_string(), json!({"group": null}))
        .await
        .unwrap();
    let back: Value = response.json().await.unwrap();
    assert_eq!(back["group"], "default", "{back}");
    app.shutdown().await;
}

async fn the_margin_report_adds_up(backend: Backend) {
    let app = TestApp::spawn_with(backend, PRICING).await;
    let (_, reseller_key) = user_in(&app, "resale@example.com", Some("resale")).await;
    let (_, plain_key) = user_in(&app, "plain@example.com", None).await;
    let mut rows = Vec::new();
    for (key, model) in [
        (&reseller_key, "mock-chat"),
        (&reseller_key, "mock-chat"),
        (&reseller_key, "mock-reasoner"),
        (&plain_key, "mock-chat"),
    ] {
        let response = app
            .post("/v1/chat/completions", key, &chat(model, "hello margin"))
            .await;
        assert_eq!(response.status(), 200);
        rows.push(app.log_row(&request_id(&response)).await);
    }
    app.gateway().flushed().await;
    let get = |key: &str, query: &str| {
        app.client
            .get(app.url(&format!("/api/admin/margin{query}")))
            .bearer_auth(key)
            .send()
    };
    let report: Value = get(&app.admin_key, "").await.unwrap().json().await.unwrap();
    let sum = |model: Option<&str>, field: fn(&RequestLog) -> Nanos| {
        rows.iter()
            .filter(|r| model.is_none_or(|m| r.model == m))
            .fold(Nanos::ZERO, |s, r| s + field(r))
    };
    let (charged, provider) = (sum(None, |r| r.cost), sum(None, |r| r.provider_cost));
    assert!(charged > provider, "the reseller's markup is a margin");
    let total = &report["total"];
    assert_eq!(total["requests"], 4, "{report}");
    assert_eq!(total["charged"]["nanos"], charged.0, "{report}");
    assert_eq!(total["provider_cost"]["nanos"], provider.0, "{report}");
    assert_eq!(total["margin"]["nanos"], (charged - provider).0, "{report}");
    assert_eq!(
        total["margin"]["usd"],
        (charged - provider).to_string(),
        "{report}"
    );
    let data = report["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "one row per model today: {report}");
    for line in data {
        let model = line["model"].as_str().unwrap();
        let requests = rows.iter().filter(|r| r.model == model).count();
        assert_eq!(line["requests"], requests, "{line}");
        let (c, p) = (
            sum(Some(model), |r| r.cost),
            sum(Some(model), |r| r.provider_cost),
        );
        assert_eq!(line["charged"]["nanos"], c.0, "{line}");
        assert_eq!(line["provider_cost"]["nanos"], p.0, "{line}");
        assert_eq!(line["margin"]["nanos"], (c - p).0, "{line}");
        assert_eq!(line["day"], report["to"], "today: {line}");
    }
    // Admin only, and the range is checked.
    let response = get(&reseller_key, "").await.unwrap();
    expect_error(response, 403, "admin_required").await;
    let response = get(&app.admin_key, "?from=2026-02-01&to=2026-01-01")
        .await
        .unwrap();
    expect_error(response, 400, "invalid_request").await;
    let empty: Value = get(&app.admin_key, "?from=2020-01-01&to=2020-01-31")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty["total"]["requests"], 0, "{empty}");
    app.shutdown().await;
}
