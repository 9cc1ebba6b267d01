//! `POST /v1/chat/completions`: validate the request the way OpenAI does, decide the answer, and
//! hand it to the JSON (`completion`) or streaming (`sse`) renderer.

use serde_json::{Map, Value};

use super::body::Response;
use super::error::ApiError;
use super::faults::Fault;
use super::route::Ctx;
use super::{completion, sse};

/// Completion tokens billed for a tool call, whatever its arguments.
const TOOL_CALL_TOKENS: u64 = 8;
/// Reasoning tokens reported by models named `reasoning-*`, inside `completion_tokens` as
/// OpenAI counts them. Every other model reports none.
pub const REASONING_TOKENS: u64 = 1_000;
/// The arguments of every mock tool call, and the pieces they stream in.
const TOOL_ARGUMENT_PIECES: [&str; 2] = ["{\"city\":", "\"Oslo\"}"];
const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// The part of a chat request the answer depends on.
#[derive(Debug)]
pub(crate) struct Ask {
    pub(crate) model: String,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    /// `max_completion_tokens`, else `max_tokens`.
    limit: Option<u64>,
    prompt_tokens: u64,
    /// The first tool's name, when the last message is a user message asking about weather.
    tool: Option<String>,
    /// Words of the last user message.
    last_user_words: Vec<String>,
}

/// The mock's answer to one request, before it is rendered.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The text, in the pieces it streams in (one word each, spaces leading).
    pub(crate) pieces: Vec<String>,
    pub(crate) tool_call: Option<ToolCall>,
    pub(crate) finish_reason: &'static str,
    pub(crate) usage: Usage,
}

#[derive(Debug)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) argument_pieces: &'static [&'static str],
}

impl ToolCall {
    pub(crate) fn arguments(&self) -> String {
        self.argument_pieces.concat()
    }
}

/// OpenAI's usage object, with the detail blocks clients expect.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) total_tokens: u64,
    pub(crate) prompt_tokens_details: PromptDetails,
    pub(crate) completion_tokens_details: CompletionDetails,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct PromptDetails {
    pub(crate) cached_tokens: u64,
    pub(crate) audio_tokens: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct CompletionDetails {
    pub(crate) reasoning_tokens: u64,
    pub(crate) audio_tokens: u64,
    pub(crate) accepted_prediction_tokens: u64,
    pub(crate) rejected_prediction_tokens: u64,
}

impl Usage {
    fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: 0,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

pub(crate) async fn handle(ctx: &Ctx<'_>, body: Option<&Value>) -> Response {
    let ask = match body.ok_or_else(ApiError::not_json).and_then(parse) {
        Ok(ask) => ask,
        Err(error) => return error.into_response(),
    };
    let fault = Fault::from_model(&ask.model);
    if let Some(response) = Fault::before_head(fault).await {
        return response;
    }
    let answer = answer(&ask, ctx.seq);
    let id = format!("chatcmpl-mock-{}", ctx.seq);
    if ask.stream {
        sse::respond(ctx, &id, &ask, &answer, fault)
    } else {
        completion::respond(&id, &ask.model, &answer, fault)
    }
}

fn parse(body: &Value) -> Result<Ask, ApiError> {
    let body = body.as_object().ok_or_else(ApiError::not_json)?;
    let model = match body.get("model") {
        Some(Value::String(model)) => model.clone(),
        Some(_) => return Err(ApiError::wrong_type("model", "a string")),
        None => {
            return Err(ApiError::invalid(
                "you must provide a model parameter",
                Some("model"),
                None,
            ));
        }
    };
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(ApiError::invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but \
                 got an empty array instead.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(ApiError::wrong_type("messages", "an array")),
        None => return Err(ApiError::missing("messages")),
    };
    let roles = messages
        .iter()
        .enumerate()
        .map(|(at, message)| role(at, message))
        .collect::<Result<Vec<_>, _>>()?;

    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(ApiError::wrong_type("stream", "a boolean")),
    };
    let include_usage = stream_options(body, stream)?;
    let limit = match body.get("max_completion_tokens") {
        None | Some(Value::Null) => positive(body, "max_tokens")?,
        Some(_) => positive(body, "max_completion_tokens")?,
    };
    let tool = first_tool(body)?;

    let prompt_tokens = messages
        .iter()
        .map(|message| words(&text(message)).len() as u64)
        .sum();
    let last_user_words = messages
        .iter()
        .zip(&roles)
        .rev()
        .find(|(_, role)| **role == "user")
        .map(|(message, _)| words(&text(message)))
        .unwrap_or_default();
    let last_is_user = roles.last().is_some_and(|role| *role == "user");
    let asks_weather = last_is_user
        && messages
            .last()
            .is_some_and(|message| text(message).to_lowercase().contains("weather"));

    Ok(Ask {
        model,
        stream,
        include_usage,
        limit,
        prompt_tokens,
        tool: tool.filter(|_| asks_weather),
        last_user_words,
    })
}

fn role(at: usize, message: &Value) -> Result<&str, ApiError> {
    let param = format!("messages[{at}].role");
    match message.get("role") {
        Some(Value::String(role)) if ROLES.contains(&role.as_str()) => Ok(role),
        Some(Value::String(role)) => Err(ApiError::invalid(
            format!(
                "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', \
                 'function', 'tool', and 'developer'."
            ),
            Some(&param),
            Some("invalid_value"),
        )),
        Some(_) => Err(ApiError::wrong_type(&param, "a string")),
        None => Err(ApiError::missing(&param)),
    }
}

/// Whether the usage chunk is asked for; `stream_options` without `stream:true` is an error.
fn stream_options(body: &Map<String, Value>, stream: bool) -> Result<bool, ApiError> {
    match body.get("stream_options") {
        None | Some(Value::Null) => Ok(false),
        Some(_) if !stream => Err(ApiError::invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
            Some("invalid_value"),
        )),
        Some(Value::Object(options)) => match options.get("include_usage") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(include)) => Ok(*include),
            Some(_) => Err(ApiError::wrong_type(
                "stream_options.include_usage",
                "a boolean",
            )),
        },
        Some(_) => Err(ApiError::wrong_type("stream_options", "an object")),
    }
}

