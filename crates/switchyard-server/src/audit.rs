//! Recording who changed what: every management handler that changes an account, a key, a
//! provider, a model, a price or a balance calls [`record`] once the change has succeeded.
//!
//! An entry is written after the change, never instead of it: if the audit write fails the
//! change stands, the failure is logged at error level and counted
//! (`switchyard_audit_write_errors_total`), and the caller still gets their answer. Failing the
//! request would report an error for a change that did happen.

use serde_json::Value;
use switchyard_core::UserId;
use switchyard_core::catalog::{Role, User};
use switchyard_gateway::pipeline_now_millis;
use switchyard_store::{ActorRole, AuditEntry, Store};

/// What was done, to what, and for which account.
#[derive(Debug)]
pub(crate) struct Change {
    /// `noun.verb`: `account.delete`, `user.disable`, `key.create`, …
    pub action: &'static str,
    /// The kind of thing acted on: `user`, `key`, `provider`, `model`, `balance`, …
    pub target: &'static str,
    pub target_id: Option<String>,
    /// The account the entry concerns (shown in its export).
    pub subject: Option<UserId>,
    /// What changed: field names and their new values. Never a secret.
    pub detail: Value,
}

/// Appends `change` as done by `actor` (`None`: the system).
pub(crate) async fn record(store: &Store, actor: Option<&User>, change: Change) {
    let role = match actor {
        None => ActorRole::System,
        Some(user) if user.role == Role::Admin && change.subject != Some(user.id) => {
            ActorRole::Admin
        }
        Some(_) => ActorRole::User,
    };
    let entry = AuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: pipeline_now_millis(),
        actor: actor.map(|u| u.id),
        actor_role: role,
        action: change.action.to_owned(),
        target: change.target.to_owned(),
        target_id: change.target_id,
        subject: change.subject,
        detail: change.detail.to_string(),
    };
    if let Err(e) = store.append_audit(&entry).await {
        metrics::counter!("switchyard_audit_write_errors_total").increment(1);
        tracing::error!(error = %e, action = entry.action, "writing an audit entry failed");
    }
}
