//! The HTTP surface: axum routers for the inference API (`/v1`), the management API (`/api`)
//! and the operational endpoints. Handlers are thin: extract, call the gateway or the
//! accounts service, render. Only this crate knows axum.

pub mod accounts;
mod api;
pub mod audit;
pub mod auth;
pub mod export;
pub mod invoice_pdf;
pub mod mail;
mod request_id;
mod state;
mod ui;

pub use api::router;
pub use state::AppState;
