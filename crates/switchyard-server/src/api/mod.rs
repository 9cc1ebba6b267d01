//! The router: which path goes to which handler, and the layers every request passes.

mod actor;
mod admin;
mod auth;
mod billing;
mod catalog_admin;
mod catalogue;
mod channels;
mod consent;
mod content;
mod export;
mod inference;
mod invoices;
mod limits;
mod manage;
mod margin;
mod oidc;
mod ops;
mod playground;
mod privacy;
mod stripe;
mod usage;

pub(crate) use usage::{csv_field, timestamp as rfc3339};

use crate::AppState;
use crate::request_id;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use http::HeaderMap;
use switchyard_core::error::ErrorCode;
use switchyard_gateway::ApiError;

pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route(
            "/api/users",
            get(manage::list_users).post(manage::create_user),
        )
        .route("/api/keys", get(manage::list_keys).post(manage::create_key))
        .route("/api/usage", get(usage::list))
        .route("/api/usage.csv", get(usage::csv))
        .route("/api/usage/daily", get(usage::daily))
        .route("/api/me/export", get(export::archive))
        .route("/api/models", get(catalogue::list))
        .route("/api/playground/key", post(playground::create_key))
        .route("/api/admin/users", get(admin::list_users))
        .route("/api/admin/users/{id}", patch(admin::patch_user))
        .route("/api/admin/stats", get(admin::stats))
        .route(
            "/api/keys/{id}",
            get(manage::get_key)
                .patch(manage::patch_key)
                .delete(manage::revoke_key),
        )
        .route("/api/admin/content/{request_id}", get(content::get))
        .route("/api/keys/{id}/revoke", post(manage::revoke_key))
        .route(
            "/api/keys/{id}/data_policy",
            put(manage::set_key_data_policy),
        )
        .route(
            "/api/users/{id}/data_policy",
            put(manage::set_user_data_policy),
        )
        .route(
            "/api/keys/{id}/limits",
            get(limits::get_key_limits).put(limits::put_key_limits),
        )
        .route(
            "/api/admin/users/{id}/limits",
            get(limits::get_user_limits).put(limits::put_user_limits),
        )
        .route("/api/billing/checkout", post(stripe::checkout))
        .route("/api/webhooks/stripe", post(stripe::webhook))
        .route(
            "/api/billing/profile",
            get(invoices::get_profile).put(invoices::put_profile),
        )
        .route("/api/billing/invoices", get(invoices::list_invoices))
        .route(
            "/api/billing/invoices/{number}",
            get(invoices::download_invoice),
        )
        .route("/api/billing/balance", get(billing::balance))
        .route("/api/billing/ledger", get(billing::ledger))
        .route("/api/billing/holds", get(billing::holds))
        .route("/api/billing/redeem", post(billing::redeem))
        .route("/api/billing/referral", get(billing::referral))
        .route("/api/admin/codes", post(billing::create_codes))
        .route("/api/admin/users/{id}/credit", post(billing::credit))
        .route("/api/admin/users/{id}/overdraft", put(billing::overdraft))
        .route("/api/admin/revenue", get(billing::revenue))
        .route("/api/admin/margin", get(margin::margin))
        .route("/api/channels", get(channels::list))
        .route("/api/channels/{model}/{channel}", patch(channels::patch))
        .route("/api/admin/users/{id}/group", put(manage::set_group))
        .route(
            "/api/admin/providers",
            get(catalog_admin::providers::list).post(catalog_admin::providers::create),
        )
        .route(
            "/api/admin/providers/{name}",
            patch(catalog_admin::providers::patch).delete(catalog_admin::providers::delete),
        )
        .route(
            "/api/admin/providers/{name}/test",
            post(catalog_admin::providers::test),
        )
        .route(
            "/api/admin/models",
            get(catalog_admin::models::list).post(catalog_admin::models::create),
        )
        .route(
            "/api/admin/models/{name}",
            patch(catalog_admin::models::patch).delete(catalog_admin::models::delete),
        )
        .route("/api/auth/signup", post(auth::signup))
        .route("/api/auth/signin", post(auth::signin))
        .route("/api/auth/signout", post(auth::signout))
        .route("/api/auth/me", get(auth::me))
        .route("/api/auth/password", post(auth::change_password))
        .route("/api/auth/profile", patch(auth::update_profile))
        .route("/api/auth/verify/request", post(auth::request_verification))
        .route("/api/auth/verify", post(auth::verify))
        .route("/api/auth/reset/request", post(auth::request_reset))
        .route("/api/auth/reset", post(auth::reset))
        .route("/api/auth/providers", get(oidc::providers))
        .route("/api/auth/oidc/{provider}/start", post(oidc::start))
        .route("/api/auth/oidc/{provider}/callback", get(oidc::callback))
        .route("/api/auth/identities", get(oidc::identities))
        .route("/api/auth/identities/{id}", delete(oidc::unlink))
        .route("/api/auth/restore", post(privacy::restore))
        .route("/api/auth/email", post(privacy::change_email))
        .route("/api/auth/email/confirm", post(privacy::confirm_email))
        .route("/api/account", delete(privacy::delete_account))
        .route("/api/account/privacy", get(privacy::show))
        .route("/api/account/retention", put(privacy::set_retention))
        .route(
            "/api/admin/users/{id}/restore",
            post(privacy::admin_restore),
        )
        .route(
            "/api/admin/users/{id}/hold",
            put(privacy::place_hold).delete(privacy::lift_hold),
        )
        .route("/api/admin/audit", get(privacy::list_audit))
        .route("/api/privacy", get(crate::ui::notice::json_notice))
        .route("/api/terms", get(consent::list))
        .route("/api/admin/terms", post(consent::publish))
        .route(
            "/api/account/consents",
            get(consent::mine).post(consent::accept),
        )
        .route("/api/openapi.json", get(ops::openapi))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::audit::trail,
        ))
        // After the audit layer, which records `/api` writes only: the inference routes (the
        // hot path) do not pass through it.
        .route("/v1/chat/completions", post(inference::chat_completions))
        .route("/v1/embeddings", post(inference::embeddings))
        .route("/v1/messages", post(inference::messages))
        .route("/v1/messages/count_tokens", post(inference::count_tokens))
        .route("/v1/responses", post(inference::responses))
        .route("/v1/models", get(inference::list_models))
        .route("/v1/models/{id}", get(inference::get_model))
        .merge(crate::ui::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(request_id::RequestIds)
        .with_state(state)
}

