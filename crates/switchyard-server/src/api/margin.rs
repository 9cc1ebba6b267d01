//! `GET /api/admin/margin`: per model and UTC day, what users were charged, what the providers
//! cost, and the margin between them. Admin only. Amounts go out as integer nano-USD and as
//! exact decimal USD strings, like the revenue report.

use super::Reply;
use super::actor::Actor;
use super::billing::{format_day, money};
use super::manage::{require_admin, store_error};
use crate::AppState;
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::Nanos;

const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize)]
pub struct MarginQuery {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    #[serde(default)]
    from: Option<String>,
    /// Last UTC day, included (default: today).
    #[serde(default)]
    to: Option<String>,
}

pub async fn margin(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<MarginQuery>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let (from, to) = super::billing::day_range(query.from.as_deref(), query.to.as_deref())?;
    let rows = state
        .gateway
        .store()
        .margin(from * DAY_MS, (to + 1) * DAY_MS)
        .await
        .map_err(store_error)?;
    let (mut requests, mut charged, mut provider_cost) = (0i64, Nanos::ZERO, Nanos::ZERO);
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            requests += r.requests;
            charged += r.charged;
            provider_cost += r.provider_cost;
            json!({
                "day": format_day(r.day),
                "model": r.model,
                "requests": r.requests,
                "charged": money(r.charged),
                "provider_cost": money(r.provider_cost),
                "margin": money(r.margin()),
            })
        })
        .collect();
    Ok(Json(json!({
        "object": "margin",
        "from": format_day(from),
        "to": format_day(to),
        "total": {
            "requests": requests,
            "charged": money(charged),
            "provider_cost": money(provider_cost),
            "margin": money(charged - provider_cost),
        },
        "data": data,
    })))
}
