//! Sign-in through OpenID Connect providers: identities linked to users, keyed by
//! (issuer, subject), and the single-use state of each authorization code flow in flight.
//!
//! Like sessions, nothing here is in the gateway's snapshot. A flow's `state` and browser
//! binding reach this crate only as SHA-256 hashes, hashed by the caller.

use crate::access::parse_id;
use crate::{Store, StoreError};
use switchyard_core::catalog::UnixMillis;
use switchyard_core::{IdentityId, UserId};

/// An account at an OpenID provider, linked to a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: IdentityId,
    pub user_id: UserId,
    /// The provider's issuer identifier, exactly as the ID token's `iss` carried it.
    pub issuer: String,
    /// The ID token's `sub`: stable and unique within the issuer (OIDC Core §5.7).
    pub subject: String,
    /// What the provider last said the address was; for display, never for lookups.
    pub email: Option<String>,
    pub created_at: UnixMillis,
}

/// What an authorization code flow was started for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowPurpose {
    /// Sign in (or sign up) with the identity.
    SignIn,
    /// Link the identity to the signed-in user.
    Link(UserId),
}

/// One authorization request in flight, found by the SHA-256 of its `state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcFlow {
    pub state_hash: [u8; 32],
    /// The configured provider's id (the slug in the callback's path).
    pub provider: String,
    pub purpose: FlowPurpose,
    /// What the ID token's `nonce` must be.
    pub nonce: String,
    /// The PKCE verifier (RFC 7636) sent with the code to the token endpoint.
    pub code_verifier: String,
    /// SHA-256 of the session cookie the flow was started with; the callback must present it.
    pub binding_hash: [u8; 32],
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

/// How an unlink ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unlink {
    Done,
    /// The user has no such identity.
    NotFound,
    /// It is the user's last way to sign in: no password and no other identity.
    LastSignInMethod,
}

