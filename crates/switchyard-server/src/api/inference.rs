//! `/v1`: the inference API in OpenAI's dialect (chat, embeddings, responses, models) and
//! Anthropic's (messages, count_tokens).

use super::{Reply, body_rejection, credentials};
use crate::AppState;
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use serde_json::{Value, json};
use std::net::SocketAddr;
use switchyard_core::error::ErrorCode;
use switchyard_core::{RequestId, policy};
use switchyard_gateway::snapshot::Route;
use switchyard_gateway::{ApiError, Dialect, RequestMeta};
use switchyard_wire::openai::Endpoint;

/// One handler per inference endpoint; they differ only in the endpoint they name.
macro_rules! inference_handlers {
    ($($(#[$doc:meta])* $name:ident => $endpoint:expr;)*) => {$(
        $(#[$doc])*
        pub async fn $name(
            state: State<AppState>,
            id: axum::Extension<RequestId>,
            peer: ConnectInfo<SocketAddr>,
            headers: HeaderMap,
            body: Result<Bytes, BytesRejection>,
        ) -> Response {
            proxy($endpoint, state, id, peer, headers, body).await
        }
    )*};
}

inference_handlers! {
    /// `POST /v1/chat/completions`.
    chat_completions => Endpoint::ChatCompletions;
    /// `POST /v1/embeddings`.
    embeddings => Endpoint::Embeddings;
    /// `POST /v1/messages`, in Anthropic's dialect.
    messages => Endpoint::Messages;
    /// `POST /v1/responses`.
    responses => Endpoint::Responses;
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens, answered in Anthropic's shape.
pub async fn count_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let counted = match body {
        Ok(body) => state.gateway.count_tokens(credentials(&headers), &body),
        Err(rejection) => Err(body_rejection(rejection, state.max_body_bytes)),
    };
    match counted {
        Ok(tokens) => Json(json!({ "input_tokens": tokens })).into_response(),
        Err(error) => error
            .into_response_for(Dialect::Anthropic)
            .map(axum::body::Body::new),
    }
}

async fn proxy(
    endpoint: Endpoint,
    State(state): State<AppState>,
    axum::Extension(id): axum::Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return body_rejection(rejection, state.max_body_bytes)
                .into_response_for(Dialect::of(endpoint))
                .map(axum::body::Body::new);
        }
    };
    let mut meta = RequestMeta::now(id, Some(peer.ip().to_string()));
    if endpoint == Endpoint::Messages {
        meta.anthropic_beta = headers.get("anthropic-beta").cloned();
    }
    meta.provider_header = headers.get("x-switchyard-provider").cloned();
    state
        .gateway
        .proxy(endpoint, meta, credentials(&headers), body)
        .await
        .map(axum::body::Body::new)
}

fn model_object(route: &Route) -> Value {
    json!({
        "id": route.model.name,
        "object": "model",
        "created": route.model.created,
        "owned_by": route.channels[0].provider.provider.name,
        // Where the model's channels process prompts; the header `x-switchyard-jurisdiction`
        // of each answer says which one served it.
        "jurisdictions": route.jurisdictions(),
        "aliases": route.model.aliases,
    })
}

/// `GET /v1/models`: the models this key may use.
pub async fn list_models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, Reply> {
    let caller = state.gateway.authenticate(credentials(&headers))?;
    let catalog = state.gateway.catalog();
    let data: Vec<Value> = catalog
        .routes()
        .filter(|route| policy::model_allowed(&caller.key, &route.model).is_ok())
        .map(|route| model_object(route))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// `GET /v1/models/{id}`.
pub async fn get_model(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, Reply> {
    let caller = state.gateway.authenticate(credentials(&headers))?;
    let catalog = state.gateway.catalog();
    let route = catalog
        .route(&id)
        .filter(|route| policy::model_allowed(&caller.key, &route.model).is_ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ModelNotFound,
                format!("The model `{id}` does not exist or this key may not use it."),
            )
            .with_param("model")
        })?;
    Ok(Json(model_object(route)))
}
