//! The mock's fault modes for routing tests, in every dialect: `fault-flaky-503` (about half
//! fail, in a reproducible order), `latency-<N>-<model>` (a delay, then the rest of the name's
//! answer), and the outage switch with per-model request counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_testkit::MockUpstream;
use switchyard_testkit::mock::REASONING_TOKENS;

mod reply;
use reply::{Reply, post};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

const DIALECTS: [Dialect; 3] = [Dialect::OpenAi, Dialect::Anthropic, Dialect::Gemini];

/// Asks `model` "hi" in `dialect`'s request shape, with its key, not streaming.
async fn ask(mock: &MockUpstream, dialect: Dialect, model: &str) -> Reply {
    let key = mock.api_key().to_owned();
    let user = json!([{"role": "user", "content": "hi"}]);
    match dialect {
        Dialect::OpenAi => {
            let body = json!({"model": model, "messages": user});
            let auth = format!("Bearer {key}");
            let url = format!("{}/chat/completions", mock.base_url());
            post(&url, &[("authorization", &auth)], body.to_string()).await
        }
        Dialect::Anthropic => {
            let body = json!({"model": model, "max_tokens": 100, "messages": user});
            let headers = [
                ("x-api-key", key.as_str()),
                ("anthropic-version", "2023-06-01"),
            ];
            let url = format!("{}/messages", mock.anthropic_base_url());
            post(&url, &headers, body.to_string()).await
        }
        Dialect::Gemini => {
            let body = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
            let url = format!("{}/models/{model}:generateContent", mock.gemini_base_url());
            post(&url, &[("x-goog-api-key", &key)], body.to_string()).await
        }
    }
}

/// The answer's text, in whichever dialect's shape it came.
fn text(dialect: Dialect, body: &Value) -> &str {
    let text = match dialect {
        Dialect::OpenAi => &body["choices"][0]["message"]["content"],
        Dialect::Anthropic => &body["content"][0]["text"],
        Dialect::Gemini => &body["candidates"][0]["content"]["parts"][0]["text"],
    };
    text.as_str()
        .unwrap_or_else(|| panic!("{dialect:?}: no text in {body}"))
}

/// The error's kind, in whichever dialect's shape it came.
fn error_kind(dialect: Dialect, body: &Value) -> &str {
    let kind = match dialect {
        Dialect::OpenAi | Dialect::Anthropic => &body["error"]["type"],
        Dialect::Gemini => &body["error"]["status"],
    };
    kind.as_str()
        .unwrap_or_else(|| panic!("{dialect:?}: no error kind in {body}"))
}

#[tokio::test]
async fn flaky_503_fails_about_half_in_an_order_every_run_and_dialect_repeats() {
    const N: usize = 32;
    let mut orders = Vec::new();
    for dialect in DIALECTS {
        // Two mocks per dialect: a fresh mock must replay the same order.
        for _run in 0..2 {
            let mock = MockUpstream::spawn().await;
            let mut failed = Vec::with_capacity(N);
            for _ in 0..N {
                let reply = ask(&mock, dialect, "fault-flaky-503").await;
                match reply.status {
                    200 => assert_eq!(text(dialect, &reply.json()), "Mock answer to: hi"),
                    503 => {
                        let expected = match dialect {
                            Dialect::OpenAi => "server_error",
                            Dialect::Anthropic => "api_error",
                            Dialect::Gemini => "UNAVAILABLE",
                        };
                        assert_eq!(error_kind(dialect, &reply.json()), expected);
                        assert!(
                            reply.headers.get("retry-after").is_none(),
                            "{dialect:?}: no retry-after, so routers are not slowed down"
                        );
                    }
                    other => panic!("{dialect:?}: status {other}: {}", reply.body),
                }
                failed.push(reply.status == 503);
            }
            assert_eq!(mock.requests_for("fault-flaky-503"), N);
            orders.push(failed);
        }
    }
    let first = &orders[0];
    assert!(
        orders.iter().all(|order| order == first),
        "the same order on every mock and dialect: {orders:?}"
    );
    let failures = first.iter().filter(|&&failed| failed).count();
    assert!(
        (N / 4..=3 * N / 4).contains(&failures),
        "about half fail: {failures} of {N}"
    );
    assert!(
        first.windows(2).any(|pair| pair[0] == pair[1]),
        "not a strict alternation: {first:?}"
    );
}

#[tokio::test]
async fn a_latency_prefix_waits_then_answers_as_the_rest_of_the_name() {
    let mock = MockUpstream::spawn().await;
    for dialect in DIALECTS {
        let started = Instant::now();
        let slow = ask(&mock, dialect, "latency-300-gpt").await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300),
            "{dialect:?}: answered after {waited:?}"
        );
        assert_eq!(slow.status, 200, "{dialect:?}: {}", slow.body);
        let plain = ask(&mock, dialect, "gpt").await;
        assert_eq!(text(dialect, &slow.json()), text(dialect, &plain.json()));

        // The rest of the name may be a fault, played after the wait.
        let started = Instant::now();
        let failed = ask(&mock, dialect, "latency-100-fault-500").await;
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "{dialect:?}"
        );
        assert_eq!(failed.status, 500, "{dialect:?}: {}", failed.body);
    }

    // Name prefixes that change the answer still work behind the latency prefix.
    let reasoning = ask(&mock, Dialect::OpenAi, "latency-10-reasoning-gpt").await;
    assert_eq!(
        reasoning.json()["usage"]["completion_tokens_details"]["reasoning_tokens"],
        json!(REASONING_TOKENS)
    );
}

#[tokio::test]
async fn an_outage_answers_500_until_switched_off_and_requests_are_counted_per_model() {
    let mock = MockUpstream::spawn().await;
    mock.set_outage("gpt-a", true);
    for dialect in DIALECTS {
        let down = ask(&mock, dialect, "gpt-a").await;
        assert_eq!(down.status, 500, "{dialect:?}: {}", down.body);
        let expected = match dialect {
            Dialect::OpenAi => "server_error",
            Dialect::Anthropic => "api_error",
            Dialect::Gemini => "INTERNAL",
        };
        assert_eq!(error_kind(dialect, &down.json()), expected);
        // Only the exact name is down.
        let other = ask(&mock, dialect, "gpt-b").await;
        assert_eq!(other.status, 200, "{dialect:?}: {}", other.body);
    }
    mock.set_outage("gpt-a", false);
    for dialect in DIALECTS {
        let up = ask(&mock, dialect, "gpt-a").await;
        assert_eq!(up.status, 200, "{dialect:?}: {}", up.body);
    }
    assert_eq!(mock.requests_for("gpt-a"), 6);
    assert_eq!(mock.requests_for("gpt-b"), 3);
    assert_eq!(mock.requests_for("gpt-c"), 0);
    assert_eq!(mock.request_count(), 9);
}
