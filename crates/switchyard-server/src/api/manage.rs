//! `/api`: the management API. Authenticated by an API key or a session ([`Actor`]): an admin
//! manages everyone, any other user manages only their own keys (their data policies included; an account's
//! own data policy is the admin's to set, since its keys can only narrow it). Changes to keys take effect on this node at
//! once (the snapshot is reloaded before answering) and on other nodes at their next refresh.

use super::Reply;
use super::actor::Actor;
use crate::AppState;
use crate::accounts::{self, AccountsError, NewKey};
use axum::Json;
use axum::extract::{Path, Query, State};
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use switchyard_core::catalog::{KeyRecord, Role, User};
use switchyard_core::content::ContentLogging;
use switchyard_core::error::ErrorCode;
use switchyard_core::pricing::PriceGroups;
use switchyard_core::routing::DataPolicy;
use switchyard_core::{KeyId, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::StoreError;

pub(super) fn require_admin(caller: &Actor) -> Result<(), Reply> {
    if caller.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::AdminRequired,
            "This operation needs an admin (an admin's API key or session).",
        )
        .into())
    }
}

pub(super) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            ErrorCode::InvalidRequest
        } else {
            ErrorCode::InvalidJson
        };
        Reply::from(ApiError::new(
            code,
            format!("The request body is not valid: {e}"),
        ))
    })
}

pub(super) fn store_error(e: StoreError) -> Reply {
    let code = e.error_code();
    let message = match code {
        ErrorCode::Internal | ErrorCode::Unavailable => {
            tracing::error!(error = %e, "management API store error");
            "The store failed; try again.".to_owned()
        }
        _ => e.to_string(),
    };
    Reply::from(ApiError::new(code, message))
}

pub(super) fn accounts_error(e: AccountsError) -> Reply {
    match e {
        AccountsError::Invalid(message) => {
            Reply::from(ApiError::new(ErrorCode::InvalidRequest, message))
        }
        AccountsError::InvalidParam { param, message } => {
            Reply::from(ApiError::new(ErrorCode::InvalidRequest, message).with_param(param))
        }
        AccountsError::ContentLoggingLocked => Reply::from(
            ApiError::new(
                ErrorCode::ContentLoggingLocked,
                "Content logging is locked off on this deployment (`privacy.content_logging = \"never\"` in its configuration): no key can turn it on.",
            )
            .with_param("log_content"),
        ),
        AccountsError::Store(e) => store_error(e),
    }
}

/// A user as the API shows it; `group` is the price group they pay, the default if unassigned.
pub(super) fn user_json(user: &User, groups: &PriceGroups) -> Value {
    let group = user
        .price_group
        .as_deref()
        .unwrap_or(groups.default_group());
    json!({
        "id": user.id, "email": user.email, "role": user.role, "disabled": user.disabled,
        "created_at": user.created_at / 1000, "group": group, "data_policy": user.data_policy,
    })
}

/// The 404 for a user id a path named: unknown, or not an id at all.
pub(super) fn no_such_user(id: &str) -> Reply {
    Reply::from(ApiError::new(
        ErrorCode::ResourceNotFound,
        format!("There is no user `{id}`."),
    ))
}

/// The user id in a path; a malformed one is reported like an unknown one.
pub(super) fn user_id_in_path(id: &str) -> Result<UserId, Reply> {
    id.parse().map_err(|_| no_such_user(id))
}

/// The answer to a write to user `user_id` (`id` as the path gave it): reloads this node's
/// access snapshot, so the change holds here before the answer, then renders the user as
/// stored now.
pub(super) async fn changed_user(
    state: &AppState,
    user_id: UserId,
    id: &str,
) -> Result<Json<Value>, Reply> {
    state.gateway.reload_access().await.map_err(store_error)?;
    let user = state
        .gateway
        .store()
        .user_by_id(user_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| no_such_user(id))?;
    Ok(Json(user_json(
        &user,
        state.gateway.catalog().price_groups(),
    )))
}

/// Checks a price group name against the configured groups; 400 naming them if unknown.
pub(super) fn known_group(groups: &PriceGroups, group: &str) -> Result<(), Reply> {
    if groups.contains(group) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::InvalidRequest,
        format!(
            "`{group}` is not a price group; the configured groups are: {}.",
            groups.names().collect::<Vec<_>>().join(", ")
        ),
    )
    .into())
}

