//! The fake OpenID Connect provider, driven by hand as a relying party would drive it: discovery,
//! the code flow with PKCE S256, ID token verification against the JWKS, and each failure case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchyard_testkit::oidc::{self, Client, FakeOidc, Fault};

const CLIENT_ID: &str = "switchyard-test.apps.example.test";
const CLIENT_SECRET: &str = "test-secret: with spaces & symbols";
const REDIRECT_URI: &str = "http://127.0.0.1:9/auth/oidc/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const STATE: &str = "af0ifjsldkj";
const NONCE: &str = "n-0S6_WzA2Mj";

async fn spawn() -> FakeOidc {
    FakeOidc::spawn(Client::new(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])).await
}

/// A client that shows redirects instead of following them, as the relying party sees them.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_params(verifier: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", CLIENT_ID.into()),
        ("redirect_uri", REDIRECT_URI.into()),
        ("scope", "openid email profile".into()),
        ("state", STATE.into()),
        ("nonce", NONCE.into()),
        ("code_challenge", challenge(verifier)),
        ("code_challenge_method", "S256".into()),
    ]
}

/// `GET /authorize` with `params`: the status and the `Location` parsed, if any.
async fn authorize_with(
    fake: &FakeOidc,
    params: &[(&str, String)],
) -> (StatusCode, Option<reqwest::Url>) {
    let response = http()
        .get(format!("{}/authorize", fake.issuer()))
        .query(params)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| reqwest::Url::parse(l.to_str().unwrap()).unwrap());
    (response.status(), location)
}

fn query_param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A successful authorization: the code from the redirect.
async fn authorize(fake: &FakeOidc, verifier: &str) -> String {
    let (status, location) = authorize_with(fake, &authorize_params(verifier)).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("a Location header");
    assert!(location.as_str().starts_with(REDIRECT_URI), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some(STATE));
    query_param(&location, "code").expect("a code")
}

