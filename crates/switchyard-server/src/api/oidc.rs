//! `/api/auth/providers`, `/api/auth/oidc/{provider}/{start,callback}` and
//! `/api/auth/identities`: signing in with an OpenID provider, and linking and unlinking
//! identities from settings. The protocol work is `auth::oidc`; this is the HTTP around it.
//!
//! Login CSRF: a flow is bound to the browser that started it through the session cookie, the
//! only cookie Switchyard sets. Starting a sign-in puts a fresh random *pre-session* value in
//! it (no session row exists for it, so it authenticates nothing) and stores its SHA-256 with
//! the flow; starting a link binds to the caller's session. The callback takes the flow by its
//! `state` (single use), and goes on only if the browser presents that same cookie. A sign-in
//! then always issues a new session id.
//!
//! The callback is a browser navigation, so it answers with `303 See Other` to the web UI:
//! `/app/` or `/app/settings` on success, the sign-in or settings page with `?error=<code>`
//! on failure ([`SignInError::code`]).

use super::Reply;
use super::actor::{self, Actor, Via};
use super::auth::{end_presented_session, millis, refuse_cross_site, start_session};
use super::manage::{json_body, store_error};
use crate::AppState;
use crate::accounts;
use crate::auth::oidc::{FLOW_TTL, SignInError, id_token::Claims};
use crate::auth::{self, Token};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;
use switchyard_core::catalog::{Role, User};
use switchyard_core::error::ErrorCode;
use switchyard_core::{IdentityId, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{FlowPurpose, Identity, OidcFlow, StoreError, Unlink};

/// Where the web UI's pages are.
const SIGNED_IN: &str = "/app/";
const SIGNIN_PAGE: &str = "/app/signin";
const SETTINGS_PAGE: &str = "/app/settings";

/// `GET /api/auth/providers`: the providers the sign-in page offers, as `[{id, name}]`.
pub async fn providers(State(state): State<AppState>) -> Json<Value> {
    let list: Vec<Value> = state
        .auth
        .oidc
        .providers()
        .map(|p| json!({"id": p.id, "name": p.name}))
        .collect();
    Json(Value::Array(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    purpose: Purpose,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Purpose {
    Signin,
    Link,
}

fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!(
        "{}/api/auth/oidc/{provider}/callback",
        state.auth.settings.public_url
    )
}

/// `POST /api/auth/oidc/{provider}/start` `{purpose: "signin" | "link"}` → `{url}`: the
/// provider's authorization URL to send the browser to. A sign-in needs no session (and
/// replaces the cookie with a pre-session); a link needs a session and its CSRF token.
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Reply> {
    let input: Start = json_body(&body)?;
    if state.auth.oidc.provider(&provider).is_none() {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!(
                "There is no sign-in provider `{provider}`; GET /api/auth/providers lists them."
            ),
        )
        .into());
    }
    let (purpose, binding_hash, pre_session) = match input.purpose {
        Purpose::Signin => {
            refuse_cross_site(&headers)?;
            let pre_session = Token::generate();
            (FlowPurpose::SignIn, pre_session.hash, Some(pre_session))
        }
        Purpose::Link => {
            // Checks the session, Sec-Fetch-Site and the CSRF token like any POST.
            let caller = actor::authenticate(&state, &Method::POST, &headers).await?;
            let Via::Session { id_hash, .. } = caller.via else {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "Linking an identity needs a signed-in browser session, not an API key.",
                )
                .with_param("purpose")
                .into());
            };
            (FlowPurpose::Link(caller.user.id), id_hash, None)
        }
    };
    let redirect_uri = redirect_uri(&state, &provider);
    let authorization = state
        .auth
        .oidc
        .authorize(&provider, &redirect_uri)
        .await
        .map_err(|e| {
            tracing::warn!(provider = %provider, error = %e, "starting an OpenID sign-in failed");
            Reply::from(ApiError::new(
                ErrorCode::UpstreamFailed,
                format!(
                    "The sign-in provider `{provider}` cannot be used right now; try again later."
                ),
            ))
        })?;
    let now = pipeline_now_millis();
    let flow = OidcFlow {
        state_hash: authorization.state.hash,
        provider: provider.clone(),
        purpose,
        nonce: authorization.nonce,
        code_verifier: authorization.code_verifier,
        binding_hash,
        created_at: now,
        expires_at: now.saturating_add(millis(FLOW_TTL)),
    };
    state
        .gateway
        .store()
        .insert_oidc_flow(&flow)
        .await
        .map_err(store_error)?;
    if pre_session.is_some() {
        // A session this browser had is over: the cookie is about to name the pre-session.
        end_presented_session(&state, &headers).await?;
    }
    let mut response = Json(json!({"url": authorization.url})).into_response();
    let headers_out = response.headers_mut();
    headers_out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(pre_session) = pre_session {
        headers_out.insert(
            header::SET_COOKIE,
            state.auth.settings.pre_session_cookie(&pre_session.raw),
        );
    }
    Ok(response)
}