fn positive(body: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64() {
            Some(n) if n >= 1 => Ok(Some(n.unsigned_abs())),
            Some(n) => Err(ApiError::invalid(
                format!(
                    "Invalid '{field}': integer below minimum value. Expected a value >= 1, but \
                     got {n} instead."
                ),
                Some(field),
                Some("integer_below_min_value"),
            )),
            None => Err(ApiError::wrong_type(field, "an integer")),
        },
    }
}

/// The name of the first tool, unless `tool_choice` is `"none"`.
fn first_tool(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(tools)) => tools,
        Some(_) => return Err(ApiError::wrong_type("tools", "an array")),
    };
    let mut names = Vec::with_capacity(tools.len());
    for (at, tool) in tools.iter().enumerate() {
        match tool.pointer("/function/name") {
            Some(Value::String(name)) => names.push(name.clone()),
            _ => return Err(ApiError::missing(&format!("tools[{at}].function.name"))),
        }
    }
    if body.get("tool_choice").and_then(Value::as_str) == Some("none") {
        return Ok(None);
    }
    Ok(names.into_iter().next())
}

/// The text of a message: its string content, or its text parts joined by spaces.
fn text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn answer(ask: &Ask, seq: u64) -> Answer {
    if let Some(name) = &ask.tool {
        return Answer {
            pieces: Vec::new(),
            tool_call: Some(ToolCall {
                id: format!("call_mock_{seq}"),
                name: name.clone(),
                argument_pieces: &TOOL_ARGUMENT_PIECES,
            }),
            finish_reason: "tool_calls",
            usage: Usage::new(ask.prompt_tokens, TOOL_CALL_TOKENS),
        };
    }
    let topic: Vec<&str> = ask
        .last_user_words
        .iter()
        .take(5)
        .map(String::as_str)
        .collect();
    let topic = if topic.is_empty() {
        "nothing".to_owned()
    } else {
        topic.join(" ")
    };
    let text = format!("Mock answer to: {topic}");
    let mut pieces: Vec<String> = text
        .split(' ')
        .enumerate()
        .map(|(at, word)| {
            if at == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect();
    let mut finish_reason = "stop";
    if let Some(limit) = ask.limit.and_then(|limit| usize::try_from(limit).ok())
        && limit < pieces.len()
    {
        pieces.truncate(limit);
        finish_reason = "length";
    }
    let completion_tokens = pieces.len() as u64;
    let mut usage = Usage::new(ask.prompt_tokens, completion_tokens);
    if ask.model.starts_with("reasoning-") {
        usage.completion_tokens += REASONING_TOKENS;
        usage.total_tokens += REASONING_TOKENS;
        usage.completion_tokens_details.reasoning_tokens = REASONING_TOKENS;
    }
    Answer {
        pieces,
        tool_call: None,
        finish_reason,
        usage,
    }
}
