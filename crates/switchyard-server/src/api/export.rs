//! `GET /api/me/export`: the caller's data as one ZIP archive, streamed (`crate::export`).
//!
//! The archive is written by a task into a bounded channel and the body reads from it, so the
//! server holds a few chunks however large the history. The handler waits for the first
//! chunk before answering: a failure until then (the store down, the first reads failing) is
//! a normal JSON error. After it the status and headers are sent; a failure then cuts the
//! body short (the chunked response never ends properly), and a client sees a broken
//! download, never a complete-looking but partial archive.

use super::Reply;
use super::actor::Actor;
use crate::AppState;
use crate::export::{self, ExportError};
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::HeaderValue;
use switchyard_core::error::ErrorCode;
use switchyard_gateway::{ApiError, pipeline_now_millis};

/// Seconds a client is told to wait when the user's previous export still runs.
const RETRY_AFTER_SECONDS: &str = "30";

/// `GET /api/me/export`: a session or an API key of the user; only their own data.
pub async fn archive(State(state): State<AppState>, caller: Actor) -> Result<Response, Reply> {
    let user = caller.user.id;
    let Some(slot) = state.exports.claim(user) else {
        return Err(ApiError::new(
            ErrorCode::TooManyAttempts,
            "An export of this account is already running; wait for it to finish (one at a time per account).",
        )
        .with_header(
            http::header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        )
        .into());
    };
    let now = pipeline_now_millis();
    let (mut chunks, task) = export::spawn(state.gateway.store().clone(), user, now, slot);
    let first = match chunks.recv().await {
        Some(Ok(first)) => first,
        // The task failed before sending anything (it sends its error only to a reader that
        // already has bytes, and here the error item is the first item): its result says why.
        Some(Err(_)) | None => {
            let error = match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(_)) => ExportError::Closed,
                Err(join) => ExportError::Io(std::io::Error::other(join.to_string())),
            };
            tracing::error!(error = %error, "export failed before its first byte");
            return Err(ApiError::new(
                ErrorCode::Internal,
                "The export could not be started; try again.",
            )
            .into());
        }
    };
    // The task logs nothing itself; a failure mid-stream is logged here, once, as it ends.
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(summary)) => {
                tracing::info!(user = %user, bytes = summary.bytes, "export sent");
            }
            Ok(Err(ExportError::Closed)) => {
                tracing::info!(user = %user, "export abandoned by the client");
            }
            Ok(Err(e)) => tracing::error!(user = %user, error = %e, "export cut short"),
            Err(e) => tracing::error!(user = %user, error = %e, "export task failed"),
        }
    });
    let rest = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|item| (item, chunks))
    });
    let body = Body::from_stream(futures_util::stream::once(async { Ok(first) }).chain(rest));
    let date = super::rfc3339(now);
    let name = format!(
        "attachment; filename=\"switchyard-export-{}.zip\"",
        date.get(..10).unwrap_or("export")
    );
    Ok((
        [
            (http::header::CONTENT_TYPE, "application/zip".to_owned()),
            (http::header::CONTENT_DISPOSITION, name),
            (http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
