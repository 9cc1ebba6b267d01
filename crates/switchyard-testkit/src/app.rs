//! `TestApp`: the real Switchyard server on 127.0.0.1 port 0, with a fresh database (SQLite or
//! PostgreSQL), a fresh data directory and a mock upstream, configured through the same TOML
//! path an operator uses.

// Test support: a failure to set up is a failed test, so panicking with a message is right here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::mock::MockUpstream;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchyard::app::{self, Outbox, Running};
use switchyard::config::{self, Sources};
use switchyard_core::ledger::{AccountId, Applied, Transfer, TransferKind};
use switchyard_core::log::RequestLog;
use switchyard_core::{Nanos, UserId};
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, LogFilter, Store};

/// Models every TestApp serves. `mock-*` and `fault-*` go to the mock upstream in OpenAI's
/// format (the fault names select its fault modes), `claude-*` to the same mock in Anthropic's,
/// `gemini-*` in Gemini's (each kind's faults are `claude-fault-*` and `gemini-fault-*`),
/// `demo-*` to the built-in demo provider, `dead-chat` to a port where nothing listens.
const MODELS: &str = r#"
[[providers]]
name = "mock"
kind = "openai"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "US"

[[providers]]
name = "mock-anthropic"
kind = "anthropic"
base_url = "__MOCK__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "US"

[[providers]]
name = "mock-gemini"
kind = "gemini"
base_url = "__MOCK_GEMINI__"
api_key_env = "MOCK_UPSTREAM_KEY"
jurisdiction = "US"

[[models]]
name = "mock-cache"
provider = "mock"
upstream_model = "cache-gpt"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
cached_input_usd_per_mtok = 0.075

[[models]]
name = "mock-reasoning"
provider = "mock"
upstream_model = "reasoning-gpt"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60

[[models]]
name = "claude-chat"
provider = "mock-anthropic"
upstream_model = "claude-mock"
input_usd_per_mtok = 3
output_usd_per_mtok = 15
cached_input_usd_per_mtok = 0.30

[[models]]
name = "claude-reasoning"
provider = "mock-anthropic"
upstream_model = "reasoning-claude"
input_usd_per_mtok = 3
output_usd_per_mtok = 15

[[models]]
name = "claude-cache"
provider = "mock-anthropic"
upstream_model = "cache-claude"
input_usd_per_mtok = 3
output_usd_per_mtok = 15
cached_input_usd_per_mtok = 0.30

[[models]]
name = "gemini-chat"
provider = "mock-gemini"
upstream_model = "gemini-2.5-mock"
input_usd_per_mtok = 0.30
output_usd_per_mtok = 2.50

[[models]]
name = "gemini-3-chat"
provider = "mock-gemini"
upstream_model = "gemini-3-mock"
input_usd_per_mtok = 0.30
output_usd_per_mtok = 2.50

[[models]]
name = "gemini-reasoning"
provider = "mock-gemini"
upstream_model = "reasoning-gemini"
input_usd_per_mtok = 0.30
output_usd_per_mtok = 2.50

[[models]]
name = "gemini-cache"
provider = "mock-gemini"
upstream_model = "cache-gemini"
input_usd_per_mtok = 0.30
output_usd_per_mtok = 2.50
cached_input_usd_per_mtok = 0.075

[[providers]]
name = "demo"
kind = "demo"

[[providers]]
name = "dead"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
jurisdiction = "US"

[[models]]
name = "mock-chat"
provider = "mock"
upstream_model = "mock-gpt"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
cached_input_usd_per_mtok = 0.075

[[models]]
name = "mock-embed"
provider = "mock"
upstream_model = "mock-embedding"
kind = "embedding"
input_usd_per_mtok = 0.02

[[models]]
name = "demo-chat"
provider = "demo"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60

[[models]]
name = "demo-embed"
provider = "demo"
kind = "embedding"
input_usd_per_mtok = 0.02

[[models]]
name = "dead-chat"
provider = "dead"
input_usd_per_mtok = 1
output_usd_per_mtok = 1
"#;

