//! "Export my data" on both stores: the archive of `GET /api/me/export` holds every file its
//! schema lists, each parses, the counts match the database, and nothing of another account
//! (nor any key's hash or secret) is in it; a second export of one user waits for the first;
//! the channel bounds the chunks and stops the reads while nobody reads; and
//! `switchyard export` writes the same archive.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::expect_error;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::time::Duration;
use switchyard_core::catalog::UnixMillis;
use switchyard_core::ledger::AccountId;
use switchyard_core::limits::{Scope, SpendLimits};
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{IdentityId, KeyId, Nanos, RequestId, UserId};
use switchyard_server::export::{CHANNEL_CHUNKS, CHUNK_BYTES};
use switchyard_store::payments::PaidCheckout;
use switchyard_store::{ActorRole, AuditEntry, AuditFilter, Backend, Buyer, Identity};
use switchyard_testkit::TestApp;

on_both_stores!(
    the_archive_holds_all_of_one_users_data_and_nothing_else,
    a_second_export_of_a_user_waits_for_the_first,
    the_channel_bounds_chunks_and_holds_the_reads_while_nobody_reads,
    the_cli_writes_the_same_archive,
);

/// What a seeded user is, and what must never appear in another user's archive.
struct Seeded {
    id: UserId,
    email: String,
    secret: String,
    key_id: KeyId,
    /// Text that identifies this user or their keys: ids, secret, prefix, hash, names.
    markers: Vec<String>,
    usage_rows: usize,
}

fn log_row(i: usize, user: UserId, key: KeyId) -> RequestLog {
    let base = 1_750_000_000_000i64;
    let at = base + (i as i64) * 7_919;
    let failed = i.is_multiple_of(17);
    RequestLog {
        id: RequestId::new(),
        created_at: at,
        user_id: Some(user),
        key_id: Some(key),
        endpoint: "chat.completions".into(),
        // A comma and a quote: the CSV must quote them.
        model: if i.is_multiple_of(5) {
            "demo, \"chat\"".into()
        } else {
            "demo-chat".into()
        },
        provider: Some("demo".into()),
        upstream_model: Some("demo-chat".into()),
        channel: Some("demo".into()),
        jurisdiction: Some("US".into()),
        stream: i.is_multiple_of(2),
        prompt_tokens: 10 + (i % 97) as u64,
        completion_tokens: 20 + (i % 89) as u64,
        cached_tokens: (i % 3) as u64,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_000 + (i as i64 % 131)),
        provider_cost: Nanos(900),
        latency_us: 5_000 + (i as u64 % 1_009),
        ttft_us: (i.is_multiple_of(2)).then_some(1_500),
        status: if failed { 502 } else { 200 },
        error_code: failed.then(|| "upstream_error".to_owned()),
        client_ip: Some(format!("10.{}.{}.{}", i % 200, i % 199, i % 197)),
    }
}

async fn seed_usage(app: &TestApp, user: UserId, key: KeyId, rows: usize) {
    let all: Vec<RequestLog> = (0..rows).map(|i| log_row(i, user, key)).collect();
    for batch in all.chunks(1_000) {
        app.store.insert_request_logs(batch).await.unwrap();
    }
}

