//! The store's behaviour, written once and run against both backends: `suite!` turns each test
//! below into `sqlite::NAME` and `postgres::NAME`, each on its own fresh database.

// A failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use switchyard_core::catalog::{KeyRecord, Role};
use switchyard_core::log::RequestLog;
use switchyard_core::routing::DataPolicy;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, LogFilter, Store, StoreError};

/// `fresh`: tests that get a connected but unmigrated store; `migrated`: a migrated one.
macro_rules! suite {
    (fresh: [$($fresh:ident),* $(,)?], migrated: [$($migrated:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            suite!(@backend Sqlite, [$($fresh),*], [$($migrated),*]);
        }
        mod postgres {
            suite!(@backend Postgres, [$($fresh),*], [$($migrated),*]);
        }
    };
    (@backend $backend:ident, [$($fresh:ident),*], [$($migrated:ident),*]) => {
        $(
            #[tokio::test]
            async fn $fresh() {
                super::run(super::Backend::$backend, false, super::$fresh).await;
            }
        )*
        $(
            #[tokio::test]
            async fn $migrated() {
                super::run(super::Backend::$backend, true, super::$migrated).await;
            }
        )*
    };
}

suite!(
    fresh: [migrate_twice_is_a_no_op, ready_only_after_migrating],
    migrated: [
        users_are_created_and_found,
        duplicate_email_in_any_case_conflicts,
        keys_are_inserted_listed_and_revoked,
        key_conflicts_and_missing_owner,
        allowed_models_round_trip,
        data_policies_round_trip,
        setting_a_data_policy_bumps_the_generation,
        generation_counts_access_writes_only,
        concurrent_writers_all_succeed,
        load_access_returns_everything,
        request_logs_batch_insert_and_filters,
        request_log_batches_are_idempotent,
        request_log_values_round_trip_exactly,
        request_log_routing_columns_round_trip,
        dump_text_shows_what_is_stored_and_nothing_else,
    ],
);

async fn run<F, Fut>(backend: Backend, migrate: bool, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::create(backend).await;
    let store = if migrate {
        db.store().await
    } else {
        Store::connect(&db.url).await.unwrap()
    };
    assert_eq!(store.backend(), backend);
    test(store.clone()).await;
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Fixtures

fn key_for(user: UserId, created_at: i64, hash_seed: u8) -> KeyRecord {
    KeyRecord {
        id: KeyId::new(),
        user_id: user,
        name: format!("key {hash_seed}"),
        visible_prefix: "sk-sy-abcdef".into(),
        hash: [hash_seed; 32],
        created_at,
        expires_at: None,
        revoked_at: None,
        allowed_models: None,
        data_policy: Default::default(),
        log_content: false,
    }
}

fn log_row(created_at: i64, user: Option<UserId>, key: Option<KeyId>, model: &str) -> RequestLog {
    RequestLog {
        id: RequestId::new(),
        created_at,
        user_id: user,
        key_id: key,
        endpoint: "chat.completions".into(),
        model: model.into(),
        provider: Some("demo".into()),
        upstream_model: Some(model.into()),
        channel: None,
        jurisdiction: None,
        stream: false,
        prompt_tokens: 10,
        completion_tokens: 20,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_234),
        provider_cost: Nanos(987),
        latency_us: 5_000,
        ttft_us: None,
        status: 200,
        error_code: None,
        client_ip: Some("127.0.0.1".into()),
    }
}

fn filter() -> LogFilter {
    LogFilter {
        limit: 10_000,
        ..LogFilter::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Schema and readiness

async fn migrate_twice_is_a_no_op(store: Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.check_ready().await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert_eq!(store.count_request_logs().await.unwrap(), 0);
    assert_eq!(store.generation().await.unwrap(), 0);
}

async fn ready_only_after_migrating(store: Store) {
    match store.check_ready().await {
        Err(StoreError::MigrationsPending { pending }) => assert!(pending >= 1),
        other => panic!("expected MigrationsPending, got {other:?}"),
    }
    store.migrate().await.unwrap();
    store.check_ready().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Users

async fn users_are_created_and_found(store: Store) {
    let ann = store
        .create_user("  Ann@Example.ORG ", Role::Admin)
        .await
        .unwrap();
    assert_eq!(ann.email, "ann@example.org");
    assert_eq!(ann.role, Role::Admin);
    assert!(!ann.disabled);
    let bob = store
        .create_user("bob@example.org", Role::User)
        .await
        .unwrap();

    assert_eq!(
        store.user_by_email("ANN@example.org").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.user_by_id(UserId::new()).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("nobody@example.org").await.unwrap(),
        None
    );
    assert_eq!(store.list_users().await.unwrap(), vec![ann, bob]);
    assert_eq!(store.count_users().await.unwrap(), 2);
}

async fn duplicate_email_in_any_case_conflicts(store: Store) {
    store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    let err = store
        .create_user(" ANN@Example.org", Role::Admin)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(err.to_string().contains("email"), "{err}");
    assert_eq!(store.count_users().await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Keys

async fn keys_are_inserted_listed_and_revoked(store: Store) {
    let ann = store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.org", Role::User)
        .await
        .unwrap();
    let old = key_for(ann.id, 1_000, 1);
    let new = key_for(ann.id, 2_000, 2);
    let bobs = key_for(bob.id, 1_500, 3);
    for key in [&old, &new, &bobs] {
        store.insert_key(key).await.unwrap();
    }

    assert_eq!(store.key_by_id(old.id).await.unwrap(), Some(old.clone()));
    assert_eq!(store.key_by_id(KeyId::new()).await.unwrap(), None);
    assert_eq!(
        store.list_keys(None).await.unwrap(),
        vec![new.clone(), bobs.clone(), old.clone()],
        "newest first"
    );
    assert_eq!(
        store.list_keys(Some(ann.id)).await.unwrap(),
        vec![new.clone(), old.clone()]
    );
    assert_eq!(store.list_keys(Some(UserId::new())).await.unwrap(), vec![]);

    assert!(store.revoke_key(old.id, 5_000).await.unwrap());
    assert!(
        store.revoke_key(old.id, 9_000).await.unwrap(),
        "revoking again still finds the key"
    );
    let revoked = store.key_by_id(old.id).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(5_000),
        "the first revocation is kept"
    );
    assert_eq!(
        store.key_by_id(new.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert!(!store.revoke_key(KeyId::new(), 5_000).await.unwrap());
}

async fn key_conflicts_and_missing_owner(store: Store) {
    let ann = store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    let key = key_for(ann.id, 1_000, 7);
    store.insert_key(&key).await.unwrap();

    let same_hash = key_for(ann.id, 2_000, 7);
    let err = store.insert_key(&same_hash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    let orphan = key_for(UserId::new(), 2_000, 8);
    let err = store.insert_key(&orphan).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.list_keys(None).await.unwrap(), vec![key]);
}

async fn allowed_models_round_trip(store: Store) {
    let ann = store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    let cases = [
        None,
        Some(vec![]),
        Some(vec![
            "gpt-4o-mini".to_owned(),
            "odd \"name\", with ,[] ü".to_owned(),
        ]),
    ];
    for (i, allowed_models) in cases.into_iter().enumerate() {
        let key = KeyRecord {
            allowed_models,
            expires_at: Some(i64::MAX),
            ..key_for(ann.id, 1_000, i as u8)
        };
        store.insert_key(&key).await.unwrap();
        assert_eq!(store.key_by_id(key.id).await.unwrap(), Some(key));
    }
}

fn eu_no_training() -> DataPolicy {
    DataPolicy {
        jurisdictions: Some(vec!["EU".into(), "US".into()]),
        no_training: true,
        ..DataPolicy::default()
    }
}

fn every_requirement() -> DataPolicy {
    DataPolicy {
        jurisdictions: Some(vec![]),
        no_training: true,
        no_retention: true,
        zdr: true,
    }
}

async fn data_policies_round_trip(store: Store) {
    let ann = store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    assert_eq!(ann.data_policy, DataPolicy::default());

    // Keys are stored with their policy; an open one, a narrow one and one that requires all.
    let cases = [DataPolicy::default(), eu_no_training(), every_requirement()];
    for (i, data_policy) in cases.into_iter().enumerate() {
        let key = KeyRecord {
            data_policy,
            ..key_for(ann.id, 1_000 + i as i64, i as u8)
        };
        store.insert_key(&key).await.unwrap();
        assert_eq!(store.key_by_id(key.id).await.unwrap(), Some(key));
    }

    // An account's policy, read back by every way of reading users.
    assert!(
        store
            .set_user_data_policy(ann.id, &eu_no_training())
            .await
            .unwrap()
    );
    let stored = store.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(stored.data_policy, eu_no_training());
    assert_eq!(
        store.user_by_email("ann@example.org").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(store.list_users().await.unwrap(), vec![stored.clone()]);
    let access = store.load_access().await.unwrap();
    assert_eq!(access.users, vec![stored]);
    assert_eq!(access.keys, store.list_keys(Some(ann.id)).await.unwrap());

    // A key's policy is replaced, then opened again.
    let key = access.keys[0].clone();
    assert_eq!(key.data_policy, every_requirement());
    assert!(
        store
            .set_key_data_policy(key.id, &eu_no_training())
            .await
            .unwrap()
    );
    assert_eq!(
        store.key_by_id(key.id).await.unwrap().unwrap().data_policy,
        eu_no_training()
    );
    assert!(
        store
            .set_key_data_policy(key.id, &DataPolicy::default())
            .await
            .unwrap()
    );
    assert_eq!(
        store.key_by_id(key.id).await.unwrap(),
        Some(KeyRecord {
            data_policy: DataPolicy::default(),
            ..key
        })
    );
    assert!(
        store
            .set_user_data_policy(ann.id, &DataPolicy::default())
            .await
            .unwrap()
    );
    assert_eq!(
        store.user_by_id(ann.id).await.unwrap().unwrap().data_policy,
        DataPolicy::default()
    );

    // Unknown ids change nothing.
    assert!(
        !store
            .set_user_data_policy(UserId::new(), &eu_no_training())
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_key_data_policy(KeyId::new(), &eu_no_training())
            .await
            .unwrap()
    );
}

async fn setting_a_data_policy_bumps_the_generation(store: Store) {
    let ann = store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    let key = key_for(ann.id, 1_000, 1);
    store.insert_key(&key).await.unwrap();

    let g0 = store.generation().await.unwrap();
    store
        .set_user_data_policy(ann.id, &eu_no_training())
        .await
        .unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0, "setting an account's policy bumps the generation");
    store
        .set_key_data_policy(key.id, &every_requirement())
        .await
        .unwrap();
    let g2 = store.generation().await.unwrap();
    assert!(g2 > g1, "setting a key's policy bumps the generation");
}

// ---------------------------------------------------------------------------------------------
// Snapshot support

async fn generation_counts_access_writes_only(store: Store) {
    let g0 = store.generation().await.unwrap();
    let ann = store
        .create_user("ann@example.org", Role::User)
        .await
        .unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0, "creating a user bumps the generation");

    let key = key_for(ann.id, 1_000, 1);
    store.insert_key(&key).await.unwrap();
    let g2 = store.generation().await.unwrap();
    assert!(g2 > g1, "inserting a key bumps the generation");

    store.revoke_key(key.id, 2_000).await.unwrap();
    let g3 = store.generation().await.unwrap();
    assert!(g3 > g2, "revoking a key bumps the generation");

    // Nothing changes, so readers need not reload.
    store.revoke_key(key.id, 3_000).await.unwrap();
    store.revoke_key(KeyId::new(), 3_000).await.unwrap();
    store
        .create_user("ANN@example.org", Role::User)
        .await
        .unwrap_err();
    store
        .insert_request_logs(&[log_row(1, Some(ann.id), Some(key.id), "m")])
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), g3);
}

async fn concurrent_writers_all_succeed(store: Store) {
    let g0 = store.generation().await.unwrap();
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let user = store
                    .create_user(&format!("user{i}@example.org"), Role::User)
                    .await?;
                store
                    .insert_request_logs(&[log_row(i, Some(user.id), None, "m")])
                    .await?;
                store.insert_key(&key_for(user.id, i, i as u8)).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    assert_eq!(store.count_users().await.unwrap(), 20);
    assert_eq!(store.count_request_logs().await.unwrap(), 20);
    assert_eq!(store.generation().await.unwrap(), g0 + 40);
}

async fn load_access_returns_everything(store: Store) {
    assert_eq!(store.load_access().await.unwrap().users, vec![]);
    let ann = store
        .create_user("ann@example.org", Role::Admin)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.org", Role::User)
        .await
        .unwrap();
    let k1 = key_for(ann.id, 1_000, 1);
    let k2 = KeyRecord {
        revoked_at: Some(3_000),
        allowed_models: Some(vec!["a".into()]),
        ..key_for(bob.id, 2_000, 2)
    };
    store.insert_key(&k1).await.unwrap();
    store.insert_key(&k2).await.unwrap();

    let access = store.load_access().await.unwrap();
    assert_eq!(access.users, store.list_users().await.unwrap());
    assert_eq!(access.users.len(), 2);
    assert_eq!(access.keys, vec![k2, k1]);
}

// ---------------------------------------------------------------------------------------------
// Request log

async fn request_logs_batch_insert_and_filters(store: Store) {
    let users = [UserId::new(), UserId::new()];
    let keys = [KeyId::new(), KeyId::new(), KeyId::new()];
    let models = ["alpha", "beta", "gamma", "delta", "epsilon"];
    // 2,500 rows: more than one INSERT statement holds, so the batch is split.
    let rows: Vec<RequestLog> = (0..2_500)
        .map(|i| {
            let i64_i = i64::try_from(i).unwrap();
            log_row(
                1_700_000_000_000 + i64_i,
                Some(users[i % 2]),
                Some(keys[i % 3]),
                models[i % 5],
            )
        })
        .collect();
    store.insert_request_logs(&rows).await.unwrap();
    assert_eq!(store.count_request_logs().await.unwrap(), 2_500);

    let count = |f: LogFilter| {
        let store = store.clone();
        async move { store.list_request_logs(&f).await.unwrap().len() }
    };
    assert_eq!(count(filter()).await, 2_500);
    let by_user = LogFilter {
        user: Some(users[1]),
        ..filter()
    };
    assert_eq!(count(by_user.clone()).await, 1_250);
    let by_key = LogFilter {
        key: Some(keys[0]),
        ..filter()
    };
    assert_eq!(count(by_key).await, 834);
    let by_model = LogFilter {
        model: Some("gamma".into()),
        ..filter()
    };
    assert_eq!(count(by_model).await, 500);
    // i % 2 == 1 and i % 5 == 2: i ≡ 7 (mod 10).
    let combined = LogFilter {
        model: Some("gamma".into()),
        ..by_user
    };
    assert_eq!(count(combined).await, 250);
    let unknown = LogFilter {
        model: Some("no-such-model".into()),
        ..filter()
    };
    assert_eq!(count(unknown).await, 0);

    let one = store
        .list_request_logs(&LogFilter {
            request_id: Some(rows[1_234].id),
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(one, vec![rows[1_234].clone()]);

    let default_limit = store
        .list_request_logs(&LogFilter::default())
        .await
        .unwrap();
    assert_eq!(default_limit.len(), 100, "limit 0 means 100");
    let newest: Vec<RequestLog> = rows.iter().rev().take(100).cloned().collect();
    assert_eq!(default_limit, newest, "newest first");

    let seven = store
        .list_request_logs(&LogFilter {
            limit: 7,
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(seven, newest[..7]);
}

async fn request_log_batches_are_idempotent(store: Store) {
    let batch: Vec<RequestLog> = (0..50).map(|i| log_row(i, None, None, "m")).collect();
    store.insert_request_logs(&batch).await.unwrap();
    store.insert_request_logs(&batch).await.unwrap();
    assert_eq!(store.count_request_logs().await.unwrap(), 50);

    // A retried batch that overlaps a newer one keeps the new rows and skips the old.
    let mut overlapping = batch[25..].to_vec();
    overlapping.push(log_row(100, None, None, "m"));
    store.insert_request_logs(&overlapping).await.unwrap();
    assert_eq!(store.count_request_logs().await.unwrap(), 51);

    store.insert_request_logs(&[]).await.unwrap();
    assert_eq!(store.count_request_logs().await.unwrap(), 51);
}

async fn request_log_values_round_trip_exactly(store: Store) {
    let max = i64::MAX.unsigned_abs();
    let extreme = RequestLog {
        stream: true,
        prompt_tokens: max,
        completion_tokens: max - 1,
        cached_tokens: 0,
        reasoning_tokens: 1 << 62,
        usage_source: UsageSource::Estimated,
        cost: Nanos(i64::MIN),
        latency_us: max,
        ttft_us: Some(0),
        status: u16::MAX,
        error_code: Some("upstream_timeout".into()),
        provider: None,
        upstream_model: None,
        client_ip: None,
        ..log_row(i64::MIN, None, None, "ünïcode \"model\"")
    };
    let negative = RequestLog {
        cost: Nanos(-123_456_789_012),
        ttft_us: Some(max),
        ..log_row(-1, Some(UserId::new()), Some(KeyId::new()), "m")
    };
    let large = RequestLog {
        cost: Nanos(i64::MAX),
        ..log_row(i64::MAX, None, None, "m")
    };
    let rows = vec![extreme, negative, large];
    store.insert_request_logs(&rows).await.unwrap();
    for row in &rows {
        let stored = store
            .list_request_logs(&LogFilter {
                request_id: Some(row.id),
                ..LogFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(stored, vec![row.clone()]);
    }

    // Beyond i64::MAX a counter saturates instead of wrapping negative (see request_log.rs).
    let beyond = RequestLog {
        prompt_tokens: u64::MAX,
        ..log_row(0, None, None, "m")
    };
    store
        .insert_request_logs(std::slice::from_ref(&beyond))
        .await
        .unwrap();
    let stored = store
        .list_request_logs(&LogFilter {
            request_id: Some(beyond.id),
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(stored[0].prompt_tokens, max);
}

async fn request_log_routing_columns_round_trip(store: Store) {
    let routed = RequestLog {
        channel: Some("eu-west \"primary\"".into()),
        jurisdiction: Some("DE".into()),
        ..log_row(1, None, None, "m")
    };
    // A request rejected before routing has neither.
    let unrouted = log_row(2, None, None, "m");
    let channel_only = RequestLog {
        channel: Some("demo".into()),
        ..log_row(3, None, None, "m")
    };
    let rows = vec![routed, unrouted, channel_only];
    store.insert_request_logs(&rows).await.unwrap();
    let mut stored = store.list_request_logs(&filter()).await.unwrap();
    stored.reverse();
    assert_eq!(stored, rows);
}

// ---------------------------------------------------------------------------------------------
// Privacy diagnostics

async fn dump_text_shows_what_is_stored_and_nothing_else(store: Store) {
    let ann = store
        .create_user("marker-ann@example.org", Role::User)
        .await
        .unwrap();
    let key = KeyRecord {
        allowed_models: Some(vec!["model \"quoted\"".into()]),
        ..key_for(ann.id, 1_000, 0xab)
    };
    store.insert_key(&key).await.unwrap();
    let log = RequestLog {
        client_ip: Some("203.0.113.77".into()),
        ..log_row(1, Some(ann.id), Some(key.id), "marker-model")
    };
    store.insert_request_logs(&[log]).await.unwrap();

    let dump = store.dump_text().await.unwrap();
    for stored in [
        "marker-ann@example.org",
        "marker-model",
        "203.0.113.77",
        "model \\\"quoted\\\"",
        &ann.id.to_string(),
        &format!("\\x{}", "ab".repeat(32)),
    ] {
        assert!(dump.contains(stored), "`{stored}` missing from:\n{dump}");
    }
    for table in [
        "users: ",
        "api_keys: ",
        "request_logs: ",
        "access_generation: ",
    ] {
        assert!(dump.contains(table), "no `{table}` rows in:\n{dump}");
    }
    assert!(!dump.contains("never-inserted-marker-7f3a"));
}

// ---------------------------------------------------------------------------------------------
// Backend-independent

#[tokio::test]
async fn bad_urls_name_the_accepted_schemes() {
    for url in [
        "mysql://root:hunter2@db/switchyard",
        "switchyard.db",
        "",
        "sqlite://",
    ] {
        let err = Store::connect(url).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::BadUrl(_)), "{url}: {err:?}");
        assert!(
            message.contains("sqlite://") && message.contains("postgres://"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "a password leaked: {message}");
    }
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    store.check_ready().await.unwrap();
    store.create_user("a@b.c", Role::User).await.unwrap();
    assert_eq!(store.load_access().await.unwrap().users.len(), 1);
    store.close().await;
}