/// `POST /token` with `client_secret_post`: the status and the JSON body.
async fn redeem_with(fake: &FakeOidc, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/token", fake.issuer()))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn redeem(fake: &FakeOidc, code: &str, verifier: &str) -> (StatusCode, Value) {
    redeem_with(
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await
}

/// A fresh ID token from the whole flow.
async fn id_token(fake: &FakeOidc) -> String {
    let code = authorize(fake, VERIFIER).await;
    let (status, body) = redeem(fake, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id_token"].as_str().unwrap().to_owned()
}

/// Why a strict relying party refuses an ID token (OIDC Core §3.1.3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    NotRs256,
    UnknownKid,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    WrongNonce,
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A relying party's checks, in a relying party's order: the signature against the provider's
/// JWKS (fetched over HTTP), then the claims. Returns the claims when all pass.
async fn verify(fake: &FakeOidc, token: &str) -> Result<Value, Rejection> {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS has three parts: {token}");
    let header = decode_part(parts[0]);
    if header["alg"] != "RS256" {
        return Err(Rejection::NotRs256);
    }
    let jwks: Value = http()
        .get(format!("{}/jwks", fake.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
    else {
        return Err(Rejection::UnknownKid);
    };
    let number = |field: &str| {
        BigUint::from_bytes_be(
            &URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().unwrap())
                .unwrap(),
        )
    };
    let key = VerifyingKey::<Sha256>::new(RsaPublicKey::new(number("n"), number("e")).unwrap());
    let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice())
        .map_err(|_| Rejection::BadSignature)?;
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| Rejection::BadSignature)?;

    let claims = decode_part(parts[1]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if claims["iss"] != fake.issuer().as_str() {
        return Err(Rejection::WrongIssuer);
    }
    if claims["aud"] != CLIENT_ID {
        return Err(Rejection::WrongAudience);
    }
    // One minute of leeway for clock skew, as relying parties commonly allow.
    if claims["exp"].as_u64().unwrap() + 60 <= now {
        return Err(Rejection::Expired);
    }
    if claims["nonce"] != NONCE {
        return Err(Rejection::WrongNonce);
    }
    Ok(claims)
}

#[tokio::test]
async fn discovery_names_the_endpoints_and_what_is_supported() {
    let fake = spawn().await;
    let issuer = fake.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'));
    let doc: Value = http()
        .get(fake.discovery_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks"),
        ("userinfo_endpoint", "/userinfo"),
    ] {
        assert_eq!(doc[field], format!("{issuer}{path}"), "{field}");
    }
    let list = |field: &str| serde_json::to_string(&doc[field]).unwrap();
    assert_eq!(list("response_types_supported"), r#"["code"]"#);
    assert_eq!(list("subject_types_supported"), r#"["public"]"#);
    assert_eq!(
        list("id_token_signing_alg_values_supported"),
        r#"["RS256"]"#
    );
    assert_eq!(list("code_challenge_methods_supported"), r#"["S256"]"#);
    assert_eq!(list("scopes_supported"), r#"["openid","email","profile"]"#);
    assert_eq!(
        list("token_endpoint_auth_methods_supported"),
        r#"["client_secret_post","client_secret_basic"]"#
    );

    let jwks: Value = http()
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&key["kty"], &key["alg"], &key["use"]),
        (&"RSA".into(), &"RS256".into(), &"sig".into())
    );
    assert_eq!(key["kid"], oidc::KID);
    assert_eq!(key["e"], "AQAB");
}

#[tokio::test]
async fn the_code_flow_with_pkce_yields_a_verified_id_token_and_userinfo() {
    let fake = spawn().await;
    fake.set_user("sub-42", "grace@example.test", false, "Grace Hopper");
    let code = authorize(&fake, VERIFIER).await;
    let (status, body) = redeem(&fake, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], oidc::TOKEN_LIFETIME_SECS);

    let token = body["id_token"].as_str().unwrap();
    assert_eq!(
        decode_part(token.split('.').next().unwrap()),
        serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": oidc::KID})
    );
    let claims = verify(&fake, token).await.expect("a valid ID token");
    assert_eq!(claims["sub"], "sub-42");
    assert_eq!(claims["email"], "grace@example.test");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["name"], "Grace Hopper");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, oidc::TOKEN_LIFETIME_SECS);

    let userinfo: Value = http()
        .get(format!("{}/userinfo", fake.issuer()))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        userinfo,
        serde_json::json!({"sub": "sub-42", "email": "grace@example.test",
                           "email_verified": false, "name": "Grace Hopper"})
    );

    // What the relying party sent is on record.
    let authorization = &fake.requests_to("/authorize")[0];
    assert_eq!(authorization.query["code_challenge"], challenge(VERIFIER));
    assert_eq!(authorization.query["nonce"], NONCE);
    let token_request = &fake.requests_to("/token")[0];
    assert_eq!(token_request.form["code_verifier"], VERIFIER);
    assert_eq!(
        token_request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn client_secret_basic_authenticates_too() {
    let fake = spawn().await;
    let code = authorize(&fake, VERIFIER).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    let basic = |secret: &str| {
        // RFC 6749 §2.3.1: each part form-urlencoded, then base64.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(CLIENT_ID), encode(secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let send = |authorization: String| {
        http()
            .post(format!("{}/token", fake.issuer()))
            .header("authorization", authorization)
            .form(&form)
            .send()
    };
    let wrong = send(basic("not-the-secret")).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().contains_key("www-authenticate"));
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // A failed client authentication does not spend the code.
    let right = send(basic(CLIENT_SECRET)).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    let body: Value = right.json().await.unwrap();
    verify(&fake, body["id_token"].as_str().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_invalid_grant() {
    let fake = spawn().await;
    let other = "a-different-verifier-that-is-long-enough-to-be-valid";
    let code = authorize(&fake, VERIFIER).await;
    let (status, body) = redeem(&fake, &code, other).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_grant".into())
    );

    let code = authorize(&fake, VERIFIER).await;
    let (status, body) = redeem_with(
        &fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_grant".into())
    );
}

#[tokio::test]
async fn a_code_is_good_once_and_its_reuse_revokes_the_access_token() {
    let fake = spawn().await;
    let code = authorize(&fake, VERIFIER).await;
    let (status, body) = redeem(&fake, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let access_token = body["access_token"].as_str().unwrap().to_owned();

    let (status, body) = redeem(&fake, &code, VERIFIER).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_grant".into())
    );

    let userinfo = http()
        .get(format!("{}/userinfo", fake.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let fake = spawn().await;
    fake.set_code_lifetime(Duration::ZERO);
    let code = authorize(&fake, VERIFIER).await;
    let (status, body) = redeem(&fake, &code, VERIFIER).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_grant".into())
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_wrong_redirect_uri_is_refused_without_redirecting_to_it() {
    let fake = spawn().await;
    let mut params = authorize_params(VERIFIER);
    params[2].1 = "http://127.0.0.1:9/auth/oidc/callback/evil".into();
    let (status, location) = authorize_with(&fake, &params).await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));

    let mut params = authorize_params(VERIFIER);
    params[1].1 = "someone-else".into();
    let (status, location) = authorize_with(&fake, &params).await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));

    // A URI registered after start (the relying party's port was not known yet) is accepted.
    let late = "http://127.0.0.1:10/callback";
    fake.add_redirect_uri(late);
    params = authorize_params(VERIFIER);
    params[2].1 = late.into();
    let (status, location) = authorize_with(&fake, &params).await;
    assert_eq!(status, StatusCode::FOUND);
    let code = query_param(&location.unwrap(), "code").unwrap();

    // At the token endpoint, redirect_uri must repeat the authorization request's.
    let (status, body) = redeem(&fake, &code, VERIFIER).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &"invalid_grant".into())
    );
}

