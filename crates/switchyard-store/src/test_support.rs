//! Throwaway databases for tests, one per test, so tests run in parallel without sharing state.
//! Enabled by the `test-support` feature (and for this crate's own tests).
//!
//! PostgreSQL tests need a server: they connect to the maintenance database named by
//! `SWITCHYARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), which
//! must be allowed to `CREATE DATABASE`.
//!
//! Failures to set up panic with a message saying what to fix: this is test code, and a test
//! cannot proceed without its database.

use crate::{Backend, Store};
use sqlx::{Connection, PgConnection};
use std::path::PathBuf;
use uuid::Uuid;

/// The environment variable naming the PostgreSQL maintenance database for tests.
pub const POSTGRES_URL_ENV: &str = "SWITCHYARD_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database that is deleted when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    /// The URL to give [`Store::connect`].
    pub url: String,
    backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// Remove this directory (the SQLite file and its WAL files).
    Dir(PathBuf),
    /// Drop this database, connecting through the maintenance URL.
    Database { admin_url: String, name: String },
}

impl TestDb {
    /// Creates an empty database: for SQLite a file in a new temporary directory, for
    /// PostgreSQL a new database `switchyard_test_<uuid>`.
    pub async fn create(backend: Backend) -> TestDb {
        let id = Uuid::new_v4().simple();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("switchyard-test-{id}"));
                // `Store::connect` creates the directory and the file.
                let url = format!("sqlite://{}", dir.join("switchyard.db").display());
                TestDb {
                    url,
                    backend,
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_URL_ENV)
                    .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
                let name = format!("switchyard_test_{id}");
                let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach PostgreSQL for tests ({e}); start it or set \
                         {POSTGRES_URL_ENV} to a maintenance database URL"
                    )
                });
                sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .await
                    .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
                // Best effort: the connection is only used to create the database.
                let _ = admin.close().await;
                TestDb {
                    url: with_database(&admin_url, &name),
                    backend,
                    cleanup: Cleanup::Database { admin_url, name },
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connects to this database and applies every migration.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("cannot migrate the test database: {e}"));
        store
    }
}

impl Drop for TestDb {
    /// Best effort, never panics: a leaked temporary database must not fail a passing test.
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                let admin_url = admin_url.clone();
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                // `drop` is synchronous and usually runs inside a test's runtime, which cannot
                // be blocked on; a short-lived thread with its own runtime can. Joining it makes
                // sure the database is gone before the test process may exit.
                let dropper = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async move {
                        if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                            let _ = sqlx::raw_sql(&sql).execute(&mut admin).await;
                            let _ = admin.close().await;
                        }
                    });
                });
                let _ = dropper.join();
            }
        }
    }
}

/// A second connection holding the write lock of the tables the request-log writer fills, as
/// a stuck or overloaded database would: the writer's next transaction waits (and on SQLite
/// fails after the busy timeout, to be retried) until [`WriteLock::release`]. Reads go on.
#[derive(Debug)]
pub enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(PgConnection),
}

impl WriteLock {
    /// Takes the lock on the database at `url` (a [`TestDb::url`]).
    pub async fn take(url: &str) -> WriteLock {
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .unwrap_or_else(|e| panic!("cannot open the SQLite test database: {e}"));
            // SQLite has one writer at a time: holding the RESERVED lock stops every other.
            sqlx::raw_sql("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("cannot take SQLite's write lock: {e}"));
            WriteLock::Sqlite(conn)
        } else {
            let mut conn = PgConnection::connect(url)
                .await
                .unwrap_or_else(|e| panic!("cannot reach the PostgreSQL test database: {e}"));
            // EXCLUSIVE mode lets readers in and keeps every INSERT out.
            sqlx::raw_sql(
                "BEGIN; LOCK TABLE request_logs, transfers, ledger_accounts IN EXCLUSIVE MODE",
            )
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot lock the PostgreSQL tables: {e}"));
            WriteLock::Postgres(conn)
        }
    }

    /// Ends the lock's transaction (writing nothing) and closes its connection.
    pub async fn release(self) {
        match self {
            WriteLock::Sqlite(mut conn) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                let _ = conn.close().await;
            }
            WriteLock::Postgres(mut conn) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut conn).await;
                let _ = conn.close().await;
            }
        }
    }
}

/// `url` with its database (the path) replaced by `name`, keeping credentials, host and query.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    // The authority ends at the first `/` after `scheme://`.
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |at| authority_start + at);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }
}
