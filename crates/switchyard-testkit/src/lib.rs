//! switchyard-testkit: helpers for Switchyard's tests and benchmarks, starting with a faithful
//! mock OpenAI upstream ([`MockUpstream`]).

pub mod mock;

pub use mock::{DEFAULT_API_KEY, MockOptions, MockUpstream, Recorded};
