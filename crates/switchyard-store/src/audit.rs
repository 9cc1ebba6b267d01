//! The audit log: who (an admin, the account's owner, or the system) did what to which account,
//! key, provider, model, price or balance, and when.
//!
//! **Invariant:** append-only. This module offers no statement that changes or deletes an
//! entry; the only writes besides [`Store::append_audit`] are the erasure's scrub of an erased
//! account's details (`crate::erasure`) and the retention purge of entries past the window.

use crate::{Store, StoreError};
use switchyard_core::UserId;
use switchyard_core::catalog::UnixMillis;

/// Who acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorRole {
    Admin,
    User,
    /// The platform itself (a retention purge, a start-up task).
    System,
}

impl ActorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorRole::Admin => "admin",
            ActorRole::User => "user",
            ActorRole::System => "system",
        }
    }

    fn parse(text: &str) -> Result<ActorRole, StoreError> {
        match text {
            "admin" => Ok(ActorRole::Admin),
            "user" => Ok(ActorRole::User),
            "system" => Ok(ActorRole::System),
            other => Err(StoreError::Corrupt(format!(
                "audit_log.actor_role `{other}` is not a role"
            ))),
        }
    }
}

/// One entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// A UUIDv7, so ids sort by time.
    pub id: String,
    pub at: UnixMillis,
    pub actor: Option<UserId>,
    pub actor_role: ActorRole,
    /// What was done, as `noun.verb` (`user.disable`, `key.revoke`, `account.delete`, …).
    pub action: String,
    /// The kind of thing acted on (`user`, `key`, `provider`, `model`, `balance`, …).
    pub target: String,
    pub target_id: Option<String>,
    /// The account the entry concerns, if any: it appears in that account's export.
    pub subject: Option<UserId>,
    /// JSON: what changed.
    pub detail: String,
}

/// Which entries to list, newest first, after the keyset cursor `(at, id)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub subject: Option<UserId>,
    pub before: Option<(UnixMillis, String)>,
    pub limit: u32,
}

type AuditRow = (
    String,
    i64,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);

impl Store {
    /// Appends one entry.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO audit_log (id, at, actor_id, actor_role, action, target, target_id, \
                 subject_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&entry.id)
            .bind(entry.at)
            .bind(entry.actor.map(|u| u.to_string()))
            .bind(entry.actor_role.as_str())
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(entry.target_id.as_deref())
            .bind(entry.subject.map(|u| u.to_string()))
            .bind(&entry.detail)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Entries newest first: everyone's, or those concerning one account.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(filter.limit.clamp(1, 1_000));
        let rows: Vec<AuditRow> = on_pool!(&self.db, pool => {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, at, actor_id, actor_role, action, target, target_id, subject_id, \
                 detail FROM audit_log WHERE 1 = 1",
            );
            if let Some(subject) = filter.subject {
                query.push(" AND subject_id = ").push_bind(subject.to_string());
            }
            if let Some((at, id)) = &filter.before {
                query
                    .push(" AND at <= ")
                    .push_bind(*at)
                    .push(" AND (at, id) < (")
                    .push_bind(*at)
                    .push(", ")
                    .push_bind(id.clone())
                    .push(")");
            }
            query.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(limit);
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(
                |(id, at, actor, role, action, target, target_id, subject, detail)| {
                    Ok(AuditEntry {
                        id,
                        at,
                        actor: actor
                            .map(|a| crate::access::parse_id(&a, "audit_log.actor_id"))
                            .transpose()?,
                        actor_role: ActorRole::parse(&role)?,
                        action,
                        target,
                        target_id,
                        subject: subject
                            .map(|s| crate::access::parse_id(&s, "audit_log.subject_id"))
                            .transpose()?,
                        detail,
                    })
                },
            )
            .collect()
    }
}
