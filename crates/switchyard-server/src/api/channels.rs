//! The operator's channel controls (admin only): `GET /api/channels` lists every configured
//! channel of every model with its overrides and live health, `PATCH /api/channels/{model}/
//! {channel}` overrides its weight or priority or disables it, and [`render_gauges`] adds each
//! channel's state to `/metrics`.
//!
//! Overrides are kept in the store (so they survive restarts and reach other replicas through
//! the snapshot refresher) and applied by the gateway to the configured catalogue, which this
//! node swaps before answering.

use super::Reply;
use super::actor::Actor;
use super::manage::{json_body, require_admin, store_error};
use crate::AppState;
use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::fmt::Write as _;
use switchyard_core::catalog::{ChannelSetting, UnixMillis};
use switchyard_core::error::ErrorCode;
use switchyard_gateway::routing::State as Health;
use switchyard_gateway::snapshot::{Catalog, ChannelStatus};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use tokio::sync::Mutex;

/// Serialises this node's read-check-write of settings, so two concurrent requests cannot each
/// disable one of a model's last two channels. (Across replicas the same race is possible; the
/// gateway then keeps the model serving on all its channels, see `Catalog::with_stored`.)
static WRITES: Mutex<()> = Mutex::const_new(());

/// The body of `PATCH`: each field present is changed; `null` returns weight or priority to
/// the configured value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default, deserialize_with = "present")]
    weight: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    priority: Option<Option<i32>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `GET /api/channels`: every configured channel, disabled ones included.
pub async fn list(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let catalog = state.gateway.catalog();
    let now = pipeline_now_millis();
    let data: Vec<Value> = catalog
        .channel_statuses()
        .iter()
        .map(|s| status_json(s, now))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `PATCH /api/channels/{model}/{channel}`: stores the override and swaps this node's catalogue
/// before answering with the channel as listed.
pub async fn patch(
    State(state): State<AppState>,
    caller: Actor,
    Path((model, channel)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let patch: ChannelPatch = json_body(&body)?;
    if patch.weight.is_none() && patch.priority.is_none() && patch.enabled.is_none() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "Send at least one of `weight`, `priority` and `enabled`.",
        )
        .into());
    }
    if patch.weight == Some(Some(0)) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`weight` must be at least 1; disable the channel with `\"enabled\": false` instead.",
        )
        .with_param("weight")
        .into());
    }
    let catalog = state.gateway.catalog();
    let Some(route) = catalog.configured().route(&model) else {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("There is no model `{model}`. `GET /api/channels` lists the models and their channels."),
        )
        .into());
    };
    // Settings are kept under the model's configured name, whichever alias the path used.
    let model = route.model.name.clone();
    if !route.channels.iter().any(|e| e.name() == channel) {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("The model `{model}` has no channel `{channel}`. `GET /api/channels` lists its channels."),
        )
        .into());
    }

    let store = state.gateway.store();
    let writing = WRITES.lock().await;
    // The store's settings, not this node's snapshot: another replica may have changed them.
    let mut settings = store.channel_settings().await.map_err(store_error)?;
    let mut setting = settings
        .iter()
        .find(|s| s.model == model && s.channel == channel)
        .cloned()
        .unwrap_or_else(|| ChannelSetting::unchanged(&model, &channel));
    if let Some(weight) = patch.weight {
        setting.weight = weight;
    }
    if let Some(priority) = patch.priority {
        setting.priority = priority;
    }
    if let Some(enabled) = patch.enabled {
        setting.enabled = enabled;
    }
    settings.retain(|s| !(s.model == model && s.channel == channel));
    settings.push(setting.clone());
    let enabled = route
        .channels
        .iter()
        .filter(|e| {
            settings
                .iter()
                .find(|s| s.model == model && s.channel == e.name())
                .is_none_or(|s| s.enabled)
        })
        .count();
    if enabled == 0 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "`{channel}` is the last enabled channel of `{model}`; a model needs one to serve. \
                 Enable another of its channels first."
            ),
        )
        .with_param("enabled")
        .into());
    }
    store
        .set_channel_setting(&setting, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    state.gateway.reload_catalog().await.map_err(store_error)?;
    drop(writing);

    let catalog = state.gateway.catalog();
    let now = pipeline_now_millis();
    let statuses = catalog.channel_statuses();
    let status = statuses
        .iter()
        .find(|s| s.model == model && s.entry.name() == channel)
        .map(|s| status_json(s, now))
        // The channel was found in the configured catalogue above, which reloading keeps.
        .unwrap_or(Value::Null);
    Ok(Json(status))
}

/// A channel as the API shows it.
fn status_json(s: &ChannelStatus<'_>, now: UnixMillis) -> Value {
    let health = &s.entry.health;
    let (state, until) = state_of(health.state(now));
    json!({
        "object": "channel",
        "model": s.model,
        "channel": s.entry.name(),
        "provider": s.entry.channel.provider,
        "upstream_model": s.entry.channel.upstream_model,
        "jurisdiction": s.entry.jurisdiction(),
        "weight": s.weight,
        "priority": s.priority,
        "enabled": s.enabled,
        "state": state,
        "until": until,
        "latency_ms": health.latency_us().map(|us| us as f64 / 1000.0),
        "inflight": health.inflight(),
        "failures": health.total_failures.load(std::sync::atomic::Ordering::Relaxed),
        "ejections": health.total_ejections.load(std::sync::atomic::Ordering::Relaxed),
    })
}

fn state_of(state: Health) -> (&'static str, Option<UnixMillis>) {
    match state {
        Health::Healthy => ("healthy", None),
        Health::Ejected(until) => ("ejected", Some(until)),
        Health::Cooling(until) => ("cooling", Some(until)),
    }
}

/// Appends each configured channel's gauges to a Prometheus text exposition: whether its
/// circuit is closed (`switchyard_channel_up`, 0 while ejected or cooling) and whether the
/// operator has it enabled. Computed from this node's catalogue when `/metrics` is scraped, so
/// the hot path does no extra work and every server in a process reports its own channels.
pub(crate) fn render_gauges(catalog: &Catalog, now: UnixMillis, out: &mut String) {
    let statuses = catalog.channel_statuses();
    if statuses.is_empty() {
        return;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("# HELP switchyard_channel_up 1 when the channel's circuit is closed, 0 while it is ejected or cooling.\n");
    out.push_str("# TYPE switchyard_channel_up gauge\n");
    for s in &statuses {
        let up = u8::from(s.entry.health.state(now) == Health::Healthy);
        let _ = writeln!(out, "switchyard_channel_up{{{}}} {up}", labels(s));
    }
    out.push_str(
        "# HELP switchyard_channel_enabled 1 when the operator has the channel enabled.\n",
    );
    out.push_str("# TYPE switchyard_channel_enabled gauge\n");
    for s in &statuses {
        let _ = writeln!(
            out,
            "switchyard_channel_enabled{{{}}} {}",
            labels(s),
            u8::from(s.enabled)
        );
    }
}

fn labels(s: &ChannelStatus<'_>) -> String {
    format!(
        "model=\"{}\",channel=\"{}\"",
        escape(s.model),
        escape(s.entry.name())
    )
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
