//! `/api/admin/models`: list, add, edit and delete models. Field names are the TOML's
//! (`[[models]]` and `[[models.channels]]`); prices are decimal USD strings per million tokens
//! (per image, per second for `image_usd` and `usd_per_second`), stored as exact nano-USD.

use super::{WRITES, check_name, conflict, invalid, not_found, present, price, reload};
use crate::AppState;
use crate::api::Reply;
use crate::api::actor::Actor;
use crate::api::manage::{json_body, require_admin, store_error};
use axum::Json;
use axum::extract::{Path, State};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::Nanos;
use switchyard_core::catalog::{Model, ModelKind, StoredChannel, StoredModel};
use switchyard_core::money::Prices;
use switchyard_gateway::pipeline_now_millis;
use switchyard_gateway::snapshot::Catalog;

/// The body of `POST` and `PATCH`. A model has one channel (`provider`, `upstream_model`) or
/// several (`channels`), as in the TOML. On `PATCH` each field sent replaces the current value;
/// `provider` or `channels` replaces every channel; `null` returns `cached_input_usd_per_mtok`
/// to the input price and `reasoning_usd_per_mtok` to the output price.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<String>>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    channels: Option<Vec<ChannelBody>>,
    #[serde(default)]
    input_usd_per_mtok: Option<Value>,
    #[serde(default)]
    output_usd_per_mtok: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    cached_input_usd_per_mtok: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    reasoning_usd_per_mtok: Option<Option<Value>>,
    #[serde(default)]
    image_usd: Option<Value>,
    #[serde(default)]
    usd_per_second: Option<Value>,
}

/// One of `channels`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelBody {
    #[serde(default)]
    name: Option<String>,
    provider: String,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    weight: Option<u32>,
    #[serde(default)]
    priority: Option<i32>,
}

/// `GET /api/admin/models`: configured models, then stored ones.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let catalog = state.gateway.catalog();
    let mut data: Vec<Value> = catalog
        .configured()
        .routes()
        .map(|r| model_json(&r.model, "config", None, &catalog))
        .collect();
    data.extend(
        catalog
            .stored()
            .models
            .iter()
            .filter(|m| catalog.configured().route(&m.name).is_none())
            .map(|m| stored_json(m, &catalog)),
    );
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `POST /api/admin/models`: 201 with the model as listed.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    require_admin(&caller)?;
    let body: ModelBody = json_body(&body)?;
    let Some(name) = body.name.clone() else {
        return Err(invalid("name", "`name` is required."));
    };
    check_name("name", &name)?;
    if body.input_usd_per_mtok.is_none() {
        return Err(invalid(
            "input_usd_per_mtok",
            "`input_usd_per_mtok` is required (a decimal USD string such as \"0.15\").",
        ));
    }
    if body.provider.is_none() && body.channels.is_none() {
        return Err(invalid(
            "provider",
            "Give `provider` (one channel) or `channels`.",
        ));
    }
    let now = pipeline_now_millis();
    let empty = StoredModel {
        name: name.clone(),
        kind: ModelKind::Chat,
        aliases: Vec::new(),
        channels: Vec::new(),
        prices: Prices::default(),
        created_at: now,
        updated_at: now,
    };
    let writing = WRITES.lock().await;
    let stored = state
        .gateway
        .store()
        .stored_catalog()
        .await
        .map_err(store_error)?;
    let model = apply(&state.gateway.catalog(), &stored.models, empty, body, true)?;
    state
        .gateway
        .store()
        .create_stored_model(&model)
        .await
        .map_err(|e| match e {
            switchyard_store::StoreError::Conflict(m) => conflict("name", m),
            e => store_error(e),
        })?;
    reload(&state).await?;
    drop(writing);
    Ok((
        StatusCode::CREATED,
        Json(stored_json(&model, &state.gateway.catalog())),
    ))
}

/// `PATCH /api/admin/models/{name}`: the model as listed after the change.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Actor,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let body: ModelBody = json_body(&body)?;
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(invalid(
            "name",
            "A model cannot be renamed; add an alias, or add the model under the new name.",
        ));
    }
    let writing = WRITES.lock().await;
    let current = stored_model(&state, &name).await?;
    let stored = state
        .gateway
        .store()
        .stored_catalog()
        .await
        .map_err(store_error)?;
    let mut model = apply(
        &state.gateway.catalog(),
        &stored.models,
        current,
        body,
        false,
    )?;
    model.updated_at = pipeline_now_millis();
    let found = state
        .gateway
        .store()
        .update_stored_model(&model)
        .await
        .map_err(|e| match e {
            switchyard_store::StoreError::Conflict(m) => conflict("channels", m),
            e => store_error(e),
        })?;
    if !found {
        return Err(not_found(format!("There is no model `{name}`.")));
    }
    reload(&state).await?;
    drop(writing);
    Ok(Json(stored_json(&model, &state.gateway.catalog())))
}