/// A user with a key, 100 USD of credit, `rows` usage rows, an identity, a paid top-up with
/// its invoice, a billing profile, a spend limit, a referral code and an audit entry.
async fn seed(app: &TestApp, name: &str, rows: usize) -> Seeded {
    let email = format!("{name}@example.com");
    let (id, secret) = app
        .user_with_key(&email, json!({"name": format!("{name}'s key")}))
        .await;
    let id: UserId = id.parse().unwrap();
    let key = app.store.list_keys(Some(id)).await.unwrap().remove(0);
    seed_usage(app, id, key.id, rows).await;
    let now: UnixMillis = 1_760_000_000_000;
    app.store
        .insert_identity(&Identity {
            id: IdentityId::new(),
            user_id: id,
            issuer: "https://id.example.com".into(),
            subject: format!("subject-of-{name}"),
            email: Some(email.clone()),
            created_at: now,
        })
        .await
        .unwrap();
    let payment = format!("pay_{name}");
    let session = format!("cs_test_{name}");
    let amount = Nanos::from_usd_str("25").unwrap();
    app.store
        .create_payment(&payment, id, &session, amount, "usd", now)
        .await
        .unwrap();
    app.store
        .set_billing_profile(
            id,
            &Buyer {
                name: format!("{name} Buyer"),
                company: format!("{name} Ltd"),
                vat_id: String::new(),
                address: "1 Main St\nSpringfield".into(),
                country: "DE".into(),
            },
            now,
        )
        .await
        .unwrap();
    app.store
        .record_paid_checkout(&PaidCheckout {
            payment_id: payment.clone(),
            user_id: id,
            session: session.clone(),
            payment_intent: Some(format!("pi_{name}")),
            amount,
            currency: "usd".into(),
            now: now + 1_000,
        })
        .await
        .unwrap();
    app.store
        .issue_invoice_for_payment(&payment, now + 2_000)
        .await
        .unwrap()
        .expect("an invoice for a paid payment");
    app.store
        .set_spend_limits(
            Scope::User,
            &id.to_string(),
            SpendLimits {
                total: None,
                day: Some(Nanos::from_usd_str("5").unwrap()),
                month: None,
            },
            now,
        )
        .await
        .unwrap();
    app.store
        .set_spend_limits(
            Scope::Key,
            &key.id.to_string(),
            SpendLimits {
                total: Some(Nanos::from_usd_str("50").unwrap()),
                day: None,
                month: None,
            },
            now,
        )
        .await
        .unwrap();
    let code = app.store.referral_code(id, now).await.unwrap();
    app.store
        .append_audit(&AuditEntry {
            id: uuid_v7(),
            at: now + 3_000,
            actor: Some(app.admin_id),
            actor_role: ActorRole::Admin,
            action: "user.credit".into(),
            target: "balance".into(),
            target_id: Some(id.to_string()),
            subject: Some(id),
            detail: json!({"usd": "1.00", "reason": format!("goodwill for {name}")}).to_string(),
        })
        .await
        .unwrap();
    let hash = key.hash;
    let markers = vec![
        email.clone(),
        id.to_string(),
        key.id.to_string(),
        secret.clone(),
        key.visible_prefix.clone(),
        hex(&hash),
        base64_std(&hash),
        format!("subject-of-{name}"),
        payment,
        session,
        format!("pi_{name}"),
        format!("{name} Buyer"),
        format!("goodwill for {name}"),
        code,
    ];
    Seeded {
        id,
        email,
        secret,
        key_id: key.id,
        markers,
        usage_rows: rows,
    }
}

fn uuid_v7() -> String {
    RequestId::new().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every entry of a ZIP archive, by name.
fn entries(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).expect("a valid ZIP archive");
    let mut files = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        assert!(
            files
                .insert(entry.name().unwrap().into_owned(), bytes)
                .is_none(),
            "an entry twice"
        );
    }
    files
}

/// A small RFC 4180 reader: records of cells, quotes honoured, CRLF line ends.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CRLF line ends");
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        !quoted && cell.is_empty() && record.is_empty(),
        "the CSV ends with CRLF"
    );
    records
}

/// Checks every file `schema.json` lists against its fields; returns rows per file (1 for an
/// object, 0 for null) and asserts the archive holds nothing else.
fn check_against_schema(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, usize> {
    let schema: Value = serde_json::from_slice(&files["schema.json"]).expect("schema.json");
    let readme = std::str::from_utf8(&files["README.md"]).expect("README.md is UTF-8");
    let mut counts = BTreeMap::new();
    let mut listed: BTreeSet<String> = ["README.md", "schema.json"]
        .into_iter()
        .map(String::from)
        .collect();
    for file in schema["files"].as_array().unwrap() {
        let name = file["name"].as_str().unwrap();
        assert!(readme.contains(name), "README.md describes {name}");
        listed.insert(name.to_owned());
        let fields: Vec<&str> = file["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                for part in ["name", "type", "unit", "meaning"] {
                    assert!(f[part].is_string(), "{name}: a field without {part}");
                }
                f["name"].as_str().unwrap()
            })
            .collect();
        let field_set: BTreeSet<&str> = fields.iter().copied().collect();
        let bytes = files
            .get(name)
            .unwrap_or_else(|| panic!("{name} is listed in the schema but missing"));
        let text = std::str::from_utf8(bytes).unwrap();
        let objects: Vec<Value> = match file["format"].as_str().unwrap() {
            "json" => match serde_json::from_str::<Value>(text).expect(name) {
                Value::Array(rows) => rows,
                Value::Null => Vec::new(),
                object => vec![object],
            },
            "jsonl" => text
                .lines()
                .map(|line| serde_json::from_str(line).expect(name))
                .collect(),
            "csv" => {
                let records = parse_csv(text);
                assert_eq!(records[0], fields, "{name}: the header is the fields");
                for record in &records[1..] {
                    assert_eq!(record.len(), fields.len(), "{name}: a short record");
                }
                counts.insert(name.to_owned(), records.len() - 1);
                continue;
            }
            other => panic!("{name}: unknown format {other}"),
        };
        for object in &objects {
            let keys: BTreeSet<&str> = object
                .as_object()
                .unwrap_or_else(|| panic!("{name}: a row is not an object"))
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys, field_set,
                "{name}: the fields are exactly the schema's"
            );
        }
        counts.insert(name.to_owned(), objects.len());
    }
    let present: BTreeSet<String> = files.keys().cloned().collect();
    assert_eq!(
        present, listed,
        "the archive holds exactly what the schema lists"
    );
    counts
}