/// A `303 See Other` to `location`, setting `cookie` if given. The callback's URL carries the
/// code and state, so no `Referer` may leak it onwards.
fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

fn failed(page: &str, error: &SignInError) -> String {
    format!("{page}?error={}", error.code())
}

/// `GET /api/auth/oidc/{provider}/callback?code&state` (or `?error&state`): where the
/// provider sends the browser back. Always a 303 to the web UI.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    // RFC 6749 §3.1: a parameter sent twice is refused (here: the flow is not even looked up).
    let mut params = BTreeMap::new();
    let mut repeated = false;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        repeated |= params
            .insert(name.into_owned(), value.into_owned())
            .is_some();
    }
    let Some(raw_state) = params.get("state").filter(|_| !repeated) else {
        return see_other(&failed(SIGNIN_PAGE, &SignInError::InvalidState), None);
    };
    // Before the flow is known the cookie is left alone: a forged callback must not sign
    // anyone out.
    let flow = match state
        .gateway
        .store()
        .take_oidc_flow(&auth::hash_token(raw_state), pipeline_now_millis())
        .await
    {
        Ok(Some(flow)) if flow.provider == provider => flow,
        Ok(_) => return see_other(&failed(SIGNIN_PAGE, &SignInError::InvalidState), None),
        Err(e) => {
            tracing::error!(error = %e, "taking an OpenID flow failed");
            let error = SignInError::Internal(e.to_string());
            return see_other(&failed(SIGNIN_PAGE, &error), None);
        }
    };
    let page = match flow.purpose {
        FlowPurpose::SignIn => SIGNIN_PAGE,
        FlowPurpose::Link(_) => SETTINGS_PAGE,
    };
    let settings = &state.auth.settings;
    let presented = auth::cookie_value(&headers, settings.cookie_name()).unwrap_or_default();
    let bound = bool::from(
        auth::hash_token(presented)
            .as_slice()
            .ct_eq(flow.binding_hash.as_slice()),
    );
    if presented.is_empty() || !bound {
        return see_other(&failed(page, &SignInError::BrowserMismatch), None);
    }
    match finish(&state, &provider, &flow, &params).await {
        Ok(Finished::SignedIn(cookie)) => see_other(SIGNED_IN, Some(cookie)),
        Ok(Finished::Linked) => see_other(SETTINGS_PAGE, None),
        Err(error) => {
            match &error {
                SignInError::Internal(_) | SignInError::Unavailable(_) => {
                    tracing::error!(provider = %provider, error = %error, "OpenID sign-in failed")
                }
                _ => tracing::info!(provider = %provider, error = %error, "OpenID sign-in refused"),
            }
            // A failed sign-in leaves nothing behind: its pre-session is dropped. A failed
            // link keeps the session it was started from.
            let cookie = (flow.purpose == FlowPurpose::SignIn).then(|| settings.clearing_cookie());
            see_other(&failed(page, &error), cookie)
        }
    }
}

