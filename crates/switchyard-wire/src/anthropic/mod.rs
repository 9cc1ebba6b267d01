//! Anthropic Messages (`POST /v1/messages`): to and from the neutral form.
//!
//! Anthropic is both a client dialect (clients call our `/v1/messages`) and an upstream kind,
//! so every direction exists: [`decode_request`] (client → neutral), [`encode_request`]
//! (neutral → upstream), [`decode_response`] / [`StreamDecoder`] (upstream → neutral),
//! [`encode_response`] / [`StreamEncoder`] (neutral → client), and the error body both ways.
//! The mapping decisions and the fields deliberately dropped are listed in
//! `docs/translation/anthropic.md`.

mod encode;
mod error;
mod request;
mod response;
mod stream;
mod stream_encoder;
mod thinking;
mod usage;

pub use encode::{JSON_OBJECT_INSTRUCTION, encode_request};
pub use error::{decode_error, error_body, error_type};
pub use request::{IMAGE_PLACEHOLDER, SCHEMA_NAME, decode_request};
pub use response::{decode_response, encode_response};
pub use stream::StreamDecoder;
pub use stream_encoder::StreamEncoder;
pub use thinking::REDACTED_MARK;
pub use usage::{Reported, WireUsage, usage_of_response};

#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod roundtrip_tests;
#[cfg(test)]
mod stream_roundtrip_tests;
#[cfg(test)]
mod stream_tests;
