//! `/api/usage`: the caller's request log for the dashboard's Usage page (keyset pages and a
//! streamed CSV export) and the per-day totals of the Overview, read from the daily rollup.
//!
//! A user sees only their own rows; an admin may name another user with `user=`. Every
//! filter combination is answered from an index (migration 0013), so a page costs the same on
//! an empty log and on a million rows.

use super::Reply;
use super::actor::Actor;
use super::billing::{format_day, money, parse_day};
use super::manage::store_error;
use crate::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write;
use switchyard_core::catalog::Role;
use switchyard_core::error::ErrorCode;
use switchyard_core::{KeyId, RequestId, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{
    DAY_MS, DayTotals, StatusClass, Store, UsageCursor, UsageEntry, UsageFilter,
};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;
/// Rows per query of the CSV export: large enough that the per-query cost vanishes, small
/// enough that the server holds only this many rows whatever the export's size.
const CSV_PAGE: u32 = 1_000;
const MAX_DAYS: i64 = 366;
const TOP_MODELS: u32 = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

fn invalid(param: &'static str, message: String) -> Reply {
    Reply::from(ApiError::new(ErrorCode::InvalidRequest, message).with_param(param))
}

/// The user whose usage is read: the caller, or for an admin the one `user=` names. A user
/// naming anyone else is refused (403), so the answer never depends on whether they exist.
pub(super) fn target_user(caller: &Actor, wanted: Option<&str>) -> Result<UserId, Reply> {
    let Some(wanted) = wanted.map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(caller.user.id);
    };
    let id: Option<UserId> = wanted.parse().ok();
    if id == Some(caller.user.id) {
        return Ok(caller.user.id);
    }
    if caller.user.role != Role::Admin {
        return Err(ApiError::new(
            ErrorCode::AdminRequired,
            "Only an admin may read another user's usage.",
        )
        .into());
    }
    id.ok_or_else(|| invalid("user", format!("`{wanted}` is not a user id.")))
}

/// A time bound: unix milliseconds, or a UTC date. A date as `from` is its first
/// millisecond; as `to` (exclusive) it is the first millisecond of the next day, so
/// `from=D&to=D` is the whole day D.
fn time_bound(text: &str, param: &'static str, end: bool) -> Result<i64, Reply> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let day = parse_day(text).ok_or_else(|| {
        invalid(
            param,
            format!("`{param}` must be unix milliseconds or a date `YYYY-MM-DD`, not `{text}`."),
        )
    })?;
    Ok((day + i64::from(end)) * DAY_MS)
}

fn encode_cursor(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}.{id}"))
}

/// The (time, id) a cursor carries; the id is parsed by the caller.
pub(super) fn decode_cursor(text: &str) -> Option<(i64, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (time, id) = text.split_once('.')?;
    Some((time.parse().ok()?, id.to_owned()))
}

pub(super) fn encode_user_cursor(created_at: i64, id: UserId) -> String {
    encode_cursor(created_at, &id.to_string())
}

fn bad_cursor() -> Reply {
    invalid(
        "cursor",
        "`cursor` is not one this API gave out; start again without it.".to_owned(),
    )
}