enum Finished {
    /// Signed in: the new session's cookie.
    SignedIn(HeaderValue),
    Linked,
}

/// The callback after the flow and its browser are known good: redeem the code, verify the
/// ID token, then sign in or link.
async fn finish(
    state: &AppState,
    provider: &str,
    flow: &OidcFlow,
    params: &BTreeMap<String, String>,
) -> Result<Finished, SignInError> {
    if let Some(error) = params.get("error") {
        return Err(SignInError::Denied(error.clone()));
    }
    let code = params
        .get("code")
        .ok_or_else(|| SignInError::CodeRejected("the callback has no code".into()))?;
    let claims = state
        .auth
        .oidc
        .redeem(
            provider,
            code,
            &flow.code_verifier,
            &redirect_uri(state, provider),
            &flow.nonce,
        )
        .await?;
    let issuer = state
        .auth
        .oidc
        .provider(provider)
        .ok_or(SignInError::UnknownProvider)?
        .issuer
        .clone();
    match flow.purpose {
        FlowPurpose::SignIn => sign_in(state, &issuer, claims).await,
        FlowPurpose::Link(user) => link(state, &issuer, claims, user, flow).await,
    }
}

fn internal(e: impl std::fmt::Display) -> SignInError {
    SignInError::Internal(e.to_string())
}

/// The known account of (issuer, subject), or a new one; then a new session for it.
async fn sign_in(state: &AppState, issuer: &str, claims: Claims) -> Result<Finished, SignInError> {
    let store = state.gateway.store();
    let user = match store
        .identity_by_subject(issuer, &claims.subject)
        .await
        .map_err(internal)?
    {
        Some(identity) => {
            if identity.email != claims.email {
                store
                    .set_identity_email(identity.id, claims.email.as_deref())
                    .await
                    .map_err(internal)?;
            }
            store
                .user_by_id(identity.user_id)
                .await
                .map_err(internal)?
                .ok_or_else(|| internal("an identity's user is missing"))?
        }
        None => create_account(state, issuer, &claims).await?,
    };
    if user.disabled {
        return Err(SignInError::AccountDisabled);
    }
    let (cookie, _csrf) = start_session(state, user.id)
        .await
        .map_err(|_| internal("starting a session failed"))?;
    Ok(Finished::SignedIn(cookie))
}

/// A new account (role `user`) for an identity seen for the first time, with the address the
/// provider vouches for. An address that already has an account is not linked to it: whoever
/// controls an identity at some provider would otherwise take over any account whose email
/// that provider lets them claim. Its owner signs in with the password and links from
/// settings instead.
async fn create_account(
    state: &AppState,
    issuer: &str,
    claims: &Claims,
) -> Result<User, SignInError> {
    let email = claims.email.as_deref().ok_or(SignInError::EmailMissing)?;
    if !claims.email_verified {
        return Err(SignInError::EmailUnverified);
    }
    let store = state.gateway.store();
    if store
        .user_by_email(email)
        .await
        .map_err(internal)?
        .is_some()
    {
        return Err(SignInError::EmailTaken);
    }
    let signup = accounts::Signup {
        key_secret: state.gateway.key_secret(),
        new_user_credit: state.promotions.new_user_credit,
        referral_code: None,
    };
    let user = match accounts::create_user(store, email, Role::User, signup).await {
        Ok(user) => user,
        // Two first sign-ins of one person racing: the other one created the account.
        Err(accounts::AccountsError::Store(StoreError::Conflict(_))) => {
            return match store
                .identity_by_subject(issuer, &claims.subject)
                .await
                .map_err(internal)?
            {
                Some(identity) => store
                    .user_by_id(identity.user_id)
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| internal("an identity's user is missing")),
                None => Err(SignInError::EmailTaken),
            };
        }
        Err(e) => return Err(internal(e)),
    };
    let now = pipeline_now_millis();
    // The provider vouched for the address (checked above).
    store
        .set_email_verified(user.id, now)
        .await
        .map_err(internal)?;
    store
        .insert_identity(&Identity {
            id: IdentityId::new(),
            user_id: user.id,
            issuer: issuer.to_owned(),
            subject: claims.subject.clone(),
            email: claims.email.clone(),
            created_at: now,
        })
        .await
        .map_err(internal)?;
    state.gateway.reload_access().await.map_err(internal)?;
    // The new-user credit, if any, moved money outside the hot path.
    state.gateway.balances_changed();
    Ok(user)
}