/// A key as the API shows it; `playground` says whether it is a dashboard playground key.
/// `log_content` is whether the key captures content under the deployment's `mode`: a flag
/// left on under `never` captures nothing, so it shows as off.
pub(super) fn key_json(key: &KeyRecord, playground: bool, mode: ContentLogging) -> Value {
    json!({
        "kind": if playground { "playground" } else { "standard" },
        "id": key.id, "user_id": key.user_id, "name": key.name, "prefix": key.visible_prefix,
        "created_at": key.created_at / 1000,
        "expires_at": key.expires_at.map(|t| t / 1000),
        "revoked_at": key.revoked_at.map(|t| t / 1000),
        "allowed_models": key.allowed_models,
        "data_policy": key.data_policy,
        "log_content": mode.captures(key.log_content),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    #[serde(default)]
    role: Option<Role>,
    /// Another user's referral code: links the new user to them.
    #[serde(default)]
    referral_code: Option<String>,
    /// The price group the user pays; omitted: the configured default group.
    #[serde(default)]
    group: Option<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    require_admin(&caller)?;
    let input: CreateUser = json_body(&body)?;
    let catalog = state.gateway.catalog();
    if let Some(group) = &input.group {
        known_group(catalog.price_groups(), group)?;
    }
    let signup = accounts::Signup {
        key_secret: state.gateway.key_secret(),
        new_user_credit: state.promotions.new_user_credit,
        referral_code: input.referral_code.as_deref(),
    };
    let user = accounts::create_user(
        state.gateway.store(),
        &input.email,
        input.role.unwrap_or(Role::User),
        signup,
    )
    .await
    .map_err(accounts_error)?;
    let mut user = user;
    if let Some(group) = input.group {
        // Before the user has a key, so no request can be priced at the default in between.
        state
            .gateway
            .store()
            .set_price_group(user.id, Some(&group))
            .await
            .map_err(store_error)?;
        user.price_group = Some(group);
    }
    state.gateway.reload_access().await.map_err(store_error)?;
    // The new-user credit, if any, moved money outside the hot path.
    state.gateway.balances_changed();
    Ok((
        StatusCode::CREATED,
        Json(user_json(&user, catalog.price_groups())),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetGroup {
    /// A configured price group; `null` puts the user back in the default group.
    group: Option<String>,
}

/// `PUT /api/admin/users/{id}/group`: moves a user to another price group. Requests that
/// arrive after the answer are priced at the new markup on this node (the snapshot is
/// reloaded first), and on other nodes at their next refresh.
pub async fn set_group(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let input: SetGroup = json_body(&body)?;
    let catalog = state.gateway.catalog();
    if let Some(group) = &input.group {
        known_group(catalog.price_groups(), group)?;
    }
    let user_id = user_id_in_path(&id)?;
    let store = state.gateway.store();
    if !store
        .set_price_group(user_id, input.group.as_deref())
        .await
        .map_err(store_error)?
    {
        return Err(no_such_user(&id));
    }
    changed_user(&state, user_id, &id).await
}

/// `PUT /api/users/{id}/data_policy` (admins): replaces an account's data policy. Its keys'
/// policies still narrow it. Effective on this node before the answer (the snapshot is
/// reloaded), on other nodes at their next refresh.
pub async fn set_user_data_policy(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let policy: DataPolicy = json_body(&body)?;
    let user_id = user_id_in_path(&id)?;
    let store = state.gateway.store();
    accounts::set_user_data_policy(store, user_id, policy)
        .await
        .map_err(accounts_error)?
        .ok_or_else(|| no_such_user(&id))?;
    changed_user(&state, user_id, &id).await
}

pub async fn list_users(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, Reply> {
    require_admin(&caller)?;
    let users = state
        .gateway
        .store()
        .list_users()
        .await
        .map_err(store_error)?;
    let catalog = state.gateway.catalog();
    Ok(Json(
        json!({"object": "list", "data": users.iter().map(|u| user_json(u, catalog.price_groups())).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The owner; defaults to the caller. Only admins may name another user.
    #[serde(default)]
    user_id: Option<UserId>,
    #[serde(default)]
    name: Option<String>,
    /// Unix seconds.
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    allowed_models: Option<Vec<String>>,
    /// Where the key's prompts may be processed; omitted: no restriction beyond the account's.
    #[serde(default)]
    data_policy: Option<DataPolicy>,
    /// Capture the key's prompts and completions (admins only; refused under `never`).
    #[serde(default)]
    log_content: bool,
}

pub async fn create_key(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    let input: CreateKey = json_body(&body)?;
    let user_id = input.user_id.unwrap_or(caller.user.id);
    if user_id != caller.user.id || input.log_content {
        require_admin(&caller)?;
    }
    accounts::content_logging_allowed(state.gateway.content_logging(), input.log_content)
        .map_err(accounts_error)?;
    let new = NewKey {
        user_id,
        name: input.name.unwrap_or_default(),
        expires_at: input.expires_at.map(|s| s.saturating_mul(1000)),
        allowed_models: input.allowed_models,
        data_policy: input.data_policy.unwrap_or_default(),
        log_content: input.log_content,
    };
    let created = accounts::create_key(
        state.gateway.store(),
        state.gateway.key_secret(),
        new,
        pipeline_now_millis(),
    )
    .await
    .map_err(accounts_error)?;
    state.gateway.reload_access().await.map_err(store_error)?;
    let mut body = key_json(&created.record, false, state.gateway.content_logging());
    body["key"] = Value::String(created.secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(body)))
}

#[derive(Deserialize)]
pub struct KeyQuery {
    #[serde(default)]
    user_id: Option<UserId>,
    /// `standard` or `playground`: only keys of that kind; omitted: every key.
    #[serde(default)]
    kind: Option<String>,
}

pub async fn list_keys(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<KeyQuery>,
) -> Result<Json<Value>, Reply> {
    let user = match (caller.user.role, query.user_id) {
        (Role::Admin, wanted) => wanted,
        (_, Some(wanted)) if wanted != caller.user.id => {
            return Err(ApiError::new(
                ErrorCode::AdminRequired,
                "Only an admin may list another user's keys.",
            )
            .into());
        }
        _ => Some(caller.user.id),
    };
    let wanted = match query.kind.as_deref() {
        None | Some("") => None,
        Some("playground") => Some(true),
        Some("standard") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`kind` is `standard` or `playground`, not `{other}`."),
            )
            .with_param("kind")
            .into());
        }
    };
    let store = state.gateway.store();
    let mode = state.gateway.content_logging();
    let keys = store.list_keys(user).await.map_err(store_error)?;
    let playground = store.playground_key_ids(user).await.map_err(store_error)?;
    let data: Vec<Value> = keys
        .iter()
        .map(|k| (k, playground.contains(&k.id)))
        .filter(|(_, p)| wanted.is_none_or(|w| w == *p))
        .map(|(k, p)| key_json(k, p, mode))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// Finds a key the caller may manage; someone else's key is reported as not found.
pub(super) async fn owned_key(
    state: &AppState,
    caller: &Actor,
    id: &str,
) -> Result<KeyRecord, Reply> {
    let not_found = || {
        Reply::from(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("There is no key `{id}`."),
        ))
    };
    let id: KeyId = id.parse().map_err(|_| not_found())?;
    let key = state
        .gateway
        .store()
        .key_by_id(id)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    if caller.user.role != Role::Admin && key.user_id != caller.user.id {
        return Err(not_found());
    }
    Ok(key)
}

/// Whether `key` is a playground key (one indexed lookup, for the single-key answers).
async fn is_playground(state: &AppState, key: &KeyRecord) -> Result<bool, Reply> {
    Ok(state
        .gateway
        .store()
        .playground_key_ids(Some(key.user_id))
        .await
        .map_err(store_error)?
        .contains(&key.id))
}

pub async fn get_key(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let key = owned_key(&state, &caller, &id).await?;
    let playground = is_playground(&state, &key).await?;
    Ok(Json(key_json(
        &key,
        playground,
        state.gateway.content_logging(),
    )))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let key = owned_key(&state, &caller, &id).await?;
    state
        .gateway
        .store()
        .revoke_key(key.id, pipeline_now_millis())
        .await
        .map_err(store_error)?;
    state.gateway.reload_access().await.map_err(store_error)?;
    let key = state
        .gateway
        .store()
        .key_by_id(key.id)
        .await
        .map_err(store_error)?
        .unwrap_or(key);
    let playground = is_playground(&state, &key).await?;
    Ok(Json(key_json(
        &key,
        playground,
        state.gateway.content_logging(),
    )))
}

/// `PUT /api/keys/{id}/data_policy` (the key's owner or an admin): replaces the key's data
/// policy, which narrows its account's. Effective on this node before the answer.
pub async fn set_key_data_policy(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let key = owned_key(&state, &caller, &id).await?;
    let policy: DataPolicy = json_body(&body)?;
    let Some(data_policy) = accounts::set_key_data_policy(state.gateway.store(), key.id, policy)
        .await
        .map_err(accounts_error)?
    else {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("There is no key `{id}`."),
        )
        .into());
    };
    state.gateway.reload_access().await.map_err(store_error)?;
    let playground = is_playground(&state, &key).await?;
    Ok(Json(key_json(
        &KeyRecord { data_policy, ..key },
        playground,
        state.gateway.content_logging(),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    /// Capture the key's prompts and completions.
    log_content: bool,
}

/// `PATCH /api/keys/{id}` (admins): turns content logging of a key on or off. Refused with
/// `content_logging_locked` when the deployment says `privacy.content_logging = "never"`.
/// Effective on this node before the answer, on other nodes at their next refresh.
pub async fn patch_key(
    State(state): State<AppState>,
    caller: Actor,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    // Before the key is looked up: whether a key exists is none of a non-admin's business
    // here, and content logging is the operator's decision, never the key owner's.
    require_admin(&caller)?;
    let input: PatchKey = json_body(&body)?;
    let key = owned_key(&state, &caller, &id).await?;
    let mode = state.gateway.content_logging();
    if !accounts::set_key_log_content(state.gateway.store(), mode, key.id, input.log_content)
        .await
        .map_err(accounts_error)?
    {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("There is no key `{id}`."),
        )
        .into());
    }
    state.gateway.reload_access().await.map_err(store_error)?;
    let playground = is_playground(&state, &key).await?;
    Ok(Json(key_json(
        &KeyRecord {
            log_content: input.log_content,
            ..key
        },
        playground,
        mode,
    )))
}
