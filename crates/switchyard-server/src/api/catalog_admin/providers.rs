//! `/api/admin/providers`: list, add, edit, delete and test upstream providers. Field names
//! are the TOML's (`[[providers]]`), except that the key itself is sent as `api_key` rather
//! than named by `api_key_env`.

use super::{WRITES, check_name, conflict, invalid, not_found, present, reload};
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
use std::time::{Duration, Instant};
use switchyard_core::Secret;
use switchyard_core::catalog::{Provider, ProviderKind, StoredProvider};
use switchyard_core::credential;
use switchyard_core::routing::{DataPractice, parse_jurisdiction};
use switchyard_gateway::pipeline_now_millis;
use switchyard_gateway::snapshot::Catalog;

/// How long a connection test may take: long enough for a slow TLS handshake, short enough for
/// an operator waiting on a form.
const TEST_WITHIN: Duration = Duration::from_secs(5);

/// The body of `POST` (every field but `name` and `kind` optional) and `PATCH` (each field sent
/// is changed; `null` clears `api_key`, `jurisdiction`, the declarations and the timeouts).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    api_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    jurisdiction: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    retains_prompts: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    trains_on_prompts: Option<Option<bool>>,
    #[serde(default)]
    zdr: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    connect_timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    first_byte_timeout_ms: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    total_timeout_ms: Option<Option<u64>>,
}

/// `GET /api/admin/providers`: configured providers, then stored ones.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let catalog = state.gateway.catalog();
    let mut data: Vec<Value> = catalog
        .configured()
        .providers()
        .map(|e| configured_json(&e.provider, &catalog))
        .collect();
    data.extend(
        catalog
            .stored()
            .providers
            .iter()
            .filter(|p| catalog.configured().provider(&p.name).is_none())
            .map(|p| stored_json(p, &catalog)),
    );
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `POST /api/admin/providers`: 201 with the provider as listed.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    require_admin(&caller)?;
    let body: ProviderBody = json_body(&body)?;
    let Some(name) = body.name.clone() else {
        return Err(invalid("name", "`name` is required."));
    };
    check_name("name", &name)?;
    if name.contains('/') {
        return Err(invalid("name", "`name` must not contain `/`."));
    }
    let writing = WRITES.lock().await;
    if state
        .gateway
        .catalog()
        .configured()
        .provider(&name)
        .is_some()
    {
        return Err(conflict(
            "name",
            format!("A provider named `{name}` is in the configuration file; choose another name."),
        ));
    }
    let now = pipeline_now_millis();
    let empty = StoredProvider {
        name: name.clone(),
        kind: ProviderKind::Openai,
        base_url: String::new(),
        api_key_sealed: None,
        api_key_hint: None,
        jurisdiction: "unspecified".to_owned(),
        data: DataPractice::default(),
        connect_timeout_ms: None,
        first_byte_timeout_ms: None,
        total_timeout_ms: None,
        created_at: now,
        updated_at: now,
    };
    if body.kind.is_none() {
        return Err(invalid(
            "kind",
            "`kind` is required: openai, anthropic or gemini.",
        ));
    }
    let provider = apply(&state, empty, body, true)?;
    state
        .gateway
        .store()
        .create_stored_provider(&provider)
        .await
        .map_err(|e| match e {
            switchyard_store::StoreError::Conflict(_) => {
                conflict("name", format!("A provider named `{name}` already exists."))
            }
            e => store_error(e),
        })?;
    reload(&state).await?;
    drop(writing);
    let catalog = state.gateway.catalog();
    Ok((StatusCode::CREATED, Json(stored_json(&provider, &catalog))))
}

/// `PATCH /api/admin/providers/{name}`: the provider as listed after the change.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Actor,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let body: ProviderBody = json_body(&body)?;
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(invalid(
            "name",
            "A provider cannot be renamed; add one under the new name and move the models.",
        ));
    }
    let writing = WRITES.lock().await;
    let current = stored(&state, &name).await?;
    let mut provider = apply(&state, current, body, false)?;
    provider.updated_at = pipeline_now_millis();
    let found = state
        .gateway
        .store()
        .update_stored_provider(&provider)
        .await
        .map_err(store_error)?;
    if !found {
        return Err(not_found(format!("There is no provider `{name}`.")));
    }
    reload(&state).await?;
    drop(writing);
    let catalog = state.gateway.catalog();
    Ok(Json(stored_json(&provider, &catalog)))
}

/// `DELETE /api/admin/providers/{name}`: 409 while a model uses it.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Actor,
    Path(name): Path<String>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let writing = WRITES.lock().await;
    stored(&state, &name).await?;
    let catalog = state.gateway.catalog();
    let users = models_using(&catalog, &name);
    if !users.is_empty() {
        return Err(conflict(
            "name",
            format!(
                "The provider `{name}` serves {}; delete those models or move their channels first.",
                users.join(", ")
            ),
        ));
    }
    let deleted = state
        .gateway
        .store()
        .delete_stored_provider(&name)
        .await
        .map_err(|e| match e {
            switchyard_store::StoreError::Conflict(m) => conflict("name", m),
            e => store_error(e),
        })?;
    if !deleted {
        return Err(not_found(format!("There is no provider `{name}`.")));
    }
    reload(&state).await?;
    drop(writing);
    Ok(Json(
        json!({"object": "provider", "name": name, "deleted": true}),
    ))
}