/// `DELETE /api/admin/models/{name}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Actor,
    Path(name): Path<String>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let writing = WRITES.lock().await;
    stored_model(&state, &name).await?;
    let deleted = state
        .gateway
        .store()
        .delete_stored_model(&name)
        .await
        .map_err(store_error)?;
    if !deleted {
        return Err(not_found(format!("There is no model `{name}`.")));
    }
    reload(&state).await?;
    drop(writing);
    Ok(Json(
        json!({"object": "model", "name": name, "deleted": true}),
    ))
}

/// The stored model `name`: 409 if it is configured, 404 if there is none.
async fn stored_model(state: &AppState, name: &str) -> Result<StoredModel, Reply> {
    if state.gateway.catalog().configured().route(name).is_some() {
        return Err(conflict(
            "name",
            format!("The model `{name}` comes from the configuration file; change it there."),
        ));
    }
    let stored = state
        .gateway
        .store()
        .stored_catalog()
        .await
        .map_err(store_error)?;
    stored
        .models
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| not_found(format!("There is no model `{name}`.")))
}

/// `model` with `body` applied and checked against `catalog` (known providers, names not
/// taken by configured models) and `stored` (names not taken by other stored models).
fn apply(
    catalog: &Catalog,
    stored: &[StoredModel],
    mut model: StoredModel,
    body: ModelBody,
    creating: bool,
) -> Result<StoredModel, Reply> {
    if let Some(kind) = &body.kind {
        model.kind = match kind.as_str() {
            "chat" => ModelKind::Chat,
            "embedding" => ModelKind::Embedding,
            other => {
                return Err(invalid(
                    "kind",
                    format!("`kind` `{other}` is not known: use chat or embedding."),
                ));
            }
        };
    }
    if let Some(aliases) = body.aliases {
        for (i, alias) in aliases.iter().enumerate() {
            check_name(&format!("aliases[{i}]"), alias)?;
            if *alias == model.name || aliases[..i].contains(alias) {
                return Err(invalid(
                    "aliases",
                    format!("`aliases` names `{alias}` twice (or the model's own name)."),
                ));
            }
        }
        model.aliases = aliases;
    }
    // Every name the model answers to must be free among configured and other stored models.
    for (param, taken) in
        std::iter::once(("name", &model.name)).chain(model.aliases.iter().map(|a| ("aliases", a)))
    {
        let configured = catalog.configured().route(taken).is_some();
        let other = stored
            .iter()
            .any(|m| m.name != model.name && (m.name == *taken || m.aliases.contains(taken)));
        if configured || other || (creating && stored.iter().any(|m| m.name == *taken)) {
            return Err(conflict(
                param,
                format!("The name `{taken}` is already used by a model or an alias."),
            ));
        }
    }

    let default_upstream = body.upstream_model.clone();
    match (body.provider, body.channels) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "channels",
                "Give either `provider` (one channel) or `channels`, not both.",
            ));
        }
        (Some(provider), None) => {
            known_provider(catalog, "provider", &provider)?;
            model.channels = vec![StoredChannel {
                name: provider.clone(),
                upstream_model: default_upstream.unwrap_or_else(|| model.name.clone()),
                provider,
                weight: 1,
                priority: 0,
            }];
        }
        (None, Some(channels)) => {
            if channels.is_empty() {
                return Err(invalid(
                    "channels",
                    "`channels` must list at least one channel.",
                ));
            }
            let mut out: Vec<StoredChannel> = Vec::with_capacity(channels.len());
            for (j, c) in channels.into_iter().enumerate() {
                let at = format!("channels[{j}]");
                known_provider(catalog, &format!("{at}.provider"), &c.provider)?;
                if c.weight == Some(0) {
                    return Err(invalid(
                        &format!("{at}.weight"),
                        format!(
                            "`{at}.weight` must be at least 1 (remove the channel to stop using it)."
                        ),
                    ));
                }
                let name = match c.name {
                    Some(name) => {
                        check_name(&format!("{at}.name"), &name)?;
                        name
                    }
                    // A provider serving the model twice gets `provider-2`, as in the TOML.
                    None => {
                        let mut name = c.provider.clone();
                        let mut n = 1;
                        while out.iter().any(|o| o.name == name) {
                            n += 1;
                            name = format!("{}-{n}", c.provider);
                        }
                        name
                    }
                };
                if out.iter().any(|o| o.name == name) {
                    return Err(invalid(
                        &format!("{at}.name"),
                        format!("The model already has a channel named `{name}`."),
                    ));
                }
                out.push(StoredChannel {
                    name,
                    upstream_model: c
                        .upstream_model
                        .or_else(|| default_upstream.clone())
                        .unwrap_or_else(|| model.name.clone()),
                    provider: c.provider,
                    weight: c.weight.unwrap_or(1),
                    priority: c.priority.unwrap_or(0),
                });
            }
            model.channels = out;
        }
        (None, None) => {
            // `upstream_model` alone renames the model upstream on every channel.
            if let Some(upstream) = default_upstream {
                for c in &mut model.channels {
                    c.upstream_model = upstream.clone();
                }
            }
        }
    }
    if let Some(c) = model.channels.iter().find(|c| c.upstream_model.is_empty()) {
        return Err(invalid(
            "upstream_model",
            format!("The channel `{}` has an empty `upstream_model`.", c.name),
        ));
    }

    let p = &mut model.prices;
    let old_input = p.input;
    if let Some(value) = &body.input_usd_per_mtok {
        p.input = price("input_usd_per_mtok", value)?;
    }
    match &body.output_usd_per_mtok {
        Some(value) => p.output = price("output_usd_per_mtok", value)?,
        None if creating && model.kind == ModelKind::Chat => {
            return Err(invalid(
                "output_usd_per_mtok",
                "`output_usd_per_mtok` is required for a chat model.",
            ));
        }
        None => {}
    }
    match &body.cached_input_usd_per_mtok {
        Some(Some(value)) => p.cached_input = price("cached_input_usd_per_mtok", value)?,
        Some(None) => p.cached_input = p.input,
        // Unset, the cached price follows the input price, as in the TOML.
        None if creating || p.cached_input == old_input => p.cached_input = p.input,
        None => {}
    }
    match &body.reasoning_usd_per_mtok {
        Some(Some(value)) => p.reasoning = Some(price("reasoning_usd_per_mtok", value)?),
        Some(None) => p.reasoning = None,
        None => {}
    }
    if let Some(value) = &body.image_usd {
        p.image = price("image_usd", value)?;
    }
    if let Some(value) = &body.usd_per_second {
        p.per_second = price("usd_per_second", value)?;
    }
    Ok(model)
}

