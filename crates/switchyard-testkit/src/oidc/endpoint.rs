//! The provider's five endpoints. Each check cites the rule it enforces, so a test failing on
//! one points at the spec rather than at this file.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::{
    Access, EXPIRED_BY_SECS, Fault, Grant, Recorded, Shared, TOKEN_LIFETIME_SECS, User,
    WRONG_AUDIENCE, WRONG_NONCE, jwt,
};

const SCOPES: [&str; 3] = ["openid", "email", "profile"];

type Params = BTreeMap<String, String>;

pub(super) async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form_encoded = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let query = parse_params(parts.uri.query().unwrap_or("").as_bytes());
    let form = if form_encoded {
        parse_params(&body)
    } else {
        Ok(Params::new())
    };
    shared.state().requests.push(record(&parts, &query, &form));

    // RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once."
    let (Ok(query), Ok(form)) = (query, form) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a parameter was sent more than once",
        );
    };
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/.well-known/openid-configuration") => {
            json_reply(StatusCode::OK, &discovery(&shared.issuer))
        }
        (&Method::GET, "/jwks") => json_reply(StatusCode::OK, &jwt::jwks()),
        (&Method::GET, "/authorize") => authorize(shared, &query),
        (&Method::POST, "/token") if !form_encoded => error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded (RFC 6749 §4.1.3)",
        ),
        (&Method::POST, "/token") => token(shared, &parts.headers, &form),
        (&Method::GET | &Method::POST, "/userinfo") => userinfo(shared, &parts.headers),
        (_, path) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no endpoint {} {path}", parts.method),
        ),
    }
}

fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES,
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
    })
}

/// The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2, RFC 7636 §4.3).
fn authorize(shared: &Shared, query: &Params) -> Response<Full<Bytes>> {
    let param = |name: &str| query.get(name).map(String::as_str);
    let mut state = shared.state();
    // RFC 6749 §4.1.2.1: with an unknown client or a redirect URI that is not registered, the
    // provider must not redirect (that would make it an open redirector): it tells the user.
    if param("client_id") != Some(state.client.id.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown or missing client_id",
        );
    }
    let Some(redirect_uri) = param("redirect_uri")
        .filter(|uri| state.client.redirect_uris.iter().any(|r| r == uri))
        .and_then(|uri| Url::parse(uri).ok())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is missing or not registered for this client (exact match)",
        );
    };
    // From here on, errors go back to the client at its redirect URI (§4.1.2.1).
    let state_param = param("state");
    let scopes: BTreeSet<String> = param("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let challenge = param("code_challenge").unwrap_or("");
    let refusal = if param("response_type") != Some("code") {
        Some(("unsupported_response_type", "response_type must be code"))
    } else if !scopes.contains("openid") {
        Some(("invalid_scope", "scope must include openid"))
    } else if !scopes.iter().all(|s| SCOPES.contains(&s.as_str())) {
        Some(("invalid_scope", "supported scopes: openid email profile"))
    } else if challenge.is_empty() {
        // RFC 7636 §4.4.1, and OAuth 2.1: this provider requires PKCE.
        Some(("invalid_request", "code_challenge is required (PKCE)"))
    } else if param("code_challenge_method") != Some("S256") {
        // An absent method means `plain` (RFC 7636 §4.3), which is not supported.
        Some((
            "invalid_request",
            "code_challenge_method must be S256 (transform algorithm not supported)",
        ))
    } else if !is_s256_challenge(challenge) {
        Some((
            "invalid_request",
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
        ))
    } else {
        None
    };
    if let Some((code, description)) = refusal {
        return redirect(
            redirect_uri,
            &[
                ("error", Some(code)),
                ("error_description", Some(description)),
                ("state", state_param),
            ],
        );
    }
    let code = random_token();
    let grant = Grant {
        client_id: state.client.id.clone(),
        // The string as registered and sent, which /token must see again, not `Url`'s rendering.
        redirect_uri: param("redirect_uri").unwrap_or_default().to_owned(),
        scopes,
        nonce: param("nonce").map(str::to_owned),
        code_challenge: challenge.to_owned(),
        user: state.user.clone(),
        expires: Instant::now() + state.code_lifetime,
        used: false,
        access_token: None,
    };
    state.codes.insert(code.clone(), grant);
    drop(state);
    redirect(
        redirect_uri,
        &[("code", Some(code.as_str())), ("state", state_param)],
    )
}

