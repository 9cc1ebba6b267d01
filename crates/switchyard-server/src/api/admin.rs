//! `/api/admin/users` and `/api/admin/stats`: the operator's pages. Users are listed a keyset
//! page at a time with their balance and last activity, and can be disabled or promoted; the
//! system view reads the last hour of the per-minute traffic table and the daily rollup, never
//! the log itself.

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
use std::collections::BTreeMap;
use switchyard_core::catalog::Role;
use switchyard_core::error::ErrorCode;
use switchyard_core::{Nanos, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{MINUTE_MS, TrafficCell, UserChange, UserSummary, latency_bucket_bounds};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// The latency percentiles cover the current minute and this many before it.
const LATENCY_MINUTES: i64 = 59;

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

/// Requests and errors from the start of the minute `minutes` before `now`'s to `now`, as
/// display numbers: the window is 60·`minutes` s plus the current minute so far.
fn rate_json(cells: &[TrafficCell], now: i64, minutes: i64) -> Value {
    let first = now.div_euclid(MINUTE_MS) - minutes;
    let (requests, errors) = cells
        .iter()
        .filter(|c| c.minute >= first)
        .fold((0, 0), |(r, e), c| (r + c.requests, e + c.errors));
    let window_ms = now - first * MINUTE_MS;
    // Counts and milliseconds far below 2^53: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let (r, e, s) = (requests as f64, errors as f64, window_ms as f64 / 1000.0);
    json!({
        "requests": requests,
        "errors": errors,
        "seconds": s,
        "requests_per_second": if s > 0.0 { r / s } else { 0.0 },
        "error_rate": if requests == 0 { 0.0 } else { e / r },
    })
}

/// The `q`-quantile of the cells' latencies by the nearest rank, as the middle of the bucket
/// that holds it (within an eighth of the true value; `switchyard_store::traffic`).
fn percentile_us(cells: &[TrafficCell], q_percent: i64) -> Option<i64> {
    let mut buckets: BTreeMap<u16, i64> = BTreeMap::new();
    for cell in cells {
        *buckets.entry(cell.bucket).or_default() += cell.requests;
    }
    let total: i64 = buckets.values().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((total * q_percent + 99) / 100).max(1);
    let mut seen = 0;
    for (bucket, n) in buckets {
        seen += n;
        if seen >= rank {
            let (lower, upper) = latency_bucket_bounds(bucket);
            return i64::try_from(lower / 2 + upper / 2 + (lower % 2 + upper % 2) / 2).ok();
        }
    }
    None
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
    let cells = store
        .traffic_since(now.div_euclid(MINUTE_MS) - LATENCY_MINUTES)
        .await
        .map_err(store_error)?;
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
        "last_minute": rate_json(&cells, now, 1),
        "last_5_minutes": rate_json(&cells, now, 4),
        "latency": {
            "sample": cells.iter().map(|c| c.requests).sum::<i64>(),
            "minutes": LATENCY_MINUTES + 1,
            "p50_ms": ms(percentile_us(&cells, 50)),
            "p95_ms": ms(percentile_us(&cells, 95)),
            "p99_ms": ms(percentile_us(&cells, 99)),
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
    use super::{TrafficCell, percentile_us, rate_json};
    use switchyard_store::{MINUTE_MS, latency_bucket, latency_bucket_bounds};

    fn cell(minute: i64, latency_us: u64, requests: i64, errors: i64) -> TrafficCell {
        TrafficCell {
            minute,
            bucket: latency_bucket(latency_us),
            requests,
            errors,
        }
    }

    #[test]
    fn nearest_rank_percentiles_land_in_the_right_bucket() {
        // 1..=100 ms, one request each.
        let cells: Vec<_> = (1..=100).map(|ms| cell(0, ms * 1_000, 1, 0)).collect();
        for (q, truth) in [(50, 50_000u64), (95, 95_000), (99, 99_000)] {
            let got = u64::try_from(percentile_us(&cells, q).unwrap()).unwrap();
            let (lower, upper) = latency_bucket_bounds(latency_bucket(truth));
            assert!(
                lower <= got && got <= upper,
                "p{q}: {got} not in {lower}..={upper}"
            );
            assert!(got.abs_diff(truth) <= truth / 8, "p{q}: {got} vs {truth}");
        }
        assert_eq!(percentile_us(&[cell(0, 7, 3, 0)], 99), Some(7));
        assert_eq!(percentile_us(&[], 50), None);
    }

    #[test]
    fn rates_cover_whole_minutes_and_the_current_one_so_far() {
        let now = 100 * MINUTE_MS + 30_000;
        let cells = [
            cell(95, 10, 7, 7),
            cell(96, 10, 4, 1),
            cell(99, 10, 2, 0),
            cell(100, 10, 4, 1),
        ];
        let last = rate_json(&cells, now, 1);
        assert_eq!(last["requests"], 6);
        assert_eq!(last["errors"], 1);
        assert_eq!(last["seconds"], 90.0);
        let five = rate_json(&cells, now, 4);
        assert_eq!(five["requests"], 10);
        assert_eq!(five["seconds"], 270.0);
        assert_eq!(rate_json(&[], now, 1)["error_rate"], 0.0);
    }
}
