//! `GET /api/models`: the model catalogue as the signed-in caller sees it, for the dashboard's
//! Models page: every model they may use, where each channel processes prompts and what the
//! provider does with them, the caller's own prices, and whether their data policy admits it.
//!
//! It reads the same snapshot the gateway routes with and asks the same questions routing
//! asks ([`policy::model_allowed`], [`DataPolicy::admits`]), so the page cannot promise a model
//! that a request would then be refused.

use super::actor::Actor;
use crate::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use switchyard_core::Nanos;
use switchyard_core::money::Prices;
use switchyard_core::policy;
use switchyard_core::routing::{DataPolicy, Violation};
use switchyard_gateway::snapshot::{ChannelEntry, Route};

/// One price per million tokens: exact nano-USD and a display string.
fn price(nanos: Nanos) -> Value {
    json!({"nanos": nanos.0, "usd": nanos.to_string(), "display": format!("${nanos} / 1M tokens")})
}

fn prices_json(p: &Prices) -> Value {
    json!({
        "input": price(p.input),
        "output": price(p.output),
        "cached_input": price(p.cached_input),
        // Reasoning tokens are priced as output unless the model sets a rate.
        "reasoning": price(p.reasoning.unwrap_or(p.output)),
    })
}

fn violation_text(v: Violation, jurisdiction: &str) -> String {
    match v {
        Violation::Jurisdiction => format!("processes data in {jurisdiction}"),
        Violation::Training => "does not declare that it never trains on prompts".to_owned(),
        Violation::Retention => "does not declare that it retains no prompts".to_owned(),
        Violation::Zdr => "has no zero-data-retention agreement".to_owned(),
    }
}

fn channel_json(entry: &ChannelEntry, markup_bps: u32, policy: &DataPolicy) -> (Value, bool) {
    let practice = &entry.provider.provider.data;
    let verdict = policy.admits(entry.jurisdiction(), practice);
    let body = json!({
        "name": entry.name(),
        "provider": entry.channel.provider,
        "jurisdiction": entry.jurisdiction(),
        "retains_prompts": practice.retains_prompts,
        "trains_on_prompts": practice.trains_on_prompts,
        "zdr": practice.zdr,
        "admitted": verdict.is_ok(),
        "refused_because": verdict.err().map(|v| violation_text(v, entry.jurisdiction())),
        "prices": prices_json(&entry.prices.with_markup(markup_bps)),
    });
    (body, verdict.is_ok())
}

fn model_json(route: &Route, caller: &Actor, policy: &DataPolicy) -> Value {
    let markup = route.markup_bps(&caller.user);
    let mut admitted_prices: Option<Prices> = None;
    let channels: Vec<Value> = route
        .channels
        .iter()
        .map(|entry| {
            let (body, admitted) = channel_json(entry, markup, policy);
            if admitted {
                let p = entry.prices.with_markup(markup);
                admitted_prices = Some(match admitted_prices {
                    Some(seen) => seen.dearest(&p),
                    None => p,
                });
            }
            body
        })
        .collect();
    json!({
        "id": route.model.name,
        "aliases": route.model.aliases,
        "kind": route.model.kind,
        "created": route.model.created,
        "jurisdictions": route.jurisdictions(),
        "admitted": admitted_prices.is_some(),
        // The most a request may be charged per million tokens: the dearest channel the
        // caller's policy admits (the cheapest may be the one that serves it). `null` when no
        // channel is admitted.
        "prices": admitted_prices.as_ref().map(prices_json),
        "channels": channels,
    })
}

/// `GET /api/models`: the models the caller may use, with their channels and the caller's
/// prices.
pub async fn list(State(state): State<AppState>, caller: Actor) -> Json<Value> {
    let catalog = state.gateway.catalog();
    let policy = match &caller.key {
        Some(key) => caller.user.data_policy.and(&key.data_policy),
        None => caller.user.data_policy.clone(),
    };
    let group = caller
        .user
        .price_group
        .as_deref()
        .unwrap_or(catalog.price_groups().default_group())
        .to_owned();
    let data: Vec<Value> = catalog
        .routes()
        .filter(|route| {
            caller
                .key
                .as_ref()
                .is_none_or(|key| policy::model_allowed(key, &route.model).is_ok())
        })
        .map(|route| model_json(route, &caller, &policy))
        .collect();
    Json(json!({
        "object": "list",
        "price_group": group,
        "data_policy": policy,
        "data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_show_nanos_and_dollars() {
        assert_eq!(
            price(Nanos(150_000_000)),
            json!({"nanos": 150_000_000, "usd": "0.15", "display": "$0.15 / 1M tokens"})
        );
    }
}