#[tokio::test]
async fn authorization_errors_go_back_to_the_client_with_its_state() {
    let fake = spawn().await;
    // Each case: which parameter to change (or drop), and the `error` the redirect carries.
    let cases: [(&str, Option<&str>, &str); 5] = [
        ("code_challenge", None, "invalid_request"),
        ("code_challenge_method", Some("plain"), "invalid_request"),
        ("code_challenge_method", None, "invalid_request"),
        ("scope", Some("email profile"), "invalid_scope"),
        ("response_type", Some("token"), "unsupported_response_type"),
    ];
    for (name, value, expected) in cases {
        let mut params = authorize_params(VERIFIER);
        params.retain(|(k, _)| *k != name);
        if let Some(value) = value {
            params.push((name, value.into()));
        }
        let (status, location) = authorize_with(&fake, &params).await;
        assert_eq!(status, StatusCode::FOUND, "{name}={value:?}");
        let location = location.unwrap();
        assert_eq!(
            query_param(&location, "error").as_deref(),
            Some(expected),
            "{name}={value:?}"
        );
        assert_eq!(query_param(&location, "state").as_deref(), Some(STATE));
        assert_eq!(query_param(&location, "code"), None);
    }
}

#[tokio::test]
async fn each_fault_makes_the_token_a_relying_party_must_refuse_for_that_reason() {
    let fake = spawn().await;
    // The table: a fault, and the one check of a strict relying party it trips.
    let table = [
        (Fault::WrongIssuer, Rejection::WrongIssuer),
        (Fault::WrongAudience, Rejection::WrongAudience),
        (Fault::Expired, Rejection::Expired),
        (Fault::WrongNonce, Rejection::WrongNonce),
        (Fault::AlgNone, Rejection::NotRs256),
        (Fault::UnknownKid, Rejection::UnknownKid),
        (Fault::BadSignature, Rejection::BadSignature),
    ];
    assert_eq!(
        table.map(|(f, _)| f),
        Fault::ALL,
        "every fault is in the table"
    );
    for (fault, rejection) in table {
        fake.fail_next(fault);
        let token = id_token(&fake).await;
        assert_eq!(verify(&fake, &token).await, Err(rejection), "{fault:?}");
        // `fail_next` is for one token only.
        let token = id_token(&fake).await;
        assert!(
            verify(&fake, &token).await.is_ok(),
            "{fault:?} outlived one token"
        );
    }
}

#[tokio::test]
async fn the_faulty_tokens_are_wrong_in_exactly_the_promised_way() {
    let fake = spawn().await;
    let issuer = fake.issuer();
    let faulty = |fault| {
        fake.fail_next(fault);
        id_token(&fake)
    };
    let parts = |token: &str| -> (Value, Value, String) {
        let p: Vec<&str> = token.split('.').collect();
        (decode_part(p[0]), decode_part(p[1]), p[2].to_owned())
    };

    let (_, claims, _) = parts(&faulty(Fault::WrongIssuer).await);
    assert_eq!(claims["iss"], format!("{issuer}/"));
    let (_, claims, _) = parts(&faulty(Fault::WrongAudience).await);
    assert_eq!(claims["aud"], oidc::WRONG_AUDIENCE);
    let (_, claims, _) = parts(&faulty(Fault::Expired).await);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(claims["exp"].as_u64().unwrap() + oidc::EXPIRED_BY_SECS <= now + 1);
    let (_, claims, _) = parts(&faulty(Fault::WrongNonce).await);
    assert_eq!(claims["nonce"], oidc::WRONG_NONCE);
    let (header, claims, signature) = parts(&faulty(Fault::AlgNone).await);
    assert_eq!(header, serde_json::json!({"alg": "none", "typ": "JWT"}));
    assert_eq!(
        (signature.as_str(), &claims["iss"]),
        ("", &issuer.as_str().into())
    );
    let (header, _, _) = parts(&faulty(Fault::UnknownKid).await);
    assert_eq!(header["kid"], oidc::UNKNOWN_KID);
    let (header, _, _) = parts(&faulty(Fault::BadSignature).await);
    assert_eq!(header["kid"], oidc::KID);

    // Faults combine, and `fail_always` lasts until cleared.
    fake.fail_always(Fault::WrongAudience);
    fake.fail_next(Fault::WrongNonce);
    let (_, claims, _) = parts(&id_token(&fake).await);
    assert_eq!(
        (&claims["aud"], &claims["nonce"]),
        (&oidc::WRONG_AUDIENCE.into(), &oidc::WRONG_NONCE.into())
    );
    let (_, claims, _) = parts(&id_token(&fake).await);
    assert_eq!(
        (&claims["aud"], &claims["nonce"]),
        (&oidc::WRONG_AUDIENCE.into(), &NONCE.into())
    );
    fake.clear_faults();
    let token = id_token(&fake).await;
    assert!(verify(&fake, &token).await.is_ok());
}
