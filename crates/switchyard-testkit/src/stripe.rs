//! A fake Stripe API for billing tests, and Stripe's webhook signing.
//!
//! [`FakeStripe`] serves `POST /v1/checkout/sessions` on 127.0.0.1 port 0 the way Stripe does
//! (form-encoded request, bearer secret key, a `cs_test_...` session with a checkout `url`) and
//! remembers every session it made, so a test can assert on what Switchyard sent and then
//! deliver the events Stripe would send for it, signed with [`sign`].

// Test support: a failure to set up is a failed test, so panicking with a message is right here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The secret key the fake accepts; TestApp exports it as [`SECRET_KEY_ENV`].
pub const SECRET_KEY: &str = "sk_test_switchyard_fake";
pub const SECRET_KEY_ENV: &str = "STRIPE_TEST_SECRET_KEY";
/// The current webhook endpoint secret, exported as [`WEBHOOK_SECRET_ENV`].
pub const WEBHOOK_SECRET: &str = "whsec_test_current";
pub const WEBHOOK_SECRET_ENV: &str = "STRIPE_TEST_WEBHOOK_SECRET";
/// The previous endpoint secret during a roll, exported as [`WEBHOOK_SECRET_OLD_ENV`].
pub const WEBHOOK_SECRET_OLD: &str = "whsec_test_previous";
pub const WEBHOOK_SECRET_OLD_ENV: &str = "STRIPE_TEST_WEBHOOK_SECRET_OLD";

/// The environment TestApp passes to the configuration, so `[stripe]` can name these secrets.
pub fn env() -> [(String, String); 3] {
    [
        (SECRET_KEY_ENV.to_owned(), SECRET_KEY.to_owned()),
        (WEBHOOK_SECRET_ENV.to_owned(), WEBHOOK_SECRET.to_owned()),
        (
            WEBHOOK_SECRET_OLD_ENV.to_owned(),
            WEBHOOK_SECRET_OLD.to_owned(),
        ),
    ]
}

/// One Checkout Session the fake created: the form Switchyard sent, and the session object.
#[derive(Clone, Debug)]
pub struct Checkout {
    pub form: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
    pub session: Value,
}

#[derive(Debug, Default)]
struct Shared {
    checkouts: Mutex<Vec<Checkout>>,
}

/// A fake Stripe API on 127.0.0.1, stopped when dropped.
#[derive(Debug)]
pub struct FakeStripe {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakeStripe {
    pub async fn spawn() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Stripe to 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        FakeStripe { addr, shared, task }
    }

    /// What `stripe.api_base` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `[stripe]` section pointing at this fake, accepting the webhook secrets held by the
    /// variables in `webhook_secret_env` (e.g. [`WEBHOOK_SECRET_ENV`]).
    pub fn config(&self, webhook_secret_env: &str) -> String {
        format!(
            "[stripe]\napi_base = \"{}\"\nsecret_key_env = \"{SECRET_KEY_ENV}\"\n\
             webhook_secret_env = \"{webhook_secret_env}\"\n\
             success_url = \"https://switchyard.test/paid\"\ncancel_url = \"https://switchyard.test/cancelled\"\n\
             min_top_up_usd = \"1\"\nmax_top_up_usd = \"500\"\n",
            self.base_url()
        )
    }

    /// Every session created so far, in order.
    pub fn checkouts(&self) -> Vec<Checkout> {
        self.shared.checkouts.lock().unwrap().clone()
    }

    /// The session object as Stripe reports it once paid, with `payment_intent`.
    pub fn paid_session(&self, session_id: &str, payment_intent: &str) -> Value {
        let mut session = self
            .checkouts()
            .into_iter()
            .find(|c| c.session["id"] == session_id)
            .unwrap_or_else(|| panic!("the fake made no session {session_id}"))
            .session;
        session["status"] = json!("complete");
        session["payment_status"] = json!("paid");
        session["payment_intent"] = json!(payment_intent);
        session
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Stripe event envelope around `object`.
pub fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": now_secs(),
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": object},
    })
}

/// A charge of `payment_intent` as `charge.refunded` carries it: `amount_refunded` is the
/// cumulative amount refunded so far, in cents.
pub fn refunded_charge(charge: &str, payment_intent: &str, amount: i64, refunded: i64) -> Value {
    json!({
        "id": charge,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "paid": true,
        "payment_intent": payment_intent,
        "refunded": refunded >= amount,
        "status": "succeeded",
    })
}

/// The `Stripe-Signature` header Stripe would send for `payload` at `timestamp`.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    switchyard_core::stripe::sign(payload, secret, timestamp)
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn stripe_error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    reply(
        status,
        &json!({"error": {"type": "invalid_request_error", "message": message}}),
    )
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::POST || request.uri().path() != "/v1/checkout/sessions" {
        return stripe_error(
            StatusCode::NOT_FOUND,
            &format!("Unrecognized request URL ({}).", request.uri().path()),
        );
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if header("authorization").as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided.");
    }
    let idempotency_key = header("idempotency-key");
    let form_encoded =
        header("content-type").is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if !form_encoded {
        return stripe_error(StatusCode::BAD_REQUEST, "Expected a form-encoded body.");
    }
    let form = parse_form(&String::from_utf8_lossy(&body));
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut checkouts = shared.checkouts.lock().unwrap();
    // Stripe answers a repeated idempotency key with the first result.
    if let Some(previous) = checkouts
        .iter()
        .find(|c| idempotency_key.is_some() && c.idempotency_key == idempotency_key)
    {
        return reply(StatusCode::OK, &previous.session);
    }
    let Ok(amount) = field("line_items[0][price_data][unit_amount]").parse::<i64>() else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "Missing required param: unit_amount.",
        );
    };
    let id = format!("cs_test_{:04}{}", checkouts.len() + 1, now_secs());
    let metadata: BTreeMap<String, String> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), v.clone()))
        })
        .collect();
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "client_reference_id": field("client_reference_id"),
        "currency": field("line_items[0][price_data][currency]"),
        "metadata": metadata,
        "mode": field("mode"),
        "payment_intent": null,
        "payment_status": "unpaid",
        "status": "open",
        "success_url": field("success_url"),
        "cancel_url": field("cancel_url"),
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    });
    checkouts.push(Checkout {
        form,
        idempotency_key,
        session: session.clone(),
    });
    reply(StatusCode::OK, &session)
}

/// `application/x-www-form-urlencoded` → pairs (later keys win, as Stripe's parser does).
fn parse_form(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
