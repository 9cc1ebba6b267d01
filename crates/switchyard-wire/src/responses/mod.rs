//! The OpenAI Responses API (`POST /v1/responses`): client requests into the neutral form, and
//! neutral answers back out as a `response` object or its event stream. The reverse directions
//! (`encode_request`, `decode_response`, [`StreamDecoder`]) serve the round-trip tests and an
//! upstream that speaks the Responses API.
//!
//! **Boundary:** the gateway stores nothing, so everything that needs server-side state
//! (`previous_response_id`, `conversation`, stored prompts, `background`) is refused with a
//! [`RequestError`](crate::openai::RequestError) that says to send the whole conversation.
//! The mapping decisions and the fields dropped are listed in `docs/translation/responses.md`.

mod echo;
mod encode;
mod input;
mod request;
mod response;
mod stream;
mod stream_decode;
#[cfg(test)]
mod stream_decode_tests;
#[cfg(test)]
mod stream_tests;

pub use encode::encode_request;
pub use request::decode_request;
pub use response::{decode_response, encode_response, encode_response_for};
pub use stream::StreamEncoder;
pub use stream_decode::StreamDecoder;
