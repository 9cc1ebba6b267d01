//! Versions of the terms of service and of the privacy notice, and each account's acceptance
//! of them. A version is published with the time it takes effect; the one in effect at a time
//! is the newest whose `effective_at` has passed.

use crate::{Store, StoreError};
use switchyard_core::UserId;
use switchyard_core::catalog::UnixMillis;

/// One published version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermsVersion {
    /// `terms` or `privacy`.
    pub kind: String,
    pub version: String,
    pub summary: String,
    pub url: Option<String>,
    pub published_at: UnixMillis,
    pub effective_at: UnixMillis,
    pub notified_at: Option<UnixMillis>,
}

/// One acceptance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub kind: String,
    pub version: String,
    pub accepted_at: UnixMillis,
}

type VersionRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

fn version(row: VersionRow) -> TermsVersion {
    let (kind, version, summary, url, published_at, effective_at, notified_at) = row;
    TermsVersion {
        kind,
        version,
        summary,
        url,
        published_at,
        effective_at,
        notified_at,
    }
}

impl Store {
    /// Publishes a version; a `(kind, version)` that exists is a conflict.
    pub async fn publish_terms(&self, v: &TermsVersion) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO terms_versions (kind, version, summary, url, published_at, \
                 effective_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&v.kind)
            .bind(&v.version)
            .bind(&v.summary)
            .bind(v.url.as_deref())
            .bind(v.published_at)
            .bind(v.effective_at)
            .execute(pool)
            .await
            .map_err(|e| StoreError::on_write(e, "this version is published already", None))?;
        });
        Ok(())
    }

    /// Every version, oldest effective first.
    pub async fn terms_versions(&self) -> Result<Vec<TermsVersion>, StoreError> {
        let rows: Vec<VersionRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kind, version, summary, url, published_at, effective_at, notified_at \
                 FROM terms_versions ORDER BY effective_at, kind, version",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows.into_iter().map(version).collect())
    }

    /// Marks a version's notice as mailed to everyone.
    pub async fn mark_terms_notified(
        &self,
        kind: &str,
        version: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE terms_versions SET notified_at = $3 WHERE kind = $1 AND version = $2",
            )
            .bind(kind)
            .bind(version)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records that `user` accepted a published version (again: the first time stays).
    /// False when no such version exists.
    pub async fn accept_terms(
        &self,
        user: UserId,
        kind: &str,
        version: &str,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let added = on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO consents (user_id, kind, version, accepted_at) \
                 SELECT $1, kind, version, $4 FROM terms_versions \
                 WHERE kind = $2 AND version = $3 \
                 ON CONFLICT (user_id, kind, version) DO NOTHING",
            )
            .bind(user.to_string())
            .bind(kind)
            .bind(version)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        if added > 0 {
            return Ok(true);
        }
        // Nothing added: accepted before, or no such version.
        let known: i64 = on_pool!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM terms_versions WHERE kind = $1 AND version = $2",
            )
            .bind(kind)
            .bind(version)
            .fetch_one(pool)
            .await
        })?;
        Ok(known > 0)
    }

    /// What `user` accepted, oldest first.
    pub async fn consents_of(&self, user: UserId) -> Result<Vec<Consent>, StoreError> {
        let rows: Vec<(String, String, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kind, version, accepted_at FROM consents WHERE user_id = $1 \
                 ORDER BY accepted_at, kind",
            )
            .bind(user.to_string())
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(kind, version, accepted_at)| Consent {
                kind,
                version,
                accepted_at,
            })
            .collect())
    }

    /// The addresses of every account that is neither disabled nor being deleted: who is told
    /// of a new version.
    pub async fn active_emails(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = on_pool!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT email FROM users WHERE NOT disabled AND deletion_requested_at IS NULL \
                 AND erased_at IS NULL ORDER BY created_at",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }
}
