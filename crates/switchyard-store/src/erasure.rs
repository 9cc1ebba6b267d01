//! Correcting and deleting an account: a change of email address proved by a mailed link,
//! the deletion request (sign-in, sessions and keys stop at once), its
//! cancellation within the grace window, an operator's legal hold, an account's own shorter
//! retention windows, and the erasure that the retention purge runs once the grace has passed.
//!
//! **Invariant:** an erased account leaves no email, name, IP address or password anywhere in
//! the database. What stays is what the law or the books need, under the account's random id,
//! which is a pseudonym from then on: the ledger (balanced, untouched), payments, invoices
//! without buyer name or address, and the keyed hash of the email in `new_user_credit_claims`
//! so that new-user credit cannot be claimed twice.

use crate::access::BUMP_GENERATION;
use crate::{Store, StoreError};
use switchyard_core::UserId;
use switchyard_core::catalog::UnixMillis;
use switchyard_core::retention::AccountWindows;

/// Where an account stands on privacy: its deletion, hold and own windows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivacyState {
    pub deletion_requested_at: Option<UnixMillis>,
    pub erased_at: Option<UnixMillis>,
    pub legal_hold_at: Option<UnixMillis>,
    pub legal_hold_reason: Option<String>,
    pub windows: AccountWindows,
}

type StateRow = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