const FAULTS: &[&str] = &[
    "fault-500",
    "fault-503",
    "fault-429",
    "fault-400",
    "fault-flat-400",
    "fault-slow-first-byte",
    "fault-hang",
    "fault-cut-stream",
    "fault-no-usage",
    "fault-stream-error",
    "fault-slow-stream",
    "fault-flaky-503",
];

/// Faults only the Anthropic side of the mock has.
const ANTHROPIC_FAULTS: &[&str] = &["fault-529"];

/// Faults only the Gemini side of the mock has.
const GEMINI_FAULTS: &[&str] = &["fault-blocked"];

/// What [`TestApp::user_with_key`] credits to each new user: enough for any test's requests.
pub const USER_CREDIT_USD: &str = "100";

/// A running server for one test.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The first admin's key, created on start.
    pub admin_key: String,
    /// The first admin's one-time link (path and query) that sets its dashboard password.
    pub admin_password_link: String,
    pub admin_id: UserId,
    pub store: Store,
    pub mock: MockUpstream,
    pub backend: Backend,
    pub client: reqwest::Client,
    /// Every mail the server sent (verification and reset links), instead of SMTP.
    pub outbox: Outbox,
    running: Option<Running>,
    data_dir: PathBuf,
    db: Option<TestDb>,
}

/// A stopped app's store, with its database kept alive for inspection. Derefs to [`Store`].
#[derive(Debug)]
pub struct Stopped {
    pub store: Store,
    _db: Option<TestDb>,
}

