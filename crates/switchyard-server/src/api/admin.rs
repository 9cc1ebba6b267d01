//! `/api/admin/users` and `/api/admin/stats`: the operator's pages. Users are listed a keyset
//! page at a time with their balance and last activity, and can be disabled or promoted; the
//! system view reads bounded samples of the log and the daily rollup, never a full scan.

use super::Reply;
use super::actor::Actor;
use super::billing::{format_day, money};
use super::manage::{
    changed_user, json_body, no_such_user, require_admin, store_error, user_id_in_path, user_json,
};
use super::usage::{day_window, decode_cursor, encode_user_cursor, fill_days};
use crate::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::catalog::Role;
use switchyard_core::error::ErrorCode;
use switchyard_core::{Nanos, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{UserChange, UserSummary};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// The latency percentiles read at most this many of the newest rows: bounded work however
/// large the log grows.
const LATENCY_SAMPLE: u32 = 10_000;

fn invalid(param: &'static str, message: String) -> Reply {
    Reply::from(ApiError::new(ErrorCode::InvalidRequest, message).with_param(param))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

fn summary_json(s: &UserSummary, state: &AppState) -> Value {
    let mut body = user_json(&s.user, state.gateway.catalog().price_groups());
    body["balance"] = money(s.balance);
    body["last_active_at"] = json!(s.last_active_at.map(|t| t / 1000));
    body
}

/// `GET /api/admin/users?q=&cursor=&limit=`: users oldest first, filtered by an email
/// substring or an exact id.
pub async fn list_users(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<UsersQuery>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            return Err(invalid(
                "limit",
                format!("`limit` is between 1 and {MAX_LIMIT}, not {n}."),
            ));
        }
    };
    let after = match query.cursor.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(text) => {
            let bad = || {
                invalid(
                    "cursor",
                    "`cursor` is not one this API gave out; start again without it.".to_owned(),
                )
            };
            let (created_at, id) = decode_cursor(text).ok_or_else(bad)?;
            Some((created_at, id.parse::<UserId>().map_err(|_| bad())?))
        }
        None => None,
    };
    let mut rows = state
        .gateway
        .store()
        .search_users(query.q.as_deref(), after, limit + 1)
        .await
        .map_err(store_error)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(encode_user_cursor(last.user.created_at, last.user.id)),
        _ => None,
    };
    Ok(Json(json!({
        "object": "list",
        "data": rows.iter().map(|s| summary_json(s, &state)).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    role: Option<Role>,
}

/// `PATCH /api/admin/users/{id}` `{disabled?, role?}`. Disabling ends the user's sessions and
/// stops their keys (this node before the answer, others at their next access reload). An
/// admin may neither disable nor demote themselves: the platform must keep an admin who can
/// undo it.
pub async fn patch_user(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let input: PatchUser = json_body(&body)?;
    let user_id = user_id_in_path(&id)?;
    if user_id == caller.user.id {
        if input.disabled == Some(true) {
            return Err(invalid(
                "disabled",
                "An admin cannot disable themselves.".to_owned(),
            ));
        }
        if input.role == Some(Role::User) {
            return Err(invalid(
                "role",
                "An admin cannot demote themselves.".to_owned(),
            ));
        }
    }
    let change = UserChange {
        disabled: input.disabled,
        role: input.role,
    };
    let store = state.gateway.store();
    if !store
        .change_user(user_id, change)
        .await
        .map_err(store_error)?
    {
        return Err(no_such_user(&id));
    }
    changed_user(&state, user_id, &id).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    #[serde(default)]
    days: Option<i64>,
}

/// The `q`-quantile of sorted values by the nearest-rank method.
fn percentile(sorted: &[i64], q_percent: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * q_percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Requests per second and error rate over a window, as display numbers.
fn rate_json(requests: i64, errors: i64, seconds: i64) -> Value {
    // Counts far below 2^53: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let (r, e, s) = (requests as f64, errors as f64, seconds as f64);
    json!({
        "requests": requests,
        "errors": errors,
        "requests_per_second": r / s,
        "error_rate": if requests == 0 { 0.0 } else { e / r },
    })
}

fn ms(us: Option<i64>) -> Value {
    // Latencies are far below 2^53 µs: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    us.map_or(Value::Null, |us| json!(us as f64 / 1000.0))
}

/// `GET /api/admin/stats?days=30`: recent rates, latency percentiles and per-day totals.
pub async fn stats(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let (first, last) = day_window(query.days)?;
    let store = state.gateway.store();
    let now = pipeline_now_millis();
    let (r1, e1) = store
        .requests_since(now - 60_000)
        .await
        .map_err(store_error)?;
    let (r5, e5) = store
        .requests_since(now - 300_000)
        .await
        .map_err(store_error)?;
    let mut latencies = store
        .recent_latencies(LATENCY_SAMPLE)
        .await
        .map_err(store_error)?;
    latencies.sort_unstable();
    let rows = store
        .usage_days(None, first, last)
        .await
        .map_err(store_error)?;
    let days = fill_days(first, last, &rows);
    let data: Vec<Value> = days
        .iter()
        .map(|d| {
            json!({
                "date": format_day(d.day),
                "requests": d.requests,
                "errors": d.errors,
                // What users were charged: the platform's revenue, as /api/admin/revenue
                // sums it from the log (the rollup holds the same sums).
                "spend": money(d.cost),
                "revenue": money(d.cost),
                "provider_cost": money(d.provider_cost),
                "margin": money(d.cost - d.provider_cost),
            })
        })
        .collect();
    let revenue = days.iter().fold(Nanos::ZERO, |sum, d| sum + d.cost);
    let provider = days
        .iter()
        .fold(Nanos::ZERO, |sum, d| sum + d.provider_cost);
    Ok(Json(json!({
        "object": "admin.stats",
        "now": now / 1000,
        "last_minute": rate_json(r1, e1, 60),
        "last_5_minutes": rate_json(r5, e5, 300),
        "latency": {
            "sample": latencies.len(),
            "p50_ms": ms(percentile(&latencies, 50)),
            "p95_ms": ms(percentile(&latencies, 95)),
            "p99_ms": ms(percentile(&latencies, 99)),
        },
        "from": format_day(first),
        "to": format_day(last),
        "days": data,
        "totals": {
            "requests": days.iter().map(|d| d.requests).sum::<i64>(),
            "errors": days.iter().map(|d| d.errors).sum::<i64>(),
            "revenue": money(revenue),
            "provider_cost": money(provider),
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), Some(50));
        assert_eq!(percentile(&values, 95), Some(95));
        assert_eq!(percentile(&values, 99), Some(99));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }
}
