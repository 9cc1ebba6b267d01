//! Provider wire formats: the JSON and SSE shapes each API speaks, and cheap ways to read and
//! rewrite them. Pure code, no I/O.
//!
//! When the client's format and the upstream's are the same (OpenAI ⇄ OpenAI), the gateway does
//! not build a tree of the request: [`openai::RequestFields`] reads the top-level fields as raw
//! JSON slices, lets the gateway rewrite `model` and `stream_options`, and writes the rest back
//! byte for byte.

pub mod anthropic;
pub mod fields;
pub mod gemini;
pub mod neutral;
pub mod openai;
pub mod responses;
pub mod sse;
