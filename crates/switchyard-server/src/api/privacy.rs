//! The account's privacy controls and the operator's side of them (docs/privacy.md):
//! deleting the account (with re-authentication) and cancelling that within the grace window,
//! the account's own shorter retention windows, legal holds, and the audit log.

use super::Reply;
use super::actor::{Actor, Via};
use super::auth::{check_credentials, password_matches, refuse_cross_site, send, throttled};
use super::manage::{json_body, require_admin, store_error, user_id_in_path};
use crate::AppState;
use crate::audit::{self, Change};
use crate::mail::Mail;
use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Instant;
use switchyard_core::UserId;
use switchyard_core::catalog::{UnixMillis, User};
use switchyard_core::error::ErrorCode;
use switchyard_core::retention::{AccountWindows, DAY_MS, Windows};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{AuditEntry, AuditFilter, PrivacyState};

/// An account without a password proves presence by a sign-in at most this long ago.
const RECENT_SIGNIN_MS: i64 = 10 * 60 * 1000;

fn seconds(at: UnixMillis) -> i64 {
    at.div_euclid(1000)
}

fn windows_json(w: &Windows) -> Value {
    json!({
        "client_ip_days": w.client_ip_days,
        "usage_log_days": w.usage_log_days,
        "payment_record_days": w.payment_record_days,
        "deleted_account_days": w.deleted_account_days,
        "content_log_days": w.content_log_days,
        "audit_log_days": w.audit_log_days,
    })
}

fn state_json(platform: &Windows, state: &PrivacyState) -> Value {
    json!({
        "object": "account.privacy",
        "deletion": state.deletion_requested_at.map(|at| json!({
            "requested_at": seconds(at),
            "purge_after": seconds(at + platform.deleted_account_days * DAY_MS),
        })),
        "legal_hold": state.legal_hold_at.is_some(),
        "retention": {
            "platform": windows_json(platform),
            "account": {
                "usage_log_days": state.windows.usage_log_days,
                "client_ip_days": state.windows.client_ip_days,
            },
            "effective": {
                "usage_log_days": platform.usage_log_days_for(state.windows),
                "client_ip_days": platform.client_ip_days_for(state.windows),
            },
        },
    })
}

async fn privacy_state(state: &AppState, user: UserId) -> Result<PrivacyState, Reply> {
    state
        .gateway
        .store()
        .privacy_state(user)
        .await
        .map_err(store_error)?
        .ok_or_else(|| super::manage::no_such_user(&user.to_string()))
}

