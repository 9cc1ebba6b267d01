//! The OpenAI wire format (Chat Completions, Embeddings, Models, errors).
//!
//! Only what the gateway must *read* is typed here; everything else passes through as raw JSON.

pub mod chat;
pub mod error;
pub mod request;
pub mod stream;
pub mod usage;

pub use error::{ErrorBody, ErrorObject, UpstreamErrorInfo};
pub use request::{Endpoint, RequestError, RequestPeek};
pub use stream::{ChunkPeek, StreamEvent};
pub use usage::WireUsage;
