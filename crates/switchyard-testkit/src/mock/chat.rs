//! `POST /v1/chat/completions`: validate the request the way OpenAI does, decide the answer, and
//! hand it to the JSON (`completion`) or streaming (`sse`) renderer.

use serde_json::{Map, Value};

use super::answer::{self, Ask, Finish, Role, Tokens, Turn};
use super::body::Response;
use super::error::{self, ApiError};
use super::faults::Plan;
use super::route::Ctx;
use super::{completion, sse};

const ROLES: [&str; 6] = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// A chat request: the neutral ask plus what only OpenAI's shape decides.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) ask: Ask,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
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
    /// OpenAI's convention: cached tokens inside `prompt_tokens`, reasoning inside
    /// `completion_tokens`.
    pub(crate) fn of(tokens: &Tokens) -> Self {
        let prompt_tokens = tokens.input + tokens.cached;
        let completion_tokens = tokens.output + tokens.reasoning;
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: tokens.cached,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: tokens.reasoning,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

/// The finish reason OpenAI gives for how an answer ended; a stop sequence is a plain `stop`.
pub(crate) fn finish_reason(finish: &Finish) -> &'static str {
    match finish {
        Finish::Complete | Finish::StopSequence(_) => "stop",
        Finish::Length => "length",
        Finish::ToolCall => "tool_calls",
    }
}

/// The id of tool call `at` (counting from 0) in answer `seq`: `call_mock_N` for the first, so
/// single calls keep the id they always had, then `call_mock_N_2`, `call_mock_N_3`, ….
pub(crate) fn tool_call_id(seq: u64, at: usize) -> String {
    match at {
        0 => format!("call_mock_{seq}"),
        _ => format!("call_mock_{seq}_{}", at + 1),
    }
}

pub(crate) async fn handle(ctx: &Ctx<'_>, body: Option<&Value>) -> Response {
    let request = match body.ok_or_else(ApiError::not_json).and_then(parse) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let plan = Plan::of(&request.ask.model);
    if let Some(failure) = plan.before_head(ctx.turn).await {
        return error::failure(failure);
    }
    let fault = plan.fault;
    let answer = answer::decide(&request.ask);
    let id = format!("chatcmpl-mock-{}", ctx.seq);
    if request.stream {
        sse::respond(ctx, &id, &request, &answer, fault)
    } else {
        completion::respond(ctx, &id, &request.ask.model, &answer, fault)
    }
}

fn parse(body: &Value) -> Result<Request, ApiError> {
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
    pair_tool_calls(messages, &roles)?;

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
    let tools = offered_tools(body)?;
    let parallel = match body.get("parallel_tool_calls") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(parallel)) => *parallel,
        Some(_) => return Err(ApiError::wrong_type("parallel_tool_calls", "a boolean")),
    };

    let turns = messages
        .iter()
        .zip(&roles)
        .map(|(message, role)| Turn {
            role: match *role {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" | "function" => Role::Tool,
                _ => Role::System,
            },
            text: text(message),
        })
        .collect();

    Ok(Request {
        ask: Ask {
            model,
            turns,
            tools,
            parallel,
            limit,
            stop: Vec::new(),
        },
        stream,
        include_usage,
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

/// The names of the offered tools, or none when `tool_choice` is `"none"`.
fn offered_tools(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let tools = match body.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
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
        return Ok(Vec::new());
    }
    Ok(names)
}

/// OpenAI's tool ordering: every id in an assistant message's `tool_calls` must be answered by a
/// `tool` message with that `tool_call_id` before the next message of any other role, and every
/// `tool` message must answer a call of the assistant message before that run of tool messages.
fn pair_tool_calls(messages: &[Value], roles: &[&str]) -> Result<(), ApiError> {
    // The index of the last assistant message with calls, its ids, and those answered so far.
    let mut open: Option<(usize, Vec<String>)> = None;
    let mut answered: Vec<String> = Vec::new();
    for (at, (message, role)) in messages.iter().zip(roles).enumerate() {
        if *role == "tool" {
            let id = match message.get("tool_call_id") {
                Some(Value::String(id)) => id,
                Some(_) => {
                    return Err(ApiError::wrong_type(
                        &format!("messages[{at}].tool_call_id"),
                        "a string",
                    ));
                }
                None => return Err(ApiError::missing(&format!("messages[{at}].tool_call_id"))),
            };
            let Some((_, ids)) = &open else {
                return Err(ApiError::invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a                      preceeding message with 'tool_calls'.",
                    Some(&format!("messages.[{at}].role")),
                    None,
                ));
            };
            if !ids.contains(id) {
                return Err(ApiError::invalid(
                    format!(
                        "Invalid parameter: 'tool_call_id' of '{id}' not found in 'tool_calls'                          of previous message."
                    ),
                    Some(&format!("messages.[{at}].tool_call_id")),
                    None,
                ));
            }
            answered.push(id.clone());
            continue;
        }
        unanswered(open.take(), &answered)?;
        answered.clear();
        if *role == "assistant" {
            let ids = call_ids(at, message)?;
            if !ids.is_empty() {
                open = Some((at, ids));
            }
        }
    }
    unanswered(open, &answered)
}

/// The error for the calls of `open` that no tool message in `answered` responded to.
fn unanswered(open: Option<(usize, Vec<String>)>, answered: &[String]) -> Result<(), ApiError> {
    let Some((at, ids)) = open else {
        return Ok(());
    };
    let missing: Vec<String> = ids
        .into_iter()
        .filter(|id| !answered.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding              to each 'tool_call_id'. The following tool_call_ids did not have response messages:              {}",
            missing.join(", ")
        ),
        Some(&format!("messages.[{at}].role")),
        None,
    ))
}

/// The ids of an assistant message's `tool_calls`, each required to be a string.
fn call_ids(at: usize, message: &Value) -> Result<Vec<String>, ApiError> {
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(_) => {
            return Err(ApiError::wrong_type(
                &format!("messages[{at}].tool_calls"),
                "an array",
            ));
        }
    };
    calls
        .iter()
        .enumerate()
        .map(|(index, call)| {
            let param = format!("messages[{at}].tool_calls[{index}].id");
            match call.get("id") {
                Some(Value::String(id)) => Ok(id.clone()),
                Some(_) => Err(ApiError::wrong_type(&param, "a string")),
                None => Err(ApiError::missing(&param)),
            }
        })
        .collect()
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
