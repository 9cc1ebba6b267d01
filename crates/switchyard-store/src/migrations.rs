//! The embedded schema migrations (one folder per backend, same schema) and the readiness check
//! that compares them with what the database has applied.

use crate::{Db, Store, StoreError};
use sqlx::migrate::Migrator;

/// Migrations are compiled into the binary, so a deployment cannot run with a schema folder
/// that does not match its code.
static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Applies every embedded migration not yet applied. Safe to run again (a no-op) and, on
    /// PostgreSQL, from several replicas at once: sqlx serialises them with an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = self.migrator();
        on_pool!(&self.db, pool => migrator.run(pool).await)?;
        Ok(())
    }

    /// Succeeds when the database answers and every migration embedded in this build has been
    /// applied; `GET /readyz` reports this. Read-only: it never creates sqlx's bookkeeping table.
    pub async fn check_ready(&self) -> Result<(), StoreError> {
        // The catalogues differ, so this one question is asked in each backend's own words.
        // Answering it also proves the database is reachable.
        let has_table = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM sqlite_master \
                     WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?
                    > 0
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(pool)
                    .await?
            }
        };
        let applied: Vec<i64> = if has_table {
            on_pool!(&self.db, pool => {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(pool)
                    .await
            })?
        } else {
            Vec::new()
        };
        let pending = self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .count();
        if pending > 0 {
            return Err(StoreError::MigrationsPending { pending });
        }
        Ok(())
    }

    fn migrator(&self) -> &'static Migrator {
        match self.db {
            Db::Sqlite(_) => &SQLITE,
            Db::Postgres(_) => &POSTGRES,
        }
    }
}