/// `GET /api/account/privacy`: the caller's deletion state and retention windows.
pub async fn show(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    let privacy = privacy_state(&state, caller.user.id).await?;
    Ok(Json(state_json(&state.retention, &privacy)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionInput {
    usage_log_days: Option<i64>,
    client_ip_days: Option<i64>,
}

/// `PUT /api/account/retention`: the account's own windows; each at least a day and at most
/// the platform's (`null` keeps the platform's).
pub async fn set_retention(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let input: RetentionInput = json_body(&body)?;
    let platform = &state.retention;
    for (name, value, most) in [
        (
            "usage_log_days",
            input.usage_log_days,
            platform.usage_log_days,
        ),
        (
            "client_ip_days",
            input.client_ip_days,
            platform.client_ip_days,
        ),
    ] {
        if let Some(days) = value
            && !(1..=most).contains(&days)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`{name}` must be 1 to {most} days (the platform keeps it {most}); null keeps the platform's window."),
            )
            .with_param(name)
            .into());
        }
    }
    let windows = AccountWindows {
        usage_log_days: input.usage_log_days,
        client_ip_days: input.client_ip_days,
    };
    let store = state.gateway.store();
    store
        .set_account_windows(caller.user.id, windows)
        .await
        .map_err(store_error)?;
    audit::record(
        store,
        Some(&caller.user),
        Change {
            action: "account.retention",
            target: "user",
            target_id: Some(caller.user.id.to_string()),
            subject: Some(caller.user.id),
            detail: json!({"usage_log_days": windows.usage_log_days, "client_ip_days": windows.client_ip_days}),
        },
    )
    .await;
    let privacy = privacy_state(&state, caller.user.id).await?;
    Ok(Json(state_json(platform, &privacy)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    #[serde(default)]
    password: Option<String>,
}

fn reauth(message: &str) -> Reply {
    ApiError::new(ErrorCode::ReauthenticationRequired, message.to_owned()).into()
}

/// Proves the owner is present for a grave change (`what`): a browser session, and the
/// password (throttled like sign-in), or for an account without one a sign-in within the
/// last ten minutes.
async fn reauthenticate(
    state: &AppState,
    caller: &Actor,
    peer: SocketAddr,
    password: Option<String>,
    what: &str,
) -> Result<(), Reply> {
    let Via::Session { id_hash, .. } = &caller.via else {
        return Err(reauth(&format!(
            "To {what}, use a signed-in browser session and the password, not an API key."
        )));
    };
    let store = state.gateway.store();
    let user = &caller.user;
    let phc = store.password_hash(user.id).await.map_err(store_error)?;
    if phc.is_some() {
        let Some(password) = password else {
            return Err(reauth(&format!(
                "Confirm with your password (`password` in the body) to {what}."
            )));
        };
        let address = peer.ip().to_string();
        let throttle = &state.auth.throttle;
        throttled(throttle.check(&user.email, &address, Instant::now()))?;
        if !password_matches(password, phc).await {
            throttle.failed(&user.email, &address, Instant::now());
            return Err(reauth(&format!(
                "The password is wrong; nothing changed (to {what})."
            )));
        }
        throttle.succeeded(&user.email);
        return Ok(());
    }
    let session = store
        .session(id_hash)
        .await
        .map_err(store_error)?
        .ok_or_else(|| reauth("Sign in again, then try again."))?;
    if pipeline_now_millis() - session.created_at > RECENT_SIGNIN_MS {
        return Err(reauth(&format!(
            "Sign in again with your provider, then {what} within ten minutes."
        )));
    }
    Ok(())
}

/// `DELETE /api/account`: schedules the caller's account for deletion. Sign-in, sessions and
/// keys stop at once; the personal data is purged after the grace window
/// (`retention.deleted_account_days`), until when `POST /api/auth/restore` cancels it. Needs a
/// browser session and the password (an account without one: a sign-in in the last ten
/// minutes).
pub async fn delete_account(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Actor,
    body: Bytes,
) -> Result<Response, Reply> {
    let input: DeleteInput = if body.is_empty() {
        DeleteInput::default()
    } else {
        json_body(&body)?
    };
    reauthenticate(&state, &caller, peer, input.password, "delete the account").await?;
    let store = state.gateway.store();
    let user = &caller.user;
    let now = pipeline_now_millis();
    let hmac =
        switchyard_store::email_hmac(state.gateway.key_secret().expose().as_bytes(), &user.email);
    store
        .request_deletion(user.id, now, &hmac)
        .await
        .map_err(store_error)?;
    // Its keys must stop on this node before the answer, not at the next refresh.
    state.gateway.reload_access().await.map_err(store_error)?;
    audit::record(
        store,
        Some(user),
        Change {
            action: "account.delete",
            target: "user",
            target_id: Some(user.id.to_string()),
            subject: Some(user.id),
            detail: json!({}),
        },
    )
    .await;
    let purge_after = now + state.retention.deleted_account_days * DAY_MS;
    send(
        &state,
        Mail {
            to: user.email.clone(),
            subject: "Your account will be deleted".into(),
            body: format!(
                "You asked us to delete your account. Signing in and your API keys stopped working at once.\n\nYour personal data will be erased after {} days. Until then you can cancel: open {}/app/signin and choose \"Cancel the deletion\", with your email and password.\n\nPayment records the law requires us to keep stay, without your name or email.\n",
                state.retention.deleted_account_days, state.auth.settings.public_url
            ),
            link: format!("{}/app/signin", state.auth.settings.public_url),
        },
    );
    let body = json!({
        "object": "account.deletion",
        "requested_at": seconds(now),
        "purge_after": seconds(purge_after),
        "cancel": "POST /api/auth/restore",
    });
    Ok((
        StatusCode::OK,
        [(header::SET_COOKIE, state.auth.settings.clearing_cookie())],
        Json(body),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreInput {
    email: String,
    password: String,
}

/// Cancels `user`'s pending deletion on behalf of `actor` (the account itself, or an admin):
/// 409 when there is nothing to cancel; this node's keys reloaded; the audit entry written.
async fn cancel_deletion(state: &AppState, actor: &User, user: UserId) -> Result<(), Reply> {
    let store = state.gateway.store();
    if !store.cancel_deletion(user).await.map_err(store_error)? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "This account is not scheduled for deletion (or was already erased).",
        )
        .into());
    }
    state.gateway.reload_access().await.map_err(store_error)?;
    audit::record(
        store,
        Some(actor),
        Change {
            action: "account.restore",
            target: "user",
            target_id: Some(user.to_string()),
            subject: Some(user),
            detail: json!({}),
        },
    )
    .await;
    Ok(())
}

/// `POST /api/auth/restore`: cancels the deletion of the account with this email and password
/// while its grace window lasts. The keys revoked by the deletion stay revoked. Wrong
/// credentials answer as a failed sign-in does, and count towards the same throttle.
pub async fn restore(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    refuse_cross_site(&headers)?;
    let input: RestoreInput = json_body(&body)?;
    let user = check_credentials(&state, &input.email, input.password, peer).await?;
    cancel_deletion(&state, &user, user.id).await?;
    Ok(Json(json!({"object": "account.restore", "restored": true})))
}

/// `POST /api/admin/users/{id}/restore`: an operator cancels a pending deletion (for accounts
/// that sign in only through an identity provider, say).
pub async fn admin_restore(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let user = user_id_in_path(&id)?;
    cancel_deletion(&state, &caller.user, user).await?;
    Ok(Json(state_json(
        &state.retention,
        &privacy_state(&state, user).await?,
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldInput {
    reason: String,
}

/// `PUT /api/admin/users/{id}/hold`: places a legal hold (a dispute): no retention purge or
/// erasure touches the account until it is lifted.
pub async fn place_hold(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let user = user_id_in_path(&id)?;
    let input: HoldInput = json_body(&body)?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`reason` must say why the account is held (1 to 500 characters).",
        )
        .with_param("reason")
        .into());
    }
    hold(&state, &caller, &id, user, Some(reason)).await
}

/// `DELETE /api/admin/users/{id}/hold`: lifts the hold; the next purge catches up.
pub async fn lift_hold(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let user = user_id_in_path(&id)?;
    hold(&state, &caller, &id, user, None).await
}

async fn hold(
    state: &AppState,
    caller: &Actor,
    id: &str,
    user: UserId,
    reason: Option<&str>,
) -> Result<Json<Value>, Reply> {
    let store = state.gateway.store();
    if !store
        .set_legal_hold(user, reason, pipeline_now_millis())
        .await
        .map_err(store_error)?
    {
        return Err(super::manage::no_such_user(id));
    }
    audit::record(
        store,
        Some(&caller.user),
        Change {
            action: if reason.is_some() {
                "user.hold"
            } else {
                "user.release"
            },
            target: "user",
            target_id: Some(id.to_owned()),
            subject: Some(user),
            detail: json!({"reason": reason}),
        },
    )
    .await;
    let privacy = privacy_state(state, user).await?;
    let mut body = state_json(&state.retention, &privacy);
    body["legal_hold_reason"] = json!(privacy.legal_hold_reason);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

pub(crate) fn audit_json(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": seconds(entry.at),
        "actor_id": entry.actor.map(|u| u.to_string()),
        "actor_role": entry.actor_role.as_str(),
        "action": entry.action,
        "target": entry.target,
        "target_id": entry.target_id,
        "subject_id": entry.subject.map(|u| u.to_string()),
        "detail": serde_json::from_str::<Value>(&entry.detail).unwrap_or(Value::Null),
    })
}

/// `GET /api/admin/audit?user=&cursor=&limit=`: the audit log, newest first, a keyset page
/// at a time (`cursor` is the previous page's `next_cursor`).
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let subject = query.user.as_deref().map(user_id_in_path).transpose()?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            cursor
                .split_once('_')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    Reply::from(
                        ApiError::new(
                            ErrorCode::InvalidRequest,
                            "`cursor` is not one this API gave.",
                        )
                        .with_param("cursor"),
                    )
                })?,
        ),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let entries = state
        .gateway
        .store()
        .list_audit(&AuditFilter {
            subject,
            before,
            limit,
        })
        .await
        .map_err(store_error)?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| format!("{}_{}", e.at, e.id)))
        .flatten();
    Ok(Json(json!({
        "object": "list",
        "data": entries.iter().map(audit_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    email: String,
    #[serde(default)]
    password: Option<String>,
}

fn invalid_email(message: String) -> Reply {
    ApiError::new(ErrorCode::InvalidRequest, message)
        .with_param("email")
        .into()
}

/// `POST /api/auth/email` `{email, password}`: starts changing the caller's address. A link
/// goes to the new address (it takes effect only when opened) and a notice to the old one.
/// Needs the same proof of presence as deleting the account.
pub async fn change_email(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    let input: EmailInput = json_body(&body)?;
    let email = input.email.trim().to_lowercase();
    if !crate::accounts::email_is_valid(&email) {
        return Err(invalid_email(format!("`{email}` is not an email address.")));
    }
    if email == caller.user.email {
        return Err(invalid_email(
            "This is the account's address already.".into(),
        ));
    }
    reauthenticate(
        &state,
        &caller,
        peer,
        input.password,
        "change the email address",
    )
    .await?;
    let store = state.gateway.store();
    if store
        .user_by_email(&email)
        .await
        .map_err(store_error)?
        .is_some()
    {
        return Err(
            ApiError::new(ErrorCode::Conflict, "Another account uses this address.")
                .with_param("email")
                .into(),
        );
    }
    let token = crate::auth::Token::generate();
    let now = pipeline_now_millis();
    let ttl = state.auth.settings.verify_ttl;
    let expires = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    store
        .request_email_change(&token.hash, caller.user.id, &email, now, expires)
        .await
        .map_err(store_error)?;
    let public = &state.auth.settings.public_url;
    let link = format!("{public}/app/confirm-email?token={}", token.raw);
    send(
        &state,
        Mail {
            to: email.clone(),
            subject: "Confirm your new email address".into(),
            body: format!(
                "Open this link to make this address your account's:\n\n{link}\n\nIt works for {} hours. If you did not ask for this, ignore this message.\n",
                ttl.as_secs() / 3600
            ),
            link,
        },
    );
    send(
        &state,
        Mail {
            to: caller.user.email.clone(),
            subject: "A change of your email address was requested".into(),
            body: format!(
                "Someone signed in to your account asked to change its address to {email}. It changes only when the link sent there is opened.\n\nIf this was not you, reset your password now: {public}/app/forgot\n"
            ),
            link: format!("{public}/app/forgot"),
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"object": "email_change", "pending": email})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmInput {
    token: String,
}

/// `POST /api/auth/email/confirm` `{token}`: applies the change the mailed link proves; the
/// old and new addresses go to the audit log as the account's own change.
pub async fn confirm_email(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    refuse_cross_site(&headers)?;
    let input: ConfirmInput = json_body(&body)?;
    let store = state.gateway.store();
    let hash = crate::auth::hash_token(&input.token);
    let Some(change) = store
        .confirm_email_change(&hash, pipeline_now_millis())
        .await
        .map_err(store_error)?
    else {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "This link is not valid any more (used, expired, or replaced by a newer request).",
        )
        .with_param("token")
        .into());
    };
    state.gateway.reload_access().await.map_err(store_error)?;
    let user = store.user_by_id(change.user).await.map_err(store_error)?;
    audit::record(
        store,
        user.as_ref(),
        Change {
            action: "update",
            target: "user",
            target_id: Some(change.user.to_string()),
            subject: Some(change.user),
            detail: json!({"changes": {"email": {"from": change.from, "to": change.to}}}),
        },
    )
    .await;
    Ok(Json(json!({"object": "email_change", "email": change.to})))
}
