//! The operator's pages on both stores: searching and paging users, and the system view
//! against the revenue report it must agree with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::usage::{page_through, row};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use switchyard_core::UserId;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    operators_search_and_page_users,
    the_system_view_matches_the_revenue_report,
);

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
    let found = app
        .get_json("/api/admin/users?q=MORY", &app.admin_key)
        .await;
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
    let literal = app.get_json("/api/admin/users?q=a_b", &app.admin_key).await;
    assert_eq!(literal["data"].as_array().unwrap().len(), 1);
    let user = &found["data"][0];
    assert_eq!(user["balance"]["usd"], "100.00");
    assert_eq!(user["role"], "user");
    assert_eq!(user["disabled"], false);
    assert_eq!(user["last_active_at"], Value::Null);
    let by_id = app
        .get_json(
            &format!("/api/admin/users?q={}", user["id"].as_str().unwrap()),
            &app.admin_key,
        )
        .await;
    assert_eq!(by_id["data"][0]["email"], "mory@example.com");
    // The old list still answers.
    let old = app.get_json("/api/users", &app.admin_key).await;
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
    let stats = app
        .get_json("/api/admin/stats?days=3", &app.admin_key)
        .await;
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
    let revenue = app.get_json("/api/admin/revenue", &app.admin_key).await;
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
