//! Spend limits over the management API: `GET`/`PUT /api/keys/{id}/limits` (the key's owner
//! or an admin) and `GET`/`PUT /api/admin/users/{id}/limits` (admins). Amounts are decimal USD
//! strings; `null` or absent removes that limit. A change takes effect on this node before
//! the answer, on others at their next refresh.

use super::Reply;
use super::actor::Actor;
use super::manage::{json_body, owned_key, require_admin, store_error};
use crate::AppState;
use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::error::ErrorCode;
use switchyard_core::limits::{Scope, SpendLimits, Window};
use switchyard_core::{Nanos, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    #[serde(default)]
    total_usd: Option<String>,
    #[serde(default)]
    daily_usd: Option<String>,
    #[serde(default)]
    monthly_usd: Option<String>,
}

fn amount(field: &str, text: Option<&str>) -> Result<Option<Nanos>, Reply> {
    let Some(text) = text else {
        return Ok(None);
    };
    match Nanos::from_usd_str(text) {
        Ok(n) if n >= Nanos::ZERO => Ok(Some(n)),
        _ => Err(Reply::from(
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "`{field}` must be a non-negative USD amount like \"10.00\", not `{text}`."
                ),
            )
            .with_param(field),
        )),
    }
}

fn parse(body: &Bytes) -> Result<SpendLimits, Reply> {
    let body: LimitsBody = json_body(body)?;
    Ok(SpendLimits {
        total: amount("total_usd", body.total_usd.as_deref())?,
        day: amount("daily_usd", body.daily_usd.as_deref())?,
        month: amount("monthly_usd", body.monthly_usd.as_deref())?,
    })
}

/// The limits and what is used of each in its current period.
fn render(state: &AppState, scope: Scope, owner: &str) -> Value {
    let now = pipeline_now_millis();
    let guard = state.gateway.limits().guard(scope, owner);
    let window = |w: Window| {
        let limit = guard.as_ref().and_then(|g| g.limits().get(w));
        let used = guard.as_ref().map_or(Nanos::ZERO, |g| g.used(w, now));
        json!({
            "limit_usd": limit.map(|n| n.to_string()),
            "limit_nanos": limit.map(|n| n.0),
            "used_usd": used.to_string(),
            "used_nanos": used.0,
            "resets_at": switchyard_core::limits::period(w, now).ends,
        })
    };
    json!({
        "scope": scope.as_str(),
        "id": owner,
        "total": window(Window::Total),
        "daily": window(Window::Day),
        "monthly": window(Window::Month),
    })
}

async fn store_limits(
    state: &AppState,
    scope: Scope,
    owner: &str,
    limits: SpendLimits,
) -> Result<(), Reply> {
    state
        .gateway
        .store()
        .set_spend_limits(scope, owner, limits, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    state.gateway.reload_limits().await.map_err(store_error)
}

pub async fn get_key_limits(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let key = owned_key(&state, &caller, &id).await?;
    Ok(Json(render(&state, Scope::Key, &key.id.to_string())))
}

pub async fn put_key_limits(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let key = owned_key(&state, &caller, &id).await?;
    let limits = parse(&body)?;
    let owner = key.id.to_string();
    store_limits(&state, Scope::Key, &owner, limits).await?;
    Ok(Json(render(&state, Scope::Key, &owner)))
}

async fn admin_user(state: &AppState, caller: &Actor, id: &str) -> Result<UserId, Reply> {
    require_admin(caller)?;
    super::billing::user_in_path(state, id).await
}

pub async fn get_user_limits(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let user = admin_user(&state, &caller, &id).await?;
    Ok(Json(render(&state, Scope::User, &user.to_string())))
}

pub async fn put_user_limits(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let user = admin_user(&state, &caller, &id).await?;
    let limits = parse(&body)?;
    store_limits(&state, Scope::User, &user.to_string(), limits).await?;
    Ok(Json(render(&state, Scope::User, &user.to_string())))
}