/// `POST /api/admin/providers/{name}/test`: lists the provider's models with its key, within a
/// few seconds. Always 200; `ok` says whether the provider accepted the call. The message
/// never contains the key: it is built from the status or the transport failure, with the key
/// masked should a failure ever echo it.
pub(crate) async fn test(
    State(state): State<AppState>,
    caller: Actor,
    Path(name): Path<String>,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let catalog = state.gateway.catalog();
    let Some(entry) = catalog.provider(&name) else {
        return Err(not_found(format!(
            "There is no provider `{name}`. `GET /api/admin/providers` lists them."
        )));
    };
    if let Some(why) = &entry.unusable {
        // Probing without the key would report the provider's 401 and hide the real cause.
        return Ok(Json(json!({
            "ok": false,
            "status": null,
            "latency_ms": 0,
            "message": format!("The provider cannot be used: {why}."),
        })));
    }
    let started = Instant::now();
    let outcome = entry.upstream.probe(TEST_WITHIN).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (ok, status, message) = match outcome {
        Ok(status) if status.is_success() => (
            true,
            Some(status.as_u16()),
            format!("The provider answered {status}."),
        ),
        Ok(status) if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN => (
            false,
            Some(status.as_u16()),
            format!("The provider refused the API key ({status}); check `api_key`."),
        ),
        Ok(status) => (
            false,
            Some(status.as_u16()),
            format!("The provider answered {status} to listing its models; check `base_url`."),
        ),
        Err(e) => (
            false,
            None,
            format!("The provider could not be reached: {}.", e.detail),
        ),
    };
    let message = match &entry.provider.api_key {
        Some(key) if !key.is_empty() => message.replace(key.expose(), "***"),
        _ => message,
    };
    Ok(Json(json!({
        "ok": ok,
        "status": status,
        "latency_ms": latency_ms,
        "message": message,
    })))
}

/// The stored provider `name`: 409 if it is configured, 404 if there is none.
async fn stored(state: &AppState, name: &str) -> Result<StoredProvider, Reply> {
    if state
        .gateway
        .catalog()
        .configured()
        .provider(name)
        .is_some()
    {
        return Err(conflict(
            "name",
            format!("The provider `{name}` comes from the configuration file; change it there."),
        ));
    }
    // The store, not this node's snapshot: another replica may have changed it.
    let stored = state
        .gateway
        .store()
        .stored_catalog()
        .await
        .map_err(store_error)?;
    stored
        .providers
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| not_found(format!("There is no provider `{name}`.")))
}

/// `provider` with `body` applied and checked. `creating` makes a missing `base_url` of an
/// OpenAI-compatible provider an error rather than keeping the current one.
fn apply(
    state: &AppState,
    mut provider: StoredProvider,
    body: ProviderBody,
    creating: bool,
) -> Result<StoredProvider, Reply> {
    if let Some(kind) = &body.kind {
        provider.kind = match kind.as_str() {
            "openai" => ProviderKind::Openai,
            "anthropic" => ProviderKind::Anthropic,
            "gemini" => ProviderKind::Gemini,
            other => {
                return Err(invalid(
                    "kind",
                    format!("`kind` `{other}` is not known: use openai, anthropic or gemini."),
                ));
            }
        };
    }
    match body.base_url {
        Some(url) => provider.base_url = check_url(&url)?,
        None if creating => {
            provider.base_url = match provider.kind {
                ProviderKind::Anthropic => "https://api.anthropic.com/v1".to_owned(),
                ProviderKind::Gemini => {
                    "https://generativelanguage.googleapis.com/v1beta".to_owned()
                }
                ProviderKind::Openai | ProviderKind::Demo => {
                    return Err(invalid(
                        "base_url",
                        "`base_url` is required for kind `openai` (e.g. https://api.openai.com/v1).",
                    ));
                }
            }
        }
        None => {}
    }
    match body.api_key {
        Some(Some(key)) => {
            let key = key.trim().to_owned();
            if key.is_empty() {
                return Err(invalid(
                    "api_key",
                    "`api_key` must not be empty; send null to remove the key.",
                ));
            }
            if http::HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
                return Err(invalid(
                    "api_key",
                    "`api_key` contains characters a key cannot have.",
                ));
            }
            let secret = Secret::new(key);
            provider.api_key_sealed = Some(
                state
                    .gateway
                    .seal_credential(&provider.name, &secret)
                    .map_err(|e| invalid("api_key", e.to_string()))?,
            );
            provider.api_key_hint = credential::hint(&secret);
        }
        Some(None) => {
            provider.api_key_sealed = None;
            provider.api_key_hint = None;
        }
        None => {}
    }
    match body.jurisdiction {
        Some(Some(text)) => {
            provider.jurisdiction = parse_jurisdiction(&text)
                .map_err(|e| invalid("jurisdiction", format!("`jurisdiction`: {e}.")))?;
        }
        Some(None) => provider.jurisdiction = "unspecified".to_owned(),
        None => {}
    }
    if let Some(retains) = body.retains_prompts {
        provider.data.retains_prompts = retains;
    }
    if let Some(trains) = body.trains_on_prompts {
        provider.data.trains_on_prompts = trains;
    }
    if let Some(zdr) = body.zdr {
        provider.data.zdr = zdr;
    }
    if provider.data.zdr {
        if body.retains_prompts == Some(Some(true)) {
            return Err(invalid(
                "zdr",
                "`zdr: true` contradicts `retains_prompts: true`.",
            ));
        }
        // A zero-data-retention agreement means nothing is kept, as in the configuration.
        provider.data.retains_prompts = Some(false);
    }
    for (param, field, sent) in [
        (
            "connect_timeout_ms",
            &mut provider.connect_timeout_ms,
            body.connect_timeout_ms,
        ),
        (
            "first_byte_timeout_ms",
            &mut provider.first_byte_timeout_ms,
            body.first_byte_timeout_ms,
        ),
        (
            "total_timeout_ms",
            &mut provider.total_timeout_ms,
            body.total_timeout_ms,
        ),
    ] {
        if let Some(value) = sent {
            if value == Some(0) || value.is_some_and(|v| v > i64::MAX as u64) {
                return Err(invalid(
                    param,
                    format!(
                        "`{param}` must be a positive number of milliseconds, or null for the server's default."
                    ),
                ));
            }
            *field = value;
        }
    }
    Ok(provider)
}

