//! What the ledger-touching store suites share: one test body run on both backends, each on a
//! fresh database, and ending with the ledger proven sound.

#![allow(dead_code, clippy::unwrap_used)]

use std::future::Future;
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, Store};

/// Turns each named `async fn(Store)` into `sqlite::NAME` and `postgres::NAME` tests.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { $crate::common::run(switchyard_store::Backend::Sqlite, super::$name).await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { $crate::common::run(switchyard_store::Backend::Postgres, super::$name).await; } )* }
    };
}

/// Runs `test` on a fresh, migrated store, then checks that every account's totals equal
/// the sums of its transfers.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::create(backend).await;
    let store = db.store().await;
    test(store.clone()).await;
    assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
    store.close().await;
}