/// The filter and starting point a query describes.
fn parse_query(
    caller: &Actor,
    query: &UsageQuery,
) -> Result<(UsageFilter, Option<UsageCursor>), Reply> {
    let user = target_user(caller, query.user.as_deref())?;
    let key = match query
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(text) => Some(
            text.parse::<KeyId>()
                .map_err(|_| invalid("key", format!("`{text}` is not a key id.")))?,
        ),
        None => None,
    };
    let status = match query.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("ok") => Some(StatusClass::Ok),
        Some("error") => Some(StatusClass::Error),
        Some(other) => {
            return Err(invalid(
                "status",
                format!("`status` is `ok` or `error`, not `{other}`."),
            ));
        }
    };
    let from = query
        .from
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| time_bound(t, "from", false))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| time_bound(t, "to", true))
        .transpose()?;
    let cursor = match query.cursor.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(text) => {
            let (created_at, id) = decode_cursor(text).ok_or_else(bad_cursor)?;
            let id: RequestId = id.parse().map_err(|_| bad_cursor())?;
            Some(UsageCursor { created_at, id })
        }
        None => None,
    };
    let filter = UsageFilter {
        user,
        key,
        model: query
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        status,
        from,
        to,
    };
    Ok((filter, cursor))
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-11-29T17:22:23.123Z`).
pub(crate) fn timestamp(ms: i64) -> String {
    let day = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{}T{h:02}:{m:02}:{s:02}.{milli:03}Z", format_day(day))
}

/// Microseconds as milliseconds with three decimals: a display quantity, not money.
fn millis(us: u64) -> f64 {
    // Latencies are far below 2^53 µs, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let us = us as f64;
    us / 1000.0
}

fn entry_json(entry: &UsageEntry) -> Value {
    let log = &entry.log;
    json!({
        "id": log.id,
        "created_at": log.created_at / 1000,
        "created_at_ms": log.created_at,
        "key_id": log.key_id,
        "key_name": entry.key_name,
        "endpoint": log.endpoint,
        "model": log.model,
        "provider": log.provider,
        "channel": log.channel,
        "jurisdiction": log.jurisdiction,
        "status": log.status,
        "ok": log.status < 400,
        "error_code": log.error_code,
        "stream": log.stream,
        "prompt_tokens": log.prompt_tokens,
        "completion_tokens": log.completion_tokens,
        "cached_tokens": log.cached_tokens,
        "reasoning_tokens": log.reasoning_tokens,
        "cost_nanos": log.cost.0,
        "cost_usd": log.cost.to_string(),
        "latency_ms": millis(log.latency_us),
        "ttft_ms": log.ttft_us.map(millis),
    })
}

/// `GET /api/usage`: one page of the caller's log, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<UsageQuery>,
) -> Result<Json<Value>, Reply> {
    let (filter, cursor) = parse_query(&caller, &query)?;
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
    // One row more than asked says whether another page exists without a COUNT.
    let mut rows = state
        .gateway
        .store()
        .usage_page(&filter, cursor, limit + 1)
        .await
        .map_err(store_error)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(encode_cursor(last.log.created_at, &last.log.id.to_string())),
        _ => None,
    };
    Ok(Json(json!({
        "object": "list",
        "data": rows.iter().map(entry_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

const CSV_HEADER: &str = "id,created_at,key_id,key_name,endpoint,model,provider,channel,\
jurisdiction,status,error_code,stream,prompt_tokens,completion_tokens,cached_tokens,\
reasoning_tokens,cost_usd,cost_nanos,latency_ms,ttft_ms\r\n";

/// Appends one CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a
/// quote or a line break.
pub(crate) fn csv_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

fn csv_row(out: &mut String, entry: &UsageEntry) {
    let log = &entry.log;
    let text_fields = [
        log.id.to_string(),
        timestamp(log.created_at),
        log.key_id.map(|k| k.to_string()).unwrap_or_default(),
        entry.key_name.clone().unwrap_or_default(),
        log.endpoint.clone(),
        log.model.clone(),
        log.provider.clone().unwrap_or_default(),
        log.channel.clone().unwrap_or_default(),
        log.jurisdiction.clone().unwrap_or_default(),
    ];
    for field in &text_fields {
        csv_field(out, field);
        out.push(',');
    }
    let _ = write!(out, "{},", log.status);
    csv_field(out, log.error_code.as_deref().unwrap_or_default());
    let _ = write!(
        out,
        ",{},{},{},{},{},{},{},{},",
        log.stream,
        log.prompt_tokens,
        log.completion_tokens,
        log.cached_tokens,
        log.reasoning_tokens,
        log.cost,
        log.cost.0,
        millis(log.latency_us),
    );
    if let Some(ttft) = log.ttft_us {
        let _ = write!(out, "{}", millis(ttft));
    }
    out.push_str("\r\n");
}

/// Where the CSV export stands between two chunks.
struct Export {
    store: Store,
    filter: UsageFilter,
    cursor: Option<UsageCursor>,
    header: bool,
    done: bool,
}

/// The next chunk of the export: the header, then one page of rows per chunk.
async fn next_chunk(mut export: Export) -> Option<(Result<Bytes, std::io::Error>, Export)> {
    if export.done {
        return None;
    }
    let mut out = String::new();
    if !export.header {
        export.header = true;
        out.push_str(CSV_HEADER);
    }
    let rows = match export
        .store
        .usage_page(&export.filter, export.cursor, CSV_PAGE)
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            // Headers are sent; failing the body is how the client learns the file is cut.
            tracing::error!(error = %e, "usage CSV export failed");
            export.done = true;
            return Some((Err(std::io::Error::other("the store failed")), export));
        }
    };
    export.done = rows.len() < CSV_PAGE as usize;
    if let Some(last) = rows.last() {
        export.cursor = Some(UsageCursor {
            created_at: last.log.created_at,
            id: last.log.id,
        });
    }
    for entry in &rows {
        csv_row(&mut out, entry);
    }
    Some((Ok(Bytes::from(out)), export))
}

/// `GET /api/usage.csv`: every row the filters match, as CSV, streamed a page at a time so
/// memory stays flat however large the export.
pub async fn csv(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<UsageQuery>,
) -> Result<Response, Reply> {
    let (filter, cursor) = parse_query(&caller, &query)?;
    let export = Export {
        store: state.gateway.store().clone(),
        filter,
        cursor,
        header: false,
        done: false,
    };
    let body = Body::from_stream(futures_util::stream::unfold(export, next_chunk));
    let name = format!(
        "attachment; filename=\"switchyard-usage-{}.csv\"",
        format_day(pipeline_now_millis().div_euclid(DAY_MS))
    );
    Ok((
        [
            (
                http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_owned(),
            ),
            (http::header::CONTENT_DISPOSITION, name),
            (http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaysQuery {
    #[serde(default)]
    days: Option<i64>,
    #[serde(default)]
    user: Option<String>,
}

/// The last `days` UTC days up to today, validated.
pub(super) fn day_window(days: Option<i64>) -> Result<(i64, i64), Reply> {
    let days = days.unwrap_or(30);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(invalid(
            "days",
            format!("`days` is between 1 and {MAX_DAYS}, not {days}."),
        ));
    }
    let today = pipeline_now_millis().div_euclid(DAY_MS);
    Ok((today - days + 1, today))
}

/// Every day of `[first, last]` with its totals, zeros where the rollup has none.
pub(super) fn fill_days(first: i64, last: i64, rows: &[DayTotals]) -> Vec<DayTotals> {
    let mut rows = rows.iter().peekable();
    (first..=last)
        .map(|day| {
            while rows.next_if(|r| r.day < day).is_some() {}
            rows.next_if(|r| r.day == day)
                .copied()
                .unwrap_or(DayTotals {
                    day,
                    ..DayTotals::default()
                })
        })
        .collect()
}

fn day_json(d: &DayTotals) -> Value {
    json!({
        "date": format_day(d.day),
        "requests": d.requests,
        "errors": d.errors,
        "prompt_tokens": d.prompt_tokens,
        "completion_tokens": d.completion_tokens,
        "cached_tokens": d.cached_tokens,
        "reasoning_tokens": d.reasoning_tokens,
        "cost": money(d.cost),
    })
}

/// `GET /api/usage/daily?days=30`: the caller's requests, errors, tokens and cost per UTC day,
/// every day of the window present, and the models they spent most on.
pub async fn daily(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<DaysQuery>,
) -> Result<Json<Value>, Reply> {
    let user = target_user(&caller, query.user.as_deref())?;
    let (first, last) = day_window(query.days)?;
    let store = state.gateway.store();
    let rows = store
        .usage_days(Some(user), first, last)
        .await
        .map_err(store_error)?;
    let top = store
        .top_models(Some(user), first, last, TOP_MODELS)
        .await
        .map_err(store_error)?;
    let days = fill_days(first, last, &rows);
    let total = days.iter().fold(DayTotals::default(), |mut t, d| {
        t.requests += d.requests;
        t.errors += d.errors;
        t.prompt_tokens += d.prompt_tokens;
        t.completion_tokens += d.completion_tokens;
        t.cached_tokens += d.cached_tokens;
        t.reasoning_tokens += d.reasoning_tokens;
        t.cost += d.cost;
        t
    });
    let mut totals = day_json(&total);
    if let Some(map) = totals.as_object_mut() {
        map.remove("date");
    }
    Ok(Json(json!({
        "object": "usage.daily",
        "user_id": user,
        "from": format_day(first),
        "to": format_day(last),
        "data": days.iter().map(day_json).collect::<Vec<_>>(),
        "totals": totals,
        "top_models": top.iter().map(|m| json!({
            "model": m.model, "requests": m.requests, "cost": money(m.cost),
        })).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        let mut out = String::new();
        for field in ["plain", "a,b", "say \"hi\"", "two\nlines", ""] {
            csv_field(&mut out, field);
            out.push('|');
        }
        assert_eq!(out, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"||");
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_764_436_943_123), "2025-11-29T17:22:23.123Z");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor(1_700_000_000_123, "abc");
        assert_eq!(decode_cursor(&c), Some((1_700_000_000_123, "abc".into())));
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("nodot")), None);
    }

    #[test]
    fn dates_bound_whole_days() {
        assert_eq!(time_bound("1970-01-02", "from", false).ok(), Some(DAY_MS));
        assert_eq!(time_bound("1970-01-02", "to", true).ok(), Some(2 * DAY_MS));
        assert_eq!(time_bound("12345", "to", true).ok(), Some(12_345));
        assert!(time_bound("yesterday", "from", false).is_err());
    }

    #[test]
    fn missing_days_are_zeros() {
        let rows = [
            DayTotals {
                day: 11,
                requests: 2,
                ..DayTotals::default()
            },
            DayTotals {
                day: 13,
                requests: 5,
                ..DayTotals::default()
            },
        ];
        let filled = fill_days(10, 14, &rows);
        let requests: Vec<_> = filled.iter().map(|d| (d.day, d.requests)).collect();
        assert_eq!(requests, [(10, 0), (11, 2), (12, 0), (13, 5), (14, 0)]);
    }
}
