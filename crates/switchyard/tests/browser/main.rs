//! The dashboard as people use it, in headless Chromium, on both stores: a consumer signs up,
//! confirms the address from the emailed link, makes a key, calls the API with it through the
//! official OpenAI SDK, and sees the request in Usage and the balance drop on Overview; an
//! operator uses the console; the CSRF defence holds in a real browser; pages switch language.
//! Every page visited is saved as a screenshot under `target/tmp/screenshots/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

#[path = "../common/mod.rs"]
mod common;
mod driver;

use driver::Browser;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    consumer_journey,
    operator_console,
    csrf_and_languages,
    oidc_signin,
    operator_adds_a_model,
    a_person_leaves_and_comes_back,
    content_logging_on_the_keys_page,
);

const PASSWORD: &str = "correct horse battery staple";

/// New accounts get $5, so the consumer can call the API before any top-up.
const WELCOME: &str = "[promotions]\nnew_user_credit_usd = 5\n";

fn catalogue(lang: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../switchyard-server/src/ui/web/i18n/{lang}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn python() -> PathBuf {
    let python = std::env::var_os("SWITCHYARD_TEST_PYTHON").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "no Python at {}: run `make test`",
        python.display()
    );
    python
}

/// Calls chat completions through the official OpenAI SDK, as the person would from their code.
fn sdk_chat(base: &str, key: &str, model: &str) -> String {
    let script = r#"
import os, openai
client = openai.OpenAI(base_url=os.environ["BASE"] + "/v1", api_key=os.environ["KEY"])
reply = client.chat.completions.create(model=os.environ["MODEL"], messages=[{"role": "user", "content": "Hello from the browser test"}])
print(reply.choices[0].message.content)
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .env("BASE", base)
        .env("KEY", key)
        .env("MODEL", model)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the SDK call failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn sign_up(b: &Browser, email: &str) {
    b.goto("/app/").await;
    b.wait_path("/app/signin").await;
    b.click("a[href='/app/signup']").await;
    b.fill("#email", email).await;
    b.fill("#password", PASSWORD).await;
    b.click("#signup button[type=submit]").await;
    b.wait_text("h1", "Overview").await;
}

async fn sign_in(b: &Browser, email: &str, password: &str) {
    b.goto("/app/signin").await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("#signin button[type=submit]").await;
    b.wait_text("h1", "Overview").await;
}

/// Reloads a page until `css` shows `wanted`: the request log is written off the request path.
async fn reload_until(b: &Browser, path: &str, css: &str, wanted: &str) -> String {
    let started = Instant::now();
    loop {
        b.goto(path).await;
        b.find("h1").await;
        if let Ok(element) = b.client.find(fantoccini::Locator::Css(css)).await
            && let Ok(text) = element.text().await
            && text.contains(wanted)
        {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{path} never showed {wanted:?} in {css}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn dollars(text: &str) -> f64 {
    text.trim()
        .trim_start_matches('$')
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("an amount: {text:?}"))
}

async fn consumer_journey(backend: Backend) {
    let app = TestApp::spawn_with(backend, WELCOME).await;
    let b = Browser::start(&app.base_url, &format!("{backend:?}/consumer")).await;
    let email = "ada@example.com";

    // Sign up; the account opens on Overview with the welcome credit.
    b.goto("/app/").await;
    b.wait_path("/app/signin").await;
    b.screenshot("01-signin").await;
    sign_up(&b, email).await;
    assert_eq!(dollars(&b.text("#balance").await), 5.0);
    b.find(".notice #resend").await; // the address is not confirmed yet
    b.screenshot("02-overview-new").await;

    // Confirm the address with the emailed link.
    let mail = app.outbox.last_to(email).expect("a verification mail");
    let link = mail
        .link
        .strip_prefix(&app.base_url)
        .expect("a link to this server")
        .to_owned();
    b.goto(&link).await;
    b.wait_text("#verify-state", "confirmed").await;
    b.screenshot("03-verified").await;

    // Make a key; it is shown once.
    b.goto("/app/keys").await;
    b.fill("#key-name", "laptop").await;
    b.click("#create-key button[type=submit]").await;
    let key = b.text("#new-key").await;
    assert!(key.starts_with("sk-"), "a key: {key}");
    b.wait_text("#key-list", "laptop").await;
    b.screenshot("04-keys").await;

    // Use it from code, through the official SDK.
    let answer = sdk_chat(&app.base_url, &key, "mock-chat");
    assert!(!answer.trim().is_empty());

    // The request is in Usage and the balance dropped on Overview.
    let usage = reload_until(&b, "/app/usage", "#usage-rows", "mock-chat").await;
    assert!(
        usage.contains("laptop"),
        "the key's name in the row: {usage}"
    );
    // The per-request receipt of where it was processed (the mock provider is in the US).
    assert!(usage.contains("US"), "the jurisdiction in the row: {usage}");
    b.screenshot("05-usage").await;
    let balance = reload_until(&b, "/app/", "#requests", "1").await;
    let _ = balance;
    let shown = dollars(&b.text("#balance").await);
    assert!(
        shown < 5.0 && shown > 4.9,
        "the balance dropped a little: {shown}"
    );
    b.screenshot("06-overview-after").await;

    // The other pages render for a consumer.
    for (path, name, marker, shows) in [
        ("/app/billing", "07-billing", "#ledger", "Welcome credit"),
        ("/app/models", "08-models", "#catalogue", "mock-chat"),
        (
            "/app/settings",
            "09-settings",
            "#password",
            "Change password",
        ),
        ("/app/data", "10-data", "#export", "Export my data"),
    ] {
        b.goto(path).await;
        b.wait_text(marker, shows).await;
        b.screenshot(name).await;
    }

    // The playground streams an answer with the account's own short-lived key.
    b.goto("/app/playground").await;
    b.fill("#pg-input", "Say something").await;
    b.click("#pg-form button[type=submit]").await;
    b.wait_text(".msg.assistant .text", " ").await;
    b.screenshot("11-playground").await;

    // On a phone the navigation folds behind the menu button.
    b.resize(390, 844).await;
    b.goto("/app/").await;
    b.find("#balance").await;
    let nav_shown = b
        .client
        .find(fantoccini::Locator::Css("#nav"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(!nav_shown, "the navigation is folded away on a phone");
    b.screenshot("12-phone-overview").await;
    b.click(".menu").await;
    b.find("#nav a[href='/app/keys']").await;
    b.screenshot("13-phone-menu").await;
    b.close().await;
}

async fn operator_console(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice_id, alice_key) = app
        .user_with_key("alice@example.com", json!({"name": "alice"}))
        .await;
    // The first admin sets a dashboard password through the link printed at first start.
    let b = Browser::start(&app.base_url, &format!("{backend:?}/operator")).await;
    b.goto(&app.admin_password_link).await;
    b.wait_path("/app/reset-password").await;
    b.fill("#password", "operator password 1").await;
    b.click("#reset button[type=submit]").await;
    b.wait_path("/app/signin").await;
    sign_in(&b, switchyard::app::BOOTSTRAP_EMAIL, "operator password 1").await;
    // The link works once.
    let token = app.admin_password_link.split("token=").nth(1).unwrap();
    let again = app
        .client
        .post(app.url("/api/auth/reset"))
        .json(&json!({"token": token, "password": "another password 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400, "a used link is refused");

    // System view.
    b.click("#nav a[href='/app/admin/system']").await;
    b.find("#rps").await;
    b.screenshot("01-system").await;

    // Users: find alice, credit her with a reason.
    b.goto("/app/admin/users?q=alice").await;
    b.wait_text("#users", "alice@example.com").await;
    b.screenshot("02-users").await;
    b.click(&format!("[data-credit='{alice_id}']")).await;
    b.fill("#credit-usd", "2.50").await;
    b.fill("#credit-reason", "goodwill for the outage").await;
    b.click("#credit button[type=submit]").await;
    b.wait_text("#toasts", "Credited").await;
    let ledger: Value = app
        .client
        .get(app.url("/api/billing/ledger"))
        .bearer_auth(&alice_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ledger.to_string().contains("goodwill for the outage"),
        "the reason is in alice's ledger: {ledger}"
    );

    // Providers: reweight a channel; the API reports it.
    b.goto("/app/admin/providers").await;
    let weight = "tr[data-channel='mock-chat/mock'] input[data-field=weight]";
    b.find(weight).await;
    // Typed as a person does: the value changes, then the field reports one `change`.
    b.eval(&format!(
        "const i = document.querySelector(\"{weight}\"); i.value = '7'; i.dispatchEvent(new Event('change'));"
    ))
    .await;
    b.wait_text("#toasts", "Saved").await;
    b.screenshot("03-providers").await;
    let channels: Value = app
        .client
        .get(app.url("/api/channels"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = channels["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "mock-chat")
        .unwrap();
    assert_eq!(row["weight"], 7);

    // Codes: a batch of three, shown once; one redeems for alice.
    b.goto("/app/admin/codes").await;
    b.fill("#c-count", "3").await;
    b.fill("#c-usd", "1.00").await;
    b.click("#codes button[type=submit]").await;
    let codes = b
        .find("#batch textarea")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    let codes: Vec<&str> = codes.lines().collect();
    assert_eq!(codes.len(), 3);
    b.screenshot("04-codes").await;
    let redeemed = app
        .client
        .post(app.url("/api/billing/redeem"))
        .bearer_auth(&alice_key)
        .json(&json!({"code": codes[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(redeemed.status(), 200);

    // Disable alice: her key stops working.
    b.goto("/app/admin/users?q=alice").await;
    b.client
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    b.click(&format!("[data-toggle='{alice_id}']")).await;
    b.wait_text("#users", "Disabled").await;
    b.screenshot("05-user-disabled").await;
    let refused = app
        .post(
            "/v1/chat/completions",
            &alice_key,
            &common::chat("mock-chat", "hi"),
        )
        .await;
    assert!(
        matches!(refused.status().as_u16(), 401 | 403),
        "a disabled user's key is refused: {}",
        refused.status()
    );
    b.close().await;
}

async fn csrf_and_languages(backend: Backend) {
    let app = TestApp::spawn_with(backend, WELCOME).await;
    let b = Browser::start(&app.base_url, &format!("{backend:?}/csrf-lang")).await;
    sign_up(&b, "csrf@example.com").await;

    // A state-changing call without the CSRF token is refused, even from our own page with
    // the session cookie; with the token it works.
    let create_key = |with_token: bool| {
        format!(
            r#"const done = arguments[arguments.length - 1];
            (async () => {{
              const me = await (await fetch("/api/auth/me")).json();
              const headers = {{"content-type": "application/json"}};
              if ({with_token}) headers["x-csrf-token"] = me.csrf_token;
              const res = await fetch("/api/keys", {{method: "POST", headers, body: JSON.stringify({{name: "x"}})}});
              done(res.status);
            }})();"#
        )
    };
    let without = b.eval_async(&create_key(false)).await;
    assert_eq!(without, json!(403), "no CSRF token: refused");
    let with = b.eval_async(&create_key(true)).await;
    assert_eq!(with, json!(201), "with the token: created");

    // Languages: `?lang=` for a visitor, the profile's choice once signed in.
    let zh = catalogue("zh");
    b.goto("/app/models?lang=zh").await;
    b.wait_text("h1", zh["nav.models"].as_str().unwrap()).await;
    assert_eq!(
        b.eval("return document.documentElement.lang").await,
        json!("zh")
    );
    b.screenshot("01-models-zh").await;
    b.goto("/app/settings").await;
    b.find("#language").await;
    b.eval("document.querySelector('#language').value = 'ko';")
        .await;
    b.click("#profile button[type=submit]").await;
    let ko = catalogue("ko");
    b.wait_text("#nav", ko["nav.overview"].as_str().unwrap())
        .await;
    b.goto("/app/usage").await;
    b.wait_text("h1", ko["nav.usage"].as_str().unwrap()).await;
    b.screenshot("02-usage-ko").await;
    for lang in ["ru", "tr"] {
        let strings = catalogue(lang);
        b.goto(&format!("/app/keys?lang={lang}")).await;
        b.wait_text("h1", strings["nav.keys"].as_str().unwrap())
            .await;
        b.screenshot(&format!("03-keys-{lang}")).await;
    }
    b.close().await;
}

async fn oidc_signin(backend: Backend) {
    use switchyard_testkit::oidc::{CLIENT_SECRET, CLIENT_SECRET_ENV, Client, FakeOidc, Fault};
    const CLIENT_ID: &str = "switchyard.browser.example.test";
    let idp = FakeOidc::spawn(Client::new(CLIENT_ID, CLIENT_SECRET, Vec::<String>::new())).await;
    let config = format!(
        "[[oidc]]\nid = \"fake\"\nname = \"Example ID\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_env = \"{CLIENT_SECRET_ENV}\"\n",
        idp.issuer()
    );
    let app = TestApp::spawn_with(backend, &config).await;
    idp.add_redirect_uri(app.url("/api/auth/oidc/fake/callback"));
    idp.set_user("subject-grace", "grace@example.com", true, "Grace");
    let b = Browser::start(&app.base_url, &format!("{backend:?}/oidc")).await;

    // The provider's button signs a new person in and makes their account.
    b.goto("/app/signin").await;
    b.wait_text("[data-idp='fake']", "Example ID").await;
    b.screenshot("01-signin-buttons").await;
    b.click("[data-idp='fake']").await;
    b.wait_text("h1", "Overview").await;
    b.wait_text(".who", "grace@example.com").await;
    b.goto("/app/settings").await;
    b.wait_text("#identities", "Example ID").await;
    b.screenshot("02-settings-identity").await;

    // A token from the wrong issuer is refused; the page says sign-in failed, and no session.
    b.click("#signout").await;
    b.wait_path("/app/signin").await;
    idp.fail_next(Fault::WrongIssuer);
    b.click("[data-idp='fake']").await;
    b.wait_path("/app/signin?error=id_token_issuer").await;
    b.wait_text(".notice.error", "did not work").await;
    b.screenshot("03-refused").await;
    let me = b
        .eval_async(
            "const done = arguments[arguments.length - 1]; fetch('/api/auth/me').then(r => done(r.status));",
        )
        .await;
    assert_eq!(me, json!(401), "no session after a refused token");

    // Signing in again lands on the same account (keyed by issuer and subject).
    b.click("[data-idp='fake']").await;
    b.wait_text(".who", "grace@example.com").await;
    b.close().await;
}

async fn operator_adds_a_model(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = Browser::start(&app.base_url, &format!("{backend:?}/catalog")).await;
    b.goto(&app.admin_password_link).await;
    b.fill("#password", "operator password 1").await;
    b.click("#reset button[type=submit]").await;
    b.wait_path("/app/signin").await;
    sign_in(&b, switchyard::app::BOOTSTRAP_EMAIL, "operator password 1").await;

    // A provider: the test kit's mock upstream, in Germany, declaring no training or retention.
    let secret = app.mock.api_key().to_owned();
    b.goto("/app/admin/catalog").await;
    b.fill("#p-name", "acme").await;
    b.fill("#p-url", &app.mock.base_url()).await;
    b.fill("#p-key", &secret).await;
    b.fill("#p-jurisdiction", "DE").await;
    b.eval("document.querySelector('#p-trains_on_prompts').value = 'false'; document.querySelector('#p-retains_prompts').value = 'false';").await;
    b.click("#add-provider button[type=submit]").await;
    let row = b.wait_text("tr[data-provider='acme']", "DE").await;
    let last4 = &secret[secret.len() - 4..];
    assert!(row.contains(last4), "the key's last four characters: {row}");
    assert!(
        !b.text("main").await.contains(&secret),
        "the key is never shown"
    );
    b.click("[data-test='acme']").await;
    b.wait_text("#toasts", "Connected").await;

    // A model on it, with its prices.
    b.fill("#m-name", "acme-chat").await;
    b.eval("document.querySelector('#m-provider').value = 'acme';")
        .await;
    b.fill("#m-upstream", "mock-gpt").await;
    b.fill("#m-input", "1.00").await;
    b.fill("#m-output", "2.00").await;
    b.click("#add-model button[type=submit]").await;
    b.wait_text("#model-list", "acme-chat").await;
    // Its output price changes in place.
    b.click("[data-edit-model='acme-chat']").await;
    b.fill("#em-output", "2.50").await;
    b.click("#edit-model button[type=submit]").await;
    b.wait_text("tr[data-model='acme-chat']", "2.5").await;
    b.screenshot("01-catalogue").await;

    // A consumer sees it in their catalogue, with its jurisdiction and practices, and can use it.
    b.click("#signout").await;
    b.wait_path("/app/signin").await;
    sign_up(&b, "bob@example.com").await;
    b.goto("/app/models").await;
    let row = b.wait_text("tr[data-model='acme-chat']", "acme").await;
    assert!(
        row.contains("DE") && row.contains("$1.00") && row.contains("No training"),
        "{row}"
    );
    b.screenshot("02-consumer-catalogue").await;
    let (_, key) = app
        .user_with_key("carol@example.com", json!({"name": "c"}))
        .await;
    let answer = sdk_chat(&app.base_url, &key, "acme-chat");
    assert!(!answer.trim().is_empty());
    b.close().await;
}

/// The "your data" page: a person shortens their own retention, deletes the account with the
/// password, is told at sign-in that it is scheduled for deletion, and keeps it.
async fn a_person_leaves_and_comes_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, WELCOME).await;
    let b = Browser::start(&app.base_url, &format!("{backend:?}/leave")).await;
    sign_up(&b, "leaving@example.com").await;
    b.goto("/app/data").await;
    b.wait_text("#kept", "365").await;
    b.fill("#usage_log_days", "30").await;
    b.click("#retention button[type=submit]").await;
    b.wait_text("#kept", "30 days").await;
    b.screenshot("10-data-kept").await;
    let user: switchyard_core::UserId = b
        .eval_async(
            r#"const done = arguments[arguments.length - 1];
            fetch("/api/auth/me").then((r) => r.json()).then((me) => done(me.user.id));"#,
        )
        .await
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let state = app.store.privacy_state(user).await.unwrap().unwrap();
    assert_eq!(state.windows.usage_log_days, Some(30));

    // A wrong password deletes nothing; the right one does, after the browser's confirm.
    b.eval("window.confirm = () => true; return null").await;
    b.fill("#delete-password", "not my password").await;
    b.click("#delete").await;
    b.wait_text("#delete-account .form-error", "password").await;
    b.fill("#delete-password", PASSWORD).await;
    b.click("#delete").await;
    b.wait_path("/app/signin").await;
    b.wait_text(".notice", "scheduled for deletion").await;
    b.screenshot("11-deleted").await;
    let state = app.store.privacy_state(user).await.unwrap().unwrap();
    assert!(state.deletion_requested_at.is_some());

    b.fill("#email", "leaving@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.click("#signin button[type=submit]").await;
    b.wait_text("#signin .form-error", "scheduled for deletion")
        .await;
    b.click("#restore").await;
    b.wait_text("h1", "Overview").await;
    let state = app.store.privacy_state(user).await.unwrap().unwrap();
    assert_eq!(state.deletion_requested_at, None);

    // Rectification: a new address, proved by the link mailed to it.
    b.goto("/app/settings").await;
    b.fill("#new-email", "arrived@example.com").await;
    b.fill("#email-password", PASSWORD).await;
    b.click("#email-change button[type=submit]").await;
    b.wait_text(".toast", "new address").await;
    let mail = app.outbox.last_to("arrived@example.com").unwrap();
    let path = mail
        .link
        .split_once("/app/")
        .map(|(_, rest)| format!("/app/{rest}"))
        .unwrap();
    b.goto(&path).await;
    b.wait_text("#confirm-state", "arrived@example.com").await;
    assert_eq!(
        app.store.user_by_id(user).await.unwrap().unwrap().email,
        "arrived@example.com"
    );

    // The operator publishes terms: the person is asked to accept them on Overview, and a
    // newcomer accepts them at sign-up.
    let now_s = switchyard_gateway::pipeline_now_millis() / 1000;
    let published = app
        .post(
            "/api/admin/terms",
            &app.admin_key,
            &json!({"kind": "terms", "version": "v1", "summary": "Plain words.", "effective_at": now_s}),
        )
        .await;
    assert_eq!(published.status(), 201);
    b.goto("/app/").await;
    b.wait_text("[data-pending='terms']", "Plain words.").await;
    b.click("[data-accept='terms']").await;
    // Accepting re-renders Overview without the notice; the acceptance is stored first.
    let started = Instant::now();
    while app.store.consents_of(user).await.unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the acceptance was never stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.wait_text("h1", "Overview").await;
    b.click("#signout").await;
    b.wait_path("/app/signin").await;
    b.goto("/app/signup").await;
    b.fill("#email", "newcomer@example.com").await;
    b.fill("#password", PASSWORD).await;
    b.click("#signup button[type=submit]").await;
    b.wait_text("#signup .form-error", "Accept").await;
    b.click("#accept_terms").await;
    b.click("#signup button[type=submit]").await;
    b.wait_text("h1", "Overview").await;
    b.screenshot("12-terms-accepted-at-signup").await;
    b.close().await;
}

/// Content logging on the keys page: every key shows it off; an operator turns it on with the
/// key's switch; on a deployment that says `never` the switch is disabled and says why.
async fn content_logging_on_the_keys_page(backend: Backend) {
    let strings = catalogue("en");
    let text = |key: &str| strings[key].as_str().unwrap().to_owned();
    for never in [false, true] {
        let config = if never {
            "[privacy]\ncontent_logging = \"never\"\n"
        } else {
            ""
        };
        let app = TestApp::spawn_with(backend, config).await;
        app.user_with_key("carol@example.com", json!({"name": "carol"}))
            .await;
        let key_id = app.store.list_keys(None).await.unwrap()[0].id;
        let b = Browser::start(&app.base_url, &format!("{backend:?}/content-{never}")).await;
        b.goto(&app.admin_password_link).await;
        b.wait_path("/app/reset-password").await;
        b.fill("#password", "operator password 1").await;
        b.click("#reset button[type=submit]").await;
        b.wait_path("/app/signin").await;
        sign_in(&b, switchyard::app::BOOTSTRAP_EMAIL, "operator password 1").await;
        b.goto("/app/keys").await;
        let row = format!("tr[data-key='{key_id}']");
        b.wait_text(&row, "carol").await;
        if never {
            b.wait_text(&row, &text("keys.content_locked")).await;
            b.wait_text("#content-locked", &text("keys.content_locked"))
                .await;
            let switches = b
                .eval(
                    "const boxes = [...document.querySelectorAll('#key-list input[type=checkbox]')];\
                     return [boxes.length > 0, boxes.every((box) => box.disabled)];",
                )
                .await;
            assert_eq!(switches, json!([true, true]), "every switch is disabled");
            b.eval("document.querySelector('#key-list').scrollIntoView(); return true;")
                .await;
            b.screenshot("content-locked").await;
        } else {
            b.wait_text(&row, &text("keys.content_off")).await;
            b.click(&format!("[data-content='{key_id}']")).await;
            b.wait_text("#toasts", &text("keys.content_on_toast")).await;
            b.wait_text(&row, &text("keys.content_on")).await;
            let stored = app.store.key_by_id(key_id).await.unwrap().unwrap();
            assert!(stored.log_content, "the switch turned it on");
            b.screenshot("content-on").await;
        }
        b.close().await;
    }
}