/// A base URL: http or https, with a host, no query or fragment.
fn check_url(url: &str) -> Result<String, Reply> {
    let bad = |why: &str| {
        invalid(
            "base_url",
            format!("`base_url` `{url}` {why} (e.g. https://api.openai.com/v1)."),
        )
    };
    let trimmed = url.trim().trim_end_matches('/');
    let uri: http::Uri = trimmed.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if uri.query().is_some() || trimmed.contains('#') {
        return Err(bad("must not have a query or a fragment"));
    }
    Ok(trimmed.to_owned())
}

/// Names of the models (configured or stored) with a channel on `provider`.
fn models_using(catalog: &Catalog, provider: &str) -> Vec<String> {
    let mut names: Vec<String> = catalog
        .routes()
        .filter(|r| r.channels.iter().any(|c| c.channel.provider == provider))
        .map(|r| r.model.name.clone())
        .collect();
    // A stored model the snapshot skipped still counts: deleting its provider would orphan it.
    for m in &catalog.stored().models {
        if !names.contains(&m.name) && m.channels.iter().any(|c| c.provider == provider) {
            names.push(m.name.clone());
        }
    }
    names
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// A configured provider as listed: read-only, its effective deadlines.
fn configured_json(p: &Provider, catalog: &Catalog) -> Value {
    let key = p.api_key.as_ref().filter(|k| !k.is_empty());
    json!({
        "object": "provider",
        "name": p.name,
        "source": "config",
        "kind": p.kind.as_str(),
        "base_url": p.base_url,
        "api_key_set": key.is_some(),
        "api_key_last4": key.and_then(credential::hint),
        "credential_error": null,
        "jurisdiction": p.jurisdiction,
        "retains_prompts": p.data.retains_prompts,
        "trains_on_prompts": p.data.trains_on_prompts,
        "zdr": p.data.zdr,
        "connect_timeout_ms": ms(p.timeouts.connect),
        "first_byte_timeout_ms": ms(p.timeouts.first_byte),
        "total_timeout_ms": ms(p.timeouts.total),
        "models": models_using(catalog, &p.name),
        "created_at": null,
        "updated_at": null,
    })
}

/// A stored provider as listed: `null` deadlines are the server's defaults.
fn stored_json(p: &StoredProvider, catalog: &Catalog) -> Value {
    json!({
        "object": "provider",
        "name": p.name,
        "source": "api",
        "kind": p.kind.as_str(),
        "base_url": p.base_url,
        "api_key_set": p.api_key_sealed.is_some(),
        "api_key_last4": p.api_key_hint,
        // Why the gateway cannot use the provider (its credential does not open), as this
        // node's catalogue says; `null` when it can.
        "credential_error": catalog.provider(&p.name).and_then(|e| e.unusable.clone()),
        "jurisdiction": p.jurisdiction,
        "retains_prompts": p.data.retains_prompts,
        "trains_on_prompts": p.data.trains_on_prompts,
        "zdr": p.data.zdr,
        "connect_timeout_ms": p.connect_timeout_ms,
        "first_byte_timeout_ms": p.first_byte_timeout_ms,
        "total_timeout_ms": p.total_timeout_ms,
        "models": models_using(catalog, &p.name),
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    })
}
