//! `/api/billing` (the caller's own money) and `/api/admin` (operators): balances, the ledger
//! history, open holds, redemption codes, referral codes, operator credit, overdrafts and the
//! revenue report. Authenticated by API key like the rest of `/api`.
//!
//! Amounts go out twice: as exact decimal USD strings and as integer nano-USD. They come in as
//! decimal strings, parsed exactly (`Nanos::from_usd_str`). Every balance change here is one
//! ledger transfer, after which the gateway's in-memory budgets are told to refresh.

use super::Reply;
use super::actor::Actor;
use super::manage::{json_body, require_admin, store_error};
use crate::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::error::ErrorCode;
use switchyard_core::ledger::{AccountId, Applied, Phase};
use switchyard_core::{Nanos, RequestId, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{AccountState, Redemption, Store};

const DAY_MS: i64 = 86_400_000;

pub(super) fn money(nanos: Nanos) -> Value {
    json!({"usd": nanos.to_string(), "nanos": nanos.0})
}

fn balance_json(user: UserId, state: &AccountState) -> Value {
    json!({
        "object": "balance",
        "user_id": user,
        "balance": money(state.totals.balance()),
        // The balance less what open holds reserve; the overdraft is extra room below zero.
        "available": money(state.totals.available()),
        "holds": money(state.totals.debits_pending),
        "overdraft": money(state.overdraft),
    })
}

fn invalid(message: impl Into<String>) -> Reply {
    Reply::from(ApiError::new(ErrorCode::InvalidRequest, message))
}

fn usd(field: &str, text: &str) -> Result<Nanos, Reply> {
    Nanos::from_usd_str(text).map_err(|e| invalid(format!("`{field}`: {e}")))
}

async fn balance_of(store: &Store, user: UserId) -> Result<Value, Reply> {
    let state = store
        .account(&AccountId::user(user))
        .await
        .map_err(store_error)?;
    Ok(balance_json(user, &state))
}

pub async fn balance(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    Ok(Json(
        balance_of(state.gateway.store(), caller.user.id).await?,
    ))
}

#[derive(Deserialize)]
pub struct LedgerQuery {
    /// Only transfers older than this `seq` (the previous page's `next_before`).
    #[serde(default)]
    before: Option<i64>,
    #[serde(default)]
    limit: Option<u32>,
}

pub async fn ledger(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<LedgerQuery>,
) -> Result<Json<Value>, Reply> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let me = AccountId::user(caller.user.id);
    let entries = state
        .gateway
        .store()
        .transfers_of(&me, query.before, limit)
        .await
        .map_err(store_error)?;
    let data: Vec<Value> = entries
        .iter()
        .map(|e| {
            let t = &e.transfer;
            // From the user's side: money in is positive, money out (or held) negative.
            let (signed, counterparty) = if t.credit == me {
                (t.amount, &t.debit)
            } else {
                (-t.amount, &t.credit)
            };
            json!({
                "seq": e.seq,
                "id": t.id,
                "kind": t.kind.as_str(),
                "phase": t.phase.name(),
                "amount": money(signed),
                "counterparty": counterparty.as_str(),
                "reference": t.reference,
                "memo": t.memo,
                "expires_at": match t.phase { Phase::Pending { expires_at } => Some(expires_at / 1000), _ => None },
                "created_at": t.created_at / 1000,
            })
        })
        .collect();
    let next_before = match entries.last() {
        Some(last) if entries.len() == limit as usize => Some(last.seq),
        _ => None,
    };
    Ok(Json(
        json!({"object": "list", "data": data, "next_before": next_before}),
    ))
}

