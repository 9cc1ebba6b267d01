//! switchyard-testkit: helpers for Switchyard's tests and benchmarks: a faithful mock upstream
//! speaking OpenAI, Anthropic and Gemini on one port ([`MockUpstream`]); [`TestApp`], the real
//! server on a random port in front of it with a fresh database; and fakes of the outside
//! services the platform talks to: Stripe ([`stripe::FakeStripe`]) and an OpenID Connect
//! provider ([`oidc::FakeOidc`]) with fault switches for every check a relying party makes.

pub mod app;
pub mod mock;
pub mod oidc;
pub mod stripe;

pub use app::TestApp;

pub use mock::{DEFAULT_API_KEY, MockOptions, MockUpstream, Recorded};
