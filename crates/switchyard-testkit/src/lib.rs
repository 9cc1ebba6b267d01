//! switchyard-testkit: helpers for Switchyard's tests and benchmarks: a faithful mock upstream
//! speaking OpenAI, Anthropic and Gemini on one port ([`MockUpstream`]) and [`TestApp`], the real server on a random port in front of it
//! with a fresh database.

pub mod app;
pub mod mock;
pub mod oidc;
pub mod stripe;

pub use app::TestApp;

pub use mock::{DEFAULT_API_KEY, MockOptions, MockUpstream, Recorded};
