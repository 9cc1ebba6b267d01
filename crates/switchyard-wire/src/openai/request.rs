//! Reading and rewriting an inbound request without building a JSON tree: the fields every
//! endpoint's pipeline needs (model, stream, output limit), whatever the dialect.

use crate::fields::{RawFields, json_string};

/// An inference endpoint a client calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// OpenAI `POST /v1/responses`.
    Responses,
}

impl Endpoint {
    /// The path below `/v1`.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Messages => "/messages",
            Endpoint::Responses => "/responses",
        }
    }

    /// The name used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat.completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::Responses => "responses",
        }
    }

    /// Whether the endpoint generates text (as opposed to embeddings).
    pub fn is_chat(self) -> bool {
        self != Endpoint::Embeddings
    }
}

/// What is wrong with a request, with the offending field for OpenAI's `param`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub message: String,
    pub param: Option<String>,
    /// True when the body is not JSON at all (as opposed to a bad field).
    pub malformed_json: bool,
}

/// The fields of an inbound request that the gateway needs, plus the means to rewrite it.
#[derive(Debug)]
pub struct RequestPeek<'a> {
    fields: RawFields<'a>,
    pub endpoint: Endpoint,
    pub model: String,
    pub stream: bool,
    /// Whether the client itself asked for the usage chunk of a stream.
    pub client_wants_usage: bool,
    /// The output limit, if given: `max_completion_tokens` else `max_tokens` (chat),
    /// `max_tokens` (messages), `max_output_tokens` (responses).
    pub max_tokens: Option<u64>,
    /// `n`: how many choices to generate (1 when absent).
    pub choices: u64,
    /// The Switchyard routing preferences (`provider`), raw; never sent upstream.
    pub provider: Option<&'a serde_json::value::RawValue>,
    /// Fallback models to try after `model` (`models`); never sent upstream.
    pub models: Vec<String>,
}

/// Request fields that steer Switchyard's routing and are removed before a body goes upstream.
pub const ROUTING_FIELDS: [&str; 2] = ["provider", "models"];

#[derive(serde::Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

impl<'a> RequestPeek<'a> {
    /// Reads the fields the gateway needs and checks the required ones are there with the
    /// right types. Errors name the field and what was expected.
    pub fn parse(endpoint: Endpoint, body: &'a [u8]) -> Result<Self, RequestError> {
        let fields = RawFields::parse(body).map_err(|e| RequestError {
            message: e.message,
            param: None,
            malformed_json: true,
        })?;
        let bad = |e: crate::fields::FieldError| RequestError {
            message: e.message,
            param: Some(e.field),
            malformed_json: false,
        };
        let missing = |name: &str, what: &str| RequestError {
            message: format!("you must provide `{name}` ({what})"),
            param: Some(name.to_owned()),
            malformed_json: false,
        };
        let model: String = fields
            .typed("model", "a string naming a model")
            .map_err(bad)?
            .ok_or_else(|| missing("model", "a string naming a model"))?;
        match endpoint {
            Endpoint::ChatCompletions | Endpoint::Messages => {
                let raw = fields
                    .get("messages")
                    .ok_or_else(|| missing("messages", "an array of messages"))?;
                let text = raw.get();
                if !text.starts_with('[') {
                    return Err(RequestError {
                        message: "`messages` must be an array of messages".into(),
                        param: Some("messages".into()),
                        malformed_json: false,
                    });
                }
                if text[1..].trim_start().starts_with(']') {
                    return Err(RequestError {
                        message: "`messages` must contain at least one message".into(),
                        param: Some("messages".into()),
                        malformed_json: false,
                    });
                }
            }
            Endpoint::Embeddings => {
                if !fields.has("input") {
                    return Err(missing(
                        "input",
                        "a string or an array of strings or token arrays",
                    ));
                }
            }
            Endpoint::Responses => {
                if !fields.has("input") {
                    return Err(missing("input", "a string or an array of input items"));
                }
            }
        }
        let stream = fields
            .typed::<bool>("stream", "a boolean")
            .map_err(bad)?
            .unwrap_or(false);
        let client_wants_usage = fields
            .typed::<StreamOptions>("stream_options", "an object like {\"include_usage\": true}")
            .map_err(bad)?
            .is_some_and(|o| o.include_usage);
        let limit = |name: &str| {
            fields
                .typed::<u64>(name, "a non-negative integer")
                .map_err(bad)
        };
        let max_tokens = match endpoint {
            Endpoint::ChatCompletions | Endpoint::Embeddings => {
                match limit("max_completion_tokens")? {
                    Some(n) => Some(n),
                    None => limit("max_tokens")?,
                }
            }
            Endpoint::Messages => Some(limit("max_tokens")?.ok_or_else(|| {
                missing(
                    "max_tokens",
                    "the most output tokens to generate, an integer",
                )
            })?),
            Endpoint::Responses => limit("max_output_tokens")?,
        };
        let choices = fields
            .typed::<u64>("n", "a positive integer")
            .map_err(bad)?
            .unwrap_or(1)
            .max(1);
        let provider = fields.get("provider").filter(|raw| raw.get() != "null");
        let models = fields
            .typed::<Vec<String>>("models", "an array of model names")
            .map_err(bad)?
            .unwrap_or_default();
        Ok(RequestPeek {
            fields,
            endpoint,
            model,
            stream,
            client_wants_usage,
            max_tokens,
            choices,
            provider,
            models,
        })
    }