/// Renders a gateway error as an axum response.
pub(crate) fn reply(error: ApiError) -> Response {
    error.into_response().map(axum::body::Body::new)
}

async fn not_found(uri: http::Uri) -> Response {
    reply(ApiError::new(
        ErrorCode::NotFound,
        format!(
            "There is no route `{}`. See the API reference for the routes Switchyard serves.",
            uri.path()
        ),
    ))
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> Response {
    reply(ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("`{method} {}` is not allowed.", uri.path()),
    ))
}

/// The API key a request presents: `Authorization: Bearer`, `x-api-key` or `x-goog-api-key`.
pub(crate) fn credentials(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        return Some(match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value,
        });
    }
    ["x-api-key", "x-goog-api-key"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

/// Turns a body-reading failure into our error shape (413 for an oversized body).
pub(crate) fn body_rejection(
    rejection: axum::extract::rejection::BytesRejection,
    limit: usize,
) -> ApiError {
    if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    } else {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("The request body could not be read: {rejection}"),
        )
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        reply(*self.0)
    }
}

/// Lets handlers return `Result<_, Reply>` and use `?` on gateway errors. Boxed so the
/// `Result`s of handlers stay small on their success path.
pub(crate) struct Reply(pub Box<ApiError>);

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Reply {
        Reply(Box::new(e))
    }
}
