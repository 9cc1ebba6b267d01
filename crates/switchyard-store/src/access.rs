//! Users and API keys: who may call the gateway. The gateway serves these from an in-memory
//! snapshot; the store gives it a consistent full load ([`Store::load_access`]) and a cheap
//! change counter ([`Store::generation`]) to know when to reload.
//!
//! **Invariant:** every write to `users` or `api_keys` bumps `access_generation` in the same
//! transaction, so a reader that sees the new generation also sees the change.

use crate::{Store, StoreError};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::fmt::Display;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};
use switchyard_core::catalog::{KeyRecord, Role, UnixMillis, User};
use switchyard_core::routing::DataPolicy;
use switchyard_core::{KeyId, UserId};

/// Every user and every key, read from one snapshot of the database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Oldest first.
    pub users: Vec<User>,
    /// Newest first.
    pub keys: Vec<KeyRecord>,
}

pub(crate) const BUMP_GENERATION: &str =
    "UPDATE access_generation SET value = value + 1 WHERE id = 1";

/// The column lists of [`UserRow`] and [`KeyRow`], as macros so `concat!` can build whole
/// queries as `'static` text at compile time.
macro_rules! select_users {
    () => {
        "SELECT id, email, role, disabled, created_at, price_group, data_policy FROM users"
    };
}
macro_rules! select_keys {
    () => {
        "SELECT id, user_id, name, visible_prefix, hash, created_at, expires_at, revoked_at, \
         allowed_models, data_policy, log_content FROM api_keys"
    };
}

