//! Invoices end to end on both stores: the real server, the fake Stripe, signed webhook events.
//! A paid top-up gets exactly one invoice, numbers run without gaps across users, the buyer's
//! profile is printed, and the PDF is checked by rendering it with poppler (`pdftoppm`,
//! `pdftotext`), as a reader would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::expect_error;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;
use switchyard_testkit::stripe::{self, FakeStripe, WEBHOOK_SECRET, WEBHOOK_SECRET_ENV};

on_both_stores!(
    a_paid_top_up_yields_one_invoice_even_when_replayed,
    numbers_are_gapless_across_users,
    the_profile_is_printed_on_the_pdf,
    profiles_are_validated,
    a_foreign_invoice_is_not_found,
);

const SELLER: &str = "[invoices]\nseller_name = \"Switchyard Test Operator\"\n\
    seller_address = \"1 Rail Yard\\nTestville\"\nseller_vat_id = \"IE1234567T\"\n";

async fn spawn(backend: Backend) -> (TestApp, FakeStripe) {
    let fake = FakeStripe::spawn().await;
    let config = format!("{}{SELLER}", fake.config(WEBHOOK_SECRET_ENV));
    let app = TestApp::spawn_with(backend, &config).await;
    (app, fake)
}

async fn put_profile(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url("/api/billing/profile"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Starts a checkout for `usd`; returns the session id.
async fn checkout(app: &TestApp, key: &str, usd: &str) -> String {
    let response = app
        .post("/api/billing/checkout", key, &json!({"usd": usd}))
        .await;
    assert_eq!(response.status(), 200, "checkout failed");
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

/// Delivers a correctly signed event and expects Stripe's 2xx.
async fn deliver(app: &TestApp, event: &Value) -> Value {
    let payload = serde_json::to_vec(event).unwrap();
    let header = stripe::sign(&payload, WEBHOOK_SECRET, stripe::now_secs());
    let response = app
        .client
        .post(app.url("/api/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "webhook refused {event}");
    response.json().await.unwrap()
}

/// Checks out `usd` and delivers its completion; returns the session id.
async fn top_up(app: &TestApp, fake: &FakeStripe, key: &str, usd: &str, n: &str) -> String {
    let session = checkout(app, key, usd).await;
    let event = stripe::event(
        &format!("evt_{n}"),
        "checkout.session.completed",
        fake.paid_session(&session, &format!("pi_{n}")),
    );
    deliver(app, &event).await;
    session
}

async fn invoices(app: &TestApp, key: &str) -> Vec<Value> {
    app.get_json("/api/billing/invoices", key).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_paid_top_up_yields_one_invoice_even_when_replayed(backend: Backend) {
    let (app, fake) = spawn(backend).await;
    let (_, key) = app.user_with_key("payer@example.com", json!({})).await;
    assert!(invoices(&app, &key).await.is_empty());

    // A checkout that is never paid gets no invoice.
    checkout(&app, &key, "3.00").await;
    let session = checkout(&app, &key, "10").await;
    let paid = fake.paid_session(&session, "pi_replayed");
    let event = stripe::event("evt_paid", "checkout.session.completed", paid.clone());
    deliver(&app, &event).await;
    // The same event again, the same payment under a new event id, and by the other event type.
    deliver(&app, &event).await;
    deliver(
        &app,
        &stripe::event("evt_paid_again", "checkout.session.completed", paid.clone()),
    )
    .await;
    deliver(
        &app,
        &stripe::event(
            "evt_paid_async",
            "checkout.session.async_payment_succeeded",
            paid,
        ),
    )
    .await;

    let list = invoices(&app, &key).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let invoice = &list[0];
    assert_eq!(invoice["number"], "SY-000001");
    assert_eq!(invoice["sequence"], 1);
    assert_eq!(invoice["amount"]["usd"], "10.00");
    assert_eq!(invoice["amount"]["nanos"], 10_000_000_000_i64);
    assert_eq!(invoice["lines"][0]["description"], "Prepaid credit top-up");
    assert_eq!(invoice["pdf_url"], "/api/billing/invoices/SY-000001");
    let payment = app.store.payment_by_ref(&session).await.unwrap().unwrap();
    assert_eq!(invoice["payment"]["id"], payment.id.as_str());
    assert_eq!(invoice["payment"]["status"], "paid");
    assert_eq!(invoice["payment"]["amount"]["usd"], "10.00");
    assert_eq!(invoice["payment"]["refunded"]["usd"], "0.00");

    // A partial refund shows on the payment record; the invoice itself does not change.
    deliver(
        &app,
        &stripe::event(
            "evt_refund",
            "charge.refunded",
            stripe::refunded_charge("ch_1", "pi_replayed", 1000, 400),
        ),
    )
    .await;
    let list = invoices(&app, &key).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["payment"]["status"], "partially_refunded");
    assert_eq!(list[0]["payment"]["refunded"]["usd"], "4.00");
    assert_eq!(list[0]["amount"]["usd"], "10.00");
    assert_eq!(list[0]["id"], invoice["id"]);
}

async fn numbers_are_gapless_across_users(backend: Backend) {
    let (app, fake) = spawn(backend).await;
    let (alice_id, alice) = app.user_with_key("alice@example.com", json!({})).await;
    let (_, bob) = app.user_with_key("bob@example.com", json!({})).await;
    top_up(&app, &fake, &alice, "5", "a1").await;
    top_up(&app, &fake, &bob, "6", "b1").await;
    // A replay between them takes no number.
    top_up(&app, &fake, &alice, "7", "a2").await;
    let numbers = |list: Vec<Value>| -> Vec<String> {
        list.iter()
            .map(|i| i["number"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        numbers(invoices(&app, &alice).await),
        ["SY-000003", "SY-000001"]
    );
    assert_eq!(numbers(invoices(&app, &bob).await), ["SY-000002"]);
    top_up(&app, &fake, &bob, "8", "b2").await;
    assert_eq!(
        numbers(invoices(&app, &bob).await),
        ["SY-000004", "SY-000002"]
    );
    // An admin may list anyone's; a user may not list another's.
    let admin = app.admin_key.clone();
    let listed = app
        .get_json(&format!("/api/billing/invoices?user_id={alice_id}"), &admin)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    expect_error(
        app.get(&format!("/api/billing/invoices?user_id={alice_id}"), &bob)
            .await,
        403,
        "admin_required",
    )
    .await;
}

async fn profiles_are_validated(backend: Backend) {
    let (app, _fake) = spawn(backend).await;
    let (_, key) = app.user_with_key("vat@example.com", json!({})).await;
    let empty = app.get_json("/api/billing/profile", &key).await;
    assert_eq!(empty["company"], "");
    assert_eq!(empty["updated_at"], Value::Null);

    let response = put_profile(
        &app,
        &key,
        &json!({"company": "  Acme GmbH ", "vat_id": "de 123.456-789", "country": "DE"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let saved = app.get_json("/api/billing/profile", &key).await;
    assert_eq!(saved["company"], "Acme GmbH");
    assert_eq!(saved["vat_id"], "DE123456789", "normalised");
    assert_eq!(saved["name"], "");
    assert!(saved["updated_at"].is_i64());

    for (body, param) in [
        (json!({"vat_id": "123456789"}), "vat_id"),
        (json!({"vat_id": "DE1"}), "vat_id"),
        (json!({"vat_id": "DE12345678901234"}), "vat_id"),
        (json!({"vat_id": "DE12_34"}), "vat_id"),
        (json!({"company": "x".repeat(201)}), "company"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"address": "y".repeat(501)}), "address"),
    ] {
        let error =
            expect_error(put_profile(&app, &key, &body).await, 400, "invalid_request").await;
        assert_eq!(error["param"], param, "{body}");
    }
    expect_error(
        put_profile(&app, &key, &json!({"nickname": "x"})).await,
        400,
        "invalid_request",
    )
    .await;
    // Refused writes left the profile alone.
    assert_eq!(app.get_json("/api/billing/profile", &key).await, saved);
    expect_error(
        app.get("/api/billing/profile", "sy-nope").await,
        401,
        "invalid_api_key",
    )
    .await;
}

async fn the_profile_is_printed_on_the_pdf(backend: Backend) {
    let (app, fake) = spawn(backend).await;
    let (_, key) = app.user_with_key("buyer@example.com", json!({})).await;
    let response = put_profile(
        &app,
        &key,
        &json!({
            "name": "Grace Hopper",
            "company": "Compilers Müller GmbH",
            "vat_id": "DE123456789",
            "address": "Hauptstraße 1\n10115 Berlin",
            "country": "Germany",
        }),
    )
    .await;
    assert_eq!(response.status(), 200);
    top_up(&app, &fake, &key, "10", "pdf").await;
    let list = invoices(&app, &key).await;
    assert_eq!(list[0]["buyer"]["company"], "Compilers Müller GmbH");
    assert_eq!(list[0]["buyer"]["vat_id"], "DE123456789");

    let response = app.get("/api/billing/invoices/SY-000001", &key).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"SY-000001.pdf\""
    );
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");
    // The bare sequence number and the file name address the same document.
    for alias in ["1", "SY-000001.pdf"] {
        let again = app
            .get(&format!("/api/billing/invoices/{alias}"), &key)
            .await;
        assert_eq!(again.status(), 200, "{alias}");
        assert_eq!(again.bytes().await.unwrap(), pdf, "{alias}");
    }

    let dir = scratch_dir(list[0]["id"].as_str().unwrap());
    let file = dir.join("invoice.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = pdf_text(&file);
    for expected in [
        "INVOICE",
        "SY-000001",
        "Compilers Müller GmbH",
        "Grace Hopper",
        "DE123456789",
        "Hauptstraße 1",
        "10115 Berlin",
        "Prepaid credit top-up",
        "10.00",
        "Switchyard Test Operator",
        "IE1234567T",
        // Issued today, in UTC.
        list[0]["issue_date"].as_str().unwrap(),
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    let (width, height, inked) = render_page_one(&file, &dir);
    // A4 (595 × 842 pt) at 50 dpi, which poppler rounds up.
    assert_eq!((width, height), (414, 585));
    let share = inked as f64 / (width * height) as f64;
    assert!(
        share > 0.005 && share < 0.2,
        "page 1 looks blank or black: {inked} dark pixels"
    );

    // An issued invoice does not change when the profile does.
    let response = put_profile(&app, &key, &json!({"company": "Renamed Ltd"})).await;
    assert_eq!(response.status(), 200);
    let again = app.get("/api/billing/invoices/SY-000001", &key).await;
    assert_eq!(again.bytes().await.unwrap(), pdf);
    if std::env::var_os("SWITCHYARD_KEEP_INVOICE").is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

async fn a_foreign_invoice_is_not_found(backend: Backend) {
    let (app, fake) = spawn(backend).await;
    let (_, alice) = app.user_with_key("alice@example.com", json!({})).await;
    let (_, bob) = app.user_with_key("bob@example.com", json!({})).await;
    top_up(&app, &fake, &alice, "10", "mine").await;

    let foreign = expect_error(
        app.get("/api/billing/invoices/SY-000001", &bob).await,
        404,
        "resource_not_found",
    )
    .await;
    let missing = expect_error(
        app.get("/api/billing/invoices/SY-000099", &bob).await,
        404,
        "resource_not_found",
    )
    .await;
    // Someone else's invoice and no invoice at all read the same.
    assert_eq!(
        foreign["message"].as_str().unwrap().replace("000001", "N"),
        missing["message"].as_str().unwrap().replace("000099", "N")
    );
    for bad in ["SY-", "banana", "SY-00x1"] {
        expect_error(
            app.get(&format!("/api/billing/invoices/{bad}"), &alice)
                .await,
            404,
            "resource_not_found",
        )
        .await;
    }
    assert!(invoices(&app, &bob).await.is_empty());
    // The owner and an admin may read it.
    let owner = app.get("/api/billing/invoices/SY-000001", &alice).await;
    assert_eq!(owner.status(), 200);
    let admin = app
        .get("/api/billing/invoices/SY-000001", &app.admin_key)
        .await;
    assert_eq!(admin.status(), 200);
    assert!(admin.bytes().await.unwrap().starts_with(b"%PDF"));
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-invoice-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The PDF's text as `pdftotext` (poppler-utils) extracts it.
fn pdf_text(file: &Path) -> String {
    let output = Command::new("pdftotext")
        .arg("-layout")
        .arg(file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed; .ci/run installs it");
    assert!(output.status.success(), "pdftotext failed: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Renders page 1 with `pdftoppm -png -r 50`; returns its size and how many pixels are dark.
fn render_page_one(file: &Path, dir: &Path) -> (u32, u32, usize) {
    let stem = dir.join("page");
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile"])
        .arg(file)
        .arg(&stem)
        .status()
        .expect("pdftoppm (poppler-utils) is installed; .ci/run installs it");
    assert!(status.success(), "pdftoppm failed");
    let png = std::fs::File::open(stem.with_extension("png")).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(png))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    let inked = pixels[..frame.buffer_size()]
        .chunks(channels)
        .filter(|pixel| pixel.iter().take(3).any(|&v| v < 128))
        .count();
    (frame.width, frame.height, inked)
}
