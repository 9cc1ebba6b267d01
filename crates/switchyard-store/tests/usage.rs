//! The usage pages' store queries on both backends: the daily rollup stays equal to the log it
//! sums (across batches, retried batches and overlapping ones), and so do the per-minute
//! traffic table and the spend counters; keyset pages are gapless, and
//! every filter shape of a usage page is answered from an index in index order.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use switchyard_core::catalog::Role;
use switchyard_core::limits::{Scope, Window, period};
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
use switchyard_store::{
    Backend, DAY_MS, MINUTE_MS, Session, StatusClass, Store, UsageCursor, UsageFilter, UserChange,
    latency_bucket,
};

both!(
    the_rollup_equals_the_sums_of_the_log,
    pages_are_gapless_under_colliding_timestamps,
    every_usage_filter_is_index_served,
    disabling_a_user_ends_their_sessions_and_bumps_the_generation,
);

fn row(i: i64, user: UserId, key: Option<KeyId>) -> RequestLog {
    RequestLog {
        id: RequestId::new(),
        created_at: 1_700_000_000_000 + (i % 97) * 3_600_000 + i % 5,
        user_id: Some(user),
        key_id: key,
        endpoint: "chat.completions".into(),
        model: ["a", "b", "c"][(i % 3) as usize].into(),
        provider: Some("demo".into()),
        upstream_model: None,
        channel: None,
        jurisdiction: None,
        stream: false,
        prompt_tokens: (i % 11) as u64 * 10,
        completion_tokens: (i % 7) as u64,
        cached_tokens: (i % 2) as u64,
        reasoning_tokens: (i % 3) as u64,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_000 + i),
        provider_cost: Nanos(500 + i),
        latency_us: 1_000 + i as u64,
        ttft_us: None,
        status: if i % 9 == 0 { 500 } else { 200 },
        error_code: None,
        client_ip: None,
    }
}

async fn the_rollup_equals_the_sums_of_the_log(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.com", Role::User)
        .await
        .unwrap();
    let key = Some(KeyId::new());
    let rows: Vec<_> = (0..600)
        .map(|i| {
            row(
                i,
                if i % 4 == 0 { bob.id } else { ann.id },
                key.filter(|_| i % 2 == 0),
            )
        })
        .collect();
    // Three batches, the middle one written twice (a retry) and a last one overlapping it.
    store.insert_request_logs(&rows[..250]).await.unwrap();
    store.insert_request_logs(&rows[250..400]).await.unwrap();
    store.insert_request_logs(&rows[250..400]).await.unwrap();
    store.insert_request_logs(&rows[300..]).await.unwrap();
    for user in [ann.id, bob.id] {
        let mut expected: BTreeMap<i64, (i64, i64, i64, i64, i64)> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.user_id == Some(user)) {
            let e = expected.entry(r.created_at / DAY_MS).or_default();
            e.0 += 1;
            e.1 += i64::from(r.status >= 400);
            e.2 += r.prompt_tokens as i64;
            e.3 += r.cost.0;
            e.4 += r.provider_cost.0;
        }
        let days = store
            .usage_days(Some(user), 0, i64::MAX / DAY_MS)
            .await
            .unwrap();
        let got: BTreeMap<i64, (i64, i64, i64, i64, i64)> = days
            .iter()
            .map(|d| {
                (
                    d.day,
                    (
                        d.requests,
                        d.errors,
                        d.prompt_tokens,
                        d.cost.0,
                        d.provider_cost.0,
                    ),
                )
            })
            .collect();
        assert_eq!(got, expected);
    }
    let everyone: i64 = store
        .usage_days(None, 0, i64::MAX / DAY_MS)
        .await
        .unwrap()
        .iter()
        .map(|d| d.requests)
        .sum();
    assert_eq!(everyone, 600);
    let top = store
        .top_models(Some(ann.id), 0, i64::MAX / DAY_MS, 2)
        .await
        .unwrap();
    assert_eq!(top.len(), 2);
    assert!(top[0].cost >= top[1].cost);
    // The traffic table counts the same rows, per minute and latency bucket.
    let cells = store.traffic_since(0).await.unwrap();
    assert_eq!(cells.iter().map(|c| c.requests).sum::<i64>(), 600);
    let errors = rows.iter().filter(|r| r.status >= 400).count();
    assert_eq!(cells.iter().map(|c| c.errors).sum::<i64>(), errors as i64);
    for cell in &cells {
        let counted = rows
            .iter()
            .filter(|r| {
                r.created_at.div_euclid(MINUTE_MS) == cell.minute
                    && latency_bucket(r.latency_us) == cell.bucket
            })
            .count();
        assert_eq!(cell.requests, counted as i64, "{cell:?}");
    }
    // The spend counters of keys and users count every row once too, in each period.
    let mut expected: BTreeMap<(Scope, String, String), i64> = BTreeMap::new();
    for r in &rows {
        let owners = [
            r.key_id.map(|k| (Scope::Key, k.to_string())),
            r.user_id.map(|u| (Scope::User, u.to_string())),
        ];
        for (scope, owner) in owners.into_iter().flatten() {
            for window in Window::ALL {
                let label = period(window, r.created_at).label;
                *expected.entry((scope, owner.clone(), label)).or_default() += r.cost.0;
            }
        }
    }
    let mut labels: Vec<String> = expected.keys().map(|(_, _, l)| l.clone()).collect();
    labels.sort();
    labels.dedup();
    let got: BTreeMap<(Scope, String, String), i64> = store
        .spend_counters(&labels)
        .await
        .unwrap()
        .into_iter()
        .map(|c| ((c.scope, c.owner, c.period), c.spent.0))
        .collect();
    assert_eq!(got, expected);
}

