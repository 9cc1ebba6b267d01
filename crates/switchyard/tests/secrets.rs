//! Secrets at rest on the real server, both stores: a dump of every row of every table holds
//! no provider credential, no full API key, no password and no key material; a rotation to a
//! new master key re-seals every credential (those of the pre-keyring scheme too), once,
//! after which replicas serve with the new key alone and a node without it refuses loudly;
//! and a flipped byte in one provider's stored credential makes that provider fail, by name,
//! while the others serve.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use common::chat;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchyard::secrets;
use switchyard_core::Secret;
use switchyard_core::credential::Keyring;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;
use switchyard_testkit::mock::{MockOptions, MockUpstream};

on_both_stores!(
    a_dump_reveals_no_credential_key_password_or_key_material,
    a_rotation_reseals_everything_once_and_the_old_key_can_go,
    a_flipped_byte_fails_loudly_naming_the_provider,
);

const PASSWORD: &str = "a password nobody else has 7f3a";
const ACME_KEY: &str = "sk-acme-credential-5b0e1c9d2f7a4e68";
const ELDER_KEY: &str = "sk-elder-credential-9c2d7e1f0a3b5c46";

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchyard-secrets-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a key file of `(id, key byte)` entries, the current one first.
fn key_file(dir: &Path, name: &str, keys: &[(&str, u8)]) -> PathBuf {
    let path = dir.join(name);
    let text: String = keys
        .iter()
        .map(|(id, byte)| format!("{id}:{}\n", hex(&[*byte; 32])))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn keys_extra(file: &Path) -> String {
    format!("master_keys_file = \"{}\"\n", file.display())
}

/// The server secret of `app`, as the server read it.
fn server_secret(app: &TestApp) -> Secret {
    switchyard::secret::load_or_create(None, app.data_dir()).unwrap()
}

/// Seals the way every credential was sealed before keyrings (written here from the format,
/// not with the server's code): nonce ‖ ciphertext ‖ tag under
/// HMAC-SHA-256(server secret, purpose label), the provider's name as associated data.
fn legacy_seal(secret: &Secret, name: &str, credential: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes()).unwrap();
    mac.update(b"switchyard/provider-credentials/v1");
    let cipher = Aes256Gcm::new(&mac.finalize().into_bytes());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: credential.as_bytes(),
                aad: name.as_bytes(),
            },
        )
        .unwrap();
    [nonce.as_slice(), &sealed].concat()
}

async fn mock_with_key(key: &str) -> MockUpstream {
    MockUpstream::spawn_with(MockOptions {
        api_key: key.to_owned(),
        ..MockOptions::default()
    })
    .await
}

/// An admin call that must answer `status`; returns its body.
async fn admin(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .bearer_auth(&app.admin_key);
    if let Some(body) = &body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_success(),
        "{method} {path} {body:?}: {status} {text}"
    );
    serde_json::from_str(&text).unwrap()
}

/// Adds the provider `name` at `mock` with `credential`, and the model `<name>-chat` on it.
async fn add_provider_and_model(app: &TestApp, name: &str, mock: &MockUpstream, credential: &str) {
    admin(
        app,
        reqwest::Method::POST,
        "/api/admin/providers",
        Some(json!({
            "name": name,
            "kind": "openai",
            "base_url": mock.base_url(),
            "api_key": credential,
            "jurisdiction": "de",
        })),
    )
    .await;
    admin(
        app,
        reqwest::Method::POST,
        "/api/admin/models",
        Some(json!({
            "name": format!("{name}-chat"),
            "provider": name,
            "upstream_model": format!("{name}-upstream"),
            "input_usd_per_mtok": "1",
            "output_usd_per_mtok": "2",
        })),
    )
    .await;
}

