//! Data policies of accounts and keys through the management API, on both stores: stored,
//! shown, changed, in the gateway's snapshot before the answer, and bad input refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::expect_error;
use serde_json::{Value, json};
use switchyard_core::routing::DataPolicy;
use switchyard_store::Backend;
use switchyard_testkit::TestApp;

on_both_stores!(
    a_key_is_created_with_a_policy_and_it_can_change,
    an_account_policy_is_set_by_an_admin,
    bad_policies_are_refused_naming_the_field,
    only_owners_and_admins_set_policies,
);

async fn put(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The policy the running gateway holds for this key and its account.
fn in_snapshot(app: &TestApp, key: &str) -> (DataPolicy, DataPolicy) {
    let caller = app.gateway().authenticate(Some(key)).unwrap();
    (
        caller.key.data_policy.clone(),
        caller.user.data_policy.clone(),
    )
}

async fn a_key_is_created_with_a_policy_and_it_can_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, secret) = app
        .user_with_key(
            "policy@example.com",
            json!({"data_policy": {"jurisdictions": ["eu", " us", "EU"], "no_training": true}}),
        )
        .await;

    // Normalised (upper case, no duplicates) and shown as the API took it.
    let keys = app.get_json("/api/keys", &secret).await;
    let key = &keys["data"][0];
    assert_eq!(
        key["data_policy"],
        json!({"jurisdictions": ["EU", "US"], "no_training": true})
    );
    let id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_json(&format!("/api/keys/{id}"), &secret).await["data_policy"],
        key["data_policy"]
    );
    let (key_policy, account_policy) = in_snapshot(&app, &secret);
    assert_eq!(
        key_policy.jurisdictions,
        Some(vec!["EU".into(), "US".into()])
    );
    assert!(key_policy.no_training && !key_policy.zdr);
    assert_eq!(account_policy, DataPolicy::default());

    // The owner replaces it; the gateway has the new one when the answer arrives.
    let path = format!("/api/keys/{id}/data_policy");
    let response = put(
        &app,
        &path,
        &secret,
        json!({"zdr": true, "no_retention": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["user_id"], user.as_str());
    assert_eq!(
        body["data_policy"],
        json!({"no_retention": true, "zdr": true})
    );
    let (key_policy, _) = in_snapshot(&app, &secret);
    assert_eq!(
        key_policy,
        DataPolicy {
            no_retention: true,
            zdr: true,
            ..DataPolicy::default()
        }
    );
    assert_eq!(
        app.get_json(&format!("/api/keys/{id}"), &secret).await["data_policy"],
        body["data_policy"]
    );

    // An empty object opens it again; a key made without a policy has the open one.
    let response = put(&app, &path, &app.admin_key, json!({})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data_policy"], json!({}));
    assert_eq!(in_snapshot(&app, &secret).0, DataPolicy::default());
    let plain = app.create_key(json!({"user_id": user})).await;
    assert_eq!(plain["data_policy"], json!({}));
    app.shutdown().await;
}

async fn an_account_policy_is_set_by_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, secret) = app.user_with_key("account@example.com", json!({})).await;
    let path = format!("/api/users/{user}/data_policy");
    let response = put(
        &app,
        &path,
        &app.admin_key,
        json!({"jurisdictions": ["de"], "no_training": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], user.as_str());
    assert_eq!(body["email"], "account@example.com");
    assert_eq!(
        body["data_policy"],
        json!({"jurisdictions": ["DE"], "no_training": true})
    );
    let (key_policy, account_policy) = in_snapshot(&app, &secret);
    assert_eq!(key_policy, DataPolicy::default());
    assert_eq!(account_policy.jurisdictions, Some(vec!["DE".into()]));

    let users = app.get_json("/api/users", &app.admin_key).await;
    let listed = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == user.as_str())
        .unwrap();
    assert_eq!(listed["data_policy"], body["data_policy"]);
    let admin = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == app.admin_id.to_string())
        .unwrap();
    assert_eq!(
        admin["data_policy"],
        json!({}),
        "an account is open by default"
    );

    let response = put(&app, &path, &app.admin_key, json!({})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(in_snapshot(&app, &secret).1, DataPolicy::default());
    app.shutdown().await;
}

async fn bad_policies_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, secret) = app.user_with_key("bad@example.com", json!({})).await;

    // At key creation the field is named inside the key's body.
    for policy in [
        json!({"jurisdictions": ["Europe"]}),
        json!({"jurisdictions": ["U1"]}),
        json!({"jurisdictions": []}),
    ] {
        let response = app
            .post("/api/keys", &secret, &json!({"data_policy": policy}))
            .await;
        let error = expect_error(response, 400, "invalid_request").await;
        assert_eq!(error["param"], "data_policy.jurisdictions", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("`data_policy.jurisdictions`"),
            "{error}"
        );
    }
    for body in [
        json!({"data_policy": {"regions": ["US"]}}),
        json!({"data_policy": {"zdr": "yes"}}),
        json!({"data_policy": ["US"]}),
    ] {
        let response = app.post("/api/keys", &secret, &body).await;
        expect_error(response, 400, "invalid_request").await;
    }
    // None of those made a key.
    assert_eq!(
        app.get_json("/api/keys", &secret).await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // On the PUT endpoints the body is the policy, so the field is named on its own.
    let key_id = app.get_json("/api/keys", &secret).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/api/keys/{key_id}/data_policy"),
        format!("/api/users/{user}/data_policy"),
    ] {
        let response = put(
            &app,
            &path,
            &app.admin_key,
            json!({"jurisdictions": ["usa"]}),
        )
        .await;
        let error = expect_error(response, 400, "invalid_request").await;
        assert_eq!(error["param"], "jurisdictions", "{error}");
        let response = put(&app, &path, &app.admin_key, json!({"no_trainig": true})).await;
        expect_error(response, 400, "invalid_request").await;
        let response = app
            .client
            .put(app.url(&path))
            .bearer_auth(&app.admin_key)
            .body("{not json")
            .send()
            .await
            .unwrap();
        expect_error(response, 400, "invalid_json").await;
    }
    // Nothing was stored by the refused writes.
    assert_eq!(in_snapshot(&app, &secret), Default::default());
    app.shutdown().await;
}

async fn only_owners_and_admins_set_policies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (user, secret) = app.user_with_key("mine@example.com", json!({})).await;
    let (_, other) = app.user_with_key("theirs@example.com", json!({})).await;
    let key_id = app.get_json("/api/keys", &secret).await["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let zdr = json!({"zdr": true});

    // Someone else's key is not found; an account's policy needs an admin, even one's own.
    let response = put(
        &app,
        &format!("/api/keys/{key_id}/data_policy"),
        &other,
        zdr.clone(),
    )
    .await;
    expect_error(response, 404, "resource_not_found").await;
    let response = put(
        &app,
        &format!("/api/users/{user}/data_policy"),
        &secret,
        zdr.clone(),
    )
    .await;
    expect_error(response, 403, "admin_required").await;
    assert_eq!(in_snapshot(&app, &secret), Default::default());

    // Unknown ids.
    for path in [
        "/api/keys/nope/data_policy".to_owned(),
        format!("/api/keys/{}/data_policy", switchyard_core::KeyId::new()),
        "/api/users/nope/data_policy".to_owned(),
        format!("/api/users/{}/data_policy", switchyard_core::UserId::new()),
    ] {
        let response = put(&app, &path, &app.admin_key, zdr.clone()).await;
        expect_error(response, 404, "resource_not_found").await;
    }
    app.shutdown().await;
}
