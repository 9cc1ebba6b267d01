//! `/api/auth/...`: sign-up, sign-in and sign-out with a password, the caller's own account
//! (`me`, password, profile), and the emailed links that verify an address or reset a
//! password.
//!
//! Enumeration: a sign-in with an unknown email answers exactly like one with a wrong
//! password, after verifying a dummy hash so it takes as long; a reset request answers the same
//! whether or not the address has an account, and does its work after answering. Sign-up does
//! say when an address is taken (a 409): hiding that would need the confirmation to happen by
//! mail before the account exists.

use super::Reply;
use super::actor::{Actor, Via};
use super::manage::{accounts_error, json_body, store_error, user_json};
use crate::AppState;
use crate::accounts;
use crate::audit::AuditDetail;
use crate::auth::{self, Token, password};
use crate::mail::Mail;
use axum::Extension;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchyard_core::UserId;
use switchyard_core::catalog::{Role, User};
use switchyard_core::error::ErrorCode;
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{Session, TokenPurpose};

/// The interface languages a profile may name: those the dashboard has catalogues for.
use crate::ui::lang::LANGUAGES;

fn invalid(param: &str, message: impl Into<String>) -> Reply {
    Reply::from(ApiError::new(ErrorCode::InvalidRequest, message).with_param(param))
}

/// Requests that need no session still must not come from another site: a forged sign-in
/// would sign the victim into the attacker's account.
pub(super) fn refuse_cross_site(headers: &HeaderMap) -> Result<(), Reply> {
    if auth::same_origin(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "This request comes from another site (Sec-Fetch-Site) and is refused.",
        )
        .into())
    }
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Hashes off the async workers: argon2id takes tens of milliseconds of CPU by design.
async fn hash_password(new: String) -> Result<String, Reply> {
    tokio::task::spawn_blocking(move || password::hash(&new))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            Reply::from(ApiError::new(
                ErrorCode::Internal,
                "The password could not be hashed; try again.",
            ))
        })
}

