//! Operational endpoints: liveness, readiness, Prometheus metrics.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;
use std::sync::atomic::Ordering;

/// Liveness: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the node is not shutting down, and the store is reachable with its migrations
/// current.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "draining", "reason": "the node is shutting down"})),
        )
            .into_response();
    }
    if state.gateway.log().backlogged() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "reason": "the request log is behind: the database is not keeping up"
            })),
        )
            .into_response();
    }
    match state.gateway.store().check_ready().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": e.to_string()})),
        )
            .into_response(),
    }
}

/// Prometheus text exposition: the process's recorder, then this node's channel gauges.
pub async fn metrics(State(state): State<AppState>) -> Response {
    metrics::gauge!("switchyard_log_queue_depth").set(state.gateway.log().queued() as f64);
    let mut text = state.metrics.render();
    super::channels::render_gauges(
        &state.gateway.catalog(),
        switchyard_gateway::pipeline_now_millis(),
        &mut text,
    );
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

/// The OpenAPI document of every route this router serves (kept in step by a test that reads
/// the router: `openapi_lists_every_route`).
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /api/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    ([(http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::OPENAPI;
    use std::collections::BTreeSet;

    /// Every route of `api::router` is in the OpenAPI document, and the document names no route
    /// the router lacks. Reads the router's source: axum cannot list its routes.
    #[test]
    fn openapi_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
        let documented: BTreeSet<String> = doc["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect())
            .unwrap_or_default();
        let source = include_str!("mod.rs");
        let routed: BTreeSet<String> = source
            .split(".route(")
            .skip(1)
            .filter_map(|rest| {
                let start = rest.find('"')? + 1;
                let end = start + rest[start..].find('"')?;
                Some(rest[start..end].to_owned())
            })
            .collect();
        assert!(!routed.is_empty());
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "openapi.json names routes the router lacks: {extra:?}"
        );
    }
}
