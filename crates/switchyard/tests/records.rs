//! Over HTTP on both stores: the audit log records every write without secrets; the profile's
//! changes and a change of address are kept as history (rectification); the privacy notice
//! follows the running configuration and only the session cookie is ever set; terms and
//! privacy versions are announced ahead, mailed, and accepted (docs/privacy.md).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::expect_error;
use common::session::{Browser, PASSWORD, browser, key_of, post_json, request, signin, signup};
use serde_json::{Value, json};
use switchyard_gateway::pipeline_now_millis;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    every_write_is_in_the_audit_log_without_secrets,
    the_notice_follows_the_running_configuration,
    new_terms_are_announced_ahead_and_accepted,
    the_email_address_changes_only_through_the_new_addresss_link,
);

async fn every_write_is_in_the_audit_log_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "audited@example.com").await;
    // Rectification: the profile's change history, before and after.
    for name in ["Ada", "Ada L."] {
        let response = request(&app, &b, reqwest::Method::PATCH, "/api/auth/profile")
            .json(&json!({"display_name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let key = key_of(&app, &b).await;
    // An operator's changes: a provider with a credential, a credit, a disabled account.
    let secret = "sk-audit-trail-0123456789abcdef";
    let provider = app
        .post(
            "/api/admin/providers",
            &app.admin_key,
            &json!({"name": "acme", "kind": "openai", "base_url": app.mock.base_url(), "api_key": secret}),
        )
        .await;
    assert_eq!(provider.status(), 201);
    let credit = app
        .post(
            &format!("/api/admin/users/{}/credit", b.user),
            &app.admin_key,
            &json!({"usd": "2.50", "reason": "goodwill"}),
        )
        .await;
    assert!(credit.status().is_success(), "{}", credit.status());
    let disabled = app
        .client
        .patch(app.url(&format!("/api/admin/users/{}", b.user)))
        .bearer_auth(&app.admin_key)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    // A refused write is not an entry.
    let refused = app
        .post("/api/admin/providers", &key, &json!({"name": "nope"}))
        .await;
    assert_eq!(
        refused.status(),
        403,
        "the disabled account's key is refused"
    );

    let all: Value = app
        .client
        .get(app.url("/api/admin/audit?limit=200"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = all.to_string();
    assert!(!text.contains(secret), "a credential reached the audit log");
    assert!(!text.contains(PASSWORD), "a password reached the audit log");
    assert!(!text.contains(&key), "an API key reached the audit log");
    let entries = all["data"].as_array().unwrap();
    let find = |target: &str, action: &str| {
        entries
            .iter()
            .filter(|e| e["target"] == target && e["action"] == action)
            .collect::<Vec<_>>()
    };
    let profile: Vec<&Value> = find("user", "update")
        .into_iter()
        .filter(|e| e["detail"].get("changes").is_some())
        .collect();
    let renames: Vec<&Value> = profile
        .iter()
        .filter_map(|e| e["detail"]["changes"].get("display_name"))
        .collect();
    assert_eq!(
        renames,
        [
            &json!({"from": "Ada", "to": "Ada L."}),
            &json!({"from": null, "to": "Ada"}),
        ]
    );
    assert!(profile.iter().all(|e| e["actor_role"] == "user"));
    let provider = find("provider", "create");
    assert_eq!(provider.len(), 1);
    assert_eq!(provider[0]["actor_role"], "admin");
    let credit = find("balance", "create");
    assert_eq!(credit.len(), 1);
    assert_eq!(credit[0]["subject_id"], json!(b.user.to_string()));
    let disable = find("user", "update")
        .into_iter()
        .filter(|e| e["actor_role"] == "admin")
        .count();
    assert_eq!(disable, 1);
    assert_eq!(find("key", "create").len(), 1);
    assert_eq!(
        find("other", "create").len(),
        0,
        "every route names its target"
    );
}

async fn the_notice_follows_the_running_configuration(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        "[retention]\nclient_ip_days = 14\nusage_log_days = 60\ndeleted_account_days = 7\n",
    )
    .await;
    let notice = |path: &'static str| app.client.get(app.url(path)).send();
    let facts: Value = notice("/api/privacy").await.unwrap().json().await.unwrap();
    let days = |class: &str| {
        facts["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["class"] == class)
            .unwrap()["days"]
            .clone()
    };
    assert_eq!(days("client_ip"), 14);
    assert_eq!(days("usage_log"), 60);
    assert_eq!(days("account"), 7);
    assert_eq!(facts["cookies"].as_array().unwrap().len(), 1);
    assert_eq!(facts["cookies"][0]["name"], "sy_session");
    assert_eq!(facts["trackers"], json!([]));

    // A provider added at runtime is on the notice at once, with where and how it processes.
    let added = app
        .post(
            "/api/admin/providers",
            &app.admin_key,
            &json!({"name": "acme", "kind": "openai", "base_url": app.mock.base_url(),
                    "api_key": "sk-notice-0123456789abcdef", "jurisdiction": "de",
                    "retains_prompts": false, "trains_on_prompts": false}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let model = app
        .post(
            "/api/admin/models",
            &app.admin_key,
            &json!({"name": "acme-chat", "provider": "acme", "upstream_model": "gpt-x",
                    "input_usd_per_mtok": "1", "output_usd_per_mtok": "2"}),
        )
        .await;
    assert_eq!(model.status(), 201);
    let page = notice("/privacy").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers().get("set-cookie").is_none(),
        "the notice sets no cookie"
    );
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<td>14 days, or less"),
        "the IP window: {html}"
    );
    assert!(html.contains("<td>60 days, or less"), "the log window");
    assert!(
        html.contains("erased 7 days after it is deleted"),
        "the grace"
    );
    assert!(html.contains("7 years (2557 days)"), "payment records");
    let acme = html
        .split("data-provider=\"acme\"")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(acme.contains("DE") && acme.contains("acme-chat"), "{acme}");
    assert!(
        acme.contains("keeps no prompts; never trains on them"),
        "{acme}"
    );
    assert!(html.contains("<code>sy_session</code>"));
    assert!(!html.contains("sk-notice"), "no credential on the notice");
    // Only the session cookie is ever set: by sign-up, never by the dashboard's pages.
    for path in ["/app/", "/app/signin", "/api/privacy", "/assets/app.css"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{path} set a cookie"
        );
    }
    let signup = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "cookie@example.com", "password": PASSWORD}),
    )
    .await;
    let cookies: Vec<_> = signup.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].to_str().unwrap().starts_with("sy_session="));
    assert_eq!(facts["content_logging"], "per_key");
    // A deployment that locks content logging off says so.
    let locked = TestApp::spawn_with(backend, "[privacy]\ncontent_logging = \"never\"\n").await;
    let html = locked
        .client
        .get(locked.url("/privacy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("never stored; this deployment makes storing them impossible"));
}

async fn new_terms_are_announced_ahead_and_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let early = signup(&app, "early@example.com").await;
    let now_s = pipeline_now_millis() / 1000;
    let publish = |body: Value| {
        let app = &app;
        async move { app.post("/api/admin/terms", &app.admin_key, &body).await }
    };
    // The first version of a kind may take effect at once.
    let first = publish(json!({"kind": "terms", "version": "2026-01", "summary": "The first terms.", "effective_at": now_s})).await;
    assert_eq!(first.status(), 201);
    // Signing up now means accepting it, and records that.
    let refused = post_json(
        &app,
        "/api/auth/signup",
        json!({"email": "late@example.com", "password": PASSWORD}),
    )
    .await;
    let error = expect_error(refused, 400, "invalid_request").await;
    assert_eq!(error["param"], "accept_terms");
    let late = browser(
        post_json(
            &app,
            "/api/auth/signup",
            json!({"email": "late@example.com", "password": PASSWORD, "accept_terms": true}),
        )
        .await,
    )
    .await;
    let consents =
        |b: &Browser| request(&app, b, reqwest::Method::GET, "/api/account/consents").send();
    let mine: Value = consents(&late).await.unwrap().json().await.unwrap();
    assert_eq!(mine["accepted"][0]["version"], "2026-01");
    assert_eq!(mine["pending"], json!([]));
    // Someone who signed up before it has it pending, and accepts it.
    let theirs: Value = consents(&early).await.unwrap().json().await.unwrap();
    assert_eq!(theirs["pending"][0]["version"], "2026-01");
    let accepted: Value = request(&app, &early, reqwest::Method::POST, "/api/account/consents")
        .json(&json!({"kind": "terms", "version": "2026-01"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["pending"], json!([]));

    // A new version must be announced at least 14 days ahead; then everyone is mailed.
    let soon = publish(
        json!({"kind": "terms", "version": "2026-02", "summary": "Refund window changes.",
                              "effective_at": now_s + 13 * 86_400}),
    )
    .await;
    let error = expect_error(soon, 400, "invalid_request").await;
    assert_eq!(error["param"], "effective_at");
    let announced = publish(
        json!({"kind": "terms", "version": "2026-02", "summary": "Refund window changes.",
                                   "effective_at": now_s + 15 * 86_400}),
    )
    .await;
    assert_eq!(announced.status(), 201);
    let again = publish(
        json!({"kind": "terms", "version": "2026-02", "summary": "x",
                               "effective_at": now_s + 15 * 86_400}),
    )
    .await;
    expect_error(again, 409, "conflict").await;
    for email in ["early@example.com", "late@example.com"] {
        let mut mail = None;
        for _ in 0..250 {
            mail = app
                .outbox
                .sent()
                .into_iter()
                .rev()
                .find(|m| m.to == email && m.subject.contains("terms of service"));
            if mail.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mail = mail.unwrap_or_else(|| panic!("no notice to {email}"));
        assert!(
            mail.body.contains("Refund window changes."),
            "{}",
            mail.body
        );
    }
    // Shown as upcoming, not yet pending; the public list says the same.
    let mine: Value = consents(&late).await.unwrap().json().await.unwrap();
    assert_eq!(mine["pending"], json!([]));
    assert_eq!(mine["upcoming"][0]["version"], "2026-02");
    let public: Value = app
        .client
        .get(app.url("/api/terms"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(public["data"][0]["current"]["version"], "2026-01");
    assert_eq!(public["data"][0]["upcoming"][0]["version"], "2026-02");
    let unknown = request(&app, &late, reqwest::Method::POST, "/api/account/consents")
        .json(&json!({"kind": "terms", "version": "1999"}))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404, "resource_not_found").await;
}

async fn the_email_address_changes_only_through_the_new_addresss_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = signup(&app, "old@example.com").await;
    signup(&app, "taken@example.com").await;
    let change = |body: Value| {
        request(&app, &b, reqwest::Method::POST, "/api/auth/email")
            .json(&body)
            .send()
    };
    expect_error(
        change(json!({"email": "new@example.com"})).await.unwrap(),
        403,
        "reauthentication_required",
    )
    .await;
    expect_error(
        change(json!({"email": "not an address", "password": PASSWORD}))
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    expect_error(
        change(json!({"email": "Taken@Example.com", "password": PASSWORD}))
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    let started = change(json!({"email": "New@Example.com", "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(started.status(), 202);
    // Nothing changes until the new address proves itself.
    assert_eq!(
        app.store.user_by_id(b.user).await.unwrap().unwrap().email,
        "old@example.com"
    );
    let notice = app.outbox.last_to("old@example.com").unwrap();
    assert!(notice.body.contains("new@example.com"), "{}", notice.body);
    let mail = app.outbox.last_to("new@example.com").unwrap();
    let token = mail.link.split("token=").nth(1).unwrap().to_owned();
    let confirm =
        |token: String| post_json(&app, "/api/auth/email/confirm", json!({"token": token}));
    let done: Value = confirm(token.clone()).await.json().await.unwrap();
    assert_eq!(done["email"], "new@example.com");
    let user = app.store.user_by_id(b.user).await.unwrap().unwrap();
    assert_eq!(user.email, "new@example.com");
    // Once only.
    expect_error(confirm(token).await, 400, "invalid_request").await;
    assert_eq!(signin(&app, "new@example.com").await.status(), 200);
    expect_error(
        signin(&app, "old@example.com").await,
        401,
        "invalid_credentials",
    )
    .await;
    // The change history keeps both addresses, for the account's own export.
    let audit: Value = app
        .client
        .get(app.url(&format!("/api/admin/audit?user={}", b.user)))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&Value> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"]["changes"].get("email"))
        .collect();
    assert_eq!(
        emails,
        [&json!({"from": "old@example.com", "to": "new@example.com"})]
    );
}
