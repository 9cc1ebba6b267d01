//! The Switchyard binary's library half: configuration, wiring and the CLI verbs, so that
//! integration tests start exactly what `switchyard serve` starts.

pub mod app;
pub mod config;
pub mod secret;
pub mod secrets;
