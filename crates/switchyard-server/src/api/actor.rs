//! Who a management request acts for: the owner of its API key, or the user signed in with
//! the session cookie. One extractor, [`Actor`], so every `/api` handler accepts both.
//!
//! A key in the request wins over a cookie. A session's state-changing request (any method but
//! GET, HEAD and OPTIONS) must carry the session's CSRF token in `x-csrf-token`, and must not
//! come from another site by `Sec-Fetch-Site`; a key's needs neither, since a browser never
//! attaches one by itself. The inference API (`/v1`) stays key-only and in memory.

use super::Reply;
use super::manage::store_error;
use crate::AppState;
use crate::auth;
use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, Method};
use switchyard_core::catalog::{KeyRecord, User};
use switchyard_core::error::ErrorCode;
use switchyard_gateway::{ApiError, pipeline_now_millis};

/// The caller of a management request.
#[derive(Debug)]
pub(crate) struct Actor {
    pub user: User,
    pub via: Via,
    /// The key the request presented, whose restrictions (models, data policy) narrow what
    /// the caller may use; `None` for a session.
    pub key: Option<KeyRecord>,
}

/// How the caller authenticated.
#[derive(Debug)]
pub(crate) enum Via {
    Key,
    Session {
        id_hash: [u8; 32],
        csrf_token: String,
    },
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = Reply;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Actor, Reply> {
        let actor = authenticate(state, &parts.method, &parts.headers).await?;
        // The audit layer records who made a change once the handler succeeded.
        if let Some(slot) = parts.extensions.get::<crate::audit::AuditSlot>() {
            let _ = slot.0.set(actor.user.clone());
        }
        Ok(actor)
    }
}

/// A session's `last_seen_at` is written at most this often, so browsing is not one write
/// per request.
const TOUCH_EVERY_MS: i64 = 60_000;

pub(crate) async fn authenticate(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Actor, Reply> {
    let settings = &state.auth.settings;
    let presented = super::credentials(headers);
    let cookie = auth::cookie_value(headers, settings.cookie_name()).filter(|c| !c.is_empty());
    let (Some(raw), None) = (cookie, presented) else {
        let caller = state.gateway.authenticate(presented).map_err(|e| {
            if presented.is_none() {
                // Neither a key nor a session: say both ways in.
                ApiError::new(
                    e.code,
                    "You are not signed in and sent no API key. Sign in (POST /api/auth/signin) or send a key as `Authorization: Bearer <key>`.",
                )
            } else {
                e
            }
        })?;
        return Ok(Actor {
            user: caller.user.clone(),
            via: Via::Key,
            key: Some(caller.key.clone()),
        });
    };
    let ended = || {
        Reply::from(ApiError::new(
            ErrorCode::InvalidSession,
            "Your session has ended (signed out, expired or replaced); sign in again.",
        ))
    };
    let id_hash = auth::hash_token(raw);
    let store = state.gateway.store();
    let session = store
        .session(&id_hash)
        .await
        .map_err(store_error)?
        .ok_or_else(ended)?;
    let now = pipeline_now_millis();
    let idle = i64::try_from(settings.idle.as_millis()).unwrap_or(i64::MAX);
    if now >= session.expires_at || now.saturating_sub(session.last_seen_at) >= idle {
        return Err(ended());
    }
    if !(method.is_safe()) {
        if !auth::same_origin(headers) {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "This request comes from another site (Sec-Fetch-Site) and is refused.",
            )
            .into());
        }
        if !auth::csrf_matches(headers, &session.csrf_token) {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "A signed-in browser must send its CSRF token (`csrf_token` of GET /api/auth/me) in the `x-csrf-token` header.",
            )
            .into());
        }
    }
    let user = store
        .user_by_id(session.user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(ended)?;
    if user.disabled {
        return Err(ApiError::new(ErrorCode::AccountDisabled, "This account is disabled.").into());
    }
    if now - session.last_seen_at >= TOUCH_EVERY_MS {
        store
            .touch_session(&id_hash, now)
            .await
            .map_err(store_error)?;
    }
    Ok(Actor {
        user,
        via: Via::Session {
            id_hash,
            csrf_token: session.csrf_token,
        },
        key: None,
    })
}