    /// The body to send upstream in the same dialect: `model` renamed, and for chat streams
    /// `stream_options.include_usage` forced on so the upstream reports usage we can bill
    /// (Anthropic streams always report it). The routing fields ([`ROUTING_FIELDS`]) are left
    /// out; every other field is kept verbatim.
    pub fn upstream_body(&self, upstream_model: &str) -> Vec<u8> {
        let model = json_string(upstream_model);
        if self.stream && self.endpoint == Endpoint::ChatCompletions {
            self.fields.write_edited(
                &[
                    ("model", &model),
                    ("stream_options", r#"{"include_usage":true}"#),
                ],
                &ROUTING_FIELDS,
            )
        } else {
            self.fields
                .write_edited(&[("model", &model)], &ROUTING_FIELDS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<RequestPeek<'_>, RequestError> {
        RequestPeek::parse(Endpoint::ChatCompletions, body.as_bytes())
    }

    #[test]
    fn reads_what_the_gateway_needs() {
        let p = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"max_tokens":9}"#).unwrap();
        assert_eq!(p.model, "m");
        assert!(p.stream);
        assert!(!p.client_wants_usage);
        assert_eq!(p.max_tokens, Some(9));
        let body = String::from_utf8(p.upstream_body("gpt-up")).unwrap();
        assert_eq!(
            body,
            r#"{"model":"gpt-up","messages":[{"role":"user","content":"x"}],"stream":true,"max_tokens":9,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn keeps_the_clients_own_stream_options_choice_visible() {
        let p = parse(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}"#).unwrap();
        assert!(p.client_wants_usage);
    }

    #[test]
    fn non_stream_body_only_renames_the_model() {
        let p =
            parse(r#"{"messages":[{"role":"user","content":"x"}],"model":"m","seed":1}"#).unwrap();
        assert_eq!(
            String::from_utf8(p.upstream_body("u")).unwrap(),
            r#"{"messages":[{"role":"user","content":"x"}],"model":"u","seed":1}"#
        );
    }

    #[test]
    fn routing_fields_are_read_and_never_sent_upstream() {
        let p = parse(
            r#"{"model":"m","provider":{"order":["a"]},"models":["x","y"],"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap();
        assert_eq!(p.provider.unwrap().get(), r#"{"order":["a"]}"#);
        assert_eq!(p.models, ["x", "y"]);
        assert_eq!(
            String::from_utf8(p.upstream_body("u")).unwrap(),
            r#"{"model":"u","messages":[{"role":"user","content":"hi"}]}"#
        );
        assert!(parse(r#"{"model":"m","models":"x","messages":[{}]}"#).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(r#"{"messages":[]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = parse(r#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages"));
        let e = parse(r#"{"model":"m","messages":[]}"#).unwrap_err();
        assert!(e.message.contains("at least one"));
        let e = parse(r#"{"model":"m","messages":"hi"}"#).unwrap_err();
        assert!(e.message.contains("array"));
        let e = parse(r#"{"model":3,"messages":[{}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = parse(r#"{"model":"m","messages":[{}],"stream":"yes"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("stream"));
        let e = parse(r#"{"model":"m","#).unwrap_err();
        assert!(e.malformed_json);
        let e = RequestPeek::parse(Endpoint::Embeddings, br#"{"model":"e"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input"));
    }
}
