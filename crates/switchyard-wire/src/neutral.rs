//! The hub of translation: one provider-neutral form of a chat request, a response, a stream
//! event and an error. Each wire format converts to and from it (2N conversions, not N×M).
//!
//! Conventions every converter keeps:
//! - **Turns alternate.** `messages` holds only `User` and `Assistant` turns; a decoder merges
//!   consecutive same-role messages with [`push_part`]. Tool results are parts of a user turn
//!   (Anthropic's model), and system prompts are hoisted into [`ChatRequest::system`].
//! - **Usage** is [`Usage`], OpenAI's convention: prompt tokens include cached tokens, output
//!   tokens include reasoning tokens.
//! - **Tool-call arguments** are JSON text, as OpenAI sends them; `""` means `{}`.
//! - **Signatures** (Anthropic thinking, Gemini thought signatures) carry their vendor, and an
//!   encoder only ever sends a signature back to the vendor that issued it.
//!
//! Request decoders validate and name the offending field in a [`RequestError`]; response and
//! stream decoders read upstream bytes and never panic on anything they receive.

use crate::openai::RequestError;
use crate::sse;
use bytes::BytesMut;
use serde_json::Value;
use switchyard_core::Usage;

/// A chat request, whatever dialect it arrived in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The model as the client named it; the gateway replaces it with the upstream's name.
    pub model: String,
    /// System and developer prompts, in order of appearance.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    /// Output tokens allowed, reasoning included. `None`: the client gave no limit.
    pub max_tokens: Option<u64>,
    /// OpenAI's range 0–2; an Anthropic encoder clamps it to 1.
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `false` forbids several tool calls in one turn. `None`: the provider's default.
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    /// An end-user identifier for the provider's abuse tracking.
    pub user: Option<String>,
    pub seed: Option<i64>,
    /// Choices to generate; only OpenAI and Gemini can give more than one.
    pub n: Option<u64>,
    pub reasoning: Option<Reasoning>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// One piece of a message's content.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    /// A call the assistant made (assistant turns only).
    ToolCall(ToolCall),
    /// The answer to a call (user turns only).
    ToolResult(ToolResult),
    /// Reasoning the model showed (assistant turns only).
    Thinking(Thinking),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// An `https:` URL.
    Url(String),
    /// Inline bytes, base64-encoded, without a `data:` prefix.
    Base64 { media_type: String, data: String },
}

impl Image {
    /// Reads an OpenAI-style image URL, which may be a `data:<type>;base64,<data>` URL.
    pub fn from_url(url: &str) -> Image {
        if let Some(rest) = url.strip_prefix("data:")
            && let Some((meta, data)) = rest.split_once(',')
            && let Some(media_type) = meta.strip_suffix(";base64")
        {
            return Image::Base64 {
                media_type: media_type.to_owned(),
                data: data.to_owned(),
            };
        }
        Image::Url(url.to_owned())
    }

    /// The image as an OpenAI-style URL (a `data:` URL for inline bytes).
    pub fn to_url(&self) -> String {
        match self {
            Image::Url(url) => url.clone(),
            Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text of the arguments object.
    pub arguments: String,
    /// Gemini's `thoughtSignature` on the call part, which must be replayed with it.
    pub signature: Option<Signature>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResult {
    /// The id of the call this answers.
    pub id: String,
    /// The function's name, when the dialect says it (Gemini needs it; see [`tool_names`]).
    pub name: Option<String>,
    /// The result as text (JSON text if the tool returned an object).
    pub content: String,
    pub is_error: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thinking {
    pub text: String,
    pub signature: Option<Signature>,
}

/// Who issued a signature. Signatures are opaque and only their issuer accepts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Anthropic,
    Gemini,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub vendor: Vendor,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
    pub strict: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Tool(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reasoning {
    /// `minimal`, `low`, `medium` or `high` (OpenAI's words).
    pub effort: Option<String>,
    /// Anthropic's and Gemini's thinking budget in tokens.
    pub budget_tokens: Option<u64>,
}

/// A complete (non-streamed) answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    /// The model that answered, as the upstream named it.
    pub model: String,
    /// Text, thinking and tool calls, in the order the model produced them.
    pub content: Vec<Part>,
    pub finish: FinishReason,
    /// `None` when the upstream reported no usage.
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// The generated text and tool arguments, for counting tokens when usage is missing.
    pub fn generated_text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Thinking(thinking) => out.push_str(&thinking.text),
                Part::ToolCall(call) => {
                    out.push_str(&call.name);
                    out.push_str(&call.arguments);
                }
                Part::Image(_) | Part::ToolResult(_) => {}
            }
        }
        out
    }
}

/// Why generation stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end of the turn.
    #[default]
    Stop,
    /// One of the request's stop sequences matched (which one, if the provider says).
    StopSequence(Option<String>),
    /// The output limit was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// A safety system stopped or blocked the answer.
    ContentFilter,
}

