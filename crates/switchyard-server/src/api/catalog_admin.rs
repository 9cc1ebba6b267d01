//! The operator's catalogue (admin only): providers and models added, edited and deleted
//! through the API beside the configured ones, which it lists read-only (`source: "config"`).
//!
//! Stored entries live in the store and reach the hot path through the gateway's snapshot:
//! each write reloads this node's catalogue before answering, and bumps the store generation so
//! other replicas' refreshers reload theirs. Requests in flight keep the snapshot they started
//! with. Provider keys are write-only: sealed before they are stored, never in an answer (only
//! `api_key_set` and, for long keys, their last four characters).
//!
//! [`providers`] and [`models`] hold the handlers; this file what they share. (`catalogue` is
//! the consumer's read-only view, `GET /api/models`.)

pub(super) mod models;
pub(super) mod providers;

use super::Reply;
use super::manage::store_error;
use crate::AppState;
use serde::{Deserialize, Deserializer};
use switchyard_core::Nanos;
use switchyard_core::error::ErrorCode;
use switchyard_gateway::ApiError;
use tokio::sync::Mutex;

/// Serialises this node's check-then-write of catalogue names (a model and an alias added at
/// once could otherwise both pass the check). Replicas may still race; the snapshot then
/// serves the first and logs the other (see `Catalog::with_stored`).
static WRITES: Mutex<()> = Mutex::const_new(());

/// Longest provider or model name accepted.
const MAX_NAME: usize = 128;

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A 400 naming the field at fault.
fn invalid(param: &str, message: impl Into<String>) -> Reply {
    ApiError::new(ErrorCode::InvalidRequest, message)
        .with_param(param)
        .into()
}

/// A 409 naming the field at fault.
fn conflict(param: &str, message: impl Into<String>) -> Reply {
    ApiError::new(ErrorCode::Conflict, message)
        .with_param(param)
        .into()
}

fn not_found(message: impl Into<String>) -> Reply {
    ApiError::new(ErrorCode::ResourceNotFound, message).into()
}

/// A provider, model, alias or channel name: non-empty, at most [`MAX_NAME`] characters, no
/// whitespace or control characters (names travel in URLs, headers and log lines).
fn check_name(param: &str, name: &str) -> Result<(), Reply> {
    if name.is_empty() {
        return Err(invalid(param, format!("`{param}` must not be empty.")));
    }
    if name.chars().count() > MAX_NAME {
        return Err(invalid(
            param,
            format!("`{param}` is longer than {MAX_NAME} characters."),
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            param,
            format!("`{param}` must not contain spaces or control characters."),
        ));
    }
    Ok(())
}

/// A price as the API takes it: a decimal USD string (`"0.15"`), read exactly into nano-USD.
/// JSON numbers are refused: a float cannot carry every decimal price exactly.
fn price(param: &str, value: &serde_json::Value) -> Result<Nanos, Reply> {
    let serde_json::Value::String(text) = value else {
        return Err(invalid(
            param,
            format!("`{param}` must be a decimal USD string such as \"0.15\"."),
        ));
    };
    let nanos =
        Nanos::from_usd_str(text).map_err(|e| invalid(param, format!("`{param}`: {e}.")))?;
    if nanos.0 < 0 {
        return Err(invalid(param, format!("`{param}` cannot be negative.")));
    }
    Ok(nanos)
}

/// Reloads this node's catalogue after a write, so the answer (and the next request) sees it.
async fn reload(state: &AppState) -> Result<(), Reply> {
    state.gateway.reload_catalog().await.map_err(store_error)
}