/// Links the identity to the user who started the flow, if their session is still the one
/// the flow is bound to.
async fn link(
    state: &AppState,
    issuer: &str,
    claims: Claims,
    user: UserId,
    flow: &OidcFlow,
) -> Result<Finished, SignInError> {
    let store = state.gateway.store();
    let session = store
        .session(&flow.binding_hash)
        .await
        .map_err(internal)?
        .filter(|s| s.user_id == user && s.expires_at > pipeline_now_millis())
        .ok_or(SignInError::SessionEnded)?;
    if let Some(existing) = store
        .identity_by_subject(issuer, &claims.subject)
        .await
        .map_err(internal)?
    {
        // Linking again what is already linked is done; to someone else, refused.
        return if existing.user_id == session.user_id {
            Ok(Finished::Linked)
        } else {
            Err(SignInError::IdentityTaken)
        };
    }
    let identity = Identity {
        id: IdentityId::new(),
        user_id: session.user_id,
        issuer: issuer.to_owned(),
        subject: claims.subject,
        email: claims.email,
        created_at: pipeline_now_millis(),
    };
    match store.insert_identity(&identity).await {
        Ok(()) => Ok(Finished::Linked),
        Err(StoreError::Conflict(_)) => Err(SignInError::IdentityTaken),
        Err(e) => Err(internal(e)),
    }
}

/// An identity as the API shows it; `provider` (and `provider_name`) is the configured
/// provider with its issuer, null if that provider was removed from the configuration.
fn identity_json(state: &AppState, identity: &Identity) -> Value {
    let provider = state
        .auth
        .oidc
        .providers()
        .find(|p| p.issuer == identity.issuer);
    json!({
        "object": "identity",
        "id": identity.id,
        "provider": provider.map(|p| json!({"id": p.id, "name": p.name})),
        // The label alone, as the settings page shows it.
        "provider_name": provider.map(|p| p.name.as_str()),
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "created_at": identity.created_at / 1000,
    })
}

/// `GET /api/auth/identities`: the caller's linked identities, oldest first.
pub async fn identities(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, Reply> {
    let list = state
        .gateway
        .store()
        .identities_of(caller.user.id)
        .await
        .map_err(store_error)?;
    let data: Vec<Value> = list.iter().map(|i| identity_json(&state, i)).collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `DELETE /api/auth/identities/{id}`: unlinks one of the caller's identities; 409 when it is
/// their last way to sign in (no password, no other identity).
pub async fn unlink(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let not_found = || {
        Reply::from(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("You have no linked identity `{id}`; GET /api/auth/identities lists them."),
        ))
    };
    let parsed: IdentityId = id.parse().map_err(|_| not_found())?;
    match state
        .gateway
        .store()
        .unlink_identity(caller.user.id, parsed)
        .await
        .map_err(store_error)?
    {
        Unlink::Done => Ok(Json(json!({"object": "identity", "id": parsed, "deleted": true}))),
        Unlink::NotFound => Err(not_found()),
        Unlink::LastSignInMethod => Err(ApiError::new(
            ErrorCode::Conflict,
            "This is your only way to sign in. Set a password (or link another identity) before unlinking it.",
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_go_back_to_the_page_with_the_code() {
        assert_eq!(
            failed(SIGNIN_PAGE, &SignInError::InvalidState),
            "/app/signin?error=invalid_state"
        );
        let response = see_other("/app/", None);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/app/");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    }
}
