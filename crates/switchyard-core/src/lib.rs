//! The domain of Switchyard: what a key, a model, a price and a request log *are*, and the
//! rules that relate them. Pure code: no tokio, no SQL, no HTTP. Everything here is tested
//! with plain unit and property tests.

pub mod catalog;
pub mod content;
pub mod credential;
pub mod error;
pub mod id;
pub mod key;
pub mod ledger;
pub mod limits;
pub mod log;
pub mod money;
pub mod policy;
pub mod pricing;
pub mod retention;
pub mod routing;
pub mod secret;
pub mod stripe;
pub mod usage;

pub use id::{IdentityId, KeyId, RequestId, UserId};
pub use money::Nanos;
pub use secret::Secret;
pub use usage::Usage;
