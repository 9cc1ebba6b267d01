//! `GET /api/admin/content/{request_id}`: what a request captured, for operators. Only
//! requests made with a key an operator turned content logging on for (on a deployment that
//! allows it) have anything; every other id is a 404.

use super::Reply;
use super::actor::Actor;
use super::manage::{require_admin, store_error};
use crate::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use switchyard_core::RequestId;
use switchyard_core::error::ErrorCode;
use switchyard_gateway::ApiError;

pub async fn get(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let not_found = || {
        Reply::from(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!(
                "No content was captured for request `{id}`: content logging was off for its key (the default), or there is no such request."
            ),
        ))
    };
    let request: RequestId = id.parse().map_err(|_| not_found())?;
    let row = state
        .gateway
        .store()
        .content_log(request)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    Ok(Json(json!({
        "object": "content_log",
        "request_id": row.request_id,
        "created_at": row.created_at / 1000,
        "user_id": row.user_id,
        "key_id": row.key_id,
        "request_body": row.request_body,
        "response_body": row.response_body,
        "truncated": row.truncated,
    })))
}
