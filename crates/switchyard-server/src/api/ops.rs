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
