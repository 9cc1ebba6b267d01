//! Issue 4's M3 in every pairing, on both stores: each way a request can end (complete, no usage
//! from the upstream, upstream 500, upstream error after the head, client gone after 0, 1, 5
//! and 50 chunks) resolves its hold exactly once, charges what the log row says, charges
//! nothing without output and never $0 after a delivered chunk (Gemini's first event carries
//! words and goes out with the head, so its "after 0 chunks" has output in flight). (A gateway killed mid-stream
//! and restarted is `cli.rs`'s test, run once per dialect: it needs the real binary.)

use crate::common::resolved_once;
use crate::dialect::{Ask, Client};
use crate::{Kind, hello};
use futures_util::StreamExt;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

async fn every_ending(client: Client, kind: Kind, backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app.admin_id;
    let stream = Ask {
        stream: true,
        ..Ask::default()
    };
    let mut cases: Vec<(String, String, bool)> = Vec::new();
    let mut finish = |name: &str, response: &reqwest::Response, delivered: bool| {
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        cases.push((name.to_owned(), id, delivered));
    };

    for (name, model, ask, delivered) in [
        ("complete stream", kind.model().to_owned(), &stream, true),
        (
            "no usage from upstream",
            kind.fault("fault-no-usage"),
            &Ask::default(),
            true,
        ),
        (
            "no usage in a stream",
            kind.fault("fault-no-usage"),
            &stream,
            true,
        ),
        ("upstream 500", kind.fault("fault-500"), &stream, false),
        (
            "upstream error after the head",
            kind.fault("fault-stream-error"),
            &stream,
            true,
        ),
    ] {
        let body = client.request(&model, &hello(), ask);
        let response = app.post(client.path(), &app.admin_key, &body).await;
        finish(name, &response, delivered);
        response.text().await.unwrap();
    }

    for chunks in [0usize, 1, 5, 50] {
        let body = client.request(&kind.fault("fault-slow-stream"), &hello(), &stream);
        let response = app.post(client.path(), &app.admin_key, &body).await;
        assert_eq!(response.status(), 200);
        // The gateway reads an upstream stream's first event before it answers (a stream that
        // opens with an error is retried elsewhere), and sends it with the head. Gemini's
        // first event already carries words, so even "after 0 chunks" output is on its way.
        let first_event_has_text = kind == Kind::Gemini;
        finish(
            &format!("client gone after {chunks} chunks"),
            &response,
            chunks > 0 || first_event_has_text,
        );
        let mut body = response.bytes_stream();
        let mut seen = String::new();
        while client.deltas(&seen) < chunks {
            let Some(Ok(piece)) = body.next().await else {
                break; // the whole answer was shorter than `chunks`
            };
            seen.push_str(&String::from_utf8_lossy(&piece));
        }
        drop(body);
    }

    for (name, id, delivered) in &cases {
        resolved_once(
            &app,
            user,
            &format!("{client:?}/{kind:?}: {name}"),
            id,
            *delivered,
        )
        .await;
    }
    assert_eq!(
        app.store.verify_ledger().await.unwrap(),
        Vec::<String>::new()
    );
    app.shutdown().await;
}

/// Every ending, on both stores.
pub async fn m3(client: Client, kind: Kind) {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        every_ending(client, kind, backend).await;
    }
}
