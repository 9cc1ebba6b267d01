//! Google Gemini `generateContent` / `streamGenerateContent?alt=sse`, an upstream dialect only:
//! neutral requests are encoded to it, its answers, streams and errors decoded to neutral.
//!
//! Every mapping decision and every dropped field is listed in `docs/translation/gemini.md`.
//! The model is not part of the body: the caller puts it in the URL.

mod decode;
#[cfg(test)]
mod decode_tests;
mod error;
#[cfg(test)]
mod proptests;
mod request;
mod response;
mod schema;
mod stream;

pub use decode::decode_request;
pub use error::decode_error;
pub use request::encode_request;
pub use response::decode_response;
pub use schema::sanitize_schema;
pub use stream::StreamDecoder;