impl FinishReason {
    /// OpenAI's `finish_reason`.
    pub fn openai(&self) -> &'static str {
        match self {
            FinishReason::Stop | FinishReason::StopSequence(_) => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// One event of a streamed answer.
///
/// A well-formed stream is `Start`, then any deltas, then `Finish`, then `Usage` (zero or more
/// times; the last one counts), then `End`. Upstreams that report usage before their finish
/// reason are reordered by the encoders, which hold back their closing frames until `End`.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    TextDelta(String),
    ThinkingDelta(String),
    /// The signature of the thinking text streamed so far.
    ThinkingSignature(Signature),
    /// A tool call begins. `index` counts tool calls only, from 0.
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
        signature: Option<Signature>,
    },
    /// A piece of the arguments JSON of call `index`.
    ToolCallDelta {
        index: u32,
        arguments: String,
    },
    Finish(FinishReason),
    /// Cumulative usage so far.
    Usage(Usage),
    /// The upstream reported an error after the response head.
    Error(ErrorInfo),
    /// The upstream marked the stream complete.
    End,
}

/// An error, as neutral as the dialects allow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<String>,
    /// The provider's own code (`context_length_exceeded`, `API_KEY_INVALID`…).
    pub code: Option<String>,
}

/// What kind of failure an error is, which decides its status and its name in each dialect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RateLimit,
    /// The provider is overloaded (Anthropic 529, HTTP 503).
    Overloaded,
    Timeout,
    #[default]
    Server,
}

impl ErrorKind {
    /// The kind an HTTP status suggests, for bodies that say nothing better.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            400..=499 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Server,
        }
    }
}

/// Turns one upstream's stream (SSE events) into neutral events.
pub trait StreamDecoder: Send {
    /// Reads one SSE event and appends what it means to `out`.
    fn event(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>);
    /// The upstream's body ended. Formats without an end marker (Gemini) emit `End` here if
    /// the answer had finished; a stream cut short emits nothing.
    fn eof(&mut self, out: &mut Vec<StreamEvent>);
}

/// Turns neutral events into one client dialect's stream bytes.
pub trait StreamEncoder: Send {
    /// Appends the frames for `event` to `out`.
    fn event(&mut self, event: &StreamEvent, out: &mut BytesMut);
    /// Appends an in-band error: the stream's head was sent, so this is the only way left to
    /// say that it failed. The stream ends after it.
    fn error(&mut self, error: &ErrorInfo, out: &mut BytesMut);
}

/// Every neutral event of an SSE body fed, in the pieces it arrived in, through
/// [`sse::Decoder`] and `decoder`, end of stream included (for tests and tools).
pub fn decode_sse<'a>(
    decoder: &mut dyn StreamDecoder,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<StreamEvent> {
    let mut sse = sse::Decoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        sse.push(piece);
        while let Ok(Some(event)) = sse.next_event() {
            decoder.event(&event, &mut out);
        }
    }
    if let Some(event) = sse.finish() {
        decoder.event(&event, &mut out);
    }
    decoder.eof(&mut out);
    out
}

/// Appends `part` to the last message if it has `role`, else starts a new message: how every
/// decoder keeps turns alternating.
pub fn push_part(messages: &mut Vec<Message>, role: Role, part: Part) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.push(part),
        _ => messages.push(Message {
            role,
            content: vec![part],
        }),
    }
}

/// Each tool call's id and function name in `messages`, for dialects whose tool results must
/// name the function (Gemini).
pub fn tool_names(messages: &[Message]) -> std::collections::HashMap<&str, &str> {
    messages
        .iter()
        .flat_map(|m| &m.content)
        .filter_map(|part| match part {
            Part::ToolCall(call) => Some((call.id.as_str(), call.name.as_str())),
            _ => None,
        })
        .collect()
}

