//! Persistence for Switchyard: one [`Store`] in front of SQLite (the embedded default) or
//! PostgreSQL (shared by many replicas).
//!
//! Every query is written once. [`Store`] holds a private `Db` enum of the two pools, and the
//! `on_pool!` macro expands the same query body for each arm, so there is a single SQL text per
//! query and the two backends cannot drift apart. SQL uses PostgreSQL's `$1, $2, …` placeholders,
//! which SQLite also accepts (it treats `$N` as a named parameter, and sqlx binds it to argument
//! N; a test proves it, including a parameter used twice). Queries are checked at run time
//! (`sqlx::query`), not by the compile-time macros: there is no database at build time.
//!
//! **Boundary:** this is the only crate that speaks SQL. Everything it returns is a
//! `switchyard_core` type; sqlx never leaks out, except inside [`StoreError::Database`].

/// Runs `$body` with `$pool` bound to whichever pool backs the store. The body is type-checked
/// once per backend, so it may only use what both `sqlx::Sqlite` and `sqlx::Postgres` support.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

mod access;
mod accounts;
mod audit;
mod catalog;
mod channels;
mod codes;
mod connect;
mod consent;
mod content_log;
mod dump;
mod erasure;
mod error;
mod export;
mod identities;
mod invoices;
mod ledger;
mod limits;
mod margin;
mod migrations;
pub mod payments;
#[macro_use]
mod request_log;
mod retention;
mod shared;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
mod traffic;
mod usage;

pub use access::Access;
pub use accounts::{Profile, Session, TokenPurpose};
pub use audit::{ActorRole, AuditEntry, AuditFilter};
pub use catalog::Reseal;
pub use codes::{
    CreatedCodes, Redemption, RevenueRow, after_paid_top_up, canonical_code, canonical_email,
    email_hmac,
};
pub use consent::{Consent, TermsVersion};
pub use erasure::{EmailChange, PrivacyState};
pub use error::StoreError;
pub use export::{OwnSpendLimit, ReferralRecord};
pub use identities::{FlowPurpose, Identity, OidcFlow, Unlink};
pub use invoices::{BillingProfile, Buyer, Invoice, InvoiceLine, TOP_UP_LINE};
pub use ledger::{AccountState, Batch, Entry, OpenHold};
pub use limits::SpendCounter;
pub use margin::MarginRow;
pub use request_log::LogFilter;
pub use retention::PurgeReport;
pub use shared::{HeldElsewhere, SharedReservations};
pub use traffic::{MINUTE_MS, TrafficCell, latency_bucket, latency_bucket_bounds};
pub use usage::{
    DAY_MS, DayTotals, ModelTotals, StatusClass, UsageCursor, UsageEntry, UsageFilter, UserChange,
    UserSummary,
};

use sqlx::{PgPool, SqlitePool};

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle to the database. Cloning is cheap (it holds a connection pool), so clone it
/// into every task that needs it rather than wrapping it in an `Arc`.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

/// The pool behind a [`Store`]. Private: callers choose a backend by URL, never by type.
#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The statement that opens a transaction which may read before it writes. On SQLite it
    /// takes the write lock at once: a deferred transaction that has read cannot upgrade once
    /// another writer committed (SQLITE_BUSY, which the busy timeout does not cover).
    pub(crate) fn begin_write(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        }
    }

    /// Closes every connection and waits for them to finish. Clones of this store fail their
    /// next query afterwards; call it once, at shutdown.
    pub async fn close(&self) {
        on_pool!(&self.db, pool => pool.close().await)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use crate::test_support::TestDb;

    /// SQL is written with PostgreSQL's `$N` placeholders; SQLite must bind them by number,
    /// including a parameter used twice and parameters out of order.
    async fn placeholders_bind_by_number(backend: Backend) {
        let db = TestDb::create(backend).await;
        let store = Store::connect(&db.url).await.unwrap();
        let (text, same): (String, bool) = on_pool!(&store.db, pool => {
            sqlx::query_as("SELECT $2 || $1 || $2, $1 = $3")
                .bind("a")
                .bind("b")
                .bind("a")
                .fetch_one(pool)
                .await
                .unwrap()
        });
        assert_eq!(text, "bab");
        assert!(same);
        let repeated: Option<String> = on_pool!(&store.db, pool => {
            sqlx::query_scalar("SELECT CASE WHEN $1 IS NULL THEN 'none' ELSE $1 END")
                .bind(Some("x"))
                .fetch_one(pool)
                .await
                .unwrap()
        });
        assert_eq!(repeated.as_deref(), Some("x"));
        store.close().await;
    }

    #[tokio::test]
    async fn sqlite_binds_dollar_placeholders_by_number() {
        placeholders_bind_by_number(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_binds_dollar_placeholders_by_number() {
        placeholders_bind_by_number(Backend::Postgres).await;
    }
}