async fn download(app: &TestApp, secret: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/me/export"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
}

async fn ledger_count(app: &TestApp, user: UserId) -> usize {
    let mut count = 0;
    let mut before = None;
    loop {
        let page = app
            .store
            .transfers_of(&AccountId::user(user), before, 500)
            .await
            .unwrap();
        count += page.len();
        match page.last() {
            Some(last) if page.len() == 500 => before = Some(last.seq),
            _ => return count,
        }
    }
}

async fn the_archive_holds_all_of_one_users_data_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // More rows than one page (2,000), so the export follows a cursor.
    let ann = seed(&app, "ann", 2_345).await;
    let bob = seed(&app, "bob", 40).await;

    let response = download(&app, &ann.secret).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"switchyard-export-20")
            && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    let archive = response.bytes().await.unwrap();
    let files = entries(&archive);
    let counts = check_against_schema(&files);

    // The counts are the database's.
    assert_eq!(counts["usage.csv"], ann.usage_rows);
    assert_eq!(counts["usage.jsonl"], ann.usage_rows);
    let transfers = ledger_count(&app, ann.id).await;
    assert!(transfers >= 2, "a credit and a top-up at least");
    assert_eq!(counts["ledger.json"], transfers);
    assert_eq!(counts["ledger.csv"], transfers);
    assert_eq!(counts["payments.json"], 1);
    assert_eq!(counts["payments.csv"], 1);
    assert_eq!(counts["invoices.json"], 1);
    assert_eq!(counts["invoices.csv"], 1);
    assert_eq!(counts["identities.json"], 1);
    assert_eq!(
        counts["keys.json"],
        app.store.list_keys(Some(ann.id)).await.unwrap().len()
    );
    assert_eq!(counts["spend_limits.json"], 2);
    let audit = app
        .store
        .list_audit(&AuditFilter {
            subject: Some(ann.id),
            before: None,
            limit: 1_000,
        })
        .await
        .unwrap();
    assert!(!audit.is_empty());
    assert_eq!(counts["audit.json"], audit.len());

    // The content is Ann's, in the documented units.
    let profile: Value = serde_json::from_slice(&files["profile.json"]).unwrap();
    assert_eq!(profile["id"], ann.id.to_string());
    assert_eq!(profile["email"], ann.email);
    assert_eq!(profile["role"], "user");
    assert!(profile["created_at"].as_str().unwrap().ends_with('Z'));
    let keys: Value = serde_json::from_slice(&files["keys.json"]).unwrap();
    assert_eq!(keys[0]["id"], ann.key_id.to_string());
    assert_eq!(keys[0]["kind"], "standard");
    let payments: Value = serde_json::from_slice(&files["payments.json"]).unwrap();
    assert_eq!(payments[0]["amount_nanos"], 25_000_000_000i64);
    assert_eq!(payments[0]["amount_usd"], "25.00");
    assert_eq!(payments[0]["status"], "paid");
    let ledger: Value = serde_json::from_slice(&files["ledger.json"]).unwrap();
    let credited: i64 = ledger
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount_nanos"].as_i64().unwrap())
        .sum();
    assert_eq!(
        credited, 125_000_000_000,
        "100 USD of credit and a 25 USD top-up"
    );
    let audit_rows: Value = serde_json::from_slice(&files["audit.json"]).unwrap();
    assert_eq!(audit_rows[0]["by"], "admin");
    let usage = std::str::from_utf8(&files["usage.csv"]).unwrap();
    assert!(usage.contains("\"demo, \"\"chat\"\"\""), "quoted CSV cells");
    let ids: BTreeSet<String> = std::str::from_utf8(&files["usage.jsonl"])
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), ann.usage_rows, "every row once");

    // Nothing of Bob's, and no key's hash or secret, anywhere in the archive.
    let everything: String = files
        .values()
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    for marker in &bob.markers {
        assert!(
            !everything.contains(marker.as_str()),
            "Bob's `{marker}` is in Ann's archive"
        );
    }
    assert!(
        !everything.contains(&app.admin_id.to_string()),
        "the admin is not named"
    );
    let ann_key = app.store.key_by_id(ann.key_id).await.unwrap().unwrap();
    for secret in [
        hex(&ann_key.hash),
        base64_std(&ann_key.hash),
        ann.secret.clone(),
    ] {
        assert!(
            !everything.contains(&secret),
            "a key hash or secret is exported"
        );
    }
    // Bob's own archive is Bob's.
    let bobs = entries(&download(&app, &bob.secret).await.bytes().await.unwrap());
    let bob_counts = check_against_schema(&bobs);
    assert_eq!(bob_counts["usage.csv"], bob.usage_rows);
    let bob_profile: Value = serde_json::from_slice(&bobs["profile.json"]).unwrap();
    assert_eq!(bob_profile["email"], bob.email);

    // Without a key or a session: the API's error, not an archive.
    let anonymous = app
        .client
        .get(app.url("/api/me/export"))
        .send()
        .await
        .unwrap();
    expect_error(anonymous, 401, "invalid_api_key").await;
}

