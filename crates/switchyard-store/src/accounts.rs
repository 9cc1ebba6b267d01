//! What people (not keys) need to sign in: password hashes, the profile they edit, browser
//! sessions and the single-use tokens sent by email.
//!
//! None of this is in the gateway's snapshot, so no write here bumps `access_generation`: the
//! management API reads sessions from the store, off the hot path. Session ids and email tokens
//! are stored only as their SHA-256; the caller hashes them, so a raw id never reaches this crate.

use crate::access::parse_id;
use crate::{Store, StoreError};
use switchyard_core::UserId;
use switchyard_core::catalog::UnixMillis;

/// What a user edits about themselves. Company and VAT/GST number live in the billing profile,
/// which invoices are issued from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub display_name: Option<String>,
    /// An interface language code (`en`, `zh`, …); the caller validates it.
    pub language: Option<String>,
    /// When the user proved they read mail at their address.
    pub email_verified_at: Option<UnixMillis>,
}

/// A signed-in browser, found by the SHA-256 of the id in its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id_hash: [u8; 32],
    pub user_id: UserId,
    /// What state-changing requests of this session must echo in `x-csrf-token`.
    pub csrf_token: String,
    pub created_at: UnixMillis,
    pub last_seen_at: UnixMillis,
    /// The absolute end, however active the session is.
    pub expires_at: UnixMillis,
}

/// What an emailed token is for; a token of one purpose is never accepted for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Proves the address: `email_verified_at` is set when it is used.
    Verify,
    /// Lets its holder set a new password.
    Reset,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Verify => "verify",
            TokenPurpose::Reset => "reset",
        }
    }
}

impl Store {
    /// Sets (or replaces) a user's password hash, a PHC string. An unknown user is
    /// [`StoreError::NotFound`].
    pub async fn set_password_hash(
        &self,
        user: UserId,
        phc: &str,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO password_hashes (user_id, phc, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET phc = excluded.phc, \
                 updated_at = excluded.updated_at",
            )
            .bind(user.to_string())
            .bind(phc)
            .bind(now)
            .execute(pool)
            .await
            .map_err(|e| StoreError::on_write(e, "the password hash conflicts", Some("the user does not exist")))?;
        });
        Ok(())
    }

    /// The user's password hash, or `None` if they have never set a password.
    pub async fn password_hash(&self, user: UserId) -> Result<Option<String>, StoreError> {
        let phc = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT phc FROM password_hashes WHERE user_id = $1")
                .bind(user.to_string())
                .fetch_optional(pool)
                .await
        })?;
        Ok(phc)
    }

    /// The user's profile, or `None` if there is no such user.
    pub async fn profile(&self, user: UserId) -> Result<Option<Profile>, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<i64>)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT display_name, language, email_verified_at FROM users WHERE id = $1",
            )
            .bind(user.to_string())
            .fetch_optional(pool)
            .await
        })?;
        Ok(
            row.map(|(display_name, language, email_verified_at)| Profile {
                display_name,
                language,
                email_verified_at,
            }),
        )
    }

    /// Replaces the editable part of a profile (name and language; `None` clears). Returns
    /// `false` if there is no such user.
    pub async fn set_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        language: Option<&str>,
    ) -> Result<bool, StoreError> {
        let changed = on_pool!(&self.db, pool => {
            sqlx::query("UPDATE users SET display_name = $2, language = $3 WHERE id = $1")
                .bind(user.to_string())
                .bind(display_name)
                .bind(language)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    /// Records that the user proved their address at `at`; the first proof is kept.
    pub async fn set_email_verified(
        &self,
        user: UserId,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        let changed = on_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2) \
                 WHERE id = $1",
            )
            .bind(user.to_string())
            .bind(at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    /// Stores a new session. Also drops the user's sessions that ended before `session`
    /// began (past their absolute end, or idle since before `idle_before`), so the table does
    /// not grow with every sign-in.
    pub async fn insert_session(
        &self,
        session: &Session,
        idle_before: UnixMillis,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(session.id_hash.as_slice())
            .bind(session.user_id.to_string())
            .bind(session.csrf_token.as_str())
            .bind(session.created_at)
            .bind(session.last_seen_at)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::on_write(
                    e,
                    "a session with this id already exists",
                    Some("the session's user does not exist"),
                )
            })?;
            sqlx::query(
                "DELETE FROM sessions WHERE user_id = $1 \
                 AND (expires_at <= $2 OR last_seen_at < $3)",
            )
            .bind(session.user_id.to_string())
            .bind(session.created_at)
            .bind(idle_before)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The session whose id hashes to `id_hash`, whether or not it has ended (the caller
    /// decides, with its configured idle time).
    pub async fn session(&self, id_hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        let row: Option<SessionRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at \
                 FROM sessions WHERE id_hash = $1",
            )
            .bind(id_hash.as_slice())
            .fetch_optional(pool)
            .await
        })?;
        row.map(Session::try_from).transpose()
    }

    /// Moves a session's `last_seen_at` forward to `at` (never back).
    pub async fn touch_session(
        &self,
        id_hash: &[u8; 32],
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2",
            )
            .bind(id_hash.as_slice())
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Ends one session. Returns whether it existed.
    pub async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let changed = on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash.as_slice())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    /// Ends every session of a user (a password change or reset); returns how many there were.
    pub async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let changed = on_pool!(&self.db, pool => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user.to_string())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(changed)
    }

    /// Deletes every session that ended by `now` (past its absolute end, or unused since before
    /// `idle_before`) and every email token expired by `now`; returns how many rows went.
    pub async fn purge_ended_sessions(
        &self,
        now: UnixMillis,
        idle_before: UnixMillis,
    ) -> Result<u64, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let sessions = sqlx::query(
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2",
            )
            .bind(now)
            .bind(idle_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let tokens = sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(sessions + tokens)
        })
    }

    /// Stores an emailed token (its SHA-256), valid until `expires_at`.
    pub async fn insert_email_token(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        purpose: TokenPurpose,
        now: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash.as_slice())
            .bind(user.to_string())
            .bind(purpose.as_str())
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map_err(|e| {
                StoreError::on_write(
                    e,
                    "a token with this hash already exists",
                    Some("the token's user does not exist"),
                )
            })?;
        });
        Ok(())
    }

    /// Uses a token: if one of `purpose` hashes to `token_hash`, is unused and has not
    /// expired at `now`, marks it used and returns its user. One statement, so two requests
    /// racing with the same token cannot both succeed.
    pub async fn use_email_token(
        &self,
        token_hash: &[u8; 32],
        purpose: TokenPurpose,
        now: UnixMillis,
    ) -> Result<Option<UserId>, StoreError> {
        let user: Option<String> = on_pool!(&self.db, pool => {
            sqlx::query_scalar(
                "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
                 AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
            )
            .bind(token_hash.as_slice())
            .bind(purpose.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        user.map(|u| parse_id(&u, "email_tokens.user_id"))
            .transpose()
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: Vec<u8>,
    user_id: String,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(row: SessionRow) -> Result<Session, StoreError> {
        Ok(Session {
            id_hash: row.id_hash.as_slice().try_into().map_err(|_| {
                StoreError::Corrupt(format!(
                    "sessions.id_hash has {} bytes, not 32",
                    row.id_hash.len()
                ))
            })?,
            user_id: parse_id(&row.user_id, "sessions.user_id")?,
            csrf_token: row.csrf_token,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        })
    }
}
