//! The conformance suite: every case below runs for every pairing of a client dialect (OpenAI
//! chat, Anthropic Messages, OpenAI Responses) with an upstream kind (`openai`, `anthropic`,
//! `gemini`), 3 × 3, against the test kit's mock upstream speaking that kind's format.
//!
//! Tool-calling cases live in `tools.rs`, the money endings (M3) in `m3.rs`.
//!
//! Each case asserts twice: on what the client got (read back into one dialect-free
//! [`Outcome`]) and on what the upstream received in its own format.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

#[path = "../common/mod.rs"]
mod common;
mod dialect;
mod m3;
mod tools;

use m3::m3;
use tools::{parallel_tools, tool_call, tool_round_trip};

use dialect::{Ask, Client, Finish, Outcome, Turn};
use serde_json::Value;
use switchyard_core::usage::UsageSource;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;
use switchyard_testkit::mock::Recorded;

/// An upstream kind, as the test app configures it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Kind {
    fn model(self) -> &'static str {
        match self {
            Kind::OpenAi => "mock-chat",
            Kind::Anthropic => "claude-chat",
            Kind::Gemini => "gemini-chat",
        }
    }

    /// A model that insists on its own signatures being replayed (Gemini 3).
    fn strict_model(self) -> &'static str {
        match self {
            Kind::Gemini => "gemini-3-chat",
            other => other.model(),
        }
    }

    /// Models whose upstream reports cached and reasoning tokens, in its own convention.
    fn cache_model(self) -> &'static str {
        match self {
            Kind::OpenAi => "mock-cache",
            Kind::Anthropic => "claude-cache",
            Kind::Gemini => "gemini-cache",
        }
    }

    fn reasoning_model(self) -> &'static str {
        match self {
            Kind::OpenAi => "mock-reasoning",
            Kind::Anthropic => "claude-reasoning",
            Kind::Gemini => "gemini-reasoning",
        }
    }

    fn fault(self, fault: &str) -> String {
        match self {
            Kind::OpenAi => fault.to_owned(),
            Kind::Anthropic => format!("claude-{fault}"),
            Kind::Gemini => format!("gemini-{fault}"),
        }
    }

    fn provider(self) -> &'static str {
        match self {
            Kind::OpenAi => "mock",
            Kind::Anthropic => "mock-anthropic",
            Kind::Gemini => "mock-gemini",
        }
    }

    /// Checks the upstream got a request on its own route with its own credentials.
    fn check_route(self, sent: &Recorded, stream: bool) {
        match self {
            Kind::OpenAi => {
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(
                    sent.header("authorization"),
                    Some("Bearer mock-upstream-key")
                );
                assert_eq!(sent.body["model"], "mock-gpt");
            }
            Kind::Anthropic => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.header("x-api-key"), Some("mock-upstream-key"));
                assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
                assert!(
                    sent.body["max_tokens"].as_u64().is_some(),
                    "max_tokens is always sent"
                );
            }
            Kind::Gemini => {
                let method = if stream {
                    "streamGenerateContent"
                } else {
                    "generateContent"
                };
                assert!(
                    sent.path.starts_with("/v1beta/models/gemini-")
                        && sent.path.ends_with(&format!(":{method}")),
                    "{}",
                    sent.path
                );
                if stream {
                    assert_eq!(sent.query.as_deref(), Some("alt=sse"));
                }
                assert_eq!(sent.header("x-goog-api-key"), Some("mock-upstream-key"));
            }
        }
    }

    /// The system prompt as the upstream received it.
    fn system_of(self, body: &Value) -> String {
        match self {
            Kind::OpenAi => body["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Kind::Anthropic => match &body["system"] {
                Value::String(s) => s.clone(),
                blocks => blocks[0]["text"].as_str().unwrap_or_default().to_owned(),
            },
            Kind::Gemini => body["systemInstruction"]["parts"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// Posts `body` in `client`'s dialect; returns status, headers' request id, and the text.
async fn send(
    app: &TestApp,
    client: Client,
    body: &Value,
) -> (u16, String, reqwest::header::HeaderMap, String) {
    let response = app.post(client.path(), &app.admin_key, body).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    (status, id, headers, response.text().await.unwrap())
}

async fn ask(
    app: &TestApp,
    client: Client,
    model: &str,
    turns: &[Turn],
    ask: &Ask,
) -> (Outcome, String) {
    let body = client.request(model, turns, ask);
    let (status, id, _, text) = send(app, client, &body).await;
    assert_eq!(status, 200, "{client:?} → {model}: {text}");
    let outcome = if ask.stream {
        client.stream_outcome(&text)
    } else {
        client.outcome(&serde_json::from_str(&text).unwrap())
    };
    (outcome, id)
}

fn hello() -> Vec<Turn> {
    vec![Turn::User("hello there friend".into())]
}

fn weather() -> Vec<Turn> {
    vec![Turn::User("what is the weather in Oslo".into())]
}

async fn text(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let system = Ask {
        system: Some("be brief".into()),
        ..Ask::default()
    };
    let (outcome, id) = ask(&app, client, kind.model(), &hello(), &system).await;
    assert!(outcome.text.starts_with("Mock answer to"), "{outcome:?}");
    assert!(outcome.text.contains("hello there friend"), "{outcome:?}");
    assert_eq!(outcome.finish, Finish::Stop);
    assert!(outcome.calls.is_empty());
    assert!(
        outcome.prompt_tokens > 0 && outcome.completion_tokens > 0,
        "{outcome:?}"
    );

    let sent = app.mock.last_request().unwrap();
    kind.check_route(&sent, false);
    assert_eq!(kind.system_of(&sent.body), "be brief", "{}", sent.body);

    let row = app.log_row(&id).await;
    assert_eq!(row.status, 200);
    assert_eq!(row.provider.as_deref(), Some(kind.provider()));
    assert_eq!(row.usage_source, UsageSource::Upstream);
    assert_eq!(
        row.prompt_tokens, outcome.prompt_tokens,
        "usage normalised before pricing"
    );
    assert_eq!(row.completion_tokens, outcome.completion_tokens);
    assert!(row.cost.0 > 0);
}

async fn stream(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (whole, _) = ask(&app, client, kind.model(), &hello(), &Ask::default()).await;
    let streamed = Ask {
        stream: true,
        ..Ask::default()
    };
    let (pieces, id) = ask(&app, client, kind.model(), &hello(), &streamed).await;
    assert_eq!(pieces, whole, "a stream says what the whole answer says");
    kind.check_route(&app.mock.last_request().unwrap(), true);
    let row = app.log_row(&id).await;
    assert_eq!(row.status, 200);
    assert_eq!(row.error_code, None, "a complete stream");
    assert!(row.stream && row.ttft_us.is_some());
    assert_eq!(row.usage_source, UsageSource::Upstream);
    assert_eq!(row.prompt_tokens, pieces.prompt_tokens);
    assert_eq!(row.completion_tokens, pieces.completion_tokens);
}

async fn json_mode(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let json_schema = Ask {
        json_schema: true,
        ..Ask::default()
    };
    ask(&app, client, kind.model(), &hello(), &json_schema).await;
    let sent = app.mock.last_request().unwrap().body;
    match kind {
        Kind::OpenAi => {
            assert_eq!(sent["response_format"]["type"], "json_schema", "{sent}");
            assert!(sent["response_format"]["json_schema"]["schema"].is_object());
        }
        Kind::Anthropic => assert_eq!(
            sent["output_config"]["format"]["type"], "json_schema",
            "{sent}"
        ),
        Kind::Gemini => {
            let config = &sent["generationConfig"];
            assert_eq!(config["responseMimeType"], "application/json", "{sent}");
            assert!(
                config["responseSchema"].is_object() || config["responseJsonSchema"].is_object()
            );
        }
    }
}

async fn image(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let turns = [Turn::UserImage(
        "describe this".into(),
        "data:image/png;base64,iVBORw0KGgo=".into(),
    )];
    ask(&app, client, kind.model(), &turns, &Ask::default()).await;
    let sent = app.mock.last_request().unwrap().body;
    match kind {
        Kind::OpenAi => {
            let parts = sent["messages"].as_array().unwrap().last().unwrap()["content"].clone();
            assert_eq!(
                parts[1]["image_url"]["url"], "data:image/png;base64,iVBORw0KGgo=",
                "{sent}"
            );
        }
        Kind::Anthropic => {
            let source = &sent["messages"][0]["content"][1]["source"];
            assert_eq!(source["type"], "base64", "{sent}");
            assert_eq!(source["media_type"], "image/png");
            assert_eq!(source["data"], "iVBORw0KGgo=");
        }
        Kind::Gemini => {
            let inline = &sent["contents"][0]["parts"][1]["inlineData"];
            assert_eq!(inline["mimeType"], "image/png", "{sent}");
            assert_eq!(inline["data"], "iVBORw0KGgo=");
        }
    }
}

async fn length(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for stream in [false, true] {
        let short = Ask {
            max_tokens: Some(2),
            stream,
            ..Ask::default()
        };
        let (outcome, _) = ask(&app, client, kind.model(), &hello(), &short).await;
        assert_eq!(
            outcome.finish,
            Finish::Length,
            "stream {stream}: {outcome:?}"
        );
        assert_eq!(outcome.completion_tokens, 2);
    }
}

async fn errors(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // An overloaded upstream (Anthropic's 529, a 503) is 529 to Anthropic's clients, 503 to
    // OpenAI's: each SDK's own "overloaded, retry later".
    let overloaded = if client == Client::Messages { 529 } else { 503 };
    let overload_fault = if kind == Kind::Anthropic {
        "fault-529"
    } else {
        "fault-503"
    };
    for (fault, status) in [
        ("fault-400", 400),
        ("fault-429", 429),
        ("fault-500", 502),
        (overload_fault, overloaded),
    ] {
        let body = client.request(&kind.fault(fault), &hello(), &Ask::default());
        let (got, id, headers, text) = send(&app, client, &body).await;
        assert_eq!(got, status, "{fault}: {text}");
        let (kind_name, message) = client.error_of(&serde_json::from_str(&text).unwrap());
        assert!(!kind_name.is_empty() && !message.is_empty(), "{text}");
        if status == 429 {
            assert!(
                headers.contains_key("retry-after"),
                "{fault}: retry-after kept"
            );
        }
        if status == overloaded {
            let expected = if client == Client::Messages {
                "overloaded_error"
            } else {
                "api_error"
            };
            assert_eq!(kind_name, expected, "{text}");
        }
        assert_eq!(app.log_row(&id).await.status, status);
    }
}

async fn stream_error(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = client.request(
        &kind.fault("fault-stream-error"),
        &hello(),
        &Ask {
            stream: true,
            ..Ask::default()
        },
    );
    let (status, id, _, text) = send(&app, client, &body).await;
    assert_eq!(status, 200, "the head was sent before the failure");
    assert!(
        client.stream_failed(&text),
        "an in-band error in {client:?}'s shape: {text}"
    );
    let row = app.log_row(&id).await;
    assert_eq!(row.error_code.as_deref(), Some("upstream_error"));
}

/// A stream cut mid-way: the client hears of the failure in its dialect, and the delivered
/// output is charged (never less than what reached the client, even when the upstream had
/// already reported its input tokens, as Anthropic does first).
async fn cut_stream(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let stream = Ask {
        stream: true,
        ..Ask::default()
    };
    let body = client.request(&kind.fault("fault-cut-stream"), &hello(), &stream);
    let (status, id, _, text) = send(&app, client, &body).await;
    assert_eq!(status, 200);
    assert!(
        client.stream_failed(&text),
        "{client:?} hears of the cut: {text}"
    );
    let row = app.log_row(&id).await;
    assert_eq!(row.error_code.as_deref(), Some("upstream_error"));
    assert!(
        row.completion_tokens >= 3,
        "three words were delivered: {row:?}"
    );
    assert!(row.cost.0 > 0, "delivered output is charged");
}

/// Cached and reasoning tokens arrive in each upstream's own convention (Anthropic counts cache
/// reads outside its input tokens, Gemini counts thoughts outside its candidates) and are
/// normalised before pricing: the client and the log agree, whatever the pairing.
async fn usage_conventions(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (plain, _) = ask(&app, client, kind.model(), &hello(), &Ask::default()).await;
    let (cached, id) = ask(&app, client, kind.cache_model(), &hello(), &Ask::default()).await;
    assert_eq!(
        cached.cached_tokens,
        switchyard_testkit::mock::CACHED_TOKENS,
        "{cached:?}"
    );
    assert_eq!(
        cached.prompt_tokens,
        plain.prompt_tokens + switchyard_testkit::mock::CACHED_TOKENS,
        "prompt tokens include cached ones in every dialect"
    );
    let row = app.log_row(&id).await;
    assert_eq!(row.cached_tokens, cached.cached_tokens);
    assert_eq!(row.prompt_tokens, cached.prompt_tokens);

    let (reasoned, id) = ask(
        &app,
        client,
        kind.reasoning_model(),
        &hello(),
        &Ask::default(),
    )
    .await;
    assert_eq!(
        reasoned.text, plain.text,
        "thinking is not mixed into the text"
    );
    assert_eq!(
        reasoned.completion_tokens,
        plain.completion_tokens + switchyard_testkit::mock::REASONING_TOKENS,
        "output tokens include reasoning in every dialect"
    );
    let row = app.log_row(&id).await;
    assert_eq!(row.completion_tokens, reasoned.completion_tokens);
    // Anthropic reports thinking only inside output_tokens, so only the others split it out.
    if kind != Kind::Anthropic {
        assert_eq!(
            row.reasoning_tokens,
            switchyard_testkit::mock::REASONING_TOKENS
        );
    }
}

/// Sampling parameters reach each upstream in its own words and ranges.
async fn parameters(client: Client, kind: Kind) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let asked = Ask {
        temperature: Some(0.9),
        stop: if client == Client::Responses {
            vec![]
        } else {
            vec!["END".into()]
        },
        max_tokens: Some(50),
        ..Ask::default()
    };
    ask(&app, client, kind.model(), &hello(), &asked).await;
    let sent = app.mock.last_request().unwrap().body;
    let (temperature, stop, max) = match kind {
        Kind::OpenAi => (&sent["temperature"], &sent["stop"], &sent["max_tokens"]),
        Kind::Anthropic => (
            &sent["temperature"],
            &sent["stop_sequences"],
            &sent["max_tokens"],
        ),
        Kind::Gemini => {
            let config = &sent["generationConfig"];
            (
                &config["temperature"],
                &config["stopSequences"],
                &config["maxOutputTokens"],
            )
        }
    };
    assert_eq!(temperature.as_f64(), Some(0.9), "{sent}");
    assert_eq!(max, 50, "{sent}");
    if client != Client::Responses {
        let stop: Vec<&str> = match stop {
            Value::String(s) => vec![s.as_str()],
            other => other
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect(),
        };
        assert_eq!(stop, ["END"], "{sent}");
    }
    if kind == Kind::Anthropic && client != Client::Messages {
        // OpenAI's range is 0–2, Anthropic's 0–1.
        let hot = Ask {
            temperature: Some(1.7),
            ..Ask::default()
        };
        ask(&app, client, kind.model(), &hello(), &hot).await;
        assert_eq!(app.mock.last_request().unwrap().body["temperature"], 1.0);
    }
}

/// The client goes away after the first piece of a stream: the request is logged as
/// `client_closed`, charged for what was relayed, and its hold is resolved (the balance
/// budget is whole again once every request has settled).
async fn client_gone(client: Client, kind: Kind) {
    use futures_util::StreamExt;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = client.request(
        &kind.fault("fault-slow-stream"),
        &hello(),
        &Ask {
            stream: true,
            ..Ask::default()
        },
    );
    let response = app.post(client.path(), &app.admin_key, &body).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut pieces = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("Mock") {
        let piece = pieces.next().await.expect("the stream goes on").unwrap();
        seen.push_str(&String::from_utf8_lossy(&piece));
    }
    drop(pieces);
    let row = app.log_row(&id).await;
    assert_eq!(row.error_code.as_deref(), Some("client_closed"), "{row:?}");
    assert!(
        row.completion_tokens > 0 && row.cost.0 > 0,
        "delivered output is charged: {row:?}"
    );
    app.gateway().flushed().await;
    assert!(
        app.store
            .open_holds(None, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "the hold was resolved"
    );
}

/// One module per pairing, one test per case.
macro_rules! pairs {
    ($($module:ident: $client:expr, $kind:expr;)*) => {$(
        mod $module {
            use super::*;
            cases!($client, $kind; text, stream, tool_call, tool_round_trip, parallel_tools, json_mode, image, length, errors, stream_error, cut_stream, usage_conventions, parameters, client_gone, m3);
        }
    )*};
}

macro_rules! cases {
    ($client:expr, $kind:expr; $($case:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            super::$case($client, $kind).await
        }
    )*};
}

/// Gemini blocks a prompt with HTTP 200 and no candidates: every dialect hears a content
/// filter, not an empty success or a crash.
async fn blocked_by_gemini(client: Client) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for stream in [false, true] {
        let (outcome, _) = ask(
            &app,
            client,
            &Kind::Gemini.fault("fault-blocked"),
            &hello(),
            &Ask {
                stream,
                ..Ask::default()
            },
        )
        .await;
        assert_eq!(
            outcome.finish,
            Finish::ContentFilter,
            "stream {stream}: {outcome:?}"
        );
        assert!(outcome.text.is_empty());
    }
}

/// Anthropic beta features (used by coding agents) need the client's `anthropic-beta` header
/// to reach an Anthropic upstream; other upstreams never see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_beta_reaches_anthropic_upstreams_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for (model, expected) in [
        ("claude-chat", Some("beta-feature-2025-01-01")),
        ("mock-chat", None),
    ] {
        let body = Client::Messages.request(model, &hello(), &Ask::default());
        let response = app
            .client
            .post(app.url("/v1/messages"))
            .header("x-api-key", &app.admin_key)
            .header("anthropic-version", "2023-06-01")
            .header("anthropic-beta", "beta-feature-2025-01-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{model}");
        let sent = app.mock.last_request().unwrap();
        assert_eq!(sent.header("anthropic-beta"), expected, "{model}");
    }
}

mod blocked {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chat() {
        blocked_by_gemini(Client::Chat).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages() {
        blocked_by_gemini(Client::Messages).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn responses() {
        blocked_by_gemini(Client::Responses).await
    }
}

pairs! {
    chat_openai: Client::Chat, Kind::OpenAi;
    chat_anthropic: Client::Chat, Kind::Anthropic;
    chat_gemini: Client::Chat, Kind::Gemini;
    messages_openai: Client::Messages, Kind::OpenAi;
    messages_anthropic: Client::Messages, Kind::Anthropic;
    messages_gemini: Client::Messages, Kind::Gemini;
    responses_openai: Client::Responses, Kind::OpenAi;
    responses_anthropic: Client::Responses, Kind::Anthropic;
    responses_gemini: Client::Responses, Kind::Gemini;
}
