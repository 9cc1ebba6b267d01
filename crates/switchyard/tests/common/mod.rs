//! Shared helpers of the integration suites.

#![allow(dead_code)]

pub mod session;
pub mod usage;

use serde_json::{Value, json};

/// Generates one `#[tokio::test]` per store backend for each named async test function taking
/// a `Backend`, so every suite runs against SQLite and PostgreSQL with one body.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(switchyard_store::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(switchyard_store::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn chat(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

pub fn chat_stream(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": true})
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// Asserts an OpenAI-shaped error with the given status and code; returns the error object.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "x-request-id on errors too"
    );
    let body: Value = response.json().await.expect("an error body is JSON");
    let error = body
        .get("error")
        .cloned()
        .unwrap_or_else(|| panic!("OpenAI error shape: {body}"));
    assert_eq!(error["code"], code, "code in {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message in {body}"
    );
    assert!(
        error.get("type").is_some() && error.get("param").is_some(),
        "type and param in {body}"
    );
    error
}

pub fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// A model whose answer to "hi" from the mock (1 prompt token, 4 completion tokens) costs
/// exactly $0.01: input is free, output $2,500 per million tokens ($0.0025 a token), so a
/// request reserves $0.0025 × its `max_tokens`.
pub const CENT_MODEL: &str = r#"
[[models]]
name = "cent-chat"
provider = "mock"
upstream_model = "mock-gpt"
input_usd_per_mtok = 0
output_usd_per_mtok = 2500
"#;

/// A request to [`CENT_MODEL`] for $0.01 that reserves $0.05 (`max_tokens` 20).
pub fn cent_request() -> Value {
    json!({"model": "cent-chat", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]})
}

/// `user`'s balance in the store's ledger.
pub async fn balance(
    store: &switchyard_store::Store,
    user: switchyard_core::UserId,
) -> switchyard_core::Nanos {
    store
        .account(&switchyard_core::ledger::AccountId::user(user))
        .await
        .unwrap()
        .totals
        .balance()
}

/// Waits until the writer has written everything queued so far, and checks that `user` has no
/// hold left open (every finished request settled its own).
pub async fn settled(app: &switchyard_testkit::TestApp, user: switchyard_core::UserId) {
    app.gateway().flushed().await;
    let open = app
        .store
        .open_holds(
            Some(&switchyard_core::ledger::AccountId::user(user)),
            None,
            10,
        )
        .await
        .unwrap();
    assert!(open.is_empty(), "holds left open: {open:?}");
}

/// M3's check of one ended request: its hold (if written) resolved exactly once, the ledger
/// charging what the log row says, nothing charged without output and never $0 after a
/// delivered chunk.
pub async fn resolved_once(
    app: &switchyard_testkit::TestApp,
    user: switchyard_core::UserId,
    name: &str,
    id: &str,
    delivered: bool,
) {
    use switchyard_core::Nanos;
    use switchyard_core::ledger::{AccountId, Phase, Transfer};
    let row = app.log_row(id).await;
    settled(app, user).await;
    let (holds, others): (Vec<Transfer>, Vec<Transfer>) = app
        .store
        .transfers_of(&AccountId::user(user), None, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.transfer)
        .filter(|t| t.reference.as_deref() == Some(id))
        .partition(|t| matches!(t.phase, Phase::Pending { .. }));
    // A hold settled in the same batch is written as its outcome, so it may be absent.
    assert!(holds.len() <= 1, "{name}: {holds:?}");
    let settles: Vec<&Transfer> = others
        .iter()
        .filter(|t| t.id == format!("settle:{id}"))
        .collect();
    assert!(
        settles.len() <= 1,
        "{name}: one settlement at most: {settles:?}"
    );
    if !holds.is_empty() {
        assert_eq!(
            settles.len(),
            1,
            "{name}: a written hold is resolved exactly once"
        );
    }
    let charged = settles.first().map_or(Nanos::ZERO, |t| t.amount);
    assert_eq!(
        charged, row.cost,
        "{name}: the ledger charges what the log says"
    );
    if delivered {
        assert!(
            row.cost > Nanos::ZERO || row.completion_tokens == 0,
            "{name}: never $0 after a delivered chunk: {row:?}"
        );
    } else {
        assert_eq!(
            row.cost,
            Nanos::ZERO,
            "{name}: nothing charged without output"
        );
    }
}