async fn pages_are_gapless_under_colliding_timestamps(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let mut rows: Vec<_> = (0..200).map(|i| row(i % 10, ann.id, None)).collect();
    store.insert_request_logs(&rows).await.unwrap();
    rows.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id.to_string())));
    let filter = UsageFilter {
        user: ann.id,
        key: None,
        model: None,
        status: None,
        from: None,
        to: None,
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.usage_page(&filter, after, 7).await.unwrap();
        seen.extend(page.iter().map(|e| e.log.id));
        match page.last() {
            Some(last) if page.len() == 7 => {
                after = Some(UsageCursor {
                    created_at: last.log.created_at,
                    id: last.log.id,
                });
            }
            _ => break,
        }
    }
    assert_eq!(seen, rows.iter().map(|r| r.id).collect::<Vec<_>>());
}

async fn every_usage_filter_is_index_served(store: Store) {
    // Many users, so the planners' statistics see `user_id` as the selective column it is.
    let mut users = Vec::new();
    for n in 0..50 {
        users.push(
            store
                .create_user(&format!("u{n}@example.com"), Role::User)
                .await
                .unwrap(),
        );
    }
    let ann = users[0].clone();
    let rows: Vec<_> = (0..4_000)
        .map(|i| row(i, users[(i % 50) as usize].id, Some(KeyId::new())))
        .collect();
    store.insert_request_logs(&rows).await.unwrap();
    store.gather_statistics().await.unwrap();
    let two_days = (rows[0].created_at + DAY_MS, rows[0].created_at + 3 * DAY_MS);
    let base = UsageFilter {
        user: ann.id,
        key: None,
        model: None,
        status: None,
        from: None,
        to: None,
    };
    let cursor = Some(UsageCursor {
        created_at: rows[10].created_at,
        id: rows[10].id,
    });
    let mut shapes = Vec::new();
    for key in [None, Some(KeyId::new())] {
        for model in [None, Some("a".to_owned())] {
            for status in [None, Some(StatusClass::Ok), Some(StatusClass::Error)] {
                for (from, to) in [(None, None), (Some(two_days.0), Some(two_days.1))] {
                    for after in [None, cursor] {
                        shapes.push((
                            UsageFilter {
                                key,
                                model: model.clone(),
                                status,
                                from,
                                to,
                                ..base.clone()
                            },
                            after,
                        ));
                    }
                }
            }
        }
    }
    for (filter, after) in &shapes {
        let plan = store.explain_usage_page(filter, *after).await.unwrap();
        match store.backend() {
            Backend::Sqlite => {
                assert!(
                    plan.contains("USING INDEX request_logs_user")
                        || plan.contains("USING COVERING INDEX request_logs_user"),
                    "{filter:?}: {plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "no sort: {filter:?}: {plan}");
            }
            Backend::Postgres => {
                assert!(plan.contains("request_logs_user"), "{filter:?}: {plan}");
                assert!(
                    !plan.contains("Seq Scan on request_logs"),
                    "{filter:?}: {plan}"
                );
                assert!(!plan.contains("Sort"), "no sort: {filter:?}: {plan}");
            }
        }
        // Which index serves a combination of filters is the planner's call (each is in
        // order, none sorts); a single filter must meet the index made for it.
        let error = filter.status == Some(StatusClass::Error);
        let wanted = match (filter.key.is_some(), filter.model.is_some(), error) {
            (true, false, false) => "request_logs_user_key_page",
            (false, true, false) => "request_logs_user_model_page",
            (false, false, true) => "request_logs_user_error_page",
            (true, true, _) => "request_logs_user_key_model_page",
            _ => continue,
        };
        if filter.from.is_none() && after.is_none() {
            assert!(plan.contains(wanted), "{filter:?}: {plan}");
        }
    }
}

async fn disabling_a_user_ends_their_sessions_and_bumps_the_generation(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let session = Session {
        id_hash: [7; 32],
        user_id: ann.id,
        csrf_token: "csrf".into(),
        created_at: 1_000,
        last_seen_at: 1_000,
        expires_at: i64::MAX,
    };
    store.insert_session(&session, 0).await.unwrap();
    // A role change alone keeps the session.
    let promote_only = UserChange {
        disabled: None,
        role: Some(Role::User),
    };
    assert!(store.change_user(ann.id, promote_only).await.unwrap());
    assert!(store.session(&[7; 32]).await.unwrap().is_some());
    let before = store.generation().await.unwrap();
    let change = UserChange {
        disabled: Some(true),
        role: None,
    };
    assert!(store.change_user(ann.id, change).await.unwrap());
    assert!(store.generation().await.unwrap() > before);
    assert_eq!(store.session(&[7; 32]).await.unwrap(), None, "sessions end");
    let ann = store.user_by_id(ann.id).await.unwrap().unwrap();
    assert!(ann.disabled);
    assert_eq!(ann.role, Role::User);
    let promote = UserChange {
        disabled: Some(false),
        role: Some(Role::Admin),
    };
    assert!(store.change_user(ann.id, promote).await.unwrap());
    let ann = store.user_by_id(ann.id).await.unwrap().unwrap();
    assert!(!ann.disabled);
    assert_eq!(ann.role, Role::Admin);
    assert!(!store.change_user(UserId::new(), change).await.unwrap());
    let found = store.search_users(Some("ANN"), None, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].balance, Nanos(0));
}