/// Verifies off the async workers; with no hash (unknown email, or no password set) it
/// verifies a dummy one so the answer takes as long.
pub(super) async fn password_matches(given: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => password::verify(&given, &phc),
        None => {
            password::verify_dummy(&given);
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Starts a session for `user`; returns its cookie and CSRF token.
pub(super) async fn start_session(
    state: &AppState,
    user: UserId,
) -> Result<(HeaderValue, String), Reply> {
    let settings = &state.auth.settings;
    let id = Token::generate();
    let csrf = Token::generate().raw;
    let now = pipeline_now_millis();
    let session = Session {
        id_hash: id.hash,
        user_id: user,
        csrf_token: csrf.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.saturating_add(millis(settings.absolute)),
    };
    state
        .gateway
        .store()
        .insert_session(&session, now.saturating_sub(millis(settings.idle)))
        .await
        .map_err(store_error)?;
    Ok((settings.session_cookie(&id.raw), csrf))
}

/// The session the request's cookie names, ended (sign-in replaces it, sign-out ends it).
pub(super) async fn end_presented_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(), Reply> {
    if let Some(raw) = auth::cookie_value(headers, state.auth.settings.cookie_name()) {
        state
            .gateway
            .store()
            .delete_session(&auth::hash_token(raw))
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// The caller's account as `GET /api/auth/me` shows it.
async fn me_json(state: &AppState, user: &User, csrf: Option<&str>) -> Result<Value, Reply> {
    let store = state.gateway.store();
    let profile = store
        .profile(user.id)
        .await
        .map_err(store_error)?
        .unwrap_or_default();
    let buyer = store
        .billing_profile(user.id)
        .await
        .map_err(store_error)?
        .map(|p| p.buyer)
        .unwrap_or_default();
    Ok(json!({
        "object": "me",
        "user": user_json(user, state.gateway.catalog().price_groups()),
        "profile": {
            "display_name": profile.display_name,
            "language": profile.language,
            "email_verified": profile.email_verified_at.is_some(),
            "email_verified_at": profile.email_verified_at.map(|t| t / 1000),
            // Set through PUT /api/billing/profile, which invoices are issued from.
            "company": buyer.company,
            "tax_id": buyer.vat_id,
        },
        // What the deployment allows, so the dashboard can show content logging as locked.
        "privacy": {"content_logging": state.gateway.content_logging()},
        "authenticated_by": if csrf.is_some() { "session" } else { "key" },
        "csrf_token": csrf,
    }))
}

fn with_cookie(status: StatusCode, cookie: HeaderValue, body: Value) -> Response {
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    email: String,
    password: String,
    /// Another user's referral code: links the new user to them.
    #[serde(default)]
    referral_code: Option<String>,
    /// Accepts the terms and privacy notice in effect; required once any is published.
    #[serde(default)]
    accept_terms: bool,
}

/// `POST /api/auth/signup`: creates an account with the role `user` (the same path as an
/// admin's `POST /api/users`, so new-user credit and referrals apply), signs it in, and mails
/// a verification link.
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reply> {
    refuse_cross_site(&headers)?;
    let input: Signup = json_body(&body)?;
    password::check_policy(&input.password).map_err(|m| invalid("password", m))?;
    super::consent::accept_at_signup(&state, input.accept_terms, None).await?;
    let phc = hash_password(input.password).await?;
    let signup = accounts::Signup {
        key_secret: state.gateway.key_secret(),
        new_user_credit: state.promotions.new_user_credit,
        referral_code: input.referral_code.as_deref(),
    };
    let store = state.gateway.store();
    let user = accounts::create_user(store, &input.email, Role::User, signup)
        .await
        .map_err(accounts_error)?;
    store
        .set_password_hash(user.id, &phc, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    super::consent::accept_at_signup(&state, input.accept_terms, Some(user.id)).await?;
    state.gateway.reload_access().await.map_err(store_error)?;
    // The new-user credit, if any, moved money outside the hot path.
    state.gateway.balances_changed();
    send_verification(&state, &user).await?;
    let (cookie, csrf) = start_session(&state, user.id).await?;
    let body = me_json(&state, &user, Some(&csrf)).await?;
    Ok(with_cookie(StatusCode::CREATED, cookie, body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signin {
    email: String,
    password: String,
}

/// Checks an email and a password as sign-in does: throttled per account and per address,
/// and the same queries, work and answer whether or not the email is known. Returns the
/// account (which may be disabled: the caller decides what that means).
pub(super) async fn check_credentials(
    state: &AppState,
    email: &str,
    password: String,
    peer: SocketAddr,
) -> Result<User, Reply> {
    let address = peer.ip().to_string();
    let throttle = &state.auth.throttle;
    throttled(throttle.check(email, &address, Instant::now()))?;
    let store = state.gateway.store();
    let user = store.user_by_email(email).await.map_err(store_error)?;
    // The same two queries whether or not the email is known (a fresh id finds no hash), so
    // only the argon2 work, which is the same too, sets the answer's time.
    let phc = store
        .password_hash(user.as_ref().map_or_else(UserId::new, |u| u.id))
        .await
        .map_err(store_error)?;
    let matches = password_matches(password, phc).await;
    let Some(user) = user.filter(|_| matches) else {
        throttle.failed(email, &address, Instant::now());
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "The email or the password is wrong.",
        )
        .into());
    };
    throttle.succeeded(email);
    Ok(user)
}

/// `POST /api/auth/signin`: a new session for the right email and password. Wrong password
/// and unknown email give the same 401; too many failures for the account or the address give
/// 429 with `retry-after`.
pub async fn signin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reply> {
    refuse_cross_site(&headers)?;
    let input: Signin = json_body(&body)?;
    let user = check_credentials(&state, &input.email, input.password, peer).await?;
    let store = state.gateway.store();
    if user.disabled {
        let pending = store
            .privacy_state(user.id)
            .await
            .map_err(store_error)?
            .is_some_and(|p| p.deletion_requested_at.is_some() && p.erased_at.is_none());
        if pending {
            return Err(ApiError::new(
                ErrorCode::AccountPendingDeletion,
                "This account is scheduled for deletion. To keep it, cancel the deletion (POST /api/auth/restore with the same email and password).",
            )
            .into());
        }
        return Err(ApiError::new(ErrorCode::AccountDisabled, "This account is disabled.").into());
    }
    // A new id at every sign-in: a session id planted before sign-in is worth nothing.
    end_presented_session(&state, &headers).await?;
    let (cookie, csrf) = start_session(&state, user.id).await?;
    let body = me_json(&state, &user, Some(&csrf)).await?;
    Ok(with_cookie(StatusCode::OK, cookie, body))
}

pub(super) fn throttled(check: Result<(), Duration>) -> Result<(), Reply> {
    check.map_err(|wait| {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Reply::from(
            ApiError::new(
                ErrorCode::TooManyAttempts,
                format!("Too many failed sign-ins; try again in {seconds} s."),
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from(seconds.max(1))),
        )
    })
}

/// `POST /api/auth/signout`: ends the caller's session and clears the cookie.
pub async fn signout(State(state): State<AppState>, caller: Actor) -> Result<Response, Reply> {
    if let Via::Session { id_hash, .. } = &caller.via {
        state
            .gateway
            .store()
            .delete_session(id_hash)
            .await
            .map_err(store_error)?;
    }
    Ok(with_cookie(
        StatusCode::OK,
        state.auth.settings.clearing_cookie(),
        json!({"object": "signout", "signed_out": true}),
    ))
}

/// `GET /api/auth/me`: the caller, their profile, and (for a session) the CSRF token that
/// state-changing requests must echo in `x-csrf-token`.
pub async fn me(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    let csrf = match &caller.via {
        Via::Session { csrf_token, .. } => Some(csrf_token.as_str()),
        Via::Key => None,
    };
    Ok(Json(me_json(&state, &caller.user, csrf).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current: String,
    new: String,
}

/// `POST /api/auth/password`: replaces the password after checking the current one, ends
/// every session of the account, and (for a session caller) starts a fresh one.
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Actor,
    body: Bytes,
) -> Result<Response, Reply> {
    let input: ChangePassword = json_body(&body)?;
    password::check_policy(&input.new).map_err(|m| invalid("new", m))?;
    // Guessing the current password through a stolen session is throttled like a sign-in.
    let (email, address) = (caller.user.email.as_str(), peer.ip().to_string());
    let throttle = &state.auth.throttle;
    throttled(throttle.check(email, &address, Instant::now()))?;
    let store = state.gateway.store();
    let phc = store
        .password_hash(caller.user.id)
        .await
        .map_err(store_error)?;
    if !password_matches(input.current, phc).await {
        throttle.failed(email, &address, Instant::now());
        return Err(invalid(
            "current",
            "The current password is wrong. Without one, reset it by email (POST /api/auth/reset/request).",
        ));
    }
    let phc = hash_password(input.new).await?;
    store
        .set_password_hash(caller.user.id, &phc, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    store
        .delete_user_sessions(caller.user.id)
        .await
        .map_err(store_error)?;
    match caller.via {
        Via::Session { .. } => {
            let (cookie, csrf) = start_session(&state, caller.user.id).await?;
            let body = me_json(&state, &caller.user, Some(&csrf)).await?;
            Ok(with_cookie(StatusCode::OK, cookie, body))
        }
        Via::Key => Ok(Json(me_json(&state, &caller.user, None).await?).into_response()),
    }
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    language: Option<Option<String>>,
}

/// `PATCH /api/auth/profile` `{display_name?, language?}`: a field sent replaces (`null` or
/// empty clears), a field left out is kept. Company and VAT number are the billing profile's
/// (`PUT /api/billing/profile`).
pub async fn update_profile(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(Extension<AuditDetail>, Json<Value>), Reply> {
    let patch: ProfilePatch = json_body(&body)?;
    let store = state.gateway.store();
    let mut profile = store
        .profile(caller.user.id)
        .await
        .map_err(store_error)?
        .unwrap_or_default();
    // The change history that rectification keeps: each field before and after.
    let before = (profile.display_name.clone(), profile.language.clone());
    if let Some(name) = patch.display_name {
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if let Some(n) = &name
            && (n.chars().count() > 100 || n.chars().any(char::is_control))
        {
            return Err(invalid(
                "display_name",
                "`display_name` has at most 100 characters and no control characters",
            ));
        }
        profile.display_name = name;
    }
    if let Some(language) = patch.language {
        if let Some(l) = &language
            && !LANGUAGES.contains(&l.as_str())
        {
            return Err(invalid(
                "language",
                format!("`language` is one of {}", LANGUAGES.join(", ")),
            ));
        }
        profile.language = language;
    }
    store
        .set_profile(
            caller.user.id,
            profile.display_name.as_deref(),
            profile.language.as_deref(),
        )
        .await
        .map_err(store_error)?;
    let csrf = match &caller.via {
        Via::Session { csrf_token, .. } => Some(csrf_token.as_str()),
        Via::Key => None,
    };
    let mut changes = serde_json::Map::new();
    if before.0 != profile.display_name {
        changes.insert(
            "display_name".into(),
            json!({"from": before.0, "to": profile.display_name}),
        );
    }
    if before.1 != profile.language {
        changes.insert(
            "language".into(),
            json!({"from": before.1, "to": profile.language}),
        );
    }
    Ok((
        Extension(AuditDetail(json!({ "changes": changes }))),
        Json(me_json(&state, &caller.user, csrf).await?),
    ))
}

/// Creates an emailed token of `purpose` for `user`, valid for `ttl`; returns the raw token.
async fn email_token(
    state: &AppState,
    user: UserId,
    purpose: TokenPurpose,
    ttl: Duration,
) -> Result<String, switchyard_store::StoreError> {
    let token = Token::generate();
    let now = pipeline_now_millis();
    state
        .gateway
        .store()
        .insert_email_token(
            &token.hash,
            user,
            purpose,
            now,
            now.saturating_add(millis(ttl)),
        )
        .await?;
    Ok(token.raw)
}

/// Sends in the background: the answer does not wait on (or reveal) the mail server.
/// Callers check [`crate::auth::Auth::may_mail`] first.
pub(super) fn send(state: &AppState, mail: Mail) {
    let mailer = state.auth.mailer.clone();
    tokio::spawn(async move {
        let to = mail.to.clone();
        if let Err(e) = mailer.send(mail).await {
            tracing::warn!(to = %to, error = %e, "sending mail failed");
        }
    });
}

async fn send_verification(state: &AppState, user: &User) -> Result<(), Reply> {
    let ttl = state.auth.settings.verify_ttl;
    let token = email_token(state, user.id, TokenPurpose::Verify, ttl)
        .await
        .map_err(store_error)?;
    let link = format!(
        "{}/verify-email?token={token}",
        state.auth.settings.public_url
    );
    send(
        state,
        Mail {
            to: user.email.clone(),
            subject: "Confirm your email address".into(),
            body: format!(
                "Open this link to confirm that this address is yours:\n\n{link}\n\nIt works for {} hours. If you did not sign up, ignore this message.\n",
                ttl.as_secs() / 3600
            ),
            link,
        },
    );
    Ok(())
}

/// `POST /api/auth/verify/request`: mails the caller a new verification link (none if the
/// address is already verified).
pub async fn request_verification(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Actor,
) -> Result<(StatusCode, Json<Value>), Reply> {
    let profile = state
        .gateway
        .store()
        .profile(caller.user.id)
        .await
        .map_err(store_error)?
        .unwrap_or_default();
    if profile.email_verified_at.is_some() {
        return Ok((StatusCode::OK, Json(json!({"email_verified": true}))));
    }
    if !state
        .auth
        .may_mail(&caller.user.email, &peer.ip().to_string())
    {
        return Err(ApiError::new(
            ErrorCode::TooManyAttempts,
            "Too many verification mails asked for; look for the last one, or try again in an hour.",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("3600"))
        .into());
    }
    send_verification(&state, &caller.user).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"email_verified": false, "sent": true})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    token: String,
}

fn bad_link() -> Reply {
    invalid(
        "token",
        "This link is unknown, already used or expired; ask for a new one.",
    )
}

/// `POST /api/auth/verify` `{token}`: the token from the emailed link proves the address.
/// Needs no session: the token is the proof.
pub async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    refuse_cross_site(&headers)?;
    let input: TokenInput = json_body(&body)?;
    let now = pipeline_now_millis();
    let store = state.gateway.store();
    let user = store
        .use_email_token(&auth::hash_token(&input.token), TokenPurpose::Verify, now)
        .await
        .map_err(store_error)?
        .ok_or_else(bad_link)?;
    store
        .set_email_verified(user, now)
        .await
        .map_err(store_error)?;
    Ok(Json(json!({"email_verified": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    email: String,
}

/// `POST /api/auth/reset/request` `{email}`: mails a reset link if the address has an
/// account. The answer is the same either way and comes before any of that work is done.
/// Beyond [`crate::auth::MAIL_LIMITS`] (counted per email as written, known or not) nothing
/// is sent, and the answer is still the same.
pub async fn request_reset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    refuse_cross_site(&headers)?;
    let input: ResetRequest = json_body(&body)?;
    let allowed = state.auth.may_mail(&input.email, &peer.ip().to_string());
    let background = state.clone();
    tokio::spawn(async move {
        if !allowed {
            return;
        }
        if let Err(e) = mail_reset_link(&background, &input.email).await {
            tracing::warn!(error = %e, "preparing a password reset failed");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "sent": true,
            "message": "If an account uses this address, a reset link is on its way.",
        })),
    ))
}

async fn mail_reset_link(
    state: &AppState,
    email: &str,
) -> Result<(), switchyard_store::StoreError> {
    let Some(user) = state.gateway.store().user_by_email(email).await? else {
        return Ok(());
    };
    if user.disabled {
        return Ok(());
    }
    let ttl = state.auth.settings.reset_ttl;
    let token = email_token(state, user.id, TokenPurpose::Reset, ttl).await?;
    let link = format!(
        "{}/reset-password?token={token}",
        state.auth.settings.public_url
    );
    send(
        state,
        Mail {
            to: user.email,
            subject: "Reset your password".into(),
            body: format!(
                "Open this link to choose a new password:\n\n{link}\n\nIt works for {} minutes and signs out every session. If you did not ask for it, ignore this message.\n",
                ttl.as_secs() / 60
            ),
            link,
        },
    );
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetInput {
    token: String,
    password: String,
}

/// `POST /api/auth/reset` `{token, password}`: sets the password and ends every session of
/// the account. The emailed token also proves the address.
pub async fn reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reply> {
    refuse_cross_site(&headers)?;
    let input: ResetInput = json_body(&body)?;
    password::check_policy(&input.password).map_err(|m| invalid("password", m))?;
    // Hashed first, so a valid token is not used up by a failure after it.
    let phc = hash_password(input.password).await?;
    let now = pipeline_now_millis();
    let store = state.gateway.store();
    let user = store
        .use_email_token(&auth::hash_token(&input.token), TokenPurpose::Reset, now)
        .await
        .map_err(store_error)?
        .ok_or_else(bad_link)?;
    store
        .set_password_hash(user, &phc, now)
        .await
        .map_err(store_error)?;
    store
        .delete_user_sessions(user)
        .await
        .map_err(store_error)?;
    store
        .set_email_verified(user, now)
        .await
        .map_err(store_error)?;
    Ok(with_cookie(
        StatusCode::OK,
        state.auth.settings.clearing_cookie(),
        json!({"password_reset": true}),
    ))
}