pub async fn holds(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    let holds = state
        .gateway
        .store()
        .open_holds(Some(&AccountId::user(caller.user.id)), None, 500)
        .await
        .map_err(store_error)?;
    let data: Vec<Value> = holds
        .iter()
        .map(|h| json!({"id": h.id, "amount": money(h.amount), "expires_at": h.expires_at / 1000}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redeem {
    code: String,
}

pub async fn redeem(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let input: Redeem = json_body(&body)?;
    let store = state.gateway.store();
    let outcome = store
        .redeem_code(
            state.gateway.key_secret().expose().as_bytes(),
            &input.code,
            caller.user.id,
            pipeline_now_millis(),
        )
        .await
        .map_err(store_error)?;
    let not_redeemable = |message: &str| {
        Reply::from(ApiError::new(
            ErrorCode::ResourceNotFound,
            message.to_owned(),
        ))
    };
    match outcome {
        Redemption::Credited { value } => {
            state.gateway.balances_changed();
            let mut body = balance_of(store, caller.user.id).await?;
            body["credited"] = money(value);
            Ok(Json(body))
        }
        Redemption::Unknown => Err(not_redeemable(
            "There is no such redemption code. Check it for typos: codes look like SYC-XXXX-XXXX-XXXX-XXXX.",
        )),
        Redemption::AlreadyRedeemed => Err(not_redeemable(
            "This redemption code was already redeemed; each code can be used once.",
        )),
        Redemption::Expired => Err(not_redeemable(
            "This redemption code has expired and can no longer be redeemed.",
        )),
    }
}

pub async fn referral(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    let code = state
        .gateway
        .store()
        .referral_code(caller.user.id, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    Ok(Json(json!({
        "object": "referral_code",
        "code": code,
        "referral_percent": state.promotions.referral_percent,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCodes {
    count: u32,
    /// The value of each code, in USD.
    usd: String,
    #[serde(default)]
    expires_days: Option<u32>,
}

pub async fn create_codes(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    require_admin(&caller)?;
    let input: CreateCodes = json_body(&body)?;
    let value = usd("usd", &input.usd)?;
    let now = pipeline_now_millis();
    let created = state
        .gateway
        .store()
        .create_codes(
            state.gateway.key_secret().expose().as_bytes(),
            input.count,
            value,
            input
                .expires_days
                .map(|d| now.saturating_add(i64::from(d) * DAY_MS)),
            Some(caller.user.id),
            now,
        )
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "object": "code_batch",
            "batch_id": created.batch_id,
            "value": money(created.value),
            "expires_at": created.expires_at.map(|t| t / 1000),
            // Shown once: only their keyed hashes are stored.
            "codes": created.codes,
        })),
    ))
}

/// A report's UTC days, as day numbers since 1970: `from` and `to` included, by default the
/// 30 days up to today. 400 for a malformed date or a reversed range.
pub(super) fn day_range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), Reply> {
    let day = |field: &str, text: &str| {
        parse_day(text)
            .ok_or_else(|| invalid(format!("`{field}`: `{text}` is not a date like 2026-01-31")))
    };
    let to = match to {
        Some(text) => day("to", text)?,
        None => pipeline_now_millis().div_euclid(DAY_MS),
    };
    let from = match from {
        Some(text) => day("from", text)?,
        None => to - 29,
    };
    if from > to {
        return Err(invalid("`from` must not be after `to`"));
    }
    Ok((from, to))
}

/// The user named by a path segment, or a 404.
pub(super) async fn user_in_path(state: &AppState, id: &str) -> Result<UserId, Reply> {
    let user = super::manage::user_id_in_path(id)?;
    state
        .gateway
        .store()
        .user_by_id(user)
        .await
        .map_err(store_error)?
        .map(|u| u.id)
        .ok_or_else(|| super::manage::no_such_user(id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    /// Negative to debit.
    usd: String,
    reason: String,
    /// Makes a retried request a no-op: the same key credits once per user.
    #[serde(default)]
    idempotency_key: Option<String>,
}

pub async fn credit(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let input: Credit = json_body(&body)?;
    let amount = usd("usd", &input.usd)?;
    let reason = input.reason.trim();
    if reason.is_empty() {
        return Err(invalid(
            "`reason` is required: say why the balance changes (it is kept in the ledger).",
        ));
    }
    let user = user_in_path(&state, &id).await?;
    let transfer_id = match input.idempotency_key.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => format!("adjust:{user}:{key}"),
        _ => format!("adjust:{}", RequestId::new()),
    };
    let store = state.gateway.store();
    let applied = store
        .adjust_balance(
            &transfer_id,
            user,
            amount,
            Some(reason),
            pipeline_now_millis(),
        )
        .await
        .map_err(store_error)?;
    state.gateway.balances_changed();
    let mut body = balance_of(store, user).await?;
    body["transfer_id"] = Value::String(transfer_id);
    body["duplicate"] = Value::Bool(applied == Applied::Duplicate);
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overdraft {
    usd: String,
}

pub async fn overdraft(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let input: Overdraft = json_body(&body)?;
    let amount = usd("usd", &input.usd)?;
    let user = user_in_path(&state, &id).await?;
    let store = state.gateway.store();
    store
        .set_overdraft(&AccountId::user(user), amount, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    state.gateway.balances_changed();
    Ok(Json(balance_of(store, user).await?))
}

#[derive(Deserialize)]
pub struct RevenueQuery {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    #[serde(default)]
    from: Option<String>,
    /// Last UTC day, included (default: today).
    #[serde(default)]
    to: Option<String>,
}

pub async fn revenue(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<RevenueQuery>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let (from, to) = day_range(query.from.as_deref(), query.to.as_deref())?;
    let rows = state
        .gateway
        .store()
        .revenue(from * DAY_MS, (to + 1) * DAY_MS)
        .await
        .map_err(store_error)?;
    let total = rows.iter().fold(Nanos::ZERO, |sum, r| sum + r.cost);
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "day": format_day(r.day),
                "model": r.model,
                "requests": r.requests,
                "cost": money(r.cost),
            })
        })
        .collect();
    Ok(Json(json!({
        "object": "revenue",
        "from": format_day(from),
        "to": format_day(to),
        "total": money(total),
        "data": data,
    })))
}

/// Days since 1970-01-01 of a proleptic Gregorian `YYYY-MM-DD` (H. Hinnant's algorithm).
pub(super) fn parse_day(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    if d < 1 || d > month_days[(m - 1) as usize] {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub(super) fn format_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_through_dates() {
        assert_eq!(parse_day("1970-01-01"), Some(0));
        assert_eq!(parse_day("2000-03-01"), Some(11_017));
        assert_eq!(format_day(11_017), "2000-03-01");
        for days in (-719_162..2_900_000).step_by(997) {
            assert_eq!(parse_day(&format_day(days)), Some(days), "{days}");
        }
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1",
            "yesterday",
            "2024-02-30",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
    }
}