impl Store {
    /// The account's privacy state, or `None` for an unknown id.
    pub async fn privacy_state(&self, user: UserId) -> Result<Option<PrivacyState>, StoreError> {
        let row: Option<StateRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT deletion_requested_at, erased_at, legal_hold_at, legal_hold_reason, \
                 usage_log_days, client_ip_days FROM users WHERE id = $1",
            )
            .bind(user.to_string())
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(
            |(requested, erased, hold, reason, usage, ip)| PrivacyState {
                deletion_requested_at: requested,
                erased_at: erased,
                legal_hold_at: hold,
                legal_hold_reason: reason,
                windows: AccountWindows {
                    usage_log_days: usage,
                    client_ip_days: ip,
                },
            },
        ))
    }

    /// Starts the deletion of an account at `now`: it is disabled, its sessions end and its
    /// keys are revoked in one transaction, and `email_hmac` joins the credit claims so the
    /// email can never claim new-user credit again. Returns false when the account is unknown
    /// or already being deleted.
    pub async fn request_deletion(
        &self,
        user: UserId,
        now: UnixMillis,
        email_hmac: &str,
    ) -> Result<bool, StoreError> {
        let id = user.to_string();
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let changed = sqlx::query(
                "UPDATE users SET deletion_requested_at = $2, disabled = TRUE \
                 WHERE id = $1 AND deletion_requested_at IS NULL AND erased_at IS NULL",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO new_user_credit_claims (email_hmac, claimed_at) VALUES ($1, $2) \
                 ON CONFLICT (email_hmac) DO NOTHING",
            )
            .bind(email_hmac)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Cancels a pending deletion: the account signs in again (its revoked keys stay
    /// revoked). False when there is nothing to cancel (never requested, or already erased).
    pub async fn cancel_deletion(&self, user: UserId) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let changed = sqlx::query(
                "UPDATE users SET deletion_requested_at = NULL, disabled = FALSE \
                 WHERE id = $1 AND deletion_requested_at IS NOT NULL AND erased_at IS NULL",
            )
            .bind(user.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(changed > 0)
        })
    }

    /// Places (`Some(reason)`) or lifts (`None`) a legal hold. False for an unknown account.
    pub async fn set_legal_hold(
        &self,
        user: UserId,
        hold: Option<&str>,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let changed = on_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE users SET legal_hold_at = CASE WHEN $2 IS NULL THEN NULL \
                 ELSE COALESCE(legal_hold_at, $3) END, legal_hold_reason = $2 WHERE id = $1",
            )
            .bind(user.to_string())
            .bind(hold)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    /// Sets the account's own windows (`None` each: the platform's).
    pub async fn set_account_windows(
        &self,
        user: UserId,
        windows: AccountWindows,
    ) -> Result<bool, StoreError> {
        let changed = on_pool!(&self.db, pool => {
            sqlx::query("UPDATE users SET usage_log_days = $2, client_ip_days = $3 WHERE id = $1")
                .bind(user.to_string())
                .bind(windows.usage_log_days)
                .bind(windows.client_ip_days)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(changed > 0)
    }

    /// Accounts whose deletion was requested before `cutoff`, not yet erased, not held.
    pub(crate) async fn accounts_due_for_erasure(
        &self,
        cutoff: UnixMillis,
    ) -> Result<Vec<UserId>, StoreError> {
        let ids: Vec<String> = on_pool!(&self.db, pool => {
            sqlx::query_scalar(
                "SELECT id FROM users WHERE deletion_requested_at IS NOT NULL \
                 AND erased_at IS NULL AND deletion_requested_at < $1 \
                 AND legal_hold_at IS NULL ORDER BY deletion_requested_at",
            )
            .bind(cutoff)
            .fetch_all(pool)
            .await
        })?;
        ids.iter()
            .map(|id| crate::access::parse_id(id, "users.id"))
            .collect()
    }

    /// Erases an account's personal data (see the module doc). The usage log goes first, a
    /// batch at a time; the rest in one transaction that re-checks the account is still due
    /// (a hold placed meanwhile wins). Returns false when it was not due any more.
    pub(crate) async fn erase_account(
        &self,
        user: UserId,
        now: UnixMillis,
        batch: usize,
    ) -> Result<bool, StoreError> {
        let id = user.to_string();
        self.delete_user_log(&id, i64::MAX, batch).await?;
        self.delete_user_days(&id, i64::MAX, batch).await?;
        let erased_email = format!("erased-{id}@invalid");
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let due = sqlx::query(
                "UPDATE users SET email = $2, display_name = NULL, language = NULL, \
                 email_verified_at = NULL, usage_log_days = NULL, client_ip_days = NULL, \
                 disabled = TRUE, erased_at = $3 \
                 WHERE id = $1 AND deletion_requested_at IS NOT NULL AND erased_at IS NULL \
                 AND legal_hold_at IS NULL",
            )
            .bind(&id)
            .bind(&erased_email)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if due == 0 {
                return Ok(false);
            }
            // Rows that exist only for the person: gone.
            for statement in [
                "DELETE FROM password_hashes WHERE user_id = $1",
                "DELETE FROM sessions WHERE user_id = $1",
                "DELETE FROM email_tokens WHERE user_id = $1",
                "DELETE FROM email_changes WHERE user_id = $1",
                "DELETE FROM identities WHERE user_id = $1",
                "DELETE FROM oidc_flows WHERE user_id = $1",
                "DELETE FROM billing_profiles WHERE user_id = $1",
                "DELETE FROM referral_codes WHERE user_id = $1",
                "DELETE FROM spend_counters WHERE scope = 'key' AND owner IN \
                 (SELECT id FROM api_keys WHERE user_id = $1)",
                "DELETE FROM spend_limits WHERE scope = 'key' AND owner IN \
                 (SELECT id FROM api_keys WHERE user_id = $1)",
                "DELETE FROM spend_counters WHERE scope = 'user' AND owner = $1",
                "DELETE FROM spend_limits WHERE scope = 'user' AND owner = $1",
                "DELETE FROM api_keys WHERE user_id = $1",
                "DELETE FROM request_logs WHERE user_id = $1",
                "DELETE FROM content_logs WHERE user_id = $1",
                "DELETE FROM usage_daily WHERE user_id = $1",
                // Payment records stay for the law, without the buyer's name or address.
                "UPDATE invoices SET buyer_name = '', buyer_company = '', buyer_vat_id = '', \
                 buyer_address = '' WHERE user_id = $1",
                // The audit trail stays (who did what, when), its details do not.
                "UPDATE audit_log SET detail = '{\"erased\":true}' WHERE subject_id = $1",
            ] {
                sqlx::query(statement).bind(&id).execute(&mut *tx).await?;
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// A confirmed change of address: whose, and from what to what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailChange {
    pub user: UserId,
    pub from: String,
    pub to: String,
}

impl Store {
    /// Starts a change of `user`'s address to `new_email`, proved by the token whose SHA-256
    /// is `token_hash` until `expires_at`. Earlier pending changes of the user are dropped.
    pub async fn request_email_change(
        &self,
        token_hash: &[u8; 32],
        user: UserId,
        new_email: &str,
        now: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let new_email = crate::access::normalise_email(new_email);
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
                .bind(user.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO email_changes (token_hash, user_id, new_email, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash.as_slice())
            .bind(user.to_string())
            .bind(&new_email)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Applies the change the token proves, once: the address is replaced and counts as
    /// verified. `None` for an unknown, used or expired token; a conflict when another account
    /// took the address meanwhile.
    pub async fn confirm_email_change(
        &self,
        token_hash: &[u8; 32],
        now: UnixMillis,
    ) -> Result<Option<EmailChange>, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let pending: Option<(String, String)> = sqlx::query_as(
                "UPDATE email_changes SET used_at = $2 WHERE token_hash = $1 \
                 AND used_at IS NULL AND expires_at > $2 RETURNING user_id, new_email",
            )
            .bind(token_hash.as_slice())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user, to)) = pending else {
                return Ok(None);
            };
            let from: Option<String> = sqlx::query_scalar(
                "SELECT email FROM users WHERE id = $1 AND erased_at IS NULL \
                 AND deletion_requested_at IS NULL",
            )
            .bind(&user)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(from) = from else {
                return Ok(None);
            };
            sqlx::query("UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1")
                .bind(&user)
                .bind(&to)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    StoreError::on_write(e, "another account uses this address now", None)
                })?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(EmailChange {
                user: crate::access::parse_id(&user, "email_changes.user_id")?,
                from,
                to,
            }))
        })
    }
}
