//! `POST /api/playground/key`: a short-lived API key for the dashboard's in-browser playground,
//! so the playground calls `/v1/chat/completions` through the normal path (authentication,
//! policy, limits, holds, the log) instead of a side door that would need its own rules.

use super::Reply;
use super::actor::Actor;
use super::manage::{accounts_error, key_json, store_error};
use crate::AppState;
use crate::accounts;
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};
use switchyard_gateway::pipeline_now_millis;

/// Creates the caller's playground key and revokes their previous one; the secret is in the
/// answer and nowhere else. A session needs its CSRF token, like every state change.
pub async fn create_key(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<(StatusCode, Json<Value>), Reply> {
    let (created, revoked) = accounts::create_playground_key(
        state.gateway.store(),
        state.gateway.key_secret(),
        caller.user.id,
        pipeline_now_millis(),
    )
    .await
    .map_err(accounts_error)?;
    // The new key must work, and the old one stop, before the browser uses the answer.
    state.gateway.reload_access().await.map_err(store_error)?;
    let mut body = key_json(&created.record, true, state.gateway.content_logging());
    body["key"] = Value::String(created.secret.expose().to_owned());
    body["revoked_previous"] = json!(revoked);
    Ok((StatusCode::CREATED, Json(body)))
}