/// 400 unless a configured or stored provider is named `provider`.
fn known_provider(catalog: &Catalog, param: &str, provider: &str) -> Result<(), Reply> {
    if catalog.provider(provider).is_some() {
        Ok(())
    } else {
        Err(invalid(
            param,
            format!(
                "`{param}`: there is no provider named `{provider}`. `GET /api/admin/providers` lists them."
            ),
        ))
    }
}

fn usd(n: Nanos) -> String {
    n.to_string()
}

/// A stored model as listed.
fn stored_json(m: &StoredModel, catalog: &Catalog) -> Value {
    model_json(&m.to_model(), "api", Some(m), catalog)
}

/// A model as listed; `stored` gives the times of a stored one.
fn model_json(m: &Model, source: &str, stored: Option<&StoredModel>, catalog: &Catalog) -> Value {
    let channels: Vec<Value> = m
        .channels
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "provider": c.provider,
                "upstream_model": c.upstream_model,
                "weight": c.weight,
                "priority": c.priority,
                "jurisdiction": catalog.provider(&c.provider).map(|e| e.provider.jurisdiction.clone()),
            })
        })
        .collect();
    let p = &m.prices;
    let kind = match m.kind {
        ModelKind::Chat => "chat",
        ModelKind::Embedding => "embedding",
    };
    json!({
        "object": "model",
        "name": m.name,
        "source": source,
        "kind": kind,
        "aliases": m.aliases,
        "channels": channels,
        "input_usd_per_mtok": usd(p.input),
        "output_usd_per_mtok": usd(p.output),
        "cached_input_usd_per_mtok": usd(p.cached_input),
        "reasoning_usd_per_mtok": p.reasoning.map(usd),
        "image_usd": usd(p.image),
        "usd_per_second": usd(p.per_second),
        "serving": catalog.route(&m.name).is_some_and(|r| r.model.name == m.name),
        "created_at": stored.map(|s| s.created_at),
        "updated_at": stored.map(|s| s.updated_at),
    })
}
