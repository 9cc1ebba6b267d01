//! What can go wrong talking to the database, and which client-visible error code each maps to.

use switchyard_core::error::ErrorCode;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint rejected the write; the text says what already exists.
    #[error("{0}")]
    Conflict(&'static str),
    /// A row the operation depends on does not exist; the text says which.
    #[error("{0}")]
    NotFound(&'static str),
    /// The request itself is not valid; the text says why.
    #[error("{0}")]
    Invalid(&'static str),
    /// The database URL cannot be used; the text says why and what is accepted. It never
    /// repeats the URL itself, which may carry a password.
    #[error("bad database URL: {0}")]
    BadUrl(String),
    /// Applying the embedded migrations failed.
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database is reachable but its schema is older than this build.
    #[error(
        "the database schema is not current: {pending} migration(s) of this build are not \
         applied (run `switchyard migrate`)"
    )]
    MigrationsPending { pending: usize },
    /// A stored value cannot be read back as its domain type (edited by hand, or a bug).
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// Any other database failure: unreachable, timed out, a bug in a query.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Redis (cluster mode's shared reservations) failed or is unreachable.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
}

impl StoreError {
    /// The row of the central error table this failure maps to, for callers that turn it into
    /// an HTTP answer.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            StoreError::Conflict(_) => ErrorCode::Conflict,
            StoreError::NotFound(_) => ErrorCode::ResourceNotFound,
            StoreError::Invalid(_) => ErrorCode::InvalidRequest,
            StoreError::MigrationsPending { .. } => ErrorCode::Unavailable,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => ErrorCode::Unavailable,
            // Cluster mode fails closed while its shared reservations are unreachable.
            StoreError::Redis(_) => ErrorCode::Unavailable,
            StoreError::BadUrl(_)
            | StoreError::Migrate(_)
            | StoreError::Corrupt(_)
            | StoreError::Database(_) => ErrorCode::Internal,
        }
    }

    /// Classifies the error of a write: a unique violation becomes [`StoreError::Conflict`]
    /// with `conflict` as its message, a foreign-key violation [`StoreError::NotFound`] with
    /// `missing` (when the write has a foreign key), anything else stays a database error.
    pub(crate) fn on_write(
        error: sqlx::Error,
        conflict: &'static str,
        missing: Option<&'static str>,
    ) -> StoreError {
        match (&error, missing) {
            (sqlx::Error::Database(db), _) if db.is_unique_violation() => {
                StoreError::Conflict(conflict)
            }
            (sqlx::Error::Database(db), Some(missing)) if db.is_foreign_key_violation() => {
                StoreError::NotFound(missing)
            }
            _ => StoreError::Database(error),
        }
    }
}
