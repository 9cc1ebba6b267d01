//! The real binary, run the way an operator runs it: `serve` on the embedded default in an
//! empty directory, the CLI verbs, and a graceful stop by SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use switchyard_store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-cli-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a CLI verb in `dir`; returns stdout, panics with stderr on failure.
fn cli(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "switchyard {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

struct Server {
    child: Child,
    base: String,
    stdout: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

/// Starts `switchyard serve` in `dir` on a free port and waits until it listens. With
/// `expect_banner`, also reads the first-start banner from stdout.
fn serve(dir: &Path, expect_banner: bool) -> Server {
    serve_with(dir, expect_banner, &[])
}

/// [`serve`] with extra environment (configuration overrides).
fn serve_with(dir: &Path, expect_banner: bool, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env("SWITCHYARD_LISTEN", "127.0.0.1:0")
        .env("SWITCHYARD_LOG", "debug")
        .envs(env.iter().copied())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the server starts listening");
        if let Some(at) = line.find("base=") {
            break line[at + 5..]
                .split_whitespace()
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned();
        }
    };
    // The first-start banner is printed before the server listens and ends with the curl
    // example and a blank line.
    let mut stdout = String::new();
    if expect_banner {
        use std::io::Read;
        let out = child.stdout.as_mut().unwrap();
        let mut buf = [0u8; 4096];
        while !(stdout.contains("curl ") && stdout.ends_with("\n\n")) {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => stdout.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    }
    Server {
        child,
        base,
        stdout,
        stderr: rx,
    }
}

impl Server {
    /// SIGTERM and a clean exit; returns what it printed on stdout.
    fn terminate_and_read_stdout(&mut self) -> String {
        use std::io::Read;
        let mut out = self.child.stdout.take().unwrap();
        self.signal_and_wait();
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        text
    }

    /// SIGTERM, then wait for a clean exit; returns everything it logged.
    fn terminate(mut self) -> String {
        self.signal_and_wait();
        self.stderr.try_iter().collect::<Vec<_>>().join("\n")
    }

    fn signal_and_wait(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "exit status {exit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_default_from_an_empty_directory() {
    let dir = temp_dir("default");
    let server = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || serve(&dir, true)
    })
    .await
    .unwrap();
    // The banner shows the key once, with a ready-to-paste curl line.
    let key = server
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("sk-sy-"))
        .expect("the key is printed")
        .to_owned();
    assert!(
        server
            .stdout
            .contains(&format!("curl {}/v1/chat/completions", server.base)),
        "{}",
        server.stdout
    );
    assert!(
        dir.join("switchyard-data/switchyard.db").exists(),
        "SQLite created in ./switchyard-data"
    );

    let client = reqwest::Client::new();
    let marker = format!("LOGMARKER{}", std::process::id());
    let body = json!({"model": "demo-chat", "messages": [{"role": "user", "content": marker}]});
    let answer: Value = client
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            > 20
    );
    let mut stream_body = body.clone();
    stream_body["stream"] = json!(true);
    let streamed = client
        .post(format!("{}/v1/chat/completions", server.base))
        .bearer_auth(&key)
        .json(&stream_body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(streamed.trim_end().ends_with("data: [DONE]"));
    let embedded: Value = client
        .post(format!("{}/v1/embeddings", server.base))
        .bearer_auth(&key)
        .json(&json!({"model": "demo-embed", "input": "hello"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        embedded["data"][0]["embedding"].as_array().unwrap().len(),
        256
    );

    let logs = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(
        logs.contains("request log drained"),
        "graceful stop drains the log:\n{logs}"
    );
    assert!(
        !logs.contains(&key) && !logs.contains(&key[6..]),
        "the key never appears in logs"
    );
    assert!(!logs.contains(&marker), "prompt text never appears in logs");

    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.join("switchyard-data/switchyard.db").display()
    ))
    .await
    .unwrap();
    assert_eq!(
        store.count_request_logs().await.unwrap(),
        3,
        "every request logged before exit"
    );
    store.close().await;

    // A second start on the same data does not create another admin or print a key.
    let again = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let mut server = serve(&dir, false);
            server.terminate_and_read_stdout()
        }
    })
    .await
    .unwrap();
    assert!(
        !again.contains("sk-sy-"),
        "no new key on a second start: {again}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_verbs_print_machine_readable_results() {
    let dir = temp_dir("verbs");
    let user_id = cli(
        &dir,
        &["user", "create", "--email", "ops@example.com", "--admin"],
    );
    assert!(
        user_id.trim().parse::<switchyard_core::UserId>().is_ok(),
        "prints the id: {user_id}"
    );
    let secret = cli(
        &dir,
        &[
            "key",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "ci",
            "--models",
            "demo-chat",
        ],
    );
    let secret = secret.trim();
    assert!(
        switchyard_core::key::check_format(secret).is_ok(),
        "prints the secret alone: {secret}"
    );
    let listed = cli(&dir, &["key", "list"]);
    let line = listed.lines().next().unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields[1], &secret[..switchyard_core::key::VISIBLE_LEN]);
    assert_eq!((fields[2], fields[4]), ("ci", "active"));
    let revoked = cli(&dir, &["key", "revoke", fields[0]]);
    assert_eq!(revoked.trim(), fields[0]);
    assert!(cli(&dir, &["key", "list"]).contains("\trevoked"));
    // Errors go to stderr with a non-zero exit.
    let output = Command::new(BIN)
        .args(["key", "create", "--user", "nobody@example.com"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no user with email"));
    assert!(output.stdout.is_empty());
    // Data policies: the account's is printed as stored, normalised; a key gets its own.
    let policy = cli(
        &dir,
        &[
            "user",
            "policy",
            "--user",
            "ops@example.com",
            "--jurisdictions",
            "eu,us",
            "--no-training",
        ],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&policy).unwrap(),
        json!({"jurisdictions": ["EU", "US"], "no_training": true})
    );
    cli(
        &dir,
        &[
            "key",
            "create",
            "--user",
            "ops@example.com",
            "--name",
            "strict",
            "--jurisdictions",
            "DE",
            "--no-retention",
            "--zdr",
        ],
    );
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.join("switchyard-data/switchyard.db").display()
    ))
    .await
    .unwrap();
    let ops = store
        .user_by_email("ops@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ops.data_policy.jurisdictions,
        Some(vec!["EU".into(), "US".into()])
    );
    let strict = store.list_keys(Some(ops.id)).await.unwrap().remove(0);
    assert_eq!(strict.name, "strict");
    assert_eq!(strict.data_policy.jurisdictions, Some(vec!["DE".into()]));
    assert!(strict.data_policy.no_retention && strict.data_policy.zdr);
    // Every change made at the command line is in the audit log, as the system's, via the CLI.
    let entries = store
        .list_audit(&switchyard_store::AuditFilter {
            subject: Some(ops.id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let done: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert!(done.contains(&("create", "user")), "{done:?}");
    assert!(done.contains(&("create", "key")), "{done:?}");
    assert!(done.contains(&("replace", "user")), "{done:?}");
    assert!(
        entries
            .iter()
            .all(|e| e.actor_role == switchyard_store::ActorRole::System
                && e.detail.contains("\"via\":\"cli\""))
    );
    assert!(!strict.data_policy.no_training);
    store.close().await;
    // No flags: the open policy again.
    assert_eq!(
        cli(&dir, &["user", "policy", "--user", "ops@example.com"]).trim(),
        "{}"
    );
    let output = Command::new(BIN)
        .args([
            "user",
            "policy",
            "--user",
            "ops@example.com",
            "--jurisdictions",
            "Europe",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`Europe` is not a jurisdiction"));

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[providers]]\nname = \"x\"\nkind = \"openai\"\n").unwrap();
    let output = Command::new(BIN)
        .args(["migrate", "--config", bad.to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("providers[0] (`x`).base_url is required")
    );
    // The retention purge on demand: nothing is old enough in a fresh database.
    let purged = cli(&dir, &["purge"]);
    assert!(
        purged.contains("usage_rows: 0") && purged.contains("accounts_erased: 0"),
        "{purged}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// M3's crash case on the real binary: SIGKILL mid-stream leaves the request's hold open in
/// the store; the next start sweeps it once its TTL has passed, and the ledger stays sound.
/// (The interrupted request goes uncharged: docs/money.md, "What a crash can lose".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_left_by_a_killed_gateway_is_voided_on_restart() {
    killed_mid_stream(
        "chat",
        "/v1/chat/completions",
        json!({"model": "demo-chat", "stream": true, "max_tokens": 200,
            "messages": [{"role": "user", "content": "tell me a long story"}]}),
    )
    .await;
}

/// The same crash on the other dialects' endpoints (the demo provider reached by translation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_left_by_a_killed_gateway_is_voided_on_restart_messages() {
    killed_mid_stream(
        "messages",
        "/v1/messages",
        json!({"model": "demo-chat", "stream": true, "max_tokens": 200,
            "messages": [{"role": "user", "content": "tell me a long story"}]}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_left_by_a_killed_gateway_is_voided_on_restart_responses() {
    killed_mid_stream(
        "responses",
        "/v1/responses",
        json!({"model": "demo-chat", "stream": true, "max_output_tokens": 200,
            "input": "tell me a long story"}),
    )
    .await;
}

async fn killed_mid_stream(name: &str, path: &str, body: serde_json::Value) {
    use futures_util::StreamExt;
    let dir = temp_dir(&format!("crash-{name}"));
    let env: &[(&str, &str)] = &[
        ("SWITCHYARD_DEMO_WORD_DELAY_MS", "100"),
        ("SWITCHYARD_LOG_FLUSH_MS", "20"),
        ("SWITCHYARD_TIMEOUTS_TOTAL_MS", "2000"),
        ("SWITCHYARD_BILLING_HOLD_TTL_MS", "2500"),
    ];
    let server = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let env = env.to_vec();
        move || serve_with(&dir, true, &env)
    })
    .await
    .unwrap();
    let key = server
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("sk-sy-"))
        .expect("the key is printed")
        .to_owned();
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    // The hold is written once it has been parked for `billing.hold_write_delay_ms` (2 s).
    let url = format!(
        "sqlite://{}",
        dir.join("switchyard-data/switchyard.db").display()
    );
    let store = Store::connect(&url).await.unwrap();
    let mut open = Vec::new();
    for _ in 0..500 {
        open = store.open_holds(None, None, 10).await.unwrap();
        if !open.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(open.len(), 1, "the streaming request holds its worst case");
    let mut server = server;
    let status = Command::new("kill")
        .args(["-KILL", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.child.wait().unwrap();
    drop(stream);
    assert_eq!(
        store.open_holds(None, None, 10).await.unwrap().len(),
        1,
        "a crash resolves nothing"
    );
    // Restart once the hold has expired: start-up sweeps it.
    let expires_at = open[0].expires_at;
    let now = switchyard_gateway::pipeline_now_millis();
    if expires_at > now {
        tokio::time::sleep(Duration::from_millis((expires_at - now + 50) as u64)).await;
    }
    let restarted = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let env = env.to_vec();
        move || serve_with(&dir, false, &env)
    })
    .await
    .unwrap();
    assert!(
        store.open_holds(None, None, 10).await.unwrap().is_empty(),
        "voided at start-up"
    );
    assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
    let accounts = store.user_accounts().await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts[0].1.totals.balance(),
        switchyard_core::Nanos::from_usd(5),
        "the welcome credit, nothing charged"
    );
    store.close().await;
    tokio::task::spawn_blocking(move || restarted.terminate())
        .await
        .unwrap();
}

/// Runs a CLI verb in `dir` with extra environment; returns (success, stdout, stderr).
fn cli_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHYARD_MASTER_KEYS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_verbs_report_rotate_and_refuse_by_name() {
    use switchyard_core::Secret;
    use switchyard_core::catalog::{ProviderKind, StoredProvider};

    let dir = temp_dir("secrets");
    cli(&dir, &["migrate"]);
    // The first use creates the key file, private, with one key; nothing is sealed yet.
    assert_eq!(cli(&dir, &["secrets", "status"]), "");
    let data = dir.join("switchyard-data");
    let file = data.join("master.keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let k1 = text
        .lines()
        .find(|l| !l.starts_with('#'))
        .unwrap()
        .to_owned();
    assert!(k1.starts_with("k1:") && k1.len() == 3 + 64, "one key k1");

    // A provider stored as the management API stores it: sealed under the file's key.
    let secret = switchyard::secret::load_or_create(None, &data).unwrap();
    let keys = switchyard::secrets::load_or_create(None, &file, &secret).unwrap();
    let store = Store::connect(&format!(
        "sqlite://{}",
        data.join("switchyard.db").display()
    ))
    .await
    .unwrap();
    let credential = "sk-cli-credential-0123456789";
    store
        .create_stored_provider(&StoredProvider {
            name: "acme".into(),
            kind: ProviderKind::Openai,
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key_sealed: Some(keys.seal("acme", &Secret::new(credential)).unwrap()),
            api_key_hint: None,
            jurisdiction: "DE".into(),
            data: Default::default(),
            connect_timeout_ms: None,
            first_byte_timeout_ms: None,
            total_timeout_ms: None,
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    assert_eq!(cli(&dir, &["secrets", "status"]), "k1\t1\tcurrent\n");

    // A new key, current in front of the old one: the rotation re-seals the row once.
    let k2 = cli(&dir, &["secrets", "generate", "--id", "k2"]);
    let k2 = k2.trim();
    assert!(k2.starts_with("k2:") && k2.len() == 3 + 64, "{k2}");
    let ring = format!("{k2},{k1}");
    let both = [("SWITCHYARD_MASTER_KEYS", ring.as_str())];
    let (ok, out, err) = cli_env(&dir, &["secrets", "rotate"], &both);
    assert!(ok, "{err}");
    assert_eq!(out, "k1\t1\n");
    assert!(
        err.contains("re-sealed 1 credential(s) under `k2`"),
        "{err}"
    );
    let (ok, out, err) = cli_env(&dir, &["secrets", "rotate"], &both);
    assert!(ok, "{err}");
    assert_eq!(out, "", "a second run has nothing to do");
    let (ok, out, err) = cli_env(&dir, &["secrets", "status"], &both);
    assert!(ok, "{err}");
    assert_eq!(out, "k2\t1\tcurrent\n");
    assert!(err.contains("no stored credential uses k1"), "{err}");

    // The old key can go: the new one alone opens the row.
    let (ok, out, err) = cli_env(
        &dir,
        &["secrets", "status"],
        &[("SWITCHYARD_MASTER_KEYS", k2)],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "k2\t1\tcurrent\n");
    let sealed = store.sealed_credentials().await.unwrap();
    let new_only = switchyard_core::credential::Keyring::parse(k2).unwrap();
    assert_eq!(
        new_only.open("acme", &sealed[0].1).unwrap().expose(),
        credential
    );

    // Back on the file's old key alone, both verbs refuse, naming the provider and the key.
    let (ok, out, err) = cli_env(&dir, &["secrets", "status"], &[]);
    assert!(!ok);
    assert_eq!(out, "k2\t1\tmissing\n");
    assert!(
        err.contains("provider `acme`") && err.contains("`k2`"),
        "{err}"
    );
    let (ok, _, err) = cli_env(&dir, &["secrets", "rotate"], &[]);
    assert!(!ok);
    assert!(
        err.contains("provider `acme`") && err.contains("nothing was re-sealed"),
        "{err}"
    );
    assert_eq!(store.sealed_credentials().await.unwrap(), sealed);
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