/// The token endpoint (RFC 6749 §4.1.3 and §5, RFC 7636 §4.6, OIDC Core §3.1.3).
fn token(shared: &Shared, headers: &HeaderMap, form: &Params) -> Response<Full<Bytes>> {
    let field = |name: &str| form.get(name).map(String::as_str);
    let mut state = shared.state();

    // Client authentication (RFC 6749 §2.3.1): exactly one of HTTP Basic and form fields.
    let basic = match headers.get(AUTHORIZATION).map(basic_credentials) {
        None => None,
        Some(Some(credentials)) => Some(credentials),
        Some(None) => return invalid_client(true, "the Authorization header is not valid Basic"),
    };
    let posted = field("client_secret").map(|secret| {
        (
            field("client_id").unwrap_or_default().to_owned(),
            secret.to_owned(),
        )
    });
    let (client_id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use one client authentication method, not both (RFC 6749 §2.3)",
            );
        }
        (None, None) => return invalid_client(false, "client authentication is required"),
        (Some(credentials), None) | (None, Some(credentials)) => credentials,
    };
    let used_basic = headers.contains_key(AUTHORIZATION);
    if client_id != state.client.id || secret != state.client.secret {
        return invalid_client(used_basic, "unknown client or wrong client secret");
    }
    if field("client_id").is_some_and(|id| id != client_id) {
        return invalid_client(
            used_basic,
            "client_id does not match the authenticated client",
        );
    }

    match field("grant_type") {
        Some("authorization_code") => {}
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only authorization_code is supported",
            );
        }
    }
    let Some(code) = field("code") else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        );
    };
    let Some(grant) = state.codes.get_mut(code) else {
        return invalid_grant("unknown authorization code");
    };
    if grant.client_id != client_id {
        return invalid_grant("the code was issued to another client");
    }
    if grant.used {
        // RFC 6749 §4.1.2: a code used twice revokes what the first use obtained.
        if let Some(access_token) = grant.access_token.take() {
            state.tokens.remove(&access_token);
        }
        return invalid_grant("the authorization code was already used");
    }
    grant.used = true;
    if Instant::now() >= grant.expires {
        return invalid_grant("the authorization code has expired");
    }
    if field("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri differs from the authorization request's");
    }
    let Some(verifier) = field("code_verifier") else {
        return invalid_grant("code_verifier is required: the code was issued with a challenge");
    };
    if !is_verifier(verifier) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
        );
    }
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.code_challenge {
        return invalid_grant("code_verifier does not match the code_challenge (S256)");
    }

    let access_token = random_token();
    grant.access_token = Some(access_token.clone());
    let (user, scopes, nonce) = (
        grant.user.clone(),
        grant.scopes.clone(),
        grant.nonce.clone(),
    );
    state.tokens.insert(
        access_token.clone(),
        Access {
            user: user.clone(),
            scopes: scopes.clone(),
            expires: Instant::now() + Duration::from_secs(TOKEN_LIFETIME_SECS),
        },
    );
    let mut faults = std::mem::take(&mut state.next_faults);
    faults.extend(state.always_faults.iter().copied());
    drop(state);

    let now = unix_now();
    let (iat, exp) = if faults.contains(&Fault::Expired) {
        let exp = now - EXPIRED_BY_SECS;
        (exp - TOKEN_LIFETIME_SECS, exp)
    } else {
        (now, now + TOKEN_LIFETIME_SECS)
    };
    let mut claims = user_claims(&user, &scopes);
    claims["iss"] = if faults.contains(&Fault::WrongIssuer) {
        json!(format!("{}/", shared.issuer))
    } else {
        json!(shared.issuer)
    };
    claims["aud"] = if faults.contains(&Fault::WrongAudience) {
        json!(WRONG_AUDIENCE)
    } else {
        json!(client_id)
    };
    claims["iat"] = json!(iat);
    claims["exp"] = json!(exp);
    if faults.contains(&Fault::WrongNonce) {
        claims["nonce"] = json!(WRONG_NONCE);
    } else if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    let id_token = jwt::encode(&claims, &faults);
    let mut response = json_reply(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "scope": scopes.into_iter().collect::<Vec<_>>().join(" "),
            "id_token": id_token,
        }),
    );
    // RFC 6749 §5.1: token responses must not be cached.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The UserInfo endpoint (OIDC Core §5.3, bearer token per RFC 6750 §2.1).
