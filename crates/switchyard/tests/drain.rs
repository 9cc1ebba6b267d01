//! Graceful shutdown as a drain: readiness fails first while the listener still accepts for
//! `shutdown_delay`, then the listener closes, and every stream in flight still ends whole and
//! leaves its log row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::sse_data;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchyard_store::{Backend, LogFilter};
use switchyard_testkit::TestApp;
use tokio::sync::mpsc;

on_both_stores!(sigterm_fails_readiness_then_lets_200_streams_finish);

const STREAMS: usize = 200;
const DELAY: Duration = Duration::from_millis(300);
/// The mock answers "Mock answer to: " and the first five words, one frame each 200 ms
/// (`fault-slow-stream`), so each stream lasts about 2.4 s.
const PROMPT: &str = "one two three four five";
const ANSWER: &str = "Mock answer to: one two three four five";

/// What one poll of `/readyz` on a fresh connection saw, and when (since the trigger).
#[derive(Debug)]
enum Probe {
    Answered(Duration, u16, Value),
    Refused(Duration),
}

async fn sigterm_fails_readiness_then_lets_200_streams_finish(backend: Backend) {
    // 200 upstream connections opened at once can lose a SYN to a full accept queue (and retry
    // it after 1 s) when both backends' tests run together on a small machine; the connect
    // deadline leaves room for that, since this test is about the drain, not the dial.
    let app = TestApp::spawn_with(
        backend,
        &format!(
            "[server]\nsnapshot_refresh_ms = 100\nmax_body_bytes = 65536\n\
             shutdown_delay_ms = {}\nshutdown_grace_ms = 15000\n\
             [timeouts]\nconnect_ms = 5000\nfirst_byte_ms = 5000\ntotal_ms = 15000\n",
            DELAY.as_millis()
        ),
    )
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "ready before the shutdown");

    // 200 streams, each reporting once its first frame has arrived (so it is mid-stream).
    let client = reqwest::Client::new();
    let (started_tx, mut started_rx) = mpsc::channel::<()>(STREAMS);
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            let request = client
                .post(app.url("/v1/chat/completions"))
                .bearer_auth(&app.admin_key)
                .json(&json!({
                    "model": "fault-slow-stream",
                    "stream": true,
                    "messages": [{"role": "user", "content": PROMPT}],
                }));
            let started = started_tx.clone();
            tokio::spawn(async move {
                let mut response = request.send().await.expect("the stream starts");
                let status = response.status().as_u16();
                let mut body = Vec::new();
                let mut first = Some(started);
                while let Some(chunk) = response.chunk().await.expect("the stream is not cut") {
                    body.extend_from_slice(&chunk);
                    if let Some(started) = first.take() {
                        started.send(()).await.unwrap();
                    }
                }
                (status, String::from_utf8(body).unwrap(), Instant::now())
            })
        })
        .collect();
    drop(started_tx);
    for _ in 0..STREAMS {
        started_rx.recv().await.expect("every stream starts");
    }

    let trigger = Instant::now();
    app.begin_shutdown();

    // Poll readiness on a fresh connection each time until the listener refuses one.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut probes = Vec::new();
    loop {
        let since = trigger.elapsed();
        match fresh.get(app.url("/readyz")).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                probes.push(Probe::Answered(
                    since,
                    status,
                    response.json().await.unwrap(),
                ));
            }
            Err(error) if error.is_connect() => {
                probes.push(Probe::Refused(trigger.elapsed()));
                break;
            }
            Err(error) => panic!("readiness probe failed: {error}"),
        }
        assert!(
            since < Duration::from_secs(5),
            "still accepting: {probes:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(Probe::Refused(refused_at)) = probes.last() else {
        unreachable!("the loop ends on a refusal")
    };
    let refused_at = *refused_at;

    // (a) Not ready from (almost) the first probe on; the waker that sets the flag and the first
    // probe race by microseconds, so only probes after 50 ms must see it.
    let answered: Vec<_> = probes
        .iter()
        .filter_map(|probe| match probe {
            Probe::Answered(since, status, body) => Some((*since, *status, body)),
            Probe::Refused(_) => None,
        })
        .collect();
    for (since, status, body) in &answered {
        if *since >= Duration::from_millis(50) || *status != 200 {
            assert_eq!(*status, 503, "not ready at {since:?}: {body}");
            assert_eq!(body["status"], "draining", "{body}");
        }
    }
    let first_503 = answered
        .iter()
        .find(|(_, status, _)| *status == 503)
        .map(|(since, _, _)| *since);
    assert!(
        first_503.is_some_and(|since| since < Duration::from_millis(100)),
        "503 right after the trigger: {probes:?}"
    );
    // ... while the listener kept accepting for the delay, and then closed.
    let last_answer = answered.last().map(|(since, _, _)| *since).unwrap();
    assert!(
        last_answer >= DELAY - Duration::from_millis(100),
        "still accepting late in the delay: {probes:?}"
    );
    assert!(
        refused_at >= DELAY,
        "refused only after the delay: {probes:?}"
    );

    // (b) Every stream ends whole, after the listener closed.
    let mut ended = Vec::new();
    for stream in streams {
        let (status, body, at) = stream.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let frames = sse_data(&body);
        assert_eq!(frames.last().map(String::as_str), Some("[DONE]"), "{body}");
        let text: String = frames[..frames.len() - 1]
            .iter()
            .map(|frame| serde_json::from_str::<Value>(frame).unwrap())
            .filter_map(|chunk| {
                chunk["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(text, ANSWER);
        ended.push(at);
    }
    let first_end = ended.iter().min().unwrap().duration_since(trigger);
    assert!(
        first_end > refused_at,
        "the streams outlived the listener (first ended {first_end:?}, refused {refused_at:?})"
    );

    // (c) After the shutdown, one row per stream, each a success.
    let stopped = app.shutdown().await;
    let drained = trigger.elapsed();
    let rows = stopped
        .list_request_logs(&LogFilter {
            model: Some("fault-slow-stream".to_owned()),
            limit: 1_000,
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), STREAMS);
    assert!(rows.iter().all(|row| row.status == 200 && row.stream));
    eprintln!(
        "{backend:?}: 503 after {first_503:?}, refused after {refused_at:?}, streams ended \
         {first_end:?}..{:?}, shutdown complete after {drained:?}",
        ended.iter().max().unwrap().duration_since(trigger)
    );
}