async fn a_second_export_of_a_user_waits_for_the_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Enough rows that the archive (a few MiB) cannot all wait in the channel and the
    // sockets while the first download is not read.
    let ann = seed(&app, "ann", 40_000).await;
    let bob = seed(&app, "bob", 10).await;
    let mut first = download(&app, &ann.secret).await;
    assert_eq!(first.status(), 200);
    let head = first.chunk().await.unwrap().expect("a first chunk");
    assert!(
        head.starts_with(b"PK"),
        "a ZIP starts with a local file header"
    );

    let second = download(&app, &ann.secret).await;
    let error = expect_error(second, 429, "too_many_attempts").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("already running")
    );
    // Another user is not held up.
    assert_eq!(download(&app, &bob.secret).await.status(), 200);

    // A client that goes away releases the slot.
    drop(first);
    let mut status = 0;
    for _ in 0..100 {
        let again = download(&app, &ann.secret).await;
        status = again.status().as_u16();
        if status == 200 {
            let files = entries(&again.bytes().await.unwrap());
            assert_eq!(check_against_schema(&files)["usage.csv"], ann.usage_rows);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status, 200,
        "the slot is released when the client disconnects"
    );
}

async fn the_channel_bounds_chunks_and_holds_the_reads_while_nobody_reads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = seed(&app, "ann", 12_000).await;
    let (mut chunks, task) =
        switchyard_server::export::spawn(app.store.clone(), ann.id, 1_760_000_000_000, ());
    // Nobody reads: the writer fills the channel and then waits, without finishing.
    let mut full = false;
    for _ in 0..200 {
        if chunks.len() == CHANNEL_CHUNKS {
            full = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(full, "the channel fills up");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(chunks.len(), CHANNEL_CHUNKS, "never more than its capacity");
    assert!(!task.is_finished(), "the writer waits for the reader");

    let mut archive = Vec::new();
    let mut largest = 0;
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.unwrap();
        assert!(
            !chunk.is_empty() && chunk.len() <= CHUNK_BYTES,
            "{}",
            chunk.len()
        );
        largest = largest.max(chunk.len());
        archive.extend_from_slice(&chunk);
    }
    let summary = task.await.unwrap().unwrap();
    assert_eq!(summary.bytes, archive.len() as u64);
    assert_eq!(summary.largest_chunk, largest);
    assert!(
        archive.len() > CHANNEL_CHUNKS * CHUNK_BYTES,
        "the archive outgrows the channel"
    );
    let counts = check_against_schema(&entries(&archive));
    assert_eq!(counts["usage.csv"], ann.usage_rows);
    assert!(
        summary
            .rows
            .contains(&("usage.jsonl".to_owned(), ann.usage_rows as u64))
    );

    // A reader that goes away ends the export.
    let (chunks, task) =
        switchyard_server::export::spawn(app.store.clone(), ann.id, 1_760_000_000_000, ());
    drop(chunks);
    let ended = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the writer stops")
        .unwrap();
    assert!(matches!(
        ended,
        Err(switchyard_server::export::ExportError::Closed)
    ));
}

async fn the_cli_writes_the_same_archive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = seed(&app, "ann", 2_100).await;
    let _bob = seed(&app, "bob", 5).await;
    let over_http = entries(&download(&app, &ann.secret).await.bytes().await.unwrap());

    let dir = std::env::temp_dir().join(format!("switchyard-export-cli-{}", RequestId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("ann.zip");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["export", "--user", &ann.email, "--out"])
        .arg(&out)
        .current_dir(&dir)
        .env("DATABASE_URL", app.database_url().unwrap())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "switchyard export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim(),
        out.display().to_string()
    );
    let from_cli = entries(&std::fs::read(&out).unwrap());
    check_against_schema(&from_cli);
    assert_eq!(
        from_cli.keys().collect::<Vec<_>>(),
        over_http.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &over_http {
        // Only the export time differs: it is written in the two documents.
        if name != "README.md" && name != "schema.json" {
            assert_eq!(&from_cli[name], bytes, "{name} differs");
        }
    }
    assert!(!dir.join("ann.zip.partial").exists());

    // An unknown user is an error on stderr, and no file.
    let missing = dir.join("nobody.zip");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["export", "--user", "nobody@example.com", "--out"])
        .arg(&missing)
        .current_dir(&dir)
        .env("DATABASE_URL", app.database_url().unwrap())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no user"));
    assert!(!missing.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