/// A chat through `model`: (status, body).
async fn chat_through(app: &TestApp, key: &str, model: &str) -> (u16, Value) {
    let response = app
        .post("/v1/chat/completions", key, &chat(model, "hi"))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The stored provider `name` as `GET /api/admin/providers` lists it on `app`.
async fn listed(app: &TestApp, name: &str) -> Value {
    let list = admin(app, reqwest::Method::GET, "/api/admin/providers", None).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} in {list}"))
}

/// Waits (up to 10 s) until `app` lists `name` with (`Some`) or without (`None`) a credential
/// error containing the text; returns the listing.
async fn until_credential_error(app: &TestApp, name: &str, want: Option<&str>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let provider = listed(app, name).await;
        let error = provider["credential_error"].as_str();
        let done = match want {
            Some(text) => error.is_some_and(|e| e.contains(text)),
            None => error.is_none(),
        };
        if done {
            return provider;
        }
        assert!(
            Instant::now() < deadline,
            "{name} on {}: {provider}",
            app.base_url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts that `mock`'s last request carried `credential` as its bearer key.
fn last_bearer_was(mock: &MockUpstream, credential: &str) {
    let last = mock.last_request().expect("the mock was called");
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {credential}").as_str())
    );
}

async fn a_dump_reveals_no_credential_key_password_or_key_material(backend: Backend) {
    let dir = temp_dir();
    let file = key_file(&dir, "master.keys", &[("k1", 0x11)]);
    let app = TestApp::spawn_with(backend, &keys_extra(&file)).await;
    let acme = mock_with_key(ACME_KEY).await;
    add_provider_and_model(&app, "acme", &acme, ACME_KEY).await;

    // A user with a password, and API keys in use.
    let response = app
        .client
        .post(app.url("/api/auth/signup"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (_, user_key) = app.user_with_key("bob@example.com", json!({})).await;
    let (status, body) = chat_through(&app, &user_key, "acme-chat").await;
    assert_eq!(status, 200, "{body}");
    last_bearer_was(&acme, ACME_KEY);
    app.gateway().flushed().await;

    let dump = app.store.dump_text().await.unwrap();
    assert!(
        dump.contains("catalog_providers: acme"),
        "the dump covers the row"
    );
    let secret = server_secret(&app);
    let forbidden = [
        ("the provider credential", ACME_KEY.to_owned()),
        ("its hex", hex(ACME_KEY.as_bytes())),
        ("the admin's API key", app.admin_key.clone()),
        ("a user's API key", user_key.clone()),
        ("a password", PASSWORD.to_owned()),
        ("a password's hex", hex(PASSWORD.as_bytes())),
        ("the master key", hex(&[0x11; 32])),
        ("the server secret", secret.expose().to_owned()),
    ];
    for (what, text) in &forbidden {
        assert!(!dump.contains(text.as_str()), "{what} is in the dump");
    }
    // The key-hashing secret's file and the master key file stay out of the database, and the
    // keyring file the server would create for itself is private.
    app.shutdown().await;
    acme.shutdown().await;

    let created = dir.join("made/master.keys");
    let keys = secrets::load_or_create(None, &created, &secret).unwrap();
    assert_eq!(keys.current_id(), "k1");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&created).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Read again, it is the same key: what it sealed opens.
    let sealed = keys.seal("p", &Secret::new("x")).unwrap();
    let again = secrets::load_or_create(None, &created, &secret).unwrap();
    assert_eq!(again.open("p", &sealed).unwrap().expose(), "x");
    let _ = std::fs::remove_dir_all(dir);
}

async fn a_rotation_reseals_everything_once_and_the_old_key_can_go(backend: Backend) {
    let dir = temp_dir();
    let old_only = key_file(&dir, "old.keys", &[("k1", 0x11)]);
    let app = TestApp::spawn_with(backend, &keys_extra(&old_only)).await;
    let (acme, elder) = (
        mock_with_key(ACME_KEY).await,
        mock_with_key(ELDER_KEY).await,
    );
    add_provider_and_model(&app, "acme", &acme, ACME_KEY).await;
    // `elder` holds a credential sealed by the scheme before keyrings.
    add_provider_and_model(&app, "elder", &elder, "sk-to-be-replaced-0000").await;
    let secret = server_secret(&app);
    let mut stored = app.store.stored_catalog().await.unwrap().providers;
    let mut record = stored.remove(stored.iter().position(|p| p.name == "elder").unwrap());
    record.api_key_sealed = Some(legacy_seal(&secret, "elder", ELDER_KEY));
    assert!(app.store.update_stored_provider(&record).await.unwrap());

    let (_, user_key) = app.user_with_key("bob@example.com", json!({})).await;
    // Legacy values open on the running server once it has reloaded.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = chat_through(&app, &user_key, "elder-chat").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last_bearer_was(&elder, ELDER_KEY);

    // Step 1: a node with the new key current and the old one still in the ring.
    let both = key_file(&dir, "both.keys", &[("k2", 0x22), ("k1", 0x11)]);
    let replica = app.spawn_replica(&keys_extra(&both)).await;
    let keys = secrets::load_or_create(None, &both, &secret).unwrap();
    let before = secrets::status(&app.store, &keys).await.unwrap();
    assert_eq!(
        before.rows.into_iter().collect::<Vec<_>>(),
        [("k1".to_owned(), 1), ("legacy".to_owned(), 1)]
    );

    // Step 2: rotate, as `switchyard secrets rotate` does; a second run finds nothing to do.
    let generation = app.store.generation().await.unwrap();
    let rotation = secrets::rotate(&app.store, &keys).await.unwrap();
    assert_eq!(rotation.current, "k2");
    assert_eq!(
        rotation.resealed.into_iter().collect::<Vec<_>>(),
        [("k1".to_owned(), 1), ("legacy".to_owned(), 1)]
    );
    assert_eq!(rotation.unchanged, 0);
    assert!(
        app.store.generation().await.unwrap() > generation,
        "replicas reload"
    );
    let sealed_once = app.store.sealed_credentials().await.unwrap();
    let again = secrets::rotate(&app.store, &keys).await.unwrap();
    assert!(again.resealed.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, 2);
    assert_eq!(app.store.sealed_credentials().await.unwrap(), sealed_once);
    let after = secrets::status(&app.store, &keys).await.unwrap();
    assert_eq!(
        after.rows.into_iter().collect::<Vec<_>>(),
        [("k2".to_owned(), 2)]
    );
    assert!(after.unreadable.is_empty());

    // The replica that holds both keys serves through both providers with their own keys.
    for (model, mock, credential) in [
        ("acme-chat", &acme, ACME_KEY),
        ("elder-chat", &elder, ELDER_KEY),
    ] {
        until_credential_error(&replica, model.trim_end_matches("-chat"), None).await;
        let (status, body) = chat_through(&replica, &user_key, model).await;
        assert_eq!(status, 200, "{model}: {body}");
        last_bearer_was(mock, credential);
    }

    // Step 3: the old key leaves the keyring; a node with the new key alone serves both.
    let new_only = key_file(&dir, "new.keys", &[("k2", 0x22)]);
    let trimmed = app.spawn_replica(&keys_extra(&new_only)).await;
    for (model, mock, credential) in [
        ("acme-chat", &acme, ACME_KEY),
        ("elder-chat", &elder, ELDER_KEY),
    ] {
        let (status, body) = chat_through(&trimmed, &user_key, model).await;
        assert_eq!(status, 200, "{model}: {body}");
        last_bearer_was(mock, credential);
    }
    let new_keys = secrets::load_or_create(None, &new_only, &secret).unwrap();
    assert!(
        secrets::status(&app.store, &new_keys)
            .await
            .unwrap()
            .unreadable
            .is_empty()
    );

    // The first node never got the new key: after its reload it refuses, by name, rather than
    // call the provider with a wrong key or none.
    let listed = until_credential_error(&app, "acme", Some("`k2`")).await;
    assert!(
        listed["credential_error"]
            .as_str()
            .unwrap()
            .contains("not in the keyring"),
        "{listed}"
    );
    let calls = acme.request_count();
    let (status, body) = chat_through(&app, &user_key, "acme-chat").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`acme`"),
        "{body}"
    );
    assert_eq!(acme.request_count(), calls, "nothing was sent");

    trimmed.shutdown().await;
    replica.shutdown().await;
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn a_flipped_byte_fails_loudly_naming_the_provider(backend: Backend) {
    let dir = temp_dir();
    let file = key_file(&dir, "master.keys", &[("k1", 0x11)]);
    let app = TestApp::spawn_with(backend, &keys_extra(&file)).await;
    let (acme, elder) = (
        mock_with_key(ACME_KEY).await,
        mock_with_key(ELDER_KEY).await,
    );
    add_provider_and_model(&app, "acme", &acme, ACME_KEY).await;
    add_provider_and_model(&app, "elder", &elder, ELDER_KEY).await;
    let (_, user_key) = app.user_with_key("bob@example.com", json!({})).await;

    // One byte of acme's stored credential changes, as a bad disk or a hand in the database
    // would change it.
    let mut stored = app.store.stored_catalog().await.unwrap().providers;
    let mut record = stored.remove(stored.iter().position(|p| p.name == "acme").unwrap());
    let sealed = record.api_key_sealed.as_mut().unwrap();
    let middle = sealed.len() / 2;
    sealed[middle] ^= 0x01;
    assert!(app.store.update_stored_provider(&record).await.unwrap());

    let listed = until_credential_error(&app, "acme", Some("cannot be decrypted")).await;
    assert!(
        listed["credential_error"]
            .as_str()
            .unwrap()
            .contains("`k1`"),
        "{listed}"
    );
    assert_eq!(
        until_credential_error(&app, "elder", None).await["credential_error"],
        Value::Null
    );

    let calls = acme.request_count();
    let (status, body) = chat_through(&app, &user_key, "acme-chat").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`acme`") && message.contains("credential"),
        "{message}"
    );
    assert_eq!(
        acme.request_count(),
        calls,
        "nothing was sent without the key"
    );
    let tested = admin(
        &app,
        reqwest::Method::POST,
        "/api/admin/providers/acme/test",
        None,
    )
    .await;
    assert_eq!(tested["ok"], false, "{tested}");
    assert!(
        tested["message"]
            .as_str()
            .unwrap()
            .contains("cannot be decrypted"),
        "{tested}"
    );

    // The other provider serves on.
    let (status, body) = chat_through(&app, &user_key, "elder-chat").await;
    assert_eq!(status, 200, "{body}");
    last_bearer_was(&elder, ELDER_KEY);

    // The rotation refuses, naming the row, and writes nothing; the status names it too.
    let keys = Keyring::parse(&format!("k2:{},k1:{}", hex(&[0x22; 32]), hex(&[0x11; 32])))
        .unwrap()
        .with_legacy(&server_secret(&app));
    let before = app.store.sealed_credentials().await.unwrap();
    let error = secrets::rotate(&app.store, &keys)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("provider `acme`") && error.contains("nothing was re-sealed"),
        "{error}"
    );
    assert_eq!(app.store.sealed_credentials().await.unwrap(), before);
    let status = secrets::status(&app.store, &keys).await.unwrap();
    assert_eq!(status.unreadable.len(), 1);
    assert_eq!(status.unreadable[0].0, "acme");

    // Setting the key again through the API repairs it.
    admin(
        &app,
        reqwest::Method::PATCH,
        "/api/admin/providers/acme",
        Some(json!({"api_key": ACME_KEY})),
    )
    .await;
    until_credential_error(&app, "acme", None).await;
    let (status, body) = chat_through(&app, &user_key, "acme-chat").await;
    assert_eq!(status, 200, "{body}");
    last_bearer_was(&acme, ACME_KEY);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