fn userinfo(shared: &Shared, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let state = shared.state();
    let access = token
        .and_then(|t| state.tokens.get(t))
        .filter(|a: &&Access| Instant::now() < a.expires);
    match access {
        Some(access) => json_reply(StatusCode::OK, &user_claims(&access.user, &access.scopes)),
        None => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is missing, unknown, expired or revoked",
            );
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            response
        }
    }
}

/// The claims about the user that the granted scopes allow (OIDC Core §5.4).
fn user_claims(user: &User, scopes: &BTreeSet<String>) -> Value {
    let mut claims = json!({"sub": user.sub});
    if scopes.contains("email") {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(user.email_verified);
    }
    if scopes.contains("profile") {
        claims["name"] = json!(user.name);
    }
    claims
}

fn record(
    parts: &http::request::Parts,
    query: &Result<Params, Params>,
    form: &Result<Params, Params>,
) -> Recorded {
    let mut headers = BTreeMap::<String, String>::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let unwrap = |params: &Result<Params, Params>| match params {
        Ok(p) | Err(p) => p.clone(),
    };
    Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: unwrap(query),
        form: unwrap(form),
        headers,
    }
}

/// Decoded `application/x-www-form-urlencoded` pairs; `Err` (holding the last value of each
/// name) when a name repeats.
fn parse_params(bytes: &[u8]) -> Result<Params, Params> {
    let mut params = Params::new();
    let mut repeated = false;
    for (name, value) in url::form_urlencoded::parse(bytes) {
        repeated |= params
            .insert(name.into_owned(), value.into_owned())
            .is_some();
    }
    if repeated { Err(params) } else { Ok(params) }
}

/// `client_id` and `client_secret` from `Authorization: Basic`, each form-urlencoded before
/// the base64 step as RFC 6749 §2.3.1 says.
fn basic_credentials(header: &HeaderValue) -> Option<(String, String)> {
    let encoded = header.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// An S256 challenge is base64url without padding of 32 bytes: 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(challenge)
        .is_ok_and(|bytes| bytes.len() == 32)
}

/// An opaque, unguessable code or token.
fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn redirect(mut to: Url, params: &[(&str, Option<&str>)]) -> Response<Full<Bytes>> {
    {
        let mut query = to.query_pairs_mut();
        for (name, value) in params {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::FOUND;
    // A `Url` serializes to ASCII, which is always a valid header value.
    let location = HeaderValue::from_str(to.as_str()).expect("a URL is a valid header value");
    response.headers_mut().insert(LOCATION, location);
    response
}

fn json_reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An OAuth error response (RFC 6749 §5.2).
fn error(status: StatusCode, code: &str, description: &str) -> Response<Full<Bytes>> {
    json_reply(
        status,
        &json!({"error": code, "error_description": description}),
    )
}

fn invalid_grant(description: &str) -> Response<Full<Bytes>> {
    error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

/// RFC 6749 §5.2: 401, with a `WWW-Authenticate` challenge when the client tried Basic.
fn invalid_client(used_basic: bool, description: &str) -> Response<Full<Bytes>> {
    let mut response = error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    if used_basic {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"switchyard-test-oidc\""),
        );
    }
    response
}
