//! The hot path. One visible function, [`Gateway::proxy`], runs the named steps of every
//! inference request in order:
//!
//! authenticate → parse → authorize → (limit) → (hold) → route → translate → dispatch →
//! relay back → meter → settle → log.
//!
//! Nothing here touches the database per request: keys, users, models and prices come from the
//! in-memory [`snapshot`], balances from [`money`]'s budgets; log rows and ledger transfers
//! leave through [`logwriter`]'s channel.

// `ApiError` is ~130 bytes and travels only on the failure path, where a copy costs nothing
// measurable; boxing it would add an allocation to every error for no gain.
#![allow(clippy::result_large_err)]

pub mod capture;
pub mod error;
pub mod limits;
pub mod logwriter;
pub mod meter;
pub mod money;
pub mod observe;
mod pipeline;
mod relay;
pub mod routing;
pub mod snapshot;
mod translate;
pub mod upstream;

pub use error::{ApiError, Dialect};
pub use pipeline::{
    Gateway, GatewayConfig, JURISDICTION_HEADER, RequestMeta, now_millis as pipeline_now_millis,
};

/// The response body type of everything the gateway answers.
pub type Body = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, std::convert::Infallible>;