impl Store {
    /// Stores a new flow. Also deletes every flow that expired by `flow.created_at`, so
    /// abandoned flows (the user closed the provider's page) do not pile up.
    pub async fn insert_oidc_flow(&self, flow: &OidcFlow) -> Result<(), StoreError> {
        let (purpose, user) = match flow.purpose {
            FlowPurpose::SignIn => ("signin", None),
            FlowPurpose::Link(user) => ("link", Some(user.to_string())),
        };
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO oidc_flows (state_hash, provider, purpose, user_id, nonce, \
                 code_verifier, binding_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(flow.state_hash.as_slice())
            .bind(flow.provider.as_str())
            .bind(purpose)
            .bind(user)
            .bind(flow.nonce.as_str())
            .bind(flow.code_verifier.as_str())
            .bind(flow.binding_hash.as_slice())
            .bind(flow.created_at)
            .bind(flow.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::on_write(
                    e,
                    "a flow with this state already exists",
                    Some("the flow's user does not exist"),
                )
            })?;
            sqlx::query("DELETE FROM oidc_flows WHERE expires_at <= $1")
                .bind(flow.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Takes the flow whose state hashes to `state_hash`: deletes it and returns it if it had
    /// not expired at `now`. One statement, so a state replayed (or raced) finds nothing the
    /// second time, and an expired one is gone as well.
    pub async fn take_oidc_flow(
        &self,
        state_hash: &[u8; 32],
        now: UnixMillis,
    ) -> Result<Option<OidcFlow>, StoreError> {
        let row: Option<FlowRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "DELETE FROM oidc_flows WHERE state_hash = $1 RETURNING state_hash, provider, \
                 purpose, user_id, nonce, code_verifier, binding_hash, created_at, expires_at",
            )
            .bind(state_hash.as_slice())
            .fetch_optional(pool)
            .await
        })?;
        let flow = row.map(OidcFlow::try_from).transpose()?;
        Ok(flow.filter(|f| f.expires_at > now))
    }

    /// The identity with this issuer and subject, if one is linked.
    pub async fn identity_by_subject(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError> {
        let row: Option<IdentityRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, user_id, issuer, subject, email, created_at FROM identities \
                 WHERE issuer = $1 AND subject = $2",
            )
            .bind(issuer)
            .bind(subject)
            .fetch_optional(pool)
            .await
        })?;
        row.map(Identity::try_from).transpose()
    }

    /// The user's identities, oldest first.
    pub async fn identities_of(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        let rows: Vec<IdentityRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, user_id, issuer, subject, email, created_at FROM identities \
                 WHERE user_id = $1 ORDER BY created_at, id",
            )
            .bind(user.to_string())
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter().map(Identity::try_from).collect()
    }

    /// Links an identity. [`StoreError::Conflict`] when (issuer, subject) is already linked,
    /// to this user or another; [`StoreError::NotFound`] when the user does not exist.
    pub async fn insert_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO identities (id, user_id, issuer, subject, email, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(identity.id.to_string())
            .bind(identity.user_id.to_string())
            .bind(identity.issuer.as_str())
            .bind(identity.subject.as_str())
            .bind(identity.email.as_deref())
            .bind(identity.created_at)
            .execute(pool)
            .await
            .map_err(|e| {
                StoreError::on_write(
                    e,
                    "this identity is already linked to an account",
                    Some("the identity's user does not exist"),
                )
            })?;
        });
        Ok(())
    }

    /// Records the address the provider gave at the latest sign-in (it may have changed).
    pub async fn set_identity_email(
        &self,
        id: IdentityId,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query("UPDATE identities SET email = $2 WHERE id = $1")
                .bind(id.to_string())
                .bind(email)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Unlinks one of `user`'s identities, unless it is their last way to sign in (no
    /// password hash and no other identity). The check and the delete are one transaction
    /// that locks the user first, so two unlinks racing cannot remove both of the last two
    /// identities.
    pub async fn unlink_identity(
        &self,
        user: UserId,
        id: IdentityId,
    ) -> Result<Unlink, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            // SQLite's write lock is taken by BEGIN IMMEDIATE; on PostgreSQL, locking the
            // user's row serializes the unlinks of one user, so each counts what the other left.
            if self.backend() == crate::Backend::Postgres {
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                    .bind(user.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            let deleted = sqlx::query("DELETE FROM identities WHERE id = $1 AND user_id = $2")
                .bind(id.to_string())
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(Unlink::NotFound);
            }
            let (others, passwords): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM identities WHERE user_id = $1), \
                 (SELECT COUNT(*) FROM password_hashes WHERE user_id = $1)",
            )
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await?;
            if others == 0 && passwords == 0 {
                tx.rollback().await?;
                return Ok(Unlink::LastSignInMethod);
            }
            tx.commit().await?;
            Ok(Unlink::Done)
        })
    }
}

#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: String,
    user_id: String,
    issuer: String,
    subject: String,
    email: Option<String>,
    created_at: i64,
}

impl TryFrom<IdentityRow> for Identity {
    type Error = StoreError;
    fn try_from(row: IdentityRow) -> Result<Identity, StoreError> {
        Ok(Identity {
            id: parse_id(&row.id, "identities.id")?,
            user_id: parse_id(&row.user_id, "identities.user_id")?,
            issuer: row.issuer,
            subject: row.subject,
            email: row.email,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct FlowRow {
    state_hash: Vec<u8>,
    provider: String,
    purpose: String,
    user_id: Option<String>,
    nonce: String,
    code_verifier: String,
    binding_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
}

fn hash32(bytes: &[u8], column: &str) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{column} has {} bytes, not 32", bytes.len())))
}

impl TryFrom<FlowRow> for OidcFlow {
    type Error = StoreError;
    fn try_from(row: FlowRow) -> Result<OidcFlow, StoreError> {
        let purpose = match (row.purpose.as_str(), row.user_id) {
            ("signin", None) => FlowPurpose::SignIn,
            ("link", Some(user)) => FlowPurpose::Link(parse_id(&user, "oidc_flows.user_id")?),
            (purpose, _) => {
                return Err(StoreError::Corrupt(format!(
                    "oidc_flows.purpose `{purpose}` does not fit its user_id"
                )));
            }
        };
        Ok(OidcFlow {
            state_hash: hash32(&row.state_hash, "oidc_flows.state_hash")?,
            provider: row.provider,
            purpose,
            nonce: row.nonce,
            code_verifier: row.code_verifier,
            binding_hash: hash32(&row.binding_hash, "oidc_flows.binding_hash")?,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}