impl std::ops::Deref for Stopped {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, "").await
    }

    /// Starts with extra top-level TOML (e.g. `[server]\nmax_body_bytes = 100`) prepended to
    /// the test configuration. Sections given here replace the defaults below.
    pub async fn spawn_with(backend: Backend, extra: &str) -> TestApp {
        let db = TestDb::create(backend).await;
        let data_dir = std::env::temp_dir().join(format!("switchyard-testapp-{}", uuid_like()));
        let outbox = Outbox::default();
        let (mock, running) = launch(&db.url, &data_dir, extra, &outbox).await;
        let bootstrap = running
            .bootstrap
            .as_ref()
            .expect("a fresh database bootstraps an admin");
        TestApp {
            base_url: format!("http://{}", running.addr),
            admin_key: bootstrap.key.expose().to_owned(),
            admin_password_link: path_of(&bootstrap.password_link),
            admin_id: bootstrap.user_id,
            store: running.store.clone(),
            mock,
            backend,
            client: reqwest::Client::new(),
            outbox,
            running: Some(running),
            data_dir,
            db: Some(db),
        }
    }

    /// Another replica of this app, as a cluster runs them: the same database and data
    /// directory (so the same key-hashing secret: every key works on both), its own port and
    /// mock upstream, and `extra` TOML (e.g. `redis_url`). Stop it before the first one.
    pub async fn spawn_replica(&self, extra: &str) -> TestApp {
        let url = self
            .db
            .as_ref()
            .expect("the first replica owns the database")
            .url
            .clone();
        let outbox = Outbox::default();
        let (mock, running) = launch(&url, &self.data_dir, extra, &outbox).await;
        TestApp {
            base_url: format!("http://{}", running.addr),
            admin_key: self.admin_key.clone(),
            admin_password_link: self.admin_password_link.clone(),
            admin_id: self.admin_id,
            store: running.store.clone(),
            mock,
            backend: self.backend,
            client: reqwest::Client::new(),
            outbox,
            running: Some(running),
            data_dir: self.data_dir.clone(),
            db: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// `POST path` with a JSON body and a bearer key.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET path` with a bearer key.
    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request sent")
    }

    /// `GET path` with a bearer key, which must answer 200; returns the JSON body.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        let response = self.get(path, key).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// Creates a key through the management API with the admin key; returns the response body
    /// (which holds the secret in `key`).
    pub async fn create_key(&self, body: Value) -> Value {
        let response = self.post("/api/keys", &self.admin_key.clone(), &body).await;
        assert_eq!(response.status(), 201, "key creation failed");
        response.json().await.expect("JSON body")
    }

    /// Credits `usd` to a user's balance (an operator adjustment) and waits until the gateway's
    /// budgets include it.
    pub async fn credit(&self, user: UserId, usd: &str) {
        let amount = Nanos::from_usd_str(usd).expect("a USD amount");
        let credit = Transfer::posted(
            format!("test-credit:{}", uuid_like()),
            AccountId::adjustments(),
            AccountId::user(user),
            amount,
            TransferKind::Adjustment,
            0,
        );
        let batch = self
            .store
            .apply_transfers(&[credit])
            .await
            .expect("credit applied");
        assert!(
            matches!(batch.results[0], Ok(Applied::Done)),
            "credit applied"
        );
        self.refresh_balances().await;
    }

    /// Waits until the gateway's budgets include every transfer already in the store.
    pub async fn refresh_balances(&self) {
        self.gateway().refresh_balances().await;
    }

    /// The running gateway (drop it before [`TestApp::shutdown`]).
    pub fn gateway(&self) -> std::sync::Arc<switchyard_gateway::Gateway> {
        self.running
            .as_ref()
            .and_then(|r| r.gateway())
            .expect("the app is running")
    }

    /// Creates a non-admin user with exactly `usd` of balance (none for `"0"`) and a key for
    /// it; returns (user id, key secret).
    pub async fn funded_user(&self, email: &str, usd: &str) -> (UserId, String) {
        let response = self
            .post(
                "/api/users",
                &self.admin_key,
                &serde_json::json!({"email": email}),
            )
            .await;
        assert_eq!(response.status(), 201, "user creation failed");
        let user: Value = response.json().await.expect("JSON body");
        let id: UserId = user["id"].as_str().expect("id").parse().expect("a user id");
        let created = self
            .create_key(serde_json::json!({"user_id": id.to_string()}))
            .await;
        if usd != "0" {
            self.credit(id, usd).await;
        }
        (id, created["key"].as_str().expect("key").to_owned())
    }

    /// Creates a non-admin user with [`USER_CREDIT_USD`] of balance and a key for it; returns
    /// (user id, key secret).
    pub async fn user_with_key(&self, email: &str, key: Value) -> (String, String) {
        let response = self
            .post(
                "/api/users",
                &self.admin_key.clone(),
                &serde_json::json!({"email": email}),
            )
            .await;
        assert_eq!(response.status(), 201, "user creation failed");
        let user: Value = response.json().await.expect("JSON body");
        let user_id = user["id"].as_str().expect("id").to_owned();
        self.credit(user_id.parse().expect("a user id"), USER_CREDIT_USD)
            .await;
        let mut body = key;
        body["user_id"] = Value::String(user_id.clone());
        let created = self.create_key(body).await;
        (user_id, created["key"].as_str().expect("key").to_owned())
    }

    /// Waits (up to 10 s) until the log holds a row for `request_id` and returns it.
    pub async fn log_row(&self, request_id: &str) -> RequestLog {
        let id = request_id.parse().expect("a request id is a UUID");
        let filter = LogFilter {
            request_id: Some(id),
            limit: 1,
            ..LogFilter::default()
        };
        for _ in 0..500 {
            if let Some(row) = self
                .store
                .list_request_logs(&filter)
                .await
                .expect("store readable")
                .pop()
            {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no log row for request {request_id} after 10 s");
    }

    /// Starts the graceful shutdown, as SIGTERM does, without waiting for it: `/readyz` turns
    /// 503 at once and the server drains (see `switchyard::app`). [`TestApp::shutdown`] then
    /// waits for the drain to complete.
    pub fn begin_shutdown(&self) {
        if let Some(running) = &self.running {
            running.shutdown_token().cancel();
        }
    }

    /// Stops the server gracefully (draining the log) and returns the store for inspection.
    pub async fn shutdown(mut self) -> Stopped {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
        Stopped {
            store: self.store.clone(),
            _db: self.db.take(),
        }
    }

    /// The data directory (`secret.key`, and `master.keys` unless the test names another
    /// file), shared with replicas.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The database's URL, for running the CLI against this app's data (the first replica's;
    /// `None` on a replica, which does not own the database).
    pub fn database_url(&self) -> Option<&str> {
        self.db.as_ref().map(|db| db.url.as_str())
    }

    /// The SQLite database file's directory, when the backend is SQLite.
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        let url = self.db.as_ref()?.url.strip_prefix("sqlite://")?.to_owned();
        PathBuf::from(url).parent().map(PathBuf::from)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown_token().cancel();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{t}-{n}", std::process::id())
}

/// Starts the real server on `db_url` and `data_dir` in front of a fresh mock upstream, with
/// `extra` TOML prepended to the test configuration (sections given there replace the
/// defaults below).
async fn launch(
    db_url: &str,
    data_dir: &std::path::Path,
    extra: &str,
    outbox: &Outbox,
) -> (MockUpstream, Running) {
    let mock = MockUpstream::spawn().await;
    // `extra` may declare providers of its own at the mock (`base_url = "__MOCK__"`).
    let extra = extra
        .replace("__MOCK_GEMINI__", &mock.gemini_base_url())
        .replace("__MOCK__", &mock.base_url());
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{db_url}\"\ndata_dir = \"{}\"\n{extra}\n",
        data_dir.display()
    );

    for (section, body) in [
        (
            "server",
            "snapshot_refresh_ms = 100\nshutdown_grace_ms = 5000\nmax_body_bytes = 65536",
        ),
        ("log", "flush_ms = 20"),
        ("billing", "welcome_credit_usd = 100\nrefresh_ms = 50"),
        ("demo", "word_delay_ms = 1"),
        (
            "timeouts",
            "connect_ms = 1000\nfirst_byte_ms = 1000\ntotal_ms = 5000",
        ),
    ] {
        if !extra.contains(&format!("[{section}]")) {
            toml.push_str(&format!("[{section}]\n{body}\n"));
        }
    }
    toml.push_str(
        &MODELS
            .replace("__MOCK_GEMINI__", &mock.gemini_base_url())
            .replace("__MOCK__", &mock.base_url()),
    );
    for fault in FAULTS.iter().chain(ANTHROPIC_FAULTS).chain(GEMINI_FAULTS) {
        for (prefix, provider) in [
            ("", "mock"),
            ("claude-", "mock-anthropic"),
            ("gemini-", "mock-gemini"),
        ] {
            let served = match provider {
                "mock-anthropic" => !GEMINI_FAULTS.contains(fault),
                "mock-gemini" => !ANTHROPIC_FAULTS.contains(fault),
                _ => FAULTS.contains(fault),
            };
            if served {
                toml.push_str(&format!(
                        "\n[[models]]\nname = \"{prefix}{fault}\"\nprovider = \"{provider}\"\nupstream_model = \"{fault}\"\ninput_usd_per_mtok = 0.15\noutput_usd_per_mtok = 0.60\n"
                    ));
            }
        }
    }
    let sources = Sources {
        file: Some((PathBuf::from("testapp.toml"), toml)),
        env: [("MOCK_UPSTREAM_KEY".to_owned(), mock.api_key().to_owned())]
            .into_iter()
            // The fake Stripe's secrets, for tests that add a `[stripe]` section.
            .chain(crate::stripe::env())
            // The fake OpenID provider's client secret, for tests that add `[[oidc]]`.
            .chain(crate::oidc::env())
            .collect(),
    };
    let config = config::load(&sources).expect("the test configuration is valid");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let running = app::start_with_mailer(config, listener, Some(Arc::new(outbox.clone())))
        .await
        .expect("the server starts");
    (mock, running)
}

/// The path and query of an absolute link, so a test can open it on whatever base it uses.
fn path_of(link: &str) -> String {
    let after_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or_else(|| "/".to_owned(), |i| after_scheme[i..].to_owned())
}
