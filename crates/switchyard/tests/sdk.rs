//! The official `openai` Python SDK drives the real server, on both store backends.
//!
//! Each test starts a `TestApp`, runs the pytest suite in `tests/sdk/` against it with the
//! virtualenv's interpreter (`make test` creates it and sets `SWITCHYARD_TEST_PYTHON`), then
//! stops the server and proves that the marker the suite sent in prompts, answers and
//! embedding inputs was stored nowhere: not in any row of any table and, on SQLite, not in any
//! byte of the database files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    sdk_suite(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    sdk_suite(Backend::Postgres).await;
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The virtualenv's interpreter; a missing one fails the test (the SDK suite is never skipped).
fn python() -> PathBuf {
    let python = std::env::var_os("SWITCHYARD_TEST_PYTHON")
        .map_or_else(|| workspace_root().join(".venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "no Python interpreter at {}: run `make test` (it creates the virtualenv with the \
         openai SDK and pytest and sets SWITCHYARD_TEST_PYTHON)",
        python.display()
    );
    python
}

/// A string that appears nowhere unless this test put it there.
fn unique_marker(backend: Backend) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("MARKER-{backend:?}-{}-{nanos:x}", std::process::id())
}

async fn sdk_suite(backend: Backend) {
    let python = python();
    let app = TestApp::spawn(backend).await;
    let limited = app
        .create_key(json!({"name": "limited", "allowed_models": ["demo-chat"]}))
        .await;
    let limited_key = limited["key"]
        .as_str()
        .expect("the new key's secret")
        .to_owned();
    let marker = unique_marker(backend);

    let mut command = Command::new(&python);
    command
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rxXs"])
        .arg("crates/switchyard/tests/sdk")
        .current_dir(workspace_root())
        .env("SWITCHYARD_BASE_URL", &app.base_url)
        .env("SWITCHYARD_API_KEY", &app.admin_key)
        .env("SWITCHYARD_LIMITED_KEY", &limited_key)
        .env("SWITCHYARD_MARKER", &marker)
        // Keep the source tree clean, and the loopback server reachable whatever the proxy.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    // The server runs on this runtime: wait for pytest on a blocking thread.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the pytest thread finished")
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    println!(
        "--- pytest ({backend:?}) stdout ---\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
    println!(
        "--- pytest ({backend:?}) stderr ---\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the openai SDK suite failed on {backend:?} ({}); its output is above",
        output.status
    );

    // Privacy: the marker went through the gateway (the suite checks that the mock echoed it),
    // yet no stored byte holds it.
    let sqlite_dir = app.sqlite_dir();
    let store = app.shutdown().await;
    let rows = store.count_request_logs().await.expect("store readable");
    assert!(
        rows > 10,
        "expected the suite's requests in the log, found {rows} rows"
    );
    let dump = store.dump_text().await.expect("store readable");
    assert!(
        !dump.contains(&marker),
        "the marker was stored on {backend:?}:\n{}",
        dump.lines()
            .filter(|line| line.contains(&marker))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if let Some(dir) = sqlite_dir {
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("the SQLite directory is readable") {
            let path = entry.expect("a directory entry").path();
            if !path.is_file() {
                continue;
            }
            let bytes = std::fs::read(&path).expect("a database file is readable");
            files += 1;
            assert!(
                !bytes
                    .windows(marker.len())
                    .any(|window| window == marker.as_bytes()),
                "the marker's bytes are in {}",
                path.display()
            );
        }
        assert!(files > 0, "no database file in {}", dir.display());
    }
}
