//! Opening a [`Store`] from a database URL: which schemes are accepted and how each backend's
//! connections are configured.

use crate::{Db, Store, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// What `BadUrl` errors list as accepted.
const ACCEPTED: &str = "use sqlite://PATH (e.g. sqlite://switchyard-data/switchyard.db), \
                        sqlite::memory:, or postgres://USER@HOST:PORT/DATABASE";

/// How long a writer waits for SQLite's single write lock before failing with "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a query waits for a free pooled connection. Bounded so that `/readyz` answers
/// "not ready" instead of hanging when the database is down or the pool is exhausted.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Opens a connection pool for `url`:
    /// - `sqlite://path/to/file.db` (relative to the working directory; `sqlite:///abs/path.db`
    ///   for an absolute path). The parent directory and the file are created if missing, the
    ///   journal is WAL (readers never block the writer), writers wait up to 5 s for the lock,
    ///   and foreign keys are enforced.
    /// - `sqlite::memory:`: a private in-memory database, for tests.
    /// - `postgres://…` or `postgresql://…`.
    ///
    /// It connects eagerly, so an unreachable database fails here rather than on first use.
    /// It does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let url = url.trim();
        if url.starts_with("sqlite:") {
            connect_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(url).await
        } else {
            // Name only the scheme: the rest of a URL may hold a password.
            let problem = match url.split_once(':') {
                Some((scheme, _)) if !scheme.is_empty() => {
                    format!("the scheme `{scheme}:` is not supported")
                }
                _ => "the URL has no scheme".to_owned(),
            };
            Err(StoreError::BadUrl(format!("{problem}; {ACCEPTED}")))
        }
    }
}

async fn connect_sqlite(url: &str) -> Result<Store, StoreError> {
    let body = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, params) = body.split_once('?').unwrap_or((body, ""));
    let in_memory = path == ":memory:" || params.split('&').any(|p| p == "mode=memory");
    if path.is_empty() && !in_memory {
        return Err(StoreError::BadUrl(format!(
            "the SQLite URL names no database file; {ACCEPTED}"
        )));
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl(format!("cannot read the SQLite URL ({e}); {ACCEPTED}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);

    let pool_options = if in_memory {
        // Every connection to a named in-memory database shares it only while one stays open,
        // and its shared-cache mode reports lock conflicts as errors instead of waiting. One
        // connection that never expires avoids both.
        SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::BadUrl(format!(
                    "cannot create the directory `{}` for the SQLite database: {e}",
                    parent.display()
                ))
            })?;
        }
        SqlitePoolOptions::new()
    };
    let pool = pool_options
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(Store {
        db: Db::Sqlite(pool),
    })
}

async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::BadUrl(format!("cannot read the PostgreSQL URL ({e}); {ACCEPTED}"))
    })?;
    let pool = PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    Ok(Store {
        db: Db::Postgres(pool),
    })
}
