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
pub struct Change {
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

/// Appends `change` as done by `actor` (`None`: the system, or an operator at the command
/// line, which has no account to name).
pub async fn record(store: &Store, actor: Option<&User>, change: Change) {
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

/// Where the [`trail`] layer learns who the caller was: it puts an empty slot into the
/// request, and the `Actor` extractor fills it once the caller is authenticated.
#[derive(Clone, Debug, Default)]
pub(crate) struct AuditSlot(pub std::sync::Arc<std::sync::OnceLock<User>>);

/// What a handler adds to its response for the [`trail`] to record: the fields it changed.
/// Never a secret (a password, a key, a provider credential).
#[derive(Clone, Debug)]
pub(crate) struct AuditDetail(pub Value);

/// Routes that record richer entries themselves, or change nothing an audit is about
/// (signing in and out, asking for a mail, the payment processor's webhook).
const SELF_RECORDED: &[&str] = &[
    "/api/account",
    "/api/account/retention",
    "/api/auth/restore",
    "/api/admin/users/{id}/restore",
    "/api/admin/users/{id}/hold",
    "/api/auth/signin",
    "/api/auth/signout",
    "/api/auth/verify/request",
    "/api/auth/reset/request",
    "/api/webhooks/stripe",
];

/// The audit layer of `/api`: every successful state-changing request of an authenticated
/// caller becomes one entry, `METHOD route` done to the route's first path parameter. Being
/// one layer rather than a line in each handler, a new route is audited without anyone
/// remembering to; handlers add what changed with [`AuditDetail`].
pub(crate) async fn trail(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let Some(route) = route.filter(|r| {
        !request.method().is_safe()
            && r.starts_with("/api/")
            && !SELF_RECORDED.contains(&r.as_str())
    }) else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let slot = AuditSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let Some(actor) = slot.0.get() else {
        return response;
    };
    if !response.status().is_success() {
        return response;
    }
    let (target, target_id) = target_of(&route, &path);
    let subject = if route.contains("/users/{id}") {
        target_id.as_deref().and_then(|id| id.parse().ok())
    } else if actor.role == Role::Admin {
        None
    } else {
        Some(actor.id)
    };
    let mut detail = serde_json::json!({ "method": method.as_str(), "path": path });
    if let Some(AuditDetail(Value::Object(fields))) = response.extensions().get::<AuditDetail>()
        && let Value::Object(map) = &mut detail
    {
        map.extend(fields.clone());
    }
    let action: &'static str = match method.as_str() {
        "POST" => "create",
        "PUT" => "replace",
        "PATCH" => "update",
        "DELETE" => "delete",
        _ => "change",
    };
    record(
        state.gateway.store(),
        Some(actor),
        Change {
            action,
            target,
            target_id,
            subject,
            detail,
        },
    )
    .await;
    response
}

/// The kind of thing a route acts on, and the first parameter's value in `path`: a balance for
/// routes ending in `credit` or `overdraft`, else the literal segment before the first
/// parameter (or the route's last one).
fn target_of(route: &str, path: &str) -> (&'static str, Option<String>) {
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let values: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let param = segments.iter().position(|s| s.starts_with('{'));
    let last = segments.last().copied().unwrap_or("api");
    let noun = match param {
        _ if matches!(last, "credit" | "overdraft") => last,
        Some(i) if i > 0 => segments[i - 1],
        _ => last,
    };
    let target = match noun {
        "users" | "account" | "profile" | "password" => "user",
        "keys" | "key" => "key",
        "providers" => "provider",
        "models" => "model",
        "channels" => "channel",
        "codes" | "redeem" => "code",
        "credit" | "overdraft" | "checkout" => "balance",
        "identities" | "oidc" => "identity",
        _ => "other",
    };
    let id = param.and_then(|i| values.get(i)).map(|v| (*v).to_owned());
    (target, id)
}

#[cfg(test)]
mod tests {
    use super::target_of;

    #[test]
    fn routes_name_their_target() {
        assert_eq!(
            target_of("/api/admin/users/{id}", "/api/admin/users/u1"),
            ("user", Some("u1".into()))
        );
        assert_eq!(
            target_of("/api/keys/{id}/revoke", "/api/keys/k9/revoke"),
            ("key", Some("k9".into()))
        );
        assert_eq!(target_of("/api/keys", "/api/keys"), ("key", None));
        assert_eq!(
            target_of("/api/admin/providers/{name}", "/api/admin/providers/acme"),
            ("provider", Some("acme".into()))
        );
        assert_eq!(
            target_of("/api/auth/profile", "/api/auth/profile"),
            ("user", None)
        );
        assert_eq!(
            target_of("/api/admin/users/{id}/credit", "/api/admin/users/u2/credit"),
            ("balance", Some("u2".into()))
        );
    }
}