impl Store {
    /// Creates a user with a normalised (trimmed, lowercased) email. Emails are unique whatever
    /// their case: a second `Ann@x.org` after `ann@x.org` is a [`StoreError::Conflict`].
    pub async fn create_user(&self, email: &str, role: Role) -> Result<User, StoreError> {
        let user = User {
            id: UserId::new(),
            email: normalise_email(email),
            role,
            disabled: false,
            created_at: now_millis(),
            price_group: None,
            // The open policy, stored as NULL: the column's default.
            data_policy: DataPolicy::default(),
        };
        on_pool!(&self.db, pool => {
            // The write comes first in the transaction: SQLite then takes its write lock at once
            // (waiting up to the busy timeout) instead of failing to upgrade a read lock.
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO users (id, email, role, disabled, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(user.id.to_string())
            .bind(user.email.as_str())
            .bind(user.role.as_str())
            .bind(user.disabled)
            .bind(user.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::on_write(e, "a user with this email already exists", None)
            })?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(user)
    }

    /// Puts a user in a price group (`None`: the configured default group). The names are
    /// configuration, so the caller checks them. Returns `false` if there is no such user.
    pub async fn set_price_group(
        &self,
        id: UserId,
        group: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.set_snapshot_column(
            "UPDATE users SET price_group = $2 WHERE id = $1",
            id.to_string(),
            group.map(str::to_owned),
        )
        .await
    }

    /// Replaces the data policy of a user's account. The caller validates it
    /// ([`DataPolicy::normalized`]). Returns `false` if there is no such user.
    pub async fn set_user_data_policy(
        &self,
        id: UserId,
        policy: &DataPolicy,
    ) -> Result<bool, StoreError> {
        let policy = encode_policy(policy, "users.data_policy")?;
        self.set_snapshot_column(
            "UPDATE users SET data_policy = $2 WHERE id = $1",
            id.to_string(),
            policy,
        )
        .await
    }

    /// Replaces the data policy of a key, which narrows its account's. The caller validates it
    /// ([`DataPolicy::normalized`]). Returns `false` if there is no such key.
    pub async fn set_key_data_policy(
        &self,
        id: KeyId,
        policy: &DataPolicy,
    ) -> Result<bool, StoreError> {
        let policy = encode_policy(policy, "api_keys.data_policy")?;
        self.set_snapshot_column(
            "UPDATE api_keys SET data_policy = $2 WHERE id = $1",
            id.to_string(),
            policy,
        )
        .await
    }

    /// Turns content logging of a key on or off. The caller checked that an operator asked
    /// and that the deployment allows it. Returns `false` if there is no such key.
    pub async fn set_key_log_content(&self, id: KeyId, on: bool) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query("UPDATE api_keys SET log_content = $2 WHERE id = $1")
                .bind(id.to_string())
                .bind(on)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(changed > 0)
        })
    }

    /// Turns content logging off on every key that has it on; returns how many. A deployment
    /// that says `privacy.content_logging = "never"` calls this at start-up, so a flag set
    /// under an earlier mode cannot come back to life if the mode is ever relaxed again.
    pub async fn clear_log_content(&self) -> Result<u64, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query("UPDATE api_keys SET log_content = FALSE WHERE log_content")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed > 0 {
                sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
    }

    /// Runs `update` (`$1` the row's id, `$2` the value) and bumps the generation in the same
    /// transaction: the gateway's snapshot carries the column, so it must reload. Returns
    /// whether a row changed.
    async fn set_snapshot_column(
        &self,
        update: &'static str,
        id: String,
        value: Option<String>,
    ) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(update)
                .bind(&id)
                .bind(value.as_deref())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(changed > 0)
        })
    }

    /// The user with this email (normalised the same way as on creation), if any.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = normalise_email(email);
        let row: Option<UserRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(select_users!(), " WHERE email = $1"))
                .bind(email.as_str())
                .fetch_optional(pool)
                .await
        })?;
        row.map(User::try_from).transpose()
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(select_users!(), " WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
        })?;
        row.map(User::try_from).transpose()
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(select_users!(), " ORDER BY created_at, id"))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(User::try_from).collect()
    }

    pub async fn count_users(&self) -> Result<u64, StoreError> {
        let count: i64 = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await
        })?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Stores a new key. A duplicate id or hash is a [`StoreError::Conflict`]; an unknown
    /// owner is [`StoreError::NotFound`].
    pub async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let allowed_models = key
            .allowed_models
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("cannot encode allowed_models: {e}")))?;
        let data_policy = encode_policy(&key.data_policy, "api_keys.data_policy")?;
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, visible_prefix, hash, created_at, \
                 expires_at, revoked_at, allowed_models, data_policy, log_content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(key.id.to_string())
            .bind(key.user_id.to_string())
            .bind(key.name.as_str())
            .bind(key.visible_prefix.as_str())
            .bind(key.hash.as_slice())
            .bind(key.created_at)
            .bind(key.expires_at)
            .bind(key.revoked_at)
            .bind(allowed_models.as_deref())
            .bind(data_policy.as_deref())
            .bind(key.log_content)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::on_write(
                    e,
                    "an API key with this id or hash already exists",
                    Some("the API key's user does not exist"),
                )
            })?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores `key` as the user's playground key (kind `playground`) and revokes, at the key's
    /// creation time and in the same transaction, every other unrevoked playground key of the
    /// user: at most one is ever usable. Returns how many were revoked.
    pub async fn replace_playground_key(&self, key: &KeyRecord) -> Result<u64, StoreError> {
        let data_policy = encode_policy(&key.data_policy, "api_keys.data_policy")?;
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let revoked = sqlx::query(
                "UPDATE api_keys SET revoked_at = $2 \
                 WHERE user_id = $1 AND kind = 'playground' AND revoked_at IS NULL",
            )
            .bind(key.user_id.to_string())
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, visible_prefix, hash, created_at, \
                 expires_at, revoked_at, allowed_models, data_policy, kind) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, 'playground')",
            )
            .bind(key.id.to_string())
            .bind(key.user_id.to_string())
            .bind(key.name.as_str())
            .bind(key.visible_prefix.as_str())
            .bind(key.hash.as_slice())
            .bind(key.created_at)
            .bind(key.expires_at)
            .bind(data_policy.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::on_write(
                    e,
                    "an API key with this id or hash already exists",
                    Some("the API key's user does not exist"),
                )
            })?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(revoked)
        })
    }

    /// The ids of the playground keys of one user, or of everyone with `None`.
    pub async fn playground_key_ids(&self, user: Option<UserId>) -> Result<Vec<KeyId>, StoreError> {
        let rows: Vec<String> = on_pool!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT id FROM api_keys WHERE kind = 'playground' AND ($1 IS NULL OR user_id = $1)",
            )
            .bind(user.map(|u| u.to_string()))
            .fetch_all(pool)
            .await
        })?;
        rows.iter().map(|id| parse_id(id, "api_keys.id")).collect()
    }

    pub async fn key_by_id(&self, id: KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let row: Option<KeyRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(select_keys!(), " WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await
        })?;
        row.map(KeyRecord::try_from).transpose()
    }

    /// The keys of one user, or of everyone with `None`; newest first.
    pub async fn list_keys(&self, user: Option<UserId>) -> Result<Vec<KeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(select_keys!(), " WHERE ($1 IS NULL OR user_id = $1) ORDER BY created_at DESC, id DESC"))
            .bind(user.map(|u| u.to_string()))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(KeyRecord::try_from).collect()
    }

    /// Marks a key revoked at `at`. Returns `false` if there is no such key. Revoking twice is
    /// harmless and keeps the first time, which is what an audit wants to see.
    pub async fn revoke_key(&self, id: KeyId, at: UnixMillis) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let found = if changed > 0 {
                sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
                true
            } else {
                // Nothing changed: either the key is unknown or it was already revoked.
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                count > 0
            };
            tx.commit().await?;
            Ok(found)
        })
    }

    /// A counter that grows with every write to users or keys. Polling it is one primary-key
    /// read, so the gateway can check often and reload [`Store::load_access`] only on change.
    pub async fn generation(&self) -> Result<i64, StoreError> {
        let value = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT value FROM access_generation WHERE id = 1")
                .fetch_one(pool)
                .await
        })?;
        Ok(value)
    }

    /// Every user and key, read in one snapshot so that no key appears without its owner.
    pub async fn load_access(&self) -> Result<Access, StoreError> {
        let (users, keys): (Vec<UserRow>, Vec<KeyRow>) = on_pool!(&self.db, pool => {
            let mut tx = pool.begin_snapshot().await?;
            let users = sqlx::query_as(concat!(select_users!(), " ORDER BY created_at, id"))
                .fetch_all(&mut *tx)
                .await?;
            let keys = sqlx::query_as(concat!(select_keys!(), " ORDER BY created_at DESC, id DESC"))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            (users, keys)
        });
        Ok(Access {
            users: users
                .into_iter()
                .map(User::try_from)
                .collect::<Result<_, _>>()?,
            keys: keys
                .into_iter()
                .map(KeyRecord::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Opens a read-only transaction whose statements all see one snapshot of the database.
trait BeginSnapshot {
    type Database: sqlx::Database;
    async fn begin_snapshot(&self) -> sqlx::Result<Transaction<'static, Self::Database>>;
}

impl BeginSnapshot for SqlitePool {
    type Database = Sqlite;
    // A SQLite transaction reads one snapshot from its first read to its end.
    async fn begin_snapshot(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.begin().await
    }
}

impl BeginSnapshot for PgPool {
    type Database = Postgres;
    // PostgreSQL's default (READ COMMITTED) takes a new snapshot for every statement;
    // REPEATABLE READ keeps the first one for the whole transaction.
    async fn begin_snapshot(&self) -> sqlx::Result<Transaction<'static, Postgres>> {
        let mut tx = self.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Emails compare case-insensitively and without stray spaces; storing them normalised lets a
/// plain UNIQUE index enforce that on both backends.
pub(crate) fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn now_millis() -> UnixMillis {
    // A clock before 1970 is a broken host; 0 keeps rows orderable rather than failing writes.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses an id column, naming the column if the text is not an id.
pub(crate) fn parse_id<T>(text: &str, column: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{column} `{text}` is not a UUID: {e}")))
}

/// A policy as stored: NULL for the open policy, so the rows of accounts and keys that never had
/// one (and every row from before the column existed) read back the same as an open one.
fn encode_policy(policy: &DataPolicy, column: &str) -> Result<Option<String>, StoreError> {
    if policy.is_open() {
        return Ok(None);
    }
    serde_json::to_string(policy)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {column}: {e}")))
}

/// Reads a stored policy back, naming the column and row when the text is not one.
fn decode_policy(text: Option<&str>, column: &str, id: &str) -> Result<DataPolicy, StoreError> {
    match text {
        None => Ok(DataPolicy::default()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            StoreError::Corrupt(format!(
                "{column} of {id} is not a data policy in JSON: {e}"
            ))
        }),
    }
}

/// A `users` row as the database returns it; converted to [`User`] after the query so that the
/// decoding code is shared by both backends.
#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    role: String,
    disabled: bool,
    created_at: i64,
    price_group: Option<String>,
    data_policy: Option<String>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<User, StoreError> {
        let data_policy = decode_policy(row.data_policy.as_deref(), "users.data_policy", &row.id)?;
        Ok(User {
            id: parse_id(&row.id, "users.id")?,
            role: Role::parse(&row.role).ok_or_else(|| {
                StoreError::Corrupt(format!("users.role `{}` is not a role", row.role))
            })?,
            email: row.email,
            disabled: row.disabled,
            created_at: row.created_at,
            price_group: row.price_group,
            data_policy,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    user_id: String,
    name: String,
    visible_prefix: String,
    hash: Vec<u8>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    allowed_models: Option<String>,
    data_policy: Option<String>,
    log_content: bool,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;
    fn try_from(row: KeyRow) -> Result<KeyRecord, StoreError> {
        let hash = row.hash.as_slice().try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "api_keys.hash of key {} has {} bytes, not 32",
                row.id,
                row.hash.len()
            ))
        })?;
        let allowed_models = row
            .allowed_models
            .as_deref()
            .map(serde_json::from_str::<Vec<String>>)
            .transpose()
            .map_err(|e| {
                StoreError::Corrupt(format!(
                    "api_keys.allowed_models of key {} is not a JSON array of names: {e}",
                    row.id
                ))
            })?;
        let data_policy =
            decode_policy(row.data_policy.as_deref(), "api_keys.data_policy", &row.id)?;
        Ok(KeyRecord {
            id: parse_id(&row.id, "api_keys.id")?,
            user_id: parse_id(&row.user_id, "api_keys.user_id")?,
            name: row.name,
            visible_prefix: row.visible_prefix,
            hash,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            allowed_models,
            data_policy,
            log_content: row.log_content,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn open_policies_are_stored_as_null_and_read_back() {
        assert_eq!(encode_policy(&DataPolicy::default(), "c").unwrap(), None);
        assert_eq!(
            decode_policy(None, "c", "x").unwrap(),
            DataPolicy::default()
        );
        let zdr = DataPolicy {
            zdr: true,
            ..DataPolicy::default()
        };
        let text = encode_policy(&zdr, "c").unwrap().unwrap();
        assert_eq!(text, r#"{"zdr":true}"#);
        assert_eq!(decode_policy(Some(&text), "c", "x").unwrap(), zdr);
    }

    #[test]
    fn a_corrupt_policy_names_its_column_and_row() {
        for text in ["not json", r#"{"zdr":"yes"}"#, r#"{"regions":["EU"]}"#] {
            let err = decode_policy(Some(text), "api_keys.data_policy", "k-1").unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
            let message = err.to_string();
            assert!(message.contains("api_keys.data_policy of k-1"), "{message}");
        }
    }
}