/// `id` made acceptable to Anthropic (`^[a-zA-Z0-9_-]+$`), deterministically, so a call and
/// its result still pair up after both are rewritten.
pub fn sanitize_tool_id(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "call_".to_owned()
    } else {
        clean
    }
}

/// Where a Gemini thought signature rides inside a tool-call id handed to a client, so it comes
/// back on the next turn in dialects that have no field for it (see `docs/translation.md`).
const SIGNATURE_MARK: &str = "__thought__";

/// The id a client sees for `call`: its id, with a Gemini signature folded in (base64url, so
/// the result still satisfies Anthropic's id rule).
pub fn client_tool_id(call_id: &str, signature: Option<&Signature>) -> String {
    match signature {
        Some(Signature {
            vendor: Vendor::Gemini,
            value,
        }) => {
            let url_safe: String = value
                .chars()
                .filter(|c| *c != '=')
                .map(|c| match c {
                    '+' => '-',
                    '/' => '_',
                    c => c,
                })
                .collect();
            format!("{call_id}{SIGNATURE_MARK}{url_safe}")
        }
        _ => call_id.to_owned(),
    }
}

/// Splits an id made by [`client_tool_id`] back into the call id and its Gemini signature.
pub fn split_tool_id(id: &str) -> (String, Option<Signature>) {
    let Some((call_id, url_safe)) = id.split_once(SIGNATURE_MARK) else {
        return (id.to_owned(), None);
    };
    let mut value: String = url_safe
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !value.len().is_multiple_of(4) {
        value.push('=');
    }
    (
        call_id.to_owned(),
        Some(Signature {
            vendor: Vendor::Gemini,
            value,
        }),
    )
}

/// Tool-call arguments as a JSON object, for dialects that send objects (Anthropic `input`,
/// Gemini `args`). `""` is `{}`; text that is not a JSON object is wrapped so nothing is lost
/// and nothing panics.
pub fn arguments_object(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => serde_json::json!({ "value": other }),
        Err(_) => serde_json::json!({ "raw_arguments": arguments }),
    }
}

/// A request error naming `param`.
pub fn invalid(param: &str, message: impl Into<String>) -> RequestError {
    RequestError {
        message: message.into(),
        param: Some(param.to_owned()),
        malformed_json: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_split_into_media_type_and_bytes() {
        let image = Image::from_url("data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            image,
            Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }
        );
        assert_eq!(image.to_url(), "data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            Image::from_url("https://x.test/a.png"),
            Image::Url("https://x.test/a.png".into())
        );
    }

    #[test]
    fn consecutive_parts_of_one_role_share_a_turn() {
        let mut messages = Vec::new();
        push_part(&mut messages, Role::User, Part::Text("a".into()));
        push_part(&mut messages, Role::User, Part::Text("b".into()));
        push_part(&mut messages, Role::Assistant, Part::Text("c".into()));
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].content.len(), 2);
    }

    #[test]
    fn ids_are_made_safe_deterministically() {
        assert_eq!(sanitize_tool_id("call:1.a|b"), "call_1_a_b");
        assert_eq!(sanitize_tool_id("toolu_01-A"), "toolu_01-A");
        assert_eq!(sanitize_tool_id(""), "call_");
    }

    #[test]
    fn arguments_never_panic() {
        assert_eq!(arguments_object(""), serde_json::json!({}));
        assert_eq!(arguments_object("{\"a\":1}"), serde_json::json!({"a":1}));
        assert_eq!(arguments_object("[1]"), serde_json::json!({"value":[1]}));
        assert_eq!(
            arguments_object("{\"a\":"),
            serde_json::json!({"raw_arguments":"{\"a\":"})
        );
    }

    proptest::proptest! {
        /// A Gemini signature folded into an id comes back exactly, and the id stays within
        /// Anthropic's character rule.
        #[test]
        fn signatures_survive_the_id(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64),
            n in 0u32..1000,
        ) {
            let value = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes);
            let signature = Signature { vendor: Vendor::Gemini, value };
            let call_id = format!("call_{n}");
            let id = client_tool_id(&call_id, Some(&signature));
            proptest::prop_assert_eq!(sanitize_tool_id(&id), id.clone());
            let (back, sig) = split_tool_id(&id);
            proptest::prop_assert_eq!(back, call_id);
            proptest::prop_assert_eq!(sig, Some(signature));
        }
    }
}
